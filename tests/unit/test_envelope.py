"""workshop_helpers.envelope: the AWS Encryption SDK message format as written and read here.

Round trips of both suites, the layout checked against the specification independently of
the package, what goes to KMS, strict keys and discovery, contexts, the tamper battery
(every byte flipped three ways, every truncation, appended bytes, frames reordered,
dropped or spliced), forgery by a Decrypt holder (what the signed suite closes), bounds,
atomic outputs (the unnamed file, SIGKILL), progress and errors.

Runs against in-process moto with plain create_key() keys. Most messages use tiny frames
(FRAME bytes) so that "many frames" and "every byte flipped" stay cheap. The official SDK
both ways is in test_envelope_interop.py.
"""

from __future__ import annotations

import base64
import errno
import hashlib
import os
import re
import signal
import struct
import subprocess
import sys
import textwrap
import threading
import tracemalloc
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import workshop_helpers
from workshop_helpers import envelope
from workshop_helpers.envelope import (
    AuthenticationError,
    ContextError,
    ContextMismatchError,
    Discovery,
    EnvelopeError,
    FrameError,
    HeaderError,
    KeyCommitmentError,
    KeyMismatchError,
    KeyRequiredError,
    LimitExceededError,
    NotAnEnvelopeError,
    SignatureError,
    TrailingDataError,
    TruncatedError,
    UnsupportedAlgorithmError,
    UnsupportedVersionError,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    read_header,
)
from workshop_helpers.envelope import message as fmt
from workshop_helpers.errors import WorkshopError

ROOT = Path(__file__).resolve().parents[2]
FRAME = 32
CONTEXT = {"project": "workshop", "purpose": "tests"}
REGULAR = 4 + 12 + FRAME + 16  # sequence number, IV, ciphertext, tag
SUITES = {"0x0478": False, "0x0578": True}
TAMPER_COUNT: dict[str, int] = {}  # tampered messages tried, by test: for the README's figure


# --- fixtures and helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def kms():
    return workshop_helpers.connect("moto").client("kms")


