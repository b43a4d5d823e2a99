"""Locks on the account's state that hold across threads and processes: one per account
(a participant's, or '' for the state kept across accounts), and one over them all.

Each is an flock(2) on a file of its own in the state folder's `locks/` (0700, files 0600),
taken on a descriptor opened for that one acquisition: flock treats separate opens as
separate holders, even in one process, so the same lock serves threads and processes.
The kernel drops a dead process's locks, so a process killed while it holds one leaves
nothing locked. A request holds `some()` shared and its accounts' locks exclusively;
`everything()` (reset, a request whose accounts are unknown) holds the lock over all
exclusively.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import pathlib
import re
from collections.abc import Iterator

_PLAIN = re.compile(r"^\d{1,20}$")


class LockFolder:
    def __init__(self, folder: pathlib.Path):
        self.folder = folder
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)

    def _file(self, name: str) -> str:
        return os.fspath(self.folder / f"{name}.lock")

    @contextlib.contextmanager
    def _flock(self, name: str, mode: int) -> Iterator[None]:
        fd = os.open(self._file(name), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, mode)  # waits without holding the GIL
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def account(self, account: str) -> contextlib.AbstractContextManager:
        # An account id is digits; anything else (moto takes any header value) is hashed
        # into a file name, never used as one.
        if account == "":
            name = "shared"
        elif _PLAIN.match(account):
            name = f"account-{account}"
        else:
            name = "account-x" + hashlib.sha256(account.encode()).hexdigest()[:20]
        return self._flock(name, fcntl.LOCK_EX)

    def some(self) -> contextlib.AbstractContextManager:
        return self._flock("all", fcntl.LOCK_SH)

    def everything(self) -> contextlib.AbstractContextManager:
        return self._flock("all", fcntl.LOCK_EX)
