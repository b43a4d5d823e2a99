"""Rotation of key material, in-process and over the endpoint, as AWS KMS does it since 2025:
new imported material (ImportType NEW_KEY_MATERIAL) made current by RotateKeyOnDemand,
reimport of the same material (EXISTING_KEY_MATERIAL), deletion and expiry of one material
among several, and automatic rotation (EnableKeyRotation with RotationPeriodInDays) of
keys whose material KMS made."""

from __future__ import annotations

import datetime as dt
import os
import re

import pytest
from fidelity_support import REGION, import_into, kms_error

MATERIAL_ID = re.compile(r"^[a-f0-9]{64}$")
NOT_THE_SAME = "The key material is not the same key material that was previously imported into this KMS key."


def _external_key(kms) -> dict:
    return kms.create_key(Origin="EXTERNAL", Description="fidelity rotation")["KeyMetadata"]


def _import_new(kms, key_id: str, material: bytes, **args) -> dict:
    return import_into(kms, key_id, material, ImportType="NEW_KEY_MATERIAL", **args)


def _import_existing(kms, key_id: str, material: bytes, **args) -> dict:
    return import_into(kms, key_id, material, ImportType="EXISTING_KEY_MATERIAL", **args)


def _current_id(kms, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]


def _rotated_key(kms):
    """An imported key with two materials, the second current, and a blob under each."""
    key = _external_key(kms)
    first_material, second_material = os.urandom(32), os.urandom(32)
    first = import_into(kms, key["KeyId"], first_material)["KeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"under the first")["CiphertextBlob"]
    second = _import_new(kms, key["KeyId"], second_material)["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    new_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"under the second")["CiphertextBlob"]
    return key, (first, first_material, old_blob), (second, second_material, new_blob)


# --- new imported material, pending until RotateKeyOnDemand ---------------------------------


def test_new_material_is_pending_rotation_until_rotate_on_demand_makes_it_current(kms_env):
    kms = kms_env.kms
    key = _external_key(kms)
    first = import_into(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    assert _current_id(kms, key["KeyId"]) == first

    answer = _import_new(kms, key["KeyId"], os.urandom(32), KeyMaterialDescription="2026 material")
    second = answer["KeyMaterialId"]
    assert MATERIAL_ID.match(second) and second != first
    assert answer["KeyId"] == key["Arn"]
    assert _current_id(kms, key["KeyId"]) == first  # not current before the rotation
    everything = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(m["KeyMaterialId"], m["KeyMaterialState"]) for m in everything] == [
        (first, "CURRENT"),
        (second, "PENDING_ROTATION"),
    ]
    assert everything[1]["KeyMaterialDescription"] == "2026 material"

    before = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert _current_id(kms, key["KeyId"]) == second
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["KeyId"], r["KeyMaterialId"], r["RotationType"], r["KeyMaterialState"]) for r in rotations] == [
        (key["Arn"], second, "ON_DEMAND", "CURRENT")
    ]
    assert before <= rotations[0]["RotationDate"] <= dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5)
    states = {
        m["KeyMaterialId"]: m["KeyMaterialState"]
        for m in kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert states == {first: "NON_CURRENT", second: "CURRENT"}


def test_a_second_rotation_lists_both_in_order(kms_env):
    kms = kms_env.kms
    key, (first, _, _), (second, _, _) = _rotated_key(kms)
    third = _import_new(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key["KeyId"])
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"]) for r in rotations] == [
        (second, "NON_CURRENT"),
        (third, "CURRENT"),
    ]
    assert rotations[0]["RotationDate"] <= rotations[1]["RotationDate"]
    assert _current_id(kms, key["KeyId"]) == third != first


# --- ImportType: NEW only for material the key never had, EXISTING only for material it had ---


def test_new_material_sent_as_existing_is_refused(kms_env):
    kms = kms_env.kms
    key = _external_key(kms)
    import_into(kms, key["KeyId"], os.urandom(32))
    with kms_error("IncorrectKeyMaterialException") as info:
        _import_existing(kms, key["KeyId"], os.urandom(32))
    assert info.value.response["Error"]["Message"] == NOT_THE_SAME
    assert len(kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]) == 1


@pytest.mark.parametrize("which", ["current", "earlier"])
def test_material_the_key_already_had_sent_as_new_is_refused(kms_env, which):
    kms = kms_env.kms
    key, (_, first_material, _), (_, second_material, _) = _rotated_key(kms)
    material = second_material if which == "current" else first_material
    with kms_error("IncorrectKeyMaterialException"):
        _import_new(kms, key["KeyId"], material)
    assert len(kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]) == 2


