"""moto's KMS models made faithful: key states, key import, the ciphertext format.

`install()` replaces methods of `moto.kms.models.KmsBackend` and `Key`; every caller
(moto's own responses, other moto services, the fidelity responses) then gets KMS's rules.
"""

from __future__ import annotations

import os
from typing import Any

from . import ciphertext, key_import, key_state
from .exceptions import (
    AccessDeniedException,
    IncorrectKeyException,
    InvalidKeyUsageException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from .material import LazyPrivateKey, current_material_id

ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
MAX_PLAINTEXT = 4096

# The text real KMS gives when a ciphertext names a key the caller cannot reach.
_UNREACHABLE_KEY = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access."
)


def find_key(backend: Any, key_id: str | None) -> Any:
    """The Key for a key id, key ARN, alias name or alias ARN; NotFoundException otherwise."""
    key = None
    if key_id:
        try:
            raw = backend.any_id_to_key_id(key_id)
        except (AttributeError, TypeError):  # an alias that points nowhere
            raw = None
        key = backend.keys.get(raw) if raw else None
    if key is None:
        raise NotFoundException(_not_found_message(backend, key_id or ""))
    return key


def _not_found_message(backend: Any, key_id: str) -> str:
    if key_id.startswith("arn:"):
        arn = key_id
    else:
        kind = "" if key_id.startswith("alias/") else "key/"
        arn = f"arn:aws:kms:{backend.region_name}:{backend.account_id}:{kind}{key_id}"
    if ":alias/" in arn:
        return f"Alias {arn} is not found."
    return f"Key '{arn}' does not exist"


def _require_symmetric_encryption(key: Any) -> None:
    if key.key_usage != "ENCRYPT_DECRYPT" or key.key_spec != "SYMMETRIC_DEFAULT":
        raise InvalidKeyUsageException(
            f"{key.arn} key usage is {key.key_usage} with key spec {key.key_spec}, which is not valid "
            "for this operation (the workshop's KMS simulates symmetric encryption only)."
        )


def _check_plaintext(plaintext: bytes) -> None:
    if not plaintext:
        raise ValidationException(
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            "Member must have length greater than or equal to 1"
        )
    if len(plaintext) > MAX_PLAINTEXT:
        raise ValidationException(
            "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
            f"Member must have length less than or equal to {MAX_PLAINTEXT}"
        )


# --- KmsBackend methods -----------------------------------------------------------------


def _create_key(original):
    def create_key(self, policy, key_usage, key_spec, description, tags, multi_region=False, origin="AWS_KMS"):
        origin = origin or "AWS_KMS"
        if origin not in ORIGINS:
            raise ValidationException(
                f"1 validation error detected: Value '{origin}' at 'origin' failed to satisfy constraint: "
                f"Member must satisfy enum value set: {list(ORIGINS)}"
            )
        if origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            raise UnsupportedOperationException(
                f"Origin {origin} needs a custom key store, which the workshop's KMS does not simulate."
            )
        key = original(self, policy, key_usage or "ENCRYPT_DECRYPT", key_spec, description, tags, multi_region, origin)
        if origin == key_import.EXTERNAL:
            key_import.mark_pending_import(key)
        return key

    return create_key


def encrypt(self, key_id: str, plaintext: bytes, encryption_context: dict[str, str]) -> tuple[bytes, str]:
    key = find_key(self, key_id)
    key_state.require_usable(key)
    _require_symmetric_encryption(key)
    _check_plaintext(plaintext)
    return ciphertext.seal(key.id, key.key_material, plaintext, encryption_context), key.arn


def decrypt(
    self, ciphertext_blob: bytes, encryption_context: dict[str, str], key_id: str | None = None
) -> tuple[bytes, str]:
    blob = ciphertext.parse(ciphertext_blob)
    if key_id:
        requested = find_key(self, key_id)
        if requested.id != blob.key_id:
            raise IncorrectKeyException(
                "The key ID in the request does not identify a KMS key that can perform this operation."
            )
    key = self.keys.get(blob.key_id)
    if key is None:
        raise AccessDeniedException(_UNREACHABLE_KEY)
    key_state.require_usable(key)
    _require_symmetric_encryption(key)
    return ciphertext.open_blob(blob, key.key_material, encryption_context), key.arn


