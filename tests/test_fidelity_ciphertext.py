"""Issue B, points 3, 4 and 6: the blob names its key, the context is bound
unambiguously, and responses carry the fields real KMS returns."""

from __future__ import annotations

import pytest
from fidelity_support import kms_error


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
    assert reencrypted["SourceEncryptionAlgorithm"] == reencrypted["DestinationEncryptionAlgorithm"] == "SYMMETRIC_DEFAULT"
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
