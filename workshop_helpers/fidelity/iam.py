"""IAM authorization as on AWS, always on, in-process and over the endpoint.

moto's own check (`ActionAuthenticatorMixin._authenticate_and_authorize_action`) is off
by default, then applies to every credential, checks KMS against resource "*" only and
answers KMS with HTTP 403 and XML. It is replaced here:

- a request signed with an access key moto's IAM or STS did not issue acts as the
  account root and is allowed (the workshop's "testing" key, any made-up key), except on a
  class endpoint: there the caller is the key whose signature the class gate verified
  (credentials.verified()), an unknown key is refused, and no request is the root;
- credentials of IAM users and assumed roles are checked: the signature, the session's
  expiry, then their policies, read at call time;
- KMS requests are authorized as KMS does (kms_authorization.py): against the key ARN,
  with the key policy, the kms:EncryptionContext condition keys, and KMS's
  AccessDeniedException (HTTP 400, JSON, "User: ... is not authorized to perform ...");
- other services keep moto's evaluation (identity policies, moto's error shapes).
"""

from __future__ import annotations

from urllib.parse import urlparse

from moto.core.authorization import ActionAuthenticatorMixin
from moto.core.exceptions import InvalidClientTokenIdError, SignatureDoesNotMatchError, _RESTError

from . import credentials, kms_authorization, principals, sts, validation
from .exceptions import ExpiredTokenException, InvalidSignatureException, KmsError, UnrecognizedClientException

# STS serves these unsigned on AWS; every other operation needs a signed caller.
UNSIGNED_OPERATIONS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})


class MissingAuthenticationTokenException(KmsError):
    pass


_EXPIRED = "The security token included in the request is expired"


def _expired_error(is_kms: bool):
    if is_kms:
        return ExpiredTokenException(_EXPIRED)
    error = _RESTError("ExpiredToken", _EXPIRED)
    error.code = 400
    return error


def _invalid_key_error(is_kms: bool):
    if is_kms:
        return UnrecognizedClientException("The security token included in the request is invalid.")
    return InvalidClientTokenIdError()


def _moto_iam_request(self, iam_request_cls, account_id: str):
    """moto's IAMRequest for this request: it checks the key, token and signature against
    the IAM of `account_id`, the account that issued the key."""
    parsed_url = urlparse(self.uri)
    path = self.raw_path + (f"?{parsed_url.query}" if parsed_url.query else "")
    return iam_request_cls(
        account_id=account_id,
        method=self.method,
        path=path,
        data=self.data,
        body=self.raw_body,
        headers=self.headers,
        action=self._get_action(),
    )


def _authenticate(self, iam_request_cls, is_kms: bool, account_id: str):
    try:
        iam_request = _moto_iam_request(self, iam_request_cls, account_id)
        iam_request.check_signature()
    except InvalidClientTokenIdError:
        raise _invalid_key_error(is_kms) from None
    except SignatureDoesNotMatchError:
        if is_kms:
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method."
            ) from None
        raise
    return iam_request


def _verified_iam_request(self, iam_request_cls, account_id: str, claim: credentials.Claim):
    """moto's IAMRequest for the caller the gate verified, whatever form the request came
    in (a header or a presigned URL): moto reads the key, and the session token it must
    match, from these headers only."""
    headers = {"Authorization": credentials.header_of(claim)}
    if claim.token is not None:
        headers["X-Amz-Security-Token"] = claim.token
    return iam_request_cls(
        account_id=account_id,
        method=self.method,
        path=self.raw_path,
        data=self.data,
        body=self.raw_body,
        headers=headers,
        action=self._get_action(),
    )


def _authorize_verified(self, iam_request_cls, resource: str, claim: credentials.Claim) -> None:
    """A class endpoint's request. The caller is the key whose signature the gate verified
    (credentials.py), never a second reading of the headers; no key acts as the root."""
    # deferred: moto's IAM models load in apply(), not on import
    from moto.iam.models import get_account_id_from

    is_kms = self.service_name == "kms"
    if not claim.signed:  # only what STS serves unsigned passes the gate; STS decides (sts.py)
        if self._get_action() in UNSIGNED_OPERATIONS:
            return
        if is_kms:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        error = _RESTError("MissingAuthenticationToken", "Request is missing Authentication Token")
        error.code = 403
        raise error
    access_key = claim.access_key or ""
    issuer = get_account_id_from(access_key)
    principal = principals.identify(issuer, self.partition, access_key)
    if principal is None or not principal.active:
        raise _invalid_key_error(is_kms)
    if principals.is_expired(principal):
        raise _expired_error(is_kms)
    if is_kms:
        validation.check_request(self)
        kms_authorization.authorize_request(self, principal)
    else:
        _verified_iam_request(self, iam_request_cls, issuer, claim).check_action_permitted(resource)


def authenticate_and_authorize(self, iam_request_cls: type, resource: str = "*") -> None:
    """Replaces moto's ActionAuthenticatorMixin._authenticate_and_authorize_action.

    A KMS request is also checked against the API's constraints (validation.py) once it is
    authenticated and before it is authorized, as AWS does."""
    if self.headers.get("X-Amz-Target") in ActionAuthenticatorMixin.PUBLIC_OPERATIONS:
        return
    claim = credentials.verified()
    if claim is not None:  # a class endpoint: its gate verified the signature
        _authorize_verified(self, iam_request_cls, resource, claim)
        return
    is_kms = self.service_name == "kms"
    if "Authorization" not in self.headers:  # unsigned or presigned: treated like the root key
        if is_kms:
            validation.check_request(self)
        return
    # The principal is looked up in the account that issued the key: the request may run
    # in another account's backend (a class endpoint's cross-account KMS call, moto's
    # account header), where it is authorized as that caller, as on AWS.
    # deferred: moto's IAM models load in apply(), not on import
    from moto.iam.models import get_account_id_from

    access_key = self.get_access_key()
    issuer = get_account_id_from(access_key)
    principal = principals.identify(issuer, self.partition, access_key)
    if principal is None:  # a key this backend did not issue acts as the account root
        if is_kms:
            validation.check_request(self)
        return
    iam_request = _authenticate(self, iam_request_cls, is_kms, issuer)
    if not principal.active:
        raise _invalid_key_error(is_kms)
    if principals.is_expired(principal):
        raise _expired_error(is_kms)
    if is_kms:
        validation.check_request(self)
        kms_authorization.authorize_request(self, principal)
    else:
        iam_request.check_action_permitted(resource)


def install() -> None:
    ActionAuthenticatorMixin._authenticate_and_authorize_action = authenticate_and_authorize
    sts.install()  # AssumeRole's trust and identity checks, in the role's own account
