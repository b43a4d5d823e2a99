"""`python -m workshop_helpers encrypt` / `decrypt` as subprocesses against a local endpoint.

The endpoint is `python -m workshop_helpers serve --port 0` when that subcommand exists,
else moto's own ThreadedMotoServer in a subprocess. Bad input must give one line on
stderr, a non-zero exit, no traceback and no output file.

The official aws-encryption-cli (PyPI aws-encryption-sdk-cli) decrypts what `encrypt`
writes and the reverse, against the same endpoint (AWS_ENDPOINT_URL_KMS). Its pins
(aws-encryption-sdk ~= 3.1) clash with this project's, so it lives in a virtual
environment of its own, .venv-esdk-cli/, which tests/ensure_esdk_cli.py makes from
constraints-esdk-cli.txt (`make test` runs it); $AWS_ENCRYPTION_CLI names another
executable. Without one those tests skip, or fail when CI=true.
"""

from __future__ import annotations

import base64
import os
import pty
import select
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import boto3
import pytest
from ensure_esdk_cli import MISSING_MESSAGE as ESDK_CLI_MISSING
from ensure_esdk_cli import find_cli, in_ci

from workshop_helpers import envelope
from workshop_helpers.cli import COMMANDS
from workshop_helpers.cli.envelope_files import parse_context
from workshop_helpers.errors import WorkshopError

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
URL_PREFIX = "KMS_WORKSHOP_ENDPOINT_URL="
CONTEXT_ARGS = ["--context", "project=workshop", "--context", "purpose=cli-tests"]

_MOTO_SERVER = textwrap.dedent(
    """
    import sys, threading
    from moto.server import ThreadedMotoServer
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"KMS_WORKSHOP_ENDPOINT_URL=http://{host}:{port}", flush=True)
    threading.Event().wait()
    """
)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
    env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(extra)
    return env


