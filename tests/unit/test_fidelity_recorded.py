"""The simulation answers as real AWS KMS answers, in-process and over the endpoint.

Each test pins an answer to what AWS documents (the KMS API reference, as shipped in
botocore's service model) or to what real AWS was recorded answering (public KMS test
suites run against AWS, e.g. LocalStack's tests/aws/services/kms/test_kms.snapshot.json):
error codes, HTTP status, messages where AWS's are known, response fields. The numbers in
the section titles are the issue's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re

import pytest
from fidelity_support import ACCOUNT, REGION, import_into, kms_error, unique, wrap

pytestmark = pytest.mark.usefixtures("kms_env")

MATERIAL_ID = re.compile(r"^[a-f0-9]{64}$")
INCORRECT_KEY = "The key ID in the request does not identify a CMK that can perform this operation."
# What real AWS answered to DescribeKey, by kind of key (recorded), apart from the values.
SYMMETRIC_FIELDS = {
    "AWSAccountId", "Arn", "CreationDate", "CurrentKeyMaterialId", "CustomerMasterKeySpec", "Description",
    "Enabled", "EncryptionAlgorithms", "KeyId", "KeyManager", "KeySpec", "KeyState", "KeyUsage", "MultiRegion",
    "Origin",
}  # fmt: skip
SIGNING_FIELDS = SYMMETRIC_FIELDS - {"CurrentKeyMaterialId", "EncryptionAlgorithms"} | {"SigningAlgorithms"}
HMAC_FIELDS = SYMMETRIC_FIELDS - {"CurrentKeyMaterialId", "EncryptionAlgorithms"} | {"MacAlgorithms"}
RSA_ENCRYPT_FIELDS = SYMMETRIC_FIELDS - {"CurrentKeyMaterialId"}
EXTERNAL_PENDING_FIELDS = SYMMETRIC_FIELDS - {"CurrentKeyMaterialId"}


# --- helpers ------------------------------------------------------------------------------


def unvalidated(env):
    """A KMS client that sends what it is given (botocore's client-side checks off), as
    other SDKs may: what the server itself answers."""
    from botocore.config import Config

    from workshop_helpers.backend import client_config

    cached = getattr(env, "_unvalidated_kms", None)
    if cached is None:
        _ = env.kms  # the environment's session (made after connect() in-process)
        cached = env._session.client(
            "kms",
            region_name=REGION,
            endpoint_url=env.endpoint_url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=client_config().merge(Config(parameter_validation=False)),
        )
        env._unvalidated_kms = cached
    return cached


@contextlib.contextmanager
def raw_bodies(kms):
    """The JSON bodies of the client's responses, as they came over the wire."""
    bodies: list[dict] = []

    def keep(http_response, **_):
        bodies.append(json.loads(http_response.content or b"{}"))

    kms.meta.events.register("after-call.kms", keep)
    try:
        yield bodies
    finally:
        kms.meta.events.unregister("after-call.kms", keep)


def message_of(info) -> str:
    return info.value.response["Error"]["Message"]


def status_of(info) -> int:
    return info.value.response["ResponseMetadata"]["HTTPStatusCode"]


def external_key(kms, **create) -> dict:
    return kms.create_key(Origin="EXTERNAL", **create)["KeyMetadata"]


def import_new(kms, key_id: str, material: bytes, **args) -> dict:
    """ImportKeyMaterial with ImportType NEW_KEY_MATERIAL (rotation of imported material)."""
    return import_into(kms, key_id, material, ImportType="NEW_KEY_MATERIAL", **args)


def key_count(kms) -> int:
    return sum(len(page["Keys"]) for page in kms.get_paginator("list_keys").paginate())


# --- 1. KeyMetadata always carries MultiRegion ----------------------------------------------


def test_key_metadata_always_carries_multi_region(kms_env):
    kms = kms_env.kms
    single = kms.create_key()["KeyMetadata"]
    assert single["MultiRegion"] is False
    assert kms.describe_key(KeyId=single["KeyId"])["KeyMetadata"]["MultiRegion"] is False
    assert "MultiRegionConfiguration" not in single
    multi = kms.create_key(MultiRegion=True)["KeyMetadata"]
    assert multi["MultiRegion"] is True
    assert multi["MultiRegionConfiguration"]["MultiRegionKeyType"] == "PRIMARY"
    assert re.fullmatch(r"mrk-[0-9a-f]{32}", multi["KeyId"]), multi["KeyId"]  # as KMS makes them


@pytest.mark.parametrize(
    ("create", "fields"),
    [
        ({}, SYMMETRIC_FIELDS),
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, SIGNING_FIELDS),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, HMAC_FIELDS),
        ({"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"}, RSA_ENCRYPT_FIELDS),
        ({"Origin": "EXTERNAL"}, EXTERNAL_PENDING_FIELDS),
    ],
    ids=["symmetric", "ecc-sign", "hmac", "rsa-encrypt", "external-pending-import"],
)
def test_key_metadata_has_the_fields_aws_returns(kms_env, create, fields):
    kms = kms_env.kms
    created = kms.create_key(**create)["KeyMetadata"]
    described = kms.describe_key(KeyId=created["KeyId"])["KeyMetadata"]
    assert set(created) == set(described) == fields, set(described) ^ fields
    if create.get("KeySpec") == "HMAC_256":
        assert described["MacAlgorithms"] == ["HMAC_SHA_256"]
    if create.get("KeySpec") == "RSA_2048":
        assert described["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    if create.get("KeySpec") == "ECC_NIST_P256":
        assert described["SigningAlgorithms"] == ["ECDSA_SHA_256"]


# --- 2. CurrentKeyMaterialId after DeleteImportedKeyMaterial --------------------------------


def test_current_key_material_id_survives_deleting_the_material(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    material_id = import_into(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    after_import = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert after_import["CurrentKeyMaterialId"] == material_id
    assert after_import["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"

    deleted = kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert (deleted["KeyId"], deleted["KeyMaterialId"]) == (key["Arn"], material_id)
    after_delete = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert after_delete["CurrentKeyMaterialId"] == material_id
    assert (after_delete["KeyState"], after_delete["Enabled"]) == ("PendingImport", False)
    assert "ExpirationModel" not in after_delete
    with kms_error("KMSInvalidStateException") as info:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    assert message_of(info) == f"{key['Arn']} is pending import."


# --- 3. ImportKeyMaterial's default ExpirationModel is KEY_MATERIAL_EXPIRES -----------------


def _import_raw(kms, key_id: str, material: bytes, **args):
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], material),
        **args,
    )


def test_import_without_expiration_model_expires_and_needs_valid_to(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    material = os.urandom(32)
    with kms_error("ValidationException") as info:
        _import_raw(kms, key["KeyId"], material)
    assert message_of(info) == "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES"
    assert status_of(info) == 400
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"

    valid_to = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=30)
    _import_raw(kms, key["KeyId"], material, ValidTo=valid_to)  # no ExpirationModel: it expires
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["ExpirationModel"], meta["KeyState"]) == ("KEY_MATERIAL_EXPIRES", "Enabled")
    assert abs((meta["ValidTo"] - valid_to).total_seconds()) < 1


