"""Two implementations, one format: workshop_helpers.envelope and the official AWS
Encryption SDK for Python decrypt each other's messages.

The SDK runs as its documentation shows (EncryptionSDKClient with the commitment policy
REQUIRE_ENCRYPT_REQUIRE_DECRYPT, StrictAwsKmsMasterKeyProvider with the key ARN), against
in-process moto (connect("moto") hooks every botocore client, the SDK's too) and against
the `serve` endpoint. Matrix: both directions x both suites x sizes 0, 1, frame-1, frame,
frame+1 and several frames x an empty and a non-empty context x both backends; then the
SDK's defaults (suite 0x0578, 4 KiB frames) and this package's (1 MiB frames).
"""

from __future__ import annotations

import os

import aws_encryption_sdk
import botocore.session
import pytest
from aws_encryption_sdk.identifiers import Algorithm, CommitmentPolicy

from workshop_helpers import envelope

REGION = "eu-west-1"
FRAME = 4096
SIZES = [0, 1, FRAME - 1, FRAME, FRAME + 1, 3 * FRAME + 5]
CONTEXTS = {"empty-context": {}, "context": {"project": "workshop", "purpose": "interop", "é": "ü"}}
SUITES = {
    "0x0478": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY,
    "0x0578": Algorithm.AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384,
}


class Side:
    """One backend: a KMS client for envelope, an SDK client and strict provider for one key."""

    def __init__(self, kms, provider_factory):
        self.kms = kms
        self.key_arn = kms.create_key(Description="envelope interop")["KeyMetadata"]["Arn"]
        self.client = aws_encryption_sdk.EncryptionSDKClient(
            commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        )
        self.provider = provider_factory(self.key_arn)

    def sdk_encrypt(self, data, context, algorithm=None, frame_length=None):
        kwargs = {"algorithm": algorithm} if algorithm else {}
        if frame_length is not None:
            kwargs["frame_length"] = frame_length
        message, _ = self.client.encrypt(source=data, key_provider=self.provider, encryption_context=context, **kwargs)
        return message

    def sdk_decrypt(self, message):
        plaintext, header = self.client.decrypt(source=message, key_provider=self.provider)
        return plaintext, header


@pytest.fixture(scope="module")
def inprocess(moto_workshop):
    def provider(key_arn):
        return aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])

    return Side(moto_workshop.client("kms"), provider)


@pytest.fixture(scope="module")
def endpoint(endpoint_kms_env, fidelity_endpoint):
    def provider(key_arn):
        # The SDK makes its own clients, from a botocore session: point that one at serve.
        session = botocore.session.Session()
        session.set_credentials("testing", "testing")
        old = os.environ.get("AWS_ENDPOINT_URL_KMS")
        os.environ["AWS_ENDPOINT_URL_KMS"] = fidelity_endpoint.url
        try:
            made = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(
                key_ids=[key_arn], botocore_session=session, region_names=[REGION]
            )
        finally:
            if old is None:
                del os.environ["AWS_ENDPOINT_URL_KMS"]
            else:
                os.environ["AWS_ENDPOINT_URL_KMS"] = old
        assert made._regional_clients[REGION].meta.endpoint_url == fidelity_endpoint.url
        return made

    return Side(endpoint_kms_env.kms, provider)


@pytest.fixture(params=["inprocess", pytest.param("endpoint", marks=pytest.mark.endpoint)])
def side(request) -> Side:
    return request.getfixturevalue(request.param)


def payload(size: int) -> bytes:
    return os.urandom(size)


