"""workshop_helpers.envelope: round trips, the format, tampering, keys, contexts, bounds,
atomic outputs, and proof that the KMS data key is what encrypts the frames.

Runs against in-process moto with plain create_key() keys. Most messages use tiny frames
(FRAME bytes) so that "many frames" and "every byte flipped" stay cheap.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tracemalloc
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import workshop_helpers
from workshop_helpers import envelope
from workshop_helpers.envelope import (
    AuthenticationError,
    ContextError,
    ContextMismatchError,
    EnvelopeError,
    FrameError,
    HeaderError,
    KeyCommitmentError,
    KeyMismatchError,
    LimitExceededError,
    NotAnEnvelopeError,
    TrailingDataError,
    TruncatedError,
    UnsupportedVersionError,
    decrypt_bytes,
    decrypt_file,
    encrypt_bytes,
    encrypt_file,
    read_header,
)
from workshop_helpers.errors import WorkshopError

FRAME = 32
CONTEXT = {"project": "workshop", "purpose": "tests"}
RECORD = 5 + FRAME + 16  # flag, length, ciphertext, tag


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
        if self.swap_data_key:
            response["Plaintext"] = os.urandom(len(response["Plaintext"]))
        return response

    def describe_key(self, **kwargs):
        self.calls.append(("DescribeKey", kwargs))
        return self.client.describe_key(**kwargs)

    def names(self) -> list[str]:
        return [name for name, _ in self.calls]


def seal(kms, key_arn, data: bytes, context=CONTEXT, frame_size=FRAME) -> bytes:
    return encrypt_bytes(data, key_id=key_arn, encryption_context=context, kms_client=kms, frame_size=frame_size)


def unseal(kms, blob: bytes, context=CONTEXT, **kwargs) -> bytes:
    return decrypt_bytes(blob, encryption_context=context, kms_client=kms, **kwargs)


def flip(blob: bytes, position: int, mask: int = 0x01) -> bytes:
    changed = bytearray(blob)
    changed[position] ^= mask
    return bytes(changed)


def header_size(blob: bytes) -> int:
    return struct.unpack(">I", blob[5:9])[0]


def frames_of(blob: bytes) -> list[bytes]:
    """Split a message's frames by the documented layout."""
    position, frames = header_size(blob), []
    while position < len(blob):
        flag, size = struct.unpack(">BI", blob[position : position + 5])
        end = position + 5 + size + 16
        frames.append(blob[position:end])
        position = end
        if flag == 1:
            break
    return frames


def header_field_offsets(blob: bytes) -> dict[str, tuple[int, int]]:
    """(start, end) of each header field, computed from docs/envelope-format.md."""
    offsets = {"magic": (0, 4), "version": (4, 5), "header length": (5, 9), "message id": (9, 25), "frame size": (25, 29)}
    position = 29
    arn_size = struct.unpack(">H", blob[position : position + 2])[0]
    offsets["key ARN"] = (position + 2, position + 2 + arn_size)
    position += 2 + arn_size
    context_start = position
    count = struct.unpack(">H", blob[position : position + 2])[0]
    position += 2
    for _ in range(count):
        for _part in range(2):
            size = struct.unpack(">H", blob[position : position + 2])[0]
            position += 2 + size
    offsets["encryption context"] = (context_start, position)
    key_size = struct.unpack(">H", blob[position : position + 2])[0]
    offsets["encrypted data key"] = (position + 2, position + 2 + key_size)
    position += 2 + key_size
    offsets["key commitment"] = (position, position + 32)
    offsets["header tag"] = (position + 32, position + 48)
    assert position + 48 == header_size(blob)
    return offsets


