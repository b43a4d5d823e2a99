"""The workshop's own detect-secrets plugins and filters, used by `workshop_helpers.secret_scan`.

detect-secrets loads a custom plugin from a file (``{"name": ..., "path": "file://<file>"}``
in its settings) and runs that file as a module of its own, outside any package. So the
plugins live here, apart from the scanner, and this file imports only the standard library
and detect-secrets. The filters are loaded by their import path
(``workshop_helpers.secret_scan_plugins.<name>``), the way detect-secrets loads its own.

Plugins (what detect-secrets has no plugin for):

`AWSSecretAccessKeyDetector`
    A secret access key written the way AWS's own tools write it: ``aws_secret_access_key =
    ...`` (credentials files, ``export-credentials --format env``), ``"SecretAccessKey":
    ...``, quoted or not. detect-secrets' `AWSKeyDetector` finds one only between quotes,
    and its `KeywordDetector` finds unquoted values only in files named like config files.
`AWSAccountIdDetector`
    A 12-digit account id in an ARN or in an account field.
`DataKeyDetector`
    An unmasked 32-byte value (an AES-256 data key) in base64, urlsafe base64 or hex. The
    scanner enables it for notebook outputs only.

Filters (a filter returns True to drop a candidate):

`is_not_a_secret_access_key`
    Keeps, of what the keyword and secret-key detectors find, only what has the shape of a
    secret access key (40 characters of base64, mixed case, random-looking): the workshop
    has no other secret a keyword could name, and without it `KeywordDetector` flags moto's
    ``"testing"`` credentials, file names and the sample plaintext.
`is_allowlisted_in_a_test_file`
    detect-secrets' ``pragma: allowlist secret`` comments, honoured in test files only.
"""

from __future__ import annotations

import base64 as _base64
import binascii as _binascii
import re
from collections.abc import Generator
from functools import lru_cache as _lru_cache
from pathlib import PurePath as _PurePath
from typing import Any

from detect_secrets.core.potential_secret import PotentialSecret as _PotentialSecret
from detect_secrets.filters import allowlist as _allowlist
from detect_secrets.plugins import high_entropy_strings as _high_entropy
from detect_secrets.plugins.base import BasePlugin as _BasePlugin
from detect_secrets.plugins.base import RegexBasedDetector as _RegexBasedDetector
from detect_secrets.util.code_snippet import CodeSnippet as _CodeSnippet

# NOTE: detect-secrets registers every plugin class it finds among this module's public
# names, so the imported classes above have private names.

#: detect-secrets' secret types (``PotentialSecret.type``) for the plugins it has and ours.
AWS_KEY = "AWS Access Key"  # AWSKeyDetector: an access key id, or a quoted secret key
SECRET_KEYWORD = "Secret Keyword"  # KeywordDetector
SECRET_ACCESS_KEY = "AWS Secret Access Key"
ACCOUNT_ID = "AWS Account ID"
DATA_KEY = "Unmasked Data Key"

#: AWSKeyDetector's access key id pattern (its denylist[0]): anything else it finds is a secret key.
ACCESS_KEY_ID = re.compile(r"(?:A3T[A-Z0-9]|ABIA|ACCA|AKIA|ASIA)[0-9A-Z]{16}")

# detect-secrets' Shannon entropy over the base64 alphabet (the same measure its
# Base64HighEntropyString plugin uses).
_BASE64_ENTROPY = _high_entropy.Base64HighEntropyString().calculate_shannon_entropy


def looks_like_a_secret_access_key(value: str) -> bool:
    """40 base64 characters, upper and lower case, random-looking (a git commit id, 40 hex
    digits, is not one; nor ``"x" * 40``)."""
    return (
        re.fullmatch(r"[A-Za-z0-9/+]{40}", value) is not None
        and re.fullmatch(r"[0-9a-fA-F]{40}", value) is None
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and _BASE64_ENTROPY(value) >= 4.0
    )


class AWSSecretAccessKeyDetector(_RegexBasedDetector):
    """A secret access key after its name, quoted or not: ``aws_secret_access_key = ...``,
    ``AWS_SECRET_ACCESS_KEY=...``, ``"SecretAccessKey": "..."``, ``aws_secret_key ...``."""

    secret_type = SECRET_ACCESS_KEY

    denylist = (
        re.compile(
            r"(?i)(?:secret_?access_?key|aws_?secret_?key)[\"'\\\]]*(?:\s*[:=]\s*|\s+)[\"'\\]*"
            r"([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
        ),
    )


class AWSAccountIdDetector(_RegexBasedDetector):
    """A 12-digit account id in an ARN, or after an account field name (``"Account":``,
    ``account_id=``, ``accountId``, ``recipientAccountId``, ``OwnerId``). The scanner's
    allow-list drops moto's account and AWS's documentation placeholders."""

    secret_type = ACCOUNT_ID

    denylist = (
        re.compile(r"arn:aws[a-z-]*:[a-z0-9-]*:[a-z0-9-]*:(\d{12})(?=:)"),
        re.compile(
            r"(?i)(?:\b|_)(?:account|account_?id|accountid|recipientaccountid|owner_?id|ownerid)"
            r"[\"'\\]*\s*[:=]\s*[\"'\\]*(\d{12})(?!\d)"
        ),
    )


