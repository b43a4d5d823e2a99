"""The account's SQLite file: snapshots of the services, S3 objects' bytes, the audit
trail, the workshop's own records, and the format they are in.

Tables (a schema of the workshop's own; `FORMAT` names its version):

    meta      key/value: format, epoch (a new random id each time the account is emptied)
    services  name (kms, iam, sts, s3, ec2), account (12 digits; '' for state kept across
              accounts), generation (+1 at every write of that row), data (snapshot):
              one row per service and account, so a write costs one account's state
    object_bodies, object_refs
              S3 objects' bytes by digest, and which snapshot refers to which (objects.py)
    trail     seq, origin (which notebook or program made the call), record (CloudTrail JSON)
    records   kind, id, data: the workshop's own facts kept with the account (JSON)

The format is the workshop's own, not moto's version: a moto or botocore patch release
within the pinned ranges reads the account as it is (their objects are pickled as they
are, and a patch release keeps them). A change of the format migrates the file forward
when it is opened (`_MIGRATIONS`); only a newer format, an unknown old one, or a damaged
file is refused, with the reset command.

SQLite gives what a real account's durability needs here: a write is one transaction, so
a process killed in the middle of one leaves the account as it was before it (WAL mode
rolls the unfinished transaction back), and `BEGIN IMMEDIATE` makes writers from several
processes take turns. That no update is lost comes from the account locks (locks.py),
held by a request from reading its accounts to this commit. Reads go through a second
connection, so they never wait for a writer (WAL).
"""

from __future__ import annotations

import contextlib
import json
import os
import pathlib
import sqlite3
import threading
import uuid
from collections.abc import Iterator

from ..errors import WorkshopError
from . import objects, snapshot
from .location import default_state_dir, make_private, private_file, state_dir

# 3: S3 objects' bytes outside the snapshots; 2: one snapshot per service and account
# (bytes inside); 1: one snapshot per service
FORMAT = "3"
DB_NAME = "account.sqlite3"
BUSY_TIMEOUT_S = 30
RESET_HINT = "python -m workshop_helpers reset"
MAX_TRAIL = 50_000  # the oldest records go beyond this, as CloudTrail keeps 90 days
WAL_KEPT = 4 << 20  # the write-ahead log is cut back to this after a checkpoint (a big object passed through it)

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS services (name TEXT NOT NULL, account TEXT NOT NULL, generation INTEGER NOT NULL,
                                     data BLOB NOT NULL, PRIMARY KEY (name, account));
CREATE TABLE IF NOT EXISTS trail (seq INTEGER PRIMARY KEY AUTOINCREMENT, origin TEXT NOT NULL, record TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id));
"""
    + objects.SCHEMA
)
_TABLES = {"meta", "services", "trail", "records", *objects.TABLES}


class StateError(WorkshopError):
    """The account's folder cannot be used as it is (one line, naming the folder and the fix)."""


def _statements(schema: str) -> list[str]:
    return [statement for statement in schema.split(";") if statement.strip()]


def reset_command(directory: pathlib.Path) -> str:
    """The reset command for `directory`, as the user would type it."""
    if directory == state_dir() or directory == default_state_dir():
        return RESET_HINT
    return f"{RESET_HINT} --state-dir {directory}"


def unreadable(directory: pathlib.Path, why: str) -> StateError:
    return StateError(
        f"the simulated account in {directory} is unreadable ({why}); nothing in it was changed. "
        f"Run `{reset_command(directory)}` to start a new, empty account there."
    )


