"""Keys: the data key from KMS, the keys derived from it, and the signed suite's ECDSA key.

- Encrypt: one GenerateDataKey per message (AES_256, with the stored encryption
  context); the header keeps GenerateDataKey's key ARN and CiphertextBlob.
- Decrypt, strict (the default, as the SDK's StrictAwsKmsMasterKeyProvider): the caller
  names the key; a message under any other key is refused before KMS is called, and
  Decrypt names the key explicitly. Discovery (as the SDK's discovery filter) only on
  explicit request: any KMS key of the accounts listed.
- From the data key: HKDF-SHA512 with the message id as salt; one extract, two expands:
  the AES-256-GCM key (info = suite id + "DERIVEKEY") and the 32-byte key commitment
  stored in the header (info = "COMMITKEY"), compared in constant time.

Memory hygiene, honestly: the plaintext data key is moved out of the KMS response into
a bytearray that is zeroed once the keys are derived. Copies remain that Python cannot
reach: botocore parsed the response (base64 text, then `bytes`), and HKDF's output and
the AES key inside `cryptography`'s cipher object are immutable. They are dropped as
early as possible and their memory is reused in time, but nothing here can promise that
a memory dump of the process taken during or shortly after a call holds no copy.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from . import message as fmt
from .refusals import (
    AuthenticationError,
    EnvelopeError,
    KeyCommitmentError,
    KeyMismatchError,
    KeyRequiredError,
    SignatureError,
)

COMMIT_INFO = b"COMMITKEY"
SIGNATURE_BYTES = 103  # what the SDK writes for P-384, and so do we
_P384_ORDER = int(
    "ffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973", 16
)
_KEY_ARN = re.compile(r"^arn:(?P<partition>[a-z0-9-]+):kms:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):key/.+$")
_ACCOUNT = re.compile(r"^\d{12}$")


@dataclass
class MessageKeys:
    aead: AESGCM  # the data encryption key, held inside the cipher object
    commitment: bytes


@dataclass(frozen=True)
class Discovery:
    """Decrypt with whichever KMS key the message names, if it belongs to one of `accounts`
    (and `partition`): the SDK's DiscoveryAwsKmsMasterKeyProvider with a DiscoveryFilter.
    Weaker than naming the key: any key of those accounts that you may use will do."""

    accounts: tuple[str, ...]
    partition: str = "aws"

    def __init__(self, accounts: Iterable[str], partition: str = "aws"):
        if isinstance(accounts, str):
            accounts = [accounts]
        accounts = tuple(accounts)
        if not accounts:
            raise EnvelopeError("discovery needs at least one AWS account id to accept keys from")
        for account in accounts:
            if not isinstance(account, str) or not _ACCOUNT.match(account):
                raise EnvelopeError(f"discovery account {account!r} is not a 12-digit AWS account id")
        if not isinstance(partition, str) or not partition:
            raise EnvelopeError("discovery needs a partition (for example 'aws')")
        object.__setattr__(self, "accounts", accounts)
        object.__setattr__(self, "partition", partition)

    def accepts(self, key_arn: str) -> bool:
        match = _KEY_ARN.match(key_arn)
        return match is not None and match["partition"] == self.partition and match["account"] in self.accounts

    def __str__(self) -> str:
        return f"accounts {', '.join(self.accounts)} in partition {self.partition}"


# --- derivation -------------------------------------------------------------------------------


def derive_keys(data_key: bytearray, message_id: bytes, suite: fmt.Suite) -> MessageKeys:
    """The data encryption key and the key commitment; `data_key` is zeroed, whatever happens."""
    try:
        prk = hmac.digest(message_id, data_key, "sha512")  # HKDF-Extract, salt = message id
        key = HKDFExpand(hashes.SHA512(), fmt.DATA_KEY_BYTES, suite.derive_info).derive(prk)
        commitment = HKDFExpand(hashes.SHA512(), fmt.COMMITMENT_BYTES, COMMIT_INFO).derive(prk)
        keys = MessageKeys(AESGCM(key), commitment)
        del prk, key
        return keys
    finally:
        wipe(data_key)


def wipe(buffer: bytearray) -> None:
    buffer[:] = bytes(len(buffer))


def take_data_key(response: dict) -> bytearray:
    """Move the plaintext data key out of a KMS response into a zeroable bytearray."""
    data_key = bytearray(response.pop("Plaintext"))
    if len(data_key) != fmt.DATA_KEY_BYTES:
        size = len(data_key)
        wipe(data_key)
        raise EnvelopeError(f"KMS returned a data key of {size} bytes; AES-256 needs {fmt.DATA_KEY_BYTES}")
    return data_key


def header_tag(keys: MessageKeys, body: bytes) -> bytes:
    return keys.aead.encrypt(fmt.HEADER_IV, b"", body)


# --- KMS --------------------------------------------------------------------------------------


def kms_context_kwargs(context: dict[str, str]) -> dict:
    return {"EncryptionContext": dict(context)} if context else {}


def generate(kms, key_id: str, stored_context: dict[str, str]) -> tuple[bytearray, str, bytes]:
    """(plaintext data key, key ARN, CiphertextBlob) from one GenerateDataKey."""
    response = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", **kms_context_kwargs(stored_context))
    data_key = take_data_key(response)
    key_arn = response["KeyId"]
    if not _KEY_ARN.match(key_arn) or len(key_arn.encode("utf-8")) > fmt.MAX_PROVIDER_INFO_BYTES:
        wipe(data_key)
        raise EnvelopeError(f"KMS answered GenerateDataKey with {key_arn!r}, which is not a key ARN")
    return data_key, key_arn, response["CiphertextBlob"]


def resolve_key_arn(kms, key_id: str) -> str:
    """A key ARN as is; anything else (alias, alias ARN, key id) through DescribeKey."""
    if _KEY_ARN.match(key_id):
        return key_id
    return kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"]


def _names(header: fmt.Header) -> str:
    arns = [edk.key_arn for edk in header.kms_keys if edk.key_arn]
    if arns:
        return ", ".join(arns)
    providers = sorted({edk.provider_id for edk in header.encrypted_data_keys})
    return "no AWS KMS key (its data keys are for " + ", ".join(providers) + ")"


def check_choice(key_id: str | None, discovery: Discovery | None) -> None:
    """Strict (a key named) or discovery (asked for): exactly one of them."""
    if key_id is not None and discovery is not None:
        raise EnvelopeError("give either key_id (strict) or discovery, not both")
    if key_id is None and discovery is None:
        raise KeyRequiredError(
            "decrypt needs the KMS key: pass key_id= (the key ARN or an alias), or "
            "discovery=envelope.Discovery(accounts=[...]) to accept any key of those accounts"
        )
    if discovery is not None and not isinstance(discovery, Discovery):
        raise EnvelopeError(f"discovery must be an envelope.Discovery, not {type(discovery).__name__}")
    if key_id is not None and (not isinstance(key_id, str) or not key_id):
        raise EnvelopeError(f"key_id must be a key ARN, alias or key id, not {key_id!r}")


def candidates(header: fmt.Header, kms, key_id: str | None, discovery: Discovery | None) -> list[tuple[str, bytes]]:
    """The (key ARN, encrypted data key) pairs the caller accepts, decided before any Decrypt."""
    check_choice(key_id, discovery)
    if discovery is not None:
        found = [
            (edk.key_arn, edk.ciphertext) for edk in header.kms_keys if edk.key_arn and discovery.accepts(edk.key_arn)
        ]
        if not found:
            raise KeyMismatchError(f"the message is encrypted under {_names(header)}, not a key of {discovery}")
        return found
    assert key_id is not None  # check_choice: a key id, or discovery
    wanted = resolve_key_arn(kms, key_id)
    found = [(wanted, edk.ciphertext) for edk in header.kms_keys if edk.key_arn == wanted]
    if not found:
        named = key_id if key_id == wanted else f"{key_id} ({wanted})"
        raise KeyMismatchError(f"the message is encrypted under {_names(header)}, not {named}")
    return found


def unwrap(header: fmt.Header, kms, accepted: list[tuple[str, bytes]]) -> MessageKeys:
    """Decrypt (naming the key) each accepted data key until one works, then check the
    key commitment and the header tag. KMS's refusal of the last one propagates."""
    for index, (key_arn, ciphertext) in enumerate(accepted):
        try:
            response = kms.decrypt(
                CiphertextBlob=ciphertext, KeyId=key_arn, **kms_context_kwargs(header.stored_context)
            )
        except Exception:
            if index == len(accepted) - 1:
                raise
            continue
        data_key = take_data_key(response)
        if response.get("KeyId", key_arn) != key_arn:
            wipe(data_key)
            raise KeyMismatchError(f"KMS decrypted the data key with {response['KeyId']}, not {key_arn}")
        keys = derive_keys(data_key, header.message_id, header.suite)
        if not hmac.compare_digest(keys.commitment, header.commitment):
            raise KeyCommitmentError(
                "the data key does not match the message's key commitment: wrong data key or modified header"
            )
        try:
            keys.aead.decrypt(fmt.HEADER_IV, header.tag, header.body)
        except InvalidTag:
            raise AuthenticationError("the header failed authentication: it was modified") from None
        return keys
    raise KeyMismatchError("no encrypted data key to decrypt")  # unreachable: `accepted` is never empty


# --- the signed suite ---------------------------------------------------------------------------


class Signer:
    """A fresh ECDSA P-384 key per message; the private half never leaves this object."""

    def __init__(self):
        self._key = ec.generate_private_key(ec.SECP384R1())
        self.public_key = fmt.encode_public_key(self._key.public_key())

    def sign(self, digest: bytes) -> bytes:
        """A DER signature of exactly 103 bytes, as the SDK writes (re-sign or negate s)."""
        algorithm = ec.ECDSA(Prehashed(hashes.SHA384()))
        while True:
            signature = self._key.sign(digest, algorithm)
            if len(signature) == SIGNATURE_BYTES:
                break
            r, s = decode_dss_signature(signature)
            signature = encode_dss_signature(r, _P384_ORDER - s)
            if len(signature) == SIGNATURE_BYTES:
                break
        del self._key
        return signature


def verify(public_key: str, digest: bytes, signature: bytes) -> None:
    try:
        fmt.load_public_key(public_key).verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA384())))
    except InvalidSignature:
        raise SignatureError("the message's signature does not verify: the message was modified") from None


def new_hash():
    return hashlib.sha384()
