"""Key import (BYOK) as KMS does it: wrapping parameters, import tokens, unwrapping, the
import types (first material, reimport, new material for on-demand rotation), expiry and
deletion of imported material.

The wrapping parameters live in an `ImportState` attached to moto's Key object; the key's
materials are the list in material.py (moto's `key.key_material` is the current one's bytes,
None while it is not imported).

Each GetParametersForImport hands out a wrapping key pair of its own, never used again, as
KMS does. Making an RSA key takes tens of milliseconds (RSA-2048) to seconds (RSA-4096), so
`WrappingKeyPool` makes a few ahead of time, in a daemon thread, for the sizes asked for.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from . import material as materials
from .exceptions import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    KMSInvalidStateException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
    invalid_state,
)
from .material import CURRENT, PENDING_ROTATION, Material, material_id

EXTERNAL = "EXTERNAL"
PARAMETERS_VALID_SECONDS = 24 * 3600
MAX_VALID_TO_SECONDS = 365 * 24 * 3600
SYMMETRIC_MATERIAL_LEN = 32
_KEEP_PARAMETERS = 8  # unexpired wrapping keys remembered per KMS key

# algorithm -> (OAEP hash, whether the material is AES-key-wrapped under an ephemeral key)
WRAPPING_ALGORITHMS = {
    "RSAES_OAEP_SHA_1": (hashes.SHA1, False),
    "RSAES_OAEP_SHA_256": (hashes.SHA256, False),
    "RSA_AES_KEY_WRAP_SHA_1": (hashes.SHA1, True),
    "RSA_AES_KEY_WRAP_SHA_256": (hashes.SHA256, True),
}
# Valid API values that KMS no longer accepts (or only in China regions).
_REFUSED_ALGORITHMS = ("RSAES_PKCS1_V1_5", "SM2PKE")
_ALGORITHM_ENUM = ("RSAES_PKCS1_V1_5", *WRAPPING_ALGORITHMS, "SM2PKE")  # the API's order
WRAPPING_KEY_SIZES = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
EXPIRES, DOES_NOT_EXPIRE = "KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE"
EXPIRATION_MODELS = (EXPIRES, DOES_NOT_EXPIRE)
NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL = "NEW_KEY_MATERIAL", "EXISTING_KEY_MATERIAL"
IMPORT_TYPES = (NEW_KEY_MATERIAL, EXISTING_KEY_MATERIAL)

lock = materials.lock


@dataclass
class WrappingParameters:
    token: bytes
    private_key: rsa.RSAPrivateKey
    algorithm: str
    valid_to: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.valid_to


@dataclass
class ImportState:
    """The wrapping parameters handed out for one key. (Accounts written by earlier versions
    also hold `material_id`, `expiration_model` and `valid_to` here: material.py reads them
    once into the key's material list.)"""

    parameters: list[WrappingParameters] = field(default_factory=list)


def state_of(key: Any) -> ImportState:
    with lock:
        state = getattr(key, "_workshop_import", None)
        if state is None:
            state = ImportState()
            key._workshop_import = state
        return state


def is_external(key: Any) -> bool:
    return key.origin == EXTERNAL


def _require_external(key: Any) -> None:
    if not is_external(key):
        raise UnsupportedOperationException(f"{key.arn} origin is {key.origin} which is not valid for this operation.")


def _refuse_pending_deletion(key: Any) -> None:
    if key.key_state == "PendingDeletion":
        raise invalid_state(key)


def mark_pending_import(key: Any) -> None:
    """A new EXTERNAL key has no material and cannot be used until some is imported."""
    key.key_material = None
    key.key_state = "PendingImport"
    key.enabled = False
    state_of(key)
    materials.materials(key)


def refresh_state(key: Any) -> None:
    """The key's state from its materials: PendingImport while any material permanently
    associated with it is not imported, Enabled again once all are (KMS's rule for
    symmetric keys); a key pending deletion stays so."""
    materials.sync_key_material(key)
    associated = [m for m in materials.materials(key) if m.associated]
    complete = bool(associated) and all(m.imported for m in associated)
    if key.key_state == "PendingDeletion":
        return
    if complete and key.key_state == "PendingImport":
        key.key_state, key.enabled = "Enabled", True
    elif not complete:
        key.key_state, key.enabled = "PendingImport", False


def expire_if_due(key: Any) -> None:
    """Imported material past its ValidTo is deleted, as KMS does when it expires."""
    if not is_external(key) or not materials.materials(key):
        return
    now = time.time()
    with lock:
        due = [m for m in materials.materials(key) if m.imported and m.valid_to is not None and now >= m.valid_to]
        for found in due:
            _drop(found)
        if due:
            refresh_state(key)


def _drop(found: Material) -> None:
    found.secret = None
    found.expiration_model = None
    found.valid_to = None


# --- GetParametersForImport -------------------------------------------------------------


def new_rsa_key(key_size: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=key_size)


class WrappingKeyPool:
    """RSA key pairs made ahead of time, `depth` per key size that has been asked for.

    `take` hands each key out once (the pool forgets it), or makes one at once when none
    is ready: a request never waits for the thread. The thread starts on the first `take`,
    refills while the caller's request goes on, and is a daemon: it never keeps the process
    alive. Keys live in this process's memory only; a forked child starts with an empty
    pool, so parent and child never hand out the same key."""

    def __init__(self, depth: int = 3, make: Callable[[int], rsa.RSAPrivateKey] = new_rsa_key):
        self.depth = depth
        self._make = make
        self._forget()

    def _forget(self) -> None:
        self._ready: dict[int, list[rsa.RSAPrivateKey]] = {}
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def take(self, key_size: int) -> rsa.RSAPrivateKey:
        with self._changed:
            ready = self._ready.setdefault(key_size, [])
            key = ready.pop() if ready else None
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._fill, name="kms-workshop-wrapping-keys", daemon=True)
                self._thread.start()
            self._changed.notify()
        return key if key is not None else self._make(key_size)

    def _short_size(self) -> int | None:
        return next((size for size, ready in self._ready.items() if len(ready) < self.depth), None)

    def _fill(self) -> None:
        while True:
            with self._changed:
                size = self._short_size()
                while size is None:
                    self._changed.wait()
                    size = self._short_size()
            key = self._make(size)  # outside the lock: `take` goes on meanwhile
            with self._changed:
                self._ready[size].append(key)


