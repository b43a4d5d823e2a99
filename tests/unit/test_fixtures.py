"""workshop_helpers.fixtures: idempotent set-up, on the in-process moto backend.

Each test runs as its own participant (KMS_WORKSHOP_PARTICIPANT), so its alias, role and
policies are its own and other tests' resources in the shared moto account are untouched.
"""

from __future__ import annotations

import os
import stat
import uuid

import pytest

from workshop_helpers import fixtures, names
from workshop_helpers.errors import WorkshopError


@pytest.fixture
def ws(moto_workshop, monkeypatch, tmp_path):
    monkeypatch.setenv("KMS_WORKSHOP_PARTICIPANT", "fx" + uuid.uuid4().hex[:8])
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(tmp_path / "workshop-data"))
    return moto_workshop


@pytest.fixture
def kms(ws):
    return ws.client("kms")


def test_ensure_imported_cmk_creates_then_reuses(ws, kms):
    first = fixtures.ensure_imported_cmk(ws)
    assert first.created and first.alias == names.key_alias()
    meta = kms.describe_key(KeyId=first.alias)["KeyMetadata"]
    assert meta["KeyId"] == first.key_id and meta["Arn"] == first.arn
    assert meta["Origin"] == "EXTERNAL" and meta["KeyState"] == "Enabled"
    assert meta["ExpirationModel"] == "KEY_MATERIAL_DOES_NOT_EXPIRE"
    tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=first.key_id)["Tags"]}
    assert tags == names.tags()
    second = fixtures.ensure_imported_cmk(ws)
    assert not second.created and second.key_id == first.key_id and second.repairs == []
    assert "already in place" in second.summary()
    assert second.status() == (
        f"{first.alias} -> key {first.key_id} (Enabled)\n"
        "Where it comes from: found in your account: the key notebook 01 made, "
        "with the key material you imported"
    )
    assert first.status().startswith(
        f"{first.alias} -> key {first.key_id} (Enabled)\nWhere it comes from: made just now"
    )


def test_the_key_works_and_its_material_copy_is_kept(ws, kms):
    key = fixtures.ensure_imported_cmk(ws)
    out = kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext=fixtures.CONTEXT)
    assert len(out["Plaintext"]) == 32
    material = fixtures.kept_key_material(ws, key.key_id)
    assert material is not None and len(material) == 32
    assert fixtures.key_material_dir(ws) is None  # moto: memory only


def test_disabled_key_is_enabled_again(ws, kms):
    key = fixtures.ensure_imported_cmk(ws)
    kms.disable_key(KeyId=key.key_id)
    again = fixtures.ensure_imported_cmk(ws)
    assert again.key_id == key.key_id and again.state == "Enabled"
    assert again.repairs == ["enabled it again"]


def test_key_pending_deletion_is_saved(ws, kms):
    key = fixtures.ensure_imported_cmk(ws)
    kms.schedule_key_deletion(KeyId=key.key_id, PendingWindowInDays=7)
    again = fixtures.ensure_imported_cmk(ws)
    assert again.key_id == key.key_id
    assert kms.describe_key(KeyId=key.key_id)["KeyMetadata"]["KeyState"] == "Enabled"
    assert "cancelled its scheduled deletion" in again.repairs


def test_deleted_material_is_reimported_from_the_kept_copy(ws, kms):
    key = fixtures.ensure_imported_cmk(ws)
    blob = kms.encrypt(KeyId=key.alias, Plaintext=b"before")["CiphertextBlob"]
    kms.delete_imported_key_material(KeyId=key.key_id)
    assert kms.describe_key(KeyId=key.key_id)["KeyMetadata"]["KeyState"] == "PendingImport"
    again = fixtures.ensure_imported_cmk(ws)
    assert again.key_id == key.key_id
    assert again.repairs == ["re-imported the kept copy of its key material"]
    # the same material: what was encrypted before decrypts again
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"before"