def independent_decrypt(blob: bytes, data_key: bytes) -> bytes:
    """Decrypt a message from the spec alone, with the data key KMS handed out.

    If this works, the frames really are encrypted under (a key derived from) that data
    key, and the documented layout is the real one.
    """
    size = header_size(blob)
    header, message_id = blob[:size], blob[9:25]
    okm = HKDF(hashes.SHA256(), 64, salt=message_id, info=b"KWEF v1 frame key and commitment").derive(data_key)
    aead, digest = AESGCM(okm[:32]), hashlib.sha256(header).digest()
    aead.decrypt(struct.pack(">IQ", 0xFFFFFFFF, 0), header[-16:], header[:-16])  # header tag
    assert okm[32:] == header[-48:-16]  # key commitment
    plain = []
    for index, frame in enumerate(frames_of(blob)):
        flag = frame[0]
        nonce = struct.pack(">IQ", 0, index)
        plain.append(aead.decrypt(nonce, frame[5:], digest + struct.pack(">QB", index, flag)))
    return b"".join(plain)


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name)


# --- round trips ------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, FRAME - 1, FRAME, FRAME + 1, 2 * FRAME, 9 * FRAME + 7, 40 * FRAME])
def test_bytes_round_trip_from_empty_to_many_frames(kms, key_arn, size):
    data = os.urandom(size)
    blob = seal(kms, key_arn, data)
    assert unseal(kms, blob) == data
    assert len(frames_of(blob)) == size // FRAME + 1  # full frames, then a short final one


@pytest.mark.parametrize("size", [0, 5, 3 * FRAME, 3 * FRAME + 1])
def test_file_round_trip(kms, key_arn, tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed", key_id=key_arn, encryption_context=CONTEXT,
                 kms_client=kms, frame_size=FRAME)
    decrypt_file(tmp_path / "sealed", tmp_path / "opened", encryption_context=CONTEXT, kms_client=kms)
    assert (tmp_path / "opened").read_bytes() == data
    assert decrypt_bytes((tmp_path / "sealed").read_bytes(), encryption_context=CONTEXT, kms_client=kms) == data
    assert leftovers(tmp_path) == []


def test_default_frame_size_round_trip_over_several_frames(kms, key_arn, tmp_path):
    data = os.urandom(2 * envelope.DEFAULT_FRAME_SIZE + 12345)
    (tmp_path / "plain").write_bytes(data)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed", key_id=key_arn, encryption_context=CONTEXT, kms_client=kms)
    decrypt_file(tmp_path / "sealed", tmp_path / "opened", encryption_context=CONTEXT, kms_client=kms)
    assert (tmp_path / "opened").read_bytes() == data
    assert read_header(tmp_path / "sealed").frame_size == envelope.DEFAULT_FRAME_SIZE


def test_empty_and_unicode_contexts_round_trip(kms, key_arn):
    for context in ({}, {"projet": "atelier é", "ключ": "значение", "z": ""}):
        assert unseal(kms, seal(kms, key_arn, b"hello", context), context) == b"hello"


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
    bodies = [frame[5:] for frame in frames_of(first)[:4]]
    assert len(set(bodies)) == 4  # a unique nonce per frame


# --- what is sent to KMS ----------------------------------------------------------------


def test_one_generate_data_key_per_message_with_aes_256_and_the_context(kms, key_arn):
    spy = KmsSpy(kms)
    blob = seal(spy, key_arn, os.urandom(10 * FRAME))
    assert spy.calls == [("GenerateDataKey", {"KeyId": key_arn, "KeySpec": "AES_256", "EncryptionContext": CONTEXT})]
    header = read_header(blob)
    assert (header.key_arn, header.encryption_context, header.frame_size) == (key_arn, CONTEXT, FRAME)


def test_decrypt_names_the_key_explicitly_and_passes_the_context(kms, key_arn):
    blob = seal(kms, key_arn, b"data")
    spy = KmsSpy(kms)
    unseal(spy, blob)
    header = read_header(blob)
    assert spy.calls == [
        ("Decrypt", {"CiphertextBlob": header.encrypted_data_key, "KeyId": key_arn, "EncryptionContext": CONTEXT})
    ]


def test_default_client_comes_from_the_active_backend(key_arn):
    blob = encrypt_bytes(b"default client", key_id=key_arn, encryption_context=CONTEXT)
    assert decrypt_bytes(blob, encryption_context=CONTEXT) == b"default client"


# --- the data key is what encrypts, and it is never written --------------------------------