@pytest.fixture(scope="module")
def key_arn(kms):
    return kms.create_key(Description="envelope tests")["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def other_key_arn(kms):
    return kms.create_key(Description="envelope tests, another key")["KeyMetadata"]["Arn"]


class KmsSpy:
    """Wraps a KMS client: records the calls, keeps the data keys, can lie about them."""

    def __init__(self, client, *, swap_data_key: bool = False):
        self.client = client
        self.calls: list[tuple[str, dict]] = []
        self.data_keys: list[bytes] = []
        self.swap_data_key = swap_data_key

    def generate_data_key(self, **kwargs):
        self.calls.append(("GenerateDataKey", kwargs))
        response = self.client.generate_data_key(**kwargs)
        self.data_keys.append(response["Plaintext"])
        return response

    def decrypt(self, **kwargs):
        self.calls.append(("Decrypt", kwargs))
        response = self.client.decrypt(**kwargs)
        self.data_keys.append(response["Plaintext"])
        if self.swap_data_key:
            response["Plaintext"] = os.urandom(len(response["Plaintext"]))
        return response

    def describe_key(self, **kwargs):
        self.calls.append(("DescribeKey", kwargs))
        return self.client.describe_key(**kwargs)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def seal(kms, key_arn, data: bytes, context=CONTEXT, frame_size=FRAME, signed=False) -> bytes:
    return encrypt_bytes(
        data, key_id=key_arn, encryption_context=context, kms_client=kms, frame_size=frame_size, signed=signed
    )


def unseal(kms, blob: bytes, context=CONTEXT, key_id=None, **kwargs) -> bytes:
    if key_id is None and "discovery" not in kwargs:
        key_id = read_header(blob).key_arn if blob[:1] == b"\x02" else "alias/none"
    return decrypt_bytes(blob, encryption_context=context, kms_client=kms, key_id=key_id, **kwargs)


def flip(blob: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(blob)
    changed[position] ^= mask
    return bytes(changed)


class Layout:
    """A message split by the specification alone (data-format/message-*.md), not the package."""

    def __init__(self, blob: bytes):
        self.blob = blob
        self.fields: dict[str, tuple[int, int]] = {}
        p = 0

        def field(name, size):
            nonlocal p
            self.fields[name] = (p, p + size)
            p += size
            return blob[p - size : p]

        assert field("version", 1) == b"\x02"
        self.suite = struct.unpack(">H", field("suite", 2))[0]
        self.message_id = field("message id", 32)
        aad_length = struct.unpack(">H", field("aad length", 2))[0]
        aad = field("encryption context", aad_length)
        self.context = {}
        if aad_length:
            q, count = 2, struct.unpack(">H", aad[:2])[0]
            for _ in range(count):
                kl = struct.unpack(">H", aad[q : q + 2])[0]
                k = aad[q + 2 : q + 2 + kl]
                q += 2 + kl
                vl = struct.unpack(">H", aad[q : q + 2])[0]
                self.context[k.decode()] = aad[q + 2 : q + 2 + vl].decode()
                q += 2 + vl
        assert struct.unpack(">H", field("edk count", 2))[0] == 1
        for part in ("provider id", "provider info", "encrypted data key"):
            size = struct.unpack(">H", field(f"{part} length", 2))[0]
            value = field(part, size)
            setattr(self, part.replace(" ", "_"), value)
        assert field("content type", 1) == b"\x02"
        self.frame_size = struct.unpack(">I", field("frame length", 4))[0]
        self.commitment = field("key commitment", 32)
        self.tag = field("header tag", 16)
        self.header = blob[:p]
        self.frames: list[tuple[int, int, bool]] = []  # (start, end, final)
        while True:
            first = struct.unpack(">I", blob[p : p + 4])[0]
            if first == 0xFFFFFFFF:
                length = struct.unpack(">I", blob[p + 20 : p + 24])[0]
                self.frames.append((p, p + 40 + length, True))
                p += 40 + length
                break
            self.frames.append((p, p + 32 + self.frame_size, False))
            p += 32 + self.frame_size
        self.body_end = p
        self.footer = blob[p:]

    def frame(self, index: int) -> bytes:
        start, end, _ = self.frames[index]
        return self.blob[start:end]


def independent_decrypt(blob: bytes, data_key: bytes) -> bytes:
    """Decrypt a message from the specification alone, with the data key KMS handed out.

    If this works, the frames really are encrypted under (a key derived from) that data
    key, the layout is the documented one, and so is every derivation.
    """
    m = Layout(blob)
    info = struct.pack(">H", m.suite) + b"DERIVEKEY"
    key = HKDF(hashes.SHA512(), 32, salt=m.message_id, info=info).derive(data_key)
    commitment = HKDF(hashes.SHA512(), 32, salt=m.message_id, info=b"COMMITKEY").derive(data_key)
    assert commitment == m.commitment, "key commitment does not match: wrong data key"
    aead = AESGCM(key)
    aead.decrypt(bytes(12), m.tag, m.header[:-16])  # header tag, IV of zeros
    plain = []
    for index, (start, end, final) in enumerate(m.frames):
        seq = index + 1
        frame = blob[start:end]
        if final:
            assert frame[4:8] == struct.pack(">I", seq)
            iv, length, body = frame[8:20], struct.unpack(">I", frame[20:24])[0], frame[24:]
            label = b"AWSKMSEncryptionClient Final Frame"
        else:
            assert frame[:4] == struct.pack(">I", seq)
            iv, length, body = frame[4:16], m.frame_size, frame[16:]
            label = b"AWSKMSEncryptionClient Frame"
        assert iv == bytes(8) + struct.pack(">I", seq)
        plain.append(aead.decrypt(iv, body, m.message_id + label + struct.pack(">IQ", seq, length)))
    if m.suite == 0x0578:
        public = ec.EllipticCurvePublicKey.from_encoded_point(
            ec.SECP384R1(), base64.b64decode(m.context["aws-crypto-public-key"])
        )
        size = struct.unpack(">H", m.footer[:2])[0]
        assert len(m.footer) == 2 + size
        digest = hashlib.sha384(blob[: m.body_end]).digest()
        public.verify(m.footer[2:], digest, ec.ECDSA(Prehashed(hashes.SHA384())))
    else:
        assert m.footer == b""
    return b"".join(plain)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("signed", SUITES.values(), ids=SUITES.keys())
@pytest.mark.parametrize("size", [0, 1, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME, 9 * FRAME + 7, 40 * FRAME])
def test_bytes_round_trip_from_empty_to_many_frames(kms, key_arn, size, signed):
    data = os.urandom(size)
    blob = seal(kms, key_arn, data, signed=signed)
    assert unseal(kms, blob) == data
    layout = Layout(blob)
    # full regular frames, then a final frame of 1..FRAME bytes (0 only when empty): the
    # specification's SHOULD for a plaintext that is a multiple of the frame size
    assert len(layout.frames) == max(1, -(-size // FRAME))
    assert layout.suite == (0x0578 if signed else 0x0478)


@pytest.mark.parametrize("signed", SUITES.values(), ids=SUITES.keys())
@pytest.mark.parametrize("size", [0, 5, 3 * FRAME, 3 * FRAME + 1])
def test_file_round_trip(kms, key_arn, tmp_path, size, signed):
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    encrypt_file(
        tmp_path / "plain",
        tmp_path / "sealed",
        key_id=key_arn,
        encryption_context=CONTEXT,
        kms_client=kms,
        frame_size=FRAME,
        signed=signed,
    )
    header = decrypt_file(
        tmp_path / "sealed", tmp_path / "opened", encryption_context=CONTEXT, key_id=key_arn, kms_client=kms
    )
    assert (tmp_path / "opened").read_bytes() == data
    assert header.signed is signed and header.encryption_context == CONTEXT
    assert leftovers(tmp_path) == []


def test_default_frame_size_round_trip_over_several_frames(kms, key_arn, tmp_path):
    data = os.urandom(2 * envelope.DEFAULT_FRAME_SIZE + 12345)
    (tmp_path / "plain").write_bytes(data)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed", key_id=key_arn, encryption_context=CONTEXT, kms_client=kms)
    decrypt_file(tmp_path / "sealed", tmp_path / "opened", encryption_context=CONTEXT, key_id=key_arn, kms_client=kms)
    assert (tmp_path / "opened").read_bytes() == data
    assert read_header(tmp_path / "sealed").frame_size == envelope.DEFAULT_FRAME_SIZE == 1024 * 1024


def test_empty_and_unicode_contexts_round_trip(kms, key_arn):
    for context in ({}, {"projet": "atelier é", "ключ": "значение", "z": ""}):
        for signed in (False, True):
            assert unseal(kms, seal(kms, key_arn, b"hello", context, signed=signed), context) == b"hello"
    assert Layout(seal(kms, key_arn, b"x", {})).fields["encryption context"] == (37, 37)  # length 0, no bytes


def test_alias_and_key_id_forms_work_on_both_sides(kms, key_arn):
    alias = "alias/envelope-tests-roundtrip"
    kms.create_alias(AliasName=alias, TargetKeyId=key_arn)
    blob = seal(kms, alias, b"via alias")
    assert read_header(blob).key_arn == key_arn  # the header holds the ARN, not the alias
    key_id = key_arn.split("/")[-1]
    for named in (alias, key_arn, key_id, key_arn.replace(":key/" + key_id, ":" + alias)):
        assert unseal(kms, blob, key_id=named) == b"via alias"


def test_same_plaintext_gives_different_messages_and_frames(kms, key_arn):
    data = bytes(4 * FRAME)  # four identical frames
    first, second = seal(kms, key_arn, data), seal(kms, key_arn, data)
    assert first != second
    layout = Layout(first)
    bodies = [layout.frame(i)[16:] for i in range(3)]
    assert len(set(bodies)) == 3  # a unique IV per frame


# --- the layout, checked against the specification ------------------------------------------------


@pytest.mark.parametrize("signed", SUITES.values(), ids=SUITES.keys())
def test_layout_is_the_specifications(kms, key_arn, signed):
    spy = KmsSpy(kms)
    data = os.urandom(7 * FRAME + 3)
    blob = seal(spy, key_arn, data, signed=signed)
    layout = Layout(blob)
    assert layout.provider_id == b"aws-kms" and layout.provider_info == key_arn.encode()
    assert (layout.frame_size, len(layout.message_id)) == (FRAME, 32)
    assert ("aws-crypto-public-key" in layout.context) is signed
    if signed:
        assert len(base64.b64decode(layout.context["aws-crypto-public-key"])) == 49  # a compressed P-384 point
        assert struct.unpack(">H", layout.footer[:2])[0] == 103  # the SDK's fixed signature length
    header = read_header(blob)
    assert header.raw == layout.header and header.encryption_context == CONTEXT
    assert {f.name: (f.offset, f.offset + f.size) for f in header.fields}["key commitment"] == layout.fields[
        "key commitment"
    ]


def test_frames_decrypt_independently_with_the_data_key_kms_handed_out(kms, key_arn):
    for signed in (False, True):
        spy = KmsSpy(kms)
        data = os.urandom(7 * FRAME + 3)
        blob = seal(spy, key_arn, data, signed=signed)
        assert independent_decrypt(blob, spy.data_keys[0]) == data
        with pytest.raises(AssertionError, match="commitment"):
            independent_decrypt(blob, os.urandom(32))


def test_anatomy_names_every_byte(kms, key_arn):
    for signed in (False, True):
        blob = seal(kms, key_arn, os.urandom(5 * FRAME + 3), signed=signed)
        parts = envelope.anatomy(blob).parts
        covered = 0
        for part in parts:
            assert part.offset == covered, part
            covered += part.size
        assert covered == len(blob)
        names = [p.name for p in parts]
        assert "key commitment" in names and "final frame 6: authentication tag" in names
        assert ("footer: signature" in names) is signed
    assert envelope.anatomy(blob + b"junk").parts[-1].name == "trailing bytes"


# --- what is sent to KMS ----------------------------------------------------------------


def test_one_generate_data_key_per_message_with_aes_256_and_the_context(kms, key_arn):
    spy = KmsSpy(kms)
    blob = seal(spy, key_arn, os.urandom(10 * FRAME))
    assert spy.calls == [("GenerateDataKey", {"KeyId": key_arn, "KeySpec": "AES_256", "EncryptionContext": CONTEXT})]
    header = read_header(blob)
    assert (header.key_arn, header.encryption_context, header.frame_size) == (key_arn, CONTEXT, FRAME)
    assert header.encrypted_data_key == Layout(blob).encrypted_data_key


def test_the_signed_suite_binds_its_public_key_to_the_data_key(kms, key_arn):
    spy = KmsSpy(kms)
    blob = seal(spy, key_arn, b"signed", signed=True)
    header = read_header(blob)
    sent = spy.calls[0][1]["EncryptionContext"]
    assert sent == {**CONTEXT, "aws-crypto-public-key": header.public_key} == header.stored_context
    spy.calls.clear()
    unseal(spy, blob)
    assert spy.calls == [
        (
            "Decrypt",
            {"CiphertextBlob": header.encrypted_data_key, "KeyId": key_arn, "EncryptionContext": header.stored_context},
        )
    ]


def test_decrypt_names_the_key_explicitly_and_passes_the_context(kms, key_arn):
    blob = seal(kms, key_arn, b"data")
    spy = KmsSpy(kms)
    unseal(spy, blob, key_id=key_arn)
    header = read_header(blob)
    assert spy.calls == [
        ("Decrypt", {"CiphertextBlob": header.encrypted_data_key, "KeyId": key_arn, "EncryptionContext": CONTEXT})
    ]


def test_default_client_comes_from_the_active_backend(key_arn):
    blob = encrypt_bytes(b"default client", key_id=key_arn, encryption_context=CONTEXT)
    assert decrypt_bytes(blob, encryption_context=CONTEXT, key_id=key_arn) == b"default client"


# --- the data key --------------------------------------------------------------------------


def test_a_kms_that_returns_another_data_key_makes_decryption_fail(kms, key_arn, tmp_path):
    blob = seal(kms, key_arn, b"secret" * 50)
    with pytest.raises(KeyCommitmentError, match="key commitment"):
        unseal(KmsSpy(kms, swap_data_key=True), blob)
    (tmp_path / "sealed").write_bytes(blob)
    with pytest.raises(KeyCommitmentError):
        decrypt_file(
            tmp_path / "sealed",
            tmp_path / "out",
            encryption_context=CONTEXT,
            key_id=key_arn,
            kms_client=KmsSpy(kms, swap_data_key=True),
        )
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_plaintext_data_key_never_appears_in_the_output(kms, key_arn, tmp_path):
    spy = KmsSpy(kms)
    (tmp_path / "plain").write_bytes(os.urandom(5000))
    encrypt_file(
        tmp_path / "plain",
        tmp_path / "sealed",
        key_id=key_arn,
        encryption_context=CONTEXT,
        kms_client=spy,
        frame_size=FRAME,
        signed=True,
    )
    blob = (tmp_path / "sealed").read_bytes()
    data_key = spy.data_keys[0]
    layout = Layout(blob)
    derived = HKDF(hashes.SHA512(), 32, salt=layout.message_id, info=b"\x05\x78DERIVEKEY").derive(data_key)
    for secret in (data_key, derived):
        for form in (secret, secret.hex().encode(), base64.b64encode(secret), secret[:8], secret[-8:]):
            assert form not in blob


def test_the_data_key_buffer_is_zeroed_after_deriving_the_keys():
    data_key = bytearray(os.urandom(32))
    envelope.keys.derive_keys(data_key, os.urandom(32), fmt.COMMITTING)
    assert data_key == bytearray(32)


# --- the tamper battery ----------------------------------------------------------------------


@pytest.fixture(scope="module", params=list(SUITES.values()), ids=list(SUITES.keys()))
def sample(request, kms, key_arn):
    """A message of 5 full frames and a short final one, with its plaintext."""
    data = os.urandom(5 * FRAME + 9)
    return data, seal(kms, key_arn, data, signed=request.param)


KMS_REFUSALS = {"InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException", "NotFoundException"}


def refused(kms, blob, key_arn, context=CONTEXT) -> BaseException | None:
    """The error that refused `blob`, None if it decrypted. KMS refusals are fine too."""
    try:
        decrypt_bytes(blob, encryption_context=context, kms_client=kms, key_id=key_arn)
    except EnvelopeError as exc:
        return exc
    except ClientError as exc:
        assert exc.response["Error"]["Code"] in KMS_REFUSALS, exc
        return exc
    return None


def test_every_byte_flipped_three_ways_is_refused(kms, key_arn, sample, request):
    _, blob = sample
    missed, tried = [], 0
    for position in range(len(blob)):
        for mask in (0x01, 0x80, 0xFF):
            tried += 1
            if refused(kms, flip(blob, position, mask), key_arn) is None:
                missed.append((position, mask))
    TAMPER_COUNT[request.node.name] = tried
    assert missed == []


def test_truncation_at_every_byte_is_refused(kms, key_arn, sample, request):
    _, blob = sample
    missed = [cut for cut in range(len(blob)) if refused(kms, blob[:cut], key_arn) is None]
    TAMPER_COUNT[request.node.name] = len(blob)
    assert missed == []


@pytest.mark.parametrize(
    "field, expected",
    [
        ("version", (NotAnEnvelopeError, UnsupportedVersionError)),
        ("suite", (UnsupportedAlgorithmError, HeaderError)),
        ("message id", KeyCommitmentError),
        ("frame length", AuthenticationError),
        ("key commitment", KeyCommitmentError),
        ("header tag", AuthenticationError),
        ("encryption context", ContextMismatchError),
        ("provider info", KeyMismatchError),
    ],
)
def test_each_header_field_tampered_gives_its_error(kms, key_arn, sample, field, expected):
    _, blob = sample
    start, end = Layout(blob).fields[field]
    assert isinstance(refused(kms, flip(blob, end - 1), key_arn), expected)  # the last byte: a value


def test_tampered_encrypted_data_key_is_a_kms_error_with_its_code(kms, key_arn, sample):
    _, blob = sample
    start, end = Layout(blob).fields["encrypted data key"]
    error = refused(kms, flip(blob, end - 1), key_arn)
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == "InvalidCiphertextException"


def test_context_rewritten_in_the_header_is_refused_by_kms(kms, key_arn, sample):
    """Even a header rewritten with another context (and a caller expecting it) fails in KMS."""
    _, blob = sample
    layout = Layout(blob)
    start, end = layout.fields["aad length"][0], layout.fields["encryption context"][1]
    forged_context = {**layout.context, "purpose": "forged"}
    forged = fmt.serialize_context(forged_context)
    rebuilt = blob[:start] + struct.pack(">H", len(forged)) + forged + blob[end:]
    expected = {k: v for k, v in forged_context.items() if k != "aws-crypto-public-key"}
    error = refused(kms, rebuilt, key_arn, context=expected)
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == "InvalidCiphertextException"


@pytest.mark.parametrize(
    "region, offset, expected",
    [
        ("sequence number", 3, FrameError),
        ("IV", 15, FrameError),
        ("ciphertext first byte", 16, AuthenticationError),
        ("ciphertext last byte", 16 + FRAME - 1, AuthenticationError),
        ("tag", REGULAR - 1, AuthenticationError),
    ],
)
def test_each_frame_region_tampered_gives_its_error(kms, key_arn, sample, region, offset, expected):
    _, blob = sample
    for index in (0, 2):
        start = Layout(blob).frames[index][0]
        assert isinstance(refused(kms, flip(blob, start + offset), key_arn), expected)


def test_final_frame_fields_tampered(kms, key_arn, sample):
    _, blob = sample
    start = Layout(blob).frames[-1][0]
    assert isinstance(refused(kms, flip(blob, start), key_arn), FrameError)  # marker: read as regular frame
    assert isinstance(refused(kms, flip(blob, start + 7), key_arn), FrameError)  # sequence number
    assert isinstance(refused(kms, flip(blob, start + 19), key_arn), FrameError)  # IV
    claim = blob[: start + 20] + struct.pack(">I", FRAME + 1) + blob[start + 24 :]
    assert isinstance(refused(kms, claim, key_arn), FrameError)  # longer than a frame


def test_signature_footer_tampered(kms, key_arn):
    blob = seal(kms, key_arn, os.urandom(3 * FRAME), signed=True)
    end = Layout(blob).body_end
    assert isinstance(refused(kms, flip(blob, len(blob) - 1), key_arn), SignatureError)
    assert isinstance(refused(kms, blob[:end], key_arn), TruncatedError)  # footer stripped
    too_long = blob[:end] + struct.pack(">H", 0xFFFF) + blob[end + 2 :]
    assert isinstance(refused(kms, too_long, key_arn), LimitExceededError)
    assert isinstance(refused(kms, blob[:end] + b"\x00\x00", key_arn), SignatureError)


def test_frames_reordered_repeated_or_dropped(kms, key_arn, sample, request):
    _, blob = sample
    layout = Layout(blob)
    header, frames, footer = layout.header, [layout.frame(i) for i in range(len(layout.frames))], layout.footer
    cases = {
        "swapped": [frames[1], frames[0], *frames[2:]],
        "repeated": [frames[0], frames[0], *frames[1:]],
        "dropped": [frames[0], *frames[2:]],
        "final dropped": frames[:-1],
        "final repeated": [*frames, frames[-1]],
        "final only": frames[-1:],
    }
    errors = {name: refused(kms, header + b"".join(body) + footer, key_arn) for name, body in cases.items()}
    TAMPER_COUNT[request.node.name] = len(cases)
    assert all(errors.values()), errors
    assert isinstance(errors["swapped"], FrameError) and "sequence number 2 where 1" in str(errors["swapped"])
    # the footer then stands where a frame should: read as one, its "sequence number" is wrong
    assert isinstance(errors["final dropped"], FrameError if footer else TruncatedError)


@pytest.mark.parametrize("extra", [b"\x00", b"more data", None])
def test_appended_bytes_are_refused(kms, key_arn, sample, extra):
    """The official one-shot decrypt ignores bytes after the message; this refuses them."""
    _, blob = sample
    layout = Layout(blob)
    appended = extra if extra is not None else layout.frame(len(layout.frames) - 1)  # the final frame again
    error = refused(kms, blob + appended, key_arn)
    assert isinstance(error, TrailingDataError) and "appended" in str(error)


def test_frames_spliced_between_two_messages(kms, key_arn, request):
    tried = 0
    for signed in (False, True):
        a, b = (
            Layout(seal(kms, key_arn, os.urandom(4 * FRAME + 1), signed=signed)),
            Layout(seal(kms, key_arn, os.urandom(4 * FRAME + 1), signed=signed)),
        )
        frames_a = [a.frame(i) for i in range(5)]
        frames_b = [b.frame(i) for i in range(5)]
        one = refused(kms, a.header + b"".join(frames_a[:2] + [frames_b[2]] + frames_a[3:]) + a.footer, key_arn)
        assert isinstance(one, AuthenticationError) and "frame 3" in str(one)
        other_body = refused(kms, a.header + b"".join(frames_b) + a.footer, key_arn)
        assert isinstance(other_body, AuthenticationError) and "frame 1" in str(other_body)
        tried += 2
        if signed:
            other_footer = refused(kms, a.header + b"".join(frames_a) + b.footer, key_arn)
            assert isinstance(other_footer, SignatureError)
            tried += 1
    TAMPER_COUNT[request.node.name] = tried


def test_not_an_envelope(kms, key_arn):
    for blob in (b"", b"KWE", b"hello world, this is plain text" * 3, b"%PDF-1.7 ...", b"\x00\x01"):
        with pytest.raises(NotAnEnvelopeError, match="not an AWS Encryption SDK message"):
            unseal(kms, blob, key_id=key_arn)
    with pytest.raises(NotAnEnvelopeError, match="KWEF file from an earlier version"):
        unseal(kms, b"KWEF\x01" + bytes(40), key_id=key_arn)


def test_truncated_inside_the_header(kms, key_arn, sample):
    _, blob = sample
    for cut in (1, 30, len(Layout(blob).header) - 1):
        with pytest.raises(TruncatedError, match="header"):
            unseal(kms, blob[:cut], key_id=key_arn)


def test_truncation_at_every_frame_boundary(kms, key_arn, sample):
    _, blob = sample
    layout = Layout(blob)
    for start, _, _ in layout.frames:
        with pytest.raises(TruncatedError, match="without its final frame"):
            unseal(kms, blob[:start], key_id=key_arn)


# --- forgery by a Decrypt holder: what the signed suite closes --------------------------------


def _forge(kms, blob: bytes, new_plaintext: bytes) -> bytes:
    """What anyone allowed to Decrypt the data key can do: keep the header, write new frames."""
    header = read_header(blob)
    response = kms.decrypt(
        CiphertextBlob=header.encrypted_data_key, KeyId=header.key_arn, EncryptionContext=header.stored_context
    )
    keys = envelope.keys.derive_keys(bytearray(response["Plaintext"]), header.message_id, header.suite)
    assert len(new_plaintext) < header.frame_size
    frame = struct.pack(">II12sI", 0xFFFFFFFF, 1, fmt.frame_iv(1), len(new_plaintext)) + keys.aead.encrypt(
        fmt.frame_iv(1), new_plaintext, fmt.body_aad(header.message_id, 1, len(new_plaintext), True)
    )
    return header.raw + frame


def test_a_decrypt_holder_can_forge_unsigned_content(kms, key_arn):
    """Documented in the threat model: the unsigned suite authenticates against the data key,
    and whoever may Decrypt it holds that key."""
    blob = seal(kms, key_arn, b"pay alice 10", signed=False)
    forged = _forge(kms, blob, b"pay mallory 1000")
    assert unseal(kms, forged) == b"pay mallory 1000"
    with pytest.raises(SignatureError, match="not signed"):
        unseal(kms, forged, require_signature=True)  # a reader that insists on the signed suite


def test_a_decrypt_holder_cannot_forge_signed_content(kms, key_arn):
    blob = seal(kms, key_arn, b"pay alice 10", signed=True)
    forged = _forge(kms, blob, b"pay mallory 1000")
    with pytest.raises((SignatureError, TruncatedError)):  # no signature it could make
        unseal(kms, forged)
    # A signature of its own needs its own public key in the context: KMS then refuses,
    # because the context was bound to the encrypted data key when it was made.
    header = read_header(blob)
    signer = envelope.keys.Signer()
    stored = {**header.stored_context, "aws-crypto-public-key": signer.public_key}
    body = fmt.header_body(
        header.suite, header.message_id, stored, list(header.encrypted_data_keys), header.frame_size, header.commitment
    )
    rebuilt = body + header.tag + forged[len(header.raw) :]
    digest = hashlib.sha384(rebuilt).digest()
    signature = signer.sign(digest)
    rebuilt += struct.pack(">H", len(signature)) + signature
    error = refused(kms, rebuilt, key_arn)
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] == "InvalidCiphertextException"


# --- contexts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "expected, words",
    [
        ({"project": "workshop"}, "unexpected purpose=tests"),
        ({**CONTEXT, "team": "blue"}, "missing team=blue"),
        ({"project": "other", "purpose": "tests"}, "project is 'workshop', expected 'other'"),
        ({}, "unexpected project=workshop"),
    ],
)
def test_wrong_context_is_refused_with_what_differs(kms, key_arn, sample, expected, words):
    _, blob = sample
    spy = KmsSpy(kms)
    with pytest.raises(ContextMismatchError) as caught:
        unseal(spy, blob, expected, key_id=key_arn)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert "aws-crypto-public-key" not in str(caught.value)  # the SDK's entry is not the caller's
    assert spy.calls == []  # refused before asking KMS


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [("a", "b")],
        {"a": 1},
        {1: "a"},
        {"": "empty key"},
        {"a": "\udcff"},
        {"aws-crypto-public-key": "x"},
        {"aws-crypto-anything": "x"},
    ],
)
def test_malformed_or_reserved_contexts_are_refused(kms, key_arn, bad):
    with pytest.raises(ContextError):
        seal(kms, key_arn, b"x", bad)