def test_key_without_material_or_copy_is_replaced(ws, kms):
    key = fixtures.ensure_imported_cmk(ws)
    kms.delete_imported_key_material(KeyId=key.key_id)
    fixtures.forget_key_material(ws, key.key_id)
    again = fixtures.ensure_imported_cmk(ws)
    assert again.created and again.key_id != key.key_id
    assert kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]["KeyId"] == again.key_id
    assert kms.describe_key(KeyId=key.key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert any("replaced key" in r for r in again.repairs)


def test_point_alias_and_retire_key(ws, kms):
    first = fixtures.ensure_imported_cmk(ws)
    new_id, _ = fixtures.create_imported_key(ws)
    previous = fixtures.point_alias(ws, names.key_alias(), new_id)
    assert previous == first.key_id
    assert fixtures.point_alias(ws, names.key_alias(), new_id) is None  # already there
    assert fixtures.retire_key(ws, previous)
    assert kms.describe_key(KeyId=previous)["KeyMetadata"]["KeyState"] == "PendingDeletion"
    assert fixtures.kept_key_material(ws, previous) is None
    assert fixtures.retire_key(ws, previous)  # twice: harmless


def test_wrap_key_material_is_rsa_oaep_sha256():
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = private.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    material = os.urandom(32)
    wrapped = fixtures.wrap_key_material(der, material)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    assert private.decrypt(wrapped, oaep) == material


def test_material_copy_on_disk_is_private(ws, monkeypatch, tmp_path):
    """One file per key, readable by the owner only, in a folder only the owner can enter
    (under $KMS_WORKSHOP_KEY_MATERIAL_DIR); the sentence returned names the file."""
    from dataclasses import replace

    monkeypatch.setenv("KMS_WORKSHOP_KEY_MATERIAL_DIR", str(tmp_path / "material"))
    fake = replace(ws, backend="endpoint")  # the file store, without a second backend
    where = fixtures.keep_key_material(fake, "1234abcd-0000-0000-0000-000000000000", b"k" * 32)
    directory = fixtures.key_material_dir(fake)
    assert tmp_path / "material" in directory.parents
    (path,) = list(directory.iterdir())
    assert str(path) in where and path.read_bytes() == b"k" * 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert (
        fixtures.kept_key_material(fake, "arn:aws:kms:eu-west-1:1:key/1234abcd-0000-0000-0000-000000000000")
        == b"k" * 32
    )
    assert fixtures.forget_key_material(fake, "1234abcd-0000-0000-0000-000000000000")
    assert not fixtures.forget_key_material(fake, "1234abcd-0000-0000-0000-000000000000")


def test_material_is_never_kept_in_the_repository(ws, monkeypatch):
    from dataclasses import replace

    monkeypatch.delenv("KMS_WORKSHOP_KEY_MATERIAL_DIR", raising=False)
    directory = fixtures.key_material_dir(replace(ws, backend="aws"))
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert not str(directory).startswith(repo)


def test_participant_role_twice(ws):
    first = fixtures.ensure_participant_role(ws)
    second = fixtures.ensure_participant_role(ws)
    assert first["Arn"] == second["Arn"] == fixtures.role_arn(ws)
    iam = ws.client("iam")
    assert iam.list_role_policies(RoleName=names.role_name())["PolicyNames"] == [fixtures.BASE_POLICY_NAME]
    assert fixtures.attached_policy_names(ws) == []


def test_participant_role_is_denied_data_keys(ws):
    from workshop_helpers.display import expect_error

    key = fixtures.ensure_imported_cmk(ws)
    role_kms = ws.client("kms", credentials=fixtures.assume_participant_role(ws))
    assert role_kms.describe_key(KeyId=key.alias)["KeyMetadata"]["KeyId"] == key.key_id
    with expect_error("AccessDeniedException", quiet=True):
        role_kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256")


def test_managed_policy_create_update_and_reset(ws):
    doc = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}
    arn = fixtures.ensure_managed_policy(ws, names.additional_policy_name(), doc)
    assert fixtures.ensure_managed_policy(ws, names.additional_policy_name(), doc) == arn
    doc2 = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
    assert fixtures.ensure_managed_policy(ws, names.additional_policy_name(), doc2) == arn
    iam = ws.client("iam")
    assert len(iam.list_policy_versions(PolicyArn=arn)["Versions"]) == 2
    fixtures.ensure_participant_role(ws)
    iam.attach_role_policy(RoleName=names.role_name(), PolicyArn=arn)
    assert fixtures.attached_policy_names(ws) == [names.additional_policy_name()]
    assert fixtures.reset_participant_role(ws) == [names.additional_policy_name()]
    assert fixtures.reset_participant_role(ws) == []
    assert fixtures.attached_policy_names(ws) == []


def test_retry_while_denied_retries_only_on_aws(ws):
    from dataclasses import replace

    from botocore.exceptions import ClientError

    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "no"}}, "GenerateDataKey")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise denied
        return "ok"

    with pytest.raises(ClientError):
        fixtures.retry_while_denied(ws, flaky)
    assert len(calls) == 1
    calls.clear()
    aws = replace(ws, backend="aws")
    assert fixtures.retry_while_denied(aws, flaky, attempts=5, sleep=lambda s: None) == "ok"
    assert len(calls) == 3
    calls.clear()

    def always_denied():
        calls.append(1)
        raise denied

    with pytest.raises(ClientError):
        fixtures.retry_while_denied(aws, always_denied, attempts=2, sleep=lambda s: None)
    assert len(calls) == 2


