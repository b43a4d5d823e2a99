"""Envelope encryption with KMS data keys, in the AWS Encryption SDK message format.

The files and bytes this writes are AWS Encryption SDK messages (format version 2,
framed, key-committing), the format of every official SDK (Python, Java, JavaScript, C,
.NET) and of the aws-encryption-cli; the tests decrypt this package's messages with the
Python SDK and the CLI, and theirs with this. docs/envelope-format.md has the layout as
written here, byte by byte, and the threat model.

- `encrypt_*`: one GenerateDataKey per message (AES_256, with the encryption context),
  suite 0x0478 (AES-256-GCM, HKDF-SHA512, key commitment) or, with `signed=True`, 0x0578
  (the same plus an ECDSA P-384 signature, whose public key the SDK keeps in the context
  under `aws-crypto-public-key`). One AWS KMS encrypted data key, 1 MiB frames.
- `decrypt_*`: strict by default: `key_id` names the KMS key (an ARN, or an alias or key
  id resolved through DescribeKey); a message under any other key is refused before KMS
  is asked anything. `discovery=Discovery(accounts=[...])` instead accepts any KMS key of
  those accounts, on explicit request only. The caller's expected encryption context must
  match exactly (the signed suite's public key aside). Then Decrypt naming the key, the
  key commitment, the header tag, every frame, the signature; the message must end
  exactly there.

Problems with the message raise an `EnvelopeError` subclass, one line saying what is
wrong; KMS refusals stay botocore `ClientError`s, code and all. `decrypt_file` shows its
output only once the whole message verified; on Linux no named file holds unverified
plaintext even if the process is killed (see outputs.py).
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from typing import Any, BinaryIO

from ..backend import require
from . import keys as _keys
from . import message as _fmt
from . import outputs as _outputs
from . import pipeline as _pipeline
from .anatomy import HEADER_ROW, Anatomy, Part, anatomy
from .keys import Discovery
from .message import (
    COMMITTING,
    COMMITTING_SIGNED,
    DEFAULT_FRAME_SIZE,
    MAX_ENCRYPTED_DATA_KEYS,
    MAX_FRAME_SIZE,
    MIN_FRAME_SIZE,
    PUBLIC_KEY_CONTEXT_KEY,
    TAG_BYTES,
    EncryptedDataKey,
    Header,
    Suite,
    serialize_context,
)
from .refusals import (
    AuthenticationError,
    ContextError,
    ContextMismatchError,
    EnvelopeError,
    FrameError,
    HeaderError,
    KeyCommitmentError,
    KeyMismatchError,
    KeyRequiredError,
    LimitExceededError,
    NotAnEnvelopeError,
    SignatureError,
    TamperedError,
    TrailingDataError,
    TruncatedError,
    UnsupportedAlgorithmError,
    UnsupportedVersionError,
)

__all__ = [
    "Anatomy",
    "AuthenticationError",
    "COMMITTING",
    "COMMITTING_SIGNED",
    "ContextError",
    "ContextMismatchError",
    "DEFAULT_FRAME_SIZE",
    "Discovery",
    "EncryptedDataKey",
    "EnvelopeError",
    "FrameError",
    "HEADER_ROW",
    "Header",
    "HeaderError",
    "KeyCommitmentError",
    "KeyMismatchError",
    "KeyRequiredError",
    "LimitExceededError",
    "MAX_ENCRYPTED_DATA_KEYS",
    "MAX_FRAME_SIZE",
    "MIN_FRAME_SIZE",
    "NotAnEnvelopeError",
    "PUBLIC_KEY_CONTEXT_KEY",
    "Part",
    "SignatureError",
    "Suite",
    "TAG_BYTES",
    "TamperedError",
    "TrailingDataError",
    "TruncatedError",
    "UnsupportedAlgorithmError",
    "UnsupportedVersionError",
    "anatomy",
    "decrypt_bytes",
    "decrypt_file",
    "encrypt_bytes",
    "encrypt_file",
    "read_header",
    "serialize_context",
]

Progress = Callable[[int, int], Any]


def _kms(kms_client):
    if kms_client is not None:
        return kms_client
    return require().client("kms")


def _check_frame_size(frame_size: int) -> None:
    if (
        not isinstance(frame_size, int)
        or isinstance(frame_size, bool)
        or not _fmt.MIN_FRAME_SIZE <= frame_size <= _fmt.MAX_FRAME_SIZE
        or frame_size % 16
    ):
        raise LimitExceededError(
            f"frame_size must be a multiple of 16 in {_fmt.MIN_FRAME_SIZE}..{_fmt.MAX_FRAME_SIZE}, not {frame_size!r}"
        )


def _context_difference(expected: Mapping[str, str], found: Mapping[str, str]) -> str:
    """What differs, in words. Contexts are not secret (CloudTrail logs them), so show them."""
    parts = []
    for key in sorted(expected.keys() - found.keys()):
        parts.append(f"missing {key}={expected[key]}")
    for key in sorted(found.keys() - expected.keys()):
        parts.append(f"unexpected {key}={found[key]}")
    for key in sorted(expected.keys() & found.keys()):
        if expected[key] != found[key]:
            parts.append(f"{key} is {found[key]!r}, expected {expected[key]!r}")
    return "; ".join(parts)


# --- the two directions, on streams -------------------------------------------------------------


def _encrypt_stream(
    source: BinaryIO,
    open_sink,
    *,
    key_id: str,
    encryption_context,
    kms_client,
    frame_size: int,
    signed: bool,
    progress: Progress | None,
) -> None:
    _check_frame_size(frame_size)
    context = _fmt.checked_context(encryption_context)
    suite = _fmt.suite_for(signed)
    signer = _keys.Signer() if signed else None
    stored = dict(context, **{_fmt.PUBLIC_KEY_CONTEXT_KEY: signer.public_key}) if signer else context
    _fmt.serialize_context(stored)  # its bounds, before KMS is called
    data_key, key_arn, encrypted_key = _keys.generate(_kms(kms_client), key_id, stored)
    message_id = os.urandom(_fmt.MESSAGE_ID_BYTES)
    keys = _keys.derive_keys(data_key, message_id, suite)
    body = _fmt.header_body(
        suite,
        message_id,
        stored,
        [_fmt.EncryptedDataKey(_fmt.KMS_PROVIDER_ID, key_arn.encode("utf-8"), encrypted_key)],
        frame_size,
        keys.commitment,
    )
    header = body + _keys.header_tag(keys, body)
    with open_sink() as sink:
        _pipeline.encrypt_frames(source, sink, keys, header, message_id, frame_size, signer, progress)


def _decrypt_stream(
    source: BinaryIO,
    open_sink,
    *,
    encryption_context,
    key_id: str | None,
    kms_client,
    discovery: Discovery | None,
    require_signature: bool,
    max_frame_size: int,
    max_encrypted_data_keys: int,
    progress: Progress | None,
) -> Header:
    expected = _fmt.checked_context(encryption_context)
    _keys.check_choice(key_id, discovery)  # before reading anything
    header = _fmt.parse_header(source, max_encrypted_data_keys=max_encrypted_data_keys, max_frame_size=max_frame_size)
    if require_signature and not header.signed:
        raise SignatureError(f"the message is not signed (suite {header.suite}); a signed message was required")
    if header.encryption_context != expected:
        raise ContextMismatchError(
            "the encryption context does not match the message's: "
            + _context_difference(expected, header.encryption_context)
        )
    kms = _kms(kms_client)
    accepted = _keys.candidates(header, kms, key_id, discovery)
    keys = _keys.unwrap(header, kms, accepted)
    with open_sink() as sink:
        _pipeline.decrypt_frames(source, sink, keys, header, progress)
    return header


# --- public API -------------------------------------------------------------------------------------


def encrypt_bytes(
    data: bytes,
    *,
    key_id: str,
    encryption_context: Mapping[str, str],
    kms_client=None,
    frame_size: int = DEFAULT_FRAME_SIZE,
    signed: bool = False,
) -> bytes:
    """Encrypt `data` under a fresh data key from KMS key `key_id`; return the message."""
    out = _outputs.Collected()
    _encrypt_stream(
        io.BytesIO(data),
        out.open,
        key_id=key_id,
        encryption_context=encryption_context,
        kms_client=kms_client,
        frame_size=frame_size,
        signed=signed,
        progress=None,
    )
    return out.value()


def decrypt_bytes(
    blob: bytes,
    *,
    encryption_context: Mapping[str, str],
    key_id: str | None = None,
    kms_client=None,
    discovery: Discovery | None = None,
    require_signature: bool = False,
    max_frame_size: int = MAX_FRAME_SIZE,
    max_encrypted_data_keys: int = MAX_ENCRYPTED_DATA_KEYS,
) -> bytes:
    """Decrypt a message under KMS key `key_id` (or `discovery`); the context must match exactly."""
    out = _outputs.Collected()
    _decrypt_stream(
        io.BytesIO(blob),
        out.open,
        encryption_context=encryption_context,
        key_id=key_id,
        kms_client=kms_client,
        discovery=discovery,
        require_signature=require_signature,
        max_frame_size=max_frame_size,
        max_encrypted_data_keys=max_encrypted_data_keys,
        progress=None,
    )
    return out.value()


def encrypt_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    key_id: str,
    encryption_context: Mapping[str, str],
    kms_client=None,
    progress: Progress | None = None,
    frame_size: int = DEFAULT_FRAME_SIZE,
    signed: bool = False,
) -> None:
    """Encrypt file `src` into `dst`, atomically. `progress(bytes_read, src_size)` per frame."""
    with open(src, "rb", buffering=0) as source:
        _encrypt_stream(
            source,
            lambda: _outputs.atomic_output(dst, unnamed=False),
            key_id=key_id,
            encryption_context=encryption_context,
            kms_client=kms_client,
            frame_size=frame_size,
            signed=signed,
            progress=progress,
        )


def decrypt_file(
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    encryption_context: Mapping[str, str],
    key_id: str | None = None,
    kms_client=None,
    progress: Progress | None = None,
    discovery: Discovery | None = None,
    require_signature: bool = False,
    max_frame_size: int = MAX_FRAME_SIZE,
    max_encrypted_data_keys: int = MAX_ENCRYPTED_DATA_KEYS,
) -> Header:
    """Decrypt file `src` into `dst`; `dst` appears only once the whole message verified.

    Returns the (now verified) header. `progress(bytes_read, src_size)` is called per frame.
    """
    _keys.check_choice(key_id, discovery)
    with open(src, "rb", buffering=0) as source:
        return _decrypt_stream(
            source,
            lambda: _outputs.atomic_output(dst, unnamed=True),
            encryption_context=encryption_context,
            key_id=key_id,
            kms_client=kms_client,
            discovery=discovery,
            require_signature=require_signature,
            max_frame_size=max_frame_size,
            max_encrypted_data_keys=max_encrypted_data_keys,
            progress=progress,
        )


def read_header(
    source: bytes | bytearray | str | os.PathLike,
    *,
    max_frame_size: int = MAX_FRAME_SIZE,
    max_encrypted_data_keys: int = MAX_ENCRYPTED_DATA_KEYS,
) -> Header:
    """Parse the header of a message (bytes) or a file (path), without KMS.

    For display: nothing here is authenticated until decryption checks the header tag.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _fmt.parse_header(
            io.BytesIO(bytes(source)), max_frame_size=max_frame_size, max_encrypted_data_keys=max_encrypted_data_keys
        )
    with open(source, "rb") as stream:
        return _fmt.parse_header(stream, max_frame_size=max_frame_size, max_encrypted_data_keys=max_encrypted_data_keys)
