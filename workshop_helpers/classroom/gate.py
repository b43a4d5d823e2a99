"""The class's front door, in front of moto: only requests signed with credentials this
endpoint issued get in, each signature verified.

In class mode every request must be signed (SigV4, in the Authorization header or a
presigned URL) with an access key that the endpoint's IAM or STS issued (a participant's
key, or a session of a role in their account), and the signature must verify with the
secret it issued (fidelity/credentials.py reads and verifies; docs/threat-model.md).
Anything else is refused as AWS refuses it, before moto sees it:

- a key it did not issue: KMS UnrecognizedClientException, HTTP 400, JSON ("The security
  token included in the request is invalid."); IAM, STS and other query services:
  InvalidClientTokenId, HTTP 403; S3: InvalidAccessKeyId, HTTP 403; EC2: AuthFailure, 401;
- a signature that does not verify: InvalidSignatureException (KMS), SignatureDoesNotMatch
  (IAM, STS, S3), AuthFailure (EC2); a wrong or missing session token as an unknown key
  (an expired session is ExpiredToken, from fidelity/iam.py);
- a date more than 15 minutes off, an expired presigned URL, Signature Version 2, and
  ambiguous or malformed credentials: the error AWS gives for each (`refuse`);
- unsigned requests: each service's own error (MissingAuthenticationToken; KMS
  MissingAuthenticationTokenException; EC2 AuthFailure; S3 AccessDenied, as for an
  anonymous caller without a bucket policy), except the two STS operations AWS serves
  unsigned (AssumeRoleWithWebIdentity, AssumeRoleWithSAML), which reach STS as no one;
- moto's own control API (/moto-api: reset, dashboard) is closed, and moto's
  `x-moto-account-id` header is dropped: a participant cannot pick an account. The gate
  sets it to the verified signer's account, so moto runs the request there.

`screen` makes the checks that need no body (the form, the date, whether the key was
issued) for classroom/server.py, before the body is read; `wrap` verifies the signature,
which covers the body, inside the account's transaction.

KMS keys are per account in moto: a request naming another participant's key ARN or alias
ARN (or carrying a ciphertext made under their key; fidelity/key_refs.py reads which) would
be "not found" in the caller's account. On AWS it reaches
the key, and the key policy decides. So the gate runs such a request in the key's account
(moto's account header), still signed by the caller, and the fidelity layer authorizes it
as KMS does: AccessDeniedException ("... because no resource-based policy allows the
kms:... action") unless the key policy allows the caller's account (and its IAM policies
the caller) or the caller. Operations that KMS never allows across accounts
(ScheduleKeyDeletion, DisableKey, PutKeyPolicy, ...) are refused with the same error
whatever the key policy says. An alias name always means an alias of the caller's own
account, as on AWS.
"""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Callable
from xml.sax.saxutils import escape

from ..account import requests
from ..fidelity import credentials, key_refs, principals
from . import roster

RECORD = "kms_workshop.class.record"  # environ key: what the gate saw, for the progress
INVALID_TOKEN = "The security token included in the request is invalid."
# STS serves these unsigned on AWS (the caller proves itself with a token from an identity
# provider): they pass the gate unsigned, as no one, and STS itself decides (fidelity/sts.py).
UNSIGNED_STS = frozenset({"AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"})
# How much of an unsigned form body is read to name its service and operation (STS takes
# a SAML assertion of up to 100,000 characters); a larger unsigned body is not read.
UNSIGNED_PEEK = 128 * 1024
_QUERY_VERSIONS = {"2010-05-08": "iam", "2011-06-15": "sts"}


def _xml(text: str) -> str:
    return escape(text, {'"': "&quot;"})


def _respond(start_response, status: str, content_type: str, body: bytes) -> list[bytes]:
    start_response(
        status,
        [("Content-Type", content_type), ("Content-Length", str(len(body))), ("x-amzn-RequestId", str(uuid.uuid4()))],
    )
    return [body]


def _json_error(start_response, status: str, code: str, message: str) -> list[bytes]:
    body = json.dumps({"__type": code, "message": message}).encode()
    return _respond(start_response, status, "application/x-amz-json-1.1", body)


