"""Isolation between participants.

- Two kernels on one machine, both on moto, running the workshop at the same time: each has
  its own KMS, so neither ever sees, lists or uses the other's keys.
- Two participants (KMS_WORKSHOP_PARTICIPANT=alice and =bob) on ONE shared endpoint, at the
  same time: every alias, role, policy, bucket and tag carries the participant's name,
  nothing collides, each one's envelope opens only with that participant's key, and each
  one's cleanup leaves the other's resources alone.
"""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import sys

import pytest
from workshop_run import ROOT, Kernel, RecordingEndpoint, kernel_env

KERNEL_SETUP = """
import json, base64
import workshop_helpers
from workshop_helpers import envelope, fixtures
ws = workshop_helpers.connect()
key = fixtures.ensure_imported_cmk(ws)
fixtures.ensure_participant_role(ws)
kms = ws.client("kms")
sealed = envelope.encrypt_bytes(b"mine", key_id=key.alias, encryption_context={"project": "workshop"})
print(json.dumps({"key": key.arn, "alias": key.alias, "sealed": base64.b64encode(sealed).decode(),
                  "keys": sorted(k["KeyId"] for k in kms.list_keys()["Keys"])}))
"""

PEEK = """
import json, base64
from botocore.exceptions import ClientError
found = {{}}
try:
    kms.describe_key(KeyId={other_key!r})
    found["describe"] = "visible"
except ClientError as exc:
    found["describe"] = exc.response["Error"]["Code"]
try:
    envelope.decrypt_bytes(base64.b64decode({other_sealed!r}), encryption_context={{"project": "workshop"}},
                           key_id={other_key!r})
    found["decrypt"] = "opened"
except Exception as exc:
    found["decrypt"] = type(exc).__name__ + ": " + getattr(exc, "response", {{}}).get("Error", {{}}).get("Code", "")
found["keys"] = sorted(k["KeyId"] for k in kms.list_keys()["Keys"])
found["own"] = envelope.decrypt_bytes(base64.b64decode(mine["sealed"]), encryption_context={{"project": "workshop"}},
                                     key_id=key.arn).decode()
print(json.dumps(found))
"""


def _stdout_json(outputs) -> dict:
    text = "".join(m["content"].get("text", "") for m in outputs if m["msg_type"] == "stream")
    return json.loads(text.strip().splitlines()[-1])


def test_two_kernels_on_moto_never_see_each_others_keys(tmp_path):
    kernels = {}
    try:
        for name in ("a", "b"):
            run_dir = tmp_path / name
            run_dir.mkdir()
            kernels[name] = Kernel(kernel_env(run_dir, "moto"), run_dir)
        # both kernels set up the workshop at the same time
        with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
            replies = dict(zip(kernels, pool.map(lambda k: k.run(KERNEL_SETUP), kernels.values())))
        made = {}
        for name, (reply, outputs, _) in replies.items():
            assert reply["status"] == "ok", outputs
            made[name] = _stdout_json(outputs)
            kernels[name].run("mine = " + repr(made[name]))
        assert made["a"]["alias"] == made["b"]["alias"] == "alias/ImportedCMK"  # same name, different keys
        assert made["a"]["key"] != made["b"]["key"]
        for me, other in (("a", "b"), ("b", "a")):
            reply, outputs, _ = kernels[me].run(
                PEEK.format(other_key=made[other]["key"], other_sealed=made[other]["sealed"])
            )
            assert reply["status"] == "ok", outputs
            seen = _stdout_json(outputs)
            assert seen["describe"] == "NotFoundException"
            assert seen["decrypt"].endswith("NotFoundException") or "InvalidCiphertext" in seen["decrypt"], seen
            assert made[other]["key"].rsplit("/", 1)[1] not in seen["keys"]
            assert seen["keys"] == made[me]["keys"]
            assert seen["own"] == "mine"
    finally:
        for kernel in kernels.values():
            kernel.close()


PARTICIPANT_FLOW = """
import json, sys
import workshop_helpers
from workshop_helpers import ebs, envelope, fixtures, names, s3_sse
ws = workshop_helpers.connect()
key = fixtures.ensure_imported_cmk(ws)
other = fixtures.ensure_other_key(ws)
role = fixtures.ensure_participant_role(ws)
doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key.arn}]}
policies = [fixtures.ensure_managed_policy(ws, n, doc) for n in (names.additional_policy_name(), names.context_policy_name())]
for arn in policies:
    ws.client("iam").attach_role_policy(RoleName=names.role_name(), PolicyArn=arn)
creds = fixtures.assume_participant_role(ws)
bucket = s3_sse.ensure_bucket(ws)
volume = ebs.create_encrypted_volume(ws, key.alias)
sealed = envelope.encrypt_bytes(b"from " + names.participant().encode(), key_id=key.alias,
                                encryption_context={"project": "workshop"})
kms, iam, s3, ec2 = (ws.client(s) for s in ("kms", "iam", "s3", "ec2"))
print(json.dumps({
    "participant": names.participant(),
    "key": key.key_id, "other_key": other["KeyId"], "alias": key.alias, "other_alias": fixtures.other_key_alias(),
    "alias_target": kms.describe_key(KeyId=key.alias)["KeyMetadata"]["KeyId"],
    "key_tags": {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key.key_id)["Tags"]},
    "other_key_tags": {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=other["KeyId"])["Tags"]},
    "role": role["RoleName"], "role_tags": {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=role["RoleName"])["Tags"]},
    "session": creds["AccessKeyId"][:4],
    "policies": [p.rsplit("/", 1)[1] for p in policies],
    "policy_tags": [{t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=p)["Tags"]} for p in policies],
    "bucket": bucket, "bucket_tags": {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]},
    "volume": volume.volume_id,
    "volume_tags": {t["Key"]: t["Value"] for t in ec2.describe_volumes(VolumeIds=[volume.volume_id])["Volumes"][0]["Tags"]},
    "sealed": sealed.hex(),
}))
"""

