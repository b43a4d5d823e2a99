"""A class on one endpoint: `serve --participants ... --class-dir DIR`.

An account and an issued administrator key per participant, env files 0600, keys kept
across restarts, participants added without a restart, strangers refused as AWS refuses
them, and no participant reaching another's keys, aliases, roles or buckets."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fidelity_support import ROOT, ServeProcess, kms_error

REGION = "eu-west-1"
ENV_NAMES = [
    "KMS_WORKSHOP_BACKEND",
    "KMS_WORKSHOP_ENDPOINT_URL",
    "KMS_WORKSHOP_PARTICIPANT",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_DEFAULT_REGION",
]
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})


def read_env(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


class Seat:
    """A participant's clients, built from their env file only."""

    def __init__(self, class_dir, name: str):
        self.env = read_env(class_dir / f"{name}.env")
        self.name = name

    def client(self, service: str, *, access_key: str | None = None, secret: str | None = None):
        return boto3.client(
            service,
            endpoint_url=self.env["KMS_WORKSHOP_ENDPOINT_URL"],
            region_name=REGION,
            aws_access_key_id=access_key or self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=secret or self.env["AWS_SECRET_ACCESS_KEY"],
            config=NO_RETRIES,
        )


def start_class(tmp_path, names: str = "alice,bob", *extra: str) -> ServeProcess:
    return ServeProcess(
        "--state-dir",
        str(tmp_path / "state"),
        "--participants",
        names,
        "--class-dir",
        str(tmp_path / "class"),
        *extra,
        stderr_path=str(tmp_path / "stderr"),
    )


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("class")
    server = start_class(tmp_path)
    yield tmp_path, server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def alice(klass):
    return Seat(klass[0] / "class", "alice")


@pytest.fixture(scope="module")
def bob(klass):
    return Seat(klass[0] / "class", "bob")


def class_json(class_dir) -> dict:
    return json.loads((class_dir / "class.json").read_text())


# --- 1. accounts, credentials, files ---------------------------------------------------------


def test_env_files_are_private_and_complete(klass):
    tmp_path, server = klass
    class_dir = tmp_path / "class"
    assert stat.S_IMODE(class_dir.stat().st_mode) == 0o700
    for name in ("alice", "bob"):
        path = class_dir / f"{name}.env"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        env = read_env(path)
        assert list(env) == ENV_NAMES
        assert env["KMS_WORKSHOP_BACKEND"] == "endpoint"
        assert env["KMS_WORKSHOP_ENDPOINT_URL"] == server.url
        assert env["KMS_WORKSHOP_PARTICIPANT"] == name
        assert env["AWS_DEFAULT_REGION"] == REGION
    assert stat.S_IMODE((class_dir / "class.json").stat().st_mode) == 0o600


def test_each_participant_has_an_account_of_their_own(alice, bob):
    a = alice.client("sts").get_caller_identity()
    b = bob.client("sts").get_caller_identity()
    assert a["Account"] != b["Account"]
    for who, identity in (("alice", a), ("bob", b)):
        assert len(identity["Account"]) == 12 and identity["Account"].startswith("100000")
        assert identity["Account"] != "123456789012"
        assert identity["Arn"] == f"arn:aws:iam::{identity['Account']}:user/{who}"


