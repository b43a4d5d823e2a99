"""S3 objects on the account on disk cost what they are (workshop_helpers/account/objects.py).

An object's bytes are kept beside the S3 snapshot, by digest, not inside it. Measured on
the code that pickled them inside: a 200 MiB object made the state folder 404 MiB, the
next 1-byte object rewrote all of it, and deleting the big one gave nothing back. Here:

- putting then deleting a 50 MiB object leaves the folder at most twice its size before;
- a 1-byte put after a 200 MiB object writes little (the write-ahead log and the file
  grow by well under a MiB);
- objects (and a multipart upload in progress) outlive their process, and processes on
  one folder see each other's objects;
- four processes putting, overwriting and deleting objects in one bucket at once lose
  nothing, and once everything is deleted the space is given back;
- a process killed while it writes or deletes an object leaves the old object whole.

Every process runs the moto backend on a state folder in pytest's tmp_path.
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RESULT = "RESULT "
MiB = 1 << 20
BUCKET = "workshop-objects-test"


def child_env(tmp: pathlib.Path, state: pathlib.Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND="moto",
        KMS_WORKSHOP_STATE_DIR=str(state),
        KMS_WORKSHOP_DATA_DIR=str(tmp / "workshop-data-of-children"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONPATH=os.pathsep.join(p for p in [str(ROOT), os.environ.get("PYTHONPATH", "")] if p),
    )
    return env


# Every child: the moto backend on the account in $KMS_WORKSHOP_STATE_DIR, and helpers.
PRELUDE = textwrap.dedent(
    f"""
    import hashlib, json, os, pathlib, sqlite3, sys, time
    import workshop_helpers
    ws = workshop_helpers.connect()
    assert ws.backend == "moto" and str(ws.state_dir) == os.environ["KMS_WORKSHOP_STATE_DIR"]
    s3 = ws.client("s3")
    state = pathlib.Path(os.environ["KMS_WORKSHOP_STATE_DIR"])
    BUCKET = {BUCKET!r}

    def result(value):
        print({RESULT!r} + json.dumps(value), flush=True)

    def body(seed, size):
        # deterministic bytes, cheap to make and to check: a block repeated
        block = hashlib.sha256(seed.encode()).digest() * 2048
        return (block * (size // len(block) + 1))[:size]

    def digest(data):
        return hashlib.sha256(data).hexdigest()

    def get(key):
        return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def make_bucket():
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={{"LocationConstraint": "eu-west-1"}})

    def checkpoint():
        conn = sqlite3.connect(state / "account.sqlite3")
        try:
            busy = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            assert busy == 0, "the checkpoint could not finish"
        finally:
            conn.close()

    def folder_size():
        return sum(p.stat().st_size for p in state.rglob("*") if p.is_file())

    def file_sizes():
        db = state / "account.sqlite3"
        wal = state / "account.sqlite3-wal"
        return db.stat().st_size, wal.stat().st_size if wal.exists() else 0
    """
)


def script(body: str) -> str:
    return PRELUDE + textwrap.dedent(body)


def start(code: str, env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
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


def run(code: str, env: dict[str, str], what: str, *args: str, timeout: float = 300):
    return finish(start(code, env, *args), what, timeout)


def integrity(state: pathlib.Path) -> str:
    conn = sqlite3.connect(state / "account.sqlite3")
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


# --- space: what an object costs, and that deleting it gives it back ------------------------


def folder_size(state: pathlib.Path) -> int:
    """Every file in the state folder, after a checkpoint has emptied the write-ahead log."""
    conn = sqlite3.connect(state / "account.sqlite3")
    try:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0, "the checkpoint could not finish"
    finally:
        conn.close()
    return sum(p.stat().st_size for p in state.rglob("*") if p.is_file())


def test_putting_then_deleting_a_50_mib_object_gives_its_space_back(tmp_path):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    run(
        script("""
        make_bucket()
        s3.put_object(Bucket=BUCKET, Key="small.txt", Body=b"a small object")
        result(True)
    """),
        env,
        "the process making the bucket",
    )
    before = folder_size(state)
    run(
        script(f"""
        s3.put_object(Bucket=BUCKET, Key="big.bin", Body=body("big", {50 * MiB}))
        result(True)
    """),
        env,
        "the process putting 50 MiB",
    )
    with_it = folder_size(state)
    live = run(
        script("""
        s3.delete_object(Bucket=BUCKET, Key="big.bin")
        checkpoint()
        # while this process still has the file open: the data (file and log) is small again;
        # SQLite's shared-memory index (-shm) is left out, it goes when the last connection closes
        result({"data": sum(file_sizes()), "small": get("small.txt").decode()})
    """),
        env,
        "the process deleting it",
    )
    after = folder_size(state)
    assert live["small"] == "a small object"
    assert with_it >= 50 * MiB, with_it  # the object was stored
    assert live["data"] <= 2 * before, (live, before)
    assert after <= 2 * before, (before, with_it, after)


def test_a_one_byte_put_after_a_200_mib_object_writes_little(tmp_path):
    state = tmp_path / "account"
    grown = run(
        script(f"""
        make_bucket()
        s3.put_object(Bucket=BUCKET, Key="huge.bin", Body=body("huge", {200 * MiB}))
        checkpoint()
        db_before, wal_before = file_sizes()
        started = time.monotonic()
        s3.put_object(Bucket=BUCKET, Key="tiny.txt", Body=b"x")
        seconds = time.monotonic() - started
        db_after, wal_after = file_sizes()
        result({{"db": db_after - db_before, "wal_before": wal_before, "wal": wal_after, "seconds": seconds,
                 "tiny": get("tiny.txt").decode(), "huge": digest(get("huge.bin")) == digest(body("huge", {200 * MiB}))}})
    """),
        child_env(tmp_path, state),
        "the big-then-small process",
        timeout=600,
    )
    assert grown["tiny"] == "x" and grown["huge"]
    assert grown["wal_before"] == 0
    # Everything the 1-byte put wrote went through the write-ahead log (no checkpoint ran:
    # it is far below SQLite's 4 MiB auto-checkpoint), and the file itself did not grow.
    assert grown["wal"] < 1 * MiB, grown
    assert grown["db"] < 1 * MiB, grown
    assert grown["seconds"] < 30, grown  # generous: 10.7 s was the measured failure, on a quiet machine


# --- across processes -----------------------------------------------------------------------


def test_objects_and_a_multipart_upload_outlive_their_process_and_are_shared(tmp_path):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    made = run(
        script(f"""
        make_bucket()
        s3.put_object(Bucket=BUCKET, Key="first.txt", Body=b"made by the first process")
        s3.put_object(Bucket=BUCKET, Key="same-a", Body=body("same", 3 * {MiB}))
        s3.put_object(Bucket=BUCKET, Key="same-b", Body=body("same", 3 * {MiB}))  # the same bytes twice
        s3.put_object(Bucket=BUCKET, Key="empty", Body=b"")
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key="assembled.bin")["UploadId"]
        part1 = s3.upload_part(Bucket=BUCKET, Key="assembled.bin", UploadId=upload, PartNumber=1,
                               Body=body("part1", 5 * {MiB}))["ETag"]
        result({{"upload": upload, "part1": part1}})
    """),
        env,
        "the first process",
    )

    # A second process, alive while a third one works on the same folder: each sees the other's objects.
    second = start(
        script(f"""
        import subprocess
        seen = {{"first": get("first.txt").decode(), "same": get("same-a") == get("same-b") == body("same", 3 * {MiB}),
                "empty": get("empty")}}
        seen["empty"] = seen["empty"].decode()
        part2 = s3.upload_part(Bucket=BUCKET, Key="assembled.bin", UploadId=sys.argv[1], PartNumber=2,
                               Body=b"the last part")["ETag"]
        s3.complete_multipart_upload(Bucket=BUCKET, Key="assembled.bin", UploadId=sys.argv[1], MultipartUpload={{
            "Parts": [{{"PartNumber": 1, "ETag": sys.argv[2]}}, {{"PartNumber": 2, "ETag": part2}}]}})
        s3.put_object(Bucket=BUCKET, Key="first.txt", Body=b"overwritten by the second process")
        third = subprocess.run([sys.executable, "-c", sys.argv[3]], capture_output=True, text=True)
        assert third.returncode == 0, third.stderr[-3000:]
        seen["third"] = json.loads(third.stdout.strip().splitlines()[-1][len("RESULT "):])
        seen["from_third"] = get("third.txt").decode()  # put by the third process while this one ran
        result(seen)
    """),
        env,
        made["upload"],
        made["part1"],
        script(f"""
        assembled = get("assembled.bin")
        s3.put_object(Bucket=BUCKET, Key="third.txt", Body=b"made by the third process")
        result({{"first": get("first.txt").decode(),
                 "assembled": assembled == body("part1", 5 * {MiB}) + b"the last part"}})
    """),
    )
    seen = finish(second, "the second process")
    assert seen["first"] == "made by the first process"
    assert seen["same"] and seen["empty"] == ""
    assert seen["third"] == {"first": "overwritten by the second process", "assembled": True}
    assert seen["from_third"] == "made by the third process"

    after = run(
        script("""
        keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"])
        result({"keys": keys, "first": get("first.txt").decode(), "third": get("third.txt").decode(),
                "uploads": len(s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []))})
    """),
        env,
        "a process after all of them",
    )
    assert after == {
        "keys": ["assembled.bin", "empty", "first.txt", "same-a", "same-b", "third.txt"],
        "first": "overwritten by the second process",
        "third": "made by the third process",
        "uploads": 0,
    }


WRITERS = 4
EACH = 8

WRITER = script(f"""
    me, go = sys.argv[1], pathlib.Path(sys.argv[2])
    (go.parent / f"ready-{{me}}").touch()
    while not go.exists():
        time.sleep(0.005)
    for i in range({EACH}):
        s3.put_object(Bucket=BUCKET, Key=f"w{{me}}/{{i}}", Body=body(f"w{{me}}-{{i}}", 64 * 1024 + i))
        s3.put_object(Bucket=BUCKET, Key=f"shared-content/{{me}}-{{i}}", Body=body("everyone", 100 * 1024))
    s3.put_object(Bucket=BUCKET, Key=f"w{{me}}/0", Body=body(f"w{{me}}-again", 70 * 1024))  # overwritten
    s3.delete_object(Bucket=BUCKET, Key=f"w{{me}}/1")
    result("done")
