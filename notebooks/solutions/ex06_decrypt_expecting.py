"""Exercise 06: decrypt only with exactly the expected context.

With a master key provider the AWS Encryption SDK decrypts any message it has a key for
and returns the header's encryption context: checking it is the caller's job.

How to use it in notebook 06 (which runs in notebooks/, so `solutions` is importable):

    from solutions.ex06_decrypt_expecting import decrypt_expecting
    check_decrypt_expecting(decrypt_expecting, key_arn=key.arn)

or type `%load solutions/ex06_decrypt_expecting.py` in an empty cell to paste this code in
and read it. Pasted, it uses the notebook's `client` and `provider`; imported, it makes
the same two for the ImportedCMK of the workshop's connection (or takes yours as
keyword arguments).
"""

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy

import workshop_helpers
from workshop_helpers import fixtures


class UnexpectedContext(Exception):
    """The message's encryption context is not the one this code expects."""


def sdk_for_imported_cmk():
    """A client that requires key commitment and a strict provider for the ImportedCMK,
    as notebook 06 makes them."""
    ws = workshop_helpers.connect()
    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[fixtures.ensure_imported_cmk(ws).arn])
    return client, provider


def decrypt_expecting(message, expected, *, client=None, provider=None):
    if client is None or provider is None:
        # pasted into the notebook: its own client and provider; imported: made here
        here = globals()
        if "client" in here and "provider" in here:
            client, provider = here["client"], here["provider"]
        else:
            client, provider = sdk_for_imported_cmk()
    plaintext, header = client.decrypt(source=message, key_provider=provider)
    found = {k: v for k, v in header.encryption_context.items() if not k.startswith("aws-crypto-")}
    if found != dict(expected):
        raise UnexpectedContext(f"expected {expected}, the message says {found}")
    return plaintext
