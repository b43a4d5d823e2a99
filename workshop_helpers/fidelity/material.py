"""A symmetric KMS key's key materials, their ids and states, and lazy RSA keys.

Real KMS keeps every key material a symmetric encryption key ever had: the CURRENT one
encrypts, the NON_CURRENT ones (from earlier rotations) still decrypt, and an imported
material waiting for RotateKeyOnDemand is PENDING_ROTATION. Each has a 64-hex-digit
KeyMaterialId, which Decrypt, GenerateDataKey, ReEncrypt and DescribeKey report.

The list lives on moto's Key (`key._workshop_materials`, saved with the account); moto's
own `key.key_material` is kept equal to the current material's bytes (None while the
current material is not imported). Keys made before this list existed (an older account
on disk) get theirs built from what they had, on first use.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

CURRENT = "CURRENT"
NON_CURRENT = "NON_CURRENT"
PENDING_ROTATION = "PENDING_ROTATION"
SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
ON_DEMAND = "ON_DEMAND"

_ID_LABEL = b"kms-workshop-key-material-id"
_ATTR = "_workshop_materials"
lock = threading.RLock()  # every change to a key's materials or import state


def material_id(key_arn: str, material: bytes) -> str:
    """A 64-hex-digit KeyMaterialId, as KMS shows one.

    Derived from the material (so reimporting the same material gives the same id, and
    different material a different one) under a label and the key ARN, so the id never
    reveals anything usable about the material itself.
    """
    return hashlib.sha256(_ID_LABEL + key_arn.encode("utf-8") + b"\0" + material).hexdigest()


@dataclass
class Material:
    """One key material of a symmetric key."""

    id: str
    secret: bytes | None  # None: not imported (deleted, expired, never imported)
    state: str = CURRENT
    expiration_model: str | None = None  # EXTERNAL keys only
    valid_to: float | None = None
    rotation_date: float | None = None  # set when a rotation made it current
    rotation_type: str | None = None
    description: str | None = None  # KeyMaterialDescription (EXTERNAL keys)

    @property
    def imported(self) -> bool:
        return self.secret is not None

    @property
    def associated(self) -> bool:
        """Permanently associated with the key (KMS keeps it; the key needs it imported)."""
        return self.state in (CURRENT, NON_CURRENT)


def is_symmetric(key: Any) -> bool:
    return key.key_spec == SYMMETRIC_DEFAULT


def materials(key: Any) -> list[Material]:
    """The key's materials, oldest first (empty for an EXTERNAL key before its first import
    and for keys that are not symmetric encryption keys)."""
    found = vars(key).get(_ATTR)
    if found is not None:
        return found
    with lock:
        found = vars(key).get(_ATTR)
        if found is None:
            found = _initial(key)
            setattr(key, _ATTR, found)
        return found


def _initial(key: Any) -> list[Material]:
    if not is_symmetric(key):
        return []
    if key.origin != "EXTERNAL":
        return [Material(material_id(key.arn, key.key_material), key.key_material)] if key.key_material else []
    legacy = vars(key).get("_workshop_import")  # an account written before materials were a list
    legacy_id = getattr(legacy, "material_id", None)
    if not legacy_id:
        return []
    return [
        Material(
            legacy_id,
            key.key_material,
            CURRENT,
            getattr(legacy, "expiration_model", None),
            getattr(legacy, "valid_to", None),
        )
    ]


def current(key: Any) -> Material | None:
    for material in materials(key):
        if material.state == CURRENT:
            return material
    return None


def find(key: Any, wanted_id: str | None) -> Material | None:
    for material in materials(key):
        if material.id == wanted_id:
            return material
    return None


def current_material_id(key: Any) -> str | None:
    """CurrentKeyMaterialId: the current material's id, also while it is not imported (real
    KMS keeps reporting it after DeleteImportedKeyMaterial); None before any material."""
    found = current(key)
    return found.id if found else None


def sync_key_material(key: Any) -> None:
    """moto's `key.key_material` follows the current material."""
    found = current(key)
    key.key_material = found.secret if found else None


def rotations_made(key: Any) -> int:
    return sum(1 for m in materials(key) if m.rotation_type == ON_DEMAND)


def make_current(key: Any, new: Material) -> None:
    """`new` becomes CURRENT (an on-demand rotation); the old current one NON_CURRENT."""
    with lock:
        for material in materials(key):
            if material.state == CURRENT:
                material.state = NON_CURRENT
        new.state = CURRENT
        new.rotation_date = time.time()
        new.rotation_type = ON_DEMAND
        if new not in materials(key):
            materials(key).append(new)
        sync_key_material(key)


def new_generated(key: Any) -> Material:
    """Fresh material KMS generates for an AWS_KMS key's rotation."""
    secret = os.urandom(32)
    return Material(material_id(key.arn, secret), secret, NON_CURRENT)


class LazyPrivateKey:
    """Stands in for the RSA key moto makes for every key, symmetric ones included.

    Generating it costs 30-100 ms per create_key, and a symmetric key never uses it
    (sign/verify refuse symmetric keys first). It is made on first use instead.
    """

    def __init__(self, factory, key_spec: str):
        self._factory = factory
        self._key_spec = key_spec
        self._real = None
        self._lock = threading.Lock()

    def _get(self):
        with self._lock:
            if self._real is None:
                self._real = self._factory(self._key_spec)
            return self._real

    def __getattr__(self, name: str):
        if name.startswith("_"):  # not yet set (copy, pickle): never recurse into _get()
            raise AttributeError(name)
        return getattr(self._get(), name)


# --- automatic rotation of material KMS made ------------------------------------------------

DEFAULT_ROTATION_PERIOD_DAYS = 365  # EnableKeyRotation without RotationPeriodInDays
_SCHEDULE_ATTR = "_workshop_rotation_schedule"


@dataclass
class RotationSchedule:
    """What EnableKeyRotation set: the period and when automatic rotation was turned on."""

    period_in_days: int
    enabled_at: float

    @property
    def next_rotation_date(self) -> float:
        # KMS rotates one period after rotation is enabled; the simulation never performs it.
        return self.enabled_at + self.period_in_days * 86400


def enable_automatic_rotation(key: Any, period_in_days: int | None) -> None:
    """Turn on (or change the period of) automatic rotation: without a period, the API's
    default of 365 days; the period counts from the first enable."""
    with lock:
        schedule = vars(key).get(_SCHEDULE_ATTR)
        period = period_in_days or DEFAULT_ROTATION_PERIOD_DAYS
        enabled_at = schedule.enabled_at if schedule else time.time()
        setattr(key, _SCHEDULE_ATTR, RotationSchedule(period, enabled_at))


def disable_automatic_rotation(key: Any) -> None:
    with lock:
        setattr(key, _SCHEDULE_ATTR, None)


def rotation_schedule(key: Any) -> RotationSchedule:
    """The schedule of a key whose automatic rotation is on (one enabled before schedules were
    kept, in an older account, gets the default period from now)."""
    with lock:
        schedule = vars(key).get(_SCHEDULE_ATTR)
        if schedule is None:
            schedule = RotationSchedule(DEFAULT_ROTATION_PERIOD_DAYS, time.time())
            setattr(key, _SCHEDULE_ATTR, schedule)
        return schedule
