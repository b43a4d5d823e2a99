"""moto's KMS responses completed: the key-import actions, key materials and rotations, and
the fields and errors real KMS returns (EncryptionAlgorithm, KeyMaterialId, the key ARN as
KeyId, KeyState on deletion, key id and ARN errors, alias names, key policies, tags, grants).

`install()` adds or replaces methods of `moto.kms.responses.KmsResponse`; the models do the
work (see keys.py), these read parameters and shape the JSON answers. The API's own
constraints (lengths, ranges, enums, patterns) are checked before any of this runs
(validation.py).
"""

from __future__ import annotations

import base64
import json
import os
import time
from typing import Any

from . import ciphertext, key_import, key_state, keys, recording
from . import material as materials
from .exceptions import (
    DryRunOperationException,
    InvalidGrantTokenException,
    InvalidKeyUsageException,
    NotAuthorizedException,
    NotFoundException,
    UnsupportedOperationException,
    ValidationException,
)
from .key_import import public_key_der
from .keys import find_key

SYMMETRIC_DEFAULT = "SYMMETRIC_DEFAULT"
_DRY_RUN = "The request would have succeeded, but the DryRun option is set."
_ALIAS_PREFIX = (
    'Alias must start with the prefix "alias/". '
    "Please see https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _raw_param(self, name: str) -> Any:
    """A parameter as sent (moto's _get_param base64-decodes only a few blob names)."""
    return json.loads(self.body or "{}").get(name)


def _blob_param(self, name: str) -> bytes:
    value = _raw_param(self, name)
    return base64.b64decode(value) if value else b""


def _require_symmetric_algorithm(self, name: str = "EncryptionAlgorithm") -> None:
    algorithm = self._get_param(name)
    if algorithm not in (None, SYMMETRIC_DEFAULT):
        raise InvalidKeyUsageException(
            f"{algorithm} is not a valid encryption algorithm for a symmetric encryption KMS key; "
            f"use {SYMMETRIC_DEFAULT}."
        )


def _refuse_recipient(self) -> None:
    if self._get_param("Recipient"):
        raise UnsupportedOperationException(
            "Recipient (a Nitro Enclaves attestation document) is not simulated by the workshop's KMS."
        )


def _dry_run(self) -> None:
    """After every check passed: what KMS answers a DryRun request."""
    if self._get_param("DryRun"):
        raise DryRunOperationException(_DRY_RUN)


# --- key ids --------------------------------------------------------------------------------


def _validate_cmk_id(self, key_id: str) -> None:
    """A key id or key ARN that names a key of this Region, worded as KMS words it:
    "Invalid keyId 'x'", "Invalid arn us-west-2", "Key '<arn>' does not exist"."""
    key_id = key_id if isinstance(key_id, str) else ""
    if key_id.startswith("arn:") and ":key/" in key_id:
        region = keys.key_arn_region(key_id)
        if region is not None and region != self.region:
            raise NotFoundException(f"Invalid arn {region}")
        raw = key_id.split(":key/", 1)[1]
    else:
        if not ciphertext.KEY_ID.match(key_id):
            raise NotFoundException(f"Invalid keyId '{key_id}'")
        raw = key_id
    if raw not in self.kms_backend.keys:
        raise NotFoundException(keys.not_found_message(self.kms_backend, key_id))


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
        key_material_id=self._get_param("KeyMaterialId"),
        description=self._get_param("KeyMaterialDescription"),
    )
    return json.dumps({"KeyId": key.arn, "KeyMaterialId": material_id})


