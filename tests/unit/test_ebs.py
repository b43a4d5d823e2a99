"""The EBS and S3 server-side simulations (ebs.py, s3_sse.py), in-process on moto."""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest
from botocore.exceptions import ClientError

from workshop_helpers import ebs, names, s3_sse
from workshop_helpers.errors import WorkshopError


@pytest.fixture(scope="module")
def ws(moto_workshop):
    return moto_workshop


@pytest.fixture(scope="module")
def key(ws):
    kms = ws.client("kms")
    meta = kms.create_key(Description="ebs tests")["KeyMetadata"]
    kms.create_alias(AliasName="alias/ebs-test-key", TargetKeyId=meta["KeyId"])
    return meta


@pytest.fixture(scope="module")
def instance(ws):
    return ebs.workshop_instance(ws)


def _leaks(records, secret: bytes) -> bool:
    text = json.dumps(records)
    return any(form in text for form in (base64.b64encode(secret).decode(), secret.hex()))


def test_create_makes_real_volume_and_one_simulated_generate(ws, key):
    mark = ws.trail_mark()
    sim = ebs.create_encrypted_volume(ws, "alias/ebs-test-key", size_gib=8)
    volume = ws.client("ec2").describe_volumes(VolumeIds=[sim.volume_id])["Volumes"][0]
    assert volume["Encrypted"] is True and volume["Size"] == 8
    tags = {t["Key"]: t["Value"] for t in volume["Tags"]}
    assert tags["Name"] == "WorkshopEBS" and tags[names.TAG_KEY] == "true"
    (record,) = ws.trail(since=mark)
    assert record["eventName"] == "GenerateDataKeyWithoutPlaintext"
    assert record["simulated"] is True
    assert record["userAgent"] == "ec2.amazonaws.com (simulated)"
    assert record["requestParameters"] == {
        "keyId": "alias/ebs-test-key",
        "numberOfBytes": 64,
        "encryptionContext": {"aws:ebs:id": sim.volume_id},
    }
    assert sim.key_arn == key["Arn"]
    assert sim.encryption_context == {"aws:ebs:id": sim.volume_id}
    assert sim.encrypted_data_key and not sim.key_in_memory and not sim.attached
    assert (
        "EncryptedDataKey" in sim.metadata()
        and "EBS volume metadata" in repr(sim)
        and sim.metadata()["PlaintextDataKeyInMemory"] is False
    )
    assert ebs.volume(sim.volume_id) is sim
    assert "Simulated" in sim._repr_html_()


def test_attach_grants_and_decrypts_with_the_volume_context(ws, key, instance):
    sim = ebs.create_encrypted_volume(ws, key["Arn"], size_gib=8)
    mark = ws.trail_mark()
    ebs.attach_volume(ws, sim.volume_id, instance)
    grant, decrypt = ws.trail(since=mark)
    assert grant["eventName"] == "CreateGrant" and grant["simulated"]
    assert grant["requestParameters"]["granteePrincipal"] == f"{ws.account_id}:aws:ec2-infrastructure:{instance}"
    assert grant["requestParameters"]["operations"] == ["Decrypt"]
    assert grant["requestParameters"]["constraints"] == {"encryptionContextSubset": {"aws:ebs:id": sim.volume_id}}
    assert grant["userIdentity"]["invokedBy"] == "ec2.amazonaws.com"
    assert decrypt["eventName"] == "Decrypt" and decrypt["simulated"]
    assert decrypt["requestParameters"]["encryptionContext"] == {"aws:ebs:id": sim.volume_id}
    assert decrypt["userIdentity"]["arn"].endswith(f":assumed-role/aws:ec2-infrastructure/{instance}")
    assert sim.attached and sim.key_in_memory and sim.instance_id == instance
    attachments = ws.client("ec2").describe_volumes(VolumeIds=[sim.volume_id])["Volumes"][0]["Attachments"]
    assert attachments and attachments[0]["InstanceId"] == instance
    # the plaintext data key never reaches the trail
    assert not _leaks(ws.trail(), bytes(sim._data_key))
    # attaching again (already attached, key in memory) makes no new KMS call
    again = ws.trail_mark()
    ebs.after_attach_volume(ws, sim.volume_id, instance)
    assert ws.trail(since=again) == []


