"""moto's KMS models made faithful: key creation rules, key states, key import, key
materials and rotation, the ciphertext format.

`install()` replaces methods of `moto.kms.models.KmsBackend` and `Key`; every caller
(moto's own responses, other moto services, the fidelity responses) then gets KMS's rules.
"""

from __future__ import annotations

import base64
import os
import time
from dataclasses import dataclass
from typing import Any

from . import ciphertext, key_import, key_state
from . import material as materials
from .exceptions import (
    AccessDeniedException,
    IncorrectKeyException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    LimitExceededException,
    NotFoundException,
    TagException,
    UnsupportedOperationException,
    ValidationException,
    invalid_state,
)
from .material import LazyPrivateKey, Material

ORIGINS = ("AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE")
MAX_PLAINTEXT = 4096
MAX_TAGS = 50
ON_DEMAND_ROTATION_LIMIT = 25  # "a maximum of 25 times per KMS key" (RotateKeyOnDemand reference)
SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"

# The key usages each key spec allows (CreateKey reference, KeyUsage).
_NIST_CURVES = ("ECC_NIST_P256", "ECC_NIST_P384", "ECC_NIST_P521")
KEY_USAGES = {
    SYMMETRIC_DEFAULT: ("ENCRYPT_DECRYPT",),
    **{spec: ("GENERATE_VERIFY_MAC",) for spec in ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")},
    **{spec: ("ENCRYPT_DECRYPT", "SIGN_VERIFY") for spec in ("RSA_2048", "RSA_3072", "RSA_4096")},
    **{spec: ("SIGN_VERIFY", "KEY_AGREEMENT") for spec in _NIST_CURVES},
    "ECC_NIST_EDWARDS25519": ("SIGN_VERIFY",),
    "ECC_SECG_P256K1": ("SIGN_VERIFY",),
    **{spec: ("SIGN_VERIFY",) for spec in ("ML_DSA_44", "ML_DSA_65", "ML_DSA_87")},
    **{spec: ("ENCAPSULATE_DECAPSULATE",) for spec in ("ML_KEM_512", "ML_KEM_768", "ML_KEM_1024")},
    "SM2": ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "KEY_AGREEMENT"),
}
# Key specs AWS has and moto cannot make.
_NOT_SIMULATED_SPECS = (
    "ECC_NIST_EDWARDS25519", "ML_DSA_44", "ML_DSA_65", "ML_DSA_87", "ML_KEM_512", "ML_KEM_768", "ML_KEM_1024",
)  # fmt: skip

# The text real KMS gives when a ciphertext names a key the caller cannot reach.
_UNREACHABLE_KEY = (
    "The ciphertext refers to a customer master key that does not exist, does not exist in this "
    "region, or you are not allowed to access."
)
_INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."


def key_arn_region(key_id: str) -> str | None:
    """The Region of a key or alias ARN (None for anything else)."""
    parts = key_id.split(":")
    return parts[3] if key_id.startswith("arn:") and len(parts) > 5 else None


def find_key(backend: Any, key_id: str | None) -> Any:
    """The Key for a key id, key ARN, alias name or alias ARN; NotFoundException otherwise."""
    key = None
    if isinstance(key_id, str) and key_id:
        region = key_arn_region(key_id)
        if region is not None and region != backend.region_name and ":key/" in key_id:
            raise NotFoundException(f"Invalid arn {region}")
        raw = backend.get_key_id(backend.get_alias_name(key_id))  # ARNs to ids and alias names
        if raw.startswith("alias/"):
            raw = backend.get_key_id_from_alias(raw)  # None for an alias that points nowhere
        key = backend.keys.get(raw) if raw else None
    if key is None:
        raise NotFoundException(not_found_message(backend, key_id if isinstance(key_id, str) else ""))
    return key


def not_found_message(backend: Any, key_id: str) -> str:
    if key_id.startswith("arn:"):
        arn = key_id
    else:
        kind = "" if key_id.startswith("alias/") else "key/"
        arn = f"arn:aws:kms:{backend.region_name}:{backend.account_id}:{kind}{key_id}"
    if ":alias/" in arn:
        return f"Alias {arn} is not found."
    return f"Key '{arn}' does not exist"


def require_symmetric_encryption(key: Any, operation: str) -> None:
    """The key can encrypt/decrypt symmetrically; KMS's InvalidKeyUsageException otherwise."""
    if key.key_usage != "ENCRYPT_DECRYPT":
        raise InvalidKeyUsageException(f"{key.arn} key usage is {key.key_usage} which is not valid for {operation}.")
    if key.key_spec != SYMMETRIC_DEFAULT:
        raise InvalidKeyUsageException(
            f"{key.arn} key spec is {key.key_spec} which is not valid for {operation} with the SYMMETRIC_DEFAULT "
            "algorithm (the workshop's KMS simulates symmetric encryption only)."
        )


