"""Running the notebooks under test: the list of notebooks, environments, the local
endpoint, nbval.

The list of notebooks is notebooks/manifest.yml and nothing else: the sequence, the cleanup
notebook and each notebook's exercises (with their solutions) are read from it here, so
adding a notebook means adding its entry there (docs/adding-a-notebook.md).

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
from typing import NamedTuple

import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
MANIFEST = NOTEBOOKS / "manifest.yml"
SANITIZE = ROOT / "tests" / "nbval-sanitize.cfg"
ROLES = ("lesson", "cleanup")


class ManifestError(Exception):
    """notebooks/manifest.yml says something the tests cannot use; one line naming it."""


class Exercise(NamedTuple):
    cell_id: str  # the exercise cell's id in its notebook
    solution: str  # the module in notebooks/solutions/ with the worked solution
    answer: str  # the lines that hand the solution's result to the cell's check


def read_manifest(path: pathlib.Path = MANIFEST) -> list[dict]:
    """The manifest's entries, checked for what the tests rely on."""
    try:
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))["notebooks"]
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise ManifestError(f"{path}: cannot read its `notebooks:` list ({exc}); fix the file") from None
    for entry in entries:
        name = entry.get("file", "?")
        if entry.get("role") not in ROLES:
            raise ManifestError(f"{path.name}: {name}: role must be one of {', '.join(ROLES)}")
        ids, solved = list(entry.get("exercises") or []), dict(entry.get("solutions") or {})
        if set(ids) != set(solved):
            raise ManifestError(
                f"{path.name}: {name}: exercises {sorted(ids)} and solutions {sorted(solved)} must name "
                "the same cells; give every exercise cell a `solutions:` entry (module, answer)"
            )
    cleanup = [entry.get("file") for entry in entries if entry["role"] == "cleanup"]
    if len(cleanup) != 1:
        raise ManifestError(f"{path.name}: exactly one notebook must have role cleanup, not {len(cleanup)}")
    return entries


ENTRIES = read_manifest()
# The workshop's sequence, in order; the names are fixed, so learners' links and saved work keep working.
WORKSHOP_NOTEBOOKS = tuple(entry["file"] for entry in ENTRIES)
LESSON_NOTEBOOKS = tuple(entry["file"] for entry in ENTRIES if entry["role"] == "lesson")
# removes what the others made: runs last, and twice in the whole-workshop runs
CLEANUP_NOTEBOOK = next(entry["file"] for entry in ENTRIES if entry["role"] == "cleanup")
# notebook -> its exercises, in the manifest's order
EXERCISES = {
    entry["file"]: [
        Exercise(cell_id, entry["solutions"][cell_id]["module"], entry["solutions"][cell_id].get("answer") or "")
        for cell_id in entry.get("exercises") or []
    ]
    for entry in ENTRIES
    if entry.get("exercises")
}


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
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
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

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_nbval(
    env: dict[str, str], notebooks: list[str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """pytest --nbval over `notebooks` (default: all of notebooks/), in a subprocess."""
    targets = [str(NOTEBOOKS / n) for n in notebooks] if notebooks else [str(NOTEBOOKS)]
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        *targets,
        "--nbval-sanitize-with",
        str(SANITIZE),
        "--nbval-current-env",
        "-p",
        "no:cacheprovider",
        "-q",
        "--no-header",
        "-rf",
    ]
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)


def all_notebooks() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb"))
