"""What the commands share: the backend options, connecting with them, one-line errors."""

from __future__ import annotations

import argparse
import os
import sys

from ..backend import choose_backend, connect
from ..errors import BackendError, one_line


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """--backend and --endpoint-url, defaulting to the environment like connect()."""
    parser.add_argument(
        "--backend",
        default=os.environ.get("KMS_WORKSHOP_BACKEND") or None,
        help="moto, endpoint or aws (default: $KMS_WORKSHOP_BACKEND, else moto)",
    )
    parser.add_argument(
        "--endpoint-url",
        default=os.environ.get("KMS_WORKSHOP_ENDPOINT_URL") or None,
        help="the local endpoint's URL (default: $KMS_WORKSHOP_ENDPOINT_URL)",
    )
    parser.add_argument("--region", default=None, help="AWS region (default: environment, else eu-west-1)")


def connect_from_args(args, *, refuse_moto: str | None = None):
    """connect() with the command line's backend options.

    `refuse_moto` names the subcommand when the moto backend makes no sense for it: with
    KMS_WORKSHOP_STATE_DIR=memory the account lives inside one process, so what one command
    creates the next would not see. (With the default, the account on disk, the command
    sees the same account as the notebooks.)
    """
    # deferred: the account (~50 ms with the fidelity layer) matters only on the moto backend
    from ..account import state_dir

    if args.endpoint_url:
        os.environ["KMS_WORKSHOP_ENDPOINT_URL"] = args.endpoint_url
    backend = choose_backend(args.backend)
    if refuse_moto and backend == "moto" and state_dir() is None:
        raise BackendError(
            f"`{refuse_moto}` cannot use a moto account kept in memory (KMS_WORKSHOP_STATE_DIR=memory): "
            "it would see an empty account; unset KMS_WORKSHOP_STATE_DIR to use the account on disk, or run "
            "`python -m workshop_helpers serve` and pass --backend endpoint --endpoint-url URL."
        )
    return connect(backend, region=args.region)


def fail(message: str, code: int = 2) -> int:
    print(f"error: {one_line(message)}", file=sys.stderr)
    return code
