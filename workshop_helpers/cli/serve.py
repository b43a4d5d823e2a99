"""`python -m workshop_helpers serve`: run the local endpoint (workshop_helpers.endpoint).

It prints `KMS_WORKSHOP_ENDPOINT_URL=http://HOST:PORT` as its first stdout line, binds to
loopback unless told otherwise, says where its account lives, and stops cleanly (exit 0)
on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from typing import Callable

from ..endpoint import DEFAULT_HOST, DEFAULT_PORT, LOOPBACK, URL_VARIABLE, start_endpoint

HELP = "run a local KMS endpoint (moto made faithful) for KMS, IAM, STS, EC2 and S3"


def configure(parser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}, loopback only)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks a free one)")
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
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    group = parser.add_argument_group("a class on one endpoint (docs/instructor.md)")
    group.add_argument("--participants", metavar="NAMES", default=None,
                       help="comma-separated names: an account and an issued administrator credential each; "
                       "every credential the endpoint did not issue is then refused, as on AWS")
    group.add_argument("--class-dir", metavar="DIR", default=None,
                       help="where to write each participant's NAME.env (0600) and class.json (needed with --participants)")
    group.add_argument("--region", default=None, help="the Region written to the env files (default eu-west-1)")
    group.add_argument("--public-url", metavar="URL", default=None,
                       help="the endpoint URL written to the env files, if participants reach it by another address")


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _classroom(args):
    from ..backend import DEFAULT_REGION
    from ..classroom import ClassError, Classroom, RosterError, parse_names
    from ..errors import WorkshopError

    if args.participants is None:
        if args.class_dir or args.public_url:
            raise WorkshopError("--class-dir and --public-url need --participants (a class)")
        return None
    if not args.class_dir:
        raise WorkshopError("--participants needs --class-dir DIR: where each participant's env file goes")
    try:
        return Classroom(parse_names(args.participants), args.class_dir, region=args.region or DEFAULT_REGION,
                         public_url=args.public_url)
    except (ClassError, RosterError, OSError) as exc:
        raise WorkshopError(str(exc)) from None


def run(args, *, wrap_app: Callable | None = None) -> int:
    from .. import account, fidelity

    if not args.verbose:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if args.host not in LOOPBACK:
        _say(f"warning: binding {args.host}: anyone who can reach this address can use the endpoint"
             + (", with the keys it issued only (class mode)." if args.participants is not None
                else ", and every made-up access key acts as its administrator."))
    if args.record_data_keys:
        fidelity.start_recording(args.record_data_keys)
        _say(f"WARNING: TEST MODE: every plaintext data key handed out is written to {args.record_data_keys}; "
             "never use this outside tests.")
    classroom = _classroom(args)
    url, stop = start_endpoint(args.host, args.port, state_dir="memory" if args.ephemeral else args.state_dir,
                               wrap_app=wrap_app, classroom=classroom)
    stopping = threading.Event()

    def on_signal(signum, _frame) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    where = account.current()
    print(f"{URL_VARIABLE}={url}", flush=True)
    _say(f"serving on {url}; stop with Ctrl-C")
    _say(f"account: kept in {where.directory} (survives restarts; empty it with "
         f"`python -m workshop_helpers reset --state-dir {where.directory}`)" if where is not None
         else "account: in memory only (--ephemeral): everything is gone when the endpoint stops")
    if classroom is None:
        _say("credentials: any access key acts as the account's administrator, as on other local AWS "
             "emulators (real AWS refuses keys it did not issue)")
    else:
        names = [p.name for p in classroom.participants()]
        _say(f"credentials: class mode: only the keys this endpoint issued are accepted, one account per "
             f"participant ({len(names)}: {', '.join(names)}); any other key is refused as AWS refuses it")
        _say(f"class: env files in {classroom.directory} (NAME.env, mode 0600); add a participant with "
             f"`python -m workshop_helpers class add NAME --class-dir {classroom.directory}`")
        _say(f"class: instructor's view (keep this URL to yourself): {classroom.instructor_url()}")
    try:
        while not stopping.wait(0.5):
            pass
    finally:
        stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        fidelity.stop_recording()
    _say("endpoint stopped")
    return 0