def test_reserved_key_in_the_expected_context_is_refused(kms, key_arn):
    blob = seal(kms, key_arn, b"x", signed=True)
    with pytest.raises(ContextError, match="reserved"):
        unseal(kms, blob, {**CONTEXT, "aws-crypto-public-key": read_header(blob).public_key})


def test_context_order_does_not_matter(kms, key_arn):
    blob = seal(kms, key_arn, b"x", {"b": "2", "a": "1"})
    assert unseal(kms, blob, {"a": "1", "b": "2"}) == b"x"


# --- keys: strict by default, discovery on request ---------------------------------------------------


def test_decrypt_without_a_key_is_one_clear_line(kms, key_arn, sample, tmp_path):
    _, blob = sample
    spy = KmsSpy(kms)
    with pytest.raises(KeyRequiredError) as caught:
        decrypt_bytes(blob, encryption_context=CONTEXT, kms_client=spy)
    message = str(caught.value)
    assert "\n" not in message and "key_id=" in message and "discovery=" in message
    assert spy.calls == []
    with pytest.raises(KeyRequiredError):  # before the file is even opened for output
        decrypt_file(tmp_path / "missing", tmp_path / "out", encryption_context=CONTEXT, kms_client=spy)


def test_key_mismatch_is_refused_before_any_decrypt(kms, key_arn, sample, other_key_arn):
    _, blob = sample
    spy = KmsSpy(kms)
    with pytest.raises(KeyMismatchError, match=f"encrypted under {key_arn}, not {other_key_arn}"):
        unseal(spy, blob, key_id=other_key_arn)
    assert spy.names() == []  # an ARN needs no DescribeKey, and no Decrypt was sent