CROSS_DECRYPT = """
import json, sys
import workshop_helpers
from workshop_helpers import envelope
workshop_helpers.connect()
try:
    envelope.decrypt_bytes(bytes.fromhex(sys.argv[1]), encryption_context={"project": "workshop"}, key_id=sys.argv[2])
    print("opened")
except envelope.KeyMismatchError:
    print("refused: KeyMismatchError")
"""


def _participant_env(base, participant: str, url: str) -> dict[str, str]:
    run_dir = base / participant
    run_dir.mkdir(parents=True, exist_ok=True)
    return kernel_env(run_dir, "endpoint", KMS_WORKSHOP_PARTICIPANT=participant, KMS_WORKSHOP_ENDPOINT_URL=url)


@pytest.mark.endpoint
def test_participants_on_one_endpoint_carry_their_names_and_never_collide(tmp_path):
    with RecordingEndpoint(kernel_env(tmp_path, "endpoint")) as server:
        envs = {who: _participant_env(tmp_path, who, server.url) for who in ("alice", "bob")}
        procs = {
            who: subprocess.Popen(
                [sys.executable, "-c", PARTICIPANT_FLOW],
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for who, env in envs.items()
        }  # both at the same time
        made = {}
        for who, proc in procs.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err[-3000:]
            made[who] = json.loads(out.strip().splitlines()[-1])

        for who, info in made.items():
            assert info["participant"] == who
            for name in (info["alias"], info["other_alias"], info["role"], *info["policies"], info["bucket"]):
                assert name.lower().endswith(who), f"{name} does not carry {who}'s name"
            tagged = [
                info["key_tags"],
                info["other_key_tags"],
                info["role_tags"],
                *info["policy_tags"],
                info["bucket_tags"],
                info["volume_tags"],
            ]
            for tags in tagged:
                assert tags.get("kms-workshop") == "true" and tags.get("kms-workshop-participant") == who, tags
            assert info["alias_target"] == info["key"]
        alice, bob = made["alice"], made["bob"]
        for field in ("key", "other_key", "alias", "other_alias", "role", "bucket", "volume"):
            assert alice[field] != bob[field], field
        assert set(alice["policies"]).isdisjoint(bob["policies"])

        # bob cannot pass alice's file off as his: his key is not hers
        check = subprocess.run(
            [sys.executable, "-c", CROSS_DECRYPT, alice["sealed"], bob["alias"]],
            cwd=ROOT,
            env=envs["bob"],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert check.stdout.strip() == "refused: KeyMismatchError", check.stderr[-2000:]

        # alice cleans up: bob's resources are untouched; then bob cleans up his own
        first = subprocess.run(
            [sys.executable, "-m", "workshop_helpers", "cleanup"],
            cwd=ROOT,
            env=envs["alice"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert first.returncode == 0, first.stderr
        after = subprocess.run(
            [
                sys.executable,
                "-c",
                "import json, sys, workshop_helpers, workshop_run; "
                "json.dump(workshop_run.inventory(workshop_helpers.connect()), sys.stdout, default=str)",
            ],
            cwd=ROOT,
            env=envs["bob"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert after.returncode == 0, after.stderr
        inventory = json.loads(after.stdout)
        states = {k["id"]: k["state"] for k in inventory["keys"]}
        assert states[alice["key"]] == "PendingDeletion" and states[alice["other_key"]] == "PendingDeletion"
        assert states[bob["key"]] == "Enabled" and states[bob["other_key"]] == "Enabled"
        assert {a["name"] for a in inventory["aliases"]} == {bob["alias"], bob["other_alias"]}
        assert {r["name"] for r in inventory["roles"]} == {bob["role"]}
        assert {p["name"] for p in inventory["policies"]} == set(bob["policies"])
        assert {b["name"] for b in inventory["buckets"]} == {bob["bucket"]}
        assert bob["volume"] in {v["id"] for v in inventory["volumes"]}
        assert alice["volume"] not in {v["id"] for v in inventory["volumes"]}
        assert bob["key"] not in first.stdout and bob["role"] not in first.stdout
        second = subprocess.run(
            [sys.executable, "-m", "workshop_helpers", "cleanup"],
            cwd=ROOT,
            env=envs["bob"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert second.returncode == 0 and bob["key"] in second.stdout, second.stderr