def test_frames_decrypt_independently_with_the_data_key_kms_handed_out(kms, key_arn):
    spy = KmsSpy(kms)
    data = os.urandom(7 * FRAME + 3)
    blob = seal(spy, key_arn, data)
    assert independent_decrypt(blob, spy.data_keys[0]) == data
    with pytest.raises(Exception):
        independent_decrypt(blob, os.urandom(32))


def test_a_kms_that_returns_another_data_key_makes_decryption_fail(kms, key_arn, tmp_path):
    blob = seal(kms, key_arn, b"secret" * 50)
    with pytest.raises(KeyCommitmentError, match="key commitment"):
        unseal(KmsSpy(kms, swap_data_key=True), blob)
    (tmp_path / "sealed").write_bytes(blob)
    with pytest.raises(KeyCommitmentError):
        decrypt_file(tmp_path / "sealed", tmp_path / "out", encryption_context=CONTEXT,
                     kms_client=KmsSpy(kms, swap_data_key=True))
    assert not (tmp_path / "out").exists() and leftovers(tmp_path) == []


def test_plaintext_data_key_never_appears_in_the_output(kms, key_arn, tmp_path):
    spy = KmsSpy(kms)
    (tmp_path / "plain").write_bytes(os.urandom(5000))
    encrypt_file(tmp_path / "plain", tmp_path / "sealed", key_id=key_arn, encryption_context=CONTEXT,
                 kms_client=spy, frame_size=FRAME)
    blob = (tmp_path / "sealed").read_bytes()
    data_key = spy.data_keys[0]
    frame_key = HKDF(hashes.SHA256(), 64, salt=blob[9:25], info=b"KWEF v1 frame key and commitment").derive(data_key)[:32]
    for secret in (data_key, frame_key):
        for form in (secret, secret.hex().encode(), secret[:8], secret[-8:]):
            assert form not in blob
    assert data_key not in seal(spy, key_arn, b"x" * 100)


def test_the_data_key_buffer_is_zeroed_after_deriving_the_keys():
    data_key = bytearray(os.urandom(32))
    envelope._keys_from_data_key(data_key, os.urandom(16))
    assert data_key == bytearray(32)


# --- tampering: the header -------------------------------------------------------------


@pytest.fixture(scope="module")
def sample(kms, key_arn):
    """A message of 5 full frames and a short final one, with its plaintext."""
    data = os.urandom(5 * FRAME + 9)
    return data, seal(kms, key_arn, data)


KMS_REFUSALS = {"InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException", "NotFoundException"}


def assert_refused(kms, blob, context=CONTEXT):
    """Decryption fails with an EnvelopeError or a KMS error, never silently."""
    with pytest.raises((EnvelopeError, ClientError)) as caught:
        unseal(kms, blob, context)
    if isinstance(caught.value, ClientError):
        assert caught.value.response["Error"]["Code"] in KMS_REFUSALS
    return caught.value


def test_every_header_byte_flipped_is_refused(kms, sample):
    _, blob = sample
    for position in range(header_size(blob)):
        assert_refused(kms, flip(blob, position))


@pytest.mark.parametrize(
    "field, expected",
    [
        ("magic", NotAnEnvelopeError),
        ("version", UnsupportedVersionError),
        ("message id", KeyCommitmentError),
        ("frame size", AuthenticationError),
        ("key commitment", KeyCommitmentError),
        ("header tag", AuthenticationError),
        ("encryption context", ContextMismatchError),
    ],
)
def test_each_header_field_tampered_gives_its_error(kms, sample, field, expected):
    _, blob = sample
    start, end = header_field_offsets(blob)[field]
    with pytest.raises(expected):
        unseal(kms, flip(blob, end - 1))  # the field's last byte: a value, never a length


def test_tampered_encrypted_data_key_is_a_kms_error_with_its_code(kms, sample):
    _, blob = sample
    start, end = header_field_offsets(blob)["encrypted data key"]
    with pytest.raises(ClientError) as caught:
        unseal(kms, flip(blob, end - 1))
    assert caught.value.response["Error"]["Code"] == "InvalidCiphertextException"


