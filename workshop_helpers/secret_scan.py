"""The repository's secret scan, built on detect-secrets: `python -m workshop_helpers.secret_scan [PATH ...]`.

It looks at every file git would commit (`git ls-files --cached --others --exclude-standard`;
outside a git checkout, every file under the given directories) and at every output of
every notebook, and reports five kinds of finding:

``access-key-id``
    An AWS access key id (AKIA..., ASIA..., ...): detect-secrets' `AWSKeyDetector`.
``secret-access-key``
    A secret access key: `AWSKeyDetector` (a quoted value after ``aws...key``),
    `KeywordDetector` (a value assigned to a secret-sounding name) and the project's
    `AWSSecretAccessKeyDetector` (after ``aws_secret_access_key``/``SecretAccessKey``, quoted
    or not, as credentials files and env files write it). Only values shaped like a secret
    key count (40 characters of base64, mixed case, random-looking).
``account-id``
    A 12-digit account id in an ARN or an account field (the project's `AWSAccountIdDetector`).
``data-key`` (notebook outputs and widget state only)
    An unmasked 32-byte value, an AES-256 data key, in base64, urlsafe base64 or hex (the
    project's `DataKeyDetector`). Values labelled as digests or ids (KeyMaterialId, SHA-256,
    GrantId, ...) are not keys.
``account-state``
    A simulated account's state (workshop_helpers.account): an SQLite file, or a kept copy
    of key material (``key-material/<backend>-<account>-<region>/<key id>.bin``). It holds
    key material, so it belongs in the user's private ~/.kms-workshop, never in a commit.

What comes from detect-secrets (1.5): the scanning itself (`SecretsCollection.scan_file`
under `transient_settings`: reading each file, skipping binary ones, its parsers for config
and YAML files, running the plugins line by line), the plugins `AWSKeyDetector` and
`KeywordDetector`, and two of its filters: the allow-list of values by pattern
(``filters.regex.should_exclude_secret``, given `ALLOWED_SECRETS`) and, behind the
project's test-files-only condition, its inline allow-list comments (``pragma: allowlist
secret``). No secret is ever verified against AWS (detect-secrets' verification filter is
not enabled): nothing leaves the machine.

What is the project's own, in `workshop_helpers.secret_scan_plugins` as detect-secrets
plugins and filters (detect-secrets has no equivalent): the account-id and data-key
detectors, the detector for secret keys written unquoted, the filter that keeps only values
shaped like a secret key, and the test-files-only condition on allow-list comments. The
account-state rule is a small function in this module instead: those files are binary,
and detect-secrets' plugins only ever see lines of text. Notebooks: detect-secrets has no
notebook support; it would read an .ipynb file as JSON text (quotes escaped inside
outputs, which its KeywordDetector then misses; a notebook written without indent is one
line; no telling an output from a source). So this module writes each cell's source, the
metadata, each output (stream, error, and every mime type in `TEXT_OUTPUT_TYPES`) and the
widget state to files of their own and has detect-secrets scan those, the outputs and the
widget state with the data-key detector added.

Deliberately not enabled: detect-secrets' `Base64HighEntropyString` and
`HexHighEntropyString` (the notebooks legitimately show ciphertext blobs, KeyMaterialIds,
SHA-256 digests and the Encryption SDK's public signing key: 50-odd findings on this
repository, none a secret; the one high-entropy secret the workshop handles, the data key,
has its own detector) and its detectors for other services' tokens (Slack, Stripe, GitHub,
...: none is part of the workshop, and every plugin runs on every line). Its default
filters are replaced by the ones above: those for keyword findings (indirect references,
templated or $-prefixed values, id-like names, sequential strings) are subsumed by the
shape filter, ``is_not_alphanumeric_string`` would drop every account id (all digits), and
the file-name ones would skip lock and swagger files and, by extension, .svg, .css, .lock
and others: every text file git would commit is scanned.

A property of detect-secrets to know: a file it can parse as config (INI-style: .cfg,
.ini, .toml, or any file opening with a ``[section]`` line) or as YAML is scanned through
its values, so a secret in a comment line of such a file is not seen.

Findings never print the secret itself: only its first characters and its length.
Exit status: 0 when nothing is found, 1 when something is, 2 on a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    from detect_secrets.core.plugins import initialize as _initialize_plugins
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import transient_settings
    from detect_secrets.util.path import convert_local_os_path
except ImportError as error:  # pragma: no cover - a missing test dependency
    raise ImportError("the secret scan needs detect-secrets, a test dependency: pip install -e '.[test]'") from error

from . import secret_scan_plugins as plugins

MOTO_ACCOUNT = "123456789012"
#: moto's account, and the placeholders AWS's own documentation uses for examples.
ALLOWED_ACCOUNTS = frozenset({MOTO_ACCOUNT, "111122223333", "444455556666"})

#: Made-up access key ids the tests use on purpose (not real keys: see where they appear).
ALLOWED_ACCESS_KEY_IDS = frozenset(
    {
        "AKIAABCDEFGHIJKLMNOP",  # tests/unit/test_audit.py: masking an access key id
        "AKIAMADEUPWORKSHOP01",  # tests/unit/test_fidelity_iam.py: an unknown key acts as root
        "AKIAZZZZZZZZZZZZZZZZ",  # tests/integration/test_class_security.py: a key id no endpoint issued
    }
)

#: Values that are never a finding: detect-secrets' `should_exclude_secret` patterns (on the
#: whole value found). AWS's documentation examples end in EXAMPLE (AKIAIOSFODNN7EXAMPLE, its
#: secret key ...EXAMPLEKEY).
ALLOWED_SECRETS = (
    r"^[A-Z0-9]{9,}EXAMPLE$",
    r"^[A-Za-z0-9/+]{30}EXAMPLEKEY$",
    *(rf"^{value}$" for value in sorted(ALLOWED_ACCESS_KEY_IDS | ALLOWED_ACCOUNTS)),
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
#: The file name ending a notebook piece gets, so that detect-secrets reads it as what it is.
_SUFFIX = {
    "text/plain": ".txt",
    "text/html": ".html",
    "image/svg+xml": ".svg",
    "text/markdown": ".md",
    "text/latex": ".tex",
    "application/json": ".json",
    "application/javascript": ".js",
}

KINDS = ("access-key-id", "secret-access-key", "account-id", "data-key", "account-state")

#: detect-secrets secret type -> (kind, plugin name).
_KIND = {
    plugins.AWS_KEY: ("secret-access-key", "AWSKeyDetector"),  # access-key-id when it is a key id
    plugins.SECRET_KEYWORD: ("secret-access-key", "KeywordDetector"),
    plugins.SECRET_ACCESS_KEY: ("secret-access-key", "AWSSecretAccessKeyDetector"),
    plugins.ACCOUNT_ID: ("account-id", "AWSAccountIdDetector"),
    plugins.DATA_KEY: ("data-key", "DataKeyDetector"),
}

_PLUGINS_FILE = Path(plugins.__file__).resolve()
_OWN_PLUGINS = ("AWSSecretAccessKeyDetector", "AWSAccountIdDetector")


def detect_secrets_settings(*, data_keys: bool = False) -> dict:
    """The detect-secrets configuration (a baseline's ``plugins_used``/``filters_used``):
    `data_keys` adds the data-key detector (for notebook outputs and widget state)."""
    own = _OWN_PLUGINS + (("DataKeyDetector",) if data_keys else ())
    return {
        "plugins_used": [
            {"name": "AWSKeyDetector"},
            {"name": "KeywordDetector"},
            *({"name": name, "path": f"file://{_PLUGINS_FILE}"} for name in own),
        ],
        "filters_used": [
            {"path": "detect_secrets.filters.regex.should_exclude_secret", "pattern": list(ALLOWED_SECRETS)},
            {"path": f"{plugins.__name__}.is_not_a_secret_access_key"},
            {"path": f"{plugins.__name__}.is_allowlisted_in_a_test_file"},
        ],
    }


@dataclass(frozen=True)
class Finding:
    """One secret found: where, what kind, and a redacted excerpt."""

    where: str  # "path:line", or "path: cell N output M (mime), line L" in a notebook
    kind: str
    excerpt: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind}: {self.excerpt}"


def _redact(value: str) -> str:
    return f"{value[:4]}... ({len(value)} characters)"


def _excerpt(kind: str, value: str, detectors: list[str]) -> str:
    by = f"[{', '.join(detectors)}]"
    if kind == "account-id":
        return f"account {value} {by}"  # an account id is not a secret: say which one
    if kind == "data-key":
        form = (
            "64 hex digits"
            if len(value) == 64
            else "base64 of 32 bytes"
            if value.endswith("=")
            else "unpadded base64 of 32 bytes"
        )
        return f"{form} {_redact(value)} {by}"
    return f"{_redact(value)} {by}"


# --- notebooks ----------------------------------------------------------------------------


def _as_text(value) -> str:
    if isinstance(value, list):
        return "".join(str(v) for v in value)
    return str(value)


def notebook_outputs(nb: dict) -> Iterator[tuple[str, str, str]]:
    """(label, file suffix, text) for every text output of every cell, and the widget state."""
    for index, cell in enumerate(nb.get("cells", []), start=1):
        for number, output in enumerate(cell.get("outputs", []) or [], start=1):
            kind = output.get("output_type")
            label = f"cell {index} output {number}"
            if kind == "stream":
                yield f"{label} ({output.get('name', 'stream')})", ".txt", _as_text(output.get("text", ""))
            elif kind == "error":
                text = f"{output.get('ename', '')}: {output.get('evalue', '')}\n" + "\n".join(
                    output.get("traceback", [])
                )
                yield f"{label} (error)", ".txt", text
            for mime, value in (output.get("data") or {}).items():
                if mime in TEXT_OUTPUT_TYPES:
                    text = json.dumps(value, indent=1) if mime == "application/json" else _as_text(value)
                    yield f"{label} ({mime})", _SUFFIX[mime], text
    widgets = (nb.get("metadata") or {}).get("widgets")
    if widgets:
        yield "widget state", ".json", json.dumps(widgets, indent=1)


def _notebook_sources(nb: dict) -> Iterator[tuple[str, str, str]]:
    """(label, file suffix, text) for every cell's source, and the notebook's other metadata."""
    language = ((nb.get("metadata") or {}).get("kernelspec") or {}).get("language", "python")
    for index, cell in enumerate(nb.get("cells", []), start=1):
        kind = cell.get("cell_type")
        suffix = ".md" if kind == "markdown" else ".py" if kind == "code" and language == "python" else ".txt"
        yield f"cell {index} source", suffix, _as_text(cell.get("source", ""))
    metadata = {k: v for k, v in (nb.get("metadata") or {}).items() if k != "widgets"}
    yield "metadata", ".json", json.dumps(metadata, indent=1)


# --- scanning -----------------------------------------------------------------------------


_SQLITE_MAGIC = b"SQLite format 3\0"


def _is_account_state(path: Path) -> bool:
    if path.parent.parent.name == "key-material" and path.suffix == ".bin":
        return True
    try:
        with open(path, "rb") as handle:
            return handle.read(len(_SQLITE_MAGIC)) == _SQLITE_MAGIC
    except OSError:
        return False


@dataclass(frozen=True)
class _Target:
    """A file detect-secrets scans, and how a finding in it is reported."""

    path: str  # absolute
    shown: str  # the scanned file as the user named it
    label: str | None  # the notebook piece ("cell 3 output 1 (text/html)"), or None
    order: tuple[int, int]


def _register_own_plugins() -> None:
    """detect-secrets finds custom plugins through the settings' ``path`` the first time it
    maps plugin names to classes, and caches that map: add ours should it already exist."""
    if not {plugins.SECRET_ACCESS_KEY, plugins.ACCOUNT_ID, plugins.DATA_KEY} <= set(
        get_mapping_from_secret_type_to_class()
    ):
        _initialize_plugins.from_file(str(_PLUGINS_FILE))


#: A secret detect-secrets found: (sort key, where, kind, value, detector).
_Hit = tuple[tuple, str, str, str, str]


def _detect(targets: list[_Target], *, data_keys: bool) -> list[_Hit]:
    if not targets:
        return []
    _register_own_plugins()
    collection = SecretsCollection()
    with transient_settings(detect_secrets_settings(data_keys=data_keys)) as settings:
        # Scan every text file git would commit, whatever its extension (.svg, .lock, ...);
        # binary files are still skipped (detect-secrets cannot decode them).
        settings.disable_filters("detect_secrets.filters.heuristic.is_non_text_file")
        for target in targets:
            collection.scan_file(target.path)
    by_path = {convert_local_os_path(target.path): target for target in targets}  # as detect-secrets keys them
    hits = []
    for filename, secret in collection:
        target = by_path[filename]
        value = secret.secret_value or ""
        kind, detector = _KIND.get(secret.type, ("secret-access-key", secret.type))
        if secret.type == plugins.AWS_KEY and plugins.ACCESS_KEY_ID.fullmatch(value):
            kind = "access-key-id"
        where = (
            f"{target.shown}:{secret.line_number}"
            if target.label is None
            else f"{target.shown}: {target.label}, line {secret.line_number}"
        )
        hits.append(((*target.order, secret.line_number), where, kind, value, detector))
    return hits


def _scan(files: list[tuple[Path, str]]) -> list[Finding]:
    """Findings in `files` ((path, shown name) pairs), in their order."""
    hits: list[_Hit] = []
    text: list[_Target] = []  # sources, metadata and every other text file
    outputs: list[_Target] = []  # notebook outputs and widget state (the data-key rule too)
    with tempfile.TemporaryDirectory(prefix="secret-scan-") as pieces:
        for index, (path, shown) in enumerate(files):
            if _is_account_state(path):
                hits.append(((index, 0, 0), shown, "account-state", "", ""))
                continue
            absolute = str(Path(path).resolve())
            if path.suffix != ".ipynb":
                text.append(_Target(absolute, shown, None, (index, 0)))
                continue
            try:
                nb = json.loads(Path(path).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError):
                outputs.append(_Target(absolute, shown, None, (index, 0)))  # not a notebook: all rules
                continue
            for group, entries in ((text, _notebook_sources(nb)), (outputs, notebook_outputs(nb))):
                for label, suffix, content in entries:
                    number = len(text) + len(outputs) + 1
                    piece = Path(pieces) / f"{index}-{number}{suffix}"
                    piece.write_text(content, encoding="utf-8")
                    group.append(_Target(str(piece), shown, label, (index, number)))
        hits += _detect(text, data_keys=False)
        hits += _detect(outputs, data_keys=True)
    # One finding per secret and place, naming every detector that reported it.
    detectors: dict[tuple, list[str]] = {}
    for order, where, kind, value, detector in sorted(hits):
        detectors.setdefault((order, where, kind, value), []).append(detector)
    findings = []
    for (_order, where, kind, value), names in detectors.items():
        if kind == "account-state":
            findings.append(
                Finding(where, kind, "a simulated account's state or key material; keep it out of the repository")
            )
        else:
            findings.append(Finding(where, kind, _excerpt(kind, value, sorted(set(names)))))
    return findings


def scan_file(path: Path, shown: str | None = None) -> list[Finding]:
    """Findings in one file (a notebook: its sources, metadata, outputs and widget state)."""
    return _scan([(Path(path), shown or str(path))])


_WALK_SKIP = {
    ".git",
    ".venv",
    "venv",
    "__pycache__",
    "node_modules",
    ".pytest_cache",
    ".ipynb_checkpoints",
    "workshop-data",
    "build",
    "dist",
}


def repository_files(root: Path) -> list[Path]:
    """The files git would commit under `root` (tracked, or untracked and not ignored);
    outside a git checkout, every file except virtualenvs, caches and workshop-data.
    (detect-secrets' own listing takes tracked files only: a new file is not yet tracked.)"""
    root = Path(root)
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=root,
            capture_output=True,
            check=True,
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
    files: list[tuple[Path, str]] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            files += [(file, os.path.relpath(file, path)) for file in repository_files(path)]
        elif path.is_file():
            files.append((path, str(path)))
    return _scan(files), len(files)


def scan_repository(root: str | os.PathLike | None = None) -> list[Finding]:
    """Every file git would commit in the repository (default: this checkout)."""
    root = Path(root) if root else Path(__file__).resolve().parent.parent
    return scan_paths([root])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m workshop_helpers.secret_scan",
        description="scan files git would commit, and every notebook output, for AWS secrets and data keys "
        "(detect-secrets, with the workshop's own rules)",
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
