"""Key import (BYOK), in-process and over the endpoint."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from cryptography.hazmat.primitives import serialization
from fidelity_support import ACCOUNT, import_into, kms_error, wrap


def _external_key(kms) -> str:
    return kms.create_key(Origin="EXTERNAL", Description="fidelity import")["KeyMetadata"]["KeyId"]


def _params(kms, key_id, algorithm="RSAES_OAEP_SHA_256", spec="RSA_2048"):
    return kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm=algorithm, WrappingKeySpec=spec)


def test_external_key_starts_pending_import_and_refuses_use(kms_env):
    kms = kms_env.kms
    meta = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["Origin"]) == ("PendingImport", False, "EXTERNAL")
    with kms_error("KMSInvalidStateException"):
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")
    with kms_error("KMSInvalidStateException"):
        kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")


@pytest.mark.parametrize("algorithm", ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256", "RSA_AES_KEY_WRAP_SHA_256"])
def test_import_makes_the_key_encrypt_with_that_material(kms_env, algorithm):
    kms = kms_env.kms
    key_id = _external_key(kms)
    params = _params(kms, key_id, algorithm)
    public_key = serialization.load_der_public_key(params["PublicKey"])  # real DER SPKI
    assert public_key.key_size == 2048
    assert params["KeyId"].endswith(f":key/{key_id}")
    valid_for = params["ParametersValidTo"] - dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(hours=23) < valid_for <= dt.timedelta(hours=24)

    material = os.urandom(32)
    answer = kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], material, algorithm),
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert len(answer["KeyMaterialId"]) == 64
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["Enabled"], meta["ExpirationModel"]) == (
        "Enabled",
        True,
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"imported")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"imported"


def test_the_material_really_is_the_key(kms_env):
    """Decrypt a KMS blob by hand with the imported material: the simulation uses it. (The
    blob's envelope is opened with the simulation's blob key first: blobs are opaque.)"""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from workshop_helpers.fidelity import ciphertext

    kms = kms_env.kms
    key_id = _external_key(kms)
    material = os.urandom(32)
    material_id = import_into(kms, key_id, material)["KeyMaterialId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"by hand", EncryptionContext={"a": "b"})["CiphertextBlob"]
    sealed = ciphertext.open_envelope(blob)
    assert (sealed.key_id, sealed.account_id, sealed.material_id) == (key_id, ACCOUNT, material_id)
    aad = (
        b"kms-workshop-blob/v2/body"
        + ACCOUNT.encode()
        + bytes([len(key_id)])
        + key_id.encode()
        + bytes.fromhex(material_id)
        + ciphertext.canonical_context({"a": "b"})
    )
    assert AESGCM(material).decrypt(sealed.iv, sealed.body, aad) == b"by hand"


def test_notebook_01_flow_with_alias(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    import_into(kms, key_id, os.urandom(32))
    alias = f"alias/ImportedCMK-{key_id[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    data_key = kms.generate_data_key(KeyId=alias, KeySpec="AES_256")
    assert data_key["KeyId"].endswith(key_id)
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]


def test_token_of_another_key_is_invalid(kms_env):
    kms = kms_env.kms
    key_a, key_b = _external_key(kms), _external_key(kms)
    params_b = _params(kms, key_b)
    _params(kms, key_a)
    with kms_error("InvalidImportTokenException"):
        kms.import_key_material(
            KeyId=key_a,
            ImportToken=params_b["ImportToken"],
            EncryptedKeyMaterial=wrap(params_b["PublicKey"], os.urandom(32)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )


def test_material_not_wrapped_with_the_public_key_is_invalid_ciphertext(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    params = _params(kms, key_id)
    other = _params(kms, _external_key(kms))
    with kms_error("InvalidCiphertextException"):
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(other["PublicKey"], os.urandom(32)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )


def test_material_of_the_wrong_length_is_refused(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    with kms_error("IncorrectKeyMaterialException"):
        import_into(kms, key_id, os.urandom(16))
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"


def test_different_material_into_the_same_key_is_refused(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    import_into(kms, key_id, os.urandom(32))
    with kms_error("IncorrectKeyMaterialException"):
        import_into(kms, key_id, os.urandom(32))


def test_delete_and_reimport_the_same_material(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    material = os.urandom(32)
    first = import_into(kms, key_id, material)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"survives")["CiphertextBlob"]

    deleted = kms.delete_imported_key_material(KeyId=key_id)
    assert deleted["KeyId"].endswith(key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with kms_error("KMSInvalidStateException"):
        kms.decrypt(CiphertextBlob=blob)
    with kms_error("KMSInvalidStateException"):
        kms.delete_imported_key_material(KeyId=key_id)

    again = import_into(kms, key_id, material)
    assert again["KeyMaterialId"] == first["KeyMaterialId"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"survives"


def test_import_operations_refuse_keys_kms_made(kms_env):
    kms = kms_env.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with kms_error("UnsupportedOperationException"):
        _params(kms, key_id)
    with kms_error("UnsupportedOperationException"):
        kms.delete_imported_key_material(KeyId=key_id)


def test_expiring_material_shows_valid_to(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    valid_to = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=3)
    import_into(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs((meta["ValidTo"] - valid_to).total_seconds()) < 1


def test_expiry_parameters_are_validated(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    with kms_error("ValidationException"):
        import_into(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=past)
    with kms_error("ValidationException"):
        import_into(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES")
    with kms_error("ValidationException"):
        kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_PKCS1_V1_5", WrappingKeySpec="RSA_2048")


def test_expired_material_returns_the_key_to_pending_import(moto_workshop):
    """Expiry needs time to pass: in-process, where the material's ValidTo can be moved;
    the endpoint runs the same code."""
    from workshop_helpers.fidelity import material

    kms = moto_workshop.client("kms")
    key_id = _external_key(kms)
    soon = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)
    import_into(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=soon)
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    from moto.kms.models import kms_backends

    key = kms_backends["123456789012"]["eu-west-1"].keys[key_id]
    material.current(key).valid_to -= 2 * 3600  # an hour in the past
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    with kms_error("KMSInvalidStateException"):
        kms.decrypt(CiphertextBlob=blob)


def test_expired_import_token(moto_workshop):
    from moto.kms.models import kms_backends

    from workshop_helpers.fidelity import key_import

    kms = moto_workshop.client("kms")
    key_id = _external_key(kms)
    params = _params(kms, key_id)
    key = kms_backends["123456789012"]["eu-west-1"].keys[key_id]
    key_import.state_of(key).parameters[-1].valid_to -= 25 * 3600
    with kms_error("ExpiredImportTokenException"):
        kms.import_key_material(
            KeyId=key_id,
            ImportToken=params["ImportToken"],
            EncryptedKeyMaterial=wrap(params["PublicKey"], os.urandom(32)),
            ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
        )


def test_keys_of_an_account_written_before_material_lists(moto_workshop):
    """An account on disk from before keys kept a list of materials (one material, its id
    and expiry in the import state): its keys work as before, and reimporting the same
    material is still recognised."""
    from moto.kms.models import kms_backends

    from workshop_helpers.fidelity import material as materials

    kms = moto_workshop.client("kms")
    key_id = _external_key(kms)
    secret = os.urandom(32)
    first = import_into(kms, key_id, secret)["KeyMaterialId"]
    key = kms_backends["123456789012"]["eu-west-1"].keys[key_id]
    legacy = key._workshop_import
    legacy.material_id, legacy.expiration_model, legacy.valid_to = first, "KEY_MATERIAL_DOES_NOT_EXPIRE", None
    del key._workshop_materials  # as unpickled from the earlier account format
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert (meta["KeyState"], meta["CurrentKeyMaterialId"], meta["ExpirationModel"]) == (
        "Enabled",
        first,
        "KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    assert [m.id for m in materials.materials(key)] == [first]
    kms.delete_imported_key_material(KeyId=key_id)
    assert import_into(kms, key_id, secret)["KeyMaterialId"] == first


def test_every_get_parameters_for_import_has_a_wrapping_key_of_its_own(kms_env):
    """Wrapping keys are made ahead of time: still one per call, never handed out twice,
    across keys too, and each unwraps what was wrapped under it, in any order."""
    kms = kms_env.kms
    material = os.urandom(32)
    handed_out = {}
    for key_id in (_external_key(kms), _external_key(kms)):
        # more calls than the pool holds: some keys were ready, some made on the spot
        handed_out[key_id] = [_params(kms, key_id) for _ in range(5)]
    public_keys = [params["PublicKey"] for batch in handed_out.values() for params in batch]
    assert len(set(public_keys)) == len(public_keys) == 10
    for key_id, batch in handed_out.items():
        for params in reversed(batch):
            kms.import_key_material(
                KeyId=key_id,
                ImportToken=params["ImportToken"],
                EncryptedKeyMaterial=wrap(params["PublicKey"], material),
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            )
        blob = kms.encrypt(KeyId=key_id, Plaintext=b"pooled")["CiphertextBlob"]
        assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"pooled"


def test_the_wrapping_key_pool_never_keeps_a_process_alive():
    """A process that asked for wrapping keys exits at once, even while the pool's thread is
    still making RSA-4096 keys (a thread that kept it alive would never end: it waits for
    the next request)."""
    import json
    import subprocess
    import sys
    import time

    from fidelity_support import ROOT

    code = (
        "import json, threading, workshop_helpers\n"
        "kms = workshop_helpers.connect('moto').client('kms')\n"
        "key_id = kms.create_key(Origin='EXTERNAL')['KeyMetadata']['KeyId']\n"
        "kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm='RSAES_OAEP_SHA_256',"
        " WrappingKeySpec='RSA_4096')\n"
        "print(json.dumps([t.name for t in threading.enumerate() if t.is_alive()]), flush=True)\n"
    )
    env = {**os.environ, "KMS_WORKSHOP_STATE_DIR": "memory", "PYTHONPATH": ROOT}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        threads = json.loads(proc.stdout.readline() or "[]")
        done_at = time.monotonic()
        assert proc.wait(timeout=20) == 0
        exit_seconds = time.monotonic() - done_at
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "kms-workshop-wrapping-keys" in threads  # the pool was filling when the process ended
    assert exit_seconds < 5, exit_seconds


def test_reimporting_the_same_material_changes_its_expiry(kms_env):
    """ImportKeyMaterial of the same material again is how the expiry is changed (KMS has no
    other call for it): from KEY_MATERIAL_EXPIRES to KEY_MATERIAL_DOES_NOT_EXPIRE and back."""
    kms = kms_env.kms
    key_id = _external_key(kms)
    material = os.urandom(32)
    valid_to = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=10)
    first = import_into(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)
    again = import_into(kms, key_id, material, ImportType="EXISTING_KEY_MATERIAL")
    assert again["KeyMaterialId"] == first["KeyMaterialId"]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in meta

    later = valid_to + dt.timedelta(days=20)
    import_into(kms, key_id, material, ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=later)
    listed = kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    assert [(m["KeyMaterialId"], m["ExpirationModel"]) for m in listed] == [
        (first["KeyMaterialId"], "KEY_MATERIAL_EXPIRES")
    ]
    assert abs((listed[0]["ValidTo"] - later).total_seconds()) < 1


def test_each_material_of_a_rotated_key_keeps_its_own_expiry(kms_env):
    kms = kms_env.kms
    key_id = _external_key(kms)
    valid_to = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=5)
    first = import_into(kms, key_id, os.urandom(32), ExpirationModel="KEY_MATERIAL_EXPIRES", ValidTo=valid_to)[
        "KeyMaterialId"
    ]
    second = import_into(kms, key_id, os.urandom(32), ImportType="NEW_KEY_MATERIAL")["KeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    listed = {
        m["KeyMaterialId"]: m
        for m in kms.list_key_rotations(KeyId=key_id, IncludeKeyMaterial="ALL_KEY_MATERIAL")["Rotations"]
    }
    assert listed[first]["ExpirationModel"] == "KEY_MATERIAL_EXPIRES"
    assert abs((listed[first]["ValidTo"] - valid_to).total_seconds()) < 1
    assert listed[second]["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE" and "ValidTo" not in listed[second]
    meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]  # ValidTo: the earliest expiry of any material
    assert abs((meta["ValidTo"] - valid_to).total_seconds()) < 1