def test_valid_to_rules(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    too_late = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=366)
    with kms_error("ValidationException"):
        _import_raw(kms, key["KeyId"], os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=too_late)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)
    with kms_error("ValidationException"):
        _import_raw(kms, key["KeyId"], os.urandom(32), ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE", ValidTo=soon)


# --- 4. ImportType NEW_KEY_MATERIAL and on-demand rotation of imported material -------------


def test_new_key_material_then_rotate_on_demand(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    first = import_into(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"before")["CiphertextBlob"]

    second = import_new(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    assert MATERIAL_ID.match(second) and second != first
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["CurrentKeyMaterialId"], meta["KeyState"]) == (first, "Enabled")  # pending until rotated
    listed = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["ImportState"]) for r in listed] == [
        (first, "CURRENT", "IMPORTED"),
        (second, "PENDING_ROTATION", "IMPORTED"),
    ]
    assert kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"] == []  # no rotation yet

    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"] == second
    new_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=new_blob)["KeyMaterialId"] == second
    old = kms.decrypt(CiphertextBlob=old_blob, KeyId=key["KeyId"])
    assert (old["Plaintext"], old["KeyMaterialId"]) == (b"before", first)
    rotations = kms.list_key_rotations(KeyId=key["KeyId"])["Rotations"]
    assert [(r["KeyMaterialId"], r["KeyMaterialState"], r["RotationType"]) for r in rotations] == [
        (second, "CURRENT", "ON_DEMAND")
    ]
    assert "RotationDate" in rotations[0]


