"""`python -m workshop_helpers serve`: a local AWS-compatible endpoint for the workshop.

moto's server app with the same fidelity layer as the in-process backend, for KMS, IAM, STS,
EC2 and S3 (and the rest of moto). It prints `KMS_WORKSHOP_ENDPOINT_URL=http://HOST:PORT`
as one stdout line, binds to loopback unless told otherwise, and stops cleanly (exit 0)
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import socket
import sys
import threading
from typing import Callable

HELP = "run a local KMS endpoint (moto made faithful) for KMS, IAM, STS, EC2 and S3"

URL_VARIABLE = "KMS_WORKSHOP_ENDPOINT_URL"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 5000
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def configure(parser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}, loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument(
        "--record-data-keys",
        metavar="FILE",
        default=None,
        help="TESTS ONLY: append every plaintext data key handed out to FILE (base64, one per line)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")


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


def start_endpoint(host: str = DEFAULT_HOST, port: int = 0) -> tuple[str, Callable[[], None]]:
    """Start the endpoint in a background thread of this process: (url, stop).

    What moto's ThreadedMotoServer does, except that the socket is bound here, in the
    caller's thread: a port already in use raises at once (ThreadedMotoServer would
    wait forever for a server thread that died).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from . import fidelity
    from .errors import WorkshopError

    fidelity.apply()
    _check_can_listen(host, port)
    app = DomainDispatcherApplication(create_backend_app)
    try:
        server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    except (OSError, SystemExit) as exc:  # werkzeug exits on a port in use
        raise WorkshopError(f"cannot listen on {host}:{port} ({exc}); pick another --port (0 picks a free one).") from None
    thread = threading.Thread(target=server.serve_forever, name="kms-workshop-endpoint", daemon=True)
    thread.start()
    bound_host, bound_port = server.server_address[:2]
    stopped = threading.Event()

    def stop() -> None:
        if not stopped.is_set():
            stopped.set()
            server.shutdown()
            server.server_close()
            thread.join()

    return _url(str(bound_host), bound_port), stop


def run(args) -> int:
    from . import fidelity

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.host not in _LOOPBACK:
        print(
            f"warning: binding {args.host}: anyone who can reach this address can use the endpoint, "
            "and every made-up access key acts as its administrator.",
            file=sys.stderr,
            flush=True,
        )
    if args.record_data_keys:
        fidelity.start_recording(args.record_data_keys)
        print(
            f"WARNING: TEST MODE: every plaintext data key handed out is written to {args.record_data_keys}; "
            "never use this outside tests.",
            file=sys.stderr,
            flush=True,
        )
    url, stop = start_endpoint(args.host, args.port)
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"{URL_VARIABLE}={url}", flush=True)
    print(f"serving on {url}; stop with Ctrl-C", file=sys.stderr, flush=True)
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        fidelity.stop_recording()
    print("endpoint stopped", file=sys.stderr, flush=True)
    return 0