def test_tampered_key_arn_is_refused_by_kms(kms, sample):
    _, blob = sample
    start, end = header_field_offsets(blob)["key ARN"]
    changed = bytearray(blob)
    changed[end - 1] = ord("0") if changed[end - 1] != ord("0") else ord("1")
    error = assert_refused(kms, bytes(changed))
    assert isinstance(error, ClientError)


@pytest.mark.parametrize("claimed, expected", [(envelope.MAX_HEADER_SIZE + 1, LimitExceededError), (20, HeaderError)])
def test_header_length_out_of_bounds_is_refused_before_reading(kms, sample, claimed, expected):
    _, blob = sample
    with pytest.raises(expected):
        unseal(kms, blob[:5] + struct.pack(">I", claimed) + blob[9:])


def test_header_length_shifted_is_refused(kms, sample):
    _, blob = sample
    size = header_size(blob)
    for claimed in (size - 1, size + 1, size + RECORD):
        assert_refused(kms, blob[:5] + struct.pack(">I", claimed) + blob[9:])


def test_not_an_envelope(kms):
    for blob in (b"", b"KWE", b"hello world, this is plain text" * 3, b"%PDF-1.7 ..."):
        with pytest.raises(NotAnEnvelopeError, match="not an envelope"):
            unseal(kms, blob)


def test_truncated_inside_the_header(kms, sample):
    _, blob = sample
    for cut in (9, 30, header_size(blob) - 1):
        with pytest.raises(TruncatedError, match="header"):
            unseal(kms, blob[:cut])


def test_context_swapped_in_the_header_is_refused_by_kms(kms, sample):
    """Even a header rewritten with another context (and a matching caller) fails in KMS."""
    _, blob = sample
    start, end = header_field_offsets(blob)["encryption context"]
    forged_context = {**CONTEXT, "purpose": "forged"}
    forged = envelope.serialize_context(forged_context)
    body = blob[9:start] + forged + blob[end:]
    rebuilt = blob[:5] + struct.pack(">I", header_size(blob) + len(forged) - (end - start)) + body
    with pytest.raises(ClientError) as caught:
        unseal(kms, rebuilt, forged_context)
    assert caught.value.response["Error"]["Code"] == "InvalidCiphertextException"


# --- tampering: the frames -------------------------------------------------------------


def test_every_frame_byte_flipped_is_refused(kms, sample):
    _, blob = sample
    for position in range(header_size(blob), len(blob)):
        with pytest.raises(EnvelopeError):
            unseal(kms, flip(blob, position))


@pytest.mark.parametrize(
    "region, offset, expected",
    [
        ("flag", 0, FrameError),
        ("length", 4, FrameError),
        ("ciphertext first byte", 5, AuthenticationError),
        ("ciphertext last byte", 5 + FRAME - 1, AuthenticationError),
        ("tag", RECORD - 1, AuthenticationError),
    ],
)
def test_each_frame_region_tampered_gives_its_error(kms, sample, region, offset, expected):
    _, blob = sample
    for frame in (0, 2):
        with pytest.raises(expected):
            unseal(kms, flip(blob, header_size(blob) + frame * RECORD + offset))


def test_final_frame_marked_regular_is_refused(kms, sample):
    _, blob = sample
    final = header_size(blob) + 5 * RECORD
    with pytest.raises((FrameError, TruncatedError)):
        unseal(kms, blob[:final] + b"\x00" + blob[final + 1 :])


def test_regular_frame_marked_final_is_refused(kms, sample):
    _, blob = sample
    first = header_size(blob)
    with pytest.raises(FrameError):  # a final frame holds fewer than frame-size bytes
        unseal(kms, blob[:first] + b"\x01" + blob[first + 1 :])


def test_truncation_at_every_frame_boundary(kms, sample):
    _, blob = sample
    size = header_size(blob)
    for frames_kept in range(0, 6):
        with pytest.raises(TruncatedError, match="without its final frame"):
            unseal(kms, blob[: size + frames_kept * RECORD])


