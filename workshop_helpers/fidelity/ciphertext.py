"""The workshop's own ciphertext blob format and how the encryption context is bound.

Real KMS blobs are opaque; this one is versioned and self-describing:

    version (1 byte, 0x01) | key id length (1 byte) | key id (ASCII) | IV (12) | tag (16) | body

The key id is stored whole, so Multi-Region ids (`mrk-...`, 40 characters) survive (moto
truncates them to 36). AES-256-GCM authenticates the header and the encryption context as
additional data, so neither can be swapped without InvalidCiphertextException.

The context is serialised unambiguously: sorted by key, every key and value prefixed by
its length. moto concatenates `key + value`, which lets {"ab": "c"} open a blob made
under {"a": "bc"}; here it cannot.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .exceptions import InvalidCiphertextException

FORMAT_VERSION = 1
IV_LEN = 12
TAG_LEN = 16
_AAD_LABEL = b"kms-workshop-ciphertext"
_KEY_ID = re.compile(r"^(mrk-)?[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


@dataclass(frozen=True)
class Blob:
    key_id: str
    header: bytes
    iv: bytes
    tag: bytes
    body: bytes


def canonical_context(context: dict[str, str] | None) -> bytes:
    """The encryption context as bytes that no other context produces."""
    items = sorted((context or {}).items(), key=lambda kv: kv[0].encode("utf-8"))
    out = [struct.pack(">I", len(items))]
    for key, value in items:
        for part in (key.encode("utf-8"), str(value).encode("utf-8")):
            out.append(struct.pack(">I", len(part)))
            out.append(part)
    return b"".join(out)


def _header(key_id: str) -> bytes:
    raw = key_id.encode("ascii")
    return bytes([FORMAT_VERSION, len(raw)]) + raw


def seal(key_id: str, material: bytes, plaintext: bytes, context: dict[str, str] | None) -> bytes:
    """Encrypt `plaintext` under the key's material, bound to `context`."""
    header = _header(key_id)
    iv = os.urandom(IV_LEN)
    sealed = AESGCM(material).encrypt(iv, plaintext, _AAD_LABEL + header + canonical_context(context))
    body, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
    return header + iv + tag + body


def parse(blob: bytes) -> Blob:
    """Split a blob into its parts; anything that is not one of ours is InvalidCiphertext."""
    if not isinstance(blob, (bytes, bytearray)) or len(blob) < 2 or blob[0] != FORMAT_VERSION:
        raise InvalidCiphertextException()
    id_len = blob[1]
    header_len = 2 + id_len
    if len(blob) < header_len + IV_LEN + TAG_LEN:
        raise InvalidCiphertextException()
    try:
        key_id = bytes(blob[2:header_len]).decode("ascii")
    except UnicodeDecodeError:
        raise InvalidCiphertextException() from None
    if not _KEY_ID.match(key_id):
        raise InvalidCiphertextException()
    rest = bytes(blob[header_len:])
    return Blob(key_id, bytes(blob[:header_len]), rest[:IV_LEN], rest[IV_LEN:IV_LEN + TAG_LEN], rest[IV_LEN + TAG_LEN:])


def open_blob(blob: Blob, material: bytes, context: dict[str, str] | None) -> bytes:
    """Decrypt a parsed blob; a wrong context, key material or any tampering fails alike."""
    try:
        return AESGCM(material).decrypt(
            blob.iv, blob.body + blob.tag, _AAD_LABEL + blob.header + canonical_context(context)
        )
    except (InvalidTag, ValueError):
        raise InvalidCiphertextException() from None
