"""The workshop as a learner runs it: the notebooks of notebooks/manifest.yml in its order,
each in a kernel of its own, all on one simulated account (the default: a state folder in
the home folder).

Used by test_account_sequence.py, and to write the committed outputs:

    .venv/bin/python tests/notebook_sequence.py --write

runs the sequence in a temporary copy (a temporary home folder, so the account and the
key-material copy are fresh and the outputs show ``~/.kms-workshop/...``) and stores each
notebook's outputs back into notebooks/. nbval then checks them against single notebooks
run on fresh accounts (tests/nbval-sanitize.cfg normalises the two lines that say where
the key and notebook 03's files come from).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import sys
import tempfile

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from notebook_support import NOTEBOOKS, WORKSHOP_NOTEBOOKS  # noqa: E402
from workshop_run import code_cell, execute  # noqa: E402


def sequence_env(home: pathlib.Path, backend: str = "moto", **extra: str) -> dict[str, str]:
    """A learner's environment: nothing set but the backend, a home folder of its own."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_", "JPY_"))}
    env.update(
        HOME=str(home),
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND=backend,
        IPYTHONDIR=str(home / ".ipython"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    env.update(extra)
    return env


def prepare(work: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """(home, notebooks copy) under `work`."""
    home = work / "home"
    home.mkdir(parents=True)
    copy = work / "notebooks"
    copy.mkdir()
    for name in WORKSHOP_NOTEBOOKS:
        shutil.copy2(NOTEBOOKS / name, copy / name)
    if (NOTEBOOKS / "solutions").is_dir():
        shutil.copytree(NOTEBOOKS / "solutions", copy / "solutions")
    return home, copy


def run_one(name: str, copy: pathlib.Path, env: dict[str, str], *, probe: str | None = None):
    """Execute notebook `name` of `copy` in a new kernel; `probe` is code run last."""
    nb = nbformat.read(copy / name, as_version=4)
    if probe:
        nb.cells.append(code_cell(probe, tag="sequence-probe"))
    execute(nb, copy, env)
    return nb


def write_outputs(work: pathlib.Path) -> None:
    home, copy = prepare(work)
    env = sequence_env(home)
    for name in WORKSHOP_NOTEBOOKS:
        nb = run_one(name, copy, env)
        for cell in nb.cells:
            cell.metadata.pop("execution", None)
        nbformat.write(nb, NOTEBOOKS / name)
        print(f"wrote {name}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="store the outputs in notebooks/")
    args = parser.parse_args()
    if not args.write:
        parser.error("nothing to do: pass --write")
    with tempfile.TemporaryDirectory(prefix="kms-workshop-sequence-") as work:
        write_outputs(pathlib.Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())
