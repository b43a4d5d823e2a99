"""One simulated account that lasts, shared by every process that uses its folder.

Each test runs the workshop in subprocesses (as separate kernels and commands are), on a
temporary state folder of its own: never the user's ~/.kms-workshop/account. Points 4, 5
and 8 (killed processes, concurrent writers, the killed endpoint) are in
test_account_durability.py; point 3 (the notebooks in sequence) in test_account_sequence.py.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"


def _env(state: pathlib.Path | str, **extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND="moto",
        KMS_WORKSHOP_STATE_DIR=str(state),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(TESTS)]),
    )
    env.update(extra)
    return env


def run_py(code: str, state, *, check: bool = True, **extra) -> subprocess.CompletedProcess:
    """`code` in a new Python process (a new kernel, as far as the account can tell)."""
    prelude = "import json, workshop_helpers\nfrom workshop_helpers import fixtures\n"
    result = subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code)],
        cwd=extra.pop("cwd", ROOT),
        env=_env(state, **extra),
        capture_output=True,
        text=True,
        timeout=180,
    )
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def out(result) -> dict:
    """The JSON the snippet printed on its last line."""
    return json.loads(result.stdout.strip().splitlines()[-1])


def cli(state, *args: str, stdin: str | None = None, **extra) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workshop_helpers", *args],
        cwd=ROOT,
        env=_env(state, **extra),
        capture_output=True,
        text=True,
        timeout=180,
        input=stdin,
    )


# --- 1. one account per user, shared by every process ------------------------------------


def test_every_process_on_the_folder_sees_one_account(tmp_path):
    state = tmp_path / "account"
    first = out(
        run_py(
            """
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        print(json.dumps({"id": key.key_id, "created": key.created, "status": key.status()}))
    """,
            state,
        )
    )
    second = out(
        run_py(
            """
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        print(json.dumps({"id": key.key_id, "created": key.created, "status": key.status()}))
    """,
            state,
        )
    )
    assert first["created"] and not second["created"]
    assert second["id"] == first["id"]
    assert "made just now" in first["status"]
    assert "found in your account" in second["status"]


def test_the_command_line_uses_the_notebooks_account(tmp_path):
    """A file encrypted by the CLI on moto decrypts in a notebook's kernel, and the reverse."""
    state = tmp_path / "account"
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"lighthouse at midnight\n")
    run_py("ws = workshop_helpers.connect(); fixtures.ensure_imported_cmk(ws)", state)
    made = cli(
        state,
        "encrypt",
        str(secret),
        str(tmp_path / "by-cli.env"),
        "--key-id",
        "alias/ImportedCMK",
        "--context",
        "project=workshop",
    )
    assert made.returncode == 0, made.stderr
    shown = out(
        run_py(
            f"""
        from workshop_helpers import envelope
        ws = workshop_helpers.connect()
        kms = ws.client("kms")
        envelope.decrypt_file({str(tmp_path / "by-cli.env")!r}, {str(tmp_path / "back.txt")!r},
                              encryption_context={{"project": "workshop"}}, key_id="alias/ImportedCMK",
                              kms_client=kms)
        envelope.encrypt_file({str(secret)!r}, {str(tmp_path / "by-kernel.env")!r}, key_id="alias/ImportedCMK",
                              encryption_context={{"project": "workshop"}}, kms_client=kms)
        print(json.dumps({{"ok": True}}))
    """,
            state,
        )
    )
    assert shown["ok"] and (tmp_path / "back.txt").read_bytes() == secret.read_bytes()
    back = cli(
        state,
        "decrypt",
        str(tmp_path / "by-kernel.env"),
        str(tmp_path / "back2.txt"),
        "--context",
        "project=workshop",
        "--key-id",
        "alias/ImportedCMK",
    )
    assert back.returncode == 0, back.stderr
    assert (tmp_path / "back2.txt").read_bytes() == secret.read_bytes()


