"""A small secret scanner for this repository: `python -m workshop_helpers.secret_scan [PATH ...]`.

It looks at every file git would commit (`git ls-files --cached --others --exclude-standard`;
outside a git checkout, every file under the given directories) and at every output of
every notebook (text/plain, text/html, image/svg+xml, markdown, JSON, streams, errors,
widget state), for four kinds of secret:

``access-key-id``
    An AWS access key id: AKIA/ASIA/AIDA/AROA/... followed by 16 characters. Values ending
    in ``EXAMPLE`` (AWS's documentation) and the few made-up ids in `ALLOWED_ACCESS_KEY_IDS`
    (the tests' fakes) are allowed.
``secret-access-key``
    40 base64 characters near the word "secret" (``SecretAccessKey``,
    ``aws_secret_access_key``, ...), mixed case, not a hex digest (git commit ids are 40 hex).
``account-id``
    A 12-digit account id in an ARN or in an account field (``"Account": ...``,
    ``account_id=...``, ``accountId``), other than moto's 123456789012 and AWS's
    documentation placeholders (`ALLOWED_ACCOUNTS`).
``data-key`` (notebook outputs only)
    An unmasked 32-byte value, the size of an AES-256 data key: 44 characters of base64 or
    of urlsafe base64 ending in ``=``, 43 random-looking unpadded base64 characters, or 64
    hex digits. The notebooks show keys with ``display.mask()`` (``abcd*****...wxyz``),
    which never matches. A 64-hex value labelled as a digest or an identifier just before it
    (KeyMaterialId, SHA-256, GrantId, ...) is not a key and is allowed.

``account-state``
    A simulated account's state (workshop_helpers.account): an SQLite file, or a kept copy
    of key material (``key-material/<backend>-<account>-<region>/<key id>.bin``). It holds
    key material, so it belongs in the user's private ~/.kms-workshop, never in a commit.

Findings never print the secret itself: only its first characters and its length.
Exit status: 0 when nothing is found, 1 when something is, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

MOTO_ACCOUNT = "123456789012"
#: moto's account, and the placeholders AWS's own documentation uses for examples.
ALLOWED_ACCOUNTS = frozenset({MOTO_ACCOUNT, "111122223333", "444455556666"})

#: Made-up access key ids the tests use on purpose (not real keys: see where they appear).
ALLOWED_ACCESS_KEY_IDS = frozenset(
    {
        "AKIAABCDEFGHIJKLMNOP",  # tests/test_audit.py: masking an access key id
        "AKIAMADEUPWORKSHOP01",  # tests/test_fidelity_iam.py: an unknown key acts as root
    }
)

#: Notebook output types that are text (image/png and the like are binary, base64-encoded).
TEXT_OUTPUT_TYPES = (
    "text/plain",
    "text/html",
    "image/svg+xml",
    "text/markdown",
    "text/latex",
    "application/json",
    "application/javascript",
)

KINDS = ("access-key-id", "secret-access-key", "account-id", "data-key")

_ACCESS_KEY_ID = re.compile(
    r"(?<![A-Za-z0-9])((?:AKIA|ASIA|AIDA|AROA|AIPA|ANPA|ANVA|AGPA|APKA|ABIA|ACCA|A3T[A-Z0-9])[A-Z0-9]{16})(?![A-Za-z0-9])"
)
_SECRET_WORD = re.compile(r"(?i)secret")
_SECRET_VALUE = re.compile(r"(?<![A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])")
_SECRET_WINDOW = 100  # characters around a candidate where "secret" must appear

_ARN_ACCOUNT = re.compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12})(?=:)")
_FIELD_ACCOUNT = re.compile(
    r"(?i)(?:\b|_)(?:account|account_?id|accountid|recipientaccountid|owner_?id|ownerid)"
    r"[\"'\\]*\s*[:=]\s*[\"'\\]*(\d{12})(?!\d)"
)

_B64_PADDED = re.compile(r"(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/]{43}=|[A-Za-z0-9_-]{43}=)(?![A-Za-z0-9+/=_-])")
_B64_UNPADDED = re.compile(r"(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})(?![A-Za-z0-9+/=_-])")
_HEX64 = re.compile(r"(?<![0-9A-Za-z])([0-9a-f]{64}|[0-9A-F]{64})(?![0-9A-Za-z])")
#: A 64-hex value preceded (closely) by one of these labels is a digest or an id, not a key.
_DIGEST_LABEL = re.compile(
    r"(?i)(key\s*material\s*id|keymaterialid|sha-?256|digest|checksum|hash|fingerprint|grant\s*id|grantid|"
    r"grant\s*token|granttoken|canonical|owner|etag|request\s*id|requestid)"
)
_LABEL_WINDOW = 80


@dataclass(frozen=True)
class Finding:
    """One secret found: where, what kind, and a redacted excerpt."""

    where: str  # "path:line", or "path: cell N output M (mime)" for notebook outputs
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.excerpt}"


def _redact(value: str) -> str:
    return f"{value[:4]}... ({len(value)} characters)"


def _line_of(text: str, index: int) -> int:
    return text.count("\n", 0, index) + 1


def _entropy(value: str) -> float:
    counts = Counter(value)
    return -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())


def _looks_random(value: str) -> bool:
    """Mixed case and digits and a high character entropy: a random token, not a name."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and _entropy(value) >= 4.3
    )


