"""`python -m workshop_helpers serve`: run the local endpoint (workshop_helpers.endpoint).

It prints `KMS_WORKSHOP_ENDPOINT_URL=http://HOST:PORT` as its first stdout line, binds to
loopback unless told otherwise, says where its account lives, and stops cleanly (exit 0)
on Ctrl-C or SIGTERM: requests in progress finish first. `--workers N` serves from N
processes (workshop_helpers/serving/workers.py); `--listen-fd` is how such a worker is
started, not an option for people.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable

from .. import account, endpoint, fidelity
from ..backend import DEFAULT_REGION
from ..endpoint import DEFAULT_HOST, DEFAULT_PORT, LOOPBACK, URL_VARIABLE, start_endpoint
from ..errors import WorkshopError
from ..serving import ServerOptions
from ..serving.access_log import LOGGER
from ..serving.server import DEFAULT_CONNECTION_LIMIT, DEFAULT_IDLE_TIMEOUT, DEFAULT_THREADS, quiet_waitress
from ..serving.workers import Workers, inherited_socket

HELP = "run a local KMS endpoint (moto made faithful) for KMS, IAM, STS, EC2 and S3"


def configure(parser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}, loopback only)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)"
    )
    parser.add_argument(
        "--record-data-keys",
        metavar="FILE",
        default=None,
        help="TESTS ONLY: append every plaintext data key handed out to FILE (base64, one per line)",
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
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="log every request to stderr, one line each (tokens and signatures masked)",
    )
    server = parser.add_argument_group("the server (docs/server.md)")
    server.add_argument(
        "--workers",
        type=_positive,
        default=1,
        metavar="N",
        help="serve from N processes sharing the account on disk (default 1; not with --ephemeral)",
    )
    server.add_argument(
        "--idle-timeout",
        type=_positive,
        default=DEFAULT_IDLE_TIMEOUT,
        metavar="SECONDS",
        help=f"close a connection silent this long, or a request not received whole in this time "
        f"(default {DEFAULT_IDLE_TIMEOUT})",
    )
    server.add_argument(
        "--connection-limit",
        type=_positive,
        default=DEFAULT_CONNECTION_LIMIT,
        metavar="N",
        help=f"open connections per worker; more wait until one closes (default {DEFAULT_CONNECTION_LIMIT})",
    )
    server.add_argument(
        "--threads",
        type=_positive,
        default=DEFAULT_THREADS,
        metavar="N",
        help=f"request threads per worker (default {DEFAULT_THREADS})",
    )
    server.add_argument("--listen-fd", type=int, default=None, help=argparse.SUPPRESS)
    group = parser.add_argument_group("a class on one endpoint (docs/instructor.md)")
    group.add_argument(
        "--participants",
        metavar="NAMES",
        default=None,
        help="comma-separated names: an account and an issued administrator credential each; "
        "every credential the endpoint did not issue is then refused, as on AWS",
    )
    group.add_argument(
        "--class-dir",
        metavar="DIR",
        default=None,
        help="where to write each participant's NAME.env (0600) and class.json (needed with --participants)",
    )
    group.add_argument("--region", default=None, help="the Region written to the env files (default eu-west-1)")
    group.add_argument(
        "--public-url",
        metavar="URL",
        default=None,
        help="the endpoint URL written to the env files, if participants reach it by another address",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _classroom(args):
    # deferred: the classroom package imports moto (~0.3 s), which only 'serve --class' needs
    from ..classroom import ClassError, Classroom, RosterError, parse_names

    if args.participants is None:
        if args.class_dir or args.public_url:
            raise WorkshopError("--class-dir and --public-url need --participants (a class)")
        return None
    if not args.class_dir:
        raise WorkshopError("--participants needs --class-dir DIR: where each participant's env file goes")
    try:
        # a worker joins the class its parent set up: it creates nobody
        names = [] if args.listen_fd is not None else parse_names(args.participants)
        return Classroom(names, args.class_dir, region=args.region or DEFAULT_REGION, public_url=args.public_url)
    except (ClassError, RosterError, OSError) as exc:
        raise WorkshopError(str(exc)) from None


def _options(args):
    return ServerOptions(idle_timeout=args.idle_timeout, connection_limit=args.connection_limit, threads=args.threads)


def _configure_logs(verbose: bool) -> None:
    quiet_waitress(verbose)
    if verbose:
        log = logging.getLogger(LOGGER)
        log.setLevel(logging.INFO)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s [%(process)d] %(message)s"))  # the pid: which worker
        log.addHandler(handler)
        log.propagate = False


def _worker_args(args, state_directory) -> list[str]:
    """The command line of one worker: the parent's, with the account's folder spelled out."""
    argv = [
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--state-dir",
        str(state_directory),
        "--idle-timeout",
        str(args.idle_timeout),
        "--connection-limit",
        str(args.connection_limit),
        "--threads",
        str(args.threads),
    ]
    if args.verbose:
        argv.append("--verbose")
    if args.record_data_keys:
        argv += ["--record-data-keys", args.record_data_keys]
    if args.participants is not None:
        argv += ["--participants", args.participants, "--class-dir", str(args.class_dir)]
        if args.region:
            argv += ["--region", args.region]
        if args.public_url:
            argv += ["--public-url", args.public_url]
    return argv


def _until_signal() -> tuple[threading.Event, Callable[[], None]]:
    """An event set by SIGINT or SIGTERM, and how to put the previous handlers back."""
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return stopping, restore


def _run_worker(args, wrap_app: Callable | None) -> int:
    """One of `serve --workers N`'s processes: serve the inherited socket until SIGTERM."""
    if args.record_data_keys:
        fidelity.start_recording(args.record_data_keys)
    # the handlers stay until the process ends: a second signal (Ctrl-C reaches the workers
    # and the parent forwards SIGTERM too) must not kill a worker that is finishing requests
    stopping, _restore = _until_signal()
    classroom = _classroom(args)
    url, stop = start_endpoint(
        args.host,
        args.port,
        state_dir=args.state_dir,
        wrap_app=wrap_app,
        classroom=classroom,
        options=_options(args),
        sock=inherited_socket(args.listen_fd),
    )
    print(f"{URL_VARIABLE}={url}", flush=True)  # the parent waits for this line
    parent = os.getppid()
    try:
        while not stopping.wait(0.5):
            if os.getppid() != parent:  # the parent was killed: no one would ever stop this worker
                break
            if classroom is not None and classroom.progress is not None:
                # the other workers serve the instructor's view from the state folder: keep
                # this worker's counts there (a count is written at most every second)
                classroom.progress.flush()
    finally:
        stop()
        fidelity.stop_recording()
    return 0


