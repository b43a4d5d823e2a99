"""Solution to the exercise of notebook 06: decrypt only with exactly the expected context.

With a master key provider the AWS Encryption SDK decrypts any message it has a key for
and returns the header's encryption context: checking it is the caller's job. Uses the
notebook's `client` and `provider`.
"""


class UnexpectedContext(Exception):
    """The message's encryption context is not the one this code expects."""


def decrypt_expecting(message, expected):
    plaintext, header = client.decrypt(source=message, key_provider=provider)  # noqa: F821
    found = {k: v for k, v in header.encryption_context.items() if not k.startswith("aws-crypto-")}
    if found != dict(expected):
        raise UnexpectedContext(f"expected {expected}, the message says {found}")
    return plaintext