def _query_error(start_response, status: str, code: str, message: str) -> list[bytes]:
    body = (
        f'<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        f"<Code>{code}</Code><Message>{_xml(message)}</Message></Error>"
        f"<RequestId>{uuid.uuid4()}</RequestId></ErrorResponse>"
    ).encode()
    return _respond(start_response, status, "text/xml", body)


def _s3_error(start_response, status: str, code: str, message: str, access_key: str | None = None) -> list[bytes]:
    extra = f"<AWSAccessKeyId>{_xml(access_key)}</AWSAccessKeyId>" if access_key else ""
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code><Message>{_xml(message)}</Message>'
        f"{extra}<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
    ).encode()
    return _respond(start_response, status, "application/xml", body)


def _ec2_error(start_response, status: str, code: str, message: str) -> list[bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Response><Errors><Error><Code>{code}</Code>'
        f"<Message>{_xml(message)}</Message></Error></Errors><RequestID>{uuid.uuid4()}</RequestID></Response>"
    ).encode()
    return _respond(start_response, status, "text/xml", body)


def _is_kms(environ) -> bool:
    return environ.get("HTTP_X_AMZ_TARGET", "").startswith("TrentService.")


def _form_fields(environ, peek: bool) -> dict[str, str]:
    """Action and Version of a query-API request, from its query, or (`peek`) from a small
    form body, which is then put back for the layers inside."""
    fields = dict(credentials.query_pairs(environ.get("QUERY_STRING", "")))
    if "Action" in fields:
        return fields
    stream = environ.get("wsgi.input")
    if hasattr(stream, "getvalue"):  # already read (by account.wsgi, or an earlier peek)
        body = stream.getvalue()
    elif (
        peek
        and environ.get("REQUEST_METHOD") == "POST"
        and environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
        and (environ.get("CONTENT_LENGTH") or "0").isdigit()
        and 0 < int(environ.get("CONTENT_LENGTH") or 0) <= UNSIGNED_PEEK
        and stream is not None
    ):
        body = stream.read(int(environ["CONTENT_LENGTH"]))
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
    else:
        return fields
    return dict(credentials.query_pairs(body.decode("utf-8", "replace")))


def service_for_errors(environ, claimed: str | None, peek: bool = False) -> str | None:
    """The service whose error format answers a refused request: the one it was signed
    for, else what its target header, API version or path says (an unsigned request has
    nothing else: on AWS the host name would say)."""
    if _is_kms(environ):
        return "kms"
    if claimed:
        return claimed
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    fields = _form_fields(environ, peek)
    if "Action" in fields or "Version" in fields:
        version = fields.get("Version", "")
        if version in _QUERY_VERSIONS:
            return _QUERY_VERSIONS[version]
        if re.match(r"^20\d\d-\d\d-\d\d$", version) and version >= "2013-02-01" and version != "2011-06-15":
            return "ec2"
        return "sts" if fields.get("Action", "") in UNSIGNED_STS else "query"
    return "s3"


def refuse_unknown_key(environ, start_response, service: str | None, access_key: str) -> list[bytes]:
    if _is_kms(environ) or service in ("kms", "json"):
        return _json_error(start_response, "400 Bad Request", "UnrecognizedClientException", INVALID_TOKEN)
    if service == "s3":
        return _s3_error(
            start_response,
            "403 Forbidden",
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
            access_key,
        )
    if service == "ec2":
        return _ec2_error(
            start_response,
            "401 Unauthorized",
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        )
    if environ.get("HTTP_X_AMZ_TARGET"):  # another JSON service
        return _json_error(start_response, "400 Bad Request", "UnrecognizedClientException", INVALID_TOKEN)
    return _query_error(start_response, "403 Forbidden", "InvalidClientTokenId", INVALID_TOKEN)


def refuse_unsigned(environ, start_response, service: str | None) -> list[bytes]:
    if _is_kms(environ) or service in ("kms", "json"):
        return _json_error(
            start_response, "400 Bad Request", "MissingAuthenticationTokenException", "Missing Authentication Token"
        )
    if service == "s3" or service is None:
        return _s3_error(start_response, "403 Forbidden", "AccessDenied", "Access Denied")
    if service == "ec2":
        return _ec2_error(
            start_response,
            "401 Unauthorized",
            "AuthFailure",
            "AWS was not able to validate the provided access credentials",
        )
    return _query_error(
        start_response, "403 Forbidden", "MissingAuthenticationToken", "Request is missing Authentication Token"
    )


