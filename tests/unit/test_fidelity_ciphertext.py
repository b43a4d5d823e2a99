"""Ciphertext blobs: opaque and of the real size, they still name their key
for Decrypt, bind the encryption context unambiguously, and responses carry the fields
real KMS returns."""

from __future__ import annotations

import os
import re
import uuid

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fidelity_support import import_into, kms_error


@pytest.fixture
def kms_and_key(kms_env):
    kms = kms_env.kms
    return kms, kms.create_key()["KeyMetadata"]


def test_decrypt_with_another_key_id_is_incorrect_key(kms_and_key):
    kms, meta = kms_and_key
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with kms_error("IncorrectKeyException"):
        kms.decrypt(CiphertextBlob=blob, KeyId=other)
    assert kms.decrypt(CiphertextBlob=blob, KeyId=meta["Arn"])["Plaintext"] == b"x"


@pytest.mark.parametrize("garbage", [b"not a ciphertext", b"\x01", b"\x01\x24" + b"0" * 100, bytes(200)])
def test_garbage_is_invalid_ciphertext(kms_and_key, garbage):
    kms, _ = kms_and_key
    with kms_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=garbage)


def test_tampering_is_invalid_ciphertext(kms_and_key):
    kms, meta = kms_and_key
    blob = bytearray(kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"tamper")["CiphertextBlob"])
    blob[-1] ^= 1
    with kms_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=bytes(blob))


def test_context_is_bound_unambiguously(kms_and_key):
    kms, meta = kms_and_key
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"ctx", EncryptionContext={"a": "bc"})["CiphertextBlob"]
    for wrong in ({"ab": "c"}, {}, {"a": "bc", "x": "y"}, {"a": "BC"}, {"A": "bc"}):
        with kms_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=blob, EncryptionContext=wrong)
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "bc"})["Plaintext"] == b"ctx"


def test_context_order_does_not_matter(kms_and_key):
    kms, meta = kms_and_key
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"o", EncryptionContext={"b": "2", "a": "1"})["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob, EncryptionContext={"a": "1", "b": "2"})["Plaintext"] == b"o"


def test_responses_carry_algorithm_key_arn_and_material_id(kms_and_key):
    kms, meta = kms_and_key
    alias = f"alias/fidelity-{meta['KeyId'][:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=meta["KeyId"])
    encrypted = kms.encrypt(KeyId=alias, Plaintext=b"fields")
    assert (encrypted["KeyId"], encrypted["EncryptionAlgorithm"]) == (meta["Arn"], "SYMMETRIC_DEFAULT")
    decrypted = kms.decrypt(CiphertextBlob=encrypted["CiphertextBlob"])
    assert (decrypted["KeyId"], decrypted["EncryptionAlgorithm"]) == (meta["Arn"], "SYMMETRIC_DEFAULT")
    assert len(decrypted["KeyMaterialId"]) == 64
    other = kms.create_key()["KeyMetadata"]
    reencrypted = kms.re_encrypt(CiphertextBlob=encrypted["CiphertextBlob"], DestinationKeyId=other["KeyId"])
    assert (reencrypted["SourceKeyId"], reencrypted["KeyId"]) == (meta["Arn"], other["Arn"])
    assert (
        reencrypted["SourceEncryptionAlgorithm"] == reencrypted["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
    )
    data_key = kms.generate_data_key(KeyId=alias, KeySpec="AES_256")
    assert data_key["KeyId"] == meta["Arn"] and data_key["KeyMaterialId"] == decrypted["KeyMaterialId"]


def test_multi_region_key_ids_survive_in_the_blob(kms_env):
    kms = kms_env.kms
    meta = kms.create_key(MultiRegion=True)["KeyMetadata"]
    assert meta["KeyId"].startswith("mrk-")
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"mrk")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"mrk"
    kms.replicate_key(KeyId=meta["Arn"], ReplicaRegion="us-east-1")
    replica_region = kms_env.client("kms", region="us-east-1")
    assert replica_region.decrypt(CiphertextBlob=blob)["Plaintext"] == b"mrk"


def test_plaintext_limits(kms_and_key):
    kms, meta = kms_and_key
    kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x" * 4096)
    with kms_error("ValidationException"):
        kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"x" * 4097)


# --- opaque blobs of the real size ---------------------------------------------------------


@pytest.mark.parametrize("size", [1, 16, 32, 100, 4096])
def test_blobs_are_152_bytes_longer_than_the_plaintext(kms_and_key, size):
    """Real KMS blobs: 184 bytes for a 32-byte data key, 168 for a 16-byte one."""
    kms, meta = kms_and_key
    assert len(kms.encrypt(KeyId=meta["KeyId"], Plaintext=os.urandom(size))["CiphertextBlob"]) == 152 + size


