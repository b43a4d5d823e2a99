"""Faults: an endpoint that goes away mid-notebook, KMS throttling, connection errors, every
kind of tampering, an unwritable or full destination.

For each: a clear message (one line, the error's name kept), quickly (no multi-minute
retrying), and nothing half-written (the destination absent, no temporary file beside it).
"""

from __future__ import annotations

import errno
import os
import re
import signal
import stat
import subprocess
import sys
import time

import pytest
import workshop_run
from botocore.awsrequest import AWSResponse
from botocore.exceptions import BotoCoreError, ClientError
from workshop_run import ROOT, Kernel, RecordingEndpoint, kernel_env

from workshop_helpers import envelope, fixtures, ipython_errors
from workshop_helpers.backend import client_config

CONTEXT = {"project": "workshop"}
FAST = 15  # seconds: a fault must be reported within this
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".partial-" in p.name)


@pytest.fixture(scope="module")
def key(moto_workshop):
    return fixtures.ensure_imported_cmk(moto_workshop)


@pytest.fixture
def plain(tmp_path):
    path = tmp_path / "plain.txt"
    path.write_bytes(os.urandom(3000))
    return path


# --- KMS throttling and connection errors, in the library ----------------------------------


def _throttling_client(ws, operation: str, times: int | None = None):
    """A KMS client whose `operation` is answered ThrottlingException (the first `times`
    calls, or all), before it leaves the process; `.attempts` counts the throttled calls."""
    kms = ws.client("kms")
    state = {"left": times, "attempts": 0}

    def throttle(request=None, **_):
        if state["left"] is not None:
            if state["left"] <= 0:
                return None
            state["left"] -= 1
        state["attempts"] += 1
        response = AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, None)
        response._content = b'{"__type":"ThrottlingException","message":"Rate exceeded"}'
        return response

    kms.meta.events.register(f"before-send.kms.{operation}", throttle)
    kms.throttle_state = state
    return kms