def test_existing_material_is_accepted_again_under_its_own_id(kms_env):
    kms = kms_env.kms
    key, (first, first_material, _), _ = _rotated_key(kms)
    again = _import_existing(kms, key["KeyId"], first_material, KeyMaterialId=first)
    assert again["KeyMaterialId"] == first
    with kms_error("IncorrectKeyMaterialException"):  # the right material, but named by another id
        _import_existing(kms, key["KeyId"], first_material, KeyMaterialId="0" * 64)


# --- ciphertexts across a rotation ----------------------------------------------------------


def test_old_ciphertexts_decrypt_and_new_ones_use_the_new_material(kms_env):
    kms = kms_env.kms
    key, (first, _, old_blob), (second, _, new_blob) = _rotated_key(kms)
    old = kms.decrypt(CiphertextBlob=old_blob)
    assert (old["Plaintext"], old["KeyMaterialId"], old["KeyId"]) == (b"under the first", first, key["Arn"])
    new = kms.decrypt(CiphertextBlob=new_blob, KeyId=key["KeyId"])
    assert (new["Plaintext"], new["KeyMaterialId"]) == (b"under the second", second)
    data_key = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    assert data_key["KeyMaterialId"] == second
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["KeyMaterialId"] == second


def test_decrypt_answers_with_the_key_material_id_botocore_knows():
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms")
    assert "KeyMaterialId" in model.operation_model("Decrypt").output_shape.members
    assert {"SourceKeyMaterialId", "DestinationKeyMaterialId"} <= set(
        model.operation_model("ReEncrypt").output_shape.members
    )


def test_re_encrypt_moves_an_old_ciphertext_under_the_current_material(kms_env):
    kms = kms_env.kms
    key, (first, _, old_blob), (second, _, _) = _rotated_key(kms)
    moved = kms.re_encrypt(CiphertextBlob=old_blob, DestinationKeyId=key["KeyId"])
    assert "Plaintext" not in moved  # the plaintext never leaves KMS
    assert (moved["SourceKeyMaterialId"], moved["DestinationKeyMaterialId"]) == (first, second)
    assert (moved["SourceKeyId"], moved["KeyId"]) == (key["Arn"], key["Arn"])
    assert moved["CiphertextBlob"] != old_blob
    again = kms.decrypt(CiphertextBlob=moved["CiphertextBlob"])
    assert (again["Plaintext"], again["KeyMaterialId"]) == (b"under the first", second)


# --- DeleteImportedKeyMaterial and expiry ------------------------------------------------------


def test_deleting_the_current_material_without_an_id(kms_env):
    kms = kms_env.kms
    key, (first, _, old_blob), (second, second_material, new_blob) = _rotated_key(kms)
    deleted = kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert (deleted["KeyId"], deleted["KeyMaterialId"]) == (key["Arn"], second)
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["CurrentKeyMaterialId"]) == ("PendingImport", second)
    for blob in (old_blob, new_blob):  # a key pending import decrypts nothing
        with kms_error("KMSInvalidStateException") as info:
            kms.decrypt(CiphertextBlob=blob)
        assert info.value.response["Error"]["Message"] == f"{key['Arn']} is pending import."

    assert _import_existing(kms, key["KeyId"], second_material)["KeyMaterialId"] == second
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"under the second"
    assert kms.decrypt(CiphertextBlob=old_blob)["KeyMaterialId"] == first


def test_deleting_an_earlier_material_by_id(kms_env):
    kms = kms_env.kms
    key, (first, first_material, old_blob), (second, _, new_blob) = _rotated_key(kms)
    deleted = kms.delete_imported_key_material(KeyId=key["KeyId"], KeyMaterialId=first)
    assert deleted["KeyMaterialId"] == first
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["CurrentKeyMaterialId"]) == ("PendingImport", second)  # any missing material
    with kms_error("KMSInvalidStateException"):
        kms.decrypt(CiphertextBlob=old_blob)
    listed = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(m["KeyMaterialId"], m["ImportState"]) for m in listed] == [(first, "PENDING_IMPORT"), (second, "IMPORTED")]

    with kms_error("IncorrectKeyMaterialException"):  # only the deleted material itself comes back
        _import_existing(kms, key["KeyId"], os.urandom(32))
    _import_existing(kms, key["KeyId"], first_material, KeyMaterialId=first)
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"under the first"
    assert kms.decrypt(CiphertextBlob=new_blob)["Plaintext"] == b"under the second"