def _decodes_to_32_bytes(value: str) -> bool:
    """Standard or urlsafe base64 (padded or not) of exactly 32 bytes."""
    padded = (value + "=" * (-len(value) % 4)).replace("-", "+").replace("_", "/")
    try:
        return len(base64.b64decode(padded, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


# --- scanning text ------------------------------------------------------------------------


def scan_text(text: str, where: str, *, data_keys: bool = False, line_numbers: bool = True) -> list[Finding]:
    """Secrets in `text`. `data_keys` adds unmasked 32-byte values (for notebook outputs)."""
    found: list[Finding] = []

    def at(index: int) -> str:
        return f"{where}:{_line_of(text, index)}" if line_numbers else where

    for match in _ACCESS_KEY_ID.finditer(text):
        value = match.group(1)
        if value.endswith("EXAMPLE") or value in ALLOWED_ACCESS_KEY_IDS:
            continue
        found.append(Finding(at(match.start(1)), "access-key-id", _redact(value)))

    if _SECRET_WORD.search(text):
        for match in _SECRET_VALUE.finditer(text):
            value = match.group(1)
            if re.fullmatch(r"[0-9a-fA-F]{40}", value) or not (
                any(c.isupper() for c in value) and any(c.islower() for c in value)
            ):
                continue
            if _entropy(value) < 4.0:
                continue
            window = text[max(0, match.start(1) - _SECRET_WINDOW) : match.end(1) + _SECRET_WINDOW]
            if _SECRET_WORD.search(window):
                found.append(Finding(at(match.start(1)), "secret-access-key", _redact(value)))

    seen_accounts: set[tuple[int, str]] = set()
    for pattern in (_ARN_ACCOUNT, _FIELD_ACCOUNT):
        for match in pattern.finditer(text):
            value = match.group(1)
            if value in ALLOWED_ACCOUNTS or (match.start(1), value) in seen_accounts:
                continue
            seen_accounts.add((match.start(1), value))
            found.append(Finding(at(match.start(1)), "account-id", f"account {value}"))

    if data_keys:
        found += _scan_data_keys(text, at)
    return found


def _scan_data_keys(text: str, at) -> list[Finding]:
    found = []
    for match in _B64_PADDED.finditer(text):
        value = match.group(1)
        if _decodes_to_32_bytes(value) and _entropy(value[:-1]) >= 4.0:
            found.append(Finding(at(match.start(1)), "data-key", "base64 of 32 bytes " + _redact(value)))
    for match in _B64_UNPADDED.finditer(text):
        value = match.group(1)
        if _looks_random(value) and _decodes_to_32_bytes(value):
            found.append(Finding(at(match.start(1)), "data-key", "unpadded base64 of 32 bytes " + _redact(value)))
    for match in _HEX64.finditer(text):
        value = match.group(1)
        before = text[max(0, match.start(1) - _LABEL_WINDOW) : match.start(1)]
        if _DIGEST_LABEL.search(before) or len(set(value.lower())) < 8:
            continue
        found.append(Finding(at(match.start(1)), "data-key", "64 hex digits " + _redact(value)))
    return found


# --- notebooks ----------------------------------------------------------------------------


def _as_text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


def notebook_outputs(nb: dict) -> Iterator[tuple[str, str]]:
    """(label, text) for every text output of every code cell, and the widget state."""
    for index, cell in enumerate(nb.get("cells", []), start=1):
        for number, output in enumerate(cell.get("outputs", []) or [], start=1):
            kind = output.get("output_type")
            label = f"cell {index} output {number}"
            if kind == "stream":
                yield f"{label} ({output.get('name', 'stream')})", _as_text(output.get("text", ""))
            elif kind == "error":
                yield f"{label} (error)", output.get("evalue", "") + "\n" + "\n".join(output.get("traceback", []))
            for mime, value in (output.get("data") or {}).items():
                if mime in TEXT_OUTPUT_TYPES:
                    text = json.dumps(value) if mime == "application/json" else _as_text(value)
                    yield f"{label} ({mime})", text
    widgets = (nb.get("metadata") or {}).get("widgets")
    if widgets:
        yield "widget state", json.dumps(widgets)


def scan_notebook(path: Path, shown: str | None = None) -> list[Finding]:
    """Sources and metadata for the first three kinds; every output for all four."""
    shown = shown or str(path)
    raw = path.read_text(encoding="utf-8", errors="replace")
    try:
        nb = json.loads(raw)
    except json.JSONDecodeError:
        return scan_text(raw, shown, data_keys=True)
    found: list[Finding] = []
    for index, cell in enumerate(nb.get("cells", []), start=1):
        found += scan_text(_as_text(cell.get("source", "")), f"{shown}: cell {index} source", line_numbers=True)
    metadata = {k: v for k, v in (nb.get("metadata") or {}).items() if k != "widgets"}
    found += scan_text(json.dumps(metadata), f"{shown}: metadata", line_numbers=False)
    for label, text in notebook_outputs(nb):
        found += scan_text(text, f"{shown}: {label}", data_keys=True, line_numbers=False)
    return found


# --- files --------------------------------------------------------------------------------


def _is_binary(path: Path) -> bool:
    try:
        with open(path, "rb") as handle:
            return b"\0" in handle.read(8192)
    except OSError:
        return True


_SQLITE_MAGIC = b"SQLite format 3\0"


def _is_account_state(path: Path) -> bool:
    if path.parent.parent.name == "key-material" and path.suffix == ".bin":
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


def scan_file(path: Path, shown: str | None = None) -> list[Finding]:
    shown = shown or str(path)
    if _is_account_state(path):
        return [Finding(shown, "account-state", "a simulated account's state or key material; keep it out of the repository")]
    if path.suffix == ".ipynb":
        return scan_notebook(path, shown)
    if _is_binary(path):
        return []
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return scan_text(text, shown)


_WALK_SKIP = {".git", ".venv", "venv", "__pycache__", "node_modules", ".pytest_cache", ".ipynb_checkpoints",
              "workshop-data", "build", "dist"}


def repository_files(root: Path) -> list[Path]:
    """The files git would commit under `root` (tracked, or untracked and not ignored);
    outside a git checkout, every file except virtualenvs, caches and workshop-data."""
    root = Path(root)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root, capture_output=True, check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        files = []
        for folder, dirs, names in os.walk(root):
            dirs[:] = [d for d in dirs if d not in _WALK_SKIP and not d.endswith(".egg-info")]
            files += [Path(folder) / n for n in names]
        return sorted(files)
    paths = {root / name for name in listed.decode("utf-8", "surrogateescape").split("\0") if name}
    return sorted(p for p in paths if p.is_file())


def scan_paths(paths: Iterable[str | os.PathLike]) -> tuple[list[Finding], int]:
    """Scan files and directories (a directory: the files git would commit there).
    Returns (findings, number of files scanned)."""
    findings: list[Finding] = []
    count = 0
    for given in paths:
        path = Path(given)
        if path.is_dir():
            for file in repository_files(path):
                count += 1
                findings += scan_file(file, os.path.relpath(file, path))
        elif path.is_file():
            count += 1
            findings += scan_file(path, str(path))
    return findings, count


def scan_repository(root: str | os.PathLike | None = None) -> list[Finding]:
    """Every file git would commit in the repository (default: this checkout)."""
    root = Path(root) if root else Path(__file__).resolve().parent.parent
    return scan_paths([root])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workshop_helpers.secret_scan",
        description="scan files git would commit, and every notebook output, for AWS secrets and data keys",
    )
    parser.add_argument("paths", nargs="*", help="files or directories (default: this repository)")
    args = parser.parse_args(argv)
    targets = args.paths or [str(Path(__file__).resolve().parent.parent)]
    missing = [p for p in targets if not os.path.exists(p)]
    if missing:
        print(f"error: {missing[0]}: no such file or directory", file=sys.stderr)
        return 2
    findings, count = scan_paths(targets)
    for finding in findings:
        print(finding)
    if findings:
        print(f"secret scan: {len(findings)} finding(s) in {count} file(s)", file=sys.stderr)
        return 1
    print(f"secret scan: nothing found in {count} file(s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
