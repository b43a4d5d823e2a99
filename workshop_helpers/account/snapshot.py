"""moto's backends for the persisted services, to bytes and back.

What is saved is each backend's own attributes (its keys, roles, buckets, volumes, ...),
pickled, one snapshot per service and account (all its Regions): a write by one account
costs only that account's state, however many accounts the endpoint serves. That is moto's objects as they are:
every field KMS, IAM, STS, S3 and EC2 keep, with no second schema to drift from moto's. It
is safe to do because

- the pickles are read only from the user's own private folder (0700/0600), which nobody
  else can write, and only in an account format this code knows (store.py checks it
  before anything is read; the moto version is not part of it, so a patch release of
  moto within the pinned range reads the account as it is);
- what pickle cannot save as it is gets a rule here: locks are made anew, RSA and EC keys
  travel as PKCS#8 DER, and a reference from one backend to another (an EC2 volume knows
  its EC2 backend) is saved as the backend's name and found again in the loading process;
- an S3 object's bytes (moto's FakeKey buffer) are saved beside the snapshot, by digest
  (objects.py): a snapshot carries only the digest, so writing one object does not
  rewrite the others;
- EC2's AMI catalogue and its snapshots are moto's fixed start-up data (about 1.7 MB):
  they are left out and moto rebuilds them (the workshop makes no AMI and no snapshot).
"""

from __future__ import annotations

import io
import pickle
import sys
import threading
from typing import Any

from ..fidelity import load_service, service_loaded
from . import objects

SERVICES = ("kms", "iam", "sts", "s3", "ec2")
_LEFT_OUT = {"ec2": frozenset({"amis", "snapshots"})}
# State kept on a service's backend dictionary rather than on one backend: S3's global map
# of bucket names to accounts (one bucket namespace for every account, as on AWS).
_SHARED = {"s3": ("bucket_accounts",)}
SHARED = ""  # the account name of state kept across accounts
_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))


def _backend_dict(service: str):
    # deferred: moto loads with the backend, not at start-up
    from moto.backends import get_backend

    load_service(service)  # EC2 and S3 load on first use: their internals are checked first
    return get_backend(service)  # type: ignore[call-overload]  # moto types it per literal name


def live_backends(service: str) -> dict[tuple[str, str], Any]:
    """{(account, region): backend} of the backends this process has created for `service`
    (none for a service not loaded yet: looking would load it, a second for EC2)."""
    if not service_loaded(service):
        return {}
    found = {}
    for account, regions in list(dict.items(_backend_dict(service))):
        for region, backend in list(dict.items(regions)):
            found[(account, region)] = backend
    return found


def _private_key_from_der(der: bytes):
    # deferred: cryptography loads with moto, not at start-up
    from cryptography.hazmat.primitives import serialization

    return serialization.load_der_private_key(der, password=None)


def _new_lock(kind: str):
    return threading.RLock() if kind == "rlock" else threading.Lock()


class Snapshot(bytes):
    """A pickled snapshot, and the S3 object bodies it refers to by digest (`bodies`),
    which the store keeps beside it in the same transaction."""

    bodies: dict[str, objects.StoredBody]

    def __new__(cls, data: bytes, bodies: dict[str, objects.StoredBody]):
        made = super().__new__(cls, data)
        made.bodies = bodies
        return made


def _blank(cls):
    return cls.__new__(cls)


def _set_state(obj, state: dict) -> None:
    """A FakeKey's attributes as saved: its buffer is the StoredBody persistent_load made,
    not the bytes moto's own __setstate__ expects."""
    vars(obj).update(state)
    body = state.get("_value_buffer")
    if isinstance(body, objects.StoredBody):
        body._spool = state.get("_max_buffer_size") or objects.SPOOL


class _Reference:
    """A reference to another backend, kept as its name (rewriting a pickle without
    loading it into this process's moto)."""

    def __init__(self, pid: tuple):
        self.pid = pid