def test_data_key_blobs_have_the_real_size(kms_and_key):
    kms, meta = kms_and_key
    assert len(kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_256")["CiphertextBlob"]) == 184
    assert len(kms.generate_data_key(KeyId=meta["KeyId"], KeySpec="AES_128")["CiphertextBlob"]) == 168
    assert len(kms.generate_data_key_without_plaintext(KeyId=meta["KeyId"], KeySpec="AES_256")["CiphertextBlob"]) == 184
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=os.urandom(32))["CiphertextBlob"]
    assert len(kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=meta["KeyId"])["CiphertextBlob"]) == 184


def test_blobs_show_nothing_of_their_key(kms_and_key):
    """No key id (text or bytes), no ARN, no material id, and no fixed header: every
    byte position varies from blob to blob, as random bytes do."""
    kms, meta = kms_and_key
    blobs = [kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"same plaintext")["CiphertextBlob"] for _ in range(24)]
    material_id = meta["CurrentKeyMaterialId"]
    for blob in blobs:
        for needle in (
            meta["KeyId"].encode(),
            meta["Arn"].encode(),
            uuid.UUID(meta["KeyId"]).bytes,
            bytes.fromhex(material_id),
            material_id.encode(),
            b"kms",
            b"arn:",
        ):
            assert needle not in blob
        assert not re.search(rb"[ -~]{20,}", blob)  # no readable text (random bytes rarely make 20 in a row)
    for position in range(len(blobs[0])):
        assert len({blob[position] for blob in blobs}) > 1, f"byte {position} is the same in every blob"


def test_every_changed_byte_is_invalid_ciphertext(kms_and_key):
    kms, meta = kms_and_key
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"t")["CiphertextBlob"]
    for position in range(len(blob)):
        changed = bytearray(blob)
        changed[position] ^= 0x80
        with kms_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=bytes(changed))
    for cut in (blob[:-1], blob[1:], blob + b"\0"):
        with kms_error("InvalidCiphertextException"):
            kms.decrypt(CiphertextBlob=cut)


def test_blobs_of_the_earlier_format_still_decrypt(kms_env):
    """Blobs written before this format (key id in clear, then IV, tag, body) decrypt
    still, so an account and files made earlier keep working; nothing writes them now."""
    from workshop_helpers.fidelity import ciphertext

    kms = kms_env.kms
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    material = os.urandom(32)
    import_into(kms, key_id, material)
    header = bytes([1, len(key_id)]) + key_id.encode()
    iv = os.urandom(12)
    sealed = AESGCM(material).encrypt(
        iv, b"old format", b"kms-workshop-ciphertext" + header + ciphertext.canonical_context({"a": "b"})
    )
    old = header + iv + sealed[-16:] + sealed[:-16]
    assert kms.decrypt(CiphertextBlob=old, EncryptionContext={"a": "b"})["Plaintext"] == b"old format"
    with kms_error("InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=old, EncryptionContext={"a": "c"})
    fresh = kms.re_encrypt(CiphertextBlob=old, SourceEncryptionContext={"a": "b"}, DestinationKeyId=key_id)
    assert not fresh["CiphertextBlob"].startswith(header)


def test_blobs_and_rotated_materials_last_with_the_account_on_disk(tmp_path):
    """Another process on the same account folder decrypts the blobs without a KeyId,
    including blobs of materials rotated out since: the blob key needs nothing stored, the
    materials are saved with the keys. (Encrypt and GenerateDataKey do not write the
    account: nothing about a blob may depend on state they create.)"""
    import json
    import subprocess
    import sys
    import textwrap

    from fidelity_support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
    env.update(
        KMS_WORKSHOP_BACKEND="moto", KMS_WORKSHOP_STATE_DIR=str(tmp_path / "account"), AWS_EC2_METADATA_DISABLED="true"
    )

    def run(code: str) -> dict:
        prelude = "import base64, json, workshop_helpers\nkms = workshop_helpers.connect().client('kms')\n"
        done = subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    made = run("""
        key = kms.create_key()["KeyMetadata"]
        old = kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
        kms.rotate_key_on_demand(KeyId=key["KeyId"])
        new = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"after rotation")["CiphertextBlob"]
        print(json.dumps({"old": base64.b64encode(old["CiphertextBlob"]).decode(), "key": old["Plaintext"].hex(),
                          "old_id": old["KeyMaterialId"], "new": base64.b64encode(new).decode()}))
    """)
    opened = run(f"""
        old = kms.decrypt(CiphertextBlob=base64.b64decode({made["old"]!r}))
        new = kms.decrypt(CiphertextBlob=base64.b64decode({made["new"]!r}))
        print(json.dumps({{"key": old["Plaintext"].hex(), "old_id": old["KeyMaterialId"],
                          "new": new["Plaintext"].decode(), "new_id": new["KeyMaterialId"]}}))
    """)
    assert (opened["key"], opened["old_id"], opened["new"]) == (made["key"], made["old_id"], "after rotation")
    assert opened["new_id"] != opened["old_id"]
