"""S3 object bodies, kept outside the snapshots.

moto keeps an object's bytes in its FakeKey, in a buffer. Pickled with the S3 snapshot,
a 200 MiB object was written again with every later write of that account, and deleting
it freed nothing. So a body is stored once, by its SHA-256, in the account file's
`object_bodies` table (in chunks, so no object meets SQLite's limit on one value), and
the snapshot refers to it by digest. `object_refs` says which snapshot refers to which
body: a body that no snapshot refers to any more is deleted in the transaction that
wrote the snapshot dropping it, and the file gives the space back (auto_vacuum).

In a process, each FakeKey's buffer becomes a `StoredBody`: its bytes are read from the
file only when moto first reads them (a process that never reads an object never loads
it), and it knows its digest until something writes to it, so an object that did not
change is never hashed, read or written again. Multipart parts in progress are FakeKeys
too, and are kept the same way.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator

CHUNK = 4 << 20  # bytes per row of object_bodies: a body is read and written a chunk at a time
SPOOL = 8 << 20  # a body read back larger than this waits in a temporary file, as moto's own do
EMPTY = hashlib.sha256(b"").hexdigest()

SCHEMA = """
CREATE TABLE IF NOT EXISTS object_bodies (digest TEXT NOT NULL, part INTEGER NOT NULL, data BLOB NOT NULL);
CREATE UNIQUE INDEX IF NOT EXISTS object_bodies_by_digest ON object_bodies (digest, part);
CREATE TABLE IF NOT EXISTS object_refs (name TEXT NOT NULL, account TEXT NOT NULL, digest TEXT NOT NULL,
                                        PRIMARY KEY (name, account, digest));
CREATE INDEX IF NOT EXISTS object_refs_by_digest ON object_refs (digest);
"""
TABLES = ("object_bodies", "object_refs")


def fake_key_class():
    # deferred: moto's S3 models load on S3's first use (fidelity.load_service)
    from moto.s3.models import FakeKey

    return FakeKey


class StoredBody:
    """A FakeKey's buffer: the file-like calls moto makes (seek, read, truncate, write,
    close), over bytes that are read from the account file when first needed."""

    def __init__(
        self,
        digest: str,
        size: int,
        read_chunks: Callable[[str, int], Iterator[bytes]] | None = None,
        file=None,
        spool: int = SPOOL,
    ):
        self.digest: str | None = digest  # None once written to: hashed again when next saved
        self.size = size
        self._read_chunks = read_chunks
        self._file = file
        self._spool = spool
        self._position = 0  # while nothing is read yet
        self._closed = False
        self._lock = threading.RLock()

    def _opened(self):
        with self._lock:
            if self._closed:
                raise ValueError("I/O operation on closed file.")
            if self._file is None:
                if self._read_chunks is None:
                    raise ValueError(f"the bytes of object body {self.digest} have no source")
                file = tempfile.SpooledTemporaryFile(max_size=self._spool)
                try:
                    for chunk in self._read_chunks(self.digest, self.size):
                        file.write(chunk)
                except BaseException:
                    file.close()
                    raise
                file.seek(self._position)
                self._file = file
            return self._file

    def seek(self, offset: int, whence: int = 0) -> int:
        with self._lock:
            if self._file is None and whence == 0 and not self._closed:
                self._position = offset  # moto seeks to 0 before it reads or replaces: no read yet
                return offset
            return self._opened().seek(offset, whence)

    def tell(self) -> int:
        with self._lock:
            return self._position if self._file is None else self._file.tell()

    def read(self, size: int = -1) -> bytes:
        with self._lock:
            return self._opened().read(size)

    def truncate(self, size: int | None = None) -> int:
        with self._lock:
            if self._file is None and not self._closed and (self._position if size is None else size) == 0:
                self._file = tempfile.SpooledTemporaryFile(max_size=self._spool)  # replaced whole: never read
                self._file.seek(self._position)
                self.digest = None
                return 0
            file = self._opened()  # read (by digest) before the digest is forgotten
            self.digest = None
            return file.truncate(size)

    def write(self, data: bytes) -> int:
        with self._lock:
            file = self._opened()
            self.digest = None
            return file.write(data)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._file is not None:
                self._file.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def chunks(self) -> Iterator[bytes]:
        """The bytes, a chunk at a time, from the start (under the account's lock, so
        nothing else moves the position meanwhile)."""
        file = self._opened()
        file.seek(0)
        while chunk := file.read(CHUNK):
            yield chunk

    def __getattr__(self, name):  # anything else moto may ask of its buffer
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._opened(), name)


def stored_body(key) -> StoredBody:
    """`key`'s buffer as a StoredBody with a digest, hashing its bytes if they are new
    (a new object, or one written to): called while its snapshot is made, under its
    account's lock, so nothing writes to the object meanwhile."""
    with key.lock:
        buffer = key._value_buffer
        if isinstance(buffer, StoredBody) and buffer.digest is not None and not buffer.closed:
            return buffer
        if getattr(buffer, "closed", False):  # a disposed object: moto pickles it empty too
            body = StoredBody(EMPTY, 0, file=tempfile.SpooledTemporaryFile(max_size=SPOOL))
            key._value_buffer = body
            return body
        digest, size = hashlib.sha256(), 0
        buffer.seek(0)
        while chunk := buffer.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        if isinstance(buffer, StoredBody):  # written to since it was stored: the same buffer, a new digest
            buffer.digest, buffer.size = digest.hexdigest(), size
            return buffer
        body = StoredBody(digest.hexdigest(), size, file=buffer, spool=getattr(key, "_max_buffer_size", SPOOL))
        key._value_buffer = body
        return body