def test_may_change_iam(ws, monkeypatch):
    from dataclasses import replace

    assert fixtures.may_change_iam(ws)
    aws = replace(ws, backend="aws")
    monkeypatch.setenv("KMS_WORKSHOP_IAM", "no")
    assert not fixtures.may_change_iam(aws)
    monkeypatch.setenv("KMS_WORKSHOP_IAM", "yes")
    assert fixtures.may_change_iam(aws)
    monkeypatch.delenv("KMS_WORKSHOP_IAM")
    monkeypatch.setattr("builtins.input", lambda prompt: pytest.fail("a notebook must never ask"))
    assert not fixtures.may_change_iam(aws)  # the default: IAM left alone, said in one line


def test_workshop_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(tmp_path / "a" / "b"))
    path = fixtures.workshop_data_dir()
    assert path == tmp_path / "a" / "b" and path.is_dir()
    assert (path / ".gitignore").read_text().strip().endswith("*")
    monkeypatch.delenv("KMS_WORKSHOP_DATA_DIR")
    monkeypatch.chdir(tmp_path)
    assert fixtures.workshop_data_dir() == tmp_path / "workshop-data"


def test_workshop_data_dir_unwritable(monkeypatch, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(blocker / "sub"))
    with pytest.raises(WorkshopError, match="KMS_WORKSHOP_DATA_DIR"):
        fixtures.workshop_data_dir()


def test_encrypted_sample_is_kept_or_remade(ws, kms):
    key = fixtures.ensure_imported_cmk(ws)
    first = fixtures.ensure_encrypted_sample(ws, key)
    assert first.remade and first.reason == "this folder had none yet"
    assert first.summary().startswith("Notebook 03's files: made just now")
    again = fixtures.ensure_encrypted_sample(ws, key)
    assert not again.remade and "the very files you encrypted in notebook 03" in again.summary()
    # made under another key (the ImportedCMK was replaced): remade, and said so
    other = fixtures.ensure_other_key(ws)
    out = kms.generate_data_key(KeyId=other["KeyId"], KeySpec="AES_256", EncryptionContext=fixtures.CONTEXT)
    first.hand_data_key.write_bytes(out["CiphertextBlob"])
    third = fixtures.ensure_encrypted_sample(ws, key)
    assert third.remade and "another KMS key" in third.reason
    # damaged
    data = bytearray(third.hand_ciphertext.read_bytes())
    data[-1] ^= 1
    third.hand_ciphertext.write_bytes(bytes(data))
    fourth = fixtures.ensure_encrypted_sample(ws, key)
    assert fourth.remade and fourth.reason == "they were damaged"
    # the envelope file alone missing
    fourth.envelope.unlink()
    assert fixtures.ensure_encrypted_sample(ws, key).remade


def test_no_plaintext_key_in_the_sample_files(ws):
    key = fixtures.ensure_imported_cmk(ws)
    inputs = fixtures.ensure_encrypted_sample(ws, key)
    kms = ws.client("kms")
    data_key = kms.decrypt(CiphertextBlob=inputs.hand_data_key.read_bytes(), EncryptionContext=fixtures.CONTEXT)[
        "Plaintext"
    ]
    import base64

    for path in fixtures.local_workshop_files():
        content = path.read_bytes()
        assert data_key not in content and base64.b64encode(data_key) not in content
        assert data_key.hex().encode() not in content


