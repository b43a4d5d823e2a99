"""Makes moto behave like real KMS on the workshop's paths.

`apply()` patches moto once per process, at the backend level, so every in-process client
(`connect("moto")`) and every client of the local endpoint (`serve`) sees the same KMS:

- keys.py / key_import.py / key_state.py: key creation rules, key import (BYOK), key
  states, deletion rules, on-demand rotation
- material.py: a symmetric key's key materials (current, earlier, pending rotation)
- ciphertext.py: opaque blobs of the real size, and an unambiguous binding of the
  encryption context
- responses.py: the key-import and rotation actions, and the fields and errors real KMS
  returns
- validation.py: the API's own constraints (lengths, ranges, enums, patterns), checked
  from botocore's service model as AWS checks them
- iam.py / policy.py: IAM authorization as on AWS, always on, with KMS condition keys
- known_crashes.py: moto crashes on the workshop's paths, turned into KMS's errors
- safety_net.py: anything unforeseen becomes KMSInternalException, never a crash
- recording.py: test-only recording of the data keys handed out
- internals.py: every moto and botocore internal the workshop touches, checked first

docs/fidelity.md lists what still differs from real KMS.
"""

from __future__ import annotations

import threading

from .internals import BOTOCORE_TESTED, MOTO_TESTED, MotoIncompatible, check, check_botocore, require
from .recording import recorded_keys, recording_path, start_recording, stop_recording

__all__ = [
    "BOTOCORE_TESTED",
    "MOTO_TESTED",
    "MotoIncompatible",
    "applied",
    "apply",
    "check",
    "check_botocore",
    "recorded_keys",
    "recording_path",
    "require",
    "start_recording",
    "stop_recording",
]

_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Apply the fidelity patches to moto, once per process (later calls do nothing).

    Raises MotoIncompatible (one line, naming the internal) if moto or botocore is outside
    the tested range or lacks an internal the workshop relies on (internals.py lists them
    all); nothing is patched then.
    """
    global _applied
    with _lock:
        if _applied:
            return
        check()
        from . import iam, keys, known_crashes, responses, safety_net

        keys.install()
        responses.install()
        known_crashes.install()
        iam.install()
        safety_net.install()
        _applied = True


def applied() -> bool:
    return _applied