@pytest.mark.parametrize("context_name", CONTEXTS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("suite", SUITES)
def test_the_sdk_decrypts_what_envelope_writes(side, suite, size, context_name):
    context, data = CONTEXTS[context_name], payload(size)
    message = envelope.encrypt_bytes(
        data,
        key_id=side.key_arn,
        encryption_context=context,
        kms_client=side.kms,
        frame_size=FRAME,
        signed=suite == "0x0578",
    )
    plaintext, header = side.sdk_decrypt(message)
    assert plaintext == data
    assert header.algorithm == SUITES[suite] and header.frame_length == FRAME
    assert {k: v for k, v in header.encryption_context.items() if not k.startswith("aws-crypto-")} == context
    assert [k.key_provider.key_info.decode() for k in header.encrypted_data_keys] == [side.key_arn]


@pytest.mark.parametrize("context_name", CONTEXTS)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("suite", SUITES)
def test_envelope_decrypts_what_the_sdk_writes(side, suite, size, context_name):
    context, data = CONTEXTS[context_name], payload(size)
    message = side.sdk_encrypt(data, context, algorithm=SUITES[suite], frame_length=FRAME)
    assert envelope.decrypt_bytes(message, encryption_context=context, key_id=side.key_arn, kms_client=side.kms) == data
    header = envelope.read_header(message)
    assert header.suite.id == SUITES[suite].algorithm_id and header.encryption_context == context


def test_envelope_decrypts_the_sdks_default_output(side, tmp_path):
    """The SDK with no choices made: suite 0x0578, 4 KiB frames; a file of several frames."""
    data = payload(10 * 4096 + 123)
    message = side.sdk_encrypt(data, {"project": "workshop"})
    header = envelope.read_header(message)
    assert (header.suite.id, header.frame_size) == (0x0578, 4096)
    (tmp_path / "sdk.encrypted").write_bytes(message)
    envelope.decrypt_file(
        tmp_path / "sdk.encrypted",
        tmp_path / "back",
        encryption_context={"project": "workshop"},
        key_id=side.key_arn,
        kms_client=side.kms,
    )
    assert (tmp_path / "back").read_bytes() == data


@pytest.mark.parametrize("signed", [False, True], ids=["0x0478", "0x0578"])
def test_the_sdk_streams_envelopes_default_frames(side, tmp_path, signed):
    """1 MiB frames, several of them, read through the SDK's streaming API."""
    data = payload(2 * envelope.DEFAULT_FRAME_SIZE + 7)
    (tmp_path / "plain").write_bytes(data)
    envelope.encrypt_file(
        tmp_path / "plain",
        tmp_path / "sealed",
        key_id=side.key_arn,
        encryption_context={"project": "workshop"},
        kms_client=side.kms,
        signed=signed,
    )
    with open(tmp_path / "sealed", "rb") as source:
        with side.client.stream(mode="d", source=source, key_provider=side.provider) as stream:
            back = b"".join(iter(lambda: stream.read(1024 * 1024), b""))
            assert stream.header.frame_length == envelope.DEFAULT_FRAME_SIZE
    assert back == data


def test_bytes_appended_to_an_sdk_message(side):
    """The SDK's one-shot decrypt ignores bytes after the message; envelope refuses them."""
    data = payload(100)
    message = side.sdk_encrypt(data, {}) + b"appended"
    assert side.sdk_decrypt(message)[0] == data
    with pytest.raises(envelope.TrailingDataError):
        envelope.decrypt_bytes(message, encryption_context={}, key_id=side.key_arn, kms_client=side.kms)


def test_the_sdk_refuses_envelope_messages_tampered_like_envelope_does(side):
    """One flipped byte in the last frame: refused by both readers."""
    from aws_encryption_sdk.exceptions import AWSEncryptionSDKClientError

    for signed in (False, True):
        message = bytearray(
            envelope.encrypt_bytes(
                payload(3 * FRAME),
                key_id=side.key_arn,
                encryption_context={},
                kms_client=side.kms,
                frame_size=FRAME,
                signed=signed,
            )
        )
        message[-120] ^= 0x01
        with pytest.raises((AWSEncryptionSDKClientError, Exception)):
            side.sdk_decrypt(bytes(message))
        with pytest.raises(envelope.AuthenticationError):
            envelope.decrypt_bytes(bytes(message), encryption_context={}, key_id=side.key_arn, kms_client=side.kms)