def _dead_client(ws):
    """A KMS client pointed at a port where nothing listens."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return ws.session.client(
        "kms", region_name=ws.region, endpoint_url=f"http://127.0.0.1:{port}", config=client_config()
    )


def test_throttled_encrypt_is_clear_fast_and_leaves_nothing(moto_workshop, key, plain, tmp_path):
    kms = _throttling_client(moto_workshop, "GenerateDataKey")
    dst = tmp_path / "out.envelope"
    started = time.monotonic()
    with pytest.raises(ClientError) as info:
        envelope.encrypt_file(plain, dst, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms)
    assert time.monotonic() - started < FAST
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert kms.throttle_state["attempts"] == 2, "one try and one retry, no more"
    assert not dst.exists() and _leftovers(tmp_path) == []
    line = ipython_errors.explain(info.value)
    assert "\n" not in line and "throttled" in line and "run this cell again" in line


def test_throttled_decrypt_is_clear_and_leaves_nothing(moto_workshop, key, plain, tmp_path):
    sealed = tmp_path / "sealed.envelope"
    envelope.encrypt_file(plain, sealed, key_id=key.alias, encryption_context=CONTEXT)
    kms = _throttling_client(moto_workshop, "Decrypt")
    dst = tmp_path / "back.txt"
    with pytest.raises(ClientError) as info:
        envelope.decrypt_file(sealed, dst, encryption_context=CONTEXT, key_id=key.arn, kms_client=kms)
    assert info.value.response["Error"]["Code"] == "ThrottlingException"
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_one_throttle_is_absorbed_by_the_retry(moto_workshop, key, plain, tmp_path):
    kms = _throttling_client(moto_workshop, "GenerateDataKey", times=1)
    dst = tmp_path / "out.envelope"
    envelope.encrypt_file(plain, dst, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms)
    assert kms.throttle_state["attempts"] == 1
    assert envelope.decrypt_bytes(dst.read_bytes(), encryption_context=CONTEXT, key_id=key.arn) == plain.read_bytes()


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_connection_error_is_clear_fast_and_leaves_nothing(moto_workshop, key, plain, tmp_path, direction):
    dead = _dead_client(moto_workshop)
    src = plain
    if direction == "decrypt":
        src = tmp_path / "sealed.envelope"
        envelope.encrypt_file(plain, src, key_id=key.arn, encryption_context=CONTEXT)
    dst = tmp_path / "out"
    started = time.monotonic()
    with pytest.raises(BotoCoreError) as info:
        if direction == "encrypt":
            envelope.encrypt_file(src, dst, key_id=key.arn, encryption_context=CONTEXT, kms_client=dead)
        else:
            envelope.decrypt_file(src, dst, encryption_context=CONTEXT, key_id=key.arn, kms_client=dead)
    assert time.monotonic() - started < FAST
    assert type(info.value).__name__ == "EndpointConnectionError"
    assert not dst.exists() and _leftovers(tmp_path) == []
    line = ipython_errors.explain(info.value)
    assert "\n" not in line and "cannot reach the endpoint at http://127.0.0.1:" in line


def test_ipython_errors_are_one_line_for_every_kind():
    from botocore import exceptions as bex

    cases = [
        ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Decrypt"),
        ClientError({"Error": {"Code": "AccessDeniedException", "Message": "User: x is not\nauthorized"}}, "Decrypt"),
        ClientError({"Error": {"Code": "ExpiredTokenException", "Message": "expired"}}, "Encrypt"),
        ClientError({"Error": {"Code": "DisabledException", "Message": "disabled"}}, "Encrypt"),
        ClientError({"Error": {"Code": "SomethingNew"}}, "Encrypt"),
        bex.EndpointConnectionError(endpoint_url="http://127.0.0.1:5000/"),
        bex.ConnectTimeoutError(endpoint_url="http://10.0.0.1/"),
        bex.ReadTimeoutError(endpoint_url="http://10.0.0.1/"),
        bex.NoCredentialsError(),
        bex.ParamValidationError(report="Invalid type for parameter KeyId"),
    ]
    for exc in cases:
        line = ipython_errors.explain(exc)
        assert line and "\n" not in line, exc
    assert ipython_errors.explain(ValueError("x")) is None
    assert ipython_errors.install() is False or "IPython" in sys.modules  # no IPython here: no-op


# --- the endpoint going away in the middle of a notebook -------------------------------------


def _code_cells(name: str) -> list[str]:
    import nbformat

    return [c.source for c in nbformat.read(workshop_run.NOTEBOOKS / name, as_version=4).cells if c.cell_type == "code"]


def _cell(cells: list[str], needle: str) -> str:
    return next(c for c in cells if needle in c)


def _error_of(outputs) -> dict:
    errors = [m["content"] for m in outputs if m["msg_type"] == "error"]
    assert len(errors) == 1, outputs
    return errors[0]


def _assert_one_clear_line(error: dict, ename: str, *words: str) -> str:
    assert error["ename"] == ename
    lines = [ANSI.sub("", line) for line in error["traceback"]]
    text = "\n".join(lines)
    assert len(text.strip().splitlines()) == 1, text
    assert text.startswith(f"{ename}: "), text
    for word in words:
        assert word in text, text
    return text


@pytest.mark.endpoint
def test_endpoint_going_away_mid_notebook(tmp_path):
    run_dir = workshop_run.copy_notebooks(tmp_path / "notebooks", ["03-encrypt-with-data-key.ipynb"])
    env = kernel_env(run_dir, "endpoint")
    server = RecordingEndpoint(env)
    env["KMS_WORKSHOP_ENDPOINT_URL"] = server.url
    kernel = Kernel(env, run_dir)
    try:
        cells = _code_cells("03-encrypt-with-data-key.ipynb")
        for code in cells[:3]:  # set-up, diagram, generate_data_key: the endpoint answers
            reply, outputs, _ = kernel.run(code)
            assert reply["status"] == "ok", outputs
        server.proc.send_signal(signal.SIGKILL)  # the endpoint dies without a goodbye
        server.proc.wait(timeout=10)

        reply, outputs, took = kernel.run(_cell(cells, "file_key = kms.generate_data_key("))
        assert reply["status"] == "error" and took < FAST, took
        print(f"endpoint gone: the cell failed in {took:.2f} s")
        _assert_one_clear_line(
            _error_of(outputs), "EndpointConnectionError", server.url, "python -m workshop_helpers serve"
        )

        data_dir = run_dir / "workshop-data"
        reply, outputs, took = kernel.run(_cell(cells, "envelope.encrypt_file("))
        assert reply["status"] == "error" and took < FAST, took
        _assert_one_clear_line(_error_of(outputs), "EndpointConnectionError")
        assert not (data_dir / fixtures.ENVELOPE_NAME).exists()
        assert _leftovers(data_dir) == []

        reply, outputs, _ = kernel.run("%tb")  # the full traceback is still there on demand
        full = "\n".join(
            ANSI.sub("", line) for m in outputs if m["msg_type"] == "error" for line in m["content"]["traceback"]
        )
        assert "Traceback (most recent call last)" in full and "workshop_helpers/envelope/" in full
    finally:
        kernel.close()
        server.stop()


def test_fault_injection_is_test_only_and_refuses_a_malformed_spec():
    """The product's `serve` has no fault injection; the tests' wrapper refuses a bad spec
    in one line before anything starts."""
    product = subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "serve", "--inject-error", "X"],
        cwd=workshop_run.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert product.returncode == 2 and "unrecognized arguments: --inject-error" in product.stderr
    wrapper = subprocess.run(
        [sys.executable, str(workshop_run.TESTS / "fault_injection.py"), "--port", "0", "--inject-error", "A:B:C:D"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert wrapper.returncode == 2
    assert wrapper.stderr.strip().splitlines() == ["error: --inject-error 'A:B:C:D' is not CODE[:OPERATION[:COUNT]]"]


@pytest.mark.endpoint
def test_throttling_in_a_notebook_and_on_the_command_line(tmp_path):
    """An endpoint that throttles every Decrypt: the notebook cell and the CLI both say so in
    one line, and neither leaves a decrypted or partial file."""
    run_dir = workshop_run.copy_notebooks(tmp_path / "notebooks", ["04-decrypt.ipynb"])
    env = kernel_env(run_dir, "endpoint")
    with RecordingEndpoint(env, None, "--inject-error", "ThrottlingException:Decrypt") as server:
        env["KMS_WORKSHOP_ENDPOINT_URL"] = server.url
        kernel = Kernel(env, run_dir)
        try:
            cells = _code_cells("04-decrypt.ipynb")
            reply, outputs, _ = kernel.run(cells[0])  # fixtures remake notebook 03's files
            assert reply["status"] == "ok", outputs
            reply, outputs, took = kernel.run(cells[1])
            assert reply["status"] == "ok", outputs
            reply, outputs, took = kernel.run(_cell(cells, 'EncryptionContext={"project": "workshop"})\ndata_key'))
            assert reply["status"] == "error" and took < FAST
            _assert_one_clear_line(_error_of(outputs), "ClientError", "throttled", "ThrottlingException")
            reply, outputs, took = kernel.run(_cell(cells, "envelope.decrypt_file("))
            assert reply["status"] == "error" and took < FAST
            _assert_one_clear_line(_error_of(outputs), "ClientError", "Decrypt was throttled")
            data_dir = run_dir / "workshop-data"
            assert not (data_dir / "samplesecret.decrypted.txt").exists()
            assert _leftovers(data_dir) == []
        finally:
            kernel.close()

        sealed = data_dir / fixtures.ENVELOPE_NAME
        out = tmp_path / "cli-out.txt"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "workshop_helpers",
                "decrypt",
                str(sealed),
                str(out),
                "--context",
                "project=workshop",
                "--key-id",
                envelope.read_header(sealed).key_arn,
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode != 0
        assert result.stderr.strip().splitlines() == [result.stderr.strip()]
        assert "ThrottlingException" in result.stderr and "Traceback" not in result.stderr
        assert not out.exists() and _leftovers(tmp_path) == []
    assert "WARNING: TEST MODE" in server.stderr_text()


@pytest.mark.endpoint
def test_throttled_data_key_on_the_command_line(tmp_path):
    env = kernel_env(tmp_path, "endpoint")
    with RecordingEndpoint(env, None, "--inject-error", "ThrottlingException:GenerateDataKey") as server:
        env["KMS_WORKSHOP_ENDPOINT_URL"] = server.url
        setup = subprocess.run(
            [
                sys.executable,
                "-c",
                "import workshop_helpers as w; from workshop_helpers import "
                "fixtures; fixtures.ensure_imported_cmk(w.connect())",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert setup.returncode == 0, setup.stderr
        src, dst = tmp_path / "plain.txt", tmp_path / "plain.envelope"
        src.write_text("secret\n")
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "workshop_helpers", "encrypt", str(src), str(dst), "--context", "project=workshop"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert time.monotonic() - started < FAST
        assert result.returncode != 0 and result.stderr.count("\n") == 1
        assert result.stderr.startswith("error: GenerateDataKey failed: ThrottlingException")
        assert not dst.exists() and _leftovers(tmp_path) == []


# --- tampering: every single-byte flip, every truncation, and structural changes --------------


def _frames(blob: bytes) -> tuple[bytes, list[bytes]]:
    parsed = envelope.anatomy(blob)
    return parsed.header.raw, [blob[f.offset : f.offset + f.size] for f in parsed.frames]


def _refused(blob: bytes, context=CONTEXT, kms=None, key_id=None) -> bool:
    try:
        envelope.decrypt_bytes(blob, encryption_context=context, kms_client=kms, key_id=key_id)
    except (envelope.EnvelopeError, ClientError):
        return True
    return False


def test_every_single_byte_flip_is_detected(moto_workshop, key):
    kms = moto_workshop.client("kms")
    message = b"attack at dawn, bring the blue notebook, 40"
    blob = envelope.encrypt_bytes(message, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms, frame_size=16)
    assert envelope.decrypt_bytes(blob, encryption_context=CONTEXT, key_id=key.arn, kms_client=kms) == message
    header, frames = _frames(blob)
    assert len(frames) == 3  # 16 + 16 + 11 bytes
    undetected = []
    for position in range(len(blob)):
        for flip in (0x01, 0x80, 0xFF):
            tampered = bytearray(blob)
            tampered[position] ^= flip
            if not _refused(bytes(tampered), kms=kms, key_id=key.arn):
                undetected.append((position, flip))
    assert undetected == [], f"undetected flips (position, xor): {undetected[:10]}"


def test_every_truncation_and_extension_is_detected(moto_workshop, key):
    kms = moto_workshop.client("kms")
    blob = envelope.encrypt_bytes(
        b"x" * 40, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms, frame_size=16
    )
    missed = [n for n in range(len(blob)) if not _refused(blob[:n], kms=kms, key_id=key.arn)]
    for extra in (b"\0", b"\x01", os.urandom(7), blob[-21:]):
        if not _refused(blob + extra, kms=kms, key_id=key.arn):
            missed.append(f"+{len(extra)}")
    assert missed == []


def test_structural_tampering_is_detected(moto_workshop, key):
    kms = moto_workshop.client("kms")
    blob = envelope.encrypt_bytes(
        b"y" * 40, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms, frame_size=16
    )
    other = envelope.encrypt_bytes(
        b"z" * 40, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms, frame_size=16
    )
    header, (f0, f1, f2) = _frames(blob)
    other_header, (g0, g1, g2) = _frames(other)
    cases = {
        "frames swapped": header + f1 + f0 + f2,
        "frame repeated": header + f0 + f0 + f1 + f2,
        "frame dropped": header + f0 + f2,
        "final frame dropped": header + f0 + f1,
        "final frame repeated": header + f0 + f1 + f2 + f2,
        "header of another message": other_header + f0 + f1 + f2,
        "frame of another message": header + f0 + g1 + f2,
        "final frame of another message": header + f0 + f1 + g2,
        "only the header": header,
        "empty": b"",
    }
    # the context in the header changed to another valid context, and the caller asking for it
    forged_context = {"project": "workshpp"}
    forged = blob.replace(b"workshop", b"workshpp", 1)
    missed = [name for name, tampered in cases.items() if not _refused(tampered, kms=kms, key_id=key.arn)]
    if not _refused(forged, context=forged_context, kms=kms, key_id=key.arn):
        missed.append("context rewritten")
    assert missed == []


def test_tampered_files_leave_no_output(moto_workshop, key, tmp_path):
    """decrypt_file on every single-byte flip of a small file: never an output file."""
    kms = moto_workshop.client("kms")
    src = tmp_path / "plain.txt"
    src.write_bytes(b"a small secret, three frames long, 44 bytes!")
    sealed = tmp_path / "sealed.envelope"
    envelope.encrypt_file(src, sealed, key_id=key.alias, encryption_context=CONTEXT, kms_client=kms, frame_size=16)
    blob = sealed.read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    bad = work / "bad.envelope"
    out = work / "out.txt"
    released = []
    for position in range(len(blob)):
        tampered = bytearray(blob)
        tampered[position] ^= 0x01
        bad.write_bytes(tampered)
        try:
            envelope.decrypt_file(bad, out, encryption_context=CONTEXT, key_id=key.arn, kms_client=kms)
            released.append(position)
        except (envelope.EnvelopeError, ClientError):
            pass
        if out.exists() or _leftovers(work):
            released.append(position)
    assert released == []
    assert sorted(p.name for p in work.iterdir()) == ["bad.envelope"]


# --- unwritable and full destinations ---------------------------------------------------------


@pytest.mark.parametrize("where", ["missing directory", "a directory", "under a file"])
def test_unwritable_destination(moto_workshop, key, plain, tmp_path, where):
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    dst = {
        "missing directory": tmp_path / "nope" / "out",
        "a directory": tmp_path / "a-dir",
        "under a file": tmp_path / "a-file" / "out",
    }[where]
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with pytest.raises((OSError, envelope.EnvelopeError)) as info:
        envelope.encrypt_file(plain, dst, key_id=key.alias, encryption_context=CONTEXT)
    assert "\n" not in str(info.value)
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # nothing new, nothing removed
    assert (tmp_path / "a-dir").is_dir() and list((tmp_path / "a-dir").iterdir()) == []


def test_read_only_destination(moto_workshop, key, plain, tmp_path, monkeypatch):
    """Tests run as root, where chmod does not stop a write: make creating a file fail."""
    import tempfile

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(kwargs.get("dir", "")))

    monkeypatch.setattr(tempfile, "mkstemp", denied)
    dst = tmp_path / "out.envelope"
    with pytest.raises(PermissionError) as info:
        envelope.encrypt_file(plain, dst, key_id=key.alias, encryption_context=CONTEXT)
    assert "\n" not in str(info.value)
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_special_file_destination_is_not_replaced(moto_workshop, key, plain, tmp_path):
    """A FIFO (like /dev/null or /dev/full for root) must not be swapped for a regular file."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    try:
        envelope.encrypt_file(plain, fifo, key_id=key.alias, encryption_context=CONTEXT)
    except (OSError, envelope.EnvelopeError):
        pass
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode), "encrypt_file replaced a special file with a regular one"
    assert _leftovers(tmp_path) == []