class _Pickler(pickle.Pickler):
    def __init__(self, file, refs: dict[int, tuple]):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._refs = refs
        self.bodies: dict[str, objects.StoredBody] = {}
        self._fake_key = objects.fake_key_class() if "moto.s3.models" in sys.modules else None

    def persistent_id(self, obj):
        if isinstance(obj, objects.StoredBody):
            self.bodies[obj.digest] = obj
            return ("body", obj.digest, obj.size)
        if isinstance(obj, _Reference):
            return obj.pid
        return self._refs.get(id(obj))

    def reducer_override(self, obj):
        if self._fake_key is not None and isinstance(obj, self._fake_key):
            objects.stored_body(obj)  # its bytes go beside the snapshot, by digest
            return _blank, (type(obj),), dict(vars(obj)), None, None, _set_state
        if isinstance(obj, _LOCK_TYPES):
            return _new_lock, ("rlock" if isinstance(obj, _LOCK_TYPES[1]) else "lock",)
        # deferred: cryptography loads with moto, not at start-up
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

        if isinstance(obj, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey)):
            # deferred: cryptography loads with moto, not at start-up
            from cryptography.hazmat.primitives import serialization

            der = obj.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            return _private_key_from_der, (der,)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, bodies: objects.Bodies | None, keep_references: bool = False):
        super().__init__(file)
        self._bodies = bodies
        self._keep_references = keep_references

    def persistent_load(self, pid):
        if pid[0] == "body":
            _kind, digest, size = pid
            return objects.StoredBody(digest, size, self._bodies.read_chunks if self._bodies else None)
        kind, service, account, region = pid
        if kind != "backend":
            raise pickle.UnpicklingError(f"unknown reference {kind!r}")
        if self._keep_references:
            return _Reference(pid)
        return _backend_dict(service)[account][region]


def _references() -> dict[int, tuple]:
    """Every live backend of every persisted service, by identity, as a name to save."""
    refs = {}
    for service in SERVICES:
        for (account, region), backend in live_backends(service).items():
            refs[id(backend)] = ("backend", service, account, region)
    return refs


def accounts_of(service: str) -> set[str]:
    """The accounts this process has a `service` backend for."""
    return {account for account, _region in live_backends(service)}


def _dumps(state: Any, refs: dict[int, tuple] | None = None) -> Snapshot:
    buffer = io.BytesIO()
    pickler = _Pickler(buffer, _references() if refs is None else refs)
    pickler.dump(state)
    return Snapshot(buffer.getvalue(), pickler.bodies)


def dump(service: str, account: str) -> Snapshot:
    """The state of `service` in one account, every Region this process has used there;
    SHARED (the empty account) is the service's state kept across accounts."""
    if account == SHARED:
        bd = _backend_dict(service)
        return _dumps({name: getattr(bd, name) for name in _SHARED.get(service, ())})
    left_out = _LEFT_OUT.get(service, frozenset())
    regions = dict.get(_backend_dict(service), account) or {}
    return _dumps(
        {
            region: {name: value for name, value in vars(backend).items() if name not in left_out}
            for region, backend in list(dict.items(regions))
        }
    )


def has_shared(service: str) -> bool:
    return bool(_SHARED.get(service))


def load(service: str, account: str, data: bytes, bodies: objects.Bodies | None = None) -> None:
    """Make this process's `service` backends of `account` exactly what `data` describes;
    S3 objects' bytes are read from `bodies` when first used."""
    state = _Unpickler(io.BytesIO(data), bodies).load()
    bd = _backend_dict(service)
    if account == SHARED:
        for name in _SHARED.get(service, ()):
            current = getattr(bd, name)
            current.clear()
            current.update(state.get(name, {}))
        return
    for region, backend in list(dict.items(dict.get(bd, account) or {})):
        if region not in state:
            backend.reset()
    for region, saved in state.items():
        backend = bd[account][region]  # created fresh if this process has not used it yet
        kept = {name: value for name, value in vars(backend).items() if name in _LEFT_OUT.get(service, ())}
        vars(backend).clear()
        vars(backend).update(saved)
        vars(backend).update(kept)


def forget(service: str) -> None:
    """Back to an empty account for `service` (the account was emptied elsewhere)."""
    for backend in live_backends(service).values():
        backend.reset()
    for name in _SHARED.get(service, ()):
        getattr(_backend_dict(service), name).clear()


def with_bodies_outside(data: bytes) -> Snapshot:
    """A snapshot of account format 2, which holds its S3 objects' bytes, as one of format 3,
    which refers to them by digest: unpickled and pickled again without touching this
    process's moto (references to backends stay names)."""
    state = _Unpickler(io.BytesIO(data), None, keep_references=True).load()
    return _dumps(state, refs={})
