"""One rule for "is this resource the workshop's?": `names.is_ours`, and the three places
that decide it (fixtures, cleanup, ebs) all following it.

The rule: the workshop's tag (kms-workshop=true) is present, and the participant tag equals
the current participant: absent when KMS_WORKSHOP_PARTICIPANT is not set. So what was made
for participant "alice" belongs neither to "bob" nor to a session with no participant.

Before the rule was one, `fixtures.is_workshop_key` accepted alice's key when no participant
was set (it only checked that the tags of `names.tags()` were there), so on the aws backend
`retire_key` would schedule another participant's key for deletion:
`test_a_participants_key_is_not_ours_without_a_participant` fails on that code.
"""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from workshop_helpers import cleanup, ebs, fixtures, names

PARTICIPANT_ENV = "KMS_WORKSHOP_PARTICIPANT"


def _name(prefix: str) -> str:
    return prefix + uuid.uuid4().hex[:8]


def _be(monkeypatch, who: str | None) -> None:
    """Run as participant `who` (None: no participant set)."""
    if who is None:
        monkeypatch.delenv(PARTICIPANT_ENV, raising=False)
    else:
        monkeypatch.setenv(PARTICIPANT_ENV, who)


def _key_tagged(kms, tags: dict[str, str]) -> str:
    return kms.create_key(Description="ownership test", Tags=[{"TagKey": k, "TagValue": v} for k, v in tags.items()])[
        "KeyMetadata"
    ]["KeyId"]


def _state(kms, key_id: str) -> str:
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"]


@pytest.fixture
def data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(tmp_path / "workshop-data"))


@pytest.mark.parametrize(
    "participant, tags, ours",
    [
        (None, {names.TAG_KEY: "true"}, True),
        (None, {names.TAG_KEY: "true", names.PARTICIPANT_TAG_KEY: "alice"}, False),
        ("bob", {names.TAG_KEY: "true", names.PARTICIPANT_TAG_KEY: "alice"}, False),
        ("alice", {names.TAG_KEY: "true", names.PARTICIPANT_TAG_KEY: "alice"}, True),
        ("alice", {names.TAG_KEY: "true"}, False),
        ("alice", {names.PARTICIPANT_TAG_KEY: "alice"}, False),
        (None, {names.TAG_KEY: "false"}, False),
        (None, {}, False),
    ],
)
def test_the_rule(monkeypatch, participant, tags, ours):
    _be(monkeypatch, participant)
    assert names.is_ours(tags) is ours
    assert names.is_ours(names.tags()), "what the workshop tags now is always its own"


def test_a_participants_key_is_not_ours_without_a_participant(moto_workshop, monkeypatch, data_dir):
    """Fails on the old fixtures.is_workshop_key, which said True here: alice's key carries
    kms-workshop=true, which was all it looked for when no participant was set."""
    ws = moto_workshop
    kms = ws.client("kms")
    alice = _name("alice")
    _be(monkeypatch, alice)
    alices = _key_tagged(kms, names.tags())
    assert fixtures.is_workshop_key(kms, alices)  # hers: the rule is not vacuous

    _be(monkeypatch, None)
    assert not fixtures.is_workshop_key(kms, alices)
    # So on aws nothing that follows the rule touches it:
    aws = replace(ws, backend="aws")
    assert not fixtures.retire_key(aws, alices)
    assert _state(kms, alices) == "Enabled"
    preview = cleanup.cleanup(aws, dry_run=True, local_files=False)
    assert alices not in {a.name for a in preview.actions}

    _be(monkeypatch, alice)
    assert fixtures.retire_key(aws, alices)
    assert _state(kms, alices) == "PendingDeletion"


@pytest.mark.parametrize(
    "tagged_for_alice, me",
    [
        pytest.param(True, "bob", id="another-participants-key"),
        pytest.param(False, "alice", id="participant-tag-without-the-workshops-tag"),
    ],
)
def test_what_is_not_ours_is_left_alone(moto_workshop, monkeypatch, data_dir, tagged_for_alice, me):
    """Alice's key is not bob's; a key with alice's participant tag but not the workshop's
    (someone's own key, tagged like the workshop's) is not even alice's."""
    ws = moto_workshop
    kms = ws.client("kms")
    alice = _name("alice")
    tags = {names.PARTICIPANT_TAG_KEY: alice}
    if tagged_for_alice:
        tags[names.TAG_KEY] = "true"
    key = _key_tagged(kms, tags)
    _be(monkeypatch, alice if me == "alice" else _name(me))
    assert not fixtures.is_workshop_key(kms, key)
    assert not fixtures.retire_key(replace(ws, backend="aws"), key)
    report = cleanup.cleanup(ws, local_files=False)
    assert key not in {a.name for a in report.actions}
    assert _state(kms, key) == "Enabled"
    kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)


def test_cleanup_without_a_participant_leaves_a_participants_volume(moto_workshop, monkeypatch, data_dir):
    ws = moto_workshop
    ec2 = ws.client("ec2")
    _be(monkeypatch, _name("alice"))
    volume = ec2.create_volume(
        AvailabilityZone=ebs.default_az(ws),
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": names.iam_tags()}],
    )["VolumeId"]
    _be(monkeypatch, None)
    preview = cleanup.cleanup(ws, dry_run=True, local_files=False)
    assert volume not in {a.name for a in preview.actions}
    ec2.delete_volume(VolumeId=volume)


def test_the_workshop_instance_is_never_another_participants(moto_workshop, monkeypatch):
    """ebs.workshop_instance reuses only an instance the rule calls ours: not alice's for
    bob or for no participant, and not one without the workshop's tag."""
    ws = moto_workshop
    ec2 = ws.client("ec2")
    alice, bob = _name("alice"), _name("bob")
    _be(monkeypatch, alice)
    alices = ebs.workshop_instance(ws)
    assert ebs.workshop_instance(ws) == alices  # reused: the rule is not vacuous

    _be(monkeypatch, bob)
    image = ec2.describe_instances(InstanceIds=[alices])["Reservations"][0]["Instances"][0]["ImageId"]
    untagged = ec2.run_instances(
        ImageId=image,
        InstanceType="t3.micro",
        MinCount=1,
        MaxCount=1,
        Placement={"AvailabilityZone": ebs.default_az(ws)},
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "Name", "Value": ebs.INSTANCE_NAME}, {"Key": names.PARTICIPANT_TAG_KEY, "Value": bob}],
            }
        ],
    )["Instances"][0]["InstanceId"]
    bobs = ebs.workshop_instance(ws)
    assert bobs not in (alices, untagged)
    tags = ec2.describe_instances(InstanceIds=[bobs])["Reservations"][0]["Instances"][0]["Tags"]
    assert {t["Key"]: t["Value"] for t in tags}.items() >= names.tags().items()  # launched for bob

    _be(monkeypatch, None)
    assert ebs.workshop_instance(ws) not in (alices, bobs, untagged)
    ec2.terminate_instances(InstanceIds=[alices, bobs, untagged])