def _full_disk(monkeypatch, after: int = 1):
    """os.pwrite (how the envelope writes into a file) fails with ENOSPC after `after` calls."""
    real, calls = os.pwrite, {"n": 0}

    def pwrite(fd, data, offset):
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(fd, data, offset)

    monkeypatch.setattr(os, "pwrite", pwrite)
    return calls


@pytest.mark.parametrize("direction", ["encrypt", "decrypt"])
def test_full_destination(moto_workshop, key, tmp_path, monkeypatch, direction):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 5))  # several frames
    if direction == "decrypt":
        sealed = tmp_path / "big.envelope"
        envelope.encrypt_file(src, sealed, key_id=key.alias, encryption_context=CONTEXT)
        src = sealed
    dst = tmp_path / "out"
    calls = _full_disk(monkeypatch)
    with pytest.raises(OSError) as info:
        if direction == "encrypt":
            envelope.encrypt_file(src, dst, key_id=key.alias, encryption_context=CONTEXT)
        else:
            envelope.decrypt_file(src, dst, encryption_context=CONTEXT, key_id=key.alias)
    assert calls["n"] >= 2, "the disk filled up mid-file"
    assert info.value.errno == errno.ENOSPC and "\n" not in str(info.value)
    assert not dst.exists() and _leftovers(tmp_path) == []


