"""What can go wrong with a message: one `EnvelopeError` subclass per kind, one line each.

KMS's own refusals are not here: they stay botocore `ClientError`s, code intact.
"""

from __future__ import annotations

from ..errors import WorkshopError


class EnvelopeError(WorkshopError):
    """A message could not be written or read; the message says what is wrong."""


class NotAnEnvelopeError(EnvelopeError):
    """The input does not start like an AWS Encryption SDK message."""


class HeaderError(EnvelopeError):
    """The header is malformed."""


class UnsupportedVersionError(HeaderError):
    """A message format version this code does not read (version 1: not key-committing)."""


class UnsupportedAlgorithmError(HeaderError):
    """An algorithm suite or content type this code does not read."""


class LimitExceededError(EnvelopeError):
    """A size or count is beyond the bounds the reader or writer enforces."""


class ContextError(EnvelopeError):
    """An encryption context is not a mapping of non-empty strings to strings."""


class ContextMismatchError(EnvelopeError):
    """The message's encryption context is not the one the caller expected."""


class KeyRequiredError(EnvelopeError):
    """Decrypt was asked for without naming the KMS key (and without discovery)."""


class KeyMismatchError(EnvelopeError):
    """The message is encrypted under another KMS key than the caller accepts."""


class AuthenticationError(EnvelopeError):
    """A tag, the key commitment or the signature did not verify: the message was modified."""


TamperedError = AuthenticationError


class KeyCommitmentError(AuthenticationError):
    """The data key does not match the message's key commitment."""


class SignatureError(AuthenticationError):
    """The signature in the footer does not verify, or a signature was required and absent."""


class FrameError(EnvelopeError):
    """A frame's sequence number, IV or length is malformed."""


class TruncatedError(EnvelopeError):
    """The message ends before its final frame (or its footer)."""


class TrailingDataError(EnvelopeError):
    """Bytes follow the end of the message."""