def test_memory_keeps_the_account_in_the_process_and_writes_nothing(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    code = """
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        print(json.dumps({"created": key.created, "state": str(ws.state_dir)}))
    """
    for _ in range(2):
        shown = out(run_py(code, "memory", HOME=str(home)))
        assert shown == {"created": True, "state": "None"}
    assert not (home / ".kms-workshop").exists()


def test_the_default_account_is_a_private_folder_in_the_home(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env_state = {"HOME": str(home)}
    code = "ws = workshop_helpers.connect(); fixtures.ensure_imported_cmk(ws); print(json.dumps(str(ws.state_dir)))"
    result = subprocess.run(
        [sys.executable, "-c", "import json, workshop_helpers\nfrom workshop_helpers import fixtures\n" + code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in _env("unused", **env_state).items() if k != "KMS_WORKSHOP_STATE_DIR"},
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1]) == str(home / ".kms-workshop" / "account")
    assert (home / ".kms-workshop" / "account" / "account.sqlite3").exists()


# --- 2. everything the workshop creates persists -----------------------------------------


def test_every_kind_of_resource_outlives_its_process(tmp_path):
    state = tmp_path / "account"
    made = out(
        run_py(
            """
        import base64
        ws = workshop_helpers.connect()
        kms, iam, sts, ec2, s3 = (ws.client(n) for n in ("kms", "iam", "sts", "ec2", "s3"))
        key = fixtures.ensure_imported_cmk(ws)
        kms.put_key_policy(KeyId=key.key_id, PolicyName="default", Policy=json.dumps({
            "Version": "2012-10-17", "Statement": [{"Sid": "Kept", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::123456789012:root"}, "Action": "kms:*", "Resource": "*"}]}))
        grant = kms.create_grant(KeyId=key.key_id, GranteePrincipal="arn:aws:iam::123456789012:role/Reader",
                                 Operations=["Decrypt"], Constraints={"EncryptionContextSubset": {"project": "workshop"}})
        kms.tag_resource(KeyId=key.key_id, Tags=[{"TagKey": "kept", "TagValue": "yes"}])
        disabled = kms.create_key(Description="disabled")["KeyMetadata"]["KeyId"]
        kms.disable_key(KeyId=disabled)
        doomed = kms.create_key(Description="doomed")["KeyMetadata"]["KeyId"]
        deletion = kms.schedule_key_deletion(KeyId=doomed, PendingWindowInDays=9)["DeletionDate"]
        external = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        params = kms.get_parameters_for_import(KeyId=external, WrappingAlgorithm="RSAES_OAEP_SHA_256",
                                               WrappingKeySpec="RSA_2048")
        fixtures.ensure_participant_role(ws)
        creds = fixtures.assume_participant_role(ws)
        iam.create_user(UserName="kept-user")
        access = iam.create_access_key(UserName="kept-user")["AccessKey"]
        arn = iam.create_policy(PolicyName="kept-policy", PolicyDocument=json.dumps({"Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "kms:DescribeKey", "Resource": "*"}]}))["Policy"]["Arn"]
        iam.attach_user_policy(UserName="kept-user", PolicyArn=arn)
        volume = ec2.create_volume(AvailabilityZone="eu-west-1a", Size=1, Encrypted=True, KmsKeyId=key.arn)["VolumeId"]
        s3.create_bucket(Bucket="kept-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        s3.put_object(Bucket="kept-bucket", Key="note.txt", Body=b"kept")
        print(json.dumps({"key": key.key_id, "grant": grant["GrantId"], "disabled": disabled, "doomed": doomed,
                          "deletion": deletion.isoformat(), "external": external,
                          "token": base64.b64encode(params["ImportToken"]).decode(),
                          "public": base64.b64encode(params["PublicKey"]).decode(),
                          "session": {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")},
                          "user_key": access["AccessKeyId"], "policy": arn, "volume": volume}))
    """,
            state,
        )
    )
    seen = out(
        run_py(
            f"""
        import base64, secrets
        from workshop_helpers import names
        made = json.loads({json.dumps(json.dumps(made))})
        ws = workshop_helpers.connect()
        kms, iam, ec2, s3 = (ws.client(n) for n in ("kms", "iam", "ec2", "s3"))
        policy = json.loads(kms.get_key_policy(KeyId=made["key"], PolicyName="default")["Policy"])
        grants = [g["GrantId"] for g in kms.list_grants(KeyId=made["key"])["Grants"]]
        tags = {{t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=made["key"])["Tags"]}}
        doomed = kms.describe_key(KeyId=made["doomed"])["KeyMetadata"]
        # import parameters made by the other process are still valid here
        material = secrets.token_bytes(32)
        wrapped = fixtures.wrap_key_material(base64.b64decode(made["public"]), material)
        kms.import_key_material(KeyId=made["external"], ImportToken=base64.b64decode(made["token"]),
                                EncryptedKeyMaterial=wrapped, ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE")
        role_kms = ws.client("kms", credentials=made["session"])
        role_kms.describe_key(KeyId="alias/ImportedCMK")  # the STS session is still valid
        who = ws.client("sts", credentials=made["session"]).get_caller_identity()["Arn"]
        users_keys = [k["AccessKeyId"] for k in iam.list_access_keys(UserName="kept-user")["AccessKeyMetadata"]]
        attached = [p["PolicyArn"] for p in iam.list_attached_user_policies(UserName="kept-user")["AttachedPolicies"]]
        role_policies = iam.list_role_policies(RoleName=names.role_name())["PolicyNames"]
        volume = ec2.describe_volumes(VolumeIds=[made["volume"]])["Volumes"][0]
        body = s3.get_object(Bucket="kept-bucket", Key="note.txt")["Body"].read().decode()
        print(json.dumps({{
            "sid": policy["Statement"][0]["Sid"], "grant": made["grant"] in grants, "tags": tags,
            "disabled": kms.describe_key(KeyId=made["disabled"])["KeyMetadata"]["KeyState"],
            "doomed": doomed["KeyState"], "deletion": doomed["DeletionDate"].isoformat() == made["deletion"],
            "external": kms.describe_key(KeyId=made["external"])["KeyMetadata"]["KeyState"],
            "who": who, "user_key": made["user_key"] in users_keys, "attached": made["policy"] in attached,
            "role_policies": role_policies, "volume_key": volume["KmsKeyId"], "encrypted": volume["Encrypted"],
            "body": body, "alias": kms.describe_key(KeyId="alias/ImportedCMK")["KeyMetadata"]["KeyId"],
        }}))
    """,
            state,
        )
    )
    assert seen["sid"] == "Kept"
    assert seen["grant"] and seen["tags"]["kept"] == "yes"
    assert seen["disabled"] == "Disabled"
    assert seen["doomed"] == "PendingDeletion" and seen["deletion"]
    assert seen["external"] == "Enabled"
    assert ":assumed-role/" in seen["who"]
    assert seen["user_key"] and seen["attached"] and seen["role_policies"]
    assert seen["volume_key"].endswith(made["key"]) and seen["encrypted"]
    assert seen["body"] == "kept"
    assert seen["alias"] == made["key"]


def test_the_trail_is_the_accounts_and_says_which_process_made_each_call(tmp_path):
    state = tmp_path / "account"
    run_py(
        """
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        ws.client("kms").generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext={"n": "first"})
    """,
        state,
        JPY_SESSION_NAME="notebooks/03-encrypt-with-data-key.ipynb",
    )
    seen = out(
        run_py(
            """
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        mark = ws.trail_mark()
        ws.client("kms").generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext={"n": "second"})
        every = ws.trail("GenerateDataKey")
        print(json.dumps({"origins": [r["origin"] for r in every],
                          "contexts": [r["requestParameters"]["encryptionContext"]["n"] for r in every],
                          "here": len(ws.trail(here=True, event_name="GenerateDataKey")),
                          "since": len(ws.trail(since=mark))}))
    """,
            state,
            JPY_SESSION_NAME="notebooks/04-decrypt.ipynb",
        )
    )
    assert seen["contexts"] == ["first", "second"]
    assert seen["origins"][0].startswith("03-encrypt-with-data-key.ipynb")
    assert seen["origins"][1].startswith("04-decrypt.ipynb")
    assert seen["here"] == 1 and seen["since"] == 1


def test_an_encrypted_volume_made_in_one_kernel_attaches_in_another(tmp_path):
    """What EBS keeps with a volume (its encrypted data key, its encrypted blocks) stays with
    the account; the plaintext data key does not: the new host asks KMS again."""
    state = tmp_path / "account"
    made = out(
        run_py(
            """
        from workshop_helpers import ebs
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        sim = ebs.create_encrypted_volume(ws, key.alias, size_gib=1)
        instance = ebs.workshop_instance(ws)
        ebs.attach_volume(ws, sim.volume_id, instance)
        ebs.write_block(sim.volume_id, 3, b"kept on the volume")
        print(json.dumps({"volume": sim.volume_id, "instance": instance}))
    """,
            state,
        )
    )
    seen = out(
        run_py(
            f"""
        from workshop_helpers import ebs
        from workshop_helpers.errors import WorkshopError
        ws = workshop_helpers.connect()
        try:
            ebs.read_block({made["volume"]!r}, 3)
            refused = ""
        except WorkshopError as exc:
            refused = str(exc)
        mark = ws.trail_mark()
        ebs.after_attach_volume(ws, {made["volume"]!r}, {made["instance"]!r})
        data = ebs.read_block({made["volume"]!r}, 3)[:18].decode()
        print(json.dumps({{"refused": refused, "data": data,
                          "calls": [r["eventName"] for r in ws.trail(since=mark)]}}))
    """,
            state,
        )
    )
    assert "attach it here" in seen["refused"]
    assert seen["data"] == "kept on the volume"
    assert seen["calls"] == ["CreateGrant", "Decrypt"]


# --- 6. secrets: a private folder, never in the repository, no data key in it ------------


def _modes(folder: pathlib.Path) -> dict[str, int]:
    return {str(p.relative_to(folder)): stat.S_IMODE(p.stat().st_mode) for p in [folder, *folder.rglob("*")]}


def test_the_state_folder_is_private_and_holds_no_data_key(tmp_path):
    from workshop_run import encodings

    state = tmp_path / "account"
    record = tmp_path / "keys.txt"
    run_py(
        f"""
        import base64
        from workshop_helpers import envelope, fidelity
        fidelity.start_recording({str(record)!r})
        ws = workshop_helpers.connect()
        kms = ws.client("kms")
        key = fixtures.ensure_imported_cmk(ws)
        for n in range(5):
            kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext={{"n": str(n)}})
        blob = kms.generate_data_key_without_plaintext(KeyId=key.alias, KeySpec="AES_256")["CiphertextBlob"]
        plain = kms.decrypt(CiphertextBlob=blob)["Plaintext"]
        open({str(record)!r}, "a").write(base64.b64encode(plain).decode() + "\\n")
    """,
        state,
    )
    keys = [__import__("base64").b64decode(line) for line in record.read_text().split()]
    assert len(keys) == 6
    modes = _modes(state)
    assert modes.pop(".") == 0o700
    assert modes and all(mode in (0o600, 0o700) for mode in modes.values()), modes
    for name, mode in modes.items():
        assert mode == (0o700 if (state / name).is_dir() else 0o600), name
    material = list((state / "key-material").rglob("*.bin"))
    assert len(material) == 1, "the ImportedCMK's material copy is kept with the account"
    blobs = b"".join(p.read_bytes() for p in state.rglob("*") if p.is_file())
    for key in keys:
        for label, encoded in encodings(key).items():
            assert encoded not in blobs, f"a data key ({label}) is in the state folder"


def _assert_private(folder: pathlib.Path) -> None:
    modes = _modes(folder)
    wrong = {name: oct(mode) for name, mode in modes.items() if mode != (0o700 if (folder / name).is_dir() else 0o600)}
    assert not wrong, f"not private in {folder}: {wrong}"


def test_folders_made_under_umask_000_are_private_and_so_are_their_new_parents(tmp_path):
    """umask 000 makes a plain mkdir world-writable: the state folder, the class folder
    and the parents made for them must not be."""
    state = tmp_path / "made-for-state" / "deeper" / "account"
    classes = tmp_path / "made-for-class" / "class"
    run_py(
        f"""
        import os, pathlib
        os.umask(0)
        ws = workshop_helpers.connect()
        fixtures.ensure_imported_cmk(ws)
        ws.client("s3").create_bucket(Bucket="umask-test", CreateBucketConfiguration={{"LocationConstraint": "eu-west-1"}})
        ws.client("s3").put_object(Bucket="umask-test", Key="k", Body=b"v")
        from workshop_helpers.classroom import files
        folder = files.prepare({str(classes)!r})
        files.save_class(folder, {{"url": "http://127.0.0.1:1"}})
    """,
        state,
    )
    _assert_private(state)
    assert (state / "account.sqlite3").exists() and (state / "locks").is_dir()
    _assert_private(classes)
    for made in (tmp_path / "made-for-state", tmp_path / "made-for-state" / "deeper", tmp_path / "made-for-class"):
        assert stat.S_IMODE(made.stat().st_mode) == 0o700, made


def test_what_is_already_in_the_folders_is_tightened_when_they_are_opened(tmp_path):
    state = tmp_path / "account"
    run_py("ws = workshop_helpers.connect(); fixtures.ensure_imported_cmk(ws)", state)
    classes = tmp_path / "class"
    (classes / "old").mkdir(parents=True)
    # as if copied in with a permissive umask, or left by an older version
    for path in (state / "left-behind.txt", classes / "alice.env", classes / "class.json", classes / "old" / "x"):
        path.write_text("private\n")
    for path in [state, *state.rglob("*"), classes, *classes.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    shown = out(
        run_py(
            """
        ws = workshop_helpers.connect()
        print(json.dumps(len(ws.client("kms").list_keys()["Keys"])))
    """,
            state,
        )
    )
    assert shown == 1
    _assert_private(state)
    assert (state / "key-material").is_dir(), "the key material copy was to be among what is tightened"
    from workshop_helpers.classroom import files

    files.prepare(classes)
    _assert_private(classes)


@pytest.mark.parametrize("inside", ["repository", "workshop-data"])
def test_a_state_folder_where_it_could_be_shared_is_refused(tmp_path, inside):
    where = ROOT / ".kms-state-test" if inside == "repository" else tmp_path / "workshop-data" / "account"
    result = cli(where, "doctor")
    assert result.returncode != 0
    line = result.stderr.strip()
    assert "\n" not in line and "Traceback" not in line
    assert inside in line and "KMS_WORKSHOP_STATE_DIR" in line
    assert not where.exists()


# --- 7. reset, and state that cannot be read -----------------------------------------------


def _key_count(state) -> int:
    return out(run_py("ws = workshop_helpers.connect(); print(len(ws.client('kms').list_keys()['Keys']))", state))


def test_reset_asks_first_and_empties_the_account(tmp_path):
    state = tmp_path / "account"
    run_py("ws = workshop_helpers.connect(); fixtures.ensure_imported_cmk(ws)", state)
    assert _key_count(state) == 1
    refused = cli(state, "reset")  # no terminal: it will not guess
    assert refused.returncode != 0 and "--yes" in refused.stderr and _key_count(state) == 1
    declined = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, builtins; sys.stdin.isatty = lambda: True; builtins.input = lambda p: 'n';"
            "from workshop_helpers.cli import main; sys.exit(main(['reset']))",
        ],
        cwd=ROOT,
        env=_env(state),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert declined.returncode == 1 and _key_count(state) == 1
    done = cli(state, "reset", "--yes")
    assert done.returncode == 0, done.stderr
    assert _key_count(state) == 0
    assert not list((state / "key-material").rglob("*.bin"))


def test_a_running_kernel_sees_the_reset(tmp_path):
    state = tmp_path / "account"
    seen = out(
        run_py(
            """
        import subprocess, sys
        ws = workshop_helpers.connect()
        kms = ws.client("kms")
        fixtures.ensure_imported_cmk(ws)
        before = len(kms.list_keys()["Keys"])
        subprocess.run([sys.executable, "-m", "workshop_helpers", "reset", "--yes"], check=True)
        after = len(kms.list_keys()["Keys"])
        again = fixtures.ensure_imported_cmk(ws).created
        print(json.dumps([before, after, again]))
    """,
            state,
        )
    )
    assert seen == [1, 0, True]


def _damage(state: pathlib.Path, how: str) -> None:
    db = state / "account.sqlite3"
    if how == "truncated to nothing":
        db.write_bytes(b"")
    elif how == "cut in half":
        data = db.read_bytes()
        db.write_bytes(data[: len(data) // 2])
    elif how == "not a database":
        db.write_bytes(b"this is not an account\n" * 100)
    elif how in ("another version", "a damaged snapshot"):
        conn = sqlite3.connect(db)
        if how == "another version":  # a newer workshop's format: nothing here can read it
            conn.execute("UPDATE meta SET value = '99' WHERE key = 'format'")
        else:
            conn.execute("UPDATE services SET data = X'80049500' WHERE name = 'kms'")
        conn.commit()
        conn.close()
    else:
        raise AssertionError(how)


@pytest.mark.parametrize(
    "how", ["truncated to nothing", "cut in half", "not a database", "another version", "a damaged snapshot"]
)
def test_bad_state_gives_one_line_and_changes_nothing(tmp_path, how):
    state = tmp_path / "account"
    run_py(
        """
        ws = workshop_helpers.connect()
        fixtures.ensure_imported_cmk(ws)
        ws.client("kms").create_key(Description="second")
    """,
        state,
    )
    _damage(state, how)
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state.iterdir() if p.is_file()}
    for args in (["doctor"], ["encrypt", __file__, str(tmp_path / "x.env"), "--key-id", "alias/ImportedCMK"]):
        result = cli(state, *args)
        assert result.returncode != 0
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert len(lines) == 1, result.stderr
        assert str(state) in lines[0] and "python -m workshop_helpers reset" in lines[0]
    kernel = run_py("ws = workshop_helpers.connect(); ws.client('kms').list_keys()", state, check=False)
    assert kernel.returncode != 0 and "StateError" in kernel.stderr and str(state) in kernel.stderr
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in state.iterdir() if p.name in before}
    assert after == before, "nothing may be overwritten before the user resets"
    assert cli(state, "reset", "--yes").returncode == 0
    assert _key_count(state) == 0


# --- 7. cleanup (notebook 08's) leaves nothing of the workshop -----------------------------


def test_cleanup_leaves_nothing_of_the_workshop_in_the_account(tmp_path):
    state = tmp_path / "account"
    run_py(
        """
        from workshop_helpers import ebs, s3_sse
        ws = workshop_helpers.connect()
        key = fixtures.ensure_imported_cmk(ws)
        fixtures.ensure_other_key(ws)
        fixtures.ensure_participant_role(ws)
        ebs.create_encrypted_volume(ws, key.alias, size_gib=1)
        s3_sse.ensure_bucket(ws)
    """,
        state,
        KMS_WORKSHOP_DATA_DIR=str(tmp_path / "workshop-data"),
    )
    done = cli(state, "cleanup", "--yes", KMS_WORKSHOP_DATA_DIR=str(tmp_path / "workshop-data"))
    assert done.returncode == 0, done.stderr
    left = out(
        run_py(
            """
        ws = workshop_helpers.connect()
        kms, iam, ec2, s3 = (ws.client(n) for n in ("kms", "iam", "ec2", "s3"))
        states = [kms.describe_key(KeyId=k["KeyId"])["KeyMetadata"]["KeyState"] for k in kms.list_keys()["Keys"]]
        aliases = [a["AliasName"] for a in kms.list_aliases()["Aliases"] if not a["AliasName"].startswith("alias/aws/")]
        print(json.dumps({"states": states, "aliases": aliases,
                          "roles": [r["RoleName"] for r in iam.list_roles()["Roles"]],
                          "volumes": [v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]],
                          "buckets": [b["Name"] for b in s3.list_buckets()["Buckets"]]}))
    """,
            state,
        )
    )
    assert left["states"] and set(left["states"]) == {"PendingDeletion"}
    assert left == {"states": left["states"], "aliases": [], "roles": [], "volumes": [], "buckets": []}
    again = cli(state, "cleanup", "--yes", KMS_WORKSHOP_DATA_DIR=str(tmp_path / "workshop-data"))
    assert again.returncode == 0, again.stderr


# --- 8. the endpoint keeps its account in a folder too -------------------------------------


def _serve(args: list[str], env: dict[str, str]):
    proc = subprocess.Popen(
        [sys.executable, "-m", "workshop_helpers", "serve", "--port", "0", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("KMS_WORKSHOP_ENDPOINT_URL="), proc.stderr.read()
    return proc, line.strip().split("=", 1)[1]


def _endpoint_kms(url):
    import boto3

    return boto3.client(
        "kms", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )


@pytest.mark.endpoint
@pytest.mark.parametrize("mode", ["--state-dir", "--ephemeral"])
def test_the_endpoint_keeps_its_account_across_restarts_unless_ephemeral(tmp_path, mode):
    state = tmp_path / "served"
    args = ["--state-dir", str(state)] if mode == "--state-dir" else ["--ephemeral"]
    env = _env("memory")
    proc, url = _serve(args, env)
    try:
        key_id = _endpoint_kms(url).create_key(Description="served")["KeyMetadata"]["KeyId"]
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert ("kept in" in err) == (mode == "--state-dir") and ("in memory only" in err) == (mode == "--ephemeral")
    assert "any access key acts as the account's administrator" in err
    proc, url = _serve(args, env)
    try:
        keys = [k["KeyId"] for k in _endpoint_kms(url).list_keys()["Keys"]]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert (key_id in keys) == (mode == "--state-dir")
    assert state.exists() == (mode == "--state-dir")


@pytest.mark.endpoint
def test_the_endpoint_keeps_a_chunked_request_body(tmp_path):
    """A request without Content-Length (Transfer-Encoding: chunked) keeps its body."""
    import http.client
    from urllib.parse import urlparse

    import boto3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    proc, url = _serve(["--state-dir", str(tmp_path / "served")], _env("memory"))
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="chunked", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
        signed = AWSRequest(
            method="PUT",
            url=f"{url}/chunked/k",
            headers={"Transfer-Encoding": "chunked", "x-amz-content-sha256": "UNSIGNED-PAYLOAD"},
        )
        SigV4Auth(Credentials("testing", "testing"), "s3", "eu-west-1").add_auth(signed)
        where = urlparse(url)
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        conn.putrequest("PUT", "/chunked/k")
        for name, value in signed.headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        for chunk in (b"hello ", b"world"):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
        assert conn.getresponse().status == 200
        assert s3.get_object(Bucket="chunked", Key="k")["Body"].read() == b"hello world"
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
