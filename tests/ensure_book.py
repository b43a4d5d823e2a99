"""Make the book's own virtual environment, .venv-book/, for `make book` and tests/system/test_book.py.

    python tests/ensure_book.py            # make it if missing or out of date
    python tests/ensure_book.py --check    # report only, never install

Jupyter Book 1 (Sphinx, sphinx-book-theme, myst-nb) is a tool for publishing the workshop,
not part of it, so it lives in a venv of its own, installed from constraints-book.txt
(exact versions), and never enters constraints.txt. A stamp file in the venv records what
it was made from (the constraints file's SHA-256 and this Python), so a second run does
nothing. Exit status: 0 when the venv is ready, 1 when it is not (`make book` stops there).
The test imports `find_book_python()`, `ensure()` and `MISSING_MESSAGE` from here.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from tool_venv import run_step

try:
    import fcntl
except ImportError:  # Windows: no lock; one build at a time there
    fcntl = None

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-book"
CONSTRAINTS = ROOT / "constraints-book.txt"
STAMP = VENV / ".installed"
PACKAGE = "jupyter-book"
MIN_PYTHON = (3, 11)  # IPython 9, pinned in constraints-book.txt, needs it

MISSING_MESSAGE = (
    f"no book tools: run `python tests/ensure_book.py` (make book does) to make {VENV.name}/ "
    f"from {CONSTRAINTS.name} (Python {MIN_PYTHON[0]}.{MIN_PYTHON[1]} or newer, and PyPI)"
)


def _python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def wanted_stamp() -> str:
    """What the venv must have been made from: the constraints' digest and this Python."""
    digest = hashlib.sha256(CONSTRAINTS.read_bytes()).hexdigest()
    return f"{digest} python {sys.version_info.major}.{sys.version_info.minor}\n"


def find_book_python() -> str | None:
    """The book venv's Python, only when its stamp is current; else None."""
    try:
        current = STAMP.read_text() == wanted_stamp()
    except OSError:
        return None
    python = _python(VENV)
    return str(python) if current and os.access(python, os.X_OK) else None


def make_venv() -> str:
    """(Re)make the venv from the constraints file; return the installed Jupyter Book's version."""
    if sys.version_info < MIN_PYTHON:
        raise RuntimeError(f"Python {sys.version.split()[0]} is too old for the book tools; {MISSING_MESSAGE}")
    if VENV.exists():
        shutil.rmtree(VENV)
    python = str(_python(VENV))
    run_step([sys.executable, "-m", "venv", str(VENV)], "python -m venv")
    run_step(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", str(CONSTRAINTS), PACKAGE],
        f"pip install {PACKAGE}",
    )
    done = subprocess.run(
        [python, "-c", "import jupyter_book; print(jupyter_book.__version__)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"jupyter_book does not import: {done.stderr.strip()[-200:]}")
    STAMP.write_text(wanted_stamp())
    return done.stdout.strip()


@contextlib.contextmanager
def _one_at_a_time():
    """Hold an exclusive lock while the venv is checked and made: `make book` and a test
    session (or two test workers) may ask at the same moment."""
    if fcntl is None:
        yield
        return
    name = "kms-workshop-book-" + hashlib.sha256(str(VENV).encode()).hexdigest()[:16] + ".lock"
    with open(Path(tempfile.gettempdir()) / name, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure(say=print) -> str:
    """The book venv's Python, made first if it is missing or out of date; RuntimeError if
    it cannot be made (nothing half-made is left behind)."""
    with _one_at_a_time():
        found = find_book_python()
        if found:
            return found
        say(f"ensure_book: making {VENV.name}/ from {CONSTRAINTS.name} (about 25 s, once)")
        try:
            version = make_venv()
        except (RuntimeError, OSError) as exc:
            shutil.rmtree(VENV, ignore_errors=True)  # no half-made venv that looks current
            raise RuntimeError(str(exc)) from None
        say(f"ensure_book: made {VENV.name}/ (Jupyter Book {version})")
        return find_book_python() or str(_python(VENV))


def main(argv: list[str]) -> int:
    if "--check" in argv and not find_book_python():
        print(f"ensure_book: {VENV.name}/ is missing or out of date; {MISSING_MESSAGE}")
        return 1
    try:
        ensure(lambda line: print(line, flush=True))
    except RuntimeError as exc:
        print(f"ensure_book: error: {exc}")
        return 1
    print(f"ensure_book: {VENV.name}/ is ready")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
