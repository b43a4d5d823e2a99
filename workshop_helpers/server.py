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
    parser.add_argument(
        "--inject-error",
        metavar="CODE[:OPERATION[:COUNT]]",
        default=None,
        help="TESTS ONLY: answer KMS requests (only OPERATION, if given; only the first COUNT, if given) "
        "with the error CODE, e.g. ThrottlingException:GenerateDataKey",
    )
    state = parser.add_mutually_exclusive_group()
    state.add_argument(
        "--state-dir",
        metavar="DIR",
        default=None,
        help="keep the simulated account in DIR (default: $KMS_WORKSHOP_STATE_DIR, else ~/.kms-workshop/account); "
        "it survives restarts of the endpoint",
    )
    state.add_argument(
        "--ephemeral", action="store_true", help="keep the account in memory only: it is gone when the endpoint stops"
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


class FaultInjector:
    """Test-only WSGI middleware: KMS requests answered with an error, as KMS words it.

    `spec` is ``CODE[:OPERATION[:COUNT]]``: the error code (ThrottlingException, ...), the KMS
    operation it applies to (any, if left out) and how many requests fail before the rest
    go through (all, if left out). Answers are HTTP 400 with KMS's JSON error shape, which
    botocore turns into a ClientError with that code (and retries, for throttling).
    """

    def __init__(self, app, spec: str):
        from .errors import WorkshopError

        parts = spec.split(":")
        if not parts[0] or len(parts) > 3 or (len(parts) == 3 and not parts[2].isdigit()):
            raise WorkshopError(f"--inject-error {spec!r} is not CODE[:OPERATION[:COUNT]]")
        self.app = app
        self.code = parts[0]
        self.operation = parts[1] if len(parts) > 1 and parts[1] else None
        self.remaining = int(parts[2]) if len(parts) == 3 else None
        self.injected = 0
        self._lock = threading.Lock()

    def _applies(self, environ) -> bool:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if not target.startswith("TrentService."):
            return False
        if self.operation and target.split(".", 1)[1] != self.operation:
            return False
        with self._lock:
            if self.remaining is not None:
                if self.remaining <= 0:
                    return False
                self.remaining -= 1
            self.injected += 1
        return True

    def __call__(self, environ, start_response):
        if not self._applies(environ):
            return self.app(environ, start_response)
        import json

        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"].read(length)  # drain the request body
        body = json.dumps({"__type": self.code, "message": "Rate exceeded" if "Throttl" in self.code
                           else f"{self.code} (injected by the test endpoint)"}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                           ("Content-Length", str(len(body))),
                                           ("x-amzn-RequestId", "00000000-0000-0000-0000-000000000000")])
        return [body]


def start_endpoint(host: str = DEFAULT_HOST, port: int = 0, *, inject_error: str | None = None,
                   state_dir: str | None = "memory") -> tuple[str, Callable[[], None]]:
    """Start the endpoint in a background thread of this process: (url, stop).

    What moto's ThreadedMotoServer does, except that the socket is bound here, in the
    caller's thread: a port already in use raises at once (ThreadedMotoServer would
    wait forever for a server thread that died). `state_dir` is where the account lives
    ("memory" keeps it in this process; None: $KMS_WORKSHOP_STATE_DIR or the default).
    """
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from . import fidelity
    from .errors import WorkshopError

    from . import account

    fidelity.apply()
    _check_can_listen(host, port)
    state = account.open_account(state_dir)
    app = DomainDispatcherApplication(create_backend_app)
    if state is not None:
        app = account.wsgi(app, state)
    if inject_error:
        app = FaultInjector(app, inject_error)
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
    if args.inject_error:
        FaultInjector(None, args.inject_error)  # a malformed spec is refused before anything starts
        print(
            f"WARNING: TEST MODE: KMS requests are answered with {args.inject_error} (--inject-error); "
            "never use this outside tests.",
            file=sys.stderr,
            flush=True,
        )
    url, stop = start_endpoint(args.host, args.port, inject_error=args.inject_error,
                               state_dir="memory" if args.ephemeral else args.state_dir)
    from . import account

    where = account.current()
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    print(f"{URL_VARIABLE}={url}", flush=True)
    print(f"serving on {url}; stop with Ctrl-C", file=sys.stderr, flush=True)
    print(
        f"account: kept in {where.directory} (survives restarts; empty it with "
        f"`python -m workshop_helpers reset --state-dir {where.directory}`)" if where is not None
        else "account: in memory only (--ephemeral): everything is gone when the endpoint stops",
        file=sys.stderr,
        flush=True,
    )
    print(
        "credentials: any access key acts as the account's administrator, as on other local AWS "
        "emulators (real AWS refuses keys it did not issue)",
        file=sys.stderr,
        flush=True,
    )
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
