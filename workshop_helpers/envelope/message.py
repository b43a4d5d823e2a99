"""The AWS Encryption SDK message format, version 2, as this package writes and reads it.

Pure layout: constants, the two algorithm suites, the encryption context's canonical
bytes, the header (built and parsed, every attacker-controlled length bounded before
anything is allocated for it) and the per-frame IVs and associated data. No KMS, no
threads, no files. docs/envelope-format.md has the same layout with offsets; the public
specification is github.com/awslabs/aws-encryption-sdk-specification (data-format/).
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from .refusals import (
    ContextError,
    HeaderError,
    LimitExceededError,
    NotAnEnvelopeError,
    TruncatedError,
    UnsupportedAlgorithmError,
    UnsupportedVersionError,
)

# --- constants of the format --------------------------------------------------------------

VERSION = 2
CONTENT_TYPE_FRAMED = 2
CONTENT_TYPE_NON_FRAMED = 1
MESSAGE_ID_BYTES = 32
DATA_KEY_BYTES = 32  # AES-256
COMMITMENT_BYTES = 32  # the suites' "algorithm suite data"
IV_BYTES = 12
TAG_BYTES = 16
KMS_PROVIDER_ID = "aws-kms"
PUBLIC_KEY_CONTEXT_KEY = "aws-crypto-public-key"  # the signed suite's verification key
RESERVED_CONTEXT_PREFIX = "aws-crypto-"  # keys the Encryption SDK keeps for itself
SEQUENCE_NUMBER_END = 0xFFFFFFFF  # the final frame's marker
FRAME_AAD_LABEL = b"AWSKMSEncryptionClient Frame"
FINAL_FRAME_AAD_LABEL = b"AWSKMSEncryptionClient Final Frame"
HEADER_IV = bytes(IV_BYTES)  # the header tag's IV is all zeros; frame IVs start at 1

# sequence number, IV | ciphertext | tag
REGULAR_FRAME_HEAD = struct.Struct(">I12s")
# sequence number end, sequence number, IV, content length | ciphertext | tag
FINAL_FRAME_HEAD = struct.Struct(">II12sI")
REGULAR_FRAME_OVERHEAD = REGULAR_FRAME_HEAD.size + TAG_BYTES  # 32
FINAL_FRAME_OVERHEAD = FINAL_FRAME_HEAD.size + TAG_BYTES  # 40
BODY_AAD_TAIL = struct.Struct(">IQ")  # sequence number, content length
FOOTER_LENGTH = struct.Struct(">H")

# Frame size: 1 MiB of plaintext per frame. Measured on the workshop's 2-core VM (the
# benchmark): at 4 KiB frames (the SDK's default) Python's per-frame work caps the
# engine near 1 GB/s; from 256 KiB up the cost per byte is flat and 1 MiB halves the
# thread hand-offs again. The frame overhead is 32 bytes per MiB (0.003 %); a reader
# holds a few frames in memory (about 7 MiB). Every official SDK reads frames of any
# size up to 2^31 - 1 bytes, the aws-encryption-cli included.
DEFAULT_FRAME_SIZE = 1024 * 1024

# --- bounds (a hostile message cannot make a reader allocate or loop beyond these) --------

MIN_FRAME_SIZE = 16  # what this package writes: a multiple of 16, as the SDK's encrypt requires
MAX_FRAME_SIZE = 8 * 1024 * 1024  # the reader's default cap (decrypt(max_frame_size=...))
MAX_CONTEXT_BYTES = 8192  # the serialized encryption context
MAX_PROVIDER_ID_BYTES = 255
MAX_PROVIDER_INFO_BYTES = 2048  # a key ARN is at most 2048 characters
MAX_ENCRYPTED_KEY_BYTES = 6144  # the largest CiphertextBlob KMS returns
MAX_ENCRYPTED_DATA_KEYS = 1  # the SDK's max_encrypted_data_keys, as a default
MAX_SIGNATURE_BYTES = 104  # a DER ECDSA P-384 signature is at most 104 bytes
MAX_FRAMES = 2**32 - 1  # sequence numbers are 32-bit and start at 1
MAX_MESSAGE_SIZE = 2**40  # plaintext bytes: 1 TiB


@dataclass(frozen=True)
class Suite:
    """An algorithm suite: AES-256-GCM, key and commitment from HKDF-SHA512, maybe ECDSA."""

    id: int
    name: str
    signed: bool

    @property
    def derive_info(self) -> bytes:
        """HKDF info of the data encryption key: the suite id, then "DERIVEKEY"."""
        return struct.pack(">H", self.id) + b"DERIVEKEY"

    def __str__(self) -> str:
        return f"0x{self.id:04X} {self.name}"


COMMITTING = Suite(0x0478, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", signed=False)
COMMITTING_SIGNED = Suite(0x0578, "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", signed=True)
SUITES = {suite.id: suite for suite in (COMMITTING, COMMITTING_SIGNED)}

# The version 1 suites, none key-committing: named in the refusal, never read.
_V1_SUITES = {
    0x0014: "AES_128_GCM_IV12_TAG16_NO_KDF",
    0x0046: "AES_192_GCM_IV12_TAG16_NO_KDF",
    0x0078: "AES_256_GCM_IV12_TAG16_NO_KDF",
    0x0114: "AES_128_GCM_IV12_TAG16_HKDF_SHA256",
    0x0146: "AES_192_GCM_IV12_TAG16_HKDF_SHA256",
    0x0178: "AES_256_GCM_IV12_TAG16_HKDF_SHA256",
    0x0214: "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256",
    0x0346: "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
    0x0378: "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384",
}


def suite_for(signed: bool) -> Suite:
    return COMMITTING_SIGNED if signed else COMMITTING


# --- encryption context -------------------------------------------------------------------


def checked_context(context: Any, *, allow_reserved: bool = False) -> dict[str, str]:
    """The caller's context as a dict, after checking it is one; reserved keys refused."""
    if not isinstance(context, Mapping):
        raise ContextError(
            f"the encryption context must be a mapping of strings to strings, not {type(context).__name__}"
        )
    for key, value in context.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise ContextError(f"encryption context entry {key!r}: {value!r} is not a pair of strings")
        if not key:
            raise ContextError("encryption context keys must not be empty")
        if not allow_reserved and key.startswith(RESERVED_CONTEXT_PREFIX):
            raise ContextError(
                f"encryption context key {key!r}: keys starting with {RESERVED_CONTEXT_PREFIX!r} are reserved "
                "for the AWS Encryption SDK (the signed suite stores its public key under "
                f"{PUBLIC_KEY_CONTEXT_KEY!r})"
            )
    return dict(context)