def test_interrupted_write_leaves_nothing(moto_workshop, key, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024))
    dst = tmp_path / "out"

    def interrupt(done, total):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        envelope.encrypt_file(src, dst, key_id=key.alias, encryption_context=CONTEXT, progress=interrupt)
    assert not dst.exists() and _leftovers(tmp_path) == []


@pytest.mark.endpoint
def test_full_destination_on_the_command_line(tmp_path):
    """The CLI on a full disk: one line, exit non-zero, nothing left."""
    env = kernel_env(tmp_path, "endpoint")
    with RecordingEndpoint(env) as server:
        env["KMS_WORKSHOP_ENDPOINT_URL"] = server.url
        src, dst = tmp_path / "big.bin", tmp_path / "big.envelope"
        src.write_bytes(os.urandom(2 * 1024 * 1024 + 1))
        bootstrap = (
            "import errno, os, sys\n"
            "def pwrite(*a): raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))\n"
            "os.pwrite = pwrite\n"
            "from workshop_helpers import fixtures, connect\n"
            "fixtures.ensure_imported_cmk(connect('endpoint'))\n"
            "from workshop_helpers.cli import main\n"
            "sys.exit(main(sys.argv[1:]))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", bootstrap, "encrypt", str(src), str(dst), "--context", "project=workshop"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "No space left on device" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert not dst.exists() and _leftovers(tmp_path) == []