def test_key_mismatch_through_an_alias(kms, sample, other_key_arn):
    _, blob = sample
    try:
        kms.create_alias(AliasName="alias/envelope-tests-other", TargetKeyId=other_key_arn)
    except ClientError:
        pass  # made by the other suite's run
    spy = KmsSpy(kms)
    with pytest.raises(KeyMismatchError, match="alias/envelope-tests-other"):
        unseal(spy, blob, key_id="alias/envelope-tests-other")
    assert spy.names() == ["DescribeKey"]


def test_unknown_key_id_is_a_kms_error(kms, sample, key_arn):
    _, blob = sample
    with pytest.raises(ClientError) as caught:
        unseal(kms, blob, key_id="alias/does-not-exist")
    assert caught.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as caught:
        seal(kms, "alias/does-not-exist", b"x")
    assert caught.value.response["Error"]["Code"] == "NotFoundException"


def test_message_pointed_at_another_key_is_refused(kms, sample, other_key_arn, key_arn):
    """Rewrite the header's key ARN: strict mode refuses before KMS; asked for that key,
    KMS refuses, since the data key was encrypted under the first key."""
    _, blob = sample
    assert len(other_key_arn) == len(key_arn)
    start, end = Layout(blob).fields["provider info"]
    forged = blob[:start] + other_key_arn.encode() + blob[end:]
    assert isinstance(refused(kms, forged, key_arn), KeyMismatchError)
    error = refused(kms, forged, other_key_arn)
    assert isinstance(error, ClientError) and error.response["Error"]["Code"] in KMS_REFUSALS