def _utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise ContextError(f"{what} {text!r} cannot be encoded as UTF-8") from None


def serialize_context(context: Mapping[str, str]) -> bytes:
    """The context's canonical bytes: empty for an empty context, else the pair count and
    the (key, value) pairs sorted by the keys' UTF-8 bytes, each with a 2-byte length."""
    pairs = sorted(
        (_utf8(k, "encryption context key"), _utf8(v, "encryption context value"))
        for k, v in checked_context(context, allow_reserved=True).items()
    )
    if not pairs:
        return b""
    parts = [struct.pack(">H", len(pairs))]
    for key, value in pairs:
        if len(key) > 0xFFFF or len(value) > 0xFFFF:
            raise LimitExceededError("an encryption context key or value is longer than 65535 bytes")
        parts += [struct.pack(">H", len(key)), key, struct.pack(">H", len(value)), value]
    serialized = b"".join(parts)
    if len(serialized) > MAX_CONTEXT_BYTES:
        raise LimitExceededError(
            f"the encryption context takes {len(serialized)} bytes; at most {MAX_CONTEXT_BYTES} are allowed"
        )
    return serialized


def _parse_context(raw: bytes) -> dict[str, str]:
    """The pairs of a serialized context, which must be canonical (sorted, unique)."""
    if not raw:
        return {}
    cursor = _Cursor(raw)
    count = cursor.u16("encryption context pair count")
    if count == 0:
        raise HeaderError("the header's encryption context has a pair count of 0 but is not empty")
    context: dict[str, str] = {}
    previous: bytes | None = None
    for _ in range(count):
        key = cursor.take(cursor.u16("encryption context key length"), "encryption context key")
        value = cursor.take(cursor.u16("encryption context value length"), "encryption context value")
        if not key:
            raise HeaderError("the header's encryption context has an empty key")
        if previous is not None and key <= previous:
            raise HeaderError("the header's encryption context is not sorted or repeats a key")
        previous = key
        try:
            context[key.decode("utf-8")] = value.decode("utf-8")
        except UnicodeDecodeError:
            raise HeaderError("the header's encryption context is not valid UTF-8") from None
    if cursor.position != len(raw):
        raise HeaderError(f"the header's encryption context has {len(raw) - cursor.position} unexplained bytes")
    return context