wrapping_keys = WrappingKeyPool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=wrapping_keys._forget)


def get_parameters(key: Any, algorithm: str | None, key_spec: str | None) -> WrappingParameters:
    """New wrapping key pair and import token for `key` (GetParametersForImport). Any
    EXTERNAL key takes them, whatever its key spec."""
    if algorithm in _REFUSED_ALGORITHMS:
        raise ValidationException(f"{algorithm} is not supported for importing key material.")
    if algorithm not in WRAPPING_ALGORITHMS:
        raise ValidationException(
            f"1 validation error detected: Value '{algorithm}' at 'wrappingAlgorithm' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(_ALGORITHM_ENUM)}]"
        )
    if key_spec not in WRAPPING_KEY_SIZES:
        raise ValidationException(
            f"1 validation error detected: Value '{key_spec}' at 'wrappingKeySpec' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join([*WRAPPING_KEY_SIZES, 'SM2'])}]"
        )
    _require_external(key)
    _refuse_pending_deletion(key)
    private_key = wrapping_keys.take(WRAPPING_KEY_SIZES[key_spec])
    params = WrappingParameters(
        token=os.urandom(64),
        private_key=private_key,
        algorithm=algorithm,
        valid_to=time.time() + PARAMETERS_VALID_SECONDS,
    )
    state = state_of(key)
    with lock:
        state.parameters = [p for p in state.parameters if not p.expired][-(_KEEP_PARAMETERS - 1) :] + [params]
    return params


def public_key_der(params: WrappingParameters) -> bytes:
    """The wrapping public key as KMS returns it: DER-encoded SubjectPublicKeyInfo."""
    return params.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# --- ImportKeyMaterial ------------------------------------------------------------------


def _find_parameters(key: Any, token: bytes) -> WrappingParameters:
    for params in state_of(key).parameters:
        if params.token == token:
            if params.expired:
                raise ExpiredImportTokenException(
                    "The import token is expired. Use GetParametersForImport to get a new import token "
                    "and public key, use the new public key to encrypt the key material, and then try again."
                )
            return params
    raise InvalidImportTokenException("Import token is invalid or does not belong to this KMS key.")


