"""The KMS errors the fidelity layer raises, shaped as KMS sends them.

moto turns a `JsonRESTError` raised inside a KMS action into a JSON body
`{"__type": code, "message": ...}` with the class's HTTP status, the same shape real KMS
uses, so botocore raises a ClientError whose code is the KMS exception name.
"""

from __future__ import annotations

from moto.core.exceptions import JsonRESTError


class KmsError(JsonRESTError):
    """A KMS error: HTTP 400 and the JSON error shape, like every KMS client error."""

    code = 400

    def __init__(self, message: str = ""):
        super().__init__(type(self).__name__, message)


class AccessDeniedException(KmsError):
    pass


class DisabledException(KmsError):
    pass


class ExpiredImportTokenException(KmsError):
    pass


class IncorrectKeyException(KmsError):
    pass


class IncorrectKeyMaterialException(KmsError):
    pass


class InvalidCiphertextException(KmsError):
    pass


class InvalidImportTokenException(KmsError):
    pass


class InvalidKeyUsageException(KmsError):
    pass


class KMSInternalException(KmsError):
    """Real KMS sends this with HTTP 500, which botocore retries: sent with 400 here, so
    the learner sees it at once instead of after several silent retries."""


class KMSInvalidStateException(KmsError):
    pass


class NotFoundException(KmsError):
    pass


class UnsupportedOperationException(KmsError):
    pass


class ValidationException(KmsError):
    pass


class ExpiredTokenException(KmsError):
    """STS credentials past their expiration (KMS answers with this code too)."""


# Human wording of the states KMS names in its KMSInvalidStateException messages.
_STATE_WORDS = {
    "PendingDeletion": "pending deletion",
    "PendingImport": "pending import",
    "Unavailable": "unavailable",
}


def invalid_state(key) -> KMSInvalidStateException:
    """The KMSInvalidStateException KMS gives for a key in the wrong state for the call."""
    words = _STATE_WORDS.get(key.key_state, key.key_state)
    return KMSInvalidStateException(f"{key.arn} is {words}.")


class UnrecognizedClientException(KmsError):
    """KMS's answer to credentials it does not know (IAM answers InvalidClientTokenId)."""


class InvalidSignatureException(KmsError):
    """KMS's answer to a request signed with the wrong secret key."""