class Store:
    """One process's connection to the account file (threads share it under a lock)."""

    def __init__(self, directory: pathlib.Path):
        self.directory = make_private(directory)
        self.path = self.directory / DB_NAME
        self.lock = threading.RLock()  # the one writer connection (and its transaction)
        self._read_lock = threading.Lock()  # the reader connection: reads never wait for a writer (WAL)
        self._pid = -1
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self.bodies = objects.Bodies(self._query, lambda why: unreadable(self.directory, why))
        self._connect()

    # --- opening ----------------------------------------------------------------------

    def _create(self) -> None:
        """A new account file, made whole beside its place and then linked in: an account
        file is either complete or absent, so one that is empty or short was damaged."""
        fresh = self.path.with_name(f"{DB_NAME}.new-{os.getpid()}-{uuid.uuid4().hex[:8]}")
        private_file(fresh)
        try:
            conn = sqlite3.connect(fresh, isolation_level=None)
            try:
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")  # deleted objects give their space back
                conn.execute("BEGIN")
                for statement in _statements(_SCHEMA):
                    conn.execute(statement)
                for key, value in (("format", FORMAT), ("epoch", uuid.uuid4().hex)):
                    conn.execute("INSERT INTO meta VALUES (?, ?)", (key, value))
                conn.execute("COMMIT")
            finally:
                conn.close()
            try:
                os.link(fresh, self.path)  # never replaces: a racing process's account wins
            except FileExistsError:
                pass
        finally:
            fresh.unlink(missing_ok=True)

    def _connect(self) -> None:
        try:
            if not self.path.exists():
                self._create()
            if self._check_readonly() != FORMAT:
                self._migrate()
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            if conn.execute("PRAGMA journal_mode=WAL").fetchone()[0].lower() != "wal":
                raise sqlite3.DatabaseError("cannot switch to WAL mode")
            # NORMAL in WAL mode: a killed process never corrupts the file or loses a
            # committed write; only a power cut can lose the last few commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(f"PRAGMA journal_size_limit={WAL_KEPT}")
            reader = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            reader.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            self._conn, self._reader, self._pid = conn, reader, os.getpid()
        except sqlite3.DatabaseError as exc:
            self.close()
            raise self._error(exc) from None
        except OSError as exc:
            self.close()
            raise StateError(
                f"cannot open the simulated account in {self.directory} ({exc.strerror or exc}); "
                "set KMS_WORKSHOP_STATE_DIR to a private writable folder, or to 'memory'."
            ) from None

    def _check_readonly(self) -> str:
        """Is this a whole account in a format this code reads (returned)? Looked at
        read-only, so that a damaged or foreign file is left exactly as it is until the
        user resets."""
        if self.path.stat().st_size == 0:
            raise sqlite3.DatabaseError("the file is empty: it was truncated")
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if not {"meta", "services", "trail", "records"} <= tables:
                raise sqlite3.DatabaseError("it is not a workshop account: tables are missing")
            written = self._check_format(dict(conn.execute("SELECT key, value FROM meta").fetchall()))
            if written == FORMAT and not _TABLES <= tables:
                raise sqlite3.DatabaseError("tables are missing")
            # Every table but the objects' bytes, which can be hundreds of MiB: checking them
            # would read them all at every start; a damaged one is reported when it is read.
            for table in sorted(tables - {"object_bodies", "sqlite_sequence"}):
                problem = conn.execute(f"PRAGMA quick_check({table})").fetchone()[0]
                if problem != "ok":
                    raise sqlite3.DatabaseError(problem)
            return written
        finally:
            conn.close()

    def _check_format(self, meta: dict) -> str:
        written = meta.get("format")
        if written == FORMAT or written in _MIGRATIONS:
            return written
        readable = ", ".join([*_MIGRATIONS, FORMAT])
        raise StateError(
            f"the simulated account in {self.directory} was written by another version "
            f"(account format {written}; this one reads formats {readable}), "
            f"so it is left as it is. Run `{reset_command(self.directory)}` to start a new, empty account there, "
            "or set KMS_WORKSHOP_STATE_DIR to another folder."
        )

    def _migrate(self) -> None:
        """Bring an account of an older format to this one, in one transaction (a process
        killed meanwhile leaves it in its old format, to be migrated at the next open),
        then let the file give space back (VACUUM, once: auto_vacuum cannot be turned on
        in place)."""
        conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_S * 1000}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                written = conn.execute("SELECT value FROM meta WHERE key = 'format'").fetchone()[0]
                while written != FORMAT:  # another process may have migrated it meanwhile
                    written = _MIGRATIONS[written](self, conn)
                    conn.execute("UPDATE meta SET value = ? WHERE key = 'format'", (written,))
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            if conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2:  # 2: INCREMENTAL
                conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
                conn.execute("VACUUM")
        finally:
            conn.close()

    def _bodies_out_of_snapshots(self, conn: sqlite3.Connection) -> str:
        """Format 2 -> 3: every S3 snapshot's object bytes moved to object_bodies."""
        for statement in _statements(objects.SCHEMA):
            conn.execute(statement)
        conn.execute("DELETE FROM meta WHERE key = 'moto'")  # format 2 recorded moto's version; 3 does not
        rows = conn.execute("SELECT name, account, data FROM services WHERE name = 's3' AND account != ''").fetchall()
        for name, account, data in rows:
            try:
                moved = snapshot.with_bodies_outside(bytes(data))
            except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
                raise unreadable(self.directory, f"the s3 snapshot: {type(exc).__name__}") from None
            conn.execute(
                "UPDATE services SET data = ?, generation = generation + 1 WHERE name = ? AND account = ?",
                (moved, name, account),
            )
            objects.Bodies.keep(conn, name, account, moved.bodies)
        return "3"

    def _error(self, exc: Exception) -> StateError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            return StateError(
                f"the simulated account in {self.directory} stayed busy for {BUSY_TIMEOUT_S} s "
                "(another process is writing to it); try again."
            )
        if "disk is full" in text or "disk I/O" in text:
            return StateError(
                f"cannot write the simulated account in {self.directory} ({text}); free some space and try again."
            )
        return unreadable(self.directory, text)

    @property
    def conn(self) -> sqlite3.Connection:
        if self._pid != os.getpid():  # a forked child must not share the parent's connection
            self._connect()
        assert self._conn is not None  # _connect() made it
        return self._conn

    @property
    def reader(self) -> sqlite3.Connection:
        if self._pid != os.getpid():
            self._connect()
        assert self._reader is not None
        return self._reader

    def close(self) -> None:
        for conn in (self._conn, self._reader):
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.close()
        self._conn = self._reader = None

    # --- transactions -------------------------------------------------------------------

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction; other processes' writers wait for it (BEGIN IMMEDIATE)."""
        with self.lock:
            conn = self.conn
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.DatabaseError as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise self._error(exc) from None

    def _query(self, sql: str, args: tuple = ()) -> list:
        """A read of the last committed state, on the reader connection: it never waits for
        a write transaction (WAL), and inside one it sees what the writer saw at its start,
        since no other writer can commit meanwhile (BEGIN IMMEDIATE)."""
        with self._read_lock:
            try:
                return self.reader.execute(sql, args).fetchall()
            except sqlite3.DatabaseError as exc:
                raise self._error(exc) from None

    # --- services -----------------------------------------------------------------------

    def generations(self) -> tuple[str, dict[tuple[str, str], int]]:
        """(epoch, {(service, account): generation}) in one read."""
        rows = self._query(
            "SELECT name, account, generation FROM services "
            "UNION ALL SELECT '', '', value FROM meta WHERE key = 'epoch'"
        )
        epoch = next((str(g) for n, _a, g in rows if n == ""), "")
        return epoch, {(n, a): g for n, a, g in rows if n}

    def snapshot(self, name: str, account: str) -> tuple[int, bytes] | None:
        rows = self._query("SELECT generation, data FROM services WHERE name = ? AND account = ?", (name, account))
        return (rows[0][0], bytes(rows[0][1])) if rows else None

    def put_snapshot(self, conn: sqlite3.Connection, name: str, account: str, data: bytes) -> int:
        """Inside `write()`: store one account's snapshot of a service, with the S3 object
        bodies it refers to (`data.bodies`, from snapshot.dump); returns its new generation."""
        generation = conn.execute(
            "INSERT INTO services VALUES (?, ?, 1, ?) ON CONFLICT(name, account) DO UPDATE "
            "SET generation = generation + 1, data = excluded.data RETURNING generation",
            (name, account, data),
        ).fetchone()[0]
        objects.Bodies.keep(conn, name, account, getattr(data, "bodies", {}))
        return generation

    # --- trail --------------------------------------------------------------------------

    def append_trail(self, origin: str, record: dict) -> int:
        with self.write() as conn:
            seq = conn.execute(
                "INSERT INTO trail (origin, record) VALUES (?, ?)", (origin, json.dumps(record, default=str))
            ).lastrowid
            assert seq is not None  # an INSERT always has a rowid
            if seq % 1000 == 0:
                conn.execute("DELETE FROM trail WHERE seq <= ?", (seq - MAX_TRAIL,))
        return seq

    def trail(self, after: int = 0) -> list[tuple[int, str, dict]]:
        rows = self._query("SELECT seq, origin, record FROM trail WHERE seq > ? ORDER BY seq", (after,))
        return [(seq, origin, json.loads(record)) for seq, origin, record in rows]

    def last_trail_seq(self) -> int:
        return self._query("SELECT coalesce(max(seq), 0) FROM trail")[0][0]

    # --- the workshop's own records -----------------------------------------------------

    def put_record(self, kind: str, key: str, data: dict) -> None:
        with self.write() as conn:
            conn.execute("INSERT OR REPLACE INTO records VALUES (?, ?, ?)", (kind, key, json.dumps(data)))

    def delete_record(self, kind: str, key: str) -> bool:
        with self.write() as conn:
            return conn.execute("DELETE FROM records WHERE kind = ? AND id = ?", (kind, key)).rowcount > 0

    def records(self, kind: str) -> dict[str, dict]:
        return {k: json.loads(d) for k, d in self._query("SELECT id, data FROM records WHERE kind = ?", (kind,))}

    # --- emptying -----------------------------------------------------------------------

    def empty(self) -> None:
        """Everything gone, a new epoch: processes holding the old account notice and drop it."""
        with self.write() as conn:
            for table in ("services", "trail", "records"):
                conn.execute(f"DELETE FROM {table}")
            objects.empty(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'epoch'", (uuid.uuid4().hex,))


# format written -> the step that brings it one format forward (returns the new format)
_MIGRATIONS = {"2": Store._bodies_out_of_snapshots}
