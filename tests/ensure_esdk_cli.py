"""Make the aws-encryption-cli's own virtual environment, .venv-esdk-cli/, for the interop tests.

    python tests/ensure_esdk_cli.py            # make it if missing or out of date
    python tests/ensure_esdk_cli.py --check    # report only, never install

`make test` runs this before pytest. The CLI (PyPI aws-encryption-sdk-cli) pins
aws-encryption-sdk ~= 3.1, which clashes with this project's 4.0.7, so it gets a venv of
its own, installed from constraints-esdk-cli.txt (exact versions). A stamp file in the
venv records what it was made from (the constraints file's SHA-256 and this Python), so a
second run does nothing. When the venv cannot be made this prints one line and exits 0,
and the interop tests skip, unless CI=true: then it exits 1, and the tests fail.
The tests import `find_cli()` and `MISSING_MESSAGE` from here.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

from tool_venv import run_step

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-esdk-cli"
CONSTRAINTS = ROOT / "constraints-esdk-cli.txt"
STAMP = VENV / ".installed"
ENV_VAR = "AWS_ENCRYPTION_CLI"
PACKAGE = "aws-encryption-sdk-cli"

MISSING_MESSAGE = (
    f"no aws-encryption-cli for the interop tests: run `python tests/ensure_esdk_cli.py` (make test does) "
    f"to make {VENV.name}/ from {CONSTRAINTS.name}, or set {ENV_VAR} to an aws-encryption-cli executable"
)


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def _executable(venv: Path) -> Path:
    return venv / ("Scripts/aws-encryption-cli.exe" if os.name == "nt" else "bin/aws-encryption-cli")


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def wanted_stamp() -> str:
    """What the venv must have been made from: the constraints' digest and this Python."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()
    return f"{digest} python {sys.version_info.major}.{sys.version_info.minor}\n"


def find_cli() -> str | None:
    """The aws-encryption-cli to test against: $AWS_ENCRYPTION_CLI, else this project's venv's
    (only when its stamp is current), else None."""
    explicit = os.environ.get(ENV_VAR, "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    executable = _executable(VENV)
    try:
        current = STAMP.read_text() == wanted_stamp()
    except OSError:
        return None
    return str(executable) if current and os.access(executable, os.X_OK) else None


def make_venv() -> str:
    """(Re)make the venv from the constraints file; return the CLI's --version line."""
    if VENV.exists():
        shutil.rmtree(VENV)
    run_step([sys.executable, "-m", "venv", str(VENV)], "python -m venv")
    run_step(
        [
            str(_python(VENV)),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-c",
            str(CONSTRAINTS),
            PACKAGE,
        ],
        f"pip install {PACKAGE}",
    )
    version = check_version(str(_executable(VENV)))
    STAMP.write_text(wanted_stamp())
    return version


def check_version(executable: str) -> str:
    """The CLI's `--version` line; RuntimeError if it does not run."""
    try:
        done = subprocess.run([executable, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{executable} --version failed: {exc}") from None
    line = (done.stdout or done.stderr).strip()
    if done.returncode != 0 or not line.startswith("aws-encryption-sdk-cli/"):
        raise RuntimeError(f"{executable} --version failed (exit {done.returncode}): {line[-200:]!r}")
    return line


def main(argv: list[str]) -> int:
    found = find_cli()
    if found:
        print(f"ensure_esdk_cli: interop tests will use {found}")
        return 0
    if os.environ.get(ENV_VAR, "").strip():
        problem = f"{ENV_VAR}={os.environ[ENV_VAR]} is not an executable file"
    elif "--check" in argv:
        problem = f"{VENV.name}/ is missing or out of date"
    else:
        print(f"ensure_esdk_cli: making {VENV.name}/ from {CONSTRAINTS.name} (about 20 s)", flush=True)
        try:
            version = make_venv()
            print(f"ensure_esdk_cli: interop tests will use {_executable(VENV)} ({version})")
            return 0
        except (RuntimeError, OSError) as exc:
            shutil.rmtree(VENV, ignore_errors=True)  # no half-made venv that looks current
            problem = str(exc)
    if in_ci():
        print(f"ensure_esdk_cli: error: {problem}; CI=true needs the aws-encryption-cli interop tests to run")
        return 1
    print(f"ensure_esdk_cli: {problem}; the aws-encryption-cli interop tests will skip")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
