"""Key material ids and lazy RSA keys: small facts about a KMS key's material."""

from __future__ import annotations

import hashlib
import threading
from typing import Any

_ID_LABEL = b"kms-workshop-key-material-id"


def material_id(key_arn: str, material: bytes) -> str:
    """A 64-hex-digit KeyMaterialId, as KMS shows one.

    Derived from the material (so reimporting the same material gives the same id, and
    different material a different one) under a label and the key ARN, so the id never
    reveals anything usable about the material itself.
    """
    return hashlib.sha256(_ID_LABEL + key_arn.encode("utf-8") + b"\0" + material).hexdigest()


def current_material_id(key: Any) -> str | None:
    """The id of the key's current material, or None while it has none (PendingImport)."""
    material = getattr(key, "key_material", None)
    return material_id(key.arn, material) if material else None


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