def _unwrap(params: WrappingParameters, wrapped: bytes) -> bytes:
    hash_cls, hybrid = WRAPPING_ALGORITHMS[params.algorithm]
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hash_cls()), algorithm=hash_cls(), label=None)
    try:
        if not hybrid:
            return params.private_key.decrypt(wrapped, oaep)
        # RSA_AES_KEY_WRAP: an ephemeral AES key under RSA-OAEP, then the material under
        # that AES key with key wrap with padding (RFC 5649).
        split = params.private_key.key_size // 8
        aes_key = params.private_key.decrypt(wrapped[:split], oaep)
        return aes_key_unwrap_with_padding(aes_key, wrapped[split:])
    except (ValueError, InvalidUnwrap):
        raise InvalidCiphertextException(
            "The request was rejected because the specified ciphertext, or additional authenticated data "
            "incorporated into the ciphertext, has been corrupted, is missing, or is otherwise invalid."
        ) from None


def _valid_to_seconds(valid_to: Any) -> float:
    if hasattr(valid_to, "timestamp"):
        return float(valid_to.timestamp())
    return float(valid_to)


def expiry(expiration_model: str | None, valid_to: Any) -> tuple[str, float | None]:
    """(ExpirationModel, ValidTo) of an import. The default model is KEY_MATERIAL_EXPIRES,
    as on AWS: without ValidTo, an import must say KEY_MATERIAL_DOES_NOT_EXPIRE."""
    model = expiration_model or EXPIRES
    if model not in EXPIRATION_MODELS:
        raise ValidationException(
            f"1 validation error detected: Value '{model}' at 'expirationModel' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(EXPIRATION_MODELS)}]"
        )
    if model == DOES_NOT_EXPIRE:
        if valid_to is not None:
            raise ValidationException(
                "A validTo date must not be set if the ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE"
            )
        return model, None
    if valid_to is None:
        raise ValidationException("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    seconds, now = _valid_to_seconds(valid_to), time.time()
    if seconds <= now:
        raise ValidationException("The validTo date must be in the future.")
    if seconds > now + MAX_VALID_TO_SECONDS:
        raise ValidationException("The validTo date must be no more than 365 days from the request date.")
    return model, seconds


def import_material(
    key: Any,
    token: bytes,
    wrapped: bytes,
    *,
    expiration_model: str | None = None,
    valid_to: Any = None,
    import_type: str | None = None,
    key_material_id: str | None = None,
    description: str | None = None,
) -> str:
    """ImportKeyMaterial: unwrap, check, and associate the material with the key. Returns its
    KeyMaterialId.

    - the first material (ImportType defaults to NEW_KEY_MATERIAL) becomes CURRENT and the
      key Enabled;
    - later imports default to EXISTING_KEY_MATERIAL: the same material again (after it was
      deleted or expired, or to change its expiry), checked against KeyMaterialId if given;
    - NEW_KEY_MATERIAL into a key that has material: PENDING_ROTATION, current after
      RotateKeyOnDemand (one at a time).
    """
    if import_type is not None and import_type not in IMPORT_TYPES:
        raise ValidationException(
            f"1 validation error detected: Value '{import_type}' at 'importType' failed to satisfy "
            f"constraint: Member must satisfy enum value set: [{', '.join(IMPORT_TYPES)}]"
        )
    model, expires = expiry(expiration_model, valid_to)
    _require_external(key)
    _refuse_pending_deletion(key)
    if not materials.is_symmetric(key):
        raise UnsupportedOperationException(
            f"Importing {key.key_spec} key material is not simulated by the workshop's KMS; "
            "only SYMMETRIC_DEFAULT keys take imported material here (AWS also imports HMAC and asymmetric keys)."
        )
    existing_materials = materials.materials(key)
    import_type = import_type or (NEW_KEY_MATERIAL if not existing_materials else EXISTING_KEY_MATERIAL)
    if import_type == NEW_KEY_MATERIAL and key_material_id:
        raise ValidationException("KeyMaterialId cannot be specified when ImportType is NEW_KEY_MATERIAL.")
    params = _find_parameters(key, bytes(token or b""))
    secret = _unwrap(params, bytes(wrapped or b""))
    if len(secret) != SYMMETRIC_MATERIAL_LEN:
        raise IncorrectKeyMaterialException(
            f"The key material must be {SYMMETRIC_MATERIAL_LEN} bytes (256 bits) for a SYMMETRIC_DEFAULT key; "
            f"the imported material is {len(secret)} bytes."
        )
    new_id = material_id(key.arn, secret)
    with lock:
        known = materials.find(key, new_id)
        if import_type == EXISTING_KEY_MATERIAL:
            if known is None or (key_material_id and key_material_id != new_id):
                raise IncorrectKeyMaterialException(
                    "The key material is not the same key material that was previously imported into this KMS key."
                )
            known.secret = secret
        elif not existing_materials:
            known = Material(new_id, secret, CURRENT)
            existing_materials.append(known)
        else:
            known = _add_pending(key, new_id, secret, known)
        known.expiration_model, known.valid_to = model, expires
        if description is not None:
            known.description = description
        refresh_state(key)
    return new_id


def _add_pending(key: Any, new_id: str, secret: bytes, known: Material | None) -> Material:
    if key.multi_region:
        raise UnsupportedOperationException(
            "Importing new key material into multi-Region keys is not simulated by the workshop's KMS."
        )
    pending = [m for m in materials.materials(key) if m.state == PENDING_ROTATION]
    if pending:
        raise KMSInvalidStateException(
            f"New key material (id: {new_id}) cannot be imported into KMS key {key.id}, because another key "
            f"material (id: {pending[0].id}) is pending rotation."
        )
    if known is not None:
        raise IncorrectKeyMaterialException(
            f"The key material (id: {new_id}) is already associated with this KMS key; reimport it with "
            "ImportType EXISTING_KEY_MATERIAL."
        )
    added = Material(new_id, secret, PENDING_ROTATION)
    materials.materials(key).append(added)
    return added


# --- RotateKeyOnDemand of imported material ---------------------------------------------


def rotate(key: Any) -> None:
    """The imported material PENDING_ROTATION becomes current."""
    if key.multi_region:
        raise UnsupportedOperationException(
            f"{key.arn}: on-demand rotation of multi-Region keys with imported key material is not supported."
        )
    with lock:
        pending = [m for m in materials.materials(key) if m.state == PENDING_ROTATION and m.imported]
        if not pending:
            raise KMSInvalidStateException(f"No available key material pending rotation for the key: {key.arn}.")
        materials.make_current(key, pending[0])


# --- DeleteImportedKeyMaterial ----------------------------------------------------------


def delete_material(key: Any, key_material_id: str | None = None) -> str | None:
    """DeleteImportedKeyMaterial (the current material unless KeyMaterialId names another).
    The key becomes PendingImport (it stays PendingDeletion if it is). Returns the id."""
    _require_external(key)
    if not materials.is_symmetric(key):
        raise UnsupportedOperationException(
            f"{key.key_spec} keys take no imported material in the workshop's KMS (only SYMMETRIC_DEFAULT keys)."
        )
    with lock:
        target = materials.find(key, key_material_id) if key_material_id else materials.current(key)
        if key_material_id and target is None:
            raise NotFoundException(f"Key material {key_material_id} is not associated with the key '{key.arn}'.")
        if target is None or not target.imported:
            raise invalid_state(key)
        if target.state == PENDING_ROTATION:  # not permanently associated: it goes away
            materials.materials(key).remove(target)
        else:
            _drop(target)
        refresh_state(key)
        return target.id


# --- what DescribeKey and ListKeyRotations show -----------------------------------------


def metadata(key: Any) -> dict[str, Any]:
    """The KeyMetadata fields DescribeKey adds for an EXTERNAL key: the current material's
    ExpirationModel, and ValidTo the earliest expiry of the materials the key needs."""
    if not is_external(key):
        return {}
    found = materials.current(key)
    if found is None or not found.imported:
        return {}
    fields: dict[str, Any] = {"ExpirationModel": found.expiration_model or DOES_NOT_EXPIRE}
    expiring = [m.valid_to for m in materials.materials(key) if m.associated and m.imported and m.valid_to]
    if expiring:
        fields["ValidTo"] = min(expiring)
    return fields


def rotation_entry_fields(key: Any, found: Material) -> dict[str, Any]:
    """The ListKeyRotations fields only EXTERNAL symmetric keys have."""
    if not is_external(key):
        return {}
    fields: dict[str, Any] = {"ImportState": "IMPORTED" if found.imported else "PENDING_IMPORT"}
    if found.imported and found.expiration_model:
        fields["ExpirationModel"] = found.expiration_model
        if found.valid_to is not None:
            fields["ValidTo"] = found.valid_to
    if found.description is not None:
        fields["KeyMaterialDescription"] = found.description
    return fields
