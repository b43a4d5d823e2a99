"""Keeping this process's moto in step with the account on disk, around every request.

State is kept per service and per account (one participant's account on a class
endpoint). A request first names its accounts (requests.accounts_of: the one whose IAM
issued its access key, for KMS the accounts of the keys it names by ARN or ciphertext,
for STS the account of the role it assumes), takes their locks (locks.py: across
threads and processes), and loads the snapshots of those accounts that another process
changed (their generation moved). A request that can change the account then writes the
snapshots of its service in the accounts it ran in, in one SQLite transaction: all or
nothing, and, since the locks are held from the read to the commit, nobody's update is
lost. A write costs one account's state, and requests of other accounts run meanwhile.

The same `Account.run` wraps moto's in-process mock (`install_in_process`, used by
`connect("moto")`) and the endpoint's WSGI app (`wsgi`, used by `serve`), so both keep the
account identically.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import pathlib
import shutil
import threading
from collections.abc import Callable
from typing import Any

from ..fidelity import load_service, service_loaded
from . import requests, snapshot
from .location import STATE_DIR_ENV, state_dir
from .locks import LockFolder
from .store import DB_NAME, StateError, Store, unreadable

_lock = threading.Lock()
_current: Account | None = None
_patched = False


class _Touched(threading.local):
    """The accounts moto ran this thread's request in (BaseResponse.get_current_account)."""

    accounts: set | None = None


_touched = _Touched()


def _record_accounts() -> None:
    """Note every account moto picks for a request, so that the accounts written after it
    are the ones it ran in, even where the prediction (requests.accounts_of) missed one."""
    # deferred: moto loads with the backend, not at start-up
    from moto.core.responses import BaseResponse

    original = BaseResponse.get_current_account
    if getattr(original, "_kms_workshop_records", False):
        return

    def get_current_account(self) -> str:
        account = original(self)
        if _touched.accounts is not None:
            _touched.accounts.add(account)
        return account

    get_current_account._kms_workshop_records = True  # type: ignore[attr-defined]
    BaseResponse.get_current_account = get_current_account  # type: ignore[method-assign]


class _Held(threading.local):
    """The account locks this thread holds (a request inside a request takes none twice)."""

    def __init__(self):
        self.accounts: set[str] = set()
        self.everything = False


