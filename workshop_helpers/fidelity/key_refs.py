"""Which account and which key a KMS request names: the one reader of key references.

A request names a key by key id, key ARN, alias name or alias ARN (KeyId; SourceKeyId and
DestinationKeyId in ReEncrypt), or carries a ciphertext blob that names the key that made
it (read by ciphertext.open_envelope, the one decoder of blobs). As on AWS, a key id or an
alias name always means the caller's own account; an ARN names its own account, and a
blob the account of the key that made it (a blob of the workshop's earlier format, which
predates accounts, the caller's own).

Three parts of the workshop ask, and all read references here: the account layer locks and
saves the accounts a request names (account/requests.py), the class gate runs a request on
another account's key in that key's account (classroom/gate.py), and the fidelity layer
authorizes the request against the key's ARN (kms_authorization.py).
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass
from typing import Any

from . import ciphertext
from .exceptions import KmsError

BLOB_FIELD = "CiphertextBlob"
# A KMS key or alias ARN of an account; any other "arn:" text names no account (KMS then
# answers for it in the caller's account).
_ARN = re.compile(r"^arn:(aws[a-z-]*):kms:([^:]*):(\d{12}):(?:key/(.+)|(alias/.+))$")
# The operations that take the key from the blob when no key field names it.
_KEY_FROM_BLOB = {"Decrypt": "KeyId", "ReEncrypt": "SourceKeyId"}


@dataclass(frozen=True)
class KeyRef:
    """A key as one field of a request names it."""

    key_id: str | None  # the key's id (from a key id, a key ARN or a blob); None for an alias
    alias: str | None = None  # "alias/<name>" (from an alias name or an alias ARN)
    account_id: str | None = None  # the account an ARN or a blob names; None: the caller's own
    region: str | None = None  # an ARN's Region; None: the request's
    from_blob: bool = False

    def account_or(self, caller: str) -> str:
        """The account the key is in, for a request of `caller`."""
        return self.account_id or caller

    def is_foreign(self, caller: str) -> bool:
        """Whether the key is another account's than `caller`'s."""
        return self.account_or(caller) != caller

    def as_key_id(self, account_id: str, region: str) -> str | None:
        """The KeyId the caller in `account_id` would write for this key: its id or alias
        name when it is theirs, else its ARN (the only way to name another account's key)."""
        if not self.is_foreign(account_id):
            return self.key_id or self.alias
        kind = f"key/{self.key_id}" if self.key_id else self.alias
        return f"arn:aws:kms:{self.region or region}:{self.account_id}:{kind}"


def parse(text: Any) -> KeyRef | None:
    """The reference a key field holds; None for an empty or non-text value and for an
    "arn:" that is not a KMS key or alias ARN of an account (it names no account: KMS
    answers NotFoundException for it in the caller's account)."""
    if not isinstance(text, str) or not text:
        return None
    if text.startswith("arn:"):
        match = _ARN.match(text)
        if match is None:
            return None
        _partition, region, account_id, key_id, alias = match.groups()
        return KeyRef(key_id, alias, account_id, region)
    if text.startswith("alias/"):
        return KeyRef(None, text)
    return KeyRef(text)


def from_blob(blob: Any) -> KeyRef | None:
    """The key a ciphertext blob (base64, as in a KMS request's JSON) was made under; None
    for anything that is not a blob of the simulation (Decrypt itself then answers
    InvalidCiphertextException)."""
    if not isinstance(blob, str) or not blob:
        return None
    try:
        sealed = ciphertext.open_envelope(base64.b64decode(blob))
    except (KmsError, ValueError, TypeError):
        return None
    return KeyRef(sealed.key_id, account_id=sealed.account_id, from_blob=True)


def references(params: dict, action: str) -> list[tuple[str, KeyRef]]:
    """(field, reference) for every key a KMS request names: KeyId, or for ReEncrypt
    SourceKeyId and DestinationKeyId; and, for Decrypt and ReEncrypt when no KeyId
    (SourceKeyId) names the key, the key that made CiphertextBlob."""
    if not isinstance(params, dict):
        return []
    fields = ("SourceKeyId", "DestinationKeyId") if action == "ReEncrypt" else ("KeyId",)
    found = [(field, ref) for field in fields if (ref := parse(params.get(field))) is not None]
    key_field = _KEY_FROM_BLOB.get(action)
    if key_field is not None and not params.get(key_field):
        ref = from_blob(params.get(BLOB_FIELD))
        if ref is not None:
            found.append((BLOB_FIELD, ref))
    return found


def named_accounts(params: dict, action: str) -> set[str]:
    """The accounts a KMS request names explicitly, by ARN or ciphertext (a key id or an
    alias name is the caller's own, whoever the caller is)."""
    return {ref.account_id for _field, ref in references(params, action) if ref.account_id}


def _backend(account_id: str, region: str) -> Any:
    """The KMS backend of an account moto already has, else None (looking must not create one)."""
    # deferred: moto's KMS models load in apply(), not on import
    from moto.kms.models import kms_backends

    regions = dict.get(kms_backends, account_id)
    return dict.get(regions, region) if regions is not None else None


def key_of(ref: KeyRef, caller: str, region: str) -> Any:
    """moto's Key that `ref` names, in the account it names (the caller's own for an id or
    an alias name) and its ARN's Region (else `region`); None when there is none."""
    backend = _backend(ref.account_or(caller), ref.region or region)
    if backend is None:
        return None
    if ref.key_id is not None:
        return backend.keys.get(ref.key_id)
    # not get_key_id_from_alias: for an AWS managed alias it creates the key, and looking
    # at another account must change nothing there
    return next((key for key in list(backend.keys.values()) if ref.alias in key.aliases), None)
