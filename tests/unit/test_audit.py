"""The audit trail (workshop_helpers.audit): CloudTrail-shaped records of every KMS call.

Runs in-process on moto (one connect() per pytest process). Every test isolates itself
with a mark, since the trail is per process.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import threading

import boto3
import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

from workshop_helpers import audit

CONTEXT = {"project": "workshop"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REQUIRED = (
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "userAgent",
    "requestParameters",
    "responseElements",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "recipientAccountId",
    "simulated",
)


@pytest.fixture(scope="module")
def ws(moto_workshop):
    return moto_workshop


@pytest.fixture(scope="module")
def key(ws):
    return ws.client("kms").create_key(Description="audit tests")["KeyMetadata"]


def _forms(secret: bytes) -> list[str]:
    """Ways a secret could leak into a JSON record."""
    forms = [
        base64.b64encode(secret).decode(),
        secret.hex(),
        secret.hex().upper(),
        base64.urlsafe_b64encode(secret).decode().rstrip("="),
    ]
    try:
        forms.append(json.dumps(secret.decode("latin-1"))[1:-1])
    except Exception:  # noqa: BLE001
        pass
    return [f for f in forms if len(f) >= 8]


def _assert_absent(records, *secrets: bytes):
    text = json.dumps(records, default=str)
    for secret in secrets:
        for form in _forms(bytes(secret)):
            assert form not in text, f"a secret leaked into the trail as {form[:12]}…"


def test_start_is_idempotent(ws):
    before = audit.mark()
    audit.start(ws)
    audit.start()
    assert audit.started()
    ws.client("kms").list_keys()
    assert len(ws.trail(since=before)) == 1, "one call must give one record, not one per start()"


def test_record_shape_generate_data_key(ws, key):
    mark = ws.trail_mark()
    kms = ws.client("kms")
    kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=CONTEXT)
    (record,) = ws.trail(since=mark)
    for name in REQUIRED:
        assert name in record, name
    assert record["eventSource"] == "kms.amazonaws.com"
    assert record["eventName"] == "GenerateDataKey"
    assert record["awsRegion"] == ws.region
    assert ISO.match(record["eventTime"])
    assert record["requestParameters"] == {"keyId": key["Arn"], "keySpec": "AES_256", "encryptionContext": CONTEXT}
    assert record["responseElements"] is None  # CloudTrail logs none for data-key calls
    assert record["resources"] == [{"accountId": ws.account_id, "type": "AWS::KMS::Key", "ARN": key["Arn"]}]
    assert record["readOnly"] is True
    assert record["eventType"] == "AwsApiCall"
    assert record["simulated"] is False
    assert "errorCode" not in record
    assert record["userIdentity"]["arn"] == ws.identity_arn
    assert audit.caller_label(record) == "you (boto3)"
    assert audit.hook_failures() == 0


def test_key_id_logged_as_given_and_arn_in_resources(ws, key):
    kms = ws.client("kms")
    alias = "alias/audit-test-alias"
    kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    mark = ws.trail_mark()
    kms.generate_data_key_without_plaintext(KeyId=alias, NumberOfBytes=64, EncryptionContext=CONTEXT)
    (record,) = ws.trail(since=mark)
    assert record["requestParameters"]["keyId"] == alias
    assert record["requestParameters"]["numberOfBytes"] == 64
    assert record["resources"][0]["ARN"] == key["Arn"]


def test_access_key_id_is_masked(ws, key):
    mark = ws.trail_mark()
    ws.client("kms").describe_key(KeyId=key["KeyId"])
    (record,) = ws.trail(since=mark)
    shown = record["userIdentity"].get("accessKeyId")
    secret = ws.session.get_credentials().access_key
    assert shown and "…" in shown and shown != secret
    assert audit.mask_access_key("AKIAABCDEFGHIJKLMNOP") == "AKIA…MNOP"


def test_plain_boto3_client_made_after_connect_is_recorded(ws, key):
    mark = ws.trail_mark()
    plain = boto3.client("kms", region_name=ws.region)
    plain.encrypt(KeyId=key["KeyId"], Plaintext=b"from a plain client")
    (record,) = ws.trail(since=mark)
    assert record["eventName"] == "Encrypt"
    assert record["requestParameters"] == {"keyId": key["KeyId"]}
    assert record["resources"][0]["ARN"] == key["Arn"]


def test_failure_has_error_code_and_message(ws, key):
    kms = ws.client("kms")
    blob = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=CONTEXT)["CiphertextBlob"]
    mark = ws.trail_mark()
    with pytest.raises(Exception) as info:
        kms.decrypt(CiphertextBlob=blob)  # no context: refused
    assert info.value.response["Error"]["Code"] == "InvalidCiphertextException"
    (record,) = ws.trail(since=mark)
    assert record["errorCode"] == "InvalidCiphertextException"
    assert "errorMessage" in record
    assert record["responseElements"] is None
    assert ws.trail(since=mark, errors_only=True) == [record]


def test_not_found_is_recorded(ws):
    mark = ws.trail_mark()
    with pytest.raises(ClientError, match="NotFoundException"):
        ws.client("kms").describe_key(KeyId="alias/does-not-exist-anywhere")
    (record,) = ws.trail(since=mark)
    assert record["errorCode"] == "NotFoundException"
    assert record["requestParameters"] == {"keyId": "alias/does-not-exist-anywhere"}


def test_connection_error_is_recorded(ws):
    from botocore.config import Config

    mark = ws.trail_mark()
    dead = boto3.client(
        "kms",
        region_name=ws.region,
        endpoint_url="http://127.0.0.1:9",
        config=Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=1),
    )
    with pytest.raises((EndpointConnectionError, ConnectTimeoutError)):
        dead.list_keys()
    (record,) = ws.trail(since=mark)
    assert record["eventName"] == "ListKeys"
    assert record["errorCode"] == "EndpointConnectionError"


def test_encryption_sdk_calls_appear_once_each(ws, key):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key["Arn"]])
    mark = ws.trail_mark()
    message, _ = client.encrypt(source=b"sdk secret", key_provider=provider, encryption_context=CONTEXT)
    after_encrypt = ws.trail_mark()
    plaintext, header = client.decrypt(source=message, key_provider=provider)
    assert plaintext == b"sdk secret"
    assert [r["eventName"] for r in ws.trail(since=mark, last=None)] == ["GenerateDataKey", "Decrypt"]
    (gdk,) = ws.trail(since=mark, event_name="GenerateDataKey")
    assert [r["eventName"] for r in ws.trail(since=after_encrypt)] == ["Decrypt"]
    (dec,) = ws.trail(since=after_encrypt)
    for record in (gdk, dec):
        assert "AwsEncryptionSdkPython" in record["userAgent"]
        assert audit.caller_label(record) == "AWS Encryption SDK"
        context = record["requestParameters"]["encryptionContext"]
        assert context["project"] == "workshop"
        assert "aws-crypto-public-key" in context  # the SDK adds its signing key's public half
    assert gdk["requestParameters"]["numberOfBytes"] == 32
    assert dec["requestParameters"]["keyId"] == key["Arn"]  # strict mode names the key


def test_trail_never_holds_plaintext_or_blobs(ws, key):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    kms = ws.client("kms")
    mark = ws.trail_mark()
    secrets: list[bytes] = []
    made = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=CONTEXT)
    secrets += [made["Plaintext"], made["CiphertextBlob"]]
    back = kms.decrypt(CiphertextBlob=made["CiphertextBlob"], EncryptionContext=CONTEXT)
    secrets.append(back["Plaintext"])
    message = b"a secret message that must never be logged"
    direct = kms.encrypt(KeyId=key["Arn"], Plaintext=message, EncryptionContext=CONTEXT)["CiphertextBlob"]
    secrets += [message, direct]
    re_enc = kms.re_encrypt(
        CiphertextBlob=direct,
        SourceEncryptionContext=CONTEXT,
        DestinationKeyId=key["Arn"],
        DestinationEncryptionContext={"project": "other"},
    )
    secrets.append(re_enc["CiphertextBlob"])
    secrets.append(kms.generate_random(NumberOfBytes=32)["Plaintext"])
    without = kms.generate_data_key_without_plaintext(KeyId=key["Arn"], KeySpec="AES_256")
    secrets.append(without["CiphertextBlob"])
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key["Arn"]])
    sdk_secret = b"the sdk's secret payload"
    sdk_message, _ = client.encrypt(source=sdk_secret, key_provider=provider, encryption_context=CONTEXT)
    secrets += [sdk_secret, sdk_message[-64:]]
    records = ws.trail(since=mark)
    assert len(records) == 7
    _assert_absent(records, *secrets)
    # and no member that carries them, under any name
    text = json.dumps(records)
    for name in ("plaintext", "ciphertextBlob", "Plaintext", "CiphertextBlob", "grantToken"):
        assert f'"{name}"' not in text


def test_grant_tokens_and_import_material_never_logged(ws):
    kms = ws.client("kms")
    key = kms.create_key(Description="grant test")["KeyMetadata"]
    mark = ws.trail_mark()
    grant = kms.create_grant(
        KeyId=key["Arn"],
        GranteePrincipal=f"arn:aws:iam::{ws.account_id}:role/audit-grantee",
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": CONTEXT},
    )
    blob = kms.encrypt(KeyId=key["Arn"], Plaintext=b"x", EncryptionContext=CONTEXT)["CiphertextBlob"]
    kms.decrypt(CiphertextBlob=blob, EncryptionContext=CONTEXT, GrantTokens=[grant["GrantToken"]])
    records = ws.trail(since=mark)
    create = records[0]
    assert create["requestParameters"]["constraints"] == {"encryptionContextSubset": CONTEXT}
    assert create["requestParameters"]["operations"] == ["Decrypt"]
    assert create["responseElements"] == {"grantId": grant["GrantId"], "keyId": key["Arn"]}
    assert grant["GrantToken"] not in json.dumps(records)


def test_sanitize_drops_import_token_and_material():
    import botocore.session

    model = botocore.session.get_session().get_service_model("kms").operation_model("ImportKeyMaterial")
    params = {
        "KeyId": "k",
        "ImportToken": b"token-bytes-secret",
        "EncryptedKeyMaterial": b"wrapped-material",
        "ExpirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        "ValidTo": dt.datetime(2030, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
    }
    assert audit._sanitize(params, model.input_shape) == {
        "keyId": "k",
        "expirationModel": "KEY_MATERIAL_DOES_NOT_EXPIRE",
        "validTo": "2030-01-02T03:04:05Z",
    }


def test_filters_and_marks(ws, key):
    kms = ws.client("kms")
    mark = ws.trail_mark()
    start = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)
    kms.describe_key(KeyId=key["KeyId"])
    kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    kms.list_aliases()
    assert [r["eventName"] for r in ws.trail(since=mark)] == ["DescribeKey", "GenerateDataKey", "ListAliases"]
    assert [r["eventName"] for r in ws.trail("GenerateDataKey", since=mark)] == ["GenerateDataKey"]
    assert len(ws.trail(["DescribeKey", "ListAliases"], since=mark)) == 2
    assert [r["eventName"] for r in ws.trail(since=mark, last=1)] == ["ListAliases"]
    assert ws.trail(since=mark, simulated=True) == []
    assert len(ws.trail(since=start)) >= 3
    assert len(ws.trail(since=start.isoformat())) >= 3
    assert ws.trail(since=ws.trail_mark()) == []
    with pytest.raises(TypeError):
        ws.trail(since=True)


def test_records_are_copies(ws, key):
    mark = ws.trail_mark()
    ws.client("kms").generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=CONTEXT)
    first = ws.trail(since=mark)
    first[0]["requestParameters"]["encryptionContext"]["project"] = "tampered"
    assert ws.trail(since=mark)[0]["requestParameters"]["encryptionContext"] == CONTEXT


def test_acting_as_labels_simulated_calls(ws, key):
    kms = ws.client("kms")
    mark = ws.trail_mark()
    with audit.acting_as("ec2.amazonaws.com", volumeId="vol-0123456789abcdef0"):
        assert audit.simulating() == "ec2.amazonaws.com"
        kms.generate_data_key_without_plaintext(
            KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext={"aws:ebs:id": "vol-0123456789abcdef0"}
        )
    role = audit.identity_from_arn(f"arn:aws:sts::{ws.account_id}:assumed-role/aws:ec2-infrastructure/i-0abc")
    with audit.acting_as("ec2.amazonaws.com", identity=role):
        kms.describe_key(KeyId=key["Arn"])
    assert audit.simulating() is None
    kms.list_keys()
    sim, as_role, real = ws.trail(since=mark)
    assert sim["simulated"] is True and sim["userAgent"] == "ec2.amazonaws.com (simulated)"
    assert sim["userIdentity"]["invokedBy"] == "ec2.amazonaws.com"
    assert sim["simulation"] == {"volumeId": "vol-0123456789abcdef0"}
    assert sim["sourceIPAddress"] == "ec2.amazonaws.com"
    assert as_role["userIdentity"]["type"] == "AssumedRole"
    assert as_role["userIdentity"]["sessionContext"]["sessionIssuer"]["userName"] == "aws:ec2-infrastructure"
    assert audit.caller_label(as_role) == "ec2.amazonaws.com (simulated), as role aws:ec2-infrastructure"
    assert real["simulated"] is False and "simulated" not in real["userAgent"]
    assert [r["eventName"] for r in ws.trail(since=mark, simulated=True)] == [
        "GenerateDataKeyWithoutPlaintext",
        "DescribeKey",
    ]


def test_acting_as_does_not_leak_into_other_threads(ws, key):
    mark = ws.trail_mark()
    done = threading.Event()

    def other():
        ws.client("kms").list_keys()
        done.set()

    with audit.acting_as("ec2.amazonaws.com"):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert done.is_set()
    (record,) = ws.trail(since=mark)
    assert record["simulated"] is False


def test_assumed_role_identity_is_learnt_from_sts(ws):
    iam, sts = ws.client("iam"), ws.client("sts")
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ws.account_id}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    try:
        iam.create_role(RoleName="audit-test-role", AssumeRolePolicyDocument=json.dumps(trust))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ws.account_id}:role/audit-test-role", RoleSessionName="audit")[
        "Credentials"
    ]
    mark = ws.trail_mark()
    try:
        ws.client("kms", credentials=creds).list_keys()
    except Exception:  # noqa: BLE001 - denied or not, the call is recorded
        pass
    (record,) = ws.trail(since=mark)
    ident = record["userIdentity"]
    assert ident["type"] == "AssumedRole"
    assert ident["sessionContext"]["sessionIssuer"]["userName"] == "audit-test-role"
    assert ident["accessKeyId"] != creds["AccessKeyId"]
    assert creds["AccessKeyId"] not in json.dumps(record)


def test_concurrent_calls_all_recorded(ws, key):
    mark = ws.trail_mark()
    errors = []

    def worker():
        try:
            kms = ws.client("kms")
            for _ in range(15):
                kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=CONTEXT)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    records = ws.trail(since=mark)
    assert len(records) == 60
    assert len({r["eventID"] for r in records}) == 60
    assert audit.hook_failures() == 0


def test_trail_is_bounded():
    assert audit._records.maxlen == audit.MAX_RECORDS == 10_000


def test_listener_errors_never_break_a_call(ws, key):
    seen = []

    def bad(_record):
        raise RuntimeError("a broken display")

    unsubscribe_bad = audit.subscribe(bad)
    unsubscribe_good = audit.subscribe(seen.append)
    try:
        ws.client("kms").describe_key(KeyId=key["Arn"])
    finally:
        unsubscribe_bad()
        unsubscribe_good()
    assert [r["eventName"] for r in seen] == ["DescribeKey"]
    ws.client("kms").describe_key(KeyId=key["Arn"])
    assert len(seen) == 1  # unsubscribed


def test_other_services_are_not_recorded(ws):
    mark = ws.trail_mark()
    ws.client("sts").get_caller_identity()
    ws.client("s3").list_buckets()
    assert ws.trail(since=mark) == []


def test_trail_table_renders(ws, key):
    from workshop_helpers.display.trail import TrailTable, trail_table

    kms = ws.client("kms")
    mark = ws.trail_mark()
    kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext=CONTEXT)
    with pytest.raises(ClientError, match="InvalidCiphertextException"):
        kms.decrypt(CiphertextBlob=b"\x01" * 80)
    with audit.acting_as("ec2.amazonaws.com"):
        kms.describe_key(KeyId=key["Arn"])
    table = trail_table(since=mark, title="test")
    assert isinstance(table, TrailTable)
    rows = table.rows()
    assert [r["event"] for r in rows] == ["GenerateDataKey", "Decrypt", "DescribeKey"]
    assert rows[0]["key"] == "key/" + key["KeyId"]
    assert rows[0]["encryption context"] == CONTEXT
    assert rows[1]["failed"] and rows[1]["result"].startswith("FAILED ")
    assert rows[2]["simulated"]
    html = table.html()
    assert "SIMULATED" in html and "FAILED" in html and 'class="kw-var"' in html
    assert "<caption" in html and "scope='col'" in html
    text = table.text()
    assert "GenerateDataKey" in text and "project=workshop" in text and "(simulated)" in text
    assert repr(table) == text
    assert "no KMS call" in TrailTable([]).text()


def test_trail_widget_follows(ws, key):
    pytest.importorskip("ipywidgets")
    from workshop_helpers.widgets import TrailWidget

    widget = TrailWidget(since=ws.trail_mark())
    try:
        assert widget.refresh() == 0
        ws.client("kms").describe_key(KeyId=key["Arn"])
        assert "DescribeKey" not in widget.table.value  # not following: needs Refresh
        widget.refresh_button.click()
        assert "DescribeKey" in widget.table.value
        widget.follow_box.value = True
        ws.client("kms").list_aliases()
        assert "ListAliases" in widget.table.value  # appended live
        widget.failures_box.value = True
        assert widget.refresh() == 0
        widget.failures_box.value = False
        widget.reset_button.click()
        assert widget.refresh() == 0
        bundle = widget._repr_mimebundle_()
        assert bundle["text/plain"].startswith("Trail widget")
        assert "application/vnd.jupyter.widget-view+json" in bundle
    finally:
        widget.close()
    assert widget._unsubscribe is None


ENDPOINT_SCRIPT = r"""
import base64, json
import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy
import workshop_helpers
from workshop_helpers import ebs

