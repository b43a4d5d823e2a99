"""The local AWS-compatible endpoint: moto's server app, made faithful by the fidelity layer.

`start_endpoint()` serves KMS, IAM, STS, EC2 and S3 (and the rest of moto) on a loopback
port in a background thread, with the simulated account kept in a state folder or in
memory (workshop_helpers.account). `python -m workshop_helpers serve` (cli/serve.py) is
its command line.
"""

from __future__ import annotations

import socket
import threading
from typing import Callable

URL_VARIABLE = "KMS_WORKSHOP_ENDPOINT_URL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _url(host: str, port: int) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def _check_can_listen(host: str, port: int) -> None:
    """Fail with one clear line before werkzeug, which prints its own text and exits."""
    from .errors import WorkshopError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as werkzeug binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise WorkshopError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); pick another --port (0 picks a free one)."
            ) from None


def start_endpoint(host: str = DEFAULT_HOST, port: int = 0, *, state_dir: str | None = "memory",
                   wrap_app: Callable | None = None, classroom=None) -> tuple[str, Callable[[], None]]:
    """Start the endpoint in a background thread of this process: (url, stop).

    What moto's ThreadedMotoServer does, except that the socket is bound here, in the
    caller's thread: a port already in use raises at once (ThreadedMotoServer would
    wait forever for a server thread that died). `state_dir` is where the account lives
    ("memory" keeps it in this process; None: $KMS_WORKSHOP_STATE_DIR or the default).
    `wrap_app` wraps the WSGI app (tests inject faults with it: tests/fault_injection.py).
    `classroom` (workshop_helpers.classroom.Classroom) makes it a class endpoint: an account
    and an issued credential per participant, every other credential refused.
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from . import account, fidelity
    from .errors import WorkshopError

    fidelity.apply()
    _check_can_listen(host, port)
    state = account.open_account(state_dir)
    app = DomainDispatcherApplication(create_backend_app)
    if classroom is not None:
        app = classroom.wrap_inner(app)  # the gate: inside the account's transaction
    if state is not None:
        app = account.wsgi(app, state)
    if classroom is not None:
        app = classroom.wrap_outer(app)  # the instructor's routes and the progress counts
    if wrap_app is not None:
        app = wrap_app(app)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    except (OSError, SystemExit) as exc:  # werkzeug exits on a port in use
        raise WorkshopError(f"cannot listen on {host}:{port} ({exc}); pick another --port (0 picks a free one).") from None
    bound_host, bound_port = server.server_address[:2]
    if classroom is not None:
        try:
            classroom.open(_url(str(bound_host), bound_port), state)
        except BaseException:
            server.server_close()
            raise
    thread = threading.Thread(target=server.serve_forever, name="kms-workshop-endpoint", daemon=True)
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()
            thread.join()
            if classroom is not None:
                classroom.stop()

    return _url(str(bound_host), bound_port), stop


