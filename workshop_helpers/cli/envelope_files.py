"""What the `encrypt` and `decrypt` commands share (cli/encrypt.py, cli/decrypt.py).

Both refuse a moto account kept in memory (what one process creates, the next would not
see), check their paths before connecting, turn file errors into one line, and draw a
progress bar on stderr for files of more than a few MiB when stderr is a terminal.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from ..errors import WorkshopError
from .options import add_backend_options, connect_from_args

PROGRESS_THRESHOLD = 4 * 1024 * 1024  # smaller files finish before a bar is worth drawing
PROGRESS_WIDTH = 30
PROGRESS_INTERVAL = 0.1  # seconds between redraws


# --- arguments --------------------------------------------------------------------------


def parse_context(items: list[str] | None) -> dict[str, str]:
    """`--context k=v` arguments as a dict; a malformed or contradictory one is an error."""
    context: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise WorkshopError(f"--context {item!r} is not KEY=VALUE (for example --context project=workshop)")
        if key in context and context[key] != value:
            raise WorkshopError(f"--context gives {key} twice, as {context[key]!r} and {value!r}")
        context[key] = value
    return context


def add_file_arguments(parser, *, context_help: str) -> None:
    """SRC, DST and --context KEY=VALUE, then the backend options."""
    parser.add_argument("src", metavar="SRC", help="the file to read")
    parser.add_argument("dst", metavar="DST", help="the file to write (replaced only on success)")
    parser.add_argument("--context", action="append", metavar="KEY=VALUE", default=[], help=context_help)
    add_backend_options(parser)


# --- paths and file errors --------------------------------------------------------------


def check_paths(src: str, dst: str) -> None:
    """Catch the usual path mistakes before connecting to anything."""
    source, target = Path(src), Path(dst)
    if not source.exists():
        raise WorkshopError(f"{src}: no such file")
    if not source.is_file():
        raise WorkshopError(f"{src}: not a regular file")
    if not os.access(source, os.R_OK):
        raise WorkshopError(f"{src}: permission denied")
    if target.is_dir():
        raise WorkshopError(f"{dst}: is a directory; give a file name")
    if target.exists() and not target.is_file():
        raise WorkshopError(f"{dst}: not a regular file; refusing to replace it")
    parent = target.parent
    if not parent.is_dir():
        raise WorkshopError(f"{dst}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise WorkshopError(f"{dst}: cannot write in directory {parent}")


@contextmanager
def file_errors() -> Iterator[None]:
    """OSError (missing file, full disk, ...) as one WorkshopError line."""
    try:
        yield
    except OSError as exc:
        where = " -> ".join(str(name) for name in (exc.filename, exc.filename2) if name)
        reason = exc.strerror or str(exc)
        raise WorkshopError(f"{where}: {reason}" if where else reason) from None


# --- progress ---------------------------------------------------------------------------


class ProgressBar:
    """A plain-text bar redrawn in place with '\\r'; callable as envelope's `progress`."""

    def __init__(self, label: str, stream: TextIO):
        self.label, self.stream = label, stream
        self.drawn = False
        self._last = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < PROGRESS_INTERVAL and done < total:
            return
        self._last = now
        fraction = min(done / total, 1.0) if total else 1.0
        filled = int(fraction * PROGRESS_WIDTH)
        bar = "#" * filled + "." * (PROGRESS_WIDTH - filled)
        mib = 1024 * 1024
        self.stream.write(f"\r{self.label} [{bar}] {fraction:4.0%} {done / mib:.1f}/{total / mib:.1f} MiB")
        self.stream.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:  # end the bar's line, so what follows starts on its own
            self.stream.write("\n")
            self.stream.flush()


@contextmanager
def progress_for(path: str, label: str, stream: TextIO | None = None) -> Iterator[ProgressBar | None]:
    """A ProgressBar when `path` is large and `stream` (stderr) is a terminal, else None."""
    stream = stream if stream is not None else sys.stderr
    wanted = stream.isatty() and os.path.getsize(path) > PROGRESS_THRESHOLD
    bar = ProgressBar(label, stream) if wanted else None
    try:
        yield bar
    finally:
        if bar is not None:
            bar.finish()


# --- the two commands -------------------------------------------------------------------


def describe_context(context: dict[str, str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(context.items())) or "(empty)"


def prepare(args, command: str, check=None):
    """Check the arguments and paths, then `check(args)` if given, all before connecting;
    return (context, workshop)."""
    context = parse_context(args.context)
    check_paths(args.src, args.dst)
    if check is not None:
        check(args)
    return context, connect_from_args(args, refuse_moto=command)