class _Cursor:
    """Reads fields from bytes already in memory, never past their end."""

    def __init__(self, raw: bytes):
        self.raw, self.position = raw, 0

    def take(self, size: int, what: str) -> bytes:
        end = self.position + size
        if end > len(self.raw):
            raise HeaderError(f"the header's {what} runs past the end of its field")
        chunk = self.raw[self.position : end]
        self.position = end
        return chunk

    def u16(self, what: str) -> int:
        return struct.unpack(">H", self.take(2, what))[0]


# --- the header -----------------------------------------------------------------------------


@dataclass(frozen=True)
class EncryptedDataKey:
    """One encrypted data key entry: for AWS KMS, provider "aws-kms" and the key ARN."""

    provider_id: str
    provider_info: bytes
    ciphertext: bytes

    @property
    def key_arn(self) -> str | None:
        """The KMS key ARN, for an AWS KMS entry whose provider info is UTF-8."""
        if self.provider_id != KMS_PROVIDER_ID:
            return None
        try:
            return self.provider_info.decode("utf-8")
        except UnicodeDecodeError:
            return None

    def serialize(self) -> bytes:
        provider = self.provider_id.encode("utf-8")
        return b"".join(
            [
                struct.pack(">H", len(provider)),
                provider,
                struct.pack(">H", len(self.provider_info)),
                self.provider_info,
                struct.pack(">H", len(self.ciphertext)),
                self.ciphertext,
            ]
        )


@dataclass(frozen=True)
class Field:
    """Where one header field sits in the message: for notebooks and the format's tests."""

    offset: int
    size: int
    name: str
    value: Any


@dataclass(frozen=True)
class Header:
    """A parsed header. Nothing in it is authenticated until decryption checked the key
    commitment and the header tag."""

    suite: Suite
    message_id: bytes
    stored_context: dict[str, str]  # every pair in the header, the SDK's public key included
    encrypted_data_keys: tuple[EncryptedDataKey, ...]
    frame_size: int
    commitment: bytes
    tag: bytes
    raw: bytes  # the header body and its tag: the first bytes the signature covers
    fields: tuple[Field, ...] = field(default=(), repr=False, compare=False)
    version: int = VERSION
    content_type: int = CONTENT_TYPE_FRAMED

    @property
    def body(self) -> bytes:
        """The header body: the bytes the header tag authenticates."""
        return self.raw[:-TAG_BYTES]

    @property
    def signed(self) -> bool:
        return self.suite.signed

    @property
    def encryption_context(self) -> dict[str, str]:
        """The caller's encryption context: the stored one without the SDK's public key."""
        return {k: v for k, v in self.stored_context.items() if not (self.signed and k == PUBLIC_KEY_CONTEXT_KEY)}

    @property
    def public_key(self) -> str | None:
        """The signed suite's verification key (a compressed P-384 point, base64), else None."""
        return self.stored_context.get(PUBLIC_KEY_CONTEXT_KEY) if self.signed else None

    @property
    def kms_keys(self) -> tuple[EncryptedDataKey, ...]:
        return tuple(edk for edk in self.encrypted_data_keys if edk.provider_id == KMS_PROVIDER_ID)

    @property
    def key_arn(self) -> str | None:
        """The KMS key ARN of the (first) AWS KMS encrypted data key."""
        for edk in self.kms_keys:
            if edk.key_arn:
                return edk.key_arn
        return None

    @property
    def encrypted_data_key(self) -> bytes | None:
        """The (first) AWS KMS encrypted data key: GenerateDataKey's CiphertextBlob."""
        for edk in self.kms_keys:
            return edk.ciphertext
        return None


def header_body(
    suite: Suite,
    message_id: bytes,
    stored_context: Mapping[str, str],
    encrypted_data_keys: list[EncryptedDataKey],
    frame_size: int,
    commitment: bytes,
) -> bytes:
    """The version 2 header body, without its tag."""
    context = serialize_context(stored_context)
    return b"".join(
        [
            struct.pack(">BH", VERSION, suite.id),
            message_id,
            struct.pack(">H", len(context)),
            context,
            struct.pack(">H", len(encrypted_data_keys)),
            *(edk.serialize() for edk in encrypted_data_keys),
            struct.pack(">BI", CONTENT_TYPE_FRAMED, frame_size),
            commitment,
        ]
    )


