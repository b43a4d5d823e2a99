"""Running the notebooks under test: environments, the local endpoint, nbval.

The notebooks run in kernels of their own (nbval and nbclient start them), so everything
is passed through the environment: the backend, the endpoint URL, and private folders for
workshop-data and the kept key material, so that a test run never touches the
repository's notebooks/workshop-data or the user's ~/.kms-workshop.
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
SANITIZE = ROOT / "tests" / "nbval-sanitize.cfg"

# The workshop's sequence; the names are fixed, so learners' links and saved work keep working.
WORKSHOP_NOTEBOOKS = (
    "01-setup-imported-cmk.ipynb",
    "02-generate-data-key.ipynb",
    "03-encrypt-with-data-key.ipynb",
    "04-decrypt.ipynb",
    "05-server-side-encryption.ipynb",
    "06-client-side-encryption.ipynb",
    "07-direct-encryption.ipynb",
    "08-cleanup.ipynb",
)


def notebook_env(tmp: pathlib.Path, backend: str = "moto", **extra: str) -> dict[str, str]:
    """The test process's environment without AWS or workshop settings, plus the backend
    and private data folders under `tmp`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND=backend,
        KMS_WORKSHOP_DATA_DIR=str(tmp / "workshop-data"),
        KMS_WORKSHOP_KEY_MATERIAL_DIR=str(tmp / "key-material"),
        # Each kernel on a fresh account of its own (the shared account: test_account_sequence.py)
        KMS_WORKSHOP_STATE_DIR="memory",
        PYTHONDONTWRITEBYTECODE="1",
    )
    # The kernel must import this checkout's workshop_helpers and this interpreter's packages.
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    env.update(extra)
    return env


class Endpoint:
    """`python -m workshop_helpers serve --port 0` in a subprocess; `.url` once it is up."""

    def __init__(self, env: dict[str, str], timeout: float = 60):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workshop_helpers", "serve", "--port", "0"],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.url = self._wait_for_url(timeout)

    def _wait_for_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read() if self.proc.stderr else ""
                    raise RuntimeError(f"the endpoint exited ({self.proc.returncode}): {err[-2000:]}")
                continue
            if line.startswith("KMS_WORKSHOP_ENDPOINT_URL="):
                return line.strip().split("=", 1)[1]
        self.stop()
        raise RuntimeError("the endpoint did not print its URL in time")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> "Endpoint":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_nbval(env: dict[str, str], notebooks: list[str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess:
    """pytest --nbval over `notebooks` (default: all of notebooks/), in a subprocess."""
    targets = [str(NOTEBOOKS / n) for n in notebooks] if notebooks else [str(NOTEBOOKS)]
    cmd = [
        sys.executable, "-m", "pytest", "--nbval", *targets,
        "--nbval-sanitize-with", str(SANITIZE),
        "--nbval-current-env",
        "-p", "no:cacheprovider",
        "-q", "--no-header", "-rf",
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def all_notebooks() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
