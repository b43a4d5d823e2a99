"""Test-only recording of the plaintext data keys KMS hands out.

Off unless a test (or `serve --record-data-keys FILE`) turns it on. When on, every
plaintext data key returned by GenerateDataKey is appended to the file as one base64
line, so a key-hygiene test can check that no data key ever lands on disk or in output.
Never turn it on outside tests: the file holds every data key in the clear.
"""

from __future__ import annotations

import base64
import os
import threading

_lock = threading.Lock()
_path: str | None = None


def start_recording(path: str | os.PathLike) -> None:
    """Append every plaintext data key handed out from now on to `path`."""
    global _path
    with _lock:
        _path = os.fspath(path)
        # Created at once (owner-only), so a test can tell "on but unused" from "off".
        fd = os.open(_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.close(fd)


def stop_recording() -> None:
    global _path
    with _lock:
        _path = None


def recording_path() -> str | None:
    """The file being recorded to, or None when recording is off (the default)."""
    return _path


def record(plaintext: bytes) -> None:
    with _lock:
        if _path is None:
            return
        with open(_path, "a", encoding="ascii") as out:
            out.write(base64.b64encode(plaintext).decode("ascii") + "\n")


def recorded_keys(path: str | os.PathLike) -> list[bytes]:
    """The data keys a recording file holds, decoded."""
    with open(path, encoding="ascii") as src:
        return [base64.b64decode(line) for line in src.read().split()]