def delete_imported_key_material(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key, material_id = self.kms_backend.delete_imported_key_material(key_id, self._get_param("KeyMaterialId"))
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
    blob, key, _ = keys.seal(self.kms_backend, key_id, plaintext, self._get_param("EncryptionContext", {}), "Encrypt")
    _dry_run(self)
    return json.dumps({"CiphertextBlob": _b64(blob), "KeyId": key.arn, "EncryptionAlgorithm": SYMMETRIC_DEFAULT})


def decrypt(self) -> str:
    key_id = self._get_param("KeyId")
    if key_id:
        self._validate_key_id(key_id)
    _require_symmetric_algorithm(self)
    _refuse_recipient(self)
    opened = keys.open_blob(
        self.kms_backend, self._get_param("CiphertextBlob") or b"", self._get_param("EncryptionContext", {}), key_id
    )
    _dry_run(self)
    return json.dumps(
        {
            "Plaintext": _b64(opened.plaintext),
            "KeyId": opened.key.arn,
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "KeyMaterialId": opened.material.id,
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
    backend = self.kms_backend
    find_key(backend, destination_key_id)
    opened = keys.open_blob(
        backend,
        self._get_param("CiphertextBlob") or b"",
        self._get_param("SourceEncryptionContext", {}),
        source_key_id,
        "ReEncrypt",
    )
    blob, destination, material = keys.seal(
        backend, destination_key_id, opened.plaintext, self._get_param("DestinationEncryptionContext", {}), "ReEncrypt"
    )
    _dry_run(self)
    return json.dumps(
        {
            "CiphertextBlob": _b64(blob),
            "SourceKeyId": opened.key.arn,
            "KeyId": destination.arn,
            "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "SourceKeyMaterialId": opened.material.id,
            "DestinationKeyMaterialId": material.id,
        }
    )


def _data_key(self, operation: str) -> dict[str, Any]:
    key_id = self._get_param("KeyId")
    self._validate_key_id(key_id)
    number_of_bytes, key_spec = self._get_param("NumberOfBytes"), self._get_param("KeySpec")
    if (number_of_bytes is None) == (key_spec is None):
        raise ValidationException("Please specify either number of bytes or key spec.")
    _refuse_recipient(self)
    plaintext = keys.generate_data_key_plaintext(number_of_bytes, key_spec)
    blob, key, material = keys.seal(
        self.kms_backend, key_id, plaintext, self._get_param("EncryptionContext", {}), operation
    )
    _dry_run(self)
    return {"CiphertextBlob": _b64(blob), "Plaintext": plaintext, "KeyId": key.arn, "KeyMaterialId": material.id}


def generate_data_key(self) -> str:
    answer = _data_key(self, "GenerateDataKey")
    plaintext = answer.pop("Plaintext")
    recording.record(plaintext)
    return json.dumps({**answer, "Plaintext": _b64(plaintext)})


def generate_data_key_without_plaintext(self) -> str:
    answer = _data_key(self, "GenerateDataKeyWithoutPlaintext")
    del answer["Plaintext"]  # made, then dropped: never handed out, not recorded
    return json.dumps(answer)


def generate_random(self) -> str:
    number_of_bytes = self._get_param("NumberOfBytes")
    if number_of_bytes is None:
        raise ValidationException("NumberOfBytes is required.")
    _refuse_recipient(self)
    if self._get_param("CustomKeyStoreId"):
        raise UnsupportedOperationException("Custom key stores are not simulated by the workshop's KMS.")
    return json.dumps({"Plaintext": _b64(os.urandom(number_of_bytes))})


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


def list_key_rotations(self) -> str:
    """The key's materials as KMS lists them: rotations only by default, every material with
    IncludeKeyMaterial=ALL_KEY_MATERIAL (the first one and any PENDING_ROTATION too)."""
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key = find_key(self.kms_backend, key_id)
    if not materials.is_symmetric(key) or key.key_usage != "ENCRYPT_DECRYPT":
        raise UnsupportedOperationException(
            f"{key.arn} key spec is {key.key_spec} which is not valid for this operation."
        )
    everything = self._get_param("IncludeKeyMaterial") == "ALL_KEY_MATERIAL"
    entries = []
    for found in materials.materials(key):
        if not everything and found.rotation_date is None:
            continue
        entry: dict[str, Any] = {"KeyId": key.arn, "KeyMaterialId": found.id, "KeyMaterialState": found.state}
        entry.update(key_import.rotation_entry_fields(key, found))
        if found.rotation_date is not None:
            entry.update({"RotationDate": found.rotation_date, "RotationType": found.rotation_type})
        entries.append(entry)
    start = int(self._get_param("Marker") or 0) if str(self._get_param("Marker") or "0").isdigit() else 0
    limit = self._get_param("Limit") or 100
    page = entries[start : start + limit]
    answer: dict[str, Any] = {"Rotations": page, "Truncated": start + limit < len(entries)}
    if answer["Truncated"]:
        answer["NextMarker"] = str(start + limit)
    return json.dumps(answer)


def enable_key_rotation(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    self.kms_backend.enable_key_rotation(key_id)  # refuses imported, asymmetric and HMAC keys
    materials.enable_automatic_rotation(find_key(self.kms_backend, key_id), self._get_param("RotationPeriodInDays"))
    return json.dumps(None)


def disable_key_rotation(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    self.kms_backend.disable_key_rotation(key_id)
    materials.disable_automatic_rotation(find_key(self.kms_backend, key_id))
    return json.dumps(None)


def get_key_rotation_status(self) -> str:
    """KeyId (the ARN) and KeyRotationEnabled; with automatic rotation on, its period and
    NextRotationDate. No OnDemandRotationStartDate: on-demand rotations finish at once here.
    As KMS documents it: AWS managed keys always rotate (yearly); a key pending deletion
    reports false, and its setting comes back if the deletion is cancelled."""
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    key = find_key(self.kms_backend, key_id)
    if key.key_manager == "AWS":
        enabled = True
    else:
        enabled = bool(self.kms_backend.get_key_rotation_status(key_id))
    if key_state.current_state(key) == "PendingDeletion":
        enabled = False
    answer: dict[str, Any] = {"KeyId": key.arn, "KeyRotationEnabled": enabled}
    if enabled:
        schedule = materials.rotation_schedule(key)
        answer.update(
            {"RotationPeriodInDays": schedule.period_in_days, "NextRotationDate": schedule.next_rotation_date}
        )
    return json.dumps(answer)


def _public_key(original):
    """moto answers GetPublicKey for symmetric keys with an RSA key it made up; KMS refuses."""

    def get_public_key(self) -> str:
        key_id = self._get_param("KeyId")
        self._validate_key_id(key_id)
        key = find_key(self.kms_backend, key_id)
        if key.key_spec == SYMMETRIC_DEFAULT or key.key_spec.startswith("HMAC"):
            raise UnsupportedOperationException(
                f"{key.arn} key usage is {key.key_usage} which is not valid for GetPublicKey."
            )
        return original(self)

    return get_public_key


# --- aliases --------------------------------------------------------------------------------


def _alias_prefix_first(original, creates: bool):
    """KMS's wording for an alias name without the alias/ prefix (moto: "Invalid identifier");
    no alias of one's own in the alias/aws/ space, which is AWS's (moto: only its 14 names)."""

    def method(self) -> str:
        name = self._get_param("AliasName")
        if isinstance(name, str) and not name.startswith("alias/"):
            raise ValidationException(_ALIAS_PREFIX)
        if creates and isinstance(name, str) and name.startswith("alias/aws/"):
            raise NotAuthorizedException()
        return original(self)

    return method


def _list_aliases(original):
    """CreationDate and LastUpdatedDate on the account's aliases; AWS managed aliases whose key
    KMS has not made yet come without a TargetKeyId, as on AWS (moto: made-up key ids)."""

    def list_aliases(self) -> str:
        answer = json.loads(original(self))
        made = {name: alias for key in self.kms_backend.keys.values() for name, alias in key.aliases.items()}
        for entry in answer.get("Aliases", []):
            alias = made.get(entry.get("AliasName"))
            if alias is None:
                entry.pop("TargetKeyId", None)
                continue
            created = vars(alias).get("_workshop_created")
            if created is not None:
                entry["CreationDate"] = created
                entry["LastUpdatedDate"] = vars(alias).get("_workshop_updated", created)
        return json.dumps(answer)

    return list_aliases


# --- key policies ---------------------------------------------------------------------------


def _policy_name(self) -> str:
    """PolicyName is optional and means "default" (moto: NotFoundException without it)."""
    name = self._get_param("PolicyName") or "default"
    if name != "default":
        raise NotFoundException("No such policy exists")
    return name


def get_key_policy(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    name = _policy_name(self)
    return json.dumps({"Policy": self.kms_backend.get_key_policy(key_id) or "{}", "PolicyName": name})


def put_key_policy(self) -> str:
    key_id = self._get_param("KeyId")
    self._validate_cmk_id(key_id)
    _policy_name(self)
    self.kms_backend.put_key_policy(key_id, self._get_param("Policy"))
    return "{}"


# --- tags -----------------------------------------------------------------------------------


def _tag_resource(original):
    """KMS's tag rules on existing keys too: reserved aws: prefix, duplicates, at most 50."""

    def tag_resource(self) -> str:
        key_id = self._get_param("KeyId")
        self._validate_cmk_id(key_id)
        key = find_key(self.kms_backend, key_id)
        existing = self.kms_backend.tagger.get_tag_dict_for_resource(key.id)
        tags = self._get_param("Tags") or []
        keys.check_tags(tags, existing)
        return original(self)

    return tag_resource


# --- grants ---------------------------------------------------------------------------------


def _list_grants(original):
    """Grant entries as KMS lists them: the key ARN as KeyId, CreationDate, IssuingAccount;
    no Name or Constraints when there are none."""

    def method(self) -> str:
        answer = json.loads(original(self))
        backend = self.kms_backend
        for entry in answer.get("Grants", []):
            key = backend.keys.get(entry.get("KeyId"))
            grant = key.grants.get(entry.get("GrantId")) if key is not None else None
            if key is not None:
                entry["KeyId"] = key.arn
            if grant is not None:
                entry["CreationDate"] = vars(grant).get("_workshop_created", time.time())
                entry["IssuingAccount"] = f"arn:aws:iam::{backend.account_id}:root"
            for name in ("Name", "Constraints", "RetiringPrincipal"):
                if not entry.get(name):
                    entry.pop(name, None)
        answer.pop("GrantCount", None)
        return json.dumps(answer)

    return method


def _retire_grant(original):
    """A grant to retire must exist: an unknown GrantId is NotFoundException, a token no
    grant has InvalidGrantTokenException (moto: success either way)."""

    def retire_grant(self) -> str:
        backend = self.kms_backend
        token, grant_id, key_id = self._get_param("GrantToken"), self._get_param("GrantId"), self._get_param("KeyId")
        if token:
            if not any(g.token == token for key in backend.keys.values() for g in key.grants.values()):
                raise InvalidGrantTokenException("The grant token is not valid.")
        elif grant_id:
            key = find_key(backend, key_id)
            if grant_id not in key.grants:
                raise NotFoundException(f"Grant ID {grant_id} not found")
        else:
            raise ValidationException("Either GrantToken, or both GrantId and KeyId, must be specified.")
        _dry_run(self)
        return original(self)

    return retire_grant


def _revoke_grant(original):
    """DryRun checks the key and the grant and stops before the grant is revoked."""

    def revoke_grant(self) -> str:
        if self._get_param("DryRun"):
            key = find_key(self.kms_backend, self._get_param("KeyId"))
            grant_id = self._get_param("GrantId")
            if grant_id not in key.grants:
                raise NotFoundException(f"Grant ID {grant_id} not found")
            _dry_run(self)
        return original(self)

    return revoke_grant


def _create_grant(original):
    """DryRun checks the key and stops before a grant is made."""

    def create_grant(self) -> str:
        if self._get_param("DryRun"):
            self._validate_key_id(self._get_param("KeyId"))
            find_key(self.kms_backend, self._get_param("KeyId"))
            _dry_run(self)
        return original(self)

    return create_grant


RESPONSE_METHODS = {
    "_validate_cmk_id": _validate_cmk_id,
    "get_parameters_for_import": get_parameters_for_import,
    "import_key_material": import_key_material,
    "delete_imported_key_material": delete_imported_key_material,
    "encrypt": encrypt,
    "decrypt": decrypt,
    "re_encrypt": re_encrypt,
    "generate_data_key": generate_data_key,
    "generate_data_key_without_plaintext": generate_data_key_without_plaintext,
    "generate_random": generate_random,
    "schedule_key_deletion": schedule_key_deletion,
    "cancel_key_deletion": cancel_key_deletion,
    "list_key_rotations": list_key_rotations,
    "enable_key_rotation": enable_key_rotation,
    "disable_key_rotation": disable_key_rotation,
    "get_key_rotation_status": get_key_rotation_status,
    "get_key_policy": get_key_policy,
    "put_key_policy": put_key_policy,
}


def install() -> None:
    # deferred: moto's KMS responses load in apply(), not on import
    from moto.kms.responses import KmsResponse

    for name, function in RESPONSE_METHODS.items():
        setattr(KmsResponse, name, function)
    KmsResponse.get_public_key = _public_key(KmsResponse.get_public_key)
    for name in ("create_alias", "update_alias", "delete_alias"):
        setattr(KmsResponse, name, _alias_prefix_first(getattr(KmsResponse, name), creates=name != "delete_alias"))
    KmsResponse.list_aliases = _list_aliases(KmsResponse.list_aliases)
    KmsResponse.tag_resource = _tag_resource(KmsResponse.tag_resource)
    KmsResponse.list_grants = _list_grants(KmsResponse.list_grants)
    KmsResponse.list_retirable_grants = _list_grants(KmsResponse.list_retirable_grants)
    KmsResponse.retire_grant = _retire_grant(KmsResponse.retire_grant)
    KmsResponse.revoke_grant = _revoke_grant(KmsResponse.revoke_grant)
    KmsResponse.create_grant = _create_grant(KmsResponse.create_grant)