class Account:
    """The simulated account in a state folder, as this process sees it.

    Each account of the folder (one per participant on a class endpoint) is kept on its
    own: a snapshot per service and account, and a lock per account. A request holds its
    accounts' locks from the moment it reads their state until its write has committed,
    so no update is lost, while requests of other accounts run meanwhile; only the commit
    itself (the snapshots of that request's accounts) waits for SQLite's one writer."""

    def __init__(self, directory: pathlib.Path):
        self.store = Store(directory)
        self.directory = self.store.directory
        self._locks = LockFolder(self.directory / "locks")
        self._held = _Held()
        self._epoch = ""
        self._loaded: dict[tuple[str, str], int] = {}  # (service, account) -> generation this process holds
        _record_accounts()

    def __repr__(self) -> str:
        return f"Account({str(self.directory)!r})"

    # --- locks ----------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self, accounts: list[str] | None):
        """Hold the locks of `accounts`, or of every account (None: a request whose
        accounts are unknown, reset, the instructor's view)."""
        held = self._held
        if held.everything or (accounts is None and held.accounts):
            yield  # already held; the lock over all cannot be taken under an account's own
            return
        if accounts is None:
            with self._locks.everything():
                held.everything = True
                try:
                    yield
                finally:
                    held.everything = False
            return
        wanted = sorted(set(accounts) - held.accounts)
        with contextlib.ExitStack() as stack:
            if not held.accounts:
                stack.enter_context(self._locks.some())
            for account in wanted:  # sorted: two requests never wait on each other
                stack.enter_context(self._locks.account(account))
            held.accounts |= set(wanted)
            try:
                yield
            finally:
                held.accounts -= set(wanted)

    # --- keeping in step ----------------------------------------------------------------

    def _load(self, service: str, account: str, generation: int) -> None:
        if self._loaded.get((service, account)) == generation:
            return
        found = self.store.snapshot(service, account)
        if found is None:
            return
        generation, data = found
        if self._loaded.get((service, account)) == generation:
            # written by this process after `generation` was read: what it holds is newer
            # than the number the caller saw, and may hold more than the row (a session
            # key AssumeRole made in IAM while writing STS's row)
            return
        try:
            snapshot.load(service, account, data, self.store.bodies)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
            self._loaded.pop((service, account), None)
            raise unreadable(self.directory, f"the {service} snapshot: {type(exc).__name__}") from None
        self._loaded[(service, account)] = generation

    def refresh(self, accounts: list[str] | None = None) -> None:
        """Load what other processes changed since this one last looked, in `accounts`
        (whose locks the caller holds), or in every account (None)."""
        epoch, generations = self.store.generations()
        if epoch != self._epoch:  # emptied (reset) elsewhere, or first look
            with self._locked(None):
                for service in snapshot.SERVICES:
                    snapshot.forget(service)
                self._loaded, self._epoch = {}, epoch
        for (service, account), generation in generations.items():
            # a service not loaded yet (EC2) has its snapshots loaded before its first request
            if (accounts is None or account in accounts) and service_loaded(service):
                self._load(service, account, generation)

    def _catch_up(self) -> None:
        """Before a request's accounts are known: every account's IAM (which says whose an
        access key is) and the state kept across accounts, each loaded under its lock."""
        epoch, generations = self.store.generations()
        if epoch != self._epoch:  # first look, or emptied elsewhere: everything, under every lock
            with self._locked(None):
                self.refresh(None)
            return
        for (service, account), generation in generations.items():
            if (service == "iam" or account == snapshot.SHARED) and self._loaded.get((service, account)) != generation:
                with self._locked([account]):
                    self._load(service, account, generation)

    def run(
        self,
        service: str | None,
        changes: bool,
        call: Callable[[], Any],
        accounts: Callable[[], set[str]] | None = None,
    ) -> Any:
        """`call()` (one request) against the current account; saved after if it `changes`.

        `accounts()` names the accounts the request is for (asked once IAM is current);
        None: any account, so every account is locked, refreshed and saved."""
        if service is None:
            return call()
        load_service(service)  # loaded on its first request (EC2, S3): refresh() then loads its snapshots
        chosen: list[str] | None = None
        if accounts is not None:
            self._catch_up()
            named = set(accounts())
            if snapshot.has_shared(service):
                named.add(snapshot.SHARED)
            chosen = sorted(named)
        with self._locked(chosen):
            self.refresh(chosen)
            if not changes:
                return call()
            touched: set[str] = set()
            _touched.accounts = touched
            try:
                result = call()
            except BaseException:
                # moto may have changed half of something: read those accounts again next time
                for account in set(chosen if chosen is not None else snapshot.accounts_of(service)) | touched:
                    self._loaded.pop((service, account), None)
                raise
            finally:
                _touched.accounts = None
            written = (set(chosen) | touched) if chosen is not None else snapshot.accounts_of(service)
            if snapshot.has_shared(service):
                written.add(snapshot.SHARED)
            dumped = [(service, account, snapshot.dump(service, account)) for account in sorted(written)]
            if service == "sts" and chosen is not None:
                # AssumeRole puts the session's access key in IAM (of the role's account, which
                # accounts_of names): without the IAM row, another process (a worker of
                # `serve --workers`, or the next start) would not know whose key it is.
                # Only the accounts whose locks are held, which refresh() made current.
                dumped += [("iam", account, snapshot.dump("iam", account)) for account in chosen]
            with self.store.write() as conn:
                generations = [
                    (kind, account, self.store.put_snapshot(conn, kind, account, data))
                    for kind, account, data in dumped
                ]
            self._loaded.update(((kind, account), generation) for kind, account, generation in generations)
            return result

    def empty(self) -> None:
        """Remove everything from the account (`reset`)."""
        with self._locked(None):
            self.store.empty()
            self.refresh()

    # --- the trail and the workshop's own records ---------------------------------------

    def append_trail(self, origin: str, record: dict) -> int:
        return self.store.append_trail(origin, record)

    def trail(self, after: int = 0):
        return self.store.trail(after)