""")


def test_four_processes_putting_into_one_bucket_at_once_lose_nothing(tmp_path):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    start_size = run(
        script("""
        make_bucket()
        checkpoint()
        result(folder_size())
    """),
        env,
        "the set-up process",
    )
    signals = tmp_path / "signals"
    signals.mkdir()
    go = signals / "go"
    writers = [start(WRITER, env, str(n), str(go)) for n in range(WRITERS)]
    try:
        deadline = time.monotonic() + 120
        while not all((signals / f"ready-{n}").exists() for n in range(WRITERS)):
            assert time.monotonic() < deadline and all(w.poll() is None for w in writers), "writers not ready"
            time.sleep(0.02)
        go.touch()
        for n, proc in enumerate(writers):
            assert finish(proc, f"writer {n}") == "done"
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    census = run(
        script(f"""
        found = {{}}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for item in page.get("Contents", []):
                found[item["Key"]] = digest(get(item["Key"]))
        expected = {{}}
        for me in range({WRITERS}):
            for i in range({EACH}):
                expected[f"w{{me}}/{{i}}"] = digest(body(f"w{{me}}-{{i}}", 64 * 1024 + i))
                expected[f"shared-content/{{me}}-{{i}}"] = digest(body("everyone", 100 * 1024))
            expected[f"w{{me}}/0"] = digest(body(f"w{{me}}-again", 70 * 1024))
            del expected[f"w{{me}}/1"]
        wrong = sorted(k for k in set(found) | set(expected) if found.get(k) != expected.get(k))
        for key in found:
            s3.delete_object(Bucket=BUCKET, Key=key)
        checkpoint()
        result({{"count": len(found), "wrong": wrong, "emptied": folder_size()}})
    """),
        env,
        "the census process",
    )
    assert census["wrong"] == [], census
    assert census["count"] == WRITERS * (2 * EACH - 1)
    # Every object deleted: nothing of theirs is left behind in the file.
    assert census["emptied"] <= 2 * start_size, (census, start_size)
    assert integrity(state) == "ok"


# --- a process killed while it writes an object ---------------------------------------------

ARMED = script(f"""
    import workshop_helpers.account.objects as objects_module

    where, inside = sys.argv[1], pathlib.Path(sys.argv[2])
    make_bucket()
    s3.put_object(Bucket=BUCKET, Key="kept.bin", Body=body("old", 9 * {MiB}))
    armed = {{"on": False}}

    def stop_here():
        if armed["on"]:
            inside.write_text(str(os.getpid()))
            time.sleep(120)  # killed here, inside the write transaction

    if where == "writing the new bytes":  # one chunk of the new body inserted, more to come
        original_insert = objects_module._write
        def _write(conn, digest, chunks):
            def stopping():
                for n, chunk in enumerate(chunks):
                    yield chunk
                    if n == 0:
                        stop_here()
            return original_insert(conn, digest, stopping())
        objects_module._write = _write
    else:  # the old body deleted, its space being given back
        original_give = objects_module.give_back_space
        def give_back_space(conn):
            stop_here()
            return original_give(conn)
        objects_module.give_back_space = give_back_space
    armed["on"] = True
    if where == "writing the new bytes":
        s3.put_object(Bucket=BUCKET, Key="kept.bin", Body=body("new", 9 * {MiB}))
    else:
        s3.delete_object(Bucket=BUCKET, Key="kept.bin")
    print("the doomed call was answered", flush=True)