def test_discovery_accepts_keys_of_the_listed_accounts_only(kms, key_arn, sample):
    data, blob = sample
    account = key_arn.split(":")[4]
    assert (
        decrypt_bytes(blob, encryption_context=CONTEXT, kms_client=kms, discovery=Discovery(accounts=[account])) == data
    )
    spy = KmsSpy(kms)
    with pytest.raises(KeyMismatchError, match="accounts 111122223333"):
        decrypt_bytes(blob, encryption_context=CONTEXT, kms_client=spy, discovery=Discovery(["111122223333"]))
    with pytest.raises(KeyMismatchError, match="partition aws-cn"):
        decrypt_bytes(
            blob, encryption_context=CONTEXT, kms_client=spy, discovery=Discovery([account], partition="aws-cn")
        )
    assert spy.calls == []


def test_discovery_and_key_are_exclusive_and_checked(kms, key_arn, sample):
    _, blob = sample
    for bad in ([], ["12345"], ["not-an-account"]):
        with pytest.raises(EnvelopeError, match="account"):
            Discovery(bad)
    with pytest.raises(EnvelopeError, match="not both"):
        decrypt_bytes(
            blob,
            encryption_context=CONTEXT,
            kms_client=kms,
            key_id=key_arn,
            discovery=Discovery([key_arn.split(":")[4]]),
        )


