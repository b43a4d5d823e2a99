"""What each participant's account has done, for the instructor's view.

The workshop's audit trail is recorded client-side, in the participants' kernels, so the
endpoint does not have it. The view uses two server-side sources instead:

- the account's own state (read from moto): a KMS key whose material was imported and is
  enabled, keys pending deletion;
- a count of the operations each account called through the endpoint, kept by the gate:
  service, operation name, whether an encryption context was sent, and the outcome (`ok`
  or the error code). Never a parameter value, key material, data key or plaintext.

The counts are kept in the account's state folder (records of kind `class-progress`), so
the view survives a restart; with --ephemeral they live in memory only. Each process
writes rows of its own (`ACCOUNT/PROCESS`) and the view adds up every row, so the worker
processes of `serve --workers N` count side by side without overwriting each other.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from typing import Any

RECORD_KIND = "class-progress"
FLUSH_EVERY = 1.0  # seconds: counts are written to the state folder at most this often

# (step id, what the instructor reads, how it is derived)
STEPS = (
    ("imported", "key material imported", "state: an EXTERNAL key with material, enabled"),
    ("data_key", "data key generated with a context", "ops: GenerateDataKey with a context, ok"),
    ("refused", "decrypt refused without the context", "ops: Decrypt without a context, InvalidCiphertextException"),
    ("decrypted", "decrypt with the context", "ops: Decrypt with a context, ok"),
    ("direct", "direct encrypt", "ops: Encrypt, ok"),
    ("volume", "volume created", "ops: ec2 CreateVolume, ok"),
    ("cleaned", "cleaned up", "ops: ScheduleKeyDeletion ok, and state: no enabled imported key left"),
)


def op_label(record: dict) -> str:
    context = ":context" if record.get("context") else ""
    return f"{record.get('service') or '?'}:{record.get('operation') or '?'}{context}:{record.get('outcome') or '?'}"


class Progress:
    def __init__(self, store: Any | None = None):
        self.store = store
        self._lock = threading.Lock()
        self._counts: dict[str, Counter] = {}
        self._last_seen: dict[str, float] = {}
        self._dirty: set[str] = set()
        self._flushed = 0.0
        self._row = uuid.uuid4().hex[:12]  # this process's rows; earlier runs' and other workers' are read
        self._rows: dict[str, dict] = {}
        self._read_at = float("-inf")

    def add(self, record: dict) -> None:
        account_id = record.get("account")
        if not account_id or "outcome" not in record:
            return
        with self._lock:
            self._counts.setdefault(account_id, Counter())[op_label(record)] += 1
            self._last_seen[account_id] = time.time()
            self._dirty.add(account_id)
        if time.monotonic() - self._flushed >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self.store is None:
            return
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            rows = {a: {"counts": dict(self._counts[a]), "last_seen": self._last_seen.get(a, 0)} for a in dirty}
            self._flushed = time.monotonic()
        for account_id, data in rows.items():
            self.store.put_record(RECORD_KIND, f"{account_id}/{self._row}", data)

    def _stored(self, account_id: str) -> tuple[Counter, float | None]:
        """What the other rows of `account_id` hold (earlier runs, other worker processes),
        read at most every FLUSH_EVERY seconds (the view asks once per participant)."""
        counts, seen = Counter(), None
        if self.store is not None:
            if time.monotonic() - self._read_at >= FLUSH_EVERY:
                self._rows, self._read_at = self.store.records(RECORD_KIND), time.monotonic()
            for key, data in self._rows.items():
                owner, _, row = key.partition("/")
                if owner == account_id and row != self._row:
                    counts.update(data.get("counts", {}))
                    seen = max(seen or 0.0, float(data.get("last_seen", 0)))
        return counts, seen

    def counts(self, account_id: str) -> Counter:
        stored, _seen = self._stored(account_id)
        with self._lock:
            return stored + self._counts.get(account_id, Counter())

    def last_seen(self, account_id: str) -> float | None:
        _counts, stored = self._stored(account_id)
        with self._lock:
            mine = self._last_seen.get(account_id)
        return max(mine, stored) if mine is not None and stored is not None else (mine if mine is not None else stored)


def _kms_keys(account_id: str) -> list:
    # deferred: moto's KMS models load with the backend, not on import
    from moto.kms.models import kms_backends

    regions = dict.get(kms_backends, account_id) or {}
    return [key for backend in list(dict.values(regions)) for key in list(backend.keys.values())]


def _has(counts: Counter, service: str, operation: str, context: bool | None, outcome: str) -> bool:
    for label, n in counts.items():
        parts = label.split(":")
        if len(parts) < 3 or not n:
            continue
        has_context = len(parts) == 4
        if (
            parts[0] == service
            and parts[1] == operation
            and parts[-1] == outcome
            and (context is None or context == has_context)
        ):
            return True
    return False


def steps_of(account_id: str, counts: Counter) -> dict[str, bool]:
    """Which of STEPS the account has done (call with the account's state current)."""
    keys = [k for k in _kms_keys(account_id) if getattr(k, "key_manager", "CUSTOMER") == "CUSTOMER"]
    imported_enabled = [k for k in keys if k.origin == "EXTERNAL" and k.key_state == "Enabled"]
    imported_ever = any(k.origin == "EXTERNAL" for k in keys) and (
        bool(imported_enabled) or _has(counts, "kms", "ImportKeyMaterial", None, "ok")
    )
    return {
        "imported": bool(imported_enabled) or imported_ever,
        "data_key": _has(counts, "kms", "GenerateDataKey", True, "ok"),
        "refused": _has(counts, "kms", "Decrypt", False, "InvalidCiphertextException"),
        "decrypted": _has(counts, "kms", "Decrypt", True, "ok"),
        "direct": _has(counts, "kms", "Encrypt", None, "ok"),
        "volume": _has(counts, "ec2", "CreateVolume", None, "ok"),
        "cleaned": _has(counts, "kms", "ScheduleKeyDeletion", None, "ok") and not imported_enabled,
    }