class _HeaderReader:
    """Reads header fields straight from the stream, each bounded before it is read."""

    def __init__(self, source: BinaryIO):
        self.source = source
        self.parts: list[bytes] = []
        self.fields: list[Field] = []
        self.position = 0

    def take(self, size: int, name: str, value: Any = None) -> bytes:
        data = read_exact(self.source, size)
        if len(data) < size:
            raise TruncatedError(f"the message ends inside its header ({name})")
        self.fields.append(Field(self.position, size, name, data if value is None else value))
        self.parts.append(data)
        self.position += size
        return data

    def number(self, fmt: str, name: str) -> int:
        size = struct.calcsize(fmt)
        data = read_exact(self.source, size)
        if len(data) < size:
            raise TruncatedError(f"the message ends inside its header ({name})")
        value = struct.unpack(fmt, data)[0]
        self.fields.append(Field(self.position, size, name, value))
        self.parts.append(data)
        self.position += size
        return value

    def bounded(self, name: str, limit: int, what: str, *, minimum: int = 0) -> int:
        size = self.number(">H", f"{name} length")
        if size > limit:
            raise LimitExceededError(f"the header's {what} is {size} bytes; at most {limit} are accepted")
        if size < minimum:
            raise HeaderError(f"the header's {what} is empty")
        return size


def _refuse_start(first: bytes, source: BinaryIO) -> None:
    """The first byte is not 2: say what the input is, in one line."""
    if not first:
        raise NotAnEnvelopeError("not an envelope: this is not an AWS Encryption SDK message, it is empty")
    if first == b"\x01":
        rest = read_exact(source, 3)
        if len(rest) == 3 and rest[0] == 0x80:
            suite_id = struct.unpack(">H", rest[1:3])[0]
            name = _V1_SUITES.get(suite_id, "an unknown suite")
            raise UnsupportedVersionError(
                f"this is an AWS Encryption SDK message of format version 1 (suite 0x{suite_id:04X} {name}), "
                "which is not key-committing: refused, as the SDK's default commitment policy "
                "REQUIRE_ENCRYPT_REQUIRE_DECRYPT refuses it; encrypt the data again with a committing suite"
            )
    if first == b"K" and read_exact(source, 3) == b"WEF":
        raise NotAnEnvelopeError(
            "this is a KWEF file from an earlier version of the workshop; the envelope helper now writes and "
            "reads the AWS Encryption SDK message format only: encrypt the original file again"
        )
    raise NotAnEnvelopeError(
        f"not an envelope: this is not an AWS Encryption SDK message (it starts with byte 0x{first[0]:02X}, "
        "not the version 0x02)"
    )