def check_plaintext(plaintext: bytes) -> None:
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


def check_tags(tags: list[dict] | None, existing: dict[str, str] | None = None) -> None:
    """KMS's tag rules beyond the API's length limits: TagException."""
    keys = [str(tag.get("TagKey", "")) for tag in tags or []]
    if any(k.lower().startswith("aws:") for k in keys):
        raise TagException("Tags beginning with aws: are reserved")
    if len(set(keys)) != len(keys):
        raise TagException("Duplicate tag keys")
    if len(set(keys) | set(existing or {})) > MAX_TAGS:
        raise TagException("Too many tags")


def check_key_spec_and_usage(key_spec: str, key_usage: str | None) -> None:
    """CreateKey: a key usage the key spec allows (after the API's enum checks)."""
    if key_spec in _NOT_SIMULATED_SPECS:
        raise UnsupportedOperationException(f"KeySpec {key_spec} is not simulated by the workshop's KMS.")
    if key_usage is None:
        if key_spec != SYMMETRIC_DEFAULT:
            raise ValidationException(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
            )
        return
    if key_usage not in KEY_USAGES.get(key_spec, (key_usage,)):
        raise ValidationException(f"KeyUsage {key_usage} is not compatible with KeySpec {key_spec}")


# --- encrypting and decrypting: the key, the material, the blob ---------------------------


@dataclass(frozen=True)
class Opened:
    plaintext: bytes
    key: Any
    material: Material


def seal(backend: Any, key_id: str, plaintext: bytes, context: dict[str, str] | None, operation: str):
    """(blob, key, material) for Encrypt and the data key operations."""
    key = find_key(backend, key_id)
    key_state.require_usable(key)
    require_symmetric_encryption(key, operation)
    check_plaintext(plaintext)
    current = materials.current(key)
    if current is None or not current.imported:  # an Enabled key always has it
        raise invalid_state(key)
    blob = ciphertext.seal(backend.account_id, key.id, current.id, current.secret, plaintext, context)
    return blob, key, current


def open_blob(
    backend: Any, blob: bytes, context: dict[str, str] | None, key_id: str | None, operation: str = "Decrypt"
) -> Opened:
    """Decrypt as KMS does: the blob names its key; a KeyId, if given, must be that key."""
    sealed = ciphertext.open_envelope(blob)
    mine = sealed.account_id in (None, backend.account_id)
    if key_id:
        requested = find_key(backend, key_id)
        if requested.id != sealed.key_id or not mine:
            raise IncorrectKeyException(_INCORRECT_KEY)
    key = backend.keys.get(sealed.key_id) if mine else None  # another account's key: not reachable here
    if key is None:
        raise AccessDeniedException(_UNREACHABLE_KEY)
    key_state.require_usable(key)
    require_symmetric_encryption(key, operation)
    if sealed.material_id is not None:
        candidates = [m for m in materials.materials(key) if m.id == sealed.material_id]
    else:  # a blob of the earlier format: made under one of the key's materials
        candidates = list(materials.materials(key))
    missing = False
    for found in candidates:
        if not found.imported:  # (an Enabled key has all its materials: not on the usual paths)
            missing = True
            continue
        try:
            return Opened(ciphertext.open_body(sealed, found.secret, context), key, found)
        except InvalidCiphertextException:
            continue
    if missing:
        raise invalid_state(key)
    raise InvalidCiphertextException()


def generate_data_key_plaintext(number_of_bytes: int | None, key_spec: str | None) -> bytes:
    length = {"AES_128": 16, "AES_256": 32}.get(key_spec or "", number_of_bytes or 32)
    return os.urandom(length)


# --- KmsBackend methods -----------------------------------------------------------------


def _create_key(original):
    def create_key(self, policy, key_usage, key_spec, description, tags, multi_region=False, origin="AWS_KMS"):
        origin = origin or "AWS_KMS"
        if origin not in ORIGINS:
            raise ValidationException(
                f"1 validation error detected: Value '{origin}' at 'origin' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(ORIGINS)}]"
            )
        check_key_spec_and_usage(key_spec or SYMMETRIC_DEFAULT, key_usage)
        check_tags(tags)
        if origin in ("AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"):
            raise UnsupportedOperationException(
                f"Origin {origin} needs a custom key store, which the workshop's KMS does not simulate."
            )
        key = original(
            self, policy, key_usage or "ENCRYPT_DECRYPT", key_spec, description, tags, bool(multi_region), origin
        )
        if origin == key_import.EXTERNAL:
            key_import.mark_pending_import(key)
        materials.materials(key)  # made now, so a multi-Region replica shares them
        return key

    return create_key


