"""The simulation's ciphertext blobs: opaque, about the size of real ones, and bound to
their encryption context unambiguously.

Real KMS documents its blobs as opaque; nothing in this one is readable either. A blob is

    nonce (12) | AES-256-GCM(blob key, nonce, envelope, aad=label) (len(envelope) + 16)

where the envelope, only ever seen decrypted, holds

    version (1) | key id length (1) | key id (40, zero-padded) | account id (12) |
    key material id (32) | IV (12) | AES-256-GCM(key material, IV, plaintext, aad)
    (len(plaintext) + 16) | zeros (10)

so a blob is 152 bytes longer than its plaintext, as real blobs are: 184 bytes for a
32-byte data key, 168 for a 16-byte one. To a reader the whole blob is random bytes.

- The *blob key* is one fixed key of the simulation (HKDF of a label), the same in every
  account, Region and process, so Decrypt finds the key without a KeyId anywhere: in any
  Region (a multi-Region replica opens its primary's blobs), in another account (which
  then answers as KMS does for a key it cannot reach; the class endpoint's gate reads the
  key from the blob), in a later process on the account kept on disk, with nothing to
  store (Encrypt and GenerateDataKey do not write the account). It hides the key
  reference from a reader; it protects nothing else: the plaintext is encrypted under the
  key's own material, which never leaves the account.
- The inner AAD is a label, the key id, the key material id and the encryption context
  serialised unambiguously (sorted by key, every key and value prefixed by its length):
  moto concatenates `key + value`, which lets {"ab": "c"} open a blob made under
  {"a": "bc"}; here it cannot. A wrong context, key or material fails alike
  (InvalidCiphertextException); so does any change to any byte of the blob.
- The key material id says which of the key's materials (after rotations) made the blob.

Blobs written by earlier versions of the workshop (`0x01 | key id length | key id | IV |
tag | body`, under the key's only material) are still read, so an account and files made
before this format keep decrypting; nothing writes them any more.
"""

from __future__ import annotations

import functools
import os
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .exceptions import InvalidCiphertextException

ENVELOPE_VERSION = 2
NONCE_LEN = 12
IV_LEN = 12
TAG_LEN = 16
KEY_ID_FIELD = 40
ACCOUNT_LEN = 12
MATERIAL_ID_LEN = 32
PADDING_LEN = 10
ENVELOPE_OVERHEAD = 2 + KEY_ID_FIELD + ACCOUNT_LEN + MATERIAL_ID_LEN + IV_LEN + TAG_LEN + PADDING_LEN
BLOB_OVERHEAD = NONCE_LEN + TAG_LEN + ENVELOPE_OVERHEAD  # 152, as real KMS blobs
_OUTER_LABEL = b"kms-workshop-blob/v2/envelope"
_INNER_LABEL = b"kms-workshop-blob/v2/body"
_LEGACY_LABEL = b"kms-workshop-ciphertext"
_LEGACY_VERSION = 1
# A key id, a moto multi-Region id (mrk- and a UUID) or a real one (mrk- and 32 hex digits).
KEY_ID = re.compile(
    r"^(?:(?:mrk-)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|mrk-[0-9a-fA-F]{32})$"
)


@dataclass(frozen=True)
class Sealed:
    """A blob opened far enough to know its key (not its plaintext)."""

    key_id: str
    account_id: str | None  # None: a blob of the earlier format (made in the caller's account)
    material_id: str | None  # None: a blob of the earlier format (the key's only material)
    iv: bytes
    body: bytes  # ciphertext and tag
    aad_prefix: bytes


def canonical_context(context: dict[str, str] | None) -> bytes:
    """The encryption context as bytes that no other context produces."""
    items = sorted((context or {}).items(), key=lambda kv: kv[0].encode("utf-8"))
    out = [struct.pack(">I", len(items))]
    for key, value in items:
        for part in (key.encode("utf-8"), str(value).encode("utf-8")):
            out.append(struct.pack(">I", len(part)))
            out.append(part)
    return b"".join(out)