def test_truncation_at_every_byte(kms, sample):
    _, blob = sample
    for cut in range(len(blob)):
        with pytest.raises(EnvelopeError):
            unseal(kms, blob[:cut])


def test_removing_the_final_frame(kms, sample):
    _, blob = sample
    frames = frames_of(blob)
    with pytest.raises(TruncatedError):
        unseal(kms, blob[: header_size(blob)] + b"".join(frames[:-1]))


def test_reordering_frames(kms, sample):
    _, blob = sample
    frames = frames_of(blob)
    header = blob[: header_size(blob)]
    swapped = [frames[1], frames[0], *frames[2:]]
    with pytest.raises(AuthenticationError, match="frame 0"):
        unseal(kms, header + b"".join(swapped))
    duplicated = [frames[0], frames[0], *frames[2:]]
    with pytest.raises(AuthenticationError, match="frame 1"):
        unseal(kms, header + b"".join(duplicated))
    dropped = [frames[0], *frames[2:]]
    with pytest.raises(AuthenticationError):
        unseal(kms, header + b"".join(dropped))


@pytest.mark.parametrize("extra", [b"\x00", b"more data", None])
def test_appended_bytes_are_refused(kms, sample, extra):
    _, blob = sample
    appended = extra if extra is not None else frames_of(blob)[-1]  # a whole frame again
    with pytest.raises(TrailingDataError, match="appended"):
        unseal(kms, blob + appended)


def test_frames_swapped_between_two_messages(kms, key_arn):
    data_a, data_b = os.urandom(4 * FRAME + 1), os.urandom(4 * FRAME + 1)
    blob_a, blob_b = seal(kms, key_arn, data_a), seal(kms, key_arn, data_b)
    frames_a, frames_b = frames_of(blob_a), frames_of(blob_b)
    header_a = blob_a[: header_size(blob_a)]
    with pytest.raises(AuthenticationError, match="frame 2"):
        unseal(kms, header_a + b"".join(frames_a[:2] + [frames_b[2]] + frames_a[3:]))
    with pytest.raises(AuthenticationError, match="frame 0"):
        unseal(kms, header_a + b"".join(frames_b))  # the header of one, the body of the other


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
def test_wrong_context_is_refused_with_what_differs(kms, sample, expected, words):
    _, blob = sample
    spy = KmsSpy(kms)
    with pytest.raises(ContextMismatchError) as caught:
        unseal(spy, blob, expected)
    assert words in str(caught.value) and "\n" not in str(caught.value)
    assert spy.calls == []  # refused before asking KMS


@pytest.mark.parametrize("bad", [None, [("a", "b")], {"a": 1}, {1: "a"}, {"": "empty key"}, {"a": "\udcff"}])
def test_malformed_contexts_are_refused(kms, key_arn, bad):
    with pytest.raises(ContextError):
        seal(kms, key_arn, b"x", bad)


def test_context_order_does_not_matter(kms, key_arn):
    blob = seal(kms, key_arn, b"x", {"b": "2", "a": "1"})
    assert unseal(kms, blob, {"a": "1", "b": "2"}) == b"x"


# --- keys -------------------------------------------------------------------------------


def test_key_id_mismatch_is_refused_before_decrypting(kms, sample, other_key_arn):
    _, blob = sample
    spy = KmsSpy(kms)
    with pytest.raises(KeyMismatchError, match="encrypted under"):
        unseal(spy, blob, key_id=other_key_arn)
    assert "Decrypt" not in spy.names()


def test_key_id_mismatch_through_an_alias(kms, sample, other_key_arn):
    _, blob = sample
    kms.create_alias(AliasName="alias/envelope-tests-other", TargetKeyId=other_key_arn)
    with pytest.raises(KeyMismatchError, match="alias/envelope-tests-other"):
        unseal(kms, blob, key_id="alias/envelope-tests-other")


def test_unknown_key_id_is_a_kms_error(kms, sample):
    _, blob = sample
    with pytest.raises(ClientError) as caught:
        unseal(kms, blob, key_id="alias/does-not-exist")
    assert caught.value.response["Error"]["Code"] == "NotFoundException"
    with pytest.raises(ClientError) as caught:
        seal(kms, "alias/does-not-exist", b"x")
    assert caught.value.response["Error"]["Code"] == "NotFoundException"