# Each refusal of the credential reader (fidelity/credentials.py), as each kind of service
# answers it: (KMS and other JSON APIs, IAM/STS and other query APIs, EC2, S3), each
# (HTTP status, code), None for the message the reader gave.
_ANSWERS = {
    credentials.SIGV2: (
        ("400 Bad Request", "IncompleteSignatureException"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "InvalidRequest"),
    ),
    credentials.MALFORMED: (
        ("400 Bad Request", "IncompleteSignatureException"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "AuthorizationHeaderMalformed"),
    ),
    credentials.TWO_MECHANISMS: (
        ("400 Bad Request", "IncompleteSignatureException"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "InvalidArgument"),
    ),
    credentials.NO_DATE: (
        ("400 Bad Request", "IncompleteSignatureException"),
        ("400 Bad Request", "IncompleteSignature"),
        ("400 Bad Request", "IncompleteSignature"),
        ("403 Forbidden", "AccessDenied"),
    ),
    credentials.BAD_TOKEN: (
        ("400 Bad Request", "UnrecognizedClientException"),
        ("403 Forbidden", "InvalidClientTokenId"),
        ("401 Unauthorized", "AuthFailure"),
        ("400 Bad Request", "InvalidToken"),
    ),
    credentials.MISMATCH: (
        ("400 Bad Request", "InvalidSignatureException"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
        ("401 Unauthorized", "AuthFailure"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
    ),
    credentials.BODY_HASH: (
        ("400 Bad Request", "InvalidSignatureException"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
        ("401 Unauthorized", "AuthFailure"),
        ("400 Bad Request", "XAmzContentSHA256Mismatch"),
    ),
    credentials.SKEWED: (
        ("400 Bad Request", "InvalidSignatureException"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
        ("403 Forbidden", "RequestTimeTooSkewed"),
    ),
    credentials.EXPIRED: (
        ("400 Bad Request", "InvalidSignatureException"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
        ("403 Forbidden", "SignatureDoesNotMatch"),
        ("403 Forbidden", "AccessDenied"),
    ),
}
_S3_MESSAGES = {
    credentials.SIGV2: "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
    credentials.NO_DATE: "AWS authentication requires a valid Date or x-amz-date header",
    credentials.SKEWED: "The difference between the request time and the current time is too large.",
    credentials.BAD_TOKEN: "The provided token is malformed or otherwise invalid.",
}


def refuse(environ, start_response, refused: credentials.Refused, peek: bool = False) -> list[bytes]:
    """The AWS error for credentials the reader refused, in the format of their service."""
    service = service_for_errors(environ, refused.service, peek)
    if refused.problem == credentials.UNSIGNED:
        return refuse_unsigned(environ, start_response, service)
    if refused.problem == credentials.UNKNOWN_KEY:
        return refuse_unknown_key(environ, start_response, service, "")
    json_api, query_api, ec2, s3 = _ANSWERS[refused.problem]
    if service in ("kms", "json"):
        return _json_error(start_response, *json_api, refused.message)
    if service == "s3":
        message = _S3_MESSAGES.get(refused.problem, refused.message)
        return _s3_error(start_response, *s3, message)
    if service == "ec2":
        return _ec2_error(start_response, *ec2, refused.message)
    return _query_error(start_response, *query_api, refused.message)


def screen(environ, start_response, issued_account: Callable[[str], str | None]) -> list[bytes] | None:
    """The check a request passes before anything reads its body: its credentials are
    well formed, in date, and of a key the endpoint issued (`issued_account`); an unsigned
    request is refused unless it is one STS serves unsigned. The refusal's answer, or None."""
    try:
        claim = credentials.read_environ(environ)
        credentials.check_time(claim)
    except credentials.Refused as refused:
        return refuse(environ, start_response, refused)
    if not claim.signed:
        fields = _form_fields(environ, peek=True)
        if fields.get("Action") in UNSIGNED_STS:
            return None
        return refuse_unsigned(environ, start_response, service_for_errors(environ, None, peek=True))
    access_key = claim.access_key or ""
    if issued_account(access_key) is None:
        return refuse_unknown_key(environ, start_response, service_for_errors(environ, claim.service), access_key)
    return None


def issued_credentials(access_key: str) -> credentials.Issued | None:
    """What this endpoint issued for `access_key`: an IAM user's secret, or an STS
    session's secret and token; None for a key it did not issue (or an inactive one)."""
    account_id = roster.issued(access_key)
    if account_id is None:
        return None
    # deferred: moto's IAM models load with the backend, not on import
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends  # deferred: moto's STS models load with the backend, not on import

    key = iam_backends[account_id][roster.PARTITION].access_keys.get(access_key)
    if key is None:
        return None
    if getattr(key, "status", "Active") != "Active":
        return None
    if key.user_name:
        return credentials.Issued(key.secret_access_key)
    session = sts_backends[account_id][roster.PARTITION].get_assumed_role_from_access_key(access_key)
    if session is None:
        return None
    return credentials.Issued(session.secret_access_key, session.session_token)


# --- KMS keys of other accounts --------------------------------------------------------------


# The operations AWS KMS lets a principal of another account perform on a key (its key
# policy and the caller's IAM policies permitting); any other operation on another
# account's key fails whatever the policies say ("Cross-account use: No").
CROSS_ACCOUNT_OPERATIONS = frozenset({
    "CreateGrant", "Decrypt", "DescribeKey", "DeriveSharedSecret", "Encrypt", "GenerateDataKey",
    "GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext", "GenerateDataKeyWithoutPlaintext",
    "GenerateMac", "GetKeyRotationStatus", "GetPublicKey", "ListGrants", "ReEncrypt", "RetireGrant",
    "RevokeGrant", "Sign", "Verify", "VerifyMac",
})  # fmt: skip


def cross_account(
    params: dict, action: str, caller: str, region: str, caller_arn: str
) -> tuple[str | None, str | None]:
    """(AccessDeniedException message, None) or (None, the account to run the request in)
    for a KMS request that uses another account's key by key ARN, alias ARN or ciphertext;
    (None, None) for a request on the caller's own keys. A request that may be made across
    accounts runs in the key's account, where the fidelity layer authorizes it as KMS does
    (the key policy must allow the caller's account or identity, and the caller's IAM
    policies must allow it); any other operation on another account's key is refused."""
    foreign = []
    own = False
    for field, ref in key_refs.references(params, action):
        key = key_refs.key_of(ref, caller, region) if ref.is_foreign(caller) else None
        if key is None:  # the caller's own, or no such key: KMS answers in the caller's account
            own = True
            continue
        verb = {"DestinationKeyId": "ReEncryptTo", "SourceKeyId": "ReEncryptFrom"}.get(field, action)
        if action == "ReEncrypt" and field == key_refs.BLOB_FIELD:
            verb = "ReEncryptFrom"
        foreign.append((verb, key))
    if not foreign:
        return None, None
    accounts = {key_refs.parse(key.arn).account_id for _verb, key in foreign}
    if action in CROSS_ACCOUNT_OPERATIONS and len(accounts) == 1 and not (own and action == "ReEncrypt"):
        return None, accounts.pop()
    # not an operation KMS allows across accounts (or a ReEncrypt between two accounts,
    # which the simulation cannot run in one account): refused as the key policy would
    verb, key = foreign[0]
    return (
        f"User: {caller_arn} is not authorized to perform: kms:{verb} on resource: {key.arn} "
        f"because no resource-based policy allows the kms:{verb} action"
    ), None


def _caller_arn(account_id: str, access_key: str) -> str:
    principal = principals.identify(account_id, roster.PARTITION, access_key)
    return principal.arn if principal is not None else f"arn:aws:iam::{account_id}:root"


# --- the middleware -----------------------------------------------------------------------------


def _kms_params(body: bytes) -> dict:
    try:
        params = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        return {}
    return params if isinstance(params, dict) else {}


def _body(environ) -> bytes:
    """The request's body: account.wsgi has read it into a BytesIO; without an account on
    disk (--ephemeral) it is read here, once, and put back."""
    stream = environ.get("wsgi.input")
    if hasattr(stream, "getvalue"):
        return stream.getvalue()
    length = environ.get("CONTENT_LENGTH") or "0"
    if stream is None:
        return b""
    if length.isdigit() and int(length):
        body = stream.read(int(length))
    elif environ.get("wsgi.input_terminated"):
        body = stream.read()
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def wrap(app: Callable) -> Callable:
    """The gate around moto's app. It runs inside the account's `run` (account.wsgi), so it
    sees the account as it is on disk, and it leaves what it saw in environ[RECORD].

    Every signed request's signature is verified here (fidelity/credentials.py), with the
    secret the endpoint issued; moto then runs it in the signer's account, named by moto's
    account header (set here, from the verified claim only), and the caller's identity
    (fidelity/iam.py) is that claim's key, read no other way."""
    credentials.make_moto_read_the_verified_claim()

    def application(environ, start_response):
        path = environ.get("PATH_INFO", "/")
        environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
        if path.startswith("/moto-api"):
            return _s3_error(
                start_response, "403 Forbidden", "AccessDenied", "moto's control API is closed on a class endpoint"
            )
        url = path + ("?" + environ["QUERY_STRING"] if environ.get("QUERY_STRING") else "")
        headers = {
            "Authorization": environ.get("HTTP_AUTHORIZATION", ""),
            "X-Amz-Target": environ.get("HTTP_X_AMZ_TARGET", ""),
        }
        body = _body(environ)
        try:
            claim = credentials.authenticate(
                environ.get("REQUEST_METHOD", "GET"),
                credentials.raw_path(environ),
                environ.get("QUERY_STRING", ""),
                credentials.EnvironHeaders(environ),
                body,
                issued_credentials,
            )
        except credentials.Refused as refused:
            return refuse(environ, start_response, refused)
        operation = requests.operation_of(environ.get("REQUEST_METHOD", "GET"), headers, url, body)
        if not claim.signed:
            if operation not in UNSIGNED_STS:
                return refuse_unsigned(environ, start_response, service_for_errors(environ, None))
            with credentials.verified_as(claim):  # as no one: STS decides (fidelity/sts.py)
                return list(app(environ, start_response))
        service = claim.service
        if claim.form == "query" and service != "s3":
            # moto routes a request without an Authorization header to S3: name the
            # service the verified signature is for, in the one form moto reads
            environ["HTTP_AUTHORIZATION"] = credentials.header_of(claim)
        account_id = roster.issued(claim.access_key)
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = account_id  # the signer's account, for moto
        record = {"account": account_id, "service": service, "operation": operation, "context": False}
        environ[RECORD] = record
        if service == "kms" or _is_kms(environ):
            params = _kms_params(body)
            record["context"] = bool(params.get("EncryptionContext"))
            denial, key_account = cross_account(
                params, operation, account_id, claim.region, _caller_arn(account_id, claim.access_key)
            )
            if denial is not None:
                record["outcome"] = "AccessDeniedException"
                return _json_error(start_response, "400 Bad Request", "AccessDeniedException", denial)
            if key_account is not None:  # moto runs it in the key's account, as the caller
                environ["HTTP_X_MOTO_ACCOUNT_ID"] = key_account

        def recording_start(status, response_headers, exc_info=None):
            record["status"] = int(status.split(" ", 1)[0])
            return start_response(status, response_headers, exc_info)

        with credentials.verified_as(claim):
            chunks = list(app(environ, recording_start))
        if record.get("status", 200) >= 400:
            record["outcome"] = _error_code(b"".join(chunks))
        else:
            record["outcome"] = "ok"
        return chunks

    return application


def _error_code(body: bytes) -> str:
    """The error code of an AWS error answer (JSON `__type` or XML `<Code>`), never its message."""
    text = body[:4096].decode("utf-8", "replace")
    try:
        value = json.loads(text).get("__type", "")
        return str(value).rsplit("#", 1)[-1] or "Error"
    except (ValueError, AttributeError):
        pass
    match = re.search(r"<Code>([A-Za-z0-9.]+)</Code>", text)
    return match.group(1) if match else "Error"
