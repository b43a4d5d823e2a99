"""moto's backends for the persisted services, to bytes and back.

What is saved is each backend's own attributes (its keys, roles, buckets, volumes, ...) for
every account and Region the process has used, pickled. That is moto's objects as they are:
every field KMS, IAM, STS, S3 and EC2 keep, with no second schema to drift from moto's. It
is safe to do because

- the pickles are read only from the user's own private folder (0700/0600), which nobody
  else can write, and only when they were written by the same moto version and account
  format (store.py checks both before anything is read);
- what pickle cannot save as it is gets a rule here: locks are made anew, RSA and EC keys
  travel as PKCS#8 DER, and a reference from one backend to another (an EC2 volume knows
  its EC2 backend) is saved as the backend's name and found again in the loading process;
- EC2's AMI catalogue and its snapshots are moto's fixed start-up data (about 1.7 MB):
  they are left out and moto rebuilds them (the workshop makes no AMI and no snapshot).
"""

from __future__ import annotations

import io
import pickle
import threading
from typing import Any

SERVICES = ("kms", "iam", "sts", "s3", "ec2")
_LEFT_OUT = {"ec2": frozenset({"amis", "snapshots"})}
# State kept on a service's backend dictionary rather than on one backend: S3's global map
# of bucket names to accounts (one bucket namespace for every account, as on AWS).
_SHARED = {"s3": ("bucket_accounts",)}
_SHARED_KEY = "*shared*"
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _backend_dict(service: str):
    from moto.backends import get_backend

    if service == "ec2":  # imported lazily (it takes seconds): its internals checked on first use
        from ..fidelity import require

        require("moto.ec2")
    return get_backend(service)


def live_backends(service: str) -> dict[tuple[str, str], Any]:
    """{(account, region): backend} of the backends this process has created for `service`."""
    found = {}
    for account, regions in list(dict.items(_backend_dict(service))):
        for region, backend in list(dict.items(regions)):
            found[(account, region)] = backend
    return found


def _private_key_from_der(der: bytes):
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, password=None)


def _new_lock(kind: str):
    return threading.RLock() if kind == "rlock" else threading.Lock()


class _Pickler(pickle.Pickler):
    def __init__(self, file, refs: dict[int, tuple]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = refs

    def persistent_id(self, obj):
        return self._refs.get(id(obj))

    def reducer_override(self, obj):
        if isinstance(obj, _LOCK_TYPES):
            return _new_lock, ("rlock" if isinstance(obj, _LOCK_TYPES[1]) else "lock",)
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            from cryptography.hazmat.primitives import serialization

            der = obj.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key_from_der, (der,)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def persistent_load(self, pid):
        kind, service, account, region = pid
        if kind != "backend":
            raise pickle.UnpicklingError(f"unknown reference {kind!r}")
        return _backend_dict(service)[account][region]


def _references() -> dict[int, tuple]:
    """Every live backend of every persisted service, by identity, as a name to save."""
    refs = {}
    for service in SERVICES:
        for (account, region), backend in live_backends(service).items():
            refs[id(backend)] = ("backend", service, account, region)
    return refs


def dump(service: str) -> bytes:
    """The state of `service` in every account and Region this process has used."""
    left_out = _LEFT_OUT.get(service, frozenset())
    state = {
        where: {name: value for name, value in vars(backend).items() if name not in left_out}
        for where, backend in live_backends(service).items()
    }
    bd = _backend_dict(service)
    state[_SHARED_KEY] = {name: getattr(bd, name) for name in _SHARED.get(service, ())}
    buffer = io.BytesIO()
    _Pickler(buffer, _references()).dump(state)
    return buffer.getvalue()


def load(service: str, data: bytes) -> None:
    """Make this process's `service` backends exactly what `data` describes."""
    state = _Unpickler(io.BytesIO(data)).load()
    shared = state.pop(_SHARED_KEY, {})
    live = live_backends(service)
    for where, backend in live.items():
        if where not in state:
            backend.reset()
    bd = _backend_dict(service)
    for (account, region), saved in state.items():
        backend = bd[account][region]  # created fresh if this process has not used it yet
        kept = {name: value for name, value in vars(backend).items() if name in _LEFT_OUT.get(service, ())}
        vars(backend).clear()
        vars(backend).update(saved)
        vars(backend).update(kept)
    for name in _SHARED.get(service, ()):
        current = getattr(bd, name)
        current.clear()
        current.update(shared.get(name, {}))


def forget(service: str) -> None:
    """Back to an empty account for `service` (the account was emptied elsewhere)."""
    for backend in live_backends(service).values():
        backend.reset()
    for name in _SHARED.get(service, ()):
        getattr(_backend_dict(service), name).clear()
