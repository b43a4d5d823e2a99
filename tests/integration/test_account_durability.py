"""The simulated account on disk is as durable as a real one (workshop_helpers/account).

- Eight processes changing the account at once lose no update.
- A process killed (SIGKILL) while it changes the account leaves the account as it was
  before or after the call it was making: never in between, never unreadable, never
  locked for the next writer.
- `serve` killed with SIGKILL while 30 participants are mid-workshop, started again on the
  same folder: every participant's keys, roles, data keys and envelope files still work,
  and the folder is still private (0700, files 0600).

On the old code every process had an account of its own, in memory: a fresh process saw
none of what the others made, and a restarted endpoint started empty. Every test here
looks at the account from a fresh process (or a fresh endpoint), so each would fail there.

Every process started here keeps its account in a temporary folder of the test's own
(pytest's tmp_path, outside the repository), never in ~/.kms-workshop.
"""

from __future__ import annotations

import json
import os
import pathlib
import random
import signal
import stat
import subprocess
import sys
import textwrap
import threading
import time

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config
from botocore.parsers import ResponseParserError
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from workshop_helpers import envelope

ROOT = pathlib.Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
ACCOUNT = "123456789012"
URL_PREFIX = "KMS_WORKSHOP_ENDPOINT_URL="
RESULT = "RESULT "


# --- subprocesses -------------------------------------------------------------------------


def child_env(tmp: pathlib.Path, state: pathlib.Path) -> dict[str, str]:
    """The test process's environment without AWS or workshop settings, with the moto
    backend on the account in `state` (and every other workshop folder under `tmp`)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND="moto",
        KMS_WORKSHOP_STATE_DIR=str(state),
        KMS_WORKSHOP_DATA_DIR=str(tmp / "workshop-data-of-children"),
        KMS_WORKSHOP_KEY_MATERIAL_DIR=str(tmp / "key-material-of-children"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    return env


# Every child script starts with this: the moto backend on the account in $KMS_WORKSHOP_STATE_DIR.
PRELUDE = textwrap.dedent(
    """
    import json, os, pathlib, sys, time
    import workshop_helpers
    ws = workshop_helpers.connect()
    assert ws.backend == "moto", ws.backend
    assert str(ws.state_dir) == os.environ["KMS_WORKSHOP_STATE_DIR"], (ws.state_dir, os.environ["KMS_WORKSHOP_STATE_DIR"])
    kms = ws.client("kms")
    iam = ws.client("iam")

    def result(value):
        print("RESULT " + json.dumps(value), flush=True)

    def all_keys():
        keys = []
        for page in kms.get_paginator("list_keys").paginate():
            keys += [k["KeyId"] for k in page["Keys"]]
        return keys

    def all_aliases():
        aliases = []
        for page in kms.get_paginator("list_aliases").paginate():
            aliases += page["Aliases"]
        return aliases
    """
)


def script(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def start(
    code: str, env: dict[str, str], *args: str, stdout=subprocess.PIPE, stderr=subprocess.PIPE
) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env, stdout=stdout, stderr=stderr, text=True
    )


def finish(proc: subprocess.Popen, what: str, timeout: float = 90) -> object:
    """Wait for `proc`; it must exit 0 and print one RESULT line, whose JSON is returned."""
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError(
            f"{what} did not finish in {timeout} s\nstdout:\n{out[-3000:]}\nstderr:\n{err[-5000:]}"
        ) from None
    assert proc.returncode == 0, f"{what} exited {proc.returncode}\nstdout:\n{out[-3000:]}\nstderr:\n{err[-5000:]}"
    results = [line[len(RESULT) :] for line in out.splitlines() if line.startswith(RESULT)]
    assert len(results) == 1, (
        f"{what} printed {len(results)} RESULT lines\nstdout:\n{out[-3000:]}\nstderr:\n{err[-5000:]}"
    )
    return json.loads(results[0])


def run(code: str, env: dict[str, str], what: str, *args: str, timeout: float = 90) -> object:
    return finish(start(code, env, *args), what, timeout)


def wait_for(predicate, timeout: float, what: str, proc: subprocess.Popen | None = None, reader=None) -> None:
    """Poll `predicate`; fail if `proc` exits first (showing its output) or time runs out."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            if reader is not None:  # its stdout is read by `reader`'s thread
                out, err = "\n".join(reader.join()), proc.stderr.read()
            else:
                out, err = proc.communicate()
            raise AssertionError(
                f"{what}: the process exited {proc.returncode} first\nstdout:\n{out[-3000:]}\nstderr:\n{err[-5000:]}"
            )
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.01)


