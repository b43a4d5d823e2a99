"""`python -m workshop_helpers reset`: empty the simulated account.

Everything in it goes: keys and their material, aliases, grants, roles, policies, volumes,
buckets, the trail. Files encrypted under its keys can then never be decrypted again, as
on AWS after a key is deleted, so it asks first (--yes for scripts). Also the way out of a
state folder that is unreadable or was written by another version: that is removed.
"""

from __future__ import annotations

import sys

from ..account import reset_account, state_dir
from ..errors import WorkshopError

HELP = "empty the simulated account (moto backend and serve): every key, role, volume and bucket"


def configure(parser) -> None:
    parser.add_argument(
        "--state-dir",
        metavar="DIR",
        default=None,
        help="the account's folder (default: $KMS_WORKSHOP_STATE_DIR, else ~/.kms-workshop/account)",
    )
    parser.add_argument("--yes", "-y", action="store_true", help="do not ask first")


def run(args) -> int:
    path = state_dir(args.state_dir)
    if path is None:
        raise WorkshopError(
            "KMS_WORKSHOP_STATE_DIR=memory: that account lives in one process and ends with it; nothing to reset."
        )
    if not path.exists():
        print(f"no simulated account in {path}: nothing to reset")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            raise WorkshopError(f"reset would empty the account in {path}; pass --yes to do it without asking.")
        answer = input(
            f"Empty the simulated account in {path}? Every key goes, and files encrypted under them "
            "can never be decrypted again. [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing changed")
            return 1
    reset_account(path)
    print(f"the simulated account in {path} is empty")
    return 0
