"""Every bad input to `python -m workshop_helpers` gives exactly one line on stderr, a non-zero
exit, and no traceback; encrypt and decrypt leave no output file behind.

All the cases run once, four at a time, against one local endpoint (module fixture); each
case is then its own test.
"""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
from dataclasses import dataclass, field

import pytest
from workshop_run import ROOT, RecordingEndpoint, kernel_env

# Run as root, chmod cannot make a file unreadable: this bootstrap makes the kernel's answer
# for one path "permission denied", as it would be for anyone else.
DENY_BOOTSTRAP = """
import builtins, errno, io, os, sys
deny = os.environ["KMS_TEST_DENY_READ"]
real_open, real_access = io.open, os.access
def _is(path):
    return isinstance(path, (str, bytes, os.PathLike)) and os.path.abspath(os.fsdecode(path)) == deny
def guarded_open(file, *args, **kwargs):
    if _is(file):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fsdecode(file))
    return real_open(file, *args, **kwargs)
builtins.open = io.open = guarded_open
os.access = lambda path, mode, **kw: False if _is(path) and mode & os.R_OK else real_access(path, mode, **kw)
from workshop_helpers.cli import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass
class Case:
    name: str
    argv: list[str]
    expect: str  # a phrase the one line must contain
    env: dict[str, str] = field(default_factory=dict)
    no_endpoint_env: bool = False
    dst: str | None = None  # must not exist afterwards
    bootstrap: str | None = None


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _cases(tmp, url: str) -> list[Case]:
    plain, sealed, other = str(tmp / "plain.txt"), str(tmp / "sealed.envelope"), str(tmp / "other.txt")
    out = str(tmp / "out.bin")
    dead = f"http://127.0.0.1:{_closed_port()}"
    ctx = ["--context", "project=workshop"]
    key = ["--key-id", "alias/ImportedCMK"]  # decrypt names the key (strict, as the SDK's strict provider)
    cases = [
        Case("no command", [], "required: COMMAND"),
        Case("unknown command", ["nope"], "invalid choice"),
        Case("encrypt without arguments", ["encrypt"], "required"),
        Case("encrypt: missing file", ["encrypt", str(tmp / "missing.txt"), out, *ctx], "no such file", dst=out),
        Case("decrypt: missing file", ["decrypt", str(tmp / "missing.env"), out, *ctx], "no such file", dst=out),
        Case("encrypt: source is a directory", ["encrypt", str(tmp), out, *ctx], "not a regular file", dst=out),
        Case(
            "encrypt: unreadable file",
            ["encrypt", str(tmp / "secret.txt"), out, *ctx],
            "permission denied",
            dst=out,
            bootstrap=DENY_BOOTSTRAP,
            env={"KMS_TEST_DENY_READ": str(tmp / "secret.txt")},
        ),
        Case(
            "decrypt: unreadable file",
            ["decrypt", str(tmp / "secret.env"), out, *ctx],
            "permission denied",
            dst=out,
            bootstrap=DENY_BOOTSTRAP,
            env={"KMS_TEST_DENY_READ": str(tmp / "secret.env")},
        ),
        Case("malformed --context", ["encrypt", plain, out, "--context", "project"], "is not KEY=VALUE", dst=out),
        Case("--context without a key", ["encrypt", plain, out, "--context", "=workshop"], "is not KEY=VALUE", dst=out),
        Case(
            "contradictory --context",
            ["decrypt", sealed, out, "--context", "a=1", "--context", "a=2"],
            "gives a twice",
            dst=out,
        ),
        Case(
            "destination directory missing",
            ["encrypt", plain, str(tmp / "nope" / "x"), *ctx],
            "does not exist",
            dst=str(tmp / "nope" / "x"),
        ),
        Case("destination is a directory", ["encrypt", plain, str(tmp), *ctx], "is a directory"),
        Case("destination is a special file", ["encrypt", plain, str(tmp / "fifo"), *ctx], "not a regular file"),
        Case("serve: port in use", ["serve", "--port", url.rsplit(":", 1)[1]], "cannot listen"),
        Case("serve: port not a number", ["serve", "--port", "abc"], "invalid int value"),
        Case(
            "aws without credentials",
            ["doctor", "--backend", "aws"],
            "no AWS credentials",
            no_endpoint_env=True,
            env={"AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull},
        ),
        Case(
            "endpoint backend without a URL",
            ["doctor", "--backend", "endpoint"],
            "KMS_WORKSHOP_ENDPOINT_URL",
            no_endpoint_env=True,
        ),
        Case(
            "endpoint URL malformed",
            ["encrypt", plain, out, *ctx, "--backend", "endpoint", "--endpoint-url", "localhost:5000"],
            "is not an http(s) URL",
            dst=out,
        ),
        Case("not an envelope", ["decrypt", plain, out, *ctx, *key], "not an envelope", dst=out),
        Case("truncated envelope", ["decrypt", str(tmp / "truncated.envelope"), out, *ctx, *key], "ends", dst=out),
        Case(
            "tampered envelope", ["decrypt", str(tmp / "tampered.envelope"), out, *ctx, *key], "authentication", dst=out
        ),
        Case("wrong context", ["decrypt", sealed, out, "--context", "project=other", *key], "does not match", dst=out),
        Case("missing context", ["decrypt", sealed, out, *key], "does not match", dst=out),
        Case("decrypt without a key", ["decrypt", sealed, out, *ctx], "needs --key-id", dst=out),
        Case(
            "decrypt: discovery of another account",
            ["decrypt", sealed, out, *ctx, "--discovery-account", "111122223333"],
            "is encrypted under",
            dst=out,
        ),
        Case(
            "wrong key",
            ["decrypt", sealed, out, *ctx, "--key-id", "alias/KMSWorkshop-OtherKey"],
            "is encrypted under",
            dst=out,
        ),
        Case(
            "unknown key (encrypt)",
            ["encrypt", plain, out, *ctx, "--key-id", "alias/DoesNotExist"],
            "NotFoundException",
            dst=out,
        ),
        Case(
            "unknown key (decrypt)",
            ["decrypt", sealed, out, *ctx, "--key-id", "alias/DoesNotExist"],
            "NotFoundException",
            dst=out,
        ),
        Case("empty file", ["decrypt", other, out, *ctx, *key], "not an envelope", dst=out),
    ]
    for command in ("encrypt", "decrypt", "cleanup", "doctor"):
        files = [plain if command == "encrypt" else sealed, out, *ctx] if command in ("encrypt", "decrypt") else []
        files += key if command == "decrypt" else []
        cases.append(
            Case(
                f"{command}: unknown backend",
                [command, *files, "--backend", "nope"],
                "unknown backend",
                dst=out if files else None,
            )
        )
        cases.append(
            Case(
                f"{command}: unreachable endpoint",
                [command, *files, "--backend", "endpoint", "--endpoint-url", dead],
                "does not answer",
                dst=out if files else None,
            )
        )
        if command != "doctor":
            cases.append(
                Case(
                    f"{command}: moto backend",
                    [command, *files, "--backend", "moto"],
                    "cannot use a moto account kept in memory",
                    dst=out if files else None,
                )
            )
    return cases


def _run(case: Case, base_env: dict[str, str]) -> subprocess.CompletedProcess:
    env = dict(base_env)
    if case.no_endpoint_env:
        env.pop("KMS_WORKSHOP_ENDPOINT_URL", None)
        env.pop("KMS_WORKSHOP_BACKEND", None)
    env.update(case.env)
    head = [sys.executable, "-c", case.bootstrap] if case.bootstrap else [sys.executable, "-m", "workshop_helpers"]
    return subprocess.run(head + case.argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cli-errors")
    env = kernel_env(tmp, "endpoint")
    with RecordingEndpoint(env) as server:
        env["KMS_WORKSHOP_ENDPOINT_URL"] = server.url
        (tmp / "plain.txt").write_text("the secret text\n")
        (tmp / "other.txt").write_bytes(b"")
        (tmp / "secret.txt").write_text("unreadable\n")
        os.mkfifo(tmp / "fifo")  # like /dev/null for root: must never be replaced by a regular file
        setup = subprocess.run(
            [
                sys.executable,
                "-c",
                "import workshop_helpers as w; from workshop_helpers import fixtures as f; "
                "ws = w.connect(); f.ensure_imported_cmk(ws); f.ensure_other_key(ws)",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert setup.returncode == 0, setup.stderr
        made = subprocess.run(
            [
                sys.executable,
                "-m",
                "workshop_helpers",
                "encrypt",
                str(tmp / "plain.txt"),
                str(tmp / "sealed.envelope"),
                "--context",
                "project=workshop",
            ],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert made.returncode == 0, made.stderr
        blob = (tmp / "sealed.envelope").read_bytes()
        (tmp / "secret.env").write_bytes(blob)
        (tmp / "truncated.envelope").write_bytes(blob[:-7])
        tampered = bytearray(blob)
        tampered[-3] ^= 0x01
        (tmp / "tampered.envelope").write_bytes(bytes(tampered))
        cases = _cases(tmp, server.url)
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            done = dict(zip((c.name for c in cases), pool.map(lambda c: _run(c, env), cases)))
        good = _run(
            Case(
                "good",
                [
                    "decrypt",
                    str(tmp / "sealed.envelope"),
                    str(tmp / "back.txt"),
                    "--context",
                    "project=workshop",
                    "--key-id",
                    "alias/ImportedCMK",
                ],
                "",
            ),
            env,
        )
    results = {c.name: (c, done[c.name]) for c in cases}
    results["(the good path)"] = (None, good, (tmp / "back.txt"))
    return results


CASE_NAMES = [c.name for c in _cases(__import__("pathlib").Path("/nonexistent"), "http://127.0.0.1:1")]


@pytest.mark.endpoint
@pytest.mark.parametrize("name", CASE_NAMES)
def test_bad_input_gives_one_line_and_a_non_zero_exit(results, name):
    case, result = results[name][:2]
    lines = result.stderr.splitlines()
    assert result.returncode != 0, result
    assert len(lines) == 1, f"stderr has {len(lines)} lines:\n{result.stderr}"
    assert lines[0].startswith("error: "), lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert case.expect.lower() in lines[0].lower(), lines[0]
    if case.name == "destination is a special file":
        import stat

        assert stat.S_ISFIFO(os.lstat(case.argv[2]).st_mode), "the FIFO was replaced by a regular file"
    if case.dst:
        assert not os.path.exists(case.dst), f"{case.dst} was left behind"
        parent = os.path.dirname(case.dst)
        if os.path.isdir(parent):
            assert not [n for n in os.listdir(parent) if ".partial-" in n]


@pytest.mark.endpoint
def test_the_good_path_still_works(results):
    """The cases above fail for the reason they name, not because the set-up is broken."""
    _, good, back = results["(the good path)"]
    assert good.returncode == 0 and good.stderr == "", good
    assert back.read_text() == "the secret text\n"
    assert len(CASE_NAMES) >= 35
