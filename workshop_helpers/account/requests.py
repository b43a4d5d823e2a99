"""Which service a request is for, its operation, whether it can change the account, and
which accounts it runs in.

Read-only requests only need the latest state; the others are run inside a write
transaction and their service's snapshot is saved after them. When in doubt a request
counts as a change: saving too often costs a millisecond, missing a change loses data.
"""

from __future__ import annotations

import json
import os
from urllib.parse import parse_qs, urlsplit

from ..fidelity import credentials, sts
from .snapshot import SERVICES

_READ_PREFIXES = ("Describe", "Get", "List", "Head", "Lookup")
# Named like a read but create something the account keeps.
_CHANGES_ANYWAY = frozenset({"GetParametersForImport", "GetSessionToken", "GetFederationToken"})
# KMS's cryptographic operations use a key without changing it.
_KMS_READS = frozenset(
    {
        "Encrypt", "Decrypt", "ReEncrypt", "GenerateDataKey", "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateRandom",
        "GenerateMac", "VerifyMac", "Sign", "Verify", "DeriveSharedSecret",
    }
)  # fmt: skip


def _header(headers, name: str) -> str:
    value = headers.get(name) if headers is not None else None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value or ""


def _claim(headers, url: str):
    """Whose credential the request carries (fidelity/credentials.py, the one reader), or
    None when it is malformed: such a request is refused at a class endpoint's door, and
    elsewhere runs as moto's default account would."""
    try:
        return credentials.read(headers, urlsplit(url).query, require_date=False)
    except credentials.Refused:
        return None


def service_of(headers, url: str) -> str | None:
    """The service a signed request is for (its SigV4 credential scope), else from the host."""
    claim = _claim(headers, url)
    if claim is not None and claim.signed:
        return claim.service
    host = urlsplit(url).hostname or ""
    for service in SERVICES:
        if host.startswith(service + ".") or f".{service}." in host:
            return service
    return None


def _query_fields(url: str, body) -> dict[str, list[str]]:
    """A query API request's parameters: from its URL's query, else from its form body."""
    fields = parse_qs(urlsplit(url).query)
    if "Action" not in fields and body:
        text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else str(body)
        if "Action=" in text:
            fields = parse_qs(text)
    return fields


def operation_of(method: str, headers, url: str, body) -> str:
    target = _header(headers, "X-Amz-Target")
    if target:
        return target.rsplit(".", 1)[-1]
    fields = _query_fields(url, body)
    if "Action" in fields:
        return fields["Action"][0]
    return method.upper()  # S3's REST calls: the HTTP method says enough


def changes_account(service: str, operation: str) -> bool:
    if operation in _CHANGES_ANYWAY:
        return True
    if operation in ("GET", "HEAD", "OPTIONS"):
        return False
    if operation.startswith(_READ_PREFIXES):
        return False
    return not (service == "kms" and operation in _KMS_READS)


def classify(method: str, headers, url: str, body) -> tuple[str | None, str, bool]:
    """(service or None if not persisted, operation, changes the account)."""
    service = service_of(headers, url)
    if service not in SERVICES:
        return None, "", False
    operation = operation_of(method, headers, url, body)
    return service, operation, changes_account(service, operation)


def _kms_params(body) -> dict:
    try:
        params = json.loads(body or b"{}")
    except (ValueError, TypeError, RecursionError):  # unreadable: KMS answers SerializationException
        return {}
    return params if isinstance(params, dict) else {}


def accounts_of(service: str | None, headers, url: str, body) -> set[str]:
    """The accounts a request will run in, as moto picks them (MOTO_ACCOUNT_ID, moto's
    account header, the account whose IAM issued the access key, else moto's default);
    for KMS also the accounts of the keys it names by ARN or ciphertext
    (fidelity/key_refs.py), and for STS the account of the role it assumes, where the
    session is made. Call with IAM current (Account.run does)."""
    if os.environ.get("MOTO_ACCOUNT_ID"):
        return {os.environ["MOTO_ACCOUNT_ID"]}
    chosen = _header(headers, "x-moto-account-id")
    if not chosen:
        claim = _claim(headers, url)
        key = claim.access_key if claim is not None else None
        # deferred: moto's IAM models load with the fidelity patches, not at start-up
        from moto.iam.models import get_account_id_from

        chosen = get_account_id_from(key or "AKIAEXAMPLE")
    found = {chosen}
    if service == "kms":
        # deferred: key_refs imports moto's KMS models
        from ..fidelity import key_refs

        found |= key_refs.named_accounts(_kms_params(body), operation_of("POST", headers, url, body))
    elif service == "sts":
        role_account = sts.role_account((_query_fields(url, body).get("RoleArn") or [""])[0])
        if role_account is not None:
            found.add(role_account)
    return found