def encrypt(self, key_id: str, plaintext: bytes, encryption_context: dict[str, str]) -> tuple[bytes, str]:
    blob, key, _ = seal(self, key_id, plaintext, encryption_context, "Encrypt")
    return blob, key.arn


def decrypt(
    self, ciphertext_blob: bytes, encryption_context: dict[str, str], key_id: str | None = None
) -> tuple[bytes, str]:
    opened = open_blob(self, ciphertext_blob, encryption_context, key_id)
    return opened.plaintext, opened.key.arn


def re_encrypt(
    self,
    ciphertext_blob: bytes,
    source_encryption_context: dict[str, str],
    destination_key_id: str,
    destination_encryption_context: dict[str, str],
    source_key_id: str | None = None,
) -> tuple[bytes, str, str]:
    find_key(self, destination_key_id)
    opened = open_blob(self, ciphertext_blob, source_encryption_context, source_key_id, "ReEncrypt")
    blob, destination, _ = seal(self, destination_key_id, opened.plaintext, destination_encryption_context, "ReEncrypt")
    return blob, opened.key.arn, destination.arn


def generate_data_key(
    self, key_id: str, encryption_context: dict[str, str], number_of_bytes: int | None, key_spec: str | None
) -> tuple[bytes, bytes, str]:
    plaintext = generate_data_key_plaintext(number_of_bytes, key_spec)
    blob, key, _ = seal(self, key_id, plaintext, encryption_context, "GenerateDataKey")
    return plaintext, blob, key.arn


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


def delete_imported_key_material(self, key_id: str, key_material_id: str | None = None):
    key = find_key(self, key_id)
    return key, key_import.delete_material(key, key_material_id)


def rotate_key_on_demand(self, key_id: str) -> str:
    """RotateKeyOnDemand: new material for a symmetric key (KMS makes it for AWS_KMS keys;
    for EXTERNAL keys the imported material PENDING_ROTATION becomes current). Old
    ciphertexts keep decrypting with their material. Returns the key ARN."""
    key = find_key(self, key_id)
    if key.key_spec != SYMMETRIC_DEFAULT or key.key_usage != "ENCRYPT_DECRYPT":
        raise UnsupportedOperationException(None)  # KMS sends no message here
    key_state.require_usable(key)
    if materials.rotations_made(key) >= ON_DEMAND_ROTATION_LIMIT:
        raise LimitExceededException(
            "The on-demand rotations limit has been reached for the given keyId. "
            f"No more on-demand rotations can be performed for this key: {key.arn}"
        )
    if key_import.is_external(key):
        key_import.rotate(key)
    else:
        materials.make_current(key, materials.new_generated(key))
    return key.arn


# --- Key methods ------------------------------------------------------------------------

_MAC_ALGORITHMS = {spec: [f"HMAC_SHA_{spec[5:]}"] for spec in ("HMAC_224", "HMAC_256", "HMAC_384", "HMAC_512")}


def algorithms(key: Any, moto_signing: Any) -> dict[str, list[str]]:
    """The algorithm lists KeyMetadata carries for the key's usage (only those)."""
    usage, spec = key.key_usage, key.key_spec
    if usage == "ENCRYPT_DECRYPT":
        if spec == SYMMETRIC_DEFAULT:
            return {"EncryptionAlgorithms": [SYMMETRIC_DEFAULT]}
        if spec == "SM2":
            return {"EncryptionAlgorithms": ["SM2PKE"]}
        return {"EncryptionAlgorithms": ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]}
    if usage == "SIGN_VERIFY":
        return {"SigningAlgorithms": list(moto_signing or [])}
    if usage == "GENERATE_VERIFY_MAC":
        return {"MacAlgorithms": list(_MAC_ALGORITHMS.get(spec, []))}
    if usage == "KEY_AGREEMENT":
        return {"KeyAgreementAlgorithms": ["ECDH"]}
    return {}


def _to_dict(original):
    def to_dict(self) -> dict[str, Any]:
        key_state.current_state(self)  # lets expired imported material lapse first
        result = original(self)
        metadata = result["KeyMetadata"]
        signing = metadata.pop("SigningAlgorithms", None)
        metadata.pop("EncryptionAlgorithms", None)
        metadata.update(algorithms(self, signing))
        metadata["Enabled"] = self.key_state == "Enabled"
        metadata["MultiRegion"] = bool(self.multi_region)
        metadata.update(key_import.metadata(self))
        if self.key_state == "PendingDeletion" and getattr(self, "pending_deletion_window_in_days", None):
            metadata["PendingDeletionWindowInDays"] = self.pending_deletion_window_in_days
        current_id = materials.current_material_id(self) if materials.is_symmetric(self) else None
        if current_id:
            metadata["CurrentKeyMaterialId"] = current_id
        return result

    return to_dict