def _start_workers(args, classroom):
    """Bind, set the class up once, start the workers: (url, stop, wait)."""
    state = account.open_account("memory" if args.ephemeral else args.state_dir)
    if state is None:
        raise WorkshopError(
            f"--workers {args.workers} needs the account on disk, which every worker shares; "
            "it is in memory here (--ephemeral or KMS_WORKSHOP_STATE_DIR=memory): "
            "give --state-dir DIR or use --workers 1"
        )
    fidelity.apply()
    sock = endpoint.bind(args.host, args.port)
    url = endpoint.url_of(sock)
    try:
        if classroom is not None:
            classroom.open(url, state)
        workers = Workers(args.workers, sock, _worker_args(args, state.directory), _say)
        workers.start()
    except BaseException:
        sock.close()
        raise
    return url, workers


def run(args, *, wrap_app: Callable | None = None) -> int:
    _configure_logs(args.verbose)
    if args.listen_fd is not None:
        return _run_worker(args, wrap_app)
    if args.workers > 1 and args.ephemeral:
        raise WorkshopError(
            f"--workers {args.workers} needs the account on disk, which every worker shares; "
            "--ephemeral keeps it in one process's memory: drop --ephemeral or use --workers 1"
        )
    if args.host not in LOOPBACK:
        _say(
            f"warning: binding {args.host}: anyone who can reach this address can use the endpoint"
            + (
                ", with the keys it issued only (class mode)."
                if args.participants is not None
                else ", and every made-up access key acts as its administrator."
            )
        )
    if args.record_data_keys:
        fidelity.start_recording(args.record_data_keys)
        _say(
            f"WARNING: TEST MODE: every plaintext data key handed out is written to {args.record_data_keys}; "
            "never use this outside tests."
        )
    classroom = _classroom(args)
    stopping, restore = _until_signal()
    workers = None
    try:
        if args.workers > 1:
            url, workers = _start_workers(args, classroom)
        else:
            url, stop = start_endpoint(
                args.host,
                args.port,
                state_dir="memory" if args.ephemeral else args.state_dir,
                wrap_app=wrap_app,
                classroom=classroom,
                options=_options(args),
            )
    except BaseException:
        restore()
        raise
    where = account.current()
    print(f"{URL_VARIABLE}={url}", flush=True)
    _say(f"serving on {url}" + (f" from {args.workers} worker processes" if workers else "") + "; stop with Ctrl-C")
    _say(
        f"account: kept in {where.directory} (survives restarts; empty it with "
        f"`python -m workshop_helpers reset --state-dir {where.directory}`)"
        if where is not None
        else "account: in memory only (--ephemeral): everything is gone when the endpoint stops"
    )
    if classroom is None:
        _say(
            "credentials: any access key acts as the account's administrator, as on other local AWS "
            "emulators (real AWS refuses keys it did not issue)"
        )
    else:
        names = [p.name for p in classroom.participants()]
        _say(
            f"credentials: class mode: only the keys this endpoint issued are accepted, one account per "
            f"participant ({len(names)}: {', '.join(names)}); any other key is refused as AWS refuses it"
        )
        _say(
            f"class: env files in {classroom.directory} (NAME.env, mode 0600); add a participant with "
            f"`python -m workshop_helpers class add NAME --class-dir {classroom.directory}`"
        )
        _say(f"class: instructor's view (keep this URL to yourself): {classroom.instructor_url()}")
    code = 0
    try:
        if workers is not None:
            code = workers.wait(stopping)
        else:
            while not stopping.wait(0.5):
                pass
    finally:
        if workers is None:
            stop()
        elif classroom is not None:
            classroom.stop()
        restore()
        fidelity.stop_recording()
    _say("endpoint stopped" if code == 0 else "endpoint stopped: a worker failed (see above)")
    return code
