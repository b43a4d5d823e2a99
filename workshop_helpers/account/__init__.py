"""The simulated account, kept on disk: one account per user, shared by every process.

A real AWS account outlives every client that uses it. The simulation's account does too:
every kernel, the command line and `serve` that use the same state folder see one account,
and it survives kernel, JupyterLab and machine restarts.

- location.py: which folder (`KMS_WORKSHOP_STATE_DIR`, default ``~/.kms-workshop/account``;
  ``memory`` for an account that lives in the process only), kept private (0700/0600)
- store.py: the SQLite file in that folder: one snapshot per service and account, a
  generation number per snapshot, the audit trail, and the workshop's own records
- locks.py: a lock per account (and one over all), across threads and processes
- snapshot.py: moto's backends for KMS, IAM, STS, S3 and EC2 to bytes and back
- requests.py: which service a request is for, and whether it can change the account
- sync.py: the glue: under the locks of a request's accounts, read what other processes
  changed in them before it, write what it changed after it, in one SQLite transaction
  (all or nothing)

docs/account-state.md explains the design and its limits.
"""

from __future__ import annotations

from .location import MEMORY, STATE_DIR_ENV, default_state_dir, state_dir
from .store import StateError
from .sync import Account, current, install_in_process, open_account, records_store, reset_account, wsgi

__all__ = [
    "MEMORY",
    "STATE_DIR_ENV",
    "Account",
    "StateError",
    "current",
    "install_in_process",
    "default_state_dir",
    "open_account",
    "records_store",
    "reset_account",
    "state_dir",
    "wsgi",
]