def test_message_pointed_at_another_key_is_refused_by_kms(kms, sample, other_key_arn, key_arn):
    """Rewrite the header's key ARN: the data key was encrypted under the first key."""
    _, blob = sample
    assert len(other_key_arn) == len(key_arn)
    start, end = header_field_offsets(blob)["key ARN"]
    forged = blob[:start] + other_key_arn.encode() + blob[end:]
    with pytest.raises(ClientError) as caught:
        unseal(kms, forged, key_id=other_key_arn)
    assert caught.value.response["Error"]["Code"] in KMS_REFUSALS


# --- bounds -----------------------------------------------------------------------------


@pytest.mark.parametrize("frame_size", [0, 15, envelope.MAX_FRAME_SIZE + 1, 1.5])
def test_frame_size_out_of_bounds_is_refused_on_encrypt(kms, key_arn, frame_size):
    with pytest.raises(LimitExceededError):
        seal(kms, key_arn, b"x", frame_size=frame_size)


def test_frame_size_out_of_bounds_in_a_header_is_refused(kms, sample):
    _, blob = sample
    start, end = header_field_offsets(blob)["frame size"]
    for claimed in (0, envelope.MAX_FRAME_SIZE + 1, 2**32 - 1):
        with pytest.raises(LimitExceededError, match="frame size"):
            unseal(kms, blob[:start] + struct.pack(">I", claimed) + blob[end:])


def test_oversized_context_is_refused(kms, key_arn):
    with pytest.raises(LimitExceededError, match="encryption context"):
        seal(kms, key_arn, b"x", {f"k{i}": "v" * 100 for i in range(100)})


def test_message_size_limit_on_both_sides(kms, key_arn, monkeypatch):
    blob = seal(kms, key_arn, os.urandom(10 * FRAME))
    monkeypatch.setattr(envelope, "MAX_MESSAGE_SIZE", 4 * FRAME)
    with pytest.raises(LimitExceededError, match="larger than"):
        seal(kms, key_arn, os.urandom(10 * FRAME))
    with pytest.raises(LimitExceededError, match="larger than"):
        unseal(kms, blob)


def test_frame_count_limit_on_both_sides(kms, key_arn, monkeypatch):
    blob = seal(kms, key_arn, os.urandom(10 * FRAME))
    monkeypatch.setattr(envelope, "MAX_FRAMES", 3)
    with pytest.raises(LimitExceededError, match="frames"):
        seal(kms, key_arn, os.urandom(10 * FRAME))
    with pytest.raises(LimitExceededError, match="frames"):
        unseal(kms, blob)


def test_memory_stays_bounded_for_a_large_file(kms, key_arn, tmp_path):
    """Python allocations stay at a few frames, whatever the size (the benchmark measures RSS)."""
    (tmp_path / "plain").write_bytes(os.urandom(24 * 1024 * 1024))
    tracemalloc.start()
    try:
        encrypt_file(tmp_path / "plain", tmp_path / "sealed", key_id=key_arn, encryption_context=CONTEXT, kms_client=kms)
        decrypt_file(tmp_path / "sealed", tmp_path / "opened", encryption_context=CONTEXT, kms_client=kms)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 12 * 1024 * 1024
    assert (tmp_path / "opened").stat().st_size == 24 * 1024 * 1024


# --- atomic outputs ---------------------------------------------------------------------


@pytest.fixture
def sealed_file(kms, key_arn, tmp_path):
    data = os.urandom(6 * FRAME + 5)
    (tmp_path / "plain").write_bytes(data)
    encrypt_file(tmp_path / "plain", tmp_path / "sealed", key_id=key_arn, encryption_context=CONTEXT,
                 kms_client=kms, frame_size=FRAME)
    return tmp_path / "sealed", data


