"""moto's KMS responses completed: the key-import actions, and the fields real KMS returns
(EncryptionAlgorithm, KeyMaterialId, the key ARN as KeyId, KeyState on deletion).

`install()` adds or replaces methods of `moto.kms.responses.KmsResponse`; the models do the
work (see keys.py), these only read parameters and shape the JSON answers.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from . import recording
from .exceptions import InvalidKeyUsageException, UnsupportedOperationException
from .key_import import public_key_der
from .keys import find_key
from .material import current_material_id

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _raw_param(self, name: str) -> Any:
    """A parameter as sent (moto's _get_param base64-decodes only a few blob names)."""
    return json.loads(self.body or "{}").get(name)


def _blob_param(self, name: str) -> bytes:
    value = _raw_param(self, name)
    return base64.b64decode(value) if value else b""


def _material_id_of(self, key_arn: str) -> str | None:
    return current_material_id(find_key(self.kms_backend, key_arn))


def _require_symmetric_algorithm(self, name: str = "EncryptionAlgorithm") -> None:
    algorithm = self._get_param(name)
    if algorithm not in (None, SYMMETRIC_DEFAULT):
        raise InvalidKeyUsageException(
            f"{algorithm} is not a valid encryption algorithm for a symmetric encryption KMS key; "
            f"use {SYMMETRIC_DEFAULT}."
        )


# --- key import -------------------------------------------------------------------------


def get_parameters_for_import(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key, params = self.kms_backend.get_parameters_for_import(
        key_id, self._get_param("WrappingAlgorithm"), self._get_param("WrappingKeySpec")
    )
    return json.dumps(
        {
            "KeyId": key.arn,
            "ImportToken": _b64(params.token),
            "PublicKey": _b64(public_key_der(params)),
            "ParametersValidTo": params.valid_to,
        }
    )


def import_key_material(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key, material_id = self.kms_backend.import_key_material(
        key_id,
        _blob_param(self, "ImportToken"),
        _blob_param(self, "EncryptedKeyMaterial"),
        expiration_model=self._get_param("ExpirationModel"),
        valid_to=self._get_param("ValidTo"),
        import_type=self._get_param("ImportType"),
    )
    return json.dumps({"KeyId": key.arn, "KeyMaterialId": material_id})


def delete_imported_key_material(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key, material_id = self.kms_backend.delete_imported_key_material(key_id)
    answer = {"KeyId": key.arn}
    if material_id:
        answer["KeyMaterialId"] = material_id
    return json.dumps(answer)


# --- cryptographic operations -----------------------------------------------------------


def encrypt(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    _require_symmetric_algorithm(self)
    plaintext = self._get_param("Plaintext") or b""
    blob, arn = self.kms_backend.encrypt(key_id, plaintext, self._get_param("EncryptionContext", {}))
    return json.dumps({"CiphertextBlob": _b64(blob), "KeyId": arn, "EncryptionAlgorithm": SYMMETRIC_DEFAULT})


def decrypt(self) -> str:
    key_id = self._get_param("KeyId")
    if key_id:
        self._validate_key_id(key_id)
    _require_symmetric_algorithm(self)
    plaintext, arn = self.kms_backend.decrypt(
        self._get_param("CiphertextBlob") or b"", self._get_param("EncryptionContext", {}), key_id
    )
    return json.dumps(
        {
            "Plaintext": _b64(plaintext),
            "KeyId": arn,
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "KeyMaterialId": _material_id_of(self, arn),
        }
    )


def re_encrypt(self) -> str:
    destination_key_id = self._get_param("DestinationKeyId")
    self._validate_key_id(destination_key_id)
    source_key_id = self._get_param("SourceKeyId")
    if source_key_id:
        self._validate_key_id(source_key_id)
    _require_symmetric_algorithm(self, "SourceEncryptionAlgorithm")
    _require_symmetric_algorithm(self, "DestinationEncryptionAlgorithm")
    blob, source_arn, destination_arn = self.kms_backend.re_encrypt(
        self._get_param("CiphertextBlob") or b"",
        self._get_param("SourceEncryptionContext", {}),
        destination_key_id,
        self._get_param("DestinationEncryptionContext", {}),
        source_key_id=source_key_id,
    )
    return json.dumps(
        {
            "CiphertextBlob": _b64(blob),
            "SourceKeyId": source_arn,
            "KeyId": destination_arn,
            "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "SourceKeyMaterialId": _material_id_of(self, source_arn),
            "DestinationKeyMaterialId": _material_id_of(self, destination_arn),
        }
    )


def _data_key(original):
    """moto's GenerateDataKey (its parameter checks) plus KeyMaterialId, and recording."""

    def generate_data_key(self) -> str:
        answer = json.loads(original(self))
        answer["KeyMaterialId"] = _material_id_of(self, answer["KeyId"])
        recording.record(base64.b64decode(answer["Plaintext"]))
        return json.dumps(answer)

    def generate_data_key_without_plaintext(self) -> str:
        answer = json.loads(original(self))  # the plaintext is made, then dropped, not recorded
        del answer["Plaintext"]
        answer["KeyMaterialId"] = _material_id_of(self, answer["KeyId"])
        return json.dumps(answer)

    return generate_data_key, generate_data_key_without_plaintext


# --- key lifecycle ----------------------------------------------------------------------


def schedule_key_deletion(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    days = self._get_param("PendingWindowInDays")
    deletion_date = self.kms_backend.schedule_key_deletion(key_id, days)
    key = find_key(self.kms_backend, key_id)
    return json.dumps(
        {
            "KeyId": key.arn,
            "DeletionDate": deletion_date,
            "KeyState": key.key_state,
            "PendingWindowInDays": key.pending_deletion_window_in_days,
        }
    )


def cancel_key_deletion(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    self.kms_backend.cancel_key_deletion(key_id)
    return json.dumps({"KeyId": find_key(self.kms_backend, key_id).arn})


def _public_key(original):
    """moto answers GetPublicKey for symmetric keys with an RSA key it made up; KMS refuses."""

    def get_public_key(self) -> str:
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        key = find_key(self.kms_backend, key_id)
        if key.key_spec == SYMMETRIC_DEFAULT or key.key_spec.startswith("HMAC"):
            raise UnsupportedOperationException(f"{key.arn} key usage is {key.key_usage} which is not valid for GetPublicKey.")
        return original(self)

    return get_public_key


RESPONSE_METHODS = {
    "get_parameters_for_import": get_parameters_for_import,
    "import_key_material": import_key_material,
    "delete_imported_key_material": delete_imported_key_material,
    "encrypt": encrypt,
    "decrypt": decrypt,
    "re_encrypt": re_encrypt,
    "schedule_key_deletion": schedule_key_deletion,
    "cancel_key_deletion": cancel_key_deletion,
}


def install() -> None:
    from moto.kms.responses import KmsResponse

    for name, function in RESPONSE_METHODS.items():
        setattr(KmsResponse, name, function)
    KmsResponse.generate_data_key, KmsResponse.generate_data_key_without_plaintext = _data_key(
        KmsResponse.generate_data_key
    )
    KmsResponse.get_public_key = _public_key(KmsResponse.get_public_key)