class DataKeyDetector(_BasePlugin):
    """An unmasked 32-byte value, the size of an AES-256 data key: 44 characters of base64 or
    of urlsafe base64 ending in ``=``, 43 random-looking unpadded base64 characters, or 64
    hex digits. The notebooks show keys with ``display.mask()`` (``abcd*****...wxyz``), which
    never matches. A 64-hex value labelled as a digest or an identifier just before it
    (KeyMaterialId, SHA-256, GrantId, ...; on its line or the line before) is not a key."""

    secret_type = DATA_KEY

    PADDED = re.compile(r"(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/]{43}=|[A-Za-z0-9_-]{43}=)(?![A-Za-z0-9+/=_-])")
    UNPADDED = re.compile(r"(?<![A-Za-z0-9+/=_-])([A-Za-z0-9+/]{43}|[A-Za-z0-9_-]{43})(?![A-Za-z0-9+/=_-])")
    HEX = re.compile(r"(?<![0-9A-Za-z])([0-9a-f]{64}|[0-9A-F]{64})(?![0-9A-Za-z])")
    DIGEST_LABEL = re.compile(
        r"(?i)(key\s*material\s*id|keymaterialid|sha-?256|digest|checksum|hash|fingerprint|grant\s*id|grantid|"
        r"grant\s*token|granttoken|canonical|owner|etag|request\s*id|requestid)"
    )
    LABEL_WINDOW = 80  # characters before a 64-hex value where a label makes it a digest

    def analyze_line(
        self,
        filename: str,
        line: str,
        line_number: int = 0,
        context: _CodeSnippet = None,
        **kwargs: Any,
    ) -> set[_PotentialSecret]:
        previous = context.previous_line.rstrip("\n") if context is not None else ""
        return super().analyze_line(
            filename=filename, line=line, line_number=line_number, context=context, previous_line=previous
        )

    def analyze_string(self, string: str, previous_line: str = "") -> Generator[str, None, None]:
        for match in self.PADDED.finditer(string):
            value = match.group(1)
            if _decodes_to_32_bytes(value) and _BASE64_ENTROPY(value[:-1]) >= 4.0:
                yield value
        for match in self.UNPADDED.finditer(string):
            value = match.group(1)
            if _looks_random(value) and _decodes_to_32_bytes(value):
                yield value
        for match in self.HEX.finditer(string):
            value = match.group(1)
            before = (previous_line + "\n" + string[: match.start(1)])[-self.LABEL_WINDOW :]
            if self.DIGEST_LABEL.search(before) or len(set(value.lower())) < 8:
                continue
            yield value


def _looks_random(value: str) -> bool:
    """Mixed case and digits and a high entropy: a random token, not a name."""
    return (
        any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
        and _BASE64_ENTROPY(value) >= 4.3
    )


def _decodes_to_32_bytes(value: str) -> bool:
    """Standard or urlsafe base64 (padded or not) of exactly 32 bytes."""
    padded = (value + "=" * (-len(value) % 4)).replace("-", "+").replace("_", "/")
    try:
        return len(_base64.b64decode(padded, validate=True)) == 32
    except (_binascii.Error, ValueError):
        return False


# --- filters ------------------------------------------------------------------------------


def is_not_a_secret_access_key(secret: str, plugin: Any = None) -> bool:
    """Drops what a keyword or secret-key detector found unless it is shaped like a secret
    access key (AWSKeyDetector's access key ids pass through)."""
    kind = getattr(plugin, "secret_type", None)
    if kind in (SECRET_KEYWORD, SECRET_ACCESS_KEY) or (kind == AWS_KEY and not ACCESS_KEY_ID.fullmatch(secret)):
        return not looks_like_a_secret_access_key(secret)
    return False


_TEST_FILE = re.compile(r"(?:^test_.*|.*_test|^conftest)\.py$")


@_lru_cache(maxsize=1024)
def is_test_file(filename: str) -> bool:
    """A file in a ``tests`` folder, or a pytest module (``test_*.py``, ``*_test.py``, ``conftest.py``)."""
    path = _PurePath(filename)
    return "tests" in path.parts[:-1] or _TEST_FILE.match(path.name) is not None


def is_allowlisted_in_a_test_file(filename: str, line: str, context: _CodeSnippet) -> bool:
    """detect-secrets' inline allow-list (``# pragma: allowlist secret`` on the line, or
    ``# pragma: allowlist nextline secret`` on the line before), in test files only: it
    must never silence a secret in the package, the notebooks or the docs."""
    return is_test_file(filename) and _allowlist.is_line_allowlisted(filename=filename, line=line, context=context)