def test_blocks_round_trip_and_are_ciphertext_on_disk(ws, key, instance):
    sim = ebs.create_encrypted_volume(ws, key["Arn"], size_gib=8)
    ebs.attach_volume(ws, sim.volume_id, instance)
    data = b"Meet me at the lighthouse. " * 10
    stored = ebs.write_block(sim.volume_id, 7, data)
    assert len(stored) == ebs.BLOCK_SIZE
    assert data[:16] not in stored
    assert ebs.stored_block(sim.volume_id, 7) == stored
    assert ebs.read_block(sim.volume_id, 7) == data.ljust(ebs.BLOCK_SIZE, b"\0")
    # the block number is the tweak: the same data in another block looks different
    assert ebs.write_block(sim.volume_id, 8, data) != stored
    assert ebs.read_block(sim.volume_id, 99) == bytes(ebs.BLOCK_SIZE)  # never written
    with pytest.raises(WorkshopError):
        ebs.write_block(sim.volume_id, 1, b"x" * (ebs.BLOCK_SIZE + 1))
    with pytest.raises(WorkshopError):
        ebs.read_block(sim.volume_id, -1)


def test_detach_drops_the_key_and_reattach_decrypts_again(ws, key, instance):
    sim = ebs.create_encrypted_volume(ws, key["Arn"], size_gib=8)
    ebs.attach_volume(ws, sim.volume_id, instance)
    ebs.write_block(sim.volume_id, 0, b"kept across attachments")
    held = sim._data_key
    ebs.detach_volume(ws, sim.volume_id)
    assert not sim.key_in_memory and not sim.attached
    assert held == bytearray(len(held))  # overwritten, not just forgotten
    with pytest.raises(WorkshopError, match="not attached"):
        ebs.read_block(sim.volume_id, 0)
    with pytest.raises(WorkshopError, match="not attached"):
        ebs.write_block(sim.volume_id, 0, b"x")
    assert ebs.stored_block(sim.volume_id, 0) is not None  # ciphertext stays on the disk
    mark = ws.trail_mark()
    ebs.attach_volume(ws, sim.volume_id, instance)
    assert [r["eventName"] for r in ws.trail(since=mark)] == ["CreateGrant", "Decrypt"]
    assert ebs.read_block(sim.volume_id, 0).rstrip(b"\0") == b"kept across attachments"


def test_a_key_kms_refuses_means_no_volume(ws):
    ec2 = ws.client("ec2")
    mark = ws.trail_mark()
    with pytest.raises(ClientError) as info:
        ebs.create_encrypted_volume(ws, "alias/no-such-key-for-ebs", size_gib=8)
    assert info.value.response["Error"]["Code"] == "NotFoundException"
    (record,) = ws.trail(since=mark)
    assert record["simulated"] and record["errorCode"] == "NotFoundException"
    volume_id = record["requestParameters"]["encryptionContext"]["aws:ebs:id"]
    left = ec2.describe_volumes(Filters=[{"Name": "volume-id", "Values": [volume_id]}])["Volumes"]
    assert left == []
    with pytest.raises(WorkshopError, match="unknown"):
        ebs.volume(volume_id)


def test_unencrypted_volume_is_refused(ws):
    volume = ws.client("ec2").create_volume(AvailabilityZone=ebs.default_az(ws), Size=1)
    with pytest.raises(WorkshopError, match="not encrypted"):
        ebs.after_create_volume(ws, volume)
    with pytest.raises(WorkshopError, match="not encrypted"):
        ebs.after_create_volume(ws, volume["VolumeId"])


def test_workshop_instance_is_reused(ws, instance):
    assert ebs.workshop_instance(ws) == instance
    found = ws.client("ec2").describe_instances(InstanceIds=[instance])["Reservations"][0]["Instances"][0]
    tags = {t["Key"]: t["Value"] for t in found["Tags"]}
    assert tags["Name"] == ebs.INSTANCE_NAME and tags[names.TAG_KEY] == "true"