def open_account(directory: str | os.PathLike | None = None) -> Account | None:
    """The process's account: the folder given, else $KMS_WORKSHOP_STATE_DIR, else the
    default; None for ``memory``. Opened once per process; raises StateError (one line)
    for a folder that cannot be used."""
    global _current
    path = state_dir(directory)
    with _lock:
        if _current is not None:
            if path is None or path == _current.directory:
                return _current if path is not None else None
            raise StateError(
                f"this process already uses the account in {_current.directory}; "
                f"restart it to use {path} ({STATE_DIR_ENV})."
            )
        if path is None:
            return None
        _current = Account(path)
        return _current


def current() -> Account | None:
    return _current


def records_store():
    """Where the workshop's own simulations (EBS, S3) keep what AWS would keep with a
    resource: this process's account on disk when its in-process mock runs in it (the moto
    backend installs that), or None (memory, endpoint and aws backends keep it in the
    process)."""
    if _current is None or not _patched:
        return None
    return _current.store


def reset_account(directory: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Empty the account in `directory` (else the configured one). A readable account is
    emptied in place, so processes using it notice; an unreadable one is removed."""
    path = state_dir(directory)
    if path is None:
        return None
    if not path.exists():
        return path
    try:
        account = _current if _current is not None and _current.directory == path.absolute() else Account(path)
        account.empty()
    except StateError:
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            (path / name).unlink(missing_ok=True)
    shutil.rmtree(path / "key-material", ignore_errors=True)  # the customer's copies go with the keys
    return path


# --- where requests pass ------------------------------------------------------------------


def install_in_process() -> None:
    """Run every request of moto's in-process mock through the current account (once)."""
    global _patched
    with _lock:
        if _patched:
            return
        # deferred: moto loads with the backend, not at start-up
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request

        def process_request(self, request):
            account = _current
            if account is None:
                return original(self, request)
            service, _operation, changes = requests.classify(request.method, request.headers, request.url, request.body)
            return account.run(
                service,
                changes,
                lambda: original(self, request),
                lambda: requests.accounts_of(service, request.headers, request.url, request.body),
            )

        process_request.__wrapped__ = original  # type: ignore[attr-defined]  # internals.py checks moto's own
        BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
        _patched = True


def wsgi(app, account: Account):
    """The endpoint's WSGI app, with every request run through `account`."""

    def application(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        # never more than the body limit (serving.limits refused larger requests outside)
        limit = environ.get("kms_workshop.body_limit")  # serving.limits.BODY_LIMIT_KEY
        if length:
            body = environ["wsgi.input"].read(length if limit is None else min(length, limit))
        elif environ.get("wsgi.input_terminated"):  # chunked: the server de-chunks to the end
            body = environ["wsgi.input"].read(-1 if limit is None else limit)
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            "Authorization": environ.get("HTTP_AUTHORIZATION", ""),
            "X-Amz-Target": environ.get("HTTP_X_AMZ_TARGET", ""),
            "x-moto-account-id": environ.get("HTTP_X_MOTO_ACCOUNT_ID", ""),
        }
        url = environ.get("PATH_INFO", "/") + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        service, _operation, changes = requests.classify(environ.get("REQUEST_METHOD", "GET"), headers, url, body)
        captured: dict[str, Any] = {}

        def capture(status, response_headers, exc_info=None):
            captured["start"] = (status, response_headers, exc_info)
            return lambda data: captured.setdefault("early", []).append(data)

        def call():
            chunks = app(environ, capture)
            try:
                return list(chunks)  # the whole answer is made inside the transaction
            finally:
                getattr(chunks, "close", lambda: None)()

        try:
            chunks = account.run(service, changes, call, lambda: requests.accounts_of(service, headers, url, body))
        except StateError as exc:
            return _state_error(start_response, str(exc))
        status, response_headers, exc_info = captured["start"]
        start_response(status, response_headers, exc_info)
        return captured.get("early", []) + chunks

    return application


def _state_error(start_response, message: str):
    body = json.dumps({"__type": "KMSInternalException", "message": message}).encode()
    start_response(
        "500 Internal Server Error",
        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))],
    )
    return [body]