def test_other_key_is_idempotent(ws, kms):
    first = fixtures.ensure_other_key(ws)
    assert fixtures.other_key_alias() == f"alias/KMSWorkshop-OtherKey-{names.participant()}"
    assert kms.describe_key(KeyId=fixtures.other_key_alias())["KeyMetadata"]["KeyId"] == first["KeyId"]
    assert fixtures.ensure_other_key(ws)["KeyId"] == first["KeyId"]
    kms.schedule_key_deletion(KeyId=first["KeyId"], PendingWindowInDays=7)
    assert fixtures.ensure_other_key(ws)["KeyId"] == first["KeyId"]
    assert kms.describe_key(KeyId=first["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_move_alias_retires_the_previous_key(ws, kms):
    first = fixtures.ensure_imported_cmk(ws)
    new_id, _ = fixtures.create_imported_key(ws)
    assert fixtures.move_alias(ws, names.key_alias(), new_id) == first.key_id
    assert fixtures.move_alias(ws, names.key_alias(), new_id) is None
    assert kms.describe_key(KeyId=first.key_id)["KeyMetadata"]["KeyState"] == "PendingDeletion"


def test_on_aws_a_key_the_workshop_did_not_tag_is_left_alone(ws, kms):
    """The aws rule, checked on moto: someone's own alias/ImportedCMK is neither used,
    repaired nor moved."""
    from dataclasses import replace

    theirs = kms.create_key(Description="their own ImportedCMK")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=names.key_alias(), TargetKeyId=theirs)
    kms.disable_key(KeyId=theirs)
    aws = replace(ws, backend="aws")
    with pytest.raises(WorkshopError, match="KMS_WORKSHOP_PARTICIPANT"):
        fixtures.ensure_imported_cmk(aws)
    assert kms.describe_key(KeyId=theirs)["KeyMetadata"]["KeyState"] == "Disabled"
    new_id, _ = fixtures.create_imported_key(ws)
    with pytest.raises(WorkshopError, match="did not create"):
        fixtures.move_alias(aws, names.key_alias(), new_id)
    assert kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]["KeyId"] == theirs


class _AnotherKernelWinsTheAlias:
    """A KMS client whose first create_alias loses a race: just before it, another kernel
    makes an ImportedCMK of its own and creates the same alias for it."""

    def __init__(self, ws, kms):
        self._ws, self._kms, self.theirs = ws, kms, None

    def __getattr__(self, name):
        return getattr(self._kms, name)

    def create_alias(self, **kwargs):
        if self.theirs is None:
            self.theirs, _ = fixtures.create_imported_key(self._ws)
            self._kms.create_alias(AliasName=kwargs["AliasName"], TargetKeyId=self.theirs)
        return self._kms.create_alias(**kwargs)


def test_alias_made_by_another_kernel_at_the_same_moment_is_kept(ws, kms):
    """Two kernels on one endpoint race to create the ImportedCMK: the second keeps the
    first one's key and retires its own, so no key is left orphaned behind no alias."""
    racing = _AnotherKernelWinsTheAlias(ws, kms)
    key = fixtures.ensure_imported_cmk(ws, kms=racing)
    theirs = racing.theirs
    assert key.key_id == theirs and not key.created
    assert kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]["KeyId"] == theirs
    ours = [
        k["KeyId"]
        for k in kms.list_keys()["Keys"]
        if k["KeyId"] != theirs and fixtures.is_workshop_key(kms, k["KeyId"])
    ]
    assert ours and all(kms.describe_key(KeyId=k)["KeyMetadata"]["KeyState"] == "PendingDeletion" for k in ours)


def test_sample_secret_is_the_learners_own(ws):
    """Notebook 03 has the learner write samplesecret.txt: the fixture
    writes the default only when the file is missing or empty, and never overwrites theirs."""
    path = fixtures.workshop_data_dir() / "samplesecret.txt"
    assert not path.exists()
    assert fixtures.ensure_sample_secret() == path and path.read_text() == fixtures.SAMPLE_SECRET_TEXT
    path.write_text("")
    assert fixtures.sample_secret_text() == fixtures.SAMPLE_SECRET_TEXT
    path.write_text("my very own secret\n")
    assert fixtures.ensure_sample_secret().read_text() == "my very own secret\n"
    assert fixtures.sample_secret_text() == "my very own secret\n"


def test_encrypted_sample_follows_the_learners_text(ws, kms):
    from workshop_helpers import checks, envelope

    key = fixtures.ensure_imported_cmk(ws)
    path = fixtures.workshop_data_dir() / "samplesecret.txt"
    path.write_text("first secret\n")
    first = fixtures.ensure_encrypted_sample(ws, key)
    assert first.remade
    assert not fixtures.ensure_encrypted_sample(ws, key).remade
    # the learner writes another text (and does not re-run the encryption): the files are remade from it
    path.write_text("a second, longer secret\n")
    again = fixtures.ensure_encrypted_sample(ws, key)
    assert again.remade and "another text" in again.reason
    text = envelope.decrypt_bytes(
        again.envelope.read_bytes(), encryption_context=fixtures.CONTEXT, key_id=key.arn, kms_client=kms
    ).decode()
    assert text == "a second, longer secret\n"
    assert checks.check_recovered_secret(text).passed
    assert not checks.check_recovered_secret(fixtures.SAMPLE_SECRET_TEXT).passed
    # same length, other text: the by-hand files are decrypted and compared, so it is caught
    path.write_text("a second, LONGER secret\n")
    assert fixtures.ensure_encrypted_sample(ws, key).remade