def test_tampered_last_frame_leaves_no_output(kms, sealed_file):
    sealed, _ = sealed_file
    sealed.write_bytes(flip(sealed.read_bytes(), len(sealed.read_bytes()) - 1))
    with pytest.raises(AuthenticationError):
        decrypt_file(sealed, sealed.parent / "opened", encryption_context=CONTEXT, kms_client=kms)
    assert not (sealed.parent / "opened").exists()
    assert leftovers(sealed.parent) == []


def test_truncated_file_leaves_no_output(kms, sealed_file):
    sealed, _ = sealed_file
    sealed.write_bytes(sealed.read_bytes()[:-30])
    with pytest.raises(TruncatedError):
        decrypt_file(sealed, sealed.parent / "opened", encryption_context=CONTEXT, kms_client=kms)
    assert not (sealed.parent / "opened").exists() and leftovers(sealed.parent) == []


def test_failure_leaves_an_existing_destination_untouched(kms, sealed_file):
    sealed, _ = sealed_file
    existing = sealed.parent / "opened"
    existing.write_bytes(b"previous content")
    with pytest.raises(ContextMismatchError):
        decrypt_file(sealed, existing, encryption_context={"project": "other"}, kms_client=kms)
    sealed.write_bytes(flip(sealed.read_bytes(), len(sealed.read_bytes()) - 1))
    with pytest.raises(AuthenticationError):
        decrypt_file(sealed, existing, encryption_context=CONTEXT, kms_client=kms)
    assert existing.read_bytes() == b"previous content" and leftovers(sealed.parent) == []


def test_success_replaces_an_existing_destination(kms, sealed_file):
    sealed, data = sealed_file
    existing = sealed.parent / "opened"
    existing.write_bytes(b"previous content")
    decrypt_file(sealed, existing, encryption_context=CONTEXT, kms_client=kms)
    assert existing.read_bytes() == data


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
            encrypt_file(sealed.parent / "plain", target, key_id=key_arn, encryption_context=CONTEXT,
                         kms_client=kms, progress=interrupt, frame_size=FRAME)
        else:
            decrypt_file(sealed, target, encryption_context=CONTEXT, kms_client=kms, progress=interrupt)
    assert not target.exists() and leftovers(sealed.parent) == []


def test_decrypt_bytes_returns_nothing_from_a_bad_message(kms, sample):
    _, blob = sample
    with pytest.raises(AuthenticationError):
        unseal(kms, flip(blob, len(blob) - 1))


def test_missing_source_is_an_os_error_and_creates_nothing(kms, key_arn, tmp_path):
    with pytest.raises(FileNotFoundError):
        encrypt_file(tmp_path / "missing", tmp_path / "out", key_id=key_arn, encryption_context=CONTEXT, kms_client=kms)
    assert list(tmp_path.iterdir()) == []


def test_output_file_is_private(kms, sealed_file):
    sealed, _ = sealed_file
    decrypt_file(sealed, sealed.parent / "opened", encryption_context=CONTEXT, kms_client=kms)
    assert (sealed.parent / "opened").stat().st_mode & 0o077 == 0
    assert sealed.stat().st_mode & 0o077 == 0


# --- progress and errors ----------------------------------------------------------------


def test_progress_reports_input_bytes_up_to_the_total(kms, key_arn, sealed_file):
    sealed, data = sealed_file
    seen = []
    encrypt_file(sealed.parent / "plain", sealed.parent / "again", key_id=key_arn, encryption_context=CONTEXT,
                 kms_client=kms, frame_size=FRAME, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (len(data), len(data))
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    seen.clear()
    decrypt_file(sealed, sealed.parent / "opened", encryption_context=CONTEXT, kms_client=kms,
                 progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (sealed.stat().st_size, sealed.stat().st_size)


def test_envelope_errors_are_one_line_workshop_errors():
    for cls in (NotAnEnvelopeError, HeaderError, ContextMismatchError, KeyMismatchError, AuthenticationError,
                TruncatedError, TrailingDataError, LimitExceededError, FrameError):
        assert issubclass(cls, EnvelopeError) and issubclass(cls, WorkshopError)
    assert envelope.TamperedError is AuthenticationError
    assert "\n" not in str(HeaderError("two\nlines"))
