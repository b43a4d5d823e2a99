"""Keeping this process's moto in step with the account on disk, around every request.

Before a request: if another process changed a service since this one last read it (its
generation moved), its snapshot is loaded. A request that can change the account runs
inside a write transaction (other processes' writers wait), and its service's snapshot is
saved before the transaction commits: all or nothing, and nobody's update is lost.

The same `Account.run` wraps moto's in-process mock (`install_in_process`, used by
`connect("moto")`) and the endpoint's WSGI app (`wsgi`, used by `serve`), so both keep the
account identically.
"""

from __future__ import annotations

import io
import os
import pathlib
import threading
from typing import Any, Callable

from . import requests, snapshot
from .location import STATE_DIR_ENV, state_dir
from .store import Store, StateError, unreadable

_lock = threading.Lock()
_current: "Account | None" = None
_patched = False


class Account:
    """The simulated account in a state folder, as this process sees it."""

    def __init__(self, directory: pathlib.Path):
        self.store = Store(directory)
        self.directory = self.store.directory
        self._epoch = ""
        self._loaded: dict[str, int] = {}  # service -> generation this process holds

    def __repr__(self) -> str:
        return f"Account({str(self.directory)!r})"

    # --- keeping in step ----------------------------------------------------------------

    def refresh(self) -> None:
        """Load what other processes changed since this one last looked."""
        epoch, generations = self.store.generations()
        if epoch != self._epoch:  # emptied (reset) elsewhere, or first look
            for service in snapshot.SERVICES:
                snapshot.forget(service)
            self._loaded, self._epoch = {}, epoch
        for service, generation in generations.items():
            if self._loaded.get(service) != generation:
                found = self.store.snapshot(service)
                if found is None:
                    continue
                generation, data = found
                try:
                    snapshot.load(service, data)
                except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad file
                    self._loaded.pop(service, None)
                    raise unreadable(self.directory, f"the {service} snapshot: {type(exc).__name__}") from None
                self._loaded[service] = generation

    def run(self, service: str | None, changes: bool, call: Callable[[], Any]) -> Any:
        """`call()` (one request) against the current account; saved after if it `changes`."""
        if service is None:
            return call()
        with self.store.lock:
            if not changes:
                self.refresh()
                return call()
            with self.store.write() as conn:
                self.refresh()
                try:
                    result = call()
                except BaseException:
                    # moto may have changed half of something: read the account again next time
                    self._loaded.pop(service, None)
                    raise
                self._loaded[service] = self.store.put_snapshot(conn, service, snapshot.dump(service))
            return result

    def empty(self) -> None:
        """Remove everything from the account (`reset`)."""
        with self.store.lock:
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
    resource: this process's account on disk, or None (memory, endpoint and aws backends
    keep it in the process)."""
    from ..backend import active

    ws = active()
    if _current is None or ws is None or ws.backend != "moto":
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
    from .store import DB_NAME

    try:
        account = _current if _current is not None and _current.directory == path.absolute() else Account(path)
        account.empty()
    except StateError:
        for name in (DB_NAME, DB_NAME + "-wal", DB_NAME + "-shm"):
            (path / name).unlink(missing_ok=True)
    import shutil

    shutil.rmtree(path / "key-material", ignore_errors=True)  # the customer's copies go with the keys
    return path


# --- where requests pass ------------------------------------------------------------------


def install_in_process() -> None:
    """Run every request of moto's in-process mock through the current account (once)."""
    global _patched
    with _lock:
        if _patched:
            return
        from moto.core.botocore_stubber import BotocoreStubber

        original = BotocoreStubber.process_request

        def process_request(self, request):
            account = _current
            if account is None:
                return original(self, request)
            service, _operation, changes = requests.classify(request.method, request.headers, request.url, request.body)
            return account.run(service, changes, lambda: original(self, request))

        BotocoreStubber.process_request = process_request
        _patched = True


def wsgi(app, account: Account):
    """The endpoint's WSGI app, with every request run through `account`."""

    def application(environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):  # chunked: the server de-chunks to the end
            body = environ["wsgi.input"].read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        headers = {
            "Authorization": environ.get("HTTP_AUTHORIZATION", ""),
            "X-Amz-Target": environ.get("HTTP_X_AMZ_TARGET", ""),
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
            chunks = account.run(service, changes, call)
        except StateError as exc:
            return _state_error(start_response, str(exc))
        status, response_headers, exc_info = captured["start"]
        start_response(status, response_headers, exc_info)
        return captured.get("early", []) + chunks

    return application


def _state_error(start_response, message: str):
    import json

    body = json.dumps({"__type": "KMSInternalException", "message": message}).encode()
    start_response("500 Internal Server Error", [("Content-Type", "application/x-amz-json-1.1"),
                                                 ("Content-Length", str(len(body)))])
    return [body]