def test_only_one_material_can_be_pending_rotation(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    import_into(kms, key["KeyId"], os.urandom(32))
    pending = import_new(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    with kms_error("KMSInvalidStateException") as info:
        import_new(kms, key["KeyId"], os.urandom(32))
    assert re.fullmatch(
        rf"New key material \(id: [a-f0-9]{{64}}\) cannot be imported into KMS key {key['KeyId']}, because "
        rf"another key material \(id: {pending}\) is pending rotation\.",
        message_of(info),
    ), message_of(info)


def test_rotation_needs_imported_material_pending_rotation(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    with kms_error("KMSInvalidStateException") as info:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert message_of(info) == f"{key['Arn']} is pending import."
    import_into(kms, key["KeyId"], os.urandom(32))
    with kms_error("KMSInvalidStateException") as info:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert message_of(info) == f"No available key material pending rotation for the key: {key['Arn']}."


def test_import_types_and_key_material_ids(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    material = os.urandom(32)
    material_id = import_into(kms, key["KeyId"], material)["KeyMaterialId"]
    with kms_error("IncorrectKeyMaterialException"):  # NEW, but already associated with the key
        import_new(kms, key["KeyId"], material)
    with kms_error("IncorrectKeyMaterialException"):  # EXISTING, but another id
        import_into(kms, key["KeyId"], material, KeyMaterialId="0" * 64)
    assert import_into(kms, key["KeyId"], material, KeyMaterialId=material_id)["KeyMaterialId"] == material_id
    with kms_error("ValidationException"):
        import_new(kms, key["KeyId"], os.urandom(32), KeyMaterialId=material_id)
    with kms_error("ValidationException") as info:
        import_into(kms, key["KeyId"], material, ImportType="SOMETIMES")
    assert "at 'importType' failed to satisfy constraint: Member must satisfy enum value set:" in message_of(info)


def test_deleting_an_older_material_makes_the_key_pending_import(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    first_material, second_material = os.urandom(32), os.urandom(32)
    first = import_into(kms, key["KeyId"], first_material)["KeyMaterialId"]
    old_blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"old")["CiphertextBlob"]
    import_new(kms, key["KeyId"], second_material, KeyMaterialDescription="second one")
    kms.rotate_key_on_demand(KeyId=key["KeyId"])

    deleted = kms.delete_imported_key_material(KeyId=key["KeyId"], KeyMaterialId=first)
    assert deleted["KeyMaterialId"] == first
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
    listed = kms.list_key_rotations(KeyId=key["KeyId"], IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(r["KeyMaterialState"], r["ImportState"]) for r in listed] == [
        ("NON_CURRENT", "PENDING_IMPORT"),
        ("CURRENT", "IMPORTED"),
    ]
    assert listed[1]["KeyMaterialDescription"] == "second one"

    import_into(kms, key["KeyId"], first_material)  # EXISTING_KEY_MATERIAL by default
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert kms.decrypt(CiphertextBlob=old_blob)["Plaintext"] == b"old"


def test_deleting_material_pending_rotation_lets_other_material_take_its_place(kms_env):
    kms = kms_env.kms
    key = external_key(kms)
    import_into(kms, key["KeyId"], os.urandom(32))
    pending = import_new(kms, key["KeyId"], os.urandom(32))["KeyMaterialId"]
    kms.delete_imported_key_material(KeyId=key["KeyId"], KeyMaterialId=pending)
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    import_new(kms, key["KeyId"], os.urandom(32))  # no longer blocked by the deleted one


def test_rotating_a_key_kms_made_changes_its_current_material(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    before = key["CurrentKeyMaterialId"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"kept")["CiphertextBlob"]
    assert kms.rotate_key_on_demand(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    after = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    assert MATERIAL_ID.match(after) and after != before
    decrypted = kms.decrypt(CiphertextBlob=blob)
    assert (decrypted["Plaintext"], decrypted["KeyMaterialId"]) == (b"kept", before)
    assert kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")["KeyMaterialId"] == after
    with kms_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=blob + b"bad_data")


def test_rotation_errors(kms_env):
    kms = kms_env.kms
    rsa = kms.create_key(KeySpec="RSA_4096", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    with raw_bodies(kms) as bodies, kms_error("UnsupportedOperationException") as info:
        kms.rotate_key_on_demand(KeyId=rsa["KeyId"])
    assert message_of(info) == "" and bodies[-1] == {"__type": "UnsupportedOperationException"}  # no message
    disabled = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=disabled["KeyId"])
    with kms_error("DisabledException") as info:
        kms.rotate_key_on_demand(KeyId=disabled["KeyId"])
    assert message_of(info) == f"{disabled['Arn']} is disabled."
    missing = "1234abcd-12ab-34cd-56ef-1234567890ab"
    with kms_error("NotFoundException") as info:
        kms.rotate_key_on_demand(KeyId=missing)
    assert message_of(info) == f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{missing}' does not exist"
    imported = external_key(kms)
    with kms_error("UnsupportedOperationException") as info:
        kms.enable_key_rotation(KeyId=imported["KeyId"])  # automatic rotation: not for imported material
    assert message_of(info) == f"{imported['Arn']} origin is EXTERNAL which is not valid for this operation."


def test_on_demand_rotations_are_limited(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    for _ in range(25):
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    with kms_error("LimitExceededException") as info:
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
    assert message_of(info) == (
        "The on-demand rotations limit has been reached for the given keyId. "
        f"No more on-demand rotations can be performed for this key: {key['Arn']}"
    )


# --- 5. GetParametersForImport on every kind of EXTERNAL key --------------------------------


@pytest.mark.parametrize(
    "create",
    [
        {"KeySpec": "RSA_2048", "KeyUsage": "ENCRYPT_DECRYPT"},
        {"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"},
        {"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"},
    ],
    ids=["rsa", "ecc", "hmac"],
)
def test_parameters_for_import_for_asymmetric_and_hmac_keys(kms_env, create):
    kms = kms_env.kms
    key = external_key(kms, **create)
    assert (key["KeyState"], key["Enabled"]) == ("PendingImport", False)
    params = kms.get_parameters_for_import(
        KeyId=key["KeyId"], WrappingAlgorithm="RSA_AES_KEY_WRAP_SHA_256", WrappingKeySpec="RSA_4096"
    )
    assert params["KeyId"] == key["Arn"] and params["ImportToken"] and params["PublicKey"]


def test_parameters_for_import_refused_for_keys_kms_made(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    with kms_error("UnsupportedOperationException") as info:
        kms.get_parameters_for_import(
            KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    assert message_of(info) == f"{key['Arn']} origin is AWS_KMS which is not valid for this operation."


# --- 6. InvalidCiphertextException carries no message field ----------------------------------


def test_invalid_ciphertext_has_no_message_field(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ctx", EncryptionContext={"a": "b"})["CiphertextBlob"]
    for attempt in ({"CiphertextBlob": blob}, {"CiphertextBlob": b"not a ciphertext blob at all"}):
        with raw_bodies(kms) as bodies, kms_error("InvalidCiphertextException") as info:
            kms.decrypt(**attempt)
        assert bodies[-1] == {"__type": "InvalidCiphertextException"}
        assert (message_of(info), status_of(info)) == ("", 400)


# --- 7. wording where AWS's is known --------------------------------------------------------


def test_incorrect_key_wording(kms_env):
    kms = kms_env.kms
    source = kms.create_key()["KeyMetadata"]
    other = kms.create_key(KeySpec="HMAC_224", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    blob = kms.encrypt(KeyId=source["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with kms_error("IncorrectKeyException") as info:
        kms.decrypt(CiphertextBlob=blob, KeyId=other["KeyId"])
    assert message_of(info) == INCORRECT_KEY
    with kms_error("IncorrectKeyException") as info:
        kms.re_encrypt(CiphertextBlob=blob, SourceKeyId=other["KeyId"], DestinationKeyId=source["KeyId"])
    assert message_of(info) == INCORRECT_KEY


@pytest.mark.parametrize(
    ("create", "call", "operation"),
    [
        ({"KeySpec": "ECC_NIST_P256", "KeyUsage": "SIGN_VERIFY"}, "encrypt", "Encrypt"),
        ({"KeySpec": "HMAC_256", "KeyUsage": "GENERATE_VERIFY_MAC"}, "generate_data_key", "GenerateDataKey"),
    ],
)
def test_key_usage_wording(kms_env, create, call, operation):
    kms = kms_env.kms
    key = kms.create_key(**create)["KeyMetadata"]
    arguments = {"Plaintext": b"x"} if call == "encrypt" else {"KeySpec": "AES_256"}
    with kms_error("InvalidKeyUsageException") as info:
        getattr(kms, call)(KeyId=key["KeyId"], **arguments)
    assert message_of(info) == f"{key['Arn']} key usage is {create['KeyUsage']} which is not valid for {operation}."


@pytest.mark.parametrize("key_id", ["fake-key-id", "134f2428cec14b25a1ae9048164dba47", "mrk-fake-key-id"])
def test_malformed_key_id_wording(kms_env, key_id):
    with kms_error("NotFoundException") as info:
        kms_env.kms.describe_key(KeyId=key_id)
    assert message_of(info) == f"Invalid keyId '{key_id}'"


def test_missing_key_wording(kms_env):
    kms = kms_env.kms
    for key_id in ("mrk-d3b95762d3b95762d3b95762d3b95762", "1234abcd-12ab-34cd-56ef-1234567890ab"):
        arn = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{key_id}"
        for given in (key_id, arn):
            with kms_error("NotFoundException") as info:
                kms.describe_key(KeyId=given)
            assert message_of(info) == f"Key '{arn}' does not exist"


def test_a_key_of_another_region(kms_env):
    key = kms_env.client("kms", region="us-west-2").create_key()["KeyMetadata"]
    kms = kms_env.kms
    with kms_error("NotFoundException") as info:
        kms.describe_key(KeyId=key["KeyId"])
    assert message_of(info) == f"Key 'arn:aws:kms:{REGION}:{ACCOUNT}:key/{key['KeyId']}' does not exist"
    for call, arguments in (("describe_key", {}), ("encrypt", {"Plaintext": b"x"})):
        with kms_error("NotFoundException") as info:
            getattr(kms, call)(KeyId=key["Arn"], **arguments)
        assert message_of(info) == "Invalid arn us-west-2"


def test_alias_prefix_wording(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    expected = (
        'Alias must start with the prefix "alias/". Please see '
        "https://docs.aws.amazon.com/kms/latest/developerguide/kms-alias.html"
    )
    with kms_error("ValidationException") as info:
        kms.create_alias(AliasName=unique("no-prefix"), TargetKeyId=key["KeyId"])
    assert message_of(info) == expected


# --- 8. CreateKey validates, and makes no key when it refuses --------------------------------


def test_non_symmetric_key_specs_need_a_key_usage(kms_env):
    kms = kms_env.kms
    before = key_count(kms)
    for spec in ("HMAC_256", "RSA_2048", "ECC_NIST_P256"):
        with kms_error("ValidationException") as info:
            kms.create_key(KeySpec=spec)
        assert message_of(info) == (
            "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys."
        )
    assert key_count(kms) == before


def test_unknown_key_spec_and_key_usage(kms_env):
    kms = kms_env.kms
    before = key_count(kms)
    with kms_error("ValidationException") as info:
        kms.create_key(KeySpec="HMAC_random", KeyUsage="GENERATE_VERIFY_MAC")
    assert message_of(info).startswith(
        "1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy constraint: "
        "Member must satisfy enum value set: [RSA_2048, "
    )
    assert "HMAC_256" in message_of(info) and "SYMMETRIC_DEFAULT" in message_of(info)
    with kms_error("ValidationException") as info:
        kms.create_key(KeyUsage="RANDOM")
    assert message_of(info).startswith(
        "1 validation error detected: Value 'RANDOM' at 'keyUsage' failed to satisfy constraint: "
        "Member must satisfy enum value set: ["
    )
    assert all(usage in message_of(info) for usage in ("ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"))
    assert key_count(kms) == before


@pytest.mark.parametrize(
    ("spec", "usage"),
    [
        ("HMAC_256", "ENCRYPT_DECRYPT"),
        ("SYMMETRIC_DEFAULT", "SIGN_VERIFY"),
        ("ECC_NIST_P256", "ENCRYPT_DECRYPT"),
        ("RSA_2048", "GENERATE_VERIFY_MAC"),
    ],
)
def test_key_usage_must_suit_the_key_spec(kms_env, spec, usage):
    kms = kms_env.kms
    before = key_count(kms)
    with kms_error("ValidationException"):
        kms.create_key(KeySpec=spec, KeyUsage=usage)
    assert key_count(kms) == before


@pytest.mark.parametrize(
    ("tags", "code", "message"),
    [
        ([{"TagKey": "aws:key1", "TagValue": "v"}], "TagException", "Tags beginning with aws: are reserved"),
        ([{"TagKey": "AWS:key1", "TagValue": "v"}], "TagException", "Tags beginning with aws: are reserved"),
        ([{"TagKey": f"key{i}", "TagValue": f"value{i}"} for i in range(51)], "TagException", "Too many tags"),
        ([{"TagKey": "t", "TagValue": "1"}, {"TagKey": "t", "TagValue": "2"}], "TagException", "Duplicate tag keys"),
        (
            [{"TagKey": "a" * 129, "TagValue": "v"}],
            "ValidationException",
            f"1 validation error detected: Value '{'a' * 129}' at 'tags.1.member.tagKey' failed to satisfy "
            "constraint: Member must have length less than or equal to 128",
        ),
        (
            [{"TagKey": "k", "TagValue": "v" * 257}],
            "ValidationException",
            f"1 validation error detected: Value '{'v' * 257}' at 'tags.1.member.tagValue' failed to satisfy "
            "constraint: Member must have length less than or equal to 256",
        ),
    ],
    ids=["aws-prefix", "AWS-prefix", "51-tags", "duplicate", "long-key", "long-value"],
)
def test_tags_are_checked_and_no_key_is_made(kms_env, tags, code, message):
    kms = kms_env.kms
    before = key_count(kms)
    with kms_error(code) as info:
        kms.create_key(Tags=tags)
    assert (message_of(info), status_of(info)) == (message, 400)
    assert key_count(kms) == before


def test_tag_resource_applies_the_same_rules(kms_env):
    kms = kms_env.kms
    key = kms.create_key(Tags=[{"TagKey": f"key{i}", "TagValue": "v"} for i in range(50)])["KeyMetadata"]
    with kms_error("TagException") as info:
        kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "one-more", "TagValue": "v"}])
    assert message_of(info) == "Too many tags"
    kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "key0", "TagValue": "replaced"}])  # a replacement
    with kms_error("TagException") as info:
        kms.tag_resource(
            KeyId=key["KeyId"], Tags=[{"TagKey": "tag1", "TagValue": "a"}, {"TagKey": "tag1", "TagValue": "b"}]
        )
    assert message_of(info) == "Duplicate tag keys"
    with kms_error("TagException"):
        kms.tag_resource(KeyId=key["KeyId"], Tags=[{"TagKey": "aws:mine", "TagValue": "v"}])
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key["KeyId"])["Tags"]}
    assert len(tags) == 50 and tags["key0"] == "replaced"


# --- 9. GenerateRandom ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({}, "NumberOfBytes is required."),
        (
            {"NumberOfBytes": 0},
            "1 validation error detected: Value '0' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value greater than or equal to 1",
        ),
        (
            {"NumberOfBytes": 1025},
            "1 validation error detected: Value '1025' at 'numberOfBytes' failed to satisfy "
            "constraint: Member must have value less than or equal to 1024",
        ),
    ],
    ids=["missing", "zero", "too-many"],
)
def test_generate_random_validation(kms_env, arguments, message):
    with kms_error("ValidationException") as info:
        unvalidated(kms_env).generate_random(**arguments)
    assert (message_of(info), status_of(info)) == (message, 400)


@pytest.mark.parametrize("count", [1, 12, 1024])
def test_generate_random_lengths(kms_env, count):
    assert len(kms_env.kms.generate_random(NumberOfBytes=count)["Plaintext"]) == count


# --- the sweep: the rest of the workshop's operations ------------------------------------------


def test_api_constraints_are_checked_as_aws_checks_them(kms_env):
    kms, raw = kms_env.kms, unvalidated(kms_env)
    key = kms.create_key()["KeyMetadata"]
    with kms_error("ValidationException") as info:
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x" * 4097)  # botocore does not check maximums
    assert message_of(info) == (
        "1 validation error detected: Value at 'plaintext' failed to satisfy constraint: "
        "Member must have length less than or equal to 4096"
    )
    with kms_error("ValidationException") as info:
        raw.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_512", NumberOfBytes=2048)
    assert message_of(info) == (
        "2 validation errors detected: "
        "Value '2048' at 'numberOfBytes' failed to satisfy constraint: "
        "Member must have value less than or equal to 1024; "
        "Value 'AES_512' at 'keySpec' failed to satisfy constraint: "
        "Member must satisfy enum value set: [AES_256, AES_128]"
    )
    with kms_error("ValidationException") as info:
        raw.encrypt(Plaintext=b"x")
    assert message_of(info) == (
        "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null"
    )
    with kms_error("ValidationException") as info:
        kms.create_alias(AliasName="alias/not valid!", TargetKeyId=key["KeyId"])
    assert message_of(info) == (
        "1 validation error detected: Value 'alias/not valid!' at 'aliasName' failed to "
        "satisfy constraint: Member must satisfy regular expression pattern: "
        "^[a-zA-Z0-9:/_-]+$"
    )


def test_generate_data_key_takes_key_spec_or_number_of_bytes(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    for arguments in ({}, {"KeySpec": "AES_256", "NumberOfBytes": 32}):
        for call in (kms.generate_data_key, kms.generate_data_key_without_plaintext):
            with kms_error("ValidationException"):
                call(KeyId=key["KeyId"], **arguments)
    answer = kms.generate_data_key(KeyId=key["KeyId"], NumberOfBytes=64)
    assert len(answer["Plaintext"]) == 64 and len(answer["CiphertextBlob"]) == 152 + 64
    without = kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_128")
    assert set(without) - {"ResponseMetadata"} == {"CiphertextBlob", "KeyId", "KeyMaterialId"}
    assert len(kms.decrypt(CiphertextBlob=without["CiphertextBlob"])["Plaintext"]) == 16


def test_dry_run_answers_without_doing_anything(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    calls = [
        ("encrypt", {"KeyId": key["KeyId"], "Plaintext": b"x"}),
        ("decrypt", {"CiphertextBlob": blob}),
        ("re_encrypt", {"CiphertextBlob": blob, "DestinationKeyId": key["KeyId"]}),
        ("generate_data_key", {"KeyId": key["KeyId"], "KeySpec": "AES_256"}),
        ("generate_data_key_without_plaintext", {"KeyId": key["KeyId"], "KeySpec": "AES_256"}),
        (
            "create_grant",
            {"KeyId": key["KeyId"], "GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:root", "Operations": ["Decrypt"]},
        ),
    ]
    for call, arguments in calls:
        with kms_error("DryRunOperationException") as info:
            getattr(kms, call)(DryRun=True, **arguments)
        assert status_of(info) == 400
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    grant = kms.create_grant(
        KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Decrypt"]
    )
    with kms_error("DryRunOperationException"):
        kms.revoke_grant(KeyId=key["KeyId"], GrantId=grant["GrantId"], DryRun=True)
    with kms_error("DryRunOperationException"):
        kms.retire_grant(GrantToken=grant["GrantToken"], DryRun=True)
    assert [g["GrantId"] for g in kms.list_grants(KeyId=key["KeyId"])["Grants"]] == [grant["GrantId"]]
    kms.disable_key(KeyId=key["KeyId"])
    with kms_error("DisabledException"):  # a dry run that would fail fails as the call would
        kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", DryRun=True)


def test_key_policy_name_is_optional(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    answer = kms.get_key_policy(KeyId=key["KeyId"])
    assert answer["PolicyName"] == "default"
    assert json.loads(answer["Policy"])["Statement"][0]["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}
    document = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                }
            ],
        }
    )
    kms.put_key_policy(KeyId=key["KeyId"], Policy=document)
    assert kms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"] == document
    assert kms.list_key_policies(KeyId=key["KeyId"])["PolicyNames"] == ["default"]


def test_grants_as_kms_lists_them(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    made = kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root",
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"a": "b"}},
    )
    assert MATERIAL_ID.match(made["GrantId"]) and len(made["GrantToken"]) > 64
    listed = kms.list_grants(KeyId=key["Arn"])["Grants"]
    assert len(listed) == 1
    grant = listed[0]
    assert (grant["KeyId"], grant["GrantId"], grant["IssuingAccount"]) == (
        key["Arn"],
        made["GrantId"],
        f"arn:aws:iam::{ACCOUNT}:root",
    )
    assert grant["Constraints"] == {"EncryptionContextSubset": {"a": "b"}} and "CreationDate" in grant
    assert "Name" not in grant and "RetiringPrincipal" not in grant
    with kms_error("NotFoundException"):
        kms.retire_grant(KeyId=key["Arn"], GrantId="0" * 64)
    with kms_error("InvalidGrantTokenException"):
        kms.retire_grant(GrantToken="not-a-grant-token")
    kms.retire_grant(GrantToken=made["GrantToken"])
    assert kms.list_grants(KeyId=key["KeyId"])["Grants"] == []
    with kms_error("ValidationException") as info:
        kms.create_grant(KeyId=key["KeyId"], GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Bogus"])
    assert (
        "at 'operations' failed to satisfy constraint: Member must satisfy constraint: [Member must satisfy enum"
        in message_of(info)
    )


def test_aliases_as_kms_lists_them(kms_env):
    kms = kms_env.kms
    key, other = kms.create_key()["KeyMetadata"], kms.create_key()["KeyMetadata"]
    name = f"alias/{unique('listed')}"
    kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    created = next(a for a in kms.list_aliases(KeyId=key["KeyId"])["Aliases"] if a["AliasName"] == name)
    assert created["TargetKeyId"] == key["KeyId"]
    assert created["AliasArn"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:{name}"
    assert created["CreationDate"] == created["LastUpdatedDate"]
    kms.update_alias(AliasName=name, TargetKeyId=other["KeyId"])
    updated = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == name)
    assert updated["TargetKeyId"] == other["KeyId"] and updated["LastUpdatedDate"] >= updated["CreationDate"]
    with kms_error("AlreadyExistsException") as info:
        kms.create_alias(AliasName=name, TargetKeyId=key["KeyId"])
    assert message_of(info) == f"An alias with the name arn:aws:kms:{REGION}:{ACCOUNT}:{name} already exists"
    with kms_error("NotAuthorizedException"):  # the alias/aws/ space is AWS's
        kms.create_alias(AliasName=f"alias/aws/{unique('mine')}", TargetKeyId=key["KeyId"])
    kms.delete_alias(AliasName=name)
    with kms_error("NotFoundException") as info:
        kms.delete_alias(AliasName=name)
    assert message_of(info) == f"Alias arn:aws:kms:{REGION}:{ACCOUNT}:{name} is not found."


def test_aws_managed_keys(kms_env):
    kms = kms_env.kms
    unmade = [a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/redshift"]
    if unmade and "TargetKeyId" not in unmade[0]:  # not used yet in this account: no key behind it
        assert "CreationDate" not in unmade[0]
    meta = kms.describe_key(KeyId="alias/aws/ebs")["KeyMetadata"]  # KMS makes it on first use
    assert meta["KeyManager"] == "AWS"
    ebs = next(a for a in kms.list_aliases()["Aliases"] if a["AliasName"] == "alias/aws/ebs")
    assert ebs["TargetKeyId"] == meta["KeyId"]


def test_key_state_changes_answer_as_kms(kms_env):
    kms = kms_env.kms
    key = kms.create_key()["KeyMetadata"]
    kms.disable_key(KeyId=key["KeyId"])
    with kms_error("DisabledException") as info:
        kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    assert message_of(info) == f"{key['Arn']} is disabled."
    kms.enable_key(KeyId=key["Arn"])
    scheduled = kms.schedule_key_deletion(KeyId=key["Arn"], PendingWindowInDays=7)
    assert (scheduled["KeyId"], scheduled["KeyState"], scheduled["PendingWindowInDays"]) == (
        key["Arn"],
        "PendingDeletion",
        7,
    )
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["PendingDeletionWindowInDays"]) == ("PendingDeletion", False, 7)
    assert meta["DeletionDate"] == scheduled["DeletionDate"]
    for call, arguments in (("enable_key", {}), ("disable_key", {}), ("encrypt", {"Plaintext": b"x"})):
        with kms_error("KMSInvalidStateException") as info:
            getattr(kms, call)(KeyId=key["KeyId"], **arguments)
        assert message_of(info) == f"{key['Arn']} is pending deletion."
    assert kms.cancel_key_deletion(KeyId=key["KeyId"])["KeyId"] == key["Arn"]
    meta = kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]
    assert (meta["KeyState"], "DeletionDate" in meta, "PendingDeletionWindowInDays" in meta) == (
        "Disabled",
        False,
        False,
    )


def test_deleting_imported_material_of_a_key_pending_deletion(kms_env):
    """DeleteImportedKeyMaterial leaves a key PendingDeletion as it is (API reference);
    cancelling the deletion then leaves it PendingImport."""
    kms = kms_env.kms
    key = external_key(kms)
    import_into(kms, key["KeyId"], os.urandom(32))
    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    kms.delete_imported_key_material(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
    with kms_error("KMSInvalidStateException"):
        kms.get_parameters_for_import(
            KeyId=key["KeyId"], WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
        )
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    assert kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "PendingImport"
