"""The KMS errors the fidelity layer raises, shaped as KMS sends them.

moto turns a `JsonRESTError` raised inside a KMS action into a JSON body
`{"__type": code, "message": ...}` with the class's HTTP status, the same shape real KMS
uses, so botocore raises a ClientError whose code is the KMS exception name.
"""

from __future__ import annotations

import json

from moto.core.exceptions import JsonRESTError


class KmsError(JsonRESTError):
    """A KMS error: HTTP 400 and the JSON error shape, like every KMS client error.

    `message=None` sends no `message` field at all, as KMS does for some errors
    (InvalidCiphertextException on Decrypt, UnsupportedOperationException on
    RotateKeyOnDemand of an asymmetric key); botocore then reports an empty Message.
    """

    code = 400

    def __init__(self, message: str | None = ""):
        super().__init__(type(self).__name__, message or "")
        if message is None:
            # moto sends `description` as the body (call_action, get_body)
            self.description = json.dumps({"__type": self.error_type})


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
    """KMS sends it without a message (Decrypt of a garbage, tampered or mismatched blob)."""

    def __init__(self, message: str | None = None):
        super().__init__(message)


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


class TagException(KmsError):
    pass


class LimitExceededException(KmsError):
    pass


class DryRunOperationException(KmsError):
    pass


class InvalidGrantTokenException(KmsError):
    pass


class NotAuthorizedException(KmsError):
    """What moto answers for an alias name in the reserved alias/aws/ space (no message)."""

    def __init__(self, message: str | None = ""):
        super().__init__(message)


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