# --- rules moto lacks -------------------------------------------------------------------


def _automatic_rotation_only_for_kms_material(original):
    """Automatic rotation is only for symmetric encryption keys whose material KMS made."""

    def method(self, key_id: str, *args, **kwargs):
        key = find_key(self, key_id)
        if key_import.is_external(key):
            raise UnsupportedOperationException(f"{key.arn} origin is EXTERNAL which is not valid for this operation.")
        if not materials.is_symmetric(key) or key.key_usage != "ENCRYPT_DECRYPT":
            raise UnsupportedOperationException(
                f"{key.arn} key spec is {key.key_spec} which is not valid for this operation."
            )
        return original(self, key_id, *args, **kwargs)

    return method


def _lazy_private_key(original):
    def generate_private_key(key_spec: str):
        return LazyPrivateKey(original, key_spec)

    return generate_private_key


def _real_key_ids(original):
    """Multi-Region key ids as KMS makes them: mrk- and 32 hex digits (moto: mrk- and a UUID)."""

    def generate_key_id(multi_region: bool = False) -> str:
        key_id = original(False)
        return "mrk-" + key_id.replace("-", "") if multi_region else key_id

    return generate_key_id


def _replicate_key(original):
    """The replica shares the primary's materials (multi-Region keys share key material)."""

    def replicate_key(self, key_id: str, replica_region: str):
        key = find_key(self, key_id)
        materials.materials(key)
        return original(self, key_id, replica_region)

    return replicate_key


def _create_grant(original):
    """Grant ids and tokens of the real lengths (moto: 8 hex digits each): a 64-hex-digit
    GrantId, an opaque GrantToken; the creation time for ListGrants."""

    def create_grant(self, key_id, grantee_principal, operations, name, constraints, retiring_principal):
        key = find_key(self, key_id)
        moto_id, _ = original(self, key.id, grantee_principal, operations, name, constraints, retiring_principal)
        grant = key.grants.pop(moto_id)
        grant.id = os.urandom(32).hex()
        grant.token = base64.urlsafe_b64encode(os.urandom(96)).decode("ascii")
        grant._workshop_created = time.time()
        key.grants[grant.id] = grant
        return grant.id, grant.token

    return create_grant


def _stamp_alias(original):
    """When an alias was made and last pointed elsewhere (ListAliases shows both)."""

    def method(self, target_key_id: str, alias_name: str):
        alias = original(self, target_key_id, alias_name)
        now = time.time()
        if "_workshop_created" not in vars(alias):
            alias._workshop_created = now
        alias._workshop_updated = now
        return alias

    return method


def _aws_managed_default_keys(original):
    """The keys behind alias/aws/... are AWS managed keys (KeyManager AWS), as on AWS."""

    def generate_default_keys(self, alias_name: str):
        key_id = original(self, alias_name)
        if key_id and key_id in self.keys:
            self.keys[key_id].key_manager = "AWS"
        return key_id

    return generate_default_keys


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
    "rotate_key_on_demand": rotate_key_on_demand,
}


def install() -> None:
    # deferred: moto's KMS models load in apply(), not on import
    from moto.kms import models

    for name, function in BACKEND_METHODS.items():
        setattr(models.KmsBackend, name, function)
    models.KmsBackend.create_key = _create_key(models.KmsBackend.create_key)
    models.KmsBackend.replicate_key = _replicate_key(models.KmsBackend.replicate_key)
    models.KmsBackend.enable_key_rotation = _automatic_rotation_only_for_kms_material(
        models.KmsBackend.enable_key_rotation
    )
    models.KmsBackend.create_grant = _create_grant(models.KmsBackend.create_grant)
    models.KmsBackend.create_alias = _stamp_alias(models.KmsBackend.create_alias)
    models.KmsBackend.update_alias = _stamp_alias(models.KmsBackend.update_alias)
    models.KmsBackend._generate_default_keys = _aws_managed_default_keys(models.KmsBackend._generate_default_keys)
    models.Key.to_dict = _to_dict(models.Key.to_dict)
    models.generate_private_key = _lazy_private_key(models.generate_private_key)
    models.generate_key_id = _real_key_ids(models.generate_key_id)