def test_aws_backend_simulates_nothing(monkeypatch):
    calls = []

    def client(name, **_):
        calls.append(name)
        raise AssertionError(f"no {name} client may be made on aws by after_create_volume")

    fake = SimpleNamespace(backend="aws", account_id="111122223333", region="eu-west-1", client=client)
    created = {"VolumeId": "vol-0aws0000000000000", "Encrypted": True, "KmsKeyId": "alias/ImportedCMK"}
    sim = ebs.after_create_volume(fake, created)
    assert sim.simulated is False and not sim.encrypted_data_key
    assert ebs.after_attach_volume(fake, sim.volume_id, "i-0aws").attached
    with pytest.raises(WorkshopError, match="hypervisor"):
        ebs.write_block(sim.volume_id, 0, b"x")
    assert "Real AWS" in sim._repr_html_()
    assert s3_sse.after_put_object(fake, "b", "k", {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "x"}) is None
    assert calls == []
    monkeypatch.setenv(ebs.INSTANCE_ENV, "i-0123456789abcdef0")
    assert ebs.workshop_instance(fake) == "i-0123456789abcdef0"
    monkeypatch.delenv(ebs.INSTANCE_ENV)
    assert ebs.workshop_instance(fake) is None
    ebs.forget(sim.volume_id)


def test_cloudtrail_lookup_is_refused_where_simulated(ws):
    with pytest.raises(WorkshopError, match="ws.trail"):
        ebs.cloudtrail_events(ws, "vol-0")


# --- S3 -----------------------------------------------------------------------------------


def test_bucket_is_named_and_tagged_idempotently(ws):
    bucket = s3_sse.ensure_bucket(ws)
    assert bucket == names.bucket_name(ws.account_id, ws.region)
    assert s3_sse.ensure_bucket(ws) == bucket
    tags = {t["Key"]: t["Value"] for t in ws.client("s3").get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags[names.TAG_KEY] == "true"


def test_sse_kms_put_and_get_make_s3s_kms_calls(ws, key):
    s3 = ws.client("s3")
    bucket = s3_sse.ensure_bucket(ws)
    put = s3.put_object(
        Bucket=bucket, Key="notes/secret.txt", Body=b"s3 secret", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"]
    )
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key["Arn"]
    mark = ws.trail_mark()
    kept = s3_sse.after_put_object(ws, bucket, "notes/secret.txt", put)
    context = {"aws:s3:arn": f"arn:aws:s3:::{bucket}/notes/secret.txt"}
    assert kept == {"KeyArn": key["Arn"], "EncryptionContext": context}
    got = s3.get_object(Bucket=bucket, Key="notes/secret.txt")
    assert got["Body"].read() == b"s3 secret"
    s3_sse.after_get_object(ws, bucket, "notes/secret.txt")
    gdk, dec = ws.trail(since=mark)
    assert gdk["eventName"] == "GenerateDataKey" and gdk["userAgent"] == "s3.amazonaws.com (simulated)"
    assert gdk["requestParameters"]["encryptionContext"] == context
    assert dec["eventName"] == "Decrypt" and dec["requestParameters"]["encryptionContext"] == context
    assert s3_sse.after_get_object(ws, bucket, "never/put") is None


def test_bucket_key_uses_the_bucket_arn_once(ws, key):
    s3 = ws.client("s3")
    bucket = s3_sse.ensure_bucket(ws)
    mark = ws.trail_mark()
    for name in ("bk/one.txt", "bk/two.txt"):
        put = s3.put_object(
            Bucket=bucket,
            Key=name,
            Body=b"x",
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=key["Arn"],
            BucketKeyEnabled=True,
        )
        s3_sse.after_put_object(ws, bucket, name, put)
    (gdk,) = ws.trail(since=mark)
    assert gdk["requestParameters"]["encryptionContext"] == {"aws:s3:arn": f"arn:aws:s3:::{bucket}"}


def test_put_without_sse_kms_makes_no_call(ws):
    s3 = ws.client("s3")
    bucket = s3_sse.ensure_bucket(ws)
    put = s3.put_object(Bucket=bucket, Key="plain.txt", Body=b"x")
    mark = ws.trail_mark()
    assert s3_sse.after_put_object(ws, bucket, "plain.txt", put) is None
    assert ws.trail(since=mark) == []