def re_encrypt(
    self,
    ciphertext_blob: bytes,
    source_encryption_context: dict[str, str],
    destination_key_id: str,
    destination_encryption_context: dict[str, str],
    source_key_id: str | None = None,
) -> tuple[bytes, str, str]:
    destination = find_key(self, destination_key_id)
    plaintext, source_arn = self.decrypt(ciphertext_blob, source_encryption_context, source_key_id)
    blob, destination_arn = self.encrypt(destination.id, plaintext, destination_encryption_context)
    return blob, source_arn, destination_arn


def generate_data_key(
    self, key_id: str, encryption_context: dict[str, str], number_of_bytes: int | None, key_spec: str | None
) -> tuple[bytes, bytes, str]:
    key = find_key(self, key_id)
    key_state.require_usable(key)
    _require_symmetric_encryption(key)
    length = {"AES_128": 16, "AES_256": 32}.get(key_spec or "", number_of_bytes or 32)
    plaintext = os.urandom(length)
    blob, arn = self.encrypt(key.id, plaintext, encryption_context)
    return plaintext, blob, arn


def disable_key(self, key_id: str) -> None:
    key_state.disable(find_key(self, key_id))


def enable_key(self, key_id: str) -> None:
    key_state.enable(find_key(self, key_id))


def schedule_key_deletion(self, key_id: str, pending_window_in_days: int) -> float:
    days = key_state.validate_pending_window(pending_window_in_days)
    return key_state.schedule_deletion(find_key(self, key_id), days)


def cancel_key_deletion(self, key_id: str) -> None:
    key_state.cancel_deletion(find_key(self, key_id))


def get_parameters_for_import(self, key_id: str, wrapping_algorithm: str, wrapping_key_spec: str):
    key = find_key(self, key_id)
    return key, key_import.get_parameters(key, wrapping_algorithm, wrapping_key_spec)


def import_key_material(self, key_id: str, import_token: bytes, encrypted_key_material: bytes, **options):
    key = find_key(self, key_id)
    return key, key_import.import_material(key, import_token, encrypted_key_material, **options)


def delete_imported_key_material(self, key_id: str):
    key = find_key(self, key_id)
    return key, key_import.delete_material(key)


# --- Key methods ------------------------------------------------------------------------


def _to_dict(original):
    def to_dict(self) -> dict[str, Any]:
        key_state.current_state(self)  # lets expired imported material lapse first
        result = original(self)
        metadata = result["KeyMetadata"]
        metadata["Enabled"] = self.key_state == "Enabled"
        metadata.update(key_import.metadata(self))
        if self.key_state == "PendingDeletion" and getattr(self, "pending_deletion_window_in_days", None):
            metadata["PendingDeletionWindowInDays"] = self.pending_deletion_window_in_days
        if not key_import.is_external(self) and self.key_spec == "SYMMETRIC_DEFAULT":
            metadata["CurrentKeyMaterialId"] = current_material_id(self)
        return result

    return to_dict


# --- rules moto lacks -------------------------------------------------------------------


def _refuse_external(original, operation: str):
    """Automatic and on-demand rotation of imported material is not how KMS rotates it."""

    def method(self, key_id: str, *args, **kwargs):
        key = find_key(self, key_id)
        if key_import.is_external(key):
            raise UnsupportedOperationException(f"{key.arn} origin is EXTERNAL which is not valid for {operation}.")
        return original(self, key_id, *args, **kwargs)

    return method


def _lazy_private_key(original):
    def generate_private_key(key_spec: str):
        return LazyPrivateKey(original, key_spec)

    return generate_private_key


BACKEND_METHODS = {
    "encrypt": encrypt,
    "decrypt": decrypt,
    "re_encrypt": re_encrypt,
    "generate_data_key": generate_data_key,
    "disable_key": disable_key,
    "enable_key": enable_key,
    "schedule_key_deletion": schedule_key_deletion,
    "cancel_key_deletion": cancel_key_deletion,
    "get_parameters_for_import": get_parameters_for_import,
    "import_key_material": import_key_material,
    "delete_imported_key_material": delete_imported_key_material,
}


def install() -> None:
    from moto.kms import models

    for name, function in BACKEND_METHODS.items():
        setattr(models.KmsBackend, name, function)
    models.KmsBackend.create_key = _create_key(models.KmsBackend.create_key)
    models.KmsBackend.enable_key_rotation = _refuse_external(models.KmsBackend.enable_key_rotation, "EnableKeyRotation")
    models.KmsBackend.rotate_key_on_demand = _refuse_external(models.KmsBackend.rotate_key_on_demand, "RotateKeyOnDemand")
    models.Key.to_dict = _to_dict(models.Key.to_dict)
    models.generate_private_key = _lazy_private_key(models.generate_private_key)
