"""The local AWS-compatible endpoint: moto's server app, made faithful by the fidelity layer.

`start_endpoint()` serves KMS, IAM, STS, EC2 and S3 (and the rest of moto) on a loopback
port in a background thread, with the simulated account kept in a state folder or in
memory (workshop_helpers.account), on the production server of workshop_helpers.serving
(idle timeouts, a connection limit, body limits, a graceful stop; docs/server.md).
`python -m workshop_helpers serve` (cli/serve.py) is its command line; with --workers it
runs the same app in several processes (serving/workers.py).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable

from . import account, fidelity
from .errors import WorkshopError

URL_VARIABLE = "KMS_WORKSHOP_ENDPOINT_URL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def bind(host: str, port: int) -> socket.socket:
    """The endpoint's listening socket, or one clear line (WorkshopError) if it cannot be had."""
    # deferred: serving imports waitress, which only the endpoint's server needs
    from .serving.server import listening_socket

    try:
        return listening_socket(host, port)
    except OSError as exc:
        raise WorkshopError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port (0 picks a free one)."
        ) from None


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return _url(str(host), port)


def build_app(state, *, wrap_app: Callable | None = None, classroom=None) -> Callable:
    """The endpoint's WSGI app, outermost first:

        request log ( wrap_app ( instructor routes ( body limits ( account ( gate ( moto ))))))

    The body limits sit outside the account's transaction, which reads the body, and
    inside the instructor routes, which answer before moto's rules apply."""
    # deferred: moto's server app imports flask, which only the endpoint needs
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    # deferred: serving imports waitress, which only the endpoint's server needs
    from .serving.access_log import log_requests
    from .serving.limits import limit_request_bodies  # deferred: as above

    app = DomainDispatcherApplication(create_backend_app)
    if classroom is not None:
        app = classroom.wrap_inner(app)  # the gate: inside the account's transaction
    if state is not None:
        app = account.wsgi(app, state)
    app = limit_request_bodies(app)
    if classroom is not None:
        app = classroom.wrap_outer(app)  # the instructor's routes and the progress counts
    if wrap_app is not None:
        app = wrap_app(app)
    return log_requests(app)


def start_endpoint(
    host: str = DEFAULT_HOST,
    port: int = 0,
    *,
    state_dir: str | None = "memory",
    wrap_app: Callable | None = None,
    classroom=None,
    options=None,
    sock: socket.socket | None = None,
) -> tuple[str, Callable[[], None]]:
    """Start the endpoint in a background thread of this process: (url, stop).

    The socket is bound here, in the caller's thread: a port already in use raises at
    once, in one line. `state_dir` is where the account lives ("memory" keeps it in this
    process; None: $KMS_WORKSHOP_STATE_DIR or the default). `wrap_app` wraps the WSGI app
    (tests inject faults with it: tests/fault_injection.py). `classroom`
    (workshop_helpers.classroom.Classroom) makes it a class endpoint: an account and an
    issued credential per participant, every other credential refused. `options`
    (serving.ServerOptions): timeouts, connection limit, threads. `sock`: serve a socket
    already bound and listening (a worker process of `serve --workers`) instead of
    binding host:port. `stop()` lets the requests in progress finish, then returns.
    """
    # deferred: serving imports waitress, which only the endpoint's server needs
    from .serving.server import HttpServer, ServerOptions

    fidelity.apply()
    if sock is None:
        sock = bind(host, port)
    try:
        state = account.open_account(state_dir)
        app = build_app(state, wrap_app=wrap_app, classroom=classroom)
        url = url_of(sock)
        if classroom is not None:
            classroom.open(url, state)
        server = HttpServer(app, sock, options or ServerOptions())
    except BaseException:
        sock.close()
        raise
    thread = threading.Thread(target=server.run, name="kms-workshop-endpoint", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.stop()
            thread.join()
            if classroom is not None:
                classroom.stop()

    return url, stop