def parse_header(
    source: BinaryIO,
    *,
    max_encrypted_data_keys: int = MAX_ENCRYPTED_DATA_KEYS,
    max_frame_size: int = MAX_FRAME_SIZE,
) -> Header:
    """Read and parse a version 2 header from `source`, leaving it at the first frame."""
    first = read_exact(source, 1)
    if first != b"\x02":
        _refuse_start(first, source)
    reader = _HeaderReader(source)
    reader.parts.append(first)
    reader.fields.append(Field(0, 1, "version", VERSION))
    reader.position = 1
    suite_id = reader.number(">H", "algorithm suite id")
    suite = SUITES.get(suite_id)
    if suite is None:
        known = ", ".join(str(s) for s in SUITES.values())
        raise UnsupportedAlgorithmError(
            f"algorithm suite 0x{suite_id:04X} is not supported in a version 2 message: this code reads {known}"
        )
    message_id = reader.take(MESSAGE_ID_BYTES, "message id")
    context_size = reader.bounded("encryption context", MAX_CONTEXT_BYTES, "encryption context")
    context_start = reader.position
    context = _parse_context(reader.take(context_size, "encryption context"))
    reader.fields[-1] = Field(context_start, context_size, "encryption context", context)
    count = reader.number(">H", "encrypted data key count")
    if count == 0:
        raise HeaderError("the header has no encrypted data key")
    if count > max_encrypted_data_keys:
        raise LimitExceededError(
            f"the message has {count} encrypted data keys; at most {max_encrypted_data_keys} are accepted "
            "(max_encrypted_data_keys)"
        )
    keys = []
    for index in range(1, count + 1):
        size = reader.bounded(f"key {index} provider id", MAX_PROVIDER_ID_BYTES, "key provider id", minimum=1)
        try:
            provider = reader.take(size, f"key {index} provider id").decode("utf-8")
        except UnicodeDecodeError:
            raise HeaderError("the header's key provider id is not valid UTF-8") from None
        size = reader.bounded(f"key {index} provider info", MAX_PROVIDER_INFO_BYTES, "key provider info")
        info = reader.take(size, f"key {index} provider info")
        size = reader.bounded(
            f"key {index} encrypted data key", MAX_ENCRYPTED_KEY_BYTES, "encrypted data key", minimum=1
        )
        keys.append(EncryptedDataKey(provider, info, reader.take(size, f"key {index} encrypted data key")))
    content_type = reader.number(">B", "content type")
    if content_type == CONTENT_TYPE_NON_FRAMED:
        raise UnsupportedAlgorithmError(
            "non-framed messages (content type 1) are not supported: encrypt with frames, the SDK's default"
        )
    if content_type != CONTENT_TYPE_FRAMED:
        raise HeaderError(f"the header's content type {content_type} is unknown (2 is framed)")
    frame_size = reader.number(">I", "frame length")
    if frame_size == 0:
        raise HeaderError("the header's frame length is 0 in a framed message")
    if frame_size > max_frame_size:
        raise LimitExceededError(
            f"the header's frame length is {frame_size} bytes; at most {max_frame_size} are accepted (max_frame_size)"
        )
    commitment = reader.take(COMMITMENT_BYTES, "key commitment")
    tag = reader.take(TAG_BYTES, "header tag")
    header = Header(
        suite,
        message_id,
        context,
        tuple(keys),
        frame_size,
        commitment,
        tag,
        b"".join(reader.parts),
        tuple(reader.fields),
    )
    _check_public_key_entry(header)
    return header


def _check_public_key_entry(header: Header) -> None:
    """The signed suite needs its verification key in the context, the other none (as the SDK)."""
    value = header.stored_context.get(PUBLIC_KEY_CONTEXT_KEY)
    if not header.signed:
        if value is not None:
            raise HeaderError(f"an unsigned message carries {PUBLIC_KEY_CONTEXT_KEY!r} in its encryption context")
        return
    if value is None:
        raise HeaderError(f"a signed message lacks {PUBLIC_KEY_CONTEXT_KEY!r} in its encryption context")
    load_public_key(value)


def load_public_key(value: str):
    """The P-384 verification key from the context's base64 compressed point."""
    try:
        point = base64.b64decode(value.encode("ascii"), validate=True)
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP384R1(), point)
    except (ValueError, UnicodeEncodeError, binascii.Error):
        raise HeaderError(f"the header's {PUBLIC_KEY_CONTEXT_KEY!r} is not a P-384 public key") from None


def encode_public_key(public_key) -> str:
    """A P-384 public key as the SDK stores it: the compressed point, base64."""
    point = public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    return base64.b64encode(point).decode("ascii")


# --- frames ---------------------------------------------------------------------------------


def frame_iv(sequence_number: int) -> bytes:
    """A frame's IV: its sequence number, big-endian, padded with zeros to 12 bytes."""
    return bytes(8) + struct.pack(">I", sequence_number)


def body_aad(message_id: bytes, sequence_number: int, length: int, final: bool) -> bytes:
    """A frame's associated data: message id, label, sequence number, plaintext length."""
    label = FINAL_FRAME_AAD_LABEL if final else FRAME_AAD_LABEL
    return message_id + label + BODY_AAD_TAIL.pack(sequence_number, length)


# --- reading helpers --------------------------------------------------------------------------


def read_fully(source: BinaryIO, view: memoryview) -> int:
    """readinto until `view` is full or the input ends (pipes and sockets read short)."""
    filled = 0
    while filled < len(view):
        count = source.readinto(view[filled:])  # type: ignore[attr-defined]  # typing.BinaryIO omits it; files have it
        if not count:
            break
        filled += count
    return filled


def read_exact(source: BinaryIO, size: int) -> bytes:
    """Up to `size` bytes (fewer only at the end of the input)."""
    buffer = bytearray(size)
    return bytes(buffer[: read_fully(source, memoryview(buffer))])
