"""One step of making a tool's own virtual environment (tests/ensure_esdk_cli.py and
tests/ensure_book.py keep tools whose pins clash with the workshop's lock in venvs of
their own)."""

from __future__ import annotations

import subprocess


def run_step(argv: list[str], what: str) -> None:
    """Run one set-up step; raise RuntimeError with the last line of its output if it fails."""
    try:
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RuntimeError(f"{what} failed: {exc}") from None
    if done.returncode != 0:
        lines = [line for line in done.stderr.strip().splitlines() if not line.startswith("WARNING")]
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {lines[-1] if lines else 'no message'}")
