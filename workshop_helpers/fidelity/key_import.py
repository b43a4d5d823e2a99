"""Key import (BYOK) as KMS does it: wrapping parameters, import tokens, unwrapping,
the one-material-per-key rule, expiry and deletion of imported material.

The per-key bookkeeping lives in an `ImportState` attached to moto's Key object; the key's
usable material stays in moto's own `key.key_material` (None while PendingImport).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap_with_padding

from .exceptions import (
    ExpiredImportTokenException,
    IncorrectKeyMaterialException,
    InvalidCiphertextException,
    InvalidImportTokenException,
    UnsupportedOperationException,
    ValidationException,
    invalid_state,
)
from .material import material_id

EXTERNAL = "EXTERNAL"
PARAMETERS_VALID_SECONDS = 24 * 3600
SYMMETRIC_MATERIAL_LEN = 32
_KEEP_PARAMETERS = 8  # unexpired wrapping keys remembered per KMS key

# algorithm -> (OAEP hash, whether the material is AES-key-wrapped under an ephemeral key)
WRAPPING_ALGORITHMS = {
    "RSAES_OAEP_SHA_1": (hashes.SHA1, False),
    "RSAES_OAEP_SHA_256": (hashes.SHA256, False),
    "RSA_AES_KEY_WRAP_SHA_1": (hashes.SHA1, True),
    "RSA_AES_KEY_WRAP_SHA_256": (hashes.SHA256, True),
}
# Valid API values that KMS no longer accepts for symmetric keys (or only in China regions).
_REFUSED_ALGORITHMS = ("RSAES_PKCS1_V1_5", "SM2PKE")
WRAPPING_KEY_SIZES = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
EXPIRATION_MODELS = ("KEY_MATERIAL_EXPIRES", "KEY_MATERIAL_DOES_NOT_EXPIRE")

_lock = threading.Lock()


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
    parameters: list[WrappingParameters] = field(default_factory=list)
    material_id: str | None = None  # fixed by the first import; later imports must match
    expiration_model: str | None = None
    valid_to: float | None = None


def state_of(key: Any) -> ImportState:
    with _lock:
        state = getattr(key, "_workshop_import", None)
        if state is None:
            state = ImportState()
            key._workshop_import = state
        return state


def is_external(key: Any) -> bool:
    return getattr(key, "origin", None) == EXTERNAL


def _require_external(key: Any, operation: str) -> None:
    if not is_external(key):
        raise UnsupportedOperationException(
            f"{key.arn} origin is {key.origin} which is not valid for this operation."
        )
    if key.key_spec != "SYMMETRIC_DEFAULT":
        raise UnsupportedOperationException(
            f"{operation} into {key.key_spec} keys is not simulated by the workshop's KMS; "
            "only SYMMETRIC_DEFAULT keys take imported material here."
        )


def _refuse_pending_deletion(key: Any) -> None:
    if key.key_state == "PendingDeletion":
        raise invalid_state(key)


def mark_pending_import(key: Any) -> None:
    """A new EXTERNAL key has no material and cannot be used until some is imported."""
    key.key_material = None
    key.key_state = "PendingImport"
    key.enabled = False
    state_of(key)


def expire_if_due(key: Any) -> None:
    """Imported material past its ValidTo is deleted, as KMS does when it expires."""
    if not is_external(key):
        return
    state = getattr(key, "_workshop_import", None)
    if state and state.valid_to is not None and key.key_material and time.time() >= state.valid_to:
        _drop_material(key, state)


def get_parameters(key: Any, algorithm: str | None, key_spec: str | None) -> WrappingParameters:
    """New wrapping key pair and import token for `key` (GetParametersForImport)."""
    if algorithm in _REFUSED_ALGORITHMS:
        raise ValidationException(f"{algorithm} is not supported for importing SYMMETRIC_DEFAULT key material.")
    if algorithm not in WRAPPING_ALGORITHMS:
        raise ValidationException(
            f"1 validation error detected: Value '{algorithm}' at 'wrappingAlgorithm' failed to satisfy "
            f"constraint: Member must satisfy enum value set: {sorted([*WRAPPING_ALGORITHMS, *_REFUSED_ALGORITHMS])}"
        )
    if key_spec not in WRAPPING_KEY_SIZES:
        raise ValidationException(
            f"1 validation error detected: Value '{key_spec}' at 'wrappingKeySpec' failed to satisfy "
            f"constraint: Member must satisfy enum value set: {sorted([*WRAPPING_KEY_SIZES, 'SM2'])}"
        )
    _require_external(key, "Importing key material")
    _refuse_pending_deletion(key)
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=WRAPPING_KEY_SIZES[key_spec])
    params = WrappingParameters(
        token=os.urandom(64),
        private_key=private_key,
        algorithm=algorithm,
        valid_to=time.time() + PARAMETERS_VALID_SECONDS,
    )
    state = state_of(key)
    with _lock:
        state.parameters = [p for p in state.parameters if not p.expired][-(_KEEP_PARAMETERS - 1):] + [params]
    return params


def public_key_der(params: WrappingParameters) -> bytes:
    """The wrapping public key as KMS returns it: DER-encoded SubjectPublicKeyInfo."""
    return params.private_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


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


def _expiry(expiration_model: str | None, valid_to: Any) -> tuple[str, float | None]:
    if expiration_model is None:
        expiration_model = "KEY_MATERIAL_EXPIRES" if valid_to is not None else "KEY_MATERIAL_DOES_NOT_EXPIRE"
    if expiration_model not in EXPIRATION_MODELS:
        raise ValidationException(
            f"1 validation error detected: Value '{expiration_model}' at 'expirationModel' failed to satisfy "
            f"constraint: Member must satisfy enum value set: {list(EXPIRATION_MODELS)}"
        )
    if expiration_model == "KEY_MATERIAL_DOES_NOT_EXPIRE":
        if valid_to is not None:
            raise ValidationException("ValidTo must not be set when ExpirationModel is KEY_MATERIAL_DOES_NOT_EXPIRE.")
        return expiration_model, None
    if valid_to is None:
        raise ValidationException("ValidTo is required when ExpirationModel is KEY_MATERIAL_EXPIRES.")
    valid_to = float(valid_to)
    if valid_to <= time.time():
        raise ValidationException("ValidTo must be in the future.")
    return expiration_model, valid_to


def import_material(
    key: Any,
    token: bytes,
    wrapped: bytes,
    *,
    expiration_model: str | None = None,
    valid_to: Any = None,
    import_type: str | None = None,
) -> str:
    """ImportKeyMaterial: unwrap, check, and make the key Enabled with it. Returns its id."""
    _require_external(key, "Importing key material")
    _refuse_pending_deletion(key)
    if import_type == "NEW_KEY_MATERIAL" and state_of(key).material_id is not None:
        raise UnsupportedOperationException(
            "Importing new key material for rotation (ImportType NEW_KEY_MATERIAL) is not simulated "
            "by the workshop's KMS."
        )
    params = _find_parameters(key, bytes(token or b""))
    model, expires = _expiry(expiration_model, valid_to)
    material = _unwrap(params, bytes(wrapped or b""))
    if len(material) != SYMMETRIC_MATERIAL_LEN:
        raise IncorrectKeyMaterialException(
            f"The key material must be {SYMMETRIC_MATERIAL_LEN} bytes (256 bits) for a SYMMETRIC_DEFAULT key; "
            f"the imported material is {len(material)} bytes."
        )
    new_id = material_id(key.arn, material)
    state = state_of(key)
    with _lock:
        if state.material_id is not None and state.material_id != new_id:
            raise IncorrectKeyMaterialException(
                "The key material is not the same key material that was previously imported into this KMS key."
            )
        state.material_id = new_id
        state.expiration_model, state.valid_to = model, expires
        key.key_material = material
        if key.key_state == "PendingImport":
            key.key_state = "Enabled"
            key.enabled = True
    return new_id


def _drop_material(key: Any, state: ImportState) -> None:
    key.key_material = None
    state.valid_to = None
    state.expiration_model = None
    if key.key_state != "PendingDeletion":
        key.key_state = "PendingImport"
        key.enabled = False


def delete_material(key: Any) -> str | None:
    """DeleteImportedKeyMaterial: the key returns to PendingImport. Returns the material id."""
    if not is_external(key):
        raise UnsupportedOperationException(
            f"{key.arn} origin is {key.origin} which is not valid for this operation."
        )
    _refuse_pending_deletion(key)
    if key.key_state == "PendingImport":
        raise invalid_state(key)
    state = state_of(key)
    with _lock:
        _drop_material(key, state)
    return state.material_id


def metadata(key: Any) -> dict[str, Any]:
    """The KeyMetadata fields DescribeKey adds for an EXTERNAL key."""
    if not is_external(key):
        return {}
    state = state_of(key)
    fields: dict[str, Any] = {}
    if key.key_material and state.expiration_model:
        fields["ExpirationModel"] = state.expiration_model
        if state.valid_to is not None:
            fields["ValidTo"] = state.valid_to
    if key.key_material and state.material_id:
        fields["CurrentKeyMaterialId"] = state.material_id
    return fields