def test_the_issued_credential_is_an_administrator(alice):
    iam = alice.client("iam")
    iam.create_role(
        RoleName="kms-workshop-participant",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": alice.client("sts").get_caller_identity()["Account"]},
                    }
                ],
            }
        ),
    )
    kms = alice.client("kms")
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    kms.get_parameters_for_import(KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048")


def test_startup_says_class_mode_and_where_the_view_is(klass):
    tmp_path, _ = klass
    err = (tmp_path / "stderr").read_text()
    assert "credentials: class mode: only the keys this endpoint issued are accepted" in err
    assert "any access key acts as the account's administrator" not in err
    assert "class: instructor's view (keep this URL to yourself): " in err
    assert class_json(tmp_path / "class")["token"] in err


def test_a_restart_keeps_accounts_and_keys_and_adding_needs_no_restart(tmp_path):
    server = start_class(tmp_path, "dana")
    try:
        first = read_env(tmp_path / "class" / "dana.env")
        kms = Seat(tmp_path / "class", "dana").client("kms")
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        added = subprocess.run(
            [sys.executable, "-m", "workshop_helpers", "class", "add", "erin", "--class-dir", str(tmp_path / "class")],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert added.returncode == 0, added.stderr
        assert "erin: added, account 100000" in added.stdout
        erin = Seat(tmp_path / "class", "erin")
        assert stat.S_IMODE((tmp_path / "class" / "erin.env").stat().st_mode) == 0o600
        assert erin.client("kms").list_keys()["Keys"] == []  # a new, empty account
        erin_account = erin.client("sts").get_caller_identity()["Account"]
    finally:
        assert server.stop() == 0
    server = start_class(tmp_path, "dana")  # erin is not named: she stays anyway
    try:
        assert read_env(tmp_path / "class" / "dana.env") == {**first, "KMS_WORKSHOP_ENDPOINT_URL": server.url}
        dana = Seat(tmp_path / "class", "dana")
        assert [k["KeyId"] for k in dana.client("kms").list_keys()["Keys"]] == [key_id]
        erin = Seat(tmp_path / "class", "erin")
        assert erin.client("sts").get_caller_identity()["Account"] == erin_account
    finally:
        assert server.stop() == 0


def test_class_add_refuses_a_bad_name_in_one_line(klass):
    tmp_path, _ = klass
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workshop_helpers",
            "class",
            "add",
            "Not_A_Name",
            "--class-dir",
            str(tmp_path / "class"),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert done.stderr.strip().startswith("error: the class endpoint refused: participant name 'Not_A_Name'")


def test_instructor_routes_need_the_token(klass):
    tmp_path, server = klass
    for url in (f"{server.url}/_workshop/class", f"{server.url}/_workshop/class/status?token=wrong"):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(url, timeout=10)
        assert info.value.code == 403
    request = urllib.request.Request(f"{server.url}/_workshop/class/participants", data=b"name=mallory", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 403
    assert not (tmp_path / "class" / "mallory.env").exists()


def test_class_options_are_checked():
    done = subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "serve", "--participants", "alice"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "--participants needs --class-dir" in done.stderr


# --- 2. strangers refused ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "service,call,code,status",
    [
        ("kms", lambda c: c.list_keys(), "UnrecognizedClientException", 400),
        ("iam", lambda c: c.list_roles(), "InvalidClientTokenId", 403),
        ("sts", lambda c: c.get_caller_identity(), "InvalidClientTokenId", 403),
        ("s3", lambda c: c.list_buckets(), "InvalidAccessKeyId", 403),
        ("ec2", lambda c: c.describe_volumes(), "AuthFailure", 401),
    ],
)
def test_a_key_the_endpoint_did_not_issue_is_refused(alice, service, call, code, status):
    client = alice.client(service, access_key="testing", secret="testing")
    with kms_error(code) as info:
        call(client)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
    if service in ("kms", "iam", "sts"):
        assert info.value.response["Error"]["Message"] == "The security token included in the request is invalid."


def test_a_wrong_secret_is_the_signature_error(alice):
    with kms_error("InvalidSignatureException"):
        alice.client("kms", secret="wrong" * 8).list_keys()
    with kms_error("SignatureDoesNotMatch"):
        alice.client("sts", secret="wrong" * 8).get_caller_identity()


def test_unsigned_requests_and_moto_control_api_are_refused(klass, alice):
    _, server = klass
    for path in ("/moto-api/reset", "/moto-api/"):
        request = urllib.request.Request(
            server.url + path,
            data=b"" if path.endswith("reset") else None,
            method="POST" if path.endswith("reset") else "GET",
        )
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(request, timeout=10)
        assert info.value.code == 403
    request = urllib.request.Request(
        server.url + "/",
        data=b"{}",
        method="POST",
        headers={"X-Amz-Target": "TrentService.ListKeys", "Content-Type": "application/x-amz-json-1.1"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 400
    assert json.loads(info.value.read())["__type"] == "MissingAuthenticationTokenException"


def test_the_moto_account_header_cannot_pick_another_account(alice, bob):
    bob_account = bob.client("sts").get_caller_identity()["Account"]
    sts = alice.client("sts")
    sts.meta.events.register(
        "before-send.sts.*", lambda request, **_: request.headers.__setitem__("x-moto-account-id", bob_account)
    )  # after signing: moto would honour it
    assert sts.get_caller_identity()["Account"] != bob_account


def test_without_participants_any_key_is_the_administrator(tmp_path):
    server = ServeProcess(stderr_path=str(tmp_path / "stderr"))
    try:
        sts = boto3.client(
            "sts",
            endpoint_url=server.url,
            region_name=REGION,
            aws_access_key_id="made-up",
            aws_secret_access_key="made-up",
        )
        assert sts.get_caller_identity()["Account"] == "123456789012"
    finally:
        assert server.stop() == 0
    assert "credentials: any access key acts as the account's administrator" in (tmp_path / "stderr").read_text()


# --- 3. isolation ----------------------------------------------------------------------------------


def test_lists_show_only_the_participants_own(alice, bob):
    akms, bkms = alice.client("kms"), bob.client("kms")
    key_id = akms.create_key(Description="alice's")["KeyMetadata"]["KeyId"]
    akms.create_alias(AliasName="alias/alice-only", TargetKeyId=key_id)
    alice.client("iam").create_role(RoleName="alice-only-role", AssumeRolePolicyDocument="{}")
    alice.client("s3").create_bucket(
        Bucket="alice-only-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    assert key_id not in [k["KeyId"] for k in bkms.list_keys()["Keys"]]
    assert "alias/alice-only" not in [a["AliasName"] for a in bkms.list_aliases()["Aliases"]]
    assert "alice-only-role" not in [r["RoleName"] for r in bob.client("iam").list_roles()["Roles"]]
    assert "alice-only-bucket" not in [b["Name"] for b in bob.client("s3").list_buckets()["Buckets"]]
    assert key_id in [k["KeyId"] for k in akms.list_keys()["Keys"]]


def test_another_participants_key_is_access_denied(alice, bob):
    akms, bkms = alice.client("kms"), bob.client("kms")
    key = akms.create_key()["KeyMetadata"]
    blob = akms.encrypt(KeyId=key["KeyId"], Plaintext=b"alice's secret", EncryptionContext={"who": "alice"})[
        "CiphertextBlob"
    ]
    bob_arn = bob.client("sts").get_caller_identity()["Arn"]
    for call, action in [
        (lambda: bkms.encrypt(KeyId=key["Arn"], Plaintext=b"x"), "Encrypt"),
        (lambda: bkms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256"), "GenerateDataKey"),
        (lambda: bkms.decrypt(CiphertextBlob=blob, EncryptionContext={"who": "alice"}), "Decrypt"),
        (lambda: bkms.decrypt(CiphertextBlob=blob, KeyId=key["Arn"], EncryptionContext={"who": "alice"}), "Decrypt"),
        (lambda: bkms.describe_key(KeyId=key["Arn"]), "DescribeKey"),
        (lambda: bkms.schedule_key_deletion(KeyId=key["Arn"], PendingWindowInDays=7), "ScheduleKeyDeletion"),
        (lambda: bkms.disable_key(KeyId=key["Arn"]), "DisableKey"),
    ]:
        with kms_error("AccessDeniedException") as info:
            call()
        assert info.value.response["Error"]["Message"] == (
            f"User: {bob_arn} is not authorized to perform: kms:{action} on resource: {key['Arn']} "
            f"because no resource-based policy allows the kms:{action} action"
        )
    assert akms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"
    assert akms.decrypt(CiphertextBlob=blob, EncryptionContext={"who": "alice"})["Plaintext"] == b"alice's secret"


def test_another_participants_bucket_is_access_denied(alice, bob):
    alice.client("s3").create_bucket(Bucket="alice-private", CreateBucketConfiguration={"LocationConstraint": REGION})
    alice.client("s3").put_object(Bucket="alice-private", Key="note", Body=b"alice's")
    with kms_error("AccessDenied"):
        bob.client("s3").get_object(Bucket="alice-private", Key="note")
    with kms_error("AccessDenied"):
        bob.client("s3").delete_object(Bucket="alice-private", Key="note")
    assert alice.client("s3").get_object(Bucket="alice-private", Key="note")["Body"].read() == b"alice's"


def test_another_participants_role_is_out_of_reach(alice, bob):
    alice.client("iam").create_role(RoleName="alice-role-2", AssumeRolePolicyDocument="{}")
    with kms_error("NoSuchEntity"):
        bob.client("iam").get_role(RoleName="alice-role-2")
    with kms_error("NoSuchEntity"):
        bob.client("iam").delete_role(RoleName="alice-role-2")
    assert alice.client("iam").get_role(RoleName="alice-role-2")


def test_a_kernel_with_the_env_file_works_in_its_own_account(alice):
    """`connect()` with nothing but the participant's env file: the issued key, their account,
    and the workshop's ImportedCMK made there (the Encryption SDK's clients sign the same way)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
    env.update(alice.env, AWS_EC2_METADATA_DISABLED="true", KMS_WORKSHOP_STATE_DIR="memory", PYTHONPATH=str(ROOT))
    code = (
        "import json, os, workshop_helpers\nfrom workshop_helpers import fixtures\n"
        "ws = workshop_helpers.connect()\nkey = fixtures.ensure_imported_cmk(ws)\n"
        "print(json.dumps({'account': ws.account_id, 'arn': key.arn,"
        " 'signs_with': os.environ['AWS_ACCESS_KEY_ID']}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    account = alice.client("sts").get_caller_identity()["Account"]
    assert seen["account"] == account != "123456789012"
    assert seen["arn"].split(":")[4] == account
    assert seen["signs_with"] == alice.env["AWS_ACCESS_KEY_ID"]


def test_a_participant_assumes_a_role_that_trusts_their_account(alice, bob):
    """As on AWS: a trust policy naming the account (its root) delegates to the account's
    users whose policies allow sts:AssumeRole (the workshop's participant role trusts its
    account so); a role trusting another account stays out of reach."""
    iam, sts = alice.client("iam"), alice.client("sts")
    account = sts.get_caller_identity()["Account"]
    other = bob.client("sts").get_caller_identity()["Account"]

    def trusting(who: str) -> str:
        return json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{who}:root"}, "Action": "sts:AssumeRole"}
                ],
            }
        )

    own = iam.create_role(RoleName="trusts-own-account", AssumeRolePolicyDocument=trusting(account))["Role"]["Arn"]
    theirs = iam.create_role(RoleName="trusts-bob", AssumeRolePolicyDocument=trusting(other))["Role"]["Arn"]
    session = sts.assume_role(RoleArn=own, RoleSessionName="notebook-02")
    assert session["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{account}:assumed-role/trusts-own-account/")
    with pytest.raises(ClientError) as refused:
        sts.assume_role(RoleArn=theirs, RoleSessionName="nope")
    assert refused.value.response["Error"]["Code"] == "AccessDenied"


def test_another_participants_key_is_usable_only_while_its_key_policy_allows_their_account(alice, bob):
    """AWS's cross-account use of a KMS key: by key ARN or alias ARN (or a ciphertext made under it), the
    key policy of the owner's key allowing the caller's account, and the caller's IAM
    policies allowing the call (bob is his account's administrator). Management operations
    stay refused whatever the key policy says; an alias name means the caller's own alias;
    ListKeys lists only the caller's keys."""
    akms, bkms = alice.client("kms"), bob.client("kms")
    key = akms.create_key(Description="alice shares it")["KeyMetadata"]
    akms.create_alias(AliasName="alias/alice-shared", TargetKeyId=key["KeyId"])
    alice_blob = akms.encrypt(KeyId=key["KeyId"], Plaintext=b"for bob", EncryptionContext={"to": "bob"})[
        "CiphertextBlob"
    ]
    bob_identity = bob.client("sts").get_caller_identity()
    bob_account, bob_arn = bob_identity["Account"], bob_identity["Arn"]
    uses = {
        "Encrypt": lambda: bkms.encrypt(KeyId=key["Arn"], Plaintext=b"from bob"),
        "GenerateDataKey": lambda: bkms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256"),
        "DescribeKey": lambda: bkms.describe_key(KeyId=key["Arn"]),
        "Decrypt": lambda: bkms.decrypt(CiphertextBlob=alice_blob, EncryptionContext={"to": "bob"}),
    }

    def all_denied():
        for action, call in uses.items():
            with kms_error("AccessDeniedException") as info:
                call()
            assert info.value.response["Error"]["Message"] == (
                f"User: {bob_arn} is not authorized to perform: kms:{action} on resource: {key['Arn']} "
                f"because no resource-based policy allows the kms:{action} action"
            )

    all_denied()  # without a grant in the key policy
    with kms_error("AccessDeniedException"):  # by alias ARN too
        bkms.encrypt(KeyId=key["Arn"].split(":key/")[0] + ":alias/alice-shared", Plaintext=b"x")

    default_policy = akms.get_key_policy(KeyId=key["KeyId"], PolicyName="default")["Policy"]
    granting = json.loads(default_policy)
    granting["Statement"].append(
        {
            "Sid": "bob's account may use the key",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{bob_account}:root"},
            "Action": [
                "kms:Encrypt",
                "kms:Decrypt",
                "kms:GenerateDataKey",
                "kms:DescribeKey",
                "kms:ScheduleKeyDeletion",
            ],
            "Resource": "*",
        }
    )
    akms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=json.dumps(granting))

    described = bkms.describe_key(KeyId=key["Arn"])["KeyMetadata"]
    assert (described["Arn"], described["AWSAccountId"]) == (key["Arn"], key["AWSAccountId"])
    assert bkms.decrypt(CiphertextBlob=alice_blob, EncryptionContext={"to": "bob"})["Plaintext"] == b"for bob"
    bob_blob = bkms.encrypt(KeyId=key["Arn"], Plaintext=b"from bob")["CiphertextBlob"]
    assert akms.decrypt(CiphertextBlob=bob_blob)["Plaintext"] == b"from bob"  # made under alice's key
    alias_arn = key["Arn"].split(":key/")[0] + ":alias/alice-shared"  # her alias, named by its ARN
    assert bkms.encrypt(KeyId=alias_arn, Plaintext=b"by alias")["KeyId"] == key["Arn"]
    data_key = bkms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    assert data_key["KeyId"] == key["Arn"]
    assert akms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]
    with kms_error("AccessDeniedException"):  # not an operation KMS allows across accounts
        bkms.schedule_key_deletion(KeyId=key["Arn"], PendingWindowInDays=7)
    with kms_error("NotFoundException"):  # bob's own aliases: he has no alias/alice-shared
        bkms.encrypt(KeyId="alias/alice-shared", Plaintext=b"x")
    assert key["KeyId"] not in [k["KeyId"] for k in bkms.list_keys()["Keys"]]
    assert akms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"

    akms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=default_policy)
    all_denied()  # the grant removed


# --- 4. honest clients pass signature verification ----------------------------------------------------


def test_honest_clients_of_every_service_pass_signature_verification(alice, klass):
    """Every signature is verified in class mode; what boto3 sends, in every form the
    workshop's clients use, still passes: kms, iam, sts, ec2, s3 (presigned GET and PUT
    URLs, multipart and managed uploads, an aws-chunked upload), and the AWS Encryption
    SDK's own KMS calls."""
    import io
    from unittest import mock

    import aws_encryption_sdk
    import botocore.session
    from boto3.s3.transfer import TransferConfig
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    key_arn = alice.client("kms").create_key(Description="honest")["KeyMetadata"]["Arn"]
    assert alice.client("iam").get_user()["User"]["UserName"] == "alice"
    assert "Volumes" in alice.client("ec2").describe_volumes()
    s3 = alice.client("s3")
    s3.create_bucket(Bucket="alice-honest", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="alice-honest", Key="a key/é+?.txt", Body=b"odd name")
    assert s3.get_object(Bucket="alice-honest", Key="a key/é+?.txt")["Body"].read() == b"odd name"
    five_mib = 5 * 1024 * 1024  # S3's smallest part: a 9 MiB upload in two parts
    s3.upload_fileobj(
        io.BytesIO(b"x" * (9 * 1024 * 1024)),
        "alice-honest",
        "big",
        Config=TransferConfig(multipart_threshold=five_mib, multipart_chunksize=five_mib),
    )
    assert s3.head_object(Bucket="alice-honest", Key="big")["ContentLength"] == 9 * 1024 * 1024

    presigned_v4 = boto3.client(
        "s3",
        endpoint_url=alice.env["KMS_WORKSHOP_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id=alice.env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=alice.env["AWS_SECRET_ACCESS_KEY"],
        config=Config(signature_version="s3v4"),
    )
    put_url = presigned_v4.generate_presigned_url("put_object", Params={"Bucket": "alice-honest", "Key": "up"})
    urllib.request.urlopen(
        urllib.request.Request(
            put_url, data=b"via a presigned PUT", method="PUT", headers={"Content-Type": "application/octet-stream"}
        ),
        timeout=10,
    )
    get_url = presigned_v4.generate_presigned_url("get_object", Params={"Bucket": "alice-honest", "Key": "up"})
    assert urllib.request.urlopen(get_url, timeout=10).read() == b"via a presigned PUT"

    # the aws-chunked upload boto3 makes over HTTPS (a CRC32 trailer, STREAMING-UNSIGNED-PAYLOAD-TRAILER)
    url = f"{klass[1].url}/alice-honest/chunked"
    request = AWSRequest(
        method="PUT",
        url=url,
        headers={
            "Content-Encoding": "aws-chunked",
            "X-Amz-Decoded-Content-Length": "11",
            "Content-Type": "application/octet-stream",
            "X-Amz-Trailer": "x-amz-checksum-crc32",
        },
    )
    request.context["checksum"] = {
        "request_algorithm": {"in": "trailer", "algorithm": "crc32", "name": "x-amz-checksum-crc32"}
    }
    request.data = AwsChunkedWrapper(
        io.BytesIO(b"hello chunk"), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32"
    ).read()
    S3SigV4Auth(Credentials(alice.env["AWS_ACCESS_KEY_ID"], alice.env["AWS_SECRET_ACCESS_KEY"]), "s3", REGION).add_auth(
        request
    )
    assert request.headers["X-Amz-Content-SHA256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    prepared = request.prepare()
    urllib.request.urlopen(
        urllib.request.Request(url, data=prepared.body, method="PUT", headers=dict(prepared.headers.items())),
        timeout=10,
    )
    assert s3.get_object(Bucket="alice-honest", Key="chunked")["Body"].read() == b"hello chunk"

    session = botocore.session.Session()  # the SDK makes its own KMS client from a botocore session
    session.set_credentials(alice.env["AWS_ACCESS_KEY_ID"], alice.env["AWS_SECRET_ACCESS_KEY"])
    with mock.patch.dict(os.environ, {"AWS_ENDPOINT_URL_KMS": alice.env["KMS_WORKSHOP_ENDPOINT_URL"]}):
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
            key_ids=[key_arn], botocore_session=session, region_names=[REGION]
        )
    client = aws_encryption_sdk.EncryptionSDKClient()
    sealed, _ = client.encrypt(source=b"sdk plaintext", key_provider=provider)
    assert client.decrypt(source=sealed, key_provider=provider)[0] == b"sdk plaintext"
