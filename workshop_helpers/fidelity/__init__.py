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

EC2 and S3 load on their first use (`load_service`), not in `apply()`: importing moto's
EC2 alone takes about a second, and only notebook 05 needs it. Their internals are checked
then, before moto answers any of their requests.

docs/fidelity.md lists what still differs from real KMS.
"""

from __future__ import annotations

import threading

from .internals import (
    BOTOCORE_TESTED,
    MOTO_TESTED,
    SERVICES_LOADED_ON_FIRST_USE,
    MotoIncompatible,
    check,
    check_botocore,
    check_service,
    require,
)
from .recording import recorded_keys, recording_path, start_recording, stop_recording

__all__ = [
    "BOTOCORE_TESTED",
    "MOTO_TESTED",
    "MotoIncompatible",
    "applied",
    "apply",
    "backend_exists",
    "check",
    "check_botocore",
    "load_service",
    "recorded_keys",
    "recording_path",
    "require",
    "service_loaded",
    "start_recording",
    "stop_recording",
]

_lock = threading.Lock()
_applied = False


def apply() -> None:
    """Apply the fidelity patches to moto, once per process (later calls do nothing).

    Raises MotoIncompatible (one line, naming the internal) if moto or botocore is outside
    the tested range or lacks an internal the workshop relies on (internals.py lists them
    all); nothing is patched then. The internals of EC2 and S3 are checked by
    `load_service`, on their first use.
    """
    global _applied
    with _lock:
        if _applied:
            return
        check()
        # deferred: the patches import moto; connect() needs them, importing the package does not
        from . import iam, keys, known_crashes, responses, safety_net

        keys.install()
        responses.install()
        known_crashes.install()
        iam.install()
        safety_net.install()
        _load_services_on_first_use()
        _applied = True


def applied() -> bool:
    return _applied


# --- services loaded on their first use ---------------------------------------------------

_services_lock = threading.RLock()
_loaded_services: set[str] = set()


def load_service(service: str) -> None:
    """Make `service` ready before moto answers its first request: its internals checked
    (MotoIncompatible, one line, if one moved), once per process.

    Called by moto's `get_backend` (every request reaches it: `apply()` wraps it), and by
    the account on disk before it loads the service's snapshots. Any other service (KMS,
    IAM and STS are ready after `apply()`) returns at once.
    """
    if service in _loaded_services or service not in SERVICES_LOADED_ON_FIRST_USE:
        return
    with _services_lock:  # other threads wait until the service is ready
        if service not in _loaded_services:
            check_service(service)
            _loaded_services.add(service)


def service_loaded(service: str) -> bool:
    """Whether `service` is ready in this process (always, for the services `apply()` loads)."""
    return service not in SERVICES_LOADED_ON_FIRST_USE or service in _loaded_services


def backend_exists(service: str, account_id: str, region: str) -> bool:
    """Whether moto in this process made a `service` backend for that account and Region,
    without loading the service to find out."""
    if not service_loaded(service):
        return False
    # deferred: moto loads with the backend, not at start-up
    from moto.backends import get_backend

    regions = dict.get(get_backend(service), account_id)  # dict.get: BackendDict would make one
    return regions is not None and region in dict.keys(regions)


def _load_services_on_first_use() -> None:
    # deferred: moto loads with the backend, not at start-up
    import moto.backends

    original = moto.backends.get_backend

    def get_backend(name):
        load_service(name)
        return original(name)

    get_backend.__wrapped__ = original  # internals.py checks moto's own
    moto.backends.get_backend = get_backend
