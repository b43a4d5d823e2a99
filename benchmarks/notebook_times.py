"""How long each workshop notebook is and takes to execute, for docs/notebooks.md and docs/instructor.md.

    .venv/bin/python benchmarks/notebook_times.py [--repeat N] [--backend moto]

Counts the prose words of every notebook of notebooks/manifest.yml, in its order (markdown cells, without fenced code,
HTML tags and link targets), executes each with nbclient in a fresh kernel (cwd: a temporary
copy of notebooks/, so nothing in the repository changes; an empty simulated account in the
kernel's memory, never the user's own), cells tagged raises-exception
allowed to raise, and prints a Markdown table of words, wall-clock seconds (the median of N
runs) and the kernel's peak memory.
The seconds are machine time only; a learner reading and typing needs far longer.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


WORD = re.compile(r"[^\W_][\w'’-]*")
FENCED_CODE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
LINK_TARGET = re.compile(r"\]\([^)]*\)")
HTML_TAG = re.compile(r"<[^>]+>")


def prose_words(path: Path) -> int:
    """Words in the notebook's markdown cells, as a reader reads them (inline code counts)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    text = "\n".join(cell.source for cell in nb.cells if cell.cell_type == "markdown")
    for pattern in (FENCED_CODE, LINK_TARGET, HTML_TAG):
        text = pattern.sub(" ", text)
    return len(WORD.findall(text))


def run_once(path: Path, workdir: Path, backend: str) -> tuple[float, int]:
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    # one extra cell at the end reports the kernel's peak memory (Linux: ru_maxrss in KiB)
    nb.cells.append(
        nbformat.v4.new_code_cell("import resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)")
    )
    os.environ["KMS_WORKSHOP_BACKEND"] = backend
    # an empty simulated account in the kernel's memory: never the user's own account, and
    # each notebook runs alone, making what it needs (as a learner starting there would)
    os.environ["KMS_WORKSHOP_STATE_DIR"] = "memory"
    client = NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(workdir)}})
    start = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - start
    peak_mib = int(nb.cells[-1].outputs[0]["text"].strip())
    return elapsed, peak_mib


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--backend", default="moto")
    args = parser.parse_args(argv)
    try:  # the list is read (and checked) when notebook_support is imported
        from notebook_support import NOTEBOOKS, WORKSHOP_NOTEBOOKS
    except Exception as exc:  # noqa: BLE001 - ManifestError: one line naming what is wrong in the manifest
        print(exc, file=sys.stderr)
        return 1
    notebooks = [NOTEBOOKS / name for name in WORKSHOP_NOTEBOOKS]
    missing = [path.name for path in notebooks if not path.is_file()]
    if missing:
        print(
            f"notebooks/manifest.yml lists notebooks that are not in notebooks/: {', '.join(missing)}", file=sys.stderr
        )
        return 1
    print(
        f"Measured {time.strftime('%Y-%m-%d')} on {platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, backend {args.backend}, "
        f"fresh kernel and empty simulated account per run, median of {args.repeat} runs.\n"
    )
    print("| notebook | prose words | seconds | kernel peak memory (MiB) |")
    print("|---|---:|---:|---:|")
    total, total_words = 0.0, 0
    for path in notebooks:
        times, peaks = [], []
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                workdir = Path(tmp) / "notebooks"
                shutil.copytree(
                    ROOT / "notebooks", workdir, ignore=shutil.ignore_patterns("workshop-data", ".ipynb_checkpoints")
                )
                elapsed, peak = run_once(path, workdir, args.backend)
                times.append(elapsed)
                peaks.append(peak)
        median = statistics.median(times)
        words = prose_words(path)
        total += median
        total_words += words
        print(f"| {path.name} | {words} | {median:.1f} | {max(peaks)} |", flush=True)
    print(f"| all | {total_words} | {total:.1f} | |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
