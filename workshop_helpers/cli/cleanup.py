"""`python -m workshop_helpers cleanup`: remove what the workshop created.

Runs against the local endpoint or a real account (moto lives inside one process, so
there is nothing for a separate command to clean). On aws it shows what it would remove
and asks first, unless --yes.
"""

from __future__ import annotations

from ..cleanup import cleanup
from .options import add_backend_options, connect_from_args

HELP = "remove or schedule for deletion everything the workshop created (keys: 7 days)"


def configure(parser) -> None:
    add_backend_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="only list what would be removed")
    parser.add_argument("--keep-local-files", action="store_true", help="leave the local workshop-data folder alone")
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask before removing on aws")


def run(args) -> int:
    ws = connect_from_args(args, refuse_moto="cleanup")
    print(f"backend {ws.backend}, account {ws.account_id}, region {ws.region}")
    local = not args.keep_local_files
    if ws.backend == "aws" and not args.dry_run and not args.yes:
        preview = cleanup(ws, local_files=local, dry_run=True)
        print(preview.text())
        if preview.nothing_to_do:
            return 0
        answer = input("Go ahead? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing removed")
            return 1
    report = cleanup(ws, local_files=local, dry_run=args.dry_run)
    print(report.text())
    return 1 if report.errors else 0
