"""Key states, deletion scheduling, disable/enable by id or ARN."""

from __future__ import annotations

import datetime as dt

import pytest
from fidelity_support import kms_error

CRYPTO_CALLS = ["encrypt", "decrypt", "generate_data_key", "generate_data_key_without_plaintext", "re_encrypt"]


def _call(kms, name: str, key_id: str, blob: bytes, other_key: str):
    if name == "encrypt":
        return kms.encrypt(KeyId=key_id, Plaintext=b"x")
    if name == "decrypt":
        return kms.decrypt(CiphertextBlob=blob)
    if name == "generate_data_key":
        return kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    if name == "generate_data_key_without_plaintext":
        return kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")
    return kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=other_key)


@pytest.fixture
def key_and_blob(kms_env):
    kms = kms_env.kms
    meta = kms.create_key()["KeyMetadata"]
    other = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=meta["KeyId"], Plaintext=b"state")["CiphertextBlob"]
    return kms, meta, blob, other


def test_disabled_key_refuses_every_cryptographic_call(key_and_blob):
    kms, meta, blob, other = key_and_blob
    kms.disable_key(KeyId=meta["Arn"])  # by ARN: moto crashed with KeyError here
    for name in CRYPTO_CALLS:
        with kms_error("DisabledException"):
            _call(kms, name, meta["KeyId"], blob, other)
    kms.enable_key(KeyId=meta["Arn"])
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"state"


def test_pending_deletion_refuses_every_cryptographic_call(key_and_blob):
    kms, meta, blob, other = key_and_blob
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    for name in CRYPTO_CALLS:
        with kms_error("KMSInvalidStateException"):
            _call(kms, name, meta["KeyId"], blob, other)


def test_schedule_key_deletion_answer(key_and_blob):
    kms, meta, _, _ = key_and_blob
    answer = kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=10)
    assert answer["KeyId"] == meta["Arn"]
    assert (answer["KeyState"], answer["PendingWindowInDays"]) == ("PendingDeletion", 10)
    days = (answer["DeletionDate"] - dt.datetime.now(dt.timezone.utc)).total_seconds() / 86400
    assert 9.9 < days <= 10
    described = kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]
    assert (described["KeyState"], described["Enabled"]) == ("PendingDeletion", False)
    with kms_error("KMSInvalidStateException"):
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=10)


@pytest.mark.parametrize("days", [1, 6, 31, 365])
def test_pending_window_outside_7_to_30_is_a_validation_error(key_and_blob, days):
    kms, meta, _, _ = key_and_blob
    with kms_error("ValidationException"):
        kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=days)
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_cancel_key_deletion_leaves_the_key_disabled(key_and_blob):
    kms, meta, blob, _ = key_and_blob
    kms.schedule_key_deletion(KeyId=meta["KeyId"])
    assert kms.cancel_key_deletion(KeyId=meta["KeyId"])["KeyId"] == meta["Arn"]
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
    with kms_error("DisabledException"):
        kms.decrypt(CiphertextBlob=blob)


def test_cancel_is_refused_on_a_key_not_pending_deletion(key_and_blob):
    kms, meta, _, _ = key_and_blob
    with kms_error("KMSInvalidStateException"):
        kms.cancel_key_deletion(KeyId=meta["KeyId"])
    assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_enable_and_disable_accept_id_and_arn(key_and_blob):
    kms, meta, _, _ = key_and_blob
    for key_id in (meta["KeyId"], meta["Arn"]):
        kms.disable_key(KeyId=key_id)
        assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Disabled"
        kms.enable_key(KeyId=key_id)
        assert kms.describe_key(KeyId=meta["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_pending_deletion_key_cannot_be_enabled(key_and_blob):
    kms, meta, _, _ = key_and_blob
    kms.schedule_key_deletion(KeyId=meta["KeyId"], PendingWindowInDays=7)
    with kms_error("KMSInvalidStateException"):
        kms.enable_key(KeyId=meta["KeyId"])
