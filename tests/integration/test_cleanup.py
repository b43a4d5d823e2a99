"""workshop_helpers.cleanup and `python -m workshop_helpers cleanup`.

In-process tests run as their own participant, so cleanup touches only what they made;
that is also the isolation guarantee for people sharing an endpoint or an account.
"""

from __future__ import annotations

import subprocess
import sys
import uuid

import pytest
from notebook_support import ROOT, Endpoint, notebook_env

from workshop_helpers import cleanup, fixtures, names


def _participant(monkeypatch, tmp_path, prefix="cl"):
    who = prefix + uuid.uuid4().hex[:8]
    monkeypatch.setenv("KMS_WORKSHOP_PARTICIPANT", who)
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(tmp_path / f"data-{who}"))
    return who


def _make_everything(ws):
    key = fixtures.ensure_imported_cmk(ws)
    other = fixtures.ensure_other_key(ws)
    fixtures.ensure_participant_role(ws)
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
    for name in (names.additional_policy_name(), names.context_policy_name()):
        arn = fixtures.ensure_managed_policy(ws, name, doc)
        ws.client("iam").attach_role_policy(RoleName=names.role_name(), PolicyArn=arn)
    fixtures.ensure_encrypted_sample(ws, key)
    s3 = ws.client("s3")
    bucket = names.bucket_name(ws.account_id, ws.region)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": ws.region})
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": names.iam_tags()})
    s3.put_object(Bucket=bucket, Key="a.txt", Body=b"x")
    ec2 = ws.client("ec2")
    volume = ec2.create_volume(
        AvailabilityZone=f"{ws.region}a",
        Size=1,
        Encrypted=True,
        KmsKeyId=key.arn,
        TagSpecifications=[{"ResourceType": "volume", "Tags": names.iam_tags()}],
    )["VolumeId"]
    return key, other, bucket, volume


def test_cleanup_removes_everything_and_is_safe_twice(moto_workshop, monkeypatch, tmp_path):
    ws = moto_workshop
    _participant(monkeypatch, tmp_path)
    key, other, bucket, volume = _make_everything(ws)
    kms, iam = ws.client("kms"), ws.client("iam")

    report = cleanup.cleanup(ws)
    assert report.errors == []
    kinds = {a.kind for a in report.actions}
    assert {
        "alias",
        "KMS key",
        "key material copy",
        "IAM role",
        "IAM policy",
        "S3 bucket",
        "EBS volume",
        "local file",
        "policy attachment",
        "inline policy",
    } <= kinds
    for key_id in (key.key_id, other["KeyId"]):
        assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert fixtures.kept_key_material(ws, key.key_id) is None
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    assert names.key_alias() not in aliases and fixtures.other_key_alias() not in aliases
    with pytest.raises(iam.exceptions.NoSuchEntityException):
        iam.get_role(RoleName=names.role_name())
    for name in (names.additional_policy_name(), names.context_policy_name()):
        with pytest.raises(iam.exceptions.NoSuchEntityException):
            iam.get_policy(PolicyArn=fixtures.policy_arn(ws, name))
    assert bucket not in {b["Name"] for b in ws.client("s3").list_buckets()["Buckets"]}
    assert volume not in {v["VolumeId"] for v in ws.client("ec2").describe_volumes()["Volumes"]}
    assert not fixtures.workshop_data_path().exists()

    again = cleanup.cleanup(ws)
    assert again.nothing_to_do and again.errors == []
    assert "Nothing left" in again.summary()
    assert "Nothing left" in again.text() and "Nothing left" in again._repr_html_()


def test_dry_run_changes_nothing(moto_workshop, monkeypatch, tmp_path):
    ws = moto_workshop
    _participant(monkeypatch, tmp_path)
    key = fixtures.ensure_imported_cmk(ws)
    preview = cleanup.cleanup(ws, dry_run=True)
    assert any(a.kind == "KMS key" and a.name == key.key_id for a in preview.actions)
    assert all(a.done.startswith("would") for a in preview.actions)
    assert ws.client("kms").describe_key(KeyId=key.alias)["KeyMetadata"]["KeyState"] == "Enabled"
    assert "Would clean up" in preview.summary()
    cleanup.cleanup(ws)


def test_cleanup_leaves_other_participants_alone(moto_workshop, monkeypatch, tmp_path):
    ws = moto_workshop
    _participant(monkeypatch, tmp_path, "alice")
    alice_key = fixtures.ensure_imported_cmk(ws)
    fixtures.ensure_participant_role(ws)
    alice_role = names.role_name()
    _participant(monkeypatch, tmp_path, "bob")
    fixtures.ensure_imported_cmk(ws)
    report = cleanup.cleanup(ws)
    assert alice_key.key_id not in {a.name for a in report.actions}
    assert ws.client("kms").describe_key(KeyId=alice_key.key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert ws.client("iam").get_role(RoleName=alice_role)["Role"]["RoleName"] == alice_role


def test_untagged_keys_are_left_alone(moto_workshop, monkeypatch, tmp_path):
    ws = moto_workshop
    _participant(monkeypatch, tmp_path)
    kms = ws.client("kms")
    stranger = kms.create_key(Description="not the workshop's")["KeyMetadata"]["KeyId"]
    cleanup.cleanup(ws)
    assert kms.describe_key(KeyId=stranger)["KeyMetadata"]["KeyState"] == "Enabled"


def test_on_aws_an_untagged_key_behind_the_alias_is_skipped(moto_workshop, monkeypatch, tmp_path):
    """The aws rule, checked on moto: only tagged resources are touched."""
    from dataclasses import replace

    ws = moto_workshop
    _participant(monkeypatch, tmp_path)
    kms = ws.client("kms")
    untagged = kms.create_key(Description="someone's own ImportedCMK")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=names.key_alias(), TargetKeyId=untagged)
    report = cleanup.cleanup(replace(ws, backend="aws"), local_files=False)
    assert untagged not in {a.name for a in report.actions}
    assert any(a.name == untagged for a in report.skipped)
    assert kms.describe_key(KeyId=untagged)["KeyMetadata"]["KeyState"] == "Enabled"
    kms.delete_alias(AliasName=names.key_alias())


def _cli(args, env):
    return subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "cleanup", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_refuses_moto(tmp_path):
    result = _cli(["--backend", "moto"], notebook_env(tmp_path, "moto"))
    assert result.returncode != 0
    assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.endpoint
def test_cli_over_the_endpoint_twice(tmp_path):
    env = notebook_env(tmp_path, "endpoint", KMS_WORKSHOP_PARTICIPANT="cli")
    with Endpoint(env) as endpoint:
        env["KMS_WORKSHOP_ENDPOINT_URL"] = endpoint.url
        setup = subprocess.run(
            [
                sys.executable,
                "-c",
                "import workshop_helpers as w; from workshop_helpers import fixtures as f; "
                "ws = w.connect(); print(f.ensure_imported_cmk(ws).key_id); f.ensure_participant_role(ws)",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert setup.returncode == 0, setup.stderr
        key_id = setup.stdout.strip()
        dry = _cli(["--dry-run"], env)
        assert dry.returncode == 0, dry.stderr
        assert "would be scheduled for deletion" in dry.stdout
        first = _cli([], env)
        assert first.returncode == 0, first.stderr
        assert key_id in first.stdout and "IAM role" in first.stdout
        second = _cli([], env)
        assert second.returncode == 0, second.stderr
        assert "Nothing left" in second.stdout
        # the kept copy of the key material is gone too
        assert not list((tmp_path / "key-material").rglob("*.bin"))