ws = workshop_helpers.connect()
kms = ws.client("kms")
key = kms.create_key(Description="audit over the endpoint")["KeyMetadata"]
mark = ws.trail_mark()
made = kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256", EncryptionContext={"project": "workshop"})
try:
    kms.decrypt(CiphertextBlob=made["CiphertextBlob"])
except Exception:
    pass
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key["Arn"]])
message, _ = client.encrypt(source=b"over the wire", key_provider=provider, encryption_context={"project": "workshop"})
client.decrypt(source=message, key_provider=provider)
sim = ebs.create_encrypted_volume(ws, key["Arn"], size_gib=1)
ebs.attach_volume(ws, sim.volume_id, ebs.workshop_instance(ws))
records = ws.trail(since=mark)
text = json.dumps(records)
secrets = [made["Plaintext"], made["CiphertextBlob"], bytes(sim._data_key)]
leaks = sum(form in text for s in secrets for form in (base64.b64encode(s).decode(), s.hex()))
print(json.dumps({"backend": ws.backend, "records": records, "leaks": leaks}))
"""


@pytest.mark.endpoint
def test_trail_is_the_same_over_the_endpoint(fidelity_endpoint, tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, KMS_WORKSHOP_BACKEND="endpoint", KMS_WORKSHOP_ENDPOINT_URL=fidelity_endpoint.url)
    done = subprocess.run(
        [sys.executable, "-c", ENDPOINT_SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["backend"] == "endpoint"
    assert result["leaks"] == 0
    records = result["records"]
    assert [r["eventName"] for r in records] == [
        "GenerateDataKey",
        "Decrypt",
        "GenerateDataKey",
        "Decrypt",
        "GenerateDataKeyWithoutPlaintext",
        "CreateGrant",
        "Decrypt",
    ]
    assert records[1]["errorCode"] == "InvalidCiphertextException"
    assert [audit.caller_label(r) for r in records[2:4]] == ["AWS Encryption SDK"] * 2
    assert [r["simulated"] for r in records] == [False] * 4 + [True] * 3
    for record in records:
        for name in REQUIRED:
            assert name in record
