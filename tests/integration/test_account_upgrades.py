"""A learner's account survives upgrades (workshop_helpers/account/store.py).

- The state records the workshop's own account format, not moto's version: an account
  written under one moto/botocore patch release within the pinned ranges opens under
  another (each process here reports other version numbers to everything that asks).
  On the code that recorded moto's exact version, `pip install -U moto` made the folder
  unreadable until reset, losing every key.
- A real change of the format migrates forward: an account written by the workshop at
  commit 0c92622 (format 2, S3 objects' bytes inside the snapshots) opens with its keys
  still decrypting and its objects whole, moved out of the snapshots (deleting one gives
  its space back). Two processes opening it at once both get the migrated account, and
  a process killed while it migrates leaves format 2 for the next one to migrate.

Every process runs the moto backend on a state folder in pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FORMAT_2_COMMIT = "0c92622"  # the last commit whose account format is 2
RESULT = "RESULT "
MiB = 1 << 20
BUCKET = "workshop-upgrade-test"

# Before anything imports them: every version question answered with the numbers given
# (argv[1], argv[2]), as if that moto and botocore release were installed.
PATCH_VERSIONS = textwrap.dedent(
    """
    import sys
    from importlib import metadata
    _real_version = metadata.version
    _pretend = {"moto": sys.argv[1], "botocore": sys.argv[2], "boto3": sys.argv[2]}
    metadata.version = lambda name: _pretend.get(name.lower()) or _real_version(name)
    import botocore, moto
    moto.__version__, botocore.__version__ = _pretend["moto"], _pretend["botocore"]
    """
)

PRELUDE = textwrap.dedent(
    f"""
    import base64, hashlib, json, os, pathlib, sys
    import workshop_helpers
    from workshop_helpers import fixtures
    ws = workshop_helpers.connect()
    assert ws.backend == "moto" and str(ws.state_dir) == os.environ["KMS_WORKSHOP_STATE_DIR"]
    kms, s3 = ws.client("kms"), ws.client("s3")
    BUCKET = {BUCKET!r}

    def result(value):
        print({RESULT!r} + json.dumps(value), flush=True)

    def body(seed, size):
        block = hashlib.sha256(seed.encode()).digest() * 2048
        return (block * (size // len(block) + 1))[:size]
    """
)

# What a learner has: the ImportedCMK, a ciphertext of it, a bucket with objects.
MAKE = textwrap.dedent(
    f"""
    key = fixtures.ensure_imported_cmk(ws)
    blob = kms.encrypt(KeyId=key.alias, Plaintext=b"kept across the upgrade",
                       EncryptionContext={{"project": "workshop"}})["CiphertextBlob"]
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={{"LocationConstraint": "eu-west-1"}})
    s3.put_object(Bucket=BUCKET, Key="note.txt", Body=b"a note")
    s3.put_object(Bucket=BUCKET, Key="big.bin", Body=body("big", 12 * {MiB}))
    result({{"key": key.key_id, "blob": base64.b64encode(blob).decode()}})
    """
)

# The same account, seen by a later process: the key decrypts, the objects are whole.
CHECK = textwrap.dedent(
    f"""
    made = json.loads(sys.argv[-1])
    plain = kms.decrypt(CiphertextBlob=base64.b64decode(made["blob"]),
                        EncryptionContext={{"project": "workshop"}})["Plaintext"]
    key = fixtures.ensure_imported_cmk(ws)
    again = kms.decrypt(CiphertextBlob=kms.encrypt(KeyId=key.alias, Plaintext=b"new")["CiphertextBlob"])["Plaintext"]
    get = lambda k: s3.get_object(Bucket=BUCKET, Key=k)["Body"].read()
    result({{"plain": plain.decode(), "same_key": key.key_id == made["key"] and not key.created,
             "again": again.decode(), "note": get("note.txt").decode(),
             "big": get("big.bin") == body("big", 12 * {MiB})}})
    """
)


def child_env(tmp: pathlib.Path, state: pathlib.Path, code_root: pathlib.Path = ROOT) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND="moto",
        KMS_WORKSHOP_STATE_DIR=str(state),
        KMS_WORKSHOP_DATA_DIR=str(tmp / "workshop-data-of-children"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=str(code_root),
    )
    return env


def start(code: str, env: dict[str, str], *args: str, cwd: pathlib.Path = ROOT) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(proc: subprocess.Popen, what: str, timeout: float = 300):
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(f"{what} did not finish in {timeout} s\n{out[-3000:]}\n{err[-5000:]}") from None
    assert proc.returncode == 0, f"{what} exited {proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-5000:]}"
    found = [line[len(RESULT) :] for line in out.splitlines() if line.startswith(RESULT)]
    assert len(found) == 1, f"{what} printed {len(found)} results\n{out[-3000:]}\n{err[-5000:]}"
    return json.loads(found[0])


def meta(state: pathlib.Path) -> dict[str, str]:
    conn = sqlite3.connect(state / "account.sqlite3")
    try:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())
    finally:
        conn.close()


EXPECTED = {"plain": "kept across the upgrade", "same_key": True, "again": "new", "note": "a note", "big": True}


# --- patch releases of moto and botocore within the pinned ranges ---------------------------


@pytest.mark.parametrize(
    "written_under, read_under",
    [
        (("5.2.5", "1.44.8"), ("5.2.9", "1.44.30")),
        (("5.2.9", "1.44.30"), ("5.2.5", "1.44.8")),
    ],
)
def test_an_account_written_under_one_patch_release_opens_under_another(tmp_path, written_under, read_under):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    made = finish(start(PATCH_VERSIONS + PRELUDE + MAKE, env, *written_under), f"the process on {written_under}")
    seen = finish(
        start(PATCH_VERSIONS + PRELUDE + CHECK, env, *read_under, json.dumps(made)), f"the process on {read_under}"
    )
    assert seen == EXPECTED
    assert read_under[0] not in json.dumps(meta(state)) and written_under[0] not in json.dumps(meta(state))


# --- format 2 (the workshop at FORMAT_2_COMMIT) migrates forward ----------------------------


def _format_2_code(tmp: pathlib.Path) -> pathlib.Path:
    """The package as it was at FORMAT_2_COMMIT, extracted from git (no worktree needed)."""
    where = tmp / "format-2-code"
    where.mkdir()
    try:
        archive = subprocess.run(
            ["git", "archive", FORMAT_2_COMMIT, "workshop_helpers"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        pytest.skip(f"the format-2 code (commit {FORMAT_2_COMMIT}) is not in this checkout: {exc}")
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True, timeout=60)
    return where


def test_a_format_2_account_opens_with_its_objects_moved_out_and_its_keys_working(tmp_path):
    state = tmp_path / "account"
    old = _format_2_code(tmp_path)
    made = finish(start(PRELUDE + MAKE, child_env(tmp_path, state, old), cwd=tmp_path), "the workshop at format 2")
    assert meta(state)["format"] == "2"
    with sqlite3.connect(state / "account.sqlite3") as conn:
        (inline,) = conn.execute("SELECT length(data) FROM services WHERE name = 's3' AND account != ''").fetchone()
    assert inline > 12 * MiB, "format 2 keeps the objects' bytes in the S3 snapshot"

    env = child_env(tmp_path, state)
    both = [start(PRELUDE + CHECK, env, json.dumps(made)) for _ in range(2)]  # opening it at once
    for n, proc in enumerate(both):
        assert finish(proc, f"process {n} of this version") == EXPECTED
    assert meta(state)["format"] == "3"
    with sqlite3.connect(state / "account.sqlite3") as conn:
        (snapshot,) = conn.execute("SELECT length(data) FROM services WHERE name = 's3' AND account != ''").fetchone()
    assert snapshot < MiB, f"the S3 snapshot still holds {snapshot} bytes"

    # The migrated file gives space back like a new one.
    finish(start(PRELUDE + 's3.delete_object(Bucket=BUCKET, Key="big.bin"); result(True)', env), "the deleter")
    with sqlite3.connect(state / "account.sqlite3") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert (state / "account.sqlite3").stat().st_size < 4 * MiB


def test_a_process_killed_while_it_migrates_leaves_format_2_and_the_next_one_migrates(tmp_path):
    import signal
    import time

    state = tmp_path / "account"
    old = _format_2_code(tmp_path)
    made = finish(start(PRELUDE + MAKE, child_env(tmp_path, state, old), cwd=tmp_path), "the workshop at format 2")
    inside = tmp_path / "inside"
    stopping = textwrap.dedent(f"""
        import pathlib, time
        import workshop_helpers.account.objects as objects_module
        original_keep = objects_module.Bodies.keep
        def keep(conn, *rest):
            original_keep(conn, *rest)
            pathlib.Path({str(inside)!r}).write_text("in the migration")
            time.sleep(120)  # killed here, the S3 snapshot rewritten but not committed
        objects_module.Bodies.keep = staticmethod(keep)
    """)
    env = child_env(tmp_path, state)
    proc = start(stopping + PRELUDE, env)
    try:
        deadline = time.monotonic() + 120
        while not inside.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the migration did not start"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert meta(state)["format"] == "2", "a killed migration must leave the account as it was"
    assert finish(start(PRELUDE + CHECK, env, json.dumps(made)), "the next process") == EXPECTED
    assert meta(state)["format"] == "3"