def assert_private(folder: pathlib.Path) -> None:
    """The folder 0700, every file in it 0600, every folder in it 0700."""
    mode = stat.S_IMODE(folder.stat().st_mode)
    assert mode == 0o700, f"{folder} has mode {oct(mode)}"
    found = list(folder.rglob("*"))
    assert any(p.name == "account.sqlite3" for p in found), found
    for path in found:
        mode = stat.S_IMODE(path.lstat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path} has mode {oct(mode)}, not {oct(expected)}"


def integrity(state: pathlib.Path) -> str:
    """SQLite's own verdict on the account file (read by this process, not the package)."""
    import sqlite3

    conn = sqlite3.connect(f"file:{state / 'account.sqlite3'}", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# A fresh process's view of the account: every key (described), every alias, and a write
# (the next writer must not wait for a lock a killed process held).
LOOK_AND_WRITE = script(
    """
    keys = {}
    for key_id in all_keys():
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        keys[key_id] = {"description": meta["Description"], "state": meta["KeyState"]}
    aliases = {a["AliasName"]: a.get("TargetKeyId") for a in all_aliases() if not a["AliasName"].startswith("alias/aws/")}
    for name, target in aliases.items():
        assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == target, name
    tag = sys.argv[1]
    t0 = time.monotonic()
    new = kms.create_key(Description=tag)["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/" + tag, TargetKeyId=new)
    write_seconds = time.monotonic() - t0
    assert kms.describe_key(KeyId="alias/" + tag)["KeyMetadata"]["KeyId"] == new
    result({"keys": keys, "aliases": aliases, "new": new, "write_seconds": write_seconds})
    """
)


# --- 1. eight processes at once lose no update ---------------------------------------------

WRITERS = 8
EACH = 5  # of every kind, per process: keys, aliases, grants, role policies
SHARED_ROLE = "durability-shared-role"

SETUP = script(
    f"""
    from workshop_helpers import fixtures
    key = fixtures.ensure_imported_cmk(ws)
    trust = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow",
             "Principal": {{"AWS": "arn:aws:iam::{ACCOUNT}:root"}}, "Action": "sts:AssumeRole"}}]}}
    role = iam.create_role(RoleName="{SHARED_ROLE}", AssumeRolePolicyDocument=json.dumps(trust))["Role"]
    result({{"key_id": key.key_id, "alias": key.alias, "role_arn": role["Arn"]}})
    """
)

WRITER = script(
    f"""
    proc, shared_key, role_arn, folder = sys.argv[1], sys.argv[2], sys.argv[3], pathlib.Path(sys.argv[4])
    (folder / f"ready-{{proc}}").touch()
    go = folder / "go"
    deadline = time.monotonic() + 60
    while not go.exists():
        assert time.monotonic() < deadline, "no start signal"
        time.sleep(0.005)
    made = {{"keys": {{}}, "grants": {{}}, "began": time.time()}}
    for i in range({EACH}):
        name = f"durability-{{proc}}-{{i}}"
        key_id = kms.create_key(Description=name, Tags=[{{"TagKey": "durability", "TagValue": name}}])["KeyMetadata"]["KeyId"]
        made["keys"][name] = key_id
        kms.create_alias(AliasName="alias/" + name, TargetKeyId=key_id)
        made["grants"][name] = kms.create_grant(KeyId=shared_key, GranteePrincipal=role_arn,
                                                Operations=["Decrypt"], Name=name)["GrantId"]
        document = {{"Version": "2012-10-17", "Statement": [{{"Effect": "Allow", "Action": "kms:Decrypt",
                    "Resource": f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{{key_id}}"}}]}}
        iam.put_role_policy(RoleName="{SHARED_ROLE}", PolicyName=name, PolicyDocument=json.dumps(document))
    made["ended"] = time.time()
    result(made)
    """
)

CENSUS = script(
    f"""
    shared_key = sys.argv[1]
    keys = {{}}
    for key_id in all_keys():
        meta = kms.describe_key(KeyId=key_id)["KeyMetadata"]
        tags = {{t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=key_id)["Tags"]}}
        keys[key_id] = {{"description": meta["Description"], "tag": tags.get("durability")}}
    aliases = {{a["AliasName"]: a.get("TargetKeyId") for a in all_aliases()}}
    grants = []
    for page in kms.get_paginator("list_grants").paginate(KeyId=shared_key):
        grants += [{{"name": g["Name"], "id": g["GrantId"], "operations": g["Operations"]}} for g in page["Grants"]]
    policies = []
    for page in iam.get_paginator("list_role_policies").paginate(RoleName="{SHARED_ROLE}"):
        policies += page["PolicyNames"]
    documents = {{name: iam.get_role_policy(RoleName="{SHARED_ROLE}", PolicyName=name)["PolicyDocument"]
                 for name in policies}}
    # The workshop key still works: its imported material came through every write.
    blob = kms.encrypt(KeyId="alias/ImportedCMK", Plaintext=b"still here")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"still here"
    result({{"keys": keys, "aliases": aliases, "grants": grants, "policies": policies, "documents": documents}})
    """
)


def test_eight_processes_changing_the_account_at_once_lose_no_update(tmp_path):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    shared = run(SETUP, env, "the set-up process")
    assert shared["alias"] == "alias/ImportedCMK"

    folder = tmp_path / "signals"
    folder.mkdir()
    writers = [start(WRITER, env, str(p), shared["key_id"], shared["role_arn"], str(folder)) for p in range(WRITERS)]
    try:
        for p, proc in enumerate(writers):
            wait_for((folder / f"ready-{p}").exists, 60, f"writer {p} getting ready", proc)
        t0 = time.monotonic()
        (folder / "go").touch()  # all eight start writing at once
        made = [finish(proc, f"writer {p}", timeout=90) for p, proc in enumerate(writers)]
        writing = time.monotonic() - t0
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    # They did write at once: there is a moment when all eight were between their first and last call.
    assert max(m["began"] for m in made) < min(m["ended"] for m in made), [(m["began"], m["ended"]) for m in made]

    census = run(CENSUS, env, "the census process", shared["key_id"])

    expected = {f"durability-{p}-{i}" for p in range(WRITERS) for i in range(EACH)}
    reported_keys = {name: key_id for m in made for name, key_id in m["keys"].items()}
    reported_grants = {name: grant_id for m in made for name, grant_id in m["grants"].items()}
    assert set(reported_keys) == expected and set(reported_grants) == expected

    # Keys: exactly the 40 made (plus the shared one), each with its description and tag.
    ours = {key_id: k for key_id, k in census["keys"].items() if k["description"].startswith("durability-")}
    assert len(ours) == WRITERS * EACH, f"{len(ours)} of {WRITERS * EACH} keys (made in {writing:.1f} s)"
    assert {k["description"]: key_id for key_id, k in ours.items()} == reported_keys
    assert all(k["tag"] == k["description"] for k in ours.values())
    assert set(census["keys"]) == set(ours) | {shared["key_id"]}, "keys nobody made, or the shared key lost"

    # Aliases: exactly the 40 made, each on the key it was made for.
    aliases = {
        name[len("alias/") :]: target
        for name, target in census["aliases"].items()
        if name.startswith("alias/durability-")
    }
    assert len(aliases) == WRITERS * EACH
    assert aliases == reported_keys
    assert census["aliases"]["alias/ImportedCMK"] == shared["key_id"]

    # Grants on the shared key: exactly the 40 made, with the ids their makers were given.
    grants = {g["name"]: g["id"] for g in census["grants"]}
    assert len(census["grants"]) == WRITERS * EACH, sorted(grants)
    assert grants == reported_grants
    assert all(g["operations"] == ["Decrypt"] for g in census["grants"])

    # Inline policies of the shared role: exactly the 40 put, each with its own document.
    assert sorted(census["policies"]) == sorted(expected)
    for name, document in census["documents"].items():
        document = json.loads(document) if isinstance(document, str) else document
        assert document["Statement"][0]["Resource"].endswith("key/" + reported_keys[name]), name


# --- 2. a process killed mid-call: before or after, never in between -----------------------

CREATOR = script(
    """
    run, go = sys.argv[1], pathlib.Path(sys.argv[2])
    print("ready", flush=True)
    deadline = time.monotonic() + 120
    while not go.exists():
        assert time.monotonic() < deadline, "no start signal"
        time.sleep(0.005)
    for i in range(100000):
        name = f"crash-{run}-{i}"
        key_id = kms.create_key(Description=name)["KeyMetadata"]["KeyId"]
        print(f"key {i} {key_id}", flush=True)
        kms.create_alias(AliasName="alias/" + name, TargetKeyId=key_id)
        print(f"alias {i}", flush=True)
    """
)


class LineReader:
    """A child's stdout lines, read by a thread as they come (they outlive a SIGKILL)."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, args=(proc.stdout,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            with self._lock:
                self.lines.append(line.rstrip("\n"))

    def count(self, prefix: str) -> int:
        with self._lock:
            return sum(1 for line in self.lines if line.startswith(prefix))

    def join(self) -> list[str]:
        self._thread.join(timeout=10)
        return list(self.lines)


def check_consistent(view: dict) -> None:
    """Every alias points to a key that exists, and every key can be described."""
    for alias, target in view["aliases"].items():
        assert target in view["keys"], f"{alias} points to {target}, which is not in the account"
    assert all(k["state"] == "Enabled" for k in view["keys"].values()), view["keys"]


def run_of(view: dict, run: str) -> tuple[dict[int, str], dict[int, str]]:
    """({i: key id} of the keys, {i: target} of the aliases) run `run` made."""
    prefix = f"crash-{run}-"
    keys = {
        int(k["description"][len(prefix) :]): key_id
        for key_id, k in view["keys"].items()
        if k["description"].startswith(prefix)
    }
    aliases = {
        int(name[len("alias/" + prefix) :]): target
        for name, target in view["aliases"].items()
        if name.startswith("alias/" + prefix)
    }
    return keys, aliases


def test_sigkill_at_random_moments_leaves_a_whole_readable_account(tmp_path):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    kept: dict[str, dict] = {}  # what earlier runs left: it must stay exactly so
    runs = 5

    def spawn(attempt: int):
        go = tmp_path / f"go-{attempt}"
        proc = start(CREATOR, env, str(attempt), str(go))
        return proc, LineReader(proc), go

    spawned = [spawn(0)]
    try:
        for attempt in range(runs):
            kept = _kill_and_examine(attempt, spawned, spawn, runs, rng, seed, env, state, kept)
    finally:
        for proc, _reader, _go in spawned:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert len(kept) >= runs, kept


def _kill_and_examine(attempt, spawned, spawn, runs, rng, seed, env, state, kept):
    """One run of test_sigkill_at_random_moments: kill the child, examine the account."""
    proc, reader, go = spawned[-1]
    wait_for(lambda: reader.count("ready") == 1, 60, f"run {attempt} starting", proc, reader)
    go.touch()
    # Kill after a random number of calls have been answered, at a random moment of the next ones.
    after = rng.randrange(0, 8)
    wait_for(
        lambda: reader.count("key ") + reader.count("alias ") >= after,
        60,
        f"run {attempt} (seed {seed}) making its first calls",
        proc,
        reader,
    )
    time.sleep(rng.uniform(0, 0.25))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    lines = reader.join()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL, (
        f"run {attempt}: the child exited {proc.returncode} before the kill:\n{err[-5000:]}"
    )
    assert "Traceback" not in err, err[-5000:]

    about = f"run {attempt}, seed {seed}, killed after {after} answered calls"
    examiner = start(LOOK_AND_WRITE, env, f"after-kill-{attempt}")
    if attempt + 1 < runs:  # the next child gets ready meanwhile; it writes only once told to
        spawned.append(spawn(attempt + 1))
    view = finish(examiner, f"the process opening the account after {about}")
    check_consistent(view)
    assert integrity(state) == "ok", about

    answered_keys = {int(l.split()[1]): l.split()[2] for l in lines if l.startswith("key ")}
    answered_aliases = {int(l.split()[1]) for l in lines if l.startswith("alias ")}
    keys, aliases = run_of(view, str(attempt))
    calls = len(keys) + len(aliases)
    answered = len(answered_keys) + len(answered_aliases)
    # Some prefix of create_key, create_alias, create_key, ...: keys 0..k-1, aliases 0..a-1, a in {k-1, k}.
    assert sorted(keys) == list(range(len(keys))), f"{about}: keys {sorted(keys)} are not a prefix"
    assert sorted(aliases) == list(range(len(aliases))), f"{about}: aliases {sorted(aliases)} are not a prefix"
    assert len(aliases) in (len(keys) - 1, len(keys)), f"{about}: {len(keys)} keys but {len(aliases)} aliases"
    assert all(aliases[i] == keys[i] for i in aliases), f"{about}: an alias on another key"
    # Every answered call is in the account; at most the call under way when killed is there unanswered.
    assert answered <= calls <= answered + 1, f"{about}: {answered} calls answered, the account shows {calls}"
    assert all(keys[i] == key_id for i, key_id in answered_keys.items()), f"{about}: an answered key lost"
    # Nothing of the earlier runs changed, and the new writer did not wait on a dead process's lock.
    for key_id, key in kept.items():
        assert view["keys"].get(key_id, {}).get("description") == key["description"], f"{about}: lost {key}"
    assert view["write_seconds"] < 10, f"{about}: the next write took {view['write_seconds']:.1f} s"
    return {key_id: key for key_id, key in view["keys"].items()} | {
        view["new"]: {"description": f"after-kill-{attempt}"}
    }


# Deterministic: the child is killed while it is inside the write transaction of a create_key.
ARMED_CREATOR = script(
    """
    import workshop_helpers.account.snapshot as snapshot_module
    import workshop_helpers.account.store as store_module

    where, inside = sys.argv[1], pathlib.Path(sys.argv[2])
    before = kms.create_key(Description="before")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName="alias/before", TargetKeyId=before)
    armed = {"on": False}

    def stop_here():
        if armed["on"]:
            inside.write_text(str(os.getpid()))
            time.sleep(120)  # killed here

    if where == "dump":  # the snapshot made, nothing stored yet
        original_dump = snapshot_module.dump
        def dump(service, *account):
            data = original_dump(service, *account)
            if service == "kms":
                stop_here()
            return data
        snapshot_module.dump = dump
    else:  # the snapshot stored in the open transaction, not yet committed
        original_put = store_module.Store.put_snapshot
        def put_snapshot(self, conn, name, *rest):
            generation = original_put(self, conn, name, *rest)
            if name == "kms":
                stop_here()
            return generation
        store_module.Store.put_snapshot = put_snapshot
    print("before " + before, flush=True)
    armed["on"] = True
    kms.create_key(Description="doomed")
    print("the doomed call was answered", flush=True)
    """
)


@pytest.mark.parametrize("where", ["dump", "put_snapshot"])
def test_sigkill_inside_the_write_transaction_leaves_the_account_as_before(tmp_path, where):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    inside = tmp_path / "inside"
    proc = start(ARMED_CREATOR, env, where, str(inside))
    try:
        wait_for(inside.exists, 60, f"the child reaching {where} inside create_key", proc)
    except AssertionError:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        raise
    proc.send_signal(signal.SIGKILL)  # inside the transaction of the create_key call
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == -signal.SIGKILL, f"exited {proc.returncode}\nstdout:\n{out}\nstderr:\n{err[-5000:]}"
    assert "answered" not in out, out
    before = next(line.split()[1] for line in out.splitlines() if line.startswith("before "))
    assert (state / "account.sqlite3-wal").exists(), "the kill was to leave the write-ahead log behind"

    view = run(LOOK_AND_WRITE, env, f"the process opening the account after a kill in {where}", "after-kill")
    keys = {key_id: k["description"] for key_id, k in view["keys"].items()}
    # Exactly the account before the killed call: the key it was making is not there.
    assert keys == {before: "before"}, keys
    assert view["aliases"] == {"alias/before": before}
    assert view["write_seconds"] < 10, f"the next write took {view['write_seconds']:.1f} s"
    assert_private(state)


# --- 3. the endpoint killed mid-workshop, started again on the same folder -----------------

PARTICIPANTS = 30


class Serve:
    """`python -m workshop_helpers serve --port 0 --state-dir DIR` as a subprocess."""

    def __init__(self, tmp: pathlib.Path, state: pathlib.Path, name: str):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
        # --state-dir wins over the variable; the variable names a decoy that must stay unused.
        env.update(
            AWS_EC2_METADATA_DISABLED="true",
            KMS_WORKSHOP_STATE_DIR=str(tmp / "decoy-account"),
            KMS_WORKSHOP_KEY_MATERIAL_DIR=str(tmp / "key-material-of-serve"),
        )
        self.stderr_path = tmp / f"{name}.stderr"
        self._stderr = open(self.stderr_path, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workshop_helpers", "serve", "--port", "0", "--state-dir", str(state)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        line = self.proc.stdout.readline()
        if not line.startswith(URL_PREFIX):
            self.kill()
            raise AssertionError(f"serve printed {line!r}, not its URL\nstderr:\n{self.stderr()}")
        self.url = line.strip()[len(URL_PREFIX) :]

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text()[-5000:]

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)
        self.proc.stdout.close()
        self._stderr.close()


def clients(url: str, *services: str):
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    config = Config(connect_timeout=3, read_timeout=30, retries={"total_max_attempts": 2, "mode": "standard"})
    return [session.client(s, endpoint_url=url, region_name=REGION, config=config) for s in services]


def trust_root() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def inline_policy(key_arn: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key_arn}],
        }
    )


class Participant:
    """One learner's work: what they made and keep (the plaintext data key never on disk)."""

    def __init__(self, n: int, folder: pathlib.Path):
        self.n = n
        self.alias = f"alias/p{n}"
        self.role = f"p{n}-role"
        self.context = {"project": "workshop", "participant": f"p{n}"}
        self.folder = folder / f"p{n}"
        self.folder.mkdir()
        self.secret = f"participant {n}'s secret: {os.urandom(8).hex()}\n".encode() * 50
        self.extra_keys: dict[str, str] = {}  # phase 2, answered: description -> key id
        self.extra_policies: list[str] = []  # phase 2, answered
        self.phase2_error: BaseException | None = None
        self.phase2_error_at = 0.0

    def phase1(self, kms, iam) -> None:
        meta = kms.create_key(Description=f"p{self.n}", Tags=[{"TagKey": "participant", "TagValue": f"p{self.n}"}])
        self.key_id, self.key_arn = meta["KeyMetadata"]["KeyId"], meta["KeyMetadata"]["Arn"]
        kms.create_alias(AliasName=self.alias, TargetKeyId=self.key_id)
        iam.create_role(RoleName=self.role, AssumeRolePolicyDocument=trust_root())
        self.policy_document = inline_policy(self.key_arn)
        iam.put_role_policy(RoleName=self.role, PolicyName=f"p{self.n}-inline", PolicyDocument=self.policy_document)
        data_key = kms.generate_data_key(KeyId=self.alias, KeySpec="AES_256", EncryptionContext=self.context)
        self.blob = data_key["CiphertextBlob"]
        self.nonce = os.urandom(12)
        self.sealed = AESGCM(data_key["Plaintext"]).encrypt(self.nonce, self.secret, None)
        del data_key
        (self.folder / "secret.txt").write_bytes(self.secret)
        envelope.encrypt_file(
            self.folder / "secret.txt",
            self.folder / "secret.txt.envelope",
            key_id=self.alias,
            encryption_context=self.context,
            kms_client=kms,
        )
        (self.folder / "secret.txt").unlink()

    def phase2(self, kms, iam, stop: threading.Event) -> None:
        """Carry on working until the endpoint goes away (or the test says stop)."""
        try:
            for i in range(10_000):
                if stop.is_set():
                    return
                description = f"p{self.n}-extra-{i}"
                self.extra_keys[description] = kms.create_key(Description=description)["KeyMetadata"]["KeyId"]
                iam.put_role_policy(RoleName=self.role, PolicyName=f"extra-{i}", PolicyDocument=self.policy_document)
                self.extra_policies.append(f"extra-{i}")
                kms.generate_data_key(KeyId=self.alias, KeySpec="AES_256", EncryptionContext=self.context)
        except BaseException as exc:  # noqa: BLE001 - the endpoint was killed under it
            self.phase2_error, self.phase2_error_at = exc, time.monotonic()