""")


@pytest.mark.parametrize("where", ["writing the new bytes", "deleting the old bytes"])
def test_a_process_killed_while_it_writes_an_object_leaves_the_old_one_whole(tmp_path, where):
    state = tmp_path / "account"
    env = child_env(tmp_path, state)
    inside = tmp_path / "inside"
    proc = start(ARMED, env, where, str(inside))
    try:
        deadline = time.monotonic() + 120
        while not inside.exists():
            if proc.poll() is not None:
                out, err = proc.communicate()
                raise AssertionError(f"the child exited {proc.returncode} first\n{out[-3000:]}\n{err[-5000:]}")
            assert time.monotonic() < deadline, "the child did not reach the armed point"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        out, _err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL and "answered" not in out
    assert (state / "account.sqlite3-wal").exists(), "the kill was to leave the write-ahead log behind"

    seen = run(
        script(f"""
        kept = get("kept.bin")
        s3.put_object(Bucket=BUCKET, Key="after.txt", Body=b"the next writer")
        result({{"old": kept == body("old", 9 * {MiB}), "size": len(kept), "after": get("after.txt").decode()}})
    """),
        env,
        f"the process after a kill while {where}",
    )
    assert seen == {"old": True, "size": 9 * MiB, "after": "the next writer"}
    assert integrity(state) == "ok"
    again = run(
        script(f"""
        s3.put_object(Bucket=BUCKET, Key="kept.bin", Body=body("new", 9 * {MiB}))
        result(get("kept.bin") == body("new", 9 * {MiB}))
    """),
        env,
        "a process replacing the object",
    )
    assert again is True