# --- messages this refuses on purpose ------------------------------------------------------------


def test_version_1_and_non_committing_messages_are_refused_with_why(kms, key_arn):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.FORBID_ENCRYPT_ALLOW_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    for algorithm in (
        Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384,
        Algorithm.AES_256_GCM_IV12_TAG16_HKDF_SHA256,
    ):
        blob, _ = client.encrypt(source=b"old", key_provider=provider, encryption_context=CONTEXT, algorithm=algorithm)
        with pytest.raises(UnsupportedVersionError) as caught:
            unseal(kms, blob, key_id=key_arn)
        message = str(caught.value)
        assert (
            "version 1" in message and "not key-committing" in message and f"0x{algorithm.algorithm_id:04X}" in message
        )


def test_non_framed_messages_are_refused(kms, key_arn):
    import aws_encryption_sdk

    client = aws_encryption_sdk.EncryptionSDKClient()
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    blob, _ = client.encrypt(source=b"unframed", key_provider=provider, encryption_context=CONTEXT, frame_length=0)
    with pytest.raises(UnsupportedAlgorithmError, match="non-framed"):
        unseal(kms, blob, key_id=key_arn)


def test_at_most_one_encrypted_data_key_by_default(kms, key_arn, other_key_arn):
    """The SDK's max_encrypted_data_keys: a message for two KMS keys needs the limit raised."""
    import aws_encryption_sdk

    client = aws_encryption_sdk.EncryptionSDKClient()
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn, other_key_arn])
    blob, _ = client.encrypt(source=b"two keys", key_provider=provider, encryption_context=CONTEXT)
    spy = KmsSpy(kms)
    with pytest.raises(LimitExceededError, match="2 encrypted data keys; at most 1"):
        decrypt_bytes(blob, encryption_context=CONTEXT, key_id=other_key_arn, kms_client=spy)
    assert spy.calls == []
    assert (
        decrypt_bytes(blob, encryption_context=CONTEXT, key_id=other_key_arn, kms_client=spy, max_encrypted_data_keys=2)
        == b"two keys"
    )
    assert [call[1]["KeyId"] for call in spy.calls] == [other_key_arn]  # only the key named


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize("frame_size", [0, 15, 17, 100, envelope.MAX_FRAME_SIZE + 16, 1.5, True])
def test_frame_size_out_of_bounds_is_refused_on_encrypt(kms, key_arn, frame_size):
    spy = KmsSpy(kms)
    with pytest.raises(LimitExceededError):
        seal(spy, key_arn, b"x", frame_size=frame_size)
    assert spy.calls == []


def test_frame_length_over_the_cap_is_refused_before_any_allocation(kms, key_arn, sample):
    _, blob = sample
    start, end = Layout(blob).fields["frame length"]
    for claimed in (envelope.MAX_FRAME_SIZE + 1, 2**32 - 1):
        tracemalloc.start()
        try:
            with pytest.raises(LimitExceededError, match="frame length"):
                unseal(kms, blob[:start] + struct.pack(">I", claimed) + blob[end:], key_id=key_arn)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 1024 * 1024
    with pytest.raises(HeaderError, match="frame length is 0"):
        unseal(kms, blob[:start] + struct.pack(">I", 0) + blob[end:], key_id=key_arn)


def test_the_frame_cap_is_configurable(kms, key_arn):
    blob = seal(kms, key_arn, b"y" * 100, frame_size=64)
    with pytest.raises(LimitExceededError, match="max_frame_size"):
        unseal(kms, blob, max_frame_size=48)
    assert unseal(kms, blob, max_frame_size=64) == b"y" * 100


def test_header_lengths_are_bounded(kms, key_arn, sample):
    _, blob = sample
    layout = Layout(blob)
    for field, limit in (
        ("aad length", envelope.message.MAX_CONTEXT_BYTES),
        ("provider id length", envelope.message.MAX_PROVIDER_ID_BYTES),
        ("provider info length", envelope.message.MAX_PROVIDER_INFO_BYTES),
        ("encrypted data key length", envelope.message.MAX_ENCRYPTED_KEY_BYTES),
    ):
        start, end = layout.fields[field]
        with pytest.raises(LimitExceededError):
            unseal(kms, blob[:start] + struct.pack(">H", limit + 1) + blob[end:], key_id=key_arn)
    start, end = layout.fields["edk count"]
    for count, expected in ((0, HeaderError), (0xFFFF, LimitExceededError)):
        with pytest.raises(expected):
            unseal(kms, blob[:start] + struct.pack(">H", count) + blob[end:], key_id=key_arn)


def test_oversized_context_is_refused(kms, key_arn):
    spy = KmsSpy(kms)
    with pytest.raises(LimitExceededError, match="encryption context"):
        seal(spy, key_arn, b"x", {f"k{i}": "v" * 100 for i in range(100)})
    assert spy.calls == []


def test_message_size_limit_on_both_sides(kms, key_arn, monkeypatch):
    blob = seal(kms, key_arn, os.urandom(10 * FRAME))
    monkeypatch.setattr(envelope.message, "MAX_MESSAGE_SIZE", 4 * FRAME)
    with pytest.raises(LimitExceededError, match="larger than"):
        seal(kms, key_arn, os.urandom(10 * FRAME))
    with pytest.raises(LimitExceededError, match="larger than"):
        unseal(kms, blob)