class Endpoint:
    """A local KMS endpoint in a subprocess, and what it recorded."""

    def __init__(self, keys_file: Path):
        self.keys_file = keys_file
        if "serve" in COMMANDS:
            argv = [
                sys.executable,
                "-m",
                "workshop_helpers",
                "serve",
                "--port",
                "0",
                "--record-data-keys",
                str(keys_file),
            ]
            self.records_keys = True
        else:
            argv = [sys.executable, "-c", _MOTO_SERVER]
            self.records_keys = False
        self.proc = subprocess.Popen(
            argv, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.proc.stdout.readline()
        if not line.startswith(URL_PREFIX):
            self.proc.kill()
            raise RuntimeError(f"the endpoint did not print its URL; it printed {line!r}")
        self.url = line.strip()[len(URL_PREFIX) :]

    def kms(self):
        return boto3.client(
            "kms",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )

    def data_keys(self) -> list[bytes]:
        if not self.keys_file.exists():
            return []
        return [base64.b64decode(line) for line in self.keys_file.read_text().split()]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    server = Endpoint(tmp_path_factory.mktemp("endpoint") / "data-keys.txt")
    yield server
    server.stop()


@pytest.fixture(scope="module")
def key(endpoint):
    """A key and an alias to it on the endpoint: (arn, alias)."""
    kms = endpoint.kms()
    arn = kms.create_key(Description="envelope CLI tests")["KeyMetadata"]["Arn"]
    alias = f"alias/envelope-cli-{uuid.uuid4().hex[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn, alias


def cli(endpoint, *args: str, **popen) -> subprocess.CompletedProcess:
    env = clean_env(KMS_WORKSHOP_BACKEND="endpoint", KMS_WORKSHOP_ENDPOINT_URL=endpoint.url)
    return subprocess.run(
        [sys.executable, "-m", "workshop_helpers", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **popen,
    )


def assert_one_line_failure(result: subprocess.CompletedProcess, *words: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for word in words:
        assert word in lines[0], lines[0]


def no_outputs(directory: Path, *names: str) -> bool:
    return not any((directory / name).exists() for name in names) and not any(
        ".partial-" in path.name for path in directory.iterdir()
    )


@pytest.fixture
def plain(tmp_path) -> Path:
    path = tmp_path / "plain.txt"
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    return path


# --- happy paths ------------------------------------------------------------------------


def test_round_trip_through_the_cli(endpoint, key, plain, tmp_path):
    arn, alias = key
    sealed, opened = tmp_path / "plain.kwef", tmp_path / "plain.out"
    result = cli(endpoint, "encrypt", str(plain), str(sealed), "--key-id", alias, *CONTEXT_ARGS)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress bar
    assert arn in result.stdout and "project=workshop" in result.stdout
    header = envelope.read_header(sealed)
    assert header.key_arn == arn and header.encryption_context == {"project": "workshop", "purpose": "cli-tests"}
    in_another_order = ["--context", "purpose=cli-tests", "--context", "project=workshop"]
    result = cli(endpoint, "decrypt", str(sealed), str(opened), "--key-id", alias, *in_another_order)
    assert result.returncode == 0, result.stderr
    assert opened.read_bytes() == plain.read_bytes()


def test_plaintext_data_key_is_not_in_the_encrypted_file(endpoint, key, plain, tmp_path):
    if not endpoint.records_keys:
        pytest.skip("only `serve --record-data-keys` reveals the data keys")
    before = len(endpoint.data_keys())
    sealed = tmp_path / "sealed"
    assert cli(endpoint, "encrypt", str(plain), str(sealed), "--key-id", key[0], *CONTEXT_ARGS).returncode == 0
    new_keys = endpoint.data_keys()[before:]
    assert len(new_keys) == 1  # one GenerateDataKey per file
    blob = sealed.read_bytes()
    assert new_keys[0] not in blob and new_keys[0].hex().encode() not in blob


def test_help_lists_both_commands(endpoint):
    result = cli(endpoint, "--help")
    assert "encrypt" in result.stdout and "decrypt" in result.stdout


def test_progress_bar_on_a_terminal(endpoint, key, tmp_path):
    big = tmp_path / "big"
    big.write_bytes(os.urandom(6 * 1024 * 1024))
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "workshop_helpers",
                "encrypt",
                str(big),
                str(tmp_path / "big.kwef"),
                "--key-id",
                key[0],
                *CONTEXT_ARGS,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=slave,
            env=clean_env(KMS_WORKSHOP_BACKEND="endpoint", KMS_WORKSHOP_ENDPOINT_URL=endpoint.url),
        )
        os.close(slave)
        drawn = b""
        while True:
            ready, _, _ = select.select([master], [], [], 60)
            if not ready:
                break
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            drawn += chunk
        assert proc.wait(timeout=60) == 0
    finally:
        os.close(master)
    assert b"\r" in drawn and b"100%" in drawn and b"encrypting" in drawn


# --- bad input: one line, non-zero, no traceback, no output -------------------------------


def test_missing_source(endpoint, tmp_path):
    result = cli(endpoint, "encrypt", str(tmp_path / "missing.txt"), str(tmp_path / "out"), *CONTEXT_ARGS)
    assert_one_line_failure(result, "missing.txt", "no such file")
    assert no_outputs(tmp_path, "out")


def test_source_is_a_directory(endpoint, tmp_path):
    result = cli(endpoint, "decrypt", str(tmp_path), str(tmp_path / "out"), "--key-id", "alias/any", *CONTEXT_ARGS)
    assert_one_line_failure(result, "not a regular file")


@pytest.mark.parametrize("bad", ["project", "=workshop", ""])
def test_malformed_context(endpoint, plain, tmp_path, bad):
    result = cli(endpoint, "encrypt", str(plain), str(tmp_path / "out"), "--context", bad)
    assert_one_line_failure(result, "KEY=VALUE")
    assert no_outputs(tmp_path, "out")


def test_unknown_key(endpoint, plain, tmp_path):
    result = cli(endpoint, "encrypt", str(plain), str(tmp_path / "out"), "--key-id", "alias/no-such-key", *CONTEXT_ARGS)
    assert_one_line_failure(result, "NotFoundException")
    assert no_outputs(tmp_path, "out")


@pytest.fixture
def sealed(endpoint, key, plain, tmp_path) -> Path:
    path = tmp_path / "sealed.kwef"
    result = cli(endpoint, "encrypt", str(plain), str(path), "--key-id", key[0], *CONTEXT_ARGS)
    assert result.returncode == 0, result.stderr
    return path


def test_wrong_context(endpoint, key, sealed, tmp_path):
    result = cli(
        endpoint, "decrypt", str(sealed), str(tmp_path / "out"), "--context", "project=workshop", "--key-id", key[0]
    )
    assert_one_line_failure(result, "encryption context", "purpose=cli-tests")
    assert no_outputs(tmp_path, "out")


def test_wrong_key(endpoint, sealed, tmp_path):
    other = endpoint.kms().create_key(Description="another key")["KeyMetadata"]["Arn"]
    result = cli(endpoint, "decrypt", str(sealed), str(tmp_path / "out"), "--key-id", other, *CONTEXT_ARGS)
    assert_one_line_failure(result, "encrypted under")
    assert no_outputs(tmp_path, "out")


def test_not_an_envelope_file(endpoint, key, plain, tmp_path):
    result = cli(endpoint, "decrypt", str(plain), str(tmp_path / "out"), "--key-id", key[0], *CONTEXT_ARGS)
    assert_one_line_failure(result, "not an AWS Encryption SDK message")
    assert no_outputs(tmp_path, "out")


def test_tampered_file(endpoint, key, sealed, tmp_path):
    blob = bytearray(sealed.read_bytes())
    blob[-3] ^= 0x40
    sealed.write_bytes(bytes(blob))
    result = cli(endpoint, "decrypt", str(sealed), str(tmp_path / "out"), "--key-id", key[0], *CONTEXT_ARGS)
    assert_one_line_failure(result, "failed authentication")
    assert no_outputs(tmp_path, "out")


def test_destination_is_a_directory_or_in_a_missing_one(endpoint, plain, tmp_path):
    (tmp_path / "adir").mkdir()
    result = cli(endpoint, "encrypt", str(plain), str(tmp_path / "adir"), *CONTEXT_ARGS)
    assert_one_line_failure(result, "is a directory")
    result = cli(endpoint, "encrypt", str(plain), str(tmp_path / "nope" / "out"), *CONTEXT_ARGS)
    assert_one_line_failure(result, "does not exist")


def test_moto_backend_is_refused_naming_serve(plain, tmp_path):
    for command in ("encrypt", "decrypt"):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "workshop_helpers",
                command,
                str(plain),
                str(tmp_path / "out"),
                *CONTEXT_ARGS,
                "--key-id",
                "alias/any",
            ],
            cwd=ROOT,
            env=clean_env(KMS_WORKSHOP_BACKEND="moto"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert_one_line_failure(result, "python -m workshop_helpers serve", command)


def test_endpoint_that_does_not_answer(plain, tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "workshop_helpers",
            "encrypt",
            str(plain),
            str(tmp_path / "out"),
            *CONTEXT_ARGS,
            "--backend",
            "endpoint",
            "--endpoint-url",
            "http://127.0.0.1:9",
        ],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert_one_line_failure(result, "does not answer")


# --- parse_context ----------------------------------------------------------------------


def test_parse_context():
    assert parse_context(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    assert parse_context([]) == {} and parse_context(None) == {}
    assert parse_context(["a=1", "a=1"]) == {"a": "1"}
    with pytest.raises(WorkshopError, match="twice"):
        parse_context(["a=1", "a=2"])


# --- keys, signatures, discovery ----------------------------------------------------------------


def test_decrypt_needs_the_key_unless_discovery_is_asked_for(endpoint, sealed, tmp_path):
    result = cli(endpoint, "decrypt", str(sealed), str(tmp_path / "out"), *CONTEXT_ARGS)
    assert_one_line_failure(result, "--key-id", "--discovery-account")
    result = cli(
        endpoint,
        "decrypt",
        str(sealed),
        str(tmp_path / "out"),
        *CONTEXT_ARGS,
        "--key-id",
        "alias/x",
        "--discovery-account",
        "123456789012",
    )
    assert_one_line_failure(result, "not both")
    assert no_outputs(tmp_path, "out")


def test_discovery_account(endpoint, key, sealed, plain, tmp_path):
    account = key[0].split(":")[4]
    result = cli(endpoint, "decrypt", str(sealed), str(tmp_path / "out"), *CONTEXT_ARGS, "--discovery-account", account)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out").read_bytes() == plain.read_bytes()
    result = cli(
        endpoint, "decrypt", str(sealed), str(tmp_path / "other"), *CONTEXT_ARGS, "--discovery-account", "111122223333"
    )
    assert_one_line_failure(result, "encrypted under", "111122223333")
    result = cli(
        endpoint, "decrypt", str(sealed), str(tmp_path / "other"), *CONTEXT_ARGS, "--discovery-account", "12345"
    )
    assert_one_line_failure(result, "12-digit")
    assert no_outputs(tmp_path, "other")


def test_signed_files_and_requiring_a_signature(endpoint, key, sealed, plain, tmp_path):
    signed = tmp_path / "signed.encrypted"
    result = cli(endpoint, "encrypt", str(plain), str(signed), "--key-id", key[0], "--signed", *CONTEXT_ARGS)
    assert result.returncode == 0, result.stderr
    assert "0x0578" in result.stdout and envelope.read_header(signed).signed
    result = cli(
        endpoint,
        "decrypt",
        str(signed),
        str(tmp_path / "out"),
        "--key-id",
        key[0],
        "--require-signature",
        *CONTEXT_ARGS,
    )
    assert result.returncode == 0, result.stderr
    assert "signature verified" in result.stdout and (tmp_path / "out").read_bytes() == plain.read_bytes()
    result = cli(
        endpoint,
        "decrypt",
        str(sealed),
        str(tmp_path / "unsigned"),
        "--key-id",
        key[0],
        "--require-signature",
        *CONTEXT_ARGS,
    )
    assert_one_line_failure(result, "not signed")
    blob = bytearray(signed.read_bytes())
    blob[-1] ^= 0x01
    signed.write_bytes(bytes(blob))
    result = cli(endpoint, "decrypt", str(signed), str(tmp_path / "forged"), "--key-id", key[0], *CONTEXT_ARGS)
    assert_one_line_failure(result, "signature does not verify")
    assert no_outputs(tmp_path, "unsigned", "forged")


# --- the official aws-encryption-cli, both ways --------------------------------------------------


@pytest.fixture(scope="module")
def aws_encryption_cli() -> str:
    """The CLI's executable (tests/ensure_esdk_cli.py makes its venv); without it, fail when
    CI=true, else skip."""
    found = find_cli()
    if found:
        return found
    if in_ci():
        pytest.fail(f"CI=true: {ESDK_CLI_MISSING}")
    pytest.skip(ESDK_CLI_MISSING)


def their_cli(executable: str, endpoint, *args: str) -> subprocess.CompletedProcess:
    """The official CLI against `endpoint`: it has no endpoint option, but its botocore
    clients take AWS_ENDPOINT_URL_KMS; serve routes their SigV4-signed requests by credential scope."""
    env = clean_env(
        AWS_ENDPOINT_URL_KMS=endpoint.url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION=REGION,
    )
    env.pop("KMS_WORKSHOP_STATE_DIR", None)
    return subprocess.run(
        [executable, *args, "--commitment-policy", "require-encrypt-require-decrypt", "--suppress-metadata"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


THEIR_CONTEXT = ["--encryption-context", "project=workshop", "purpose=cli-tests"]


@pytest.mark.parametrize("signed", [False, True], ids=["0x0478", "0x0578"])
def test_the_aws_encryption_cli_decrypts_what_encrypt_writes(
    aws_encryption_cli, endpoint, key, plain, tmp_path, signed
):
    ours = tmp_path / "ours.encrypted"
    args = ["--signed"] if signed else []
    assert cli(endpoint, "encrypt", str(plain), str(ours), "--key-id", key[0], *args, *CONTEXT_ARGS).returncode == 0
    result = their_cli(
        aws_encryption_cli,
        endpoint,
        "--decrypt",
        "--input",
        str(ours),
        "--output",
        str(tmp_path / "back"),
        "--wrapping-keys",
        f"key={key[0]}",
        *THEIR_CONTEXT,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()


@pytest.mark.parametrize("algorithm", [None, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY"], ids=["default", "0x0478"])
def test_decrypt_reads_what_the_aws_encryption_cli_writes(
    aws_encryption_cli, endpoint, key, plain, tmp_path, algorithm
):
    theirs = tmp_path / "theirs.encrypted"
    args = ["--algorithm", algorithm] if algorithm else []
    result = their_cli(
        aws_encryption_cli,
        endpoint,
        "--encrypt",
        "--input",
        str(plain),
        "--output",
        str(theirs),
        "--wrapping-keys",
        f"key={key[0]}",
        *THEIR_CONTEXT,
        *args,
    )
    assert result.returncode == 0, result.stderr
    header = envelope.read_header(theirs)
    assert header.suite.id == (0x0478 if algorithm else 0x0578)
    result = cli(endpoint, "decrypt", str(theirs), str(tmp_path / "back"), "--key-id", key[1], *CONTEXT_ARGS)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "back").read_bytes() == plain.read_bytes()


def test_the_cli_venv_counts_only_when_its_stamp_matches_the_constraints(tmp_path, monkeypatch):
    """ensure_esdk_cli.py's idempotence: a venv made from other constraints is remade, not used."""
    import ensure_esdk_cli as ensure

    venv = tmp_path / "venv"
    executable = venv / "bin" / "aws-encryption-cli"
    executable.parent.mkdir(parents=True)
    executable.write_text("#!/bin/sh\necho aws-encryption-sdk-cli/4.3.0\n")
    executable.chmod(0o755)
    constraints = tmp_path / "constraints.txt"
    constraints.write_text("aws-encryption-sdk-cli==4.3.0\n")
    monkeypatch.delenv(ensure.ENV_VAR, raising=False)
    monkeypatch.setattr(ensure, "VENV", venv)
    monkeypatch.setattr(ensure, "STAMP", venv / ".installed")
    monkeypatch.setattr(ensure, "CONSTRAINTS", constraints)
    assert ensure.find_cli() is None  # no stamp: never finished
    (venv / ".installed").write_text(ensure.wanted_stamp())
    assert ensure.find_cli() == str(executable)
    assert ensure.check_version(str(executable)) == "aws-encryption-sdk-cli/4.3.0"
    constraints.write_text("aws-encryption-sdk-cli==4.2.0\n")
    assert ensure.find_cli() is None  # constraints changed: out of date
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(ensure, "make_venv", lambda: (_ for _ in ()).throw(RuntimeError("pip install failed")))
    assert ensure.main([]) == 1
    monkeypatch.setenv("CI", "")
    assert ensure.main([]) == 0
