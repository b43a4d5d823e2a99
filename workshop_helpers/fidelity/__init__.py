"""Makes moto behave like real KMS on the workshop's paths.

`apply()` patches moto once per process, at the backend level, so every in-process client
(`connect("moto")`) and every client of the local endpoint (`serve`) sees the same KMS:

- keys.py / key_import.py / key_state.py: key import (BYOK), key states, deletion rules
- ciphertext.py: the blob format and an unambiguous binding of the encryption context
- responses.py: the key-import actions and the response fields real KMS returns
- iam.py / policy.py: IAM authorization as on AWS, always on, with KMS condition keys
- known_crashes.py: moto crashes on the workshop's paths, turned into KMS's errors
- errors.py: anything unforeseen becomes KMSInternalException, never a crash
- recording.py: test-only recording of the data keys handed out

docs/fidelity.md lists what still differs from real KMS.
"""

from __future__ import annotations

import threading

from .moto_internals import MOTO_TESTED, MotoIncompatible, check
from .recording import recorded_keys, recording_path, start_recording, stop_recording

__all__ = [
    "MOTO_TESTED",
    "MotoIncompatible",
    "applied",
    "apply",
    "check",
    "recorded_keys",
    "recording_path",
    "start_recording",
    "stop_recording",
]

_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Apply the fidelity patches to moto, once per process (later calls do nothing).

    Raises MotoIncompatible, naming the attribute, if moto is outside the tested range or
    lacks an internal the patches rely on; nothing is patched then.
    """
    global _applied
    with _lock:
        if _applied:
            return
        check()
        from . import errors, iam, keys, known_crashes, responses

        keys.install()
        responses.install()
        known_crashes.install()
        iam.install()
        errors.install()
        _applied = True


def applied() -> bool:
    return _applied