@pytest.mark.endpoint
def test_endpoint_killed_mid_workshop_keeps_every_participants_work(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    state = tmp_path / "account"
    files = tmp_path / "participants"
    files.mkdir()
    people = [Participant(n, files) for n in range(PARTICIPANTS)]
    first = Serve(tmp_path, state, "first-serve")
    stop = threading.Event()
    try:
        made = [clients(first.url, "kms", "iam") for _ in people]
        with ThreadPoolExecutor(PARTICIPANTS) as pool:
            for future in [pool.submit(p.phase1, *c) for p, c in zip(people, made)]:
                future.result()
        assert not (tmp_path / "decoy-account").exists(), "serve used $KMS_WORKSHOP_STATE_DIR, not --state-dir"
        assert_private(state)
        # Mid-workshop: everyone is making calls again when the endpoint is killed.
        threads = [threading.Thread(target=p.phase2, args=(*c, stop), daemon=True) for p, c in zip(people, made)]
        for thread in threads:
            thread.start()
        wait_for(
            lambda: sum(len(p.extra_keys) for p in people) >= PARTICIPANTS, 60, "the second phase under way", first.proc
        )
        killed_at = time.monotonic()
        first.kill()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in threads), "a participant still waits on the killed endpoint"
    finally:
        stop.set()
        first.kill()
    # All thirty were mid-work: each was stopped by the kill (a connection error after it), by nothing else.
    for p in people:
        assert p.phase2_error is not None, f"p{p.n} was not working when the endpoint was killed"
        # (ResponseParserError: the endpoint died after its status line, before the body)
        assert isinstance(
            p.phase2_error,
            (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError, ResponseParserError),
        ), f"p{p.n} stopped on {type(p.phase2_error).__name__}: {p.phase2_error}\nserve's stderr:\n{first.stderr()}"
        assert p.phase2_error_at >= killed_at, f"p{p.n} stopped before the kill: {p.phase2_error}"

    second = Serve(tmp_path, state, "second-serve")
    try:
        kms, iam = clients(second.url, "kms", "iam")
        problems = []
        for p in people:
            try:
                assert kms.describe_key(KeyId=p.alias)["KeyMetadata"]["KeyId"] == p.key_id, "alias on another key"
                role = iam.get_role(RoleName=p.role)["Role"]
                assert role["RoleName"] == p.role
                policies = iam.list_role_policies(RoleName=p.role)["PolicyNames"]
                assert f"p{p.n}-inline" in policies, policies
                document = iam.get_role_policy(RoleName=p.role, PolicyName=f"p{p.n}-inline")["PolicyDocument"]
                document = json.loads(document) if isinstance(document, str) else document
                assert document == json.loads(p.policy_document)
                # Every change the killed endpoint answered is kept.
                assert set(p.extra_policies) <= set(policies), (p.extra_policies, policies)
                for description, key_id in p.extra_keys.items():
                    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["Description"] == description
                # The data key made before the kill still opens what it sealed.
                decrypted = kms.decrypt(CiphertextBlob=p.blob, EncryptionContext=p.context)
                assert decrypted["KeyId"] == p.key_arn
                assert AESGCM(decrypted["Plaintext"]).decrypt(p.nonce, p.sealed, None) == p.secret
                envelope.decrypt_file(
                    p.folder / "secret.txt.envelope",
                    p.folder / "secret.txt.out",
                    encryption_context=p.context,
                    key_id=p.alias,
                    kms_client=kms,
                )
                assert (p.folder / "secret.txt.out").read_bytes() == p.secret
            except Exception as exc:  # noqa: BLE001 - all thirty reported at once
                problems.append(f"p{p.n}: {type(exc).__name__}: {exc}")
        assert not problems, "\n".join(problems) + f"\nserve's stderr:\n{second.stderr()}"
        # Nothing more than what was made: 30 keys + the extra keys answered (+ at most one per participant unanswered).
        key_count = sum(len(page["Keys"]) for page in kms.get_paginator("list_keys").paginate())
        answered = PARTICIPANTS + sum(len(p.extra_keys) for p in people)
        assert answered <= key_count <= answered + PARTICIPANTS
        assert_private(state)
    finally:
        second.kill()
    assert_private(state)
    assert not (tmp_path / "decoy-account").exists()