def test_frame_count_limit_on_both_sides(kms, key_arn, monkeypatch):
    blob = seal(kms, key_arn, os.urandom(10 * FRAME))
    monkeypatch.setattr(envelope.message, "MAX_FRAMES", 3)
    with pytest.raises(LimitExceededError, match="frames"):
        seal(kms, key_arn, os.urandom(10 * FRAME))
    with pytest.raises(LimitExceededError, match="frames"):
        unseal(kms, blob)


@pytest.mark.parametrize("signed", SUITES.values(), ids=SUITES.keys())
def test_memory_stays_bounded_for_a_large_file(kms, key_arn, tmp_path, signed):
    """Python allocations stay at a few frames, whatever the size (the benchmark measures RSS)."""
    (tmp_path / "plain").write_bytes(os.urandom(24 * 1024 * 1024))
    tracemalloc.start()
    try:
        encrypt_file(
            tmp_path / "plain",
            tmp_path / "sealed",
            key_id=key_arn,
            encryption_context=CONTEXT,
            kms_client=kms,
            signed=signed,
        )
        decrypt_file(
            tmp_path / "sealed", tmp_path / "opened", encryption_context=CONTEXT, key_id=key_arn, kms_client=kms
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024
    assert (tmp_path / "opened").stat().st_size == 24 * 1024 * 1024


# --- atomic outputs ---------------------------------------------------------------------


@pytest.fixture(params=list(SUITES.values()), ids=list(SUITES.keys()))
def sealed_file(request, kms, key_arn, tmp_path):
    data = os.urandom(6 * FRAME + 5)
    (tmp_path / "plain").write_bytes(data)
    encrypt_file(
        tmp_path / "plain",
        tmp_path / "sealed",
        key_id=key_arn,
        encryption_context=CONTEXT,
        kms_client=kms,
        frame_size=FRAME,
        signed=request.param,
    )
    return tmp_path / "sealed", data


def _open(sealed, target, kms, key_arn, **kwargs):
    return decrypt_file(sealed, target, encryption_context=CONTEXT, key_id=key_arn, kms_client=kms, **kwargs)


def test_tampered_last_byte_leaves_no_output(kms, key_arn, sealed_file):
    sealed, _ = sealed_file
    sealed.write_bytes(flip(sealed.read_bytes(), len(sealed.read_bytes()) - 1))
    with pytest.raises(AuthenticationError):
        _open(sealed, sealed.parent / "opened", kms, key_arn)
    assert not (sealed.parent / "opened").exists()
    assert leftovers(sealed.parent) == []


def test_truncated_file_leaves_no_output(kms, key_arn, sealed_file):
    sealed, _ = sealed_file
    sealed.write_bytes(sealed.read_bytes()[:-30])
    with pytest.raises((TruncatedError, AuthenticationError)):
        _open(sealed, sealed.parent / "opened", kms, key_arn)
    assert not (sealed.parent / "opened").exists() and leftovers(sealed.parent) == []


def test_failure_leaves_an_existing_destination_untouched(kms, key_arn, sealed_file):
    sealed, _ = sealed_file
    existing = sealed.parent / "opened"
    existing.write_bytes(b"previous content")
    with pytest.raises(ContextMismatchError):
        decrypt_file(sealed, existing, encryption_context={"project": "other"}, key_id=key_arn, kms_client=kms)
    sealed.write_bytes(flip(sealed.read_bytes(), len(sealed.read_bytes()) - 1))
    with pytest.raises(AuthenticationError):
        _open(sealed, existing, kms, key_arn)
    assert existing.read_bytes() == b"previous content" and leftovers(sealed.parent) == []


def test_success_replaces_an_existing_destination(kms, key_arn, sealed_file):
    sealed, data = sealed_file
    existing = sealed.parent / "opened"
    existing.write_bytes(b"previous content")
    _open(sealed, existing, kms, key_arn)
    assert existing.read_bytes() == data and leftovers(sealed.parent) == []


@pytest.mark.parametrize("side", ["encrypt", "decrypt"])
def test_interrupt_midway_leaves_no_output(kms, key_arn, sealed_file, side):
    sealed, _ = sealed_file
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if len(calls) == 3:
            raise KeyboardInterrupt

    target = sealed.parent / "out"
    with pytest.raises(KeyboardInterrupt):
        if side == "encrypt":
            encrypt_file(
                sealed.parent / "plain",
                target,
                key_id=key_arn,
                encryption_context=CONTEXT,
                kms_client=kms,
                progress=interrupt,
                frame_size=FRAME,
            )
        else:
            _open(sealed, target, kms, key_arn, progress=interrupt)
    assert not target.exists() and leftovers(sealed.parent) == []
    assert pipeline_threads() == []


def pipeline_threads() -> list[str]:
    """The engine's worker threads still alive (the writer, the hasher)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("envelope-")]


@pytest.mark.parametrize("side", ["encrypt", "decrypt"])
def test_a_failed_write_in_the_writer_thread_surfaces_and_stops_every_thread(
    kms, key_arn, sealed_file, side, monkeypatch
):
    """A full disk met by the writer thread: the caller gets that OSError, no output, no thread left."""
    from workshop_helpers.envelope import pipeline

    sealed, _ = sealed_file
    real_write, calls = pipeline.Writer._write, []

    def write(self, view, offset):
        calls.append(threading.current_thread().name)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, view, offset)

    monkeypatch.setattr(pipeline.Writer, "_write", write)
    target = sealed.parent / "out"
    with pytest.raises(OSError, match="No space left"):
        if side == "encrypt":
            encrypt_file(
                sealed.parent / "plain",
                target,
                key_id=key_arn,
                encryption_context=CONTEXT,
                kms_client=kms,
                frame_size=FRAME,
            )
        else:
            _open(sealed, target, kms, key_arn)
    assert calls[2] == "envelope-writer"
    assert not target.exists() and leftovers(sealed.parent) == [] and pipeline_threads() == []


unnamed_files = pytest.mark.skipif(
    not hasattr(os, "O_TMPFILE") or not Path("/proc/self/fd").is_dir(), reason="needs Linux O_TMPFILE and /proc"
)


@unnamed_files
def test_no_named_file_holds_unverified_plaintext(kms, key_arn, sealed_file):
    """While frames are being verified the plaintext is in an unnamed file: the directory
    shows nothing new until the whole message verified."""
    sealed, data = sealed_file
    before = sorted(os.listdir(sealed.parent))
    seen = []
    _open(
        sealed,
        sealed.parent / "opened",
        kms,
        key_arn,
        progress=lambda done, total: seen.append(sorted(os.listdir(sealed.parent))),
    )
    assert len(seen) > 3 and all(listing == before for listing in seen[:-1])
    assert (sealed.parent / "opened").read_bytes() == data
    assert (sealed.parent / "opened").stat().st_mode & 0o777 == 0o600


_KILLED_DECRYPT = textwrap.dedent("""
    import sys, time
    import workshop_helpers
    from workshop_helpers import envelope
    kms = workshop_helpers.connect("moto").client("kms")
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    envelope.encrypt_file(sys.argv[1], sys.argv[2], key_id=arn, encryption_context={"a": "b"}, kms_client=kms,
                          signed=sys.argv[4] == "signed")
    def stall(done, total):
        if done > total // 2:
            print("halfway", flush=True)
            time.sleep(60)
    envelope.decrypt_file(sys.argv[2], sys.argv[3], encryption_context={"a": "b"}, key_id=arn, kms_client=kms,
                          progress=stall)
""")


@unnamed_files
@pytest.mark.parametrize("signed", SUITES.values(), ids=SUITES.keys())
def test_sigkill_mid_decrypt_leaves_nothing(tmp_path, signed):
    work = tmp_path / "work"
    work.mkdir()
    (tmp_path / "plain").write_bytes(os.urandom(8 * 1024 * 1024))
    env = {**os.environ, "KMS_WORKSHOP_STATE_DIR": "memory"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _KILLED_DECRYPT,
            str(tmp_path / "plain"),
            str(work / "sealed"),
            str(work / "opened"),
            "signed" if signed else "plain",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout.readline().strip() == "halfway"
        assert sorted(os.listdir(work)) == ["sealed"]
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
    assert sorted(os.listdir(work)) == ["sealed"]  # half the plaintext was written, and it is gone


def test_named_temporary_file_where_unnamed_is_not_offered(kms, key_arn, sealed_file, monkeypatch):
    """The fallback: a 0600 `.NAME.partial-*` file, renamed on success, removed on failure."""
    sealed, data = sealed_file
    monkeypatch.setattr(envelope.outputs, "_open_unnamed", lambda directory: None)
    seen = []
    _open(sealed, sealed.parent / "opened", kms, key_arn, progress=lambda d, t: seen.extend(leftovers(sealed.parent)))
    assert seen and (sealed.parent / "opened").read_bytes() == data and leftovers(sealed.parent) == []
    sealed.write_bytes(flip(sealed.read_bytes(), len(sealed.read_bytes()) - 1))
    with pytest.raises(AuthenticationError):
        _open(sealed, sealed.parent / "again", kms, key_arn)
    assert not (sealed.parent / "again").exists() and leftovers(sealed.parent) == []


def test_every_byte_flipped_in_a_file_leaves_no_output(kms, key_arn, sealed_file, request):
    """decrypt_file on every single-byte change of a file: never an output, never a leftover."""
    sealed, _ = sealed_file
    blob = sealed.read_bytes()
    work = sealed.parent / "work"
    work.mkdir()
    bad, out, released = work / "bad", work / "out", []
    for position in range(len(blob)):
        bad.write_bytes(flip(blob, position))
        try:
            _open(bad, out, kms, key_arn)
            released.append(position)
        except (EnvelopeError, ClientError):
            pass
        if out.exists() or leftovers(work):
            released.append(position)
    TAMPER_COUNT[request.node.name] = len(blob)
    assert released == [] and sorted(os.listdir(work)) == ["bad"]


def test_decrypt_bytes_returns_nothing_from_a_bad_message(kms, key_arn, sample):
    _, blob = sample
    with pytest.raises(AuthenticationError):
        unseal(kms, flip(blob, len(blob) - 1), key_id=key_arn)


def test_missing_source_is_an_os_error_and_creates_nothing(kms, key_arn, tmp_path):
    with pytest.raises(FileNotFoundError):
        encrypt_file(tmp_path / "missing", tmp_path / "out", key_id=key_arn, encryption_context=CONTEXT, kms_client=kms)
    with pytest.raises(FileNotFoundError):
        decrypt_file(tmp_path / "missing", tmp_path / "out", encryption_context=CONTEXT, key_id=key_arn, kms_client=kms)
    assert list(tmp_path.iterdir()) == []


def test_output_files_are_private(kms, key_arn, sealed_file):
    sealed, _ = sealed_file
    _open(sealed, sealed.parent / "opened", kms, key_arn)
    assert (sealed.parent / "opened").stat().st_mode & 0o077 == 0
    assert sealed.stat().st_mode & 0o077 == 0


# --- progress and errors ----------------------------------------------------------------


def test_progress_reports_input_bytes_up_to_the_total(kms, key_arn, sealed_file):
    sealed, data = sealed_file
    seen = []
    encrypt_file(
        sealed.parent / "plain",
        sealed.parent / "again",
        key_id=key_arn,
        encryption_context=CONTEXT,
        kms_client=kms,
        frame_size=FRAME,
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    seen.clear()
    _open(sealed, sealed.parent / "opened", kms, key_arn, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (sealed.stat().st_size, sealed.stat().st_size)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_envelope_errors_are_one_line_workshop_errors():
    for cls in (
        NotAnEnvelopeError,
        HeaderError,
        ContextMismatchError,
        KeyMismatchError,
        KeyRequiredError,
        AuthenticationError,
        SignatureError,
        TruncatedError,
        TrailingDataError,
        LimitExceededError,
        FrameError,
        UnsupportedVersionError,
        UnsupportedAlgorithmError,
    ):
        assert issubclass(cls, EnvelopeError) and issubclass(cls, WorkshopError)
    assert envelope.TamperedError is AuthenticationError
    assert issubclass(SignatureError, AuthenticationError) and issubclass(KeyCommitmentError, AuthenticationError)
    assert "\n" not in str(HeaderError("two\nlines"))


_TAMPER_BATTERY = (
    "test_every_byte_flipped_three_ways_is_refused",
    "test_truncation_at_every_byte_is_refused",
    "test_frames_reordered_repeated_or_dropped",
    "test_frames_spliced_between_two_messages",
    "test_every_byte_flipped_in_a_file_leaves_no_output",
)


def test_tamper_battery_size_matches_the_readme(request):
    """README's reliability table states how many tampered messages the battery tries; that
    figure must be the one the battery above actually tried (it runs before this, in file order)."""
    battery = [
        item.name
        for item in request.session.items
        if item.module is request.node.module and getattr(item, "originalname", "") in _TAMPER_BATTERY
    ]
    ran = {getattr(item, "originalname", "") for item in request.session.items}
    if not set(_TAMPER_BATTERY) <= ran or set(battery) - set(TAMPER_COUNT):
        pytest.skip("the whole tamper battery did not run in this session")
    stated = re.search(r"\| ([\d,]+) tampered messages \|", (ROOT / "README.md").read_text())
    assert stated, "README's reliability table no longer states the tamper battery's size"
    assert sum(TAMPER_COUNT[name] for name in battery) == int(stated.group(1).replace(",", ""))