# --- the tables ----------------------------------------------------------------------------


class Bodies:
    """The bodies in one account file. Writes happen inside the store's transaction
    (`conn`); reads go through `query`, the store's reader; `damaged(why)` is the error
    for a body the file should have and has not."""

    def __init__(self, query: Callable[[str, tuple], list], damaged: Callable[[str], Exception]):
        self._query = query
        self._damaged = damaged

    def read_chunks(self, digest: str, size: int) -> Iterator[bytes]:
        """The `size` bytes stored under `digest`, a chunk at a time."""
        part = read = 0
        while True:
            rows = self._query("SELECT data FROM object_bodies WHERE digest = ? AND part = ?", (digest, part))
            if not rows:
                break
            chunk = bytes(rows[0][0])
            read += len(chunk)
            yield chunk
            part += 1
        if read != size or part == 0:
            raise self._damaged(f"an S3 object's bytes are missing: {read} of {size} found")

    @staticmethod
    def keep(conn: sqlite3.Connection, name: str, account: str, bodies: dict[str, StoredBody]) -> None:
        """Inside the write of snapshot (`name`, `account`), which refers to `bodies`: store
        those the file lacks, and delete those no snapshot refers to any more."""
        before = {
            d for (d,) in conn.execute("SELECT digest FROM object_refs WHERE name = ? AND account = ?", (name, account))
        }
        for digest in bodies.keys() - before:
            conn.execute("INSERT INTO object_refs VALUES (?, ?, ?)", (name, account, digest))
            if conn.execute("SELECT 1 FROM object_bodies WHERE digest = ? AND part = 0", (digest,)).fetchone():
                continue  # the same bytes are stored already (another object, another account)
            _write(conn, digest, bodies[digest].chunks())
        dropped = before - bodies.keys()
        for digest in dropped:
            conn.execute(
                "DELETE FROM object_refs WHERE name = ? AND account = ? AND digest = ?", (name, account, digest)
            )
            if not conn.execute("SELECT 1 FROM object_refs WHERE digest = ? LIMIT 1", (digest,)).fetchone():
                conn.execute("DELETE FROM object_bodies WHERE digest = ?", (digest,))
        if dropped:
            give_back_space(conn)


def _write(conn: sqlite3.Connection, digest: str, chunks: Iterable[bytes]) -> None:
    parts = 0
    for parts, chunk in enumerate(chunks, start=1):
        conn.execute("INSERT INTO object_bodies VALUES (?, ?, ?)", (digest, parts - 1, chunk))
    if not parts:  # the empty body still has its row: it is how a stored body is found
        conn.execute("INSERT INTO object_bodies VALUES (?, 0, ?)", (digest, b""))


def give_back_space(conn: sqlite3.Connection) -> None:
    """Return the file's free pages to the file system (auto_vacuum=INCREMENTAL). One
    execution of the pragma from Python's sqlite3 frees one page, so it is repeated."""
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    for _ in range(free):
        conn.execute("PRAGMA incremental_vacuum")


def empty(conn: sqlite3.Connection) -> None:
    for table in TABLES:
        conn.execute(f"DELETE FROM {table}")
    give_back_space(conn)