def test_deleting_an_unknown_material_id_is_not_found(kms_env):
    kms = kms_env.kms
    key, _, _ = _rotated_key(kms)
    with kms_error("NotFoundException"):
        kms.delete_imported_key_material(KeyId=key["KeyId"], KeyMaterialId="0" * 64)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_expired_material_behaves_as_deleted_until_imported_again(moto_workshop):
    """Expiry needs time to pass: in-process, where the material's ValidTo can be moved back;
    the endpoint runs the same code."""
    from moto.kms.models import kms_backends

    from workshop_helpers.fidelity import material as materials

    kms = moto_workshop.client("kms")
    key = _external_key(kms)
    first_material = os.urandom(32)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    first = import_into(kms, key["KeyId"], first_material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=soon)[
        "KeyMaterialId"
    ]
    old_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"expires")["CiphertextBlob"]
    _import_new(kms, key["KeyId"], os.urandom(32))
    kms.rotate_key_on_demand(KeyId=key["KeyId"])

    model_key = kms_backends[key["AWSAccountId"]][REGION].keys[key["KeyId"]]
    materials.find(model_key, first).valid_to -= 2 * 3600  # an hour in the past
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    with kms_error("KMSInvalidStateException"):
        kms.decrypt(CiphertextBlob=old_blob)

    _import_existing(kms, key["KeyId"], first_material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=soon)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old_blob)["KeyMaterialId"] == first


# --- automatic rotation of material KMS made --------------------------------------------------


def test_enable_key_rotation_with_a_period(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert (status["KeyId"], status["KeyRotationEnabled"]) == (key["Arn"], False)
    assert "RotationPeriodInDays" not in status and "NextRotationDate" not in status

    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key["Arn"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 90)
    expected = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=90)
    assert abs((status["NextRotationDate"] - expected).total_seconds()) < 60
    assert "OnDemandRotationStartDate" not in status  # no on-demand rotation in progress

    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=2560)  # changes the period
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["RotationPeriodInDays"] == 2560
    kms.enable_key_rotation(KeyId=key["KeyId"])  # no period: the API's default
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["RotationPeriodInDays"] == 365

    kms.disable_key_rotation(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False and "RotationPeriodInDays" not in status


@pytest.mark.parametrize(("days", "bound"), [(89, "greater than or equal to 90"), (2561, "less than or equal to 2560")])
def test_rotation_period_outside_90_to_2560_days_is_refused(kms_env, days, bound):
    from test_fidelity_recorded import unvalidated  # sends what it is given, as other SDKs may

    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    with kms_error("ValidationException") as info:
        unvalidated(kms_env).enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=days)
    assert info.value.response["Error"]["Message"] == (
        f"1 validation error detected: Value '{days}' at 'rotationPeriodInDays' failed to satisfy constraint: "
        f"Member must have value {bound}"
    )
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


def test_automatic_rotation_is_refused_for_imported_material(kms_env):
    kms = kms_env.kms
    key = _external_key(kms)
    import_into(kms, key["KeyId"], os.urandom(32))
    with kms_error("UnsupportedOperationException") as info:
        kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=365)
    assert info.value.response["Error"]["Message"] == (
        f"{key['Arn']} origin is EXTERNAL which is not valid for this operation."
    )
    assert kms.get_key_rotation_status(KeyId=key["KeyId"])["KeyRotationEnabled"] is False


@pytest.mark.parametrize(
    "create",
    [
        {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
        {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
    ],
    ids=["rsa", "hmac"],
)
def test_automatic_rotation_is_refused_for_asymmetric_and_hmac_keys(kms_env, create):
    kms = kms_env.kms
    key = kms.create_key(**create)["KeyMetadata"]
    with kms_error("UnsupportedOperationException"):
        kms.enable_key_rotation(KeyId=key["KeyId"])


def test_a_key_pending_deletion_reports_rotation_off_until_the_deletion_is_cancelled(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    kms.enable_key_rotation(KeyId=key["KeyId"], RotationPeriodInDays=180)
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert status["KeyRotationEnabled"] is False and "NextRotationDate" not in status
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])  # the key is Disabled now: the setting stays
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 180)


def test_aws_managed_keys_always_rotate(kms_env):
    kms = kms_env.kms
    kms.encrypt(KeyId="alias/aws/ebs", Plaintext=b"makes the AWS managed key")
    key = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]
    assert key["KeyManager"] == "AWS"
    status = kms.get_key_rotation_status(KeyId=key["KeyId"])
    assert (status["KeyRotationEnabled"], status["RotationPeriodInDays"]) == (True, 365)