@functools.lru_cache(maxsize=1)
def blob_key() -> bytes:
    """The key that hides a blob's key reference: one for the whole simulation."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=_OUTER_LABEL, info=b"envelope key").derive(
        b"kms-workshop-simulated-kms"
    )


def _inner_aad(account_id: str, key_id: str, material_id: str) -> bytes:
    return (
        _INNER_LABEL
        + account_id.encode("ascii")
        + bytes([len(key_id)])
        + key_id.encode("ascii")
        + bytes.fromhex(material_id)
    )


def seal(
    account_id: str, key_id: str, material_id: str, material: bytes, plaintext: bytes, context: dict[str, str] | None
) -> bytes:
    """Encrypt `plaintext` under `material` (material `material_id` of key `key_id` in
    account `account_id`), bound to `context`."""
    raw_id, raw_account = key_id.encode("ascii"), account_id.encode("ascii")
    if len(raw_id) > KEY_ID_FIELD or len(raw_account) != ACCOUNT_LEN or len(material_id) != 2 * MATERIAL_ID_LEN:
        raise ValueError(f"cannot seal under key {account_id!r}/{key_id!r} / material id {material_id!r}")
    iv = os.urandom(IV_LEN)
    aad = _inner_aad(account_id, key_id, material_id) + canonical_context(context)
    body = AESGCM(material).encrypt(iv, plaintext, aad)
    envelope = b"".join(
        [
            bytes([ENVELOPE_VERSION, len(raw_id)]),
            raw_id.ljust(KEY_ID_FIELD, b"\0"),
            raw_account,
            bytes.fromhex(material_id),
            iv,
            body,
            bytes(PADDING_LEN),
        ]
    )
    nonce = os.urandom(NONCE_LEN)
    return nonce + AESGCM(blob_key()).encrypt(nonce, envelope, _OUTER_LABEL)


def open_envelope(blob: bytes) -> Sealed:
    """Which key (account, key id, material) made `blob`; InvalidCiphertextException if it
    is not a blob of the simulation, or was changed in any byte."""
    if not isinstance(blob, (bytes, bytearray)):
        raise InvalidCiphertextException()
    blob = bytes(blob)
    if len(blob) >= BLOB_OVERHEAD:
        try:
            envelope = AESGCM(blob_key()).decrypt(blob[:NONCE_LEN], blob[NONCE_LEN:], _OUTER_LABEL)
        except (InvalidTag, ValueError):
            envelope = None
        if envelope is not None:
            return _parse_envelope(envelope)
    return _parse_legacy(blob)


def _parse_envelope(envelope: bytes) -> Sealed:
    version, id_len = envelope[0], envelope[1]
    if version != ENVELOPE_VERSION or id_len > KEY_ID_FIELD or envelope[-PADDING_LEN:] != bytes(PADDING_LEN):
        raise InvalidCiphertextException()
    key_id = envelope[2 : 2 + id_len].decode("ascii", "replace")
    at = 2 + KEY_ID_FIELD
    account_id = envelope[at : at + ACCOUNT_LEN].decode("ascii", "replace")
    at += ACCOUNT_LEN
    material_id = envelope[at : at + MATERIAL_ID_LEN].hex()
    at += MATERIAL_ID_LEN
    iv, body = envelope[at : at + IV_LEN], envelope[at + IV_LEN : -PADDING_LEN]
    if not KEY_ID.match(key_id) or not account_id.isdigit() or len(body) < TAG_LEN:
        raise InvalidCiphertextException()
    return Sealed(key_id, account_id, material_id, iv, body, _inner_aad(account_id, key_id, material_id))


def _parse_legacy(blob: bytes) -> Sealed:
    """The workshop's earlier format: version 0x01, key id length, key id, IV, tag, body."""
    if len(blob) < 2 or blob[0] != _LEGACY_VERSION:
        raise InvalidCiphertextException()
    header_len = 2 + blob[1]
    if len(blob) < header_len + IV_LEN + TAG_LEN:
        raise InvalidCiphertextException()
    key_id = blob[2:header_len].decode("ascii", "replace")
    if not KEY_ID.match(key_id):
        raise InvalidCiphertextException()
    iv, tag, body = (
        blob[header_len : header_len + IV_LEN],
        blob[header_len + IV_LEN : header_len + IV_LEN + TAG_LEN],
        blob[header_len + IV_LEN + TAG_LEN :],
    )
    return Sealed(key_id, None, None, iv, body + tag, _LEGACY_LABEL + blob[:header_len])


def open_body(sealed: Sealed, material: bytes, context: dict[str, str] | None) -> bytes:
    """The plaintext; a wrong context or material fails like any tampering."""
    try:
        return AESGCM(material).decrypt(sealed.iv, sealed.body, sealed.aad_prefix + canonical_context(context))
    except (InvalidTag, ValueError, TypeError):
        raise InvalidCiphertextException() from None
