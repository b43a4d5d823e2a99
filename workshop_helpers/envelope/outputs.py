"""Outputs that appear only once the whole message verified.

Decrypting into a file writes the plaintext into an *unnamed* temporary file where the OS
offers one (Linux O_TMPFILE: a file in the destination's directory that no name points
to) and links it into place only after the last check passed. Until then no name in the
file system leads to a single byte of unverified plaintext, and if the process dies, even
by SIGKILL, the kernel frees the file: nothing is left behind.

Elsewhere (no O_TMPFILE, a file system without it, no /proc), and for encryption (whose
output is ciphertext), a named temporary file `.NAME.partial-XXXXXXXX` (mode 0600) beside
the destination is renamed into place on success and removed on any failure the process
survives (an interrupt included); a SIGKILL can leave that file behind.
"""

from __future__ import annotations

import errno
import io
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from .refusals import EnvelopeError

# O_TMPFILE unsupported: EOPNOTSUPP (this file system), EISDIR or EINVAL (an older kernel).
_NO_TMPFILE = {errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_file():
        # A FIFO or a device (/dev/null as root) would silently become a regular file.
        raise EnvelopeError(f"{target}: not a regular file; refusing to replace it")


def _open_unnamed(directory: Path) -> int | None:
    """An O_TMPFILE descriptor in `directory` that /proc lets us link later, else None."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is None:
        return None
    try:
        fd = os.open(directory, flag | os.O_WRONLY, 0o600)
    except OSError as exc:
        if exc.errno in _NO_TMPFILE:
            return None
        raise
    if not os.path.exists(f"/proc/self/fd/{fd}"):  # no /proc: it could never be linked
        os.close(fd)
        return None
    return fd


def _link_into_place(fd: int, target: Path) -> None:
    """Give the unnamed file its name: directly if `target` is free, else via a temporary
    name and an atomic rename over the old file.

    linkat(2) with AT_SYMLINK_FOLLOW on /proc/self/fd/N links the open file itself (os.link
    uses linkat, and so follows, only when given a directory descriptor).
    """
    proc_path = f"/proc/self/fd/{fd}"
    directory = os.open(target.parent if str(target.parent) else ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            os.link(proc_path, target.name, dst_dir_fd=directory, follow_symlinks=True)
            return
        except FileExistsError:
            pass
        for _ in range(100):
            temp = f".{target.name}.partial-{os.urandom(4).hex()}"
            try:
                os.link(proc_path, temp, dst_dir_fd=directory, follow_symlinks=True)
                break
            except FileExistsError:
                continue
        else:
            raise EnvelopeError(f"{target}: could not find a free temporary name beside it")
        try:
            os.replace(temp, target.name, src_dir_fd=directory, dst_dir_fd=directory)
        except BaseException:
            try:
                os.unlink(temp, dir_fd=directory)
            except FileNotFoundError:
                pass
            raise
    finally:
        os.close(directory)


def _unlink_quietly(path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


@contextmanager
def atomic_output(dst: str | os.PathLike, *, unnamed: bool) -> Iterator[BinaryIO]:
    """A file to write into that becomes `dst` only if the block succeeds (mode 0600).

    On any failure `dst` is left as it was (absent if it was absent) and nothing else is
    left beside it. `unnamed`: use an unnamed file where the OS offers one.
    """
    target = Path(dst)
    _check_target(target)
    directory = target.parent if str(target.parent) else Path(".")
    fd = _open_unnamed(directory) if unnamed else None
    if fd is not None:
        with open(fd, "wb", buffering=0) as sink:  # raw: frames go to the kernel without a copy
            yield sink
            _link_into_place(sink.fileno(), target)
        return
    fd, temp_name = tempfile.mkstemp(prefix=f".{target.name}.partial-", dir=directory)
    try:
        with open(fd, "wb", buffering=0) as sink:
            yield sink
        os.replace(temp_name, target)
    except BaseException:
        _unlink_quietly(temp_name)
        raise


class Collected:
    """An in-memory sink whose bytes are handed out only after a successful run."""

    def __init__(self):
        self.buffer = io.BytesIO()

    @contextmanager
    def open(self) -> Iterator[BinaryIO]:
        yield self.buffer

    def value(self) -> bytes:
        return self.buffer.getvalue()
