"""Who claims to have signed a request, and whether they did: the one reader of AWS
credentials, and the check of a Signature Version 4 signature.

Every part of the workshop that needs the caller (the class gate, the caller's identity in
iam.py, the account a request runs in in account/requests.py) reads it here, so a request
can never be read one way by one of them and another way by the next. The reader is
strict: a request carries its credential in exactly one form (an Authorization header, a
presigned URL's query, or nothing), each field exactly once, in AWS's grammar; anything
ambiguous or malformed is refused (`Refused`), never guessed at.

`authenticate` then recomputes the SigV4 signature from the request as it was sent (path
and query as sent, the signed headers only, the payload hash) with the secret the
endpoint issued, as botocore's signer computes it, and compares in constant time; an S3
upload streamed in signed chunks has each chunk's signature checked too. Signature
Version 2 is refused, as in the Regions that only accept SigV4.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW = 15 * 60  # seconds a request's date may be from the server's clock, as on AWS
MAX_EXPIRES = 7 * 24 * 3600  # the longest a presigned URL may live (X-Amz-Expires)
# Payload hashes S3 accepts in place of the body's SHA-256; no other service does.
S3_PAYLOAD_MARKERS = frozenset({
    "UNSIGNED-PAYLOAD", "STREAMING-UNSIGNED-PAYLOAD-TRAILER", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
    "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
})  # fmt: skip

# A Region or service name: lower case; no long run of digits, which other parsers of the
# header (moto's reads the last 20-character upper-case-or-digit word before a '/') could
# take for an access key id.
_NAME = r"(?![0-9a-z-]*[0-9]{16})[a-z0-9][a-z0-9-]{0,62}"
_CREDENTIAL = re.compile(
    rf"^(?P<key>[A-Za-z0-9_]{{1,128}})/(?P<date>[0-9]{{8}})/(?P<region>{_NAME})/"
    rf"(?P<service>{_NAME})/aws4_request$"
)
_HEADER = re.compile(r"^AWS4-HMAC-SHA256 +([A-Za-z]+)=([^,\s]*) *, *([A-Za-z]+)=([^,\s]*) *, *([A-Za-z]+)=([^,\s]*) *$")
# Header names as SigV4 lower-cases them; S3 metadata names may hold "_" (AWS signs them as sent).
_SIGNED_HEADERS = re.compile(r"^[a-z0-9_-]+(?:;[a-z0-9_-]+)*$")
_SIGNATURE = re.compile(r"^[0-9a-f]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{8}T[0-9]{6}Z$")
_QUERY_AUTH = (
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Expires",
    "X-Amz-SignedHeaders",
    "X-Amz-Signature",
)
_QUERY_NAMES = {name.lower(): name for name in (*_QUERY_AUTH, "X-Amz-Security-Token")}
_V2_NAMES = ("awsaccesskeyid", "signature", "signatureversion", "signaturemethod")


class Refused(Exception):
    """A request whose credentials are refused. `problem` names why (the gate turns it into
    each service's own error); `service` is the service it was signed for, when known."""

    def __init__(self, problem: str, message: str, service: str | None = None):
        super().__init__(message)
        self.problem = problem
        self.message = message
        self.service = service


# problem names
UNSIGNED = "unsigned"
SIGV2 = "sigv2"
MALFORMED = "malformed"  # the header or query is not AWS's grammar
TWO_MECHANISMS = "two-mechanisms"  # header and query both carry credentials
NO_DATE = "no-date"
UNKNOWN_KEY = "unknown-key"
BAD_TOKEN = "bad-token"
MISMATCH = "mismatch"
BODY_HASH = "body-hash"  # X-Amz-Content-SHA256 is not the body's SHA-256
SKEWED = "skewed"
EXPIRED = "expired"  # a presigned URL past X-Amz-Expires


@dataclass(frozen=True)
class Claim:
    """What a request says about its signer. `form` is "header" (Authorization), "query"
    (a presigned URL) or "unsigned" (then every other field is empty)."""

    form: str
    access_key: str | None = None
    date: str = ""  # YYYYMMDD of the credential scope
    region: str = ""
    service: str = ""
    signed_headers: tuple[str, ...] = ()
    signature: str = ""
    timestamp: str | None = None  # the request's time, ISO 8601 basic (X-Amz-Date, or Date)
    expires: int | None = None  # a presigned URL's X-Amz-Expires
    token: str | None = None  # X-Amz-Security-Token

    @property
    def signed(self) -> bool:
        return self.form != "unsigned"


@dataclass(frozen=True)
class Issued:
    """What the endpoint issued for an access key: its secret, and an STS session's token."""

    secret: str
    token: str | None = None


# --- reading -----------------------------------------------------------------------------------


def _get(headers, name: str) -> str | None:
    """A header's value from a case-insensitive mapping, a plain dict, or WSGI's environ."""
    if headers is None:
        return None
    value = headers.get(name)
    if value is None and isinstance(headers, dict):
        lowered = name.lower()
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == lowered), None)
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    return value


def query_pairs(query: str) -> list[tuple[str, str]]:
    """The query's (name, value) pairs, decoded, in order, repeats kept."""
    pairs = []
    for part in (query or "").split("&"):
        if part:
            name, _, value = part.partition("=")
            pairs.append((unquote(name.replace("+", " ")), unquote(value.replace("+", " "))))
    return pairs


def _scope(credential: str, service_hint: str | None) -> re.Match:
    match = _CREDENTIAL.match(credential)
    if match is None:
        raise Refused(
            MALFORMED,
            f"the credential {credential!r} is not ACCESS_KEY/YYYYMMDD/REGION/SERVICE/aws4_request",
            service_hint,
        )
    return match


def _loose_service(text: str) -> str | None:
    """The service a malformed credential seems to be for: only to answer in its format."""
    match = re.search(r"/[0-9]{8}/[^/]*/([a-z0-9-]+)/aws4_request", text)
    return match.group(1) if match else None


def _from_header(header: str, token: str | None, timestamp: str | None) -> Claim:
    if header.startswith("AWS ") or header.startswith("AWS3"):
        raise Refused(SIGV2, "Signature Version 2 is not accepted; sign with AWS4-HMAC-SHA256", _loose_service(header))
    hint = _loose_service(header)
    match = _HEADER.match(header)
    if match is None:
        raise Refused(
            MALFORMED,
            "the Authorization header is not 'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...'",
            hint,
        )
    names = match.group(1, 3, 5)
    fields = dict(zip(names, match.group(2, 4, 6), strict=True))
    if sorted(names) != ["Credential", "Signature", "SignedHeaders"]:
        raise Refused(
            MALFORMED, "the Authorization header must name Credential, SignedHeaders and Signature once each", hint
        )
    scope = _scope(fields["Credential"], hint)
    return _claim("header", scope, fields["SignedHeaders"], fields["Signature"], token, timestamp, None)


def _claim(form, scope, signed_headers, signature, token, timestamp, expires) -> Claim:
    service = scope.group("service")
    if not _SIGNED_HEADERS.match(signed_headers):
        raise Refused(
            MALFORMED,
            f"SignedHeaders {signed_headers!r} is not a ';'-separated list of lower-case header names",
            service,
        )
    names = tuple(signed_headers.split(";"))
    if len(set(names)) != len(names) or "host" not in names:
        raise Refused(MALFORMED, "SignedHeaders must name each header once, host among them", service)
    if not _SIGNATURE.match(signature):
        raise Refused(MALFORMED, "the Signature must be 64 lower-case hexadecimal digits", service)
    return Claim(
        form,
        scope.group("key"),
        scope.group("date"),
        scope.group("region"),
        service,
        names,
        signature,
        timestamp,
        expires,
        token,
    )


def _header_timestamp(headers, service: str | None) -> str | None:
    amz_date = _get(headers, "X-Amz-Date")
    if amz_date is not None:
        if not _TIMESTAMP.match(amz_date.strip()):
            raise Refused(MALFORMED, f"X-Amz-Date {amz_date!r} is not YYYYMMDD'T'HHMMSS'Z'", service)
        return amz_date.strip()
    date = _get(headers, "Date")
    if date is None:
        return None
    try:
        parsed = parsedate_to_datetime(date)
    except (TypeError, ValueError, IndexError):
        raise Refused(MALFORMED, f"the Date header {date!r} is not an HTTP date", service) from None
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(parsed.timestamp()))


def read(headers, query: str, *, require_date: bool = True) -> Claim:
    """The claim of a request, from its headers and its raw query string.

    Raises Refused for Signature Version 2, for credentials in both the header and the
    query, and for any field that is missing, repeated, truncated or not AWS's grammar.
    `require_date=False` reads only whose the credential is (for callers that were handed a
    few headers, the date among them or not)."""
    header = _get(headers, "Authorization")
    pairs = query_pairs(query)
    found: dict[str, list[str]] = {}
    for name, value in pairs:
        lowered = name.lower()
        if lowered in _QUERY_NAMES or lowered in _V2_NAMES:
            found.setdefault(lowered, []).append(value)
            if lowered in _QUERY_NAMES and name != _QUERY_NAMES[lowered]:
                raise Refused(MALFORMED, f"the query parameter {name!r} must be spelled {_QUERY_NAMES[lowered]}")
    header_token = _get(headers, "X-Amz-Security-Token")
    query_signed = any(name.lower() in found for name in _QUERY_AUTH)
    if header and (query_signed or "awsaccesskeyid" in found):
        raise Refused(
            TWO_MECHANISMS,
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
            "Signature query string parameter or the Authorization header should be specified",
            _loose_service(header),
        )
    if "awsaccesskeyid" in found or ("signature" in found and not header and not query_signed):
        raise Refused(SIGV2, "Signature Version 2 is not accepted; sign with AWS4-HMAC-SHA256")
    if header is not None and header != "":
        if "x-amz-security-token" in found:
            raise Refused(
                TWO_MECHANISMS, "X-Amz-Security-Token is in both the header and the query", _loose_service(header)
            )
        timestamp = _header_timestamp(headers, _loose_service(header))
        claim = _from_header(header, header_token, timestamp)
        if timestamp is None and require_date:
            raise Refused(
                NO_DATE,
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
                claim.service,
            )
        return claim
    if query_signed:
        return _from_query(found, header_token)
    if header_token is not None or "x-amz-security-token" in found:
        raise Refused(UNSIGNED, "a security token without a signature")
    return Claim("unsigned")


def _from_query(found: dict[str, list[str]], header_token: str | None) -> Claim:
    hint = _loose_service(" ".join(found.get("x-amz-credential", [])))
    missing = [name for name in _QUERY_AUTH if len(found.get(name.lower(), [])) != 1]
    if missing:
        raise Refused(
            MALFORMED,
            "Query-string authentication version 4 requires the X-Amz-Algorithm, "
            "X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires "
            f"parameters, each once ({', '.join(missing)})",
            hint,
        )
    one = {name: found[name.lower()][0] for name in _QUERY_AUTH}
    if one["X-Amz-Algorithm"] != ALGORITHM:
        raise Refused(MALFORMED, f"X-Amz-Algorithm must be {ALGORITHM}", hint)
    if not _TIMESTAMP.match(one["X-Amz-Date"]):
        raise Refused(MALFORMED, "X-Amz-Date must be YYYYMMDD'T'HHMMSS'Z'", hint)
    expires = one["X-Amz-Expires"]
    if not expires.isdigit() or not 1 <= int(expires) <= MAX_EXPIRES:
        raise Refused(MALFORMED, f"X-Amz-Expires must be a number of seconds from 1 to {MAX_EXPIRES}", hint)
    tokens = found.get("x-amz-security-token", [])
    if len(tokens) > 1 or (tokens and header_token is not None):
        raise Refused(TWO_MECHANISMS, "X-Amz-Security-Token is given more than once", hint)
    token = tokens[0] if tokens else header_token
    scope = _scope(one["X-Amz-Credential"], hint)
    return _claim(
        "query", scope, one["X-Amz-SignedHeaders"], one["X-Amz-Signature"], token, one["X-Amz-Date"], int(expires)
    )


class EnvironHeaders(Mapping):
    """A WSGI environ's request headers by name, as `read` and `authenticate` ask for them."""

    def __init__(self, environ):
        self.environ = environ

    def _key(self, name: str) -> str:
        key = name.upper().replace("-", "_")
        return key if key in ("CONTENT_TYPE", "CONTENT_LENGTH") else "HTTP_" + key

    def __getitem__(self, name: str) -> str:
        key = self._key(name)
        # WSGI spells "a_b" and "a-b" alike; the server keeps the name an underscored header
        # was sent with, so a signature over one spelling never verifies the other.
        sent_as = self.environ.get("moto.preserved_header_names", {}).get(key, "")
        if ("_" in name or "_" in sent_as) and sent_as.lower() != name.lower():
            raise KeyError(name)
        return self.environ[key]

    def get(self, name, default=None):
        try:
            return self[name]
        except KeyError:
            return default

    def __iter__(self) -> Iterator[str]:
        return iter(k for k in self.environ if k.startswith("HTTP_"))

    def __len__(self) -> int:
        return sum(1 for _ in self)


def read_environ(environ) -> Claim:
    return read(EnvironHeaders(environ), environ.get("QUERY_STRING", ""))


def raw_path(environ) -> str:
    """The request's path as the client sent it (percent-encoded), which is what it signed."""
    uri = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if uri:
        if "://" in uri.split("?", 1)[0]:
            return urlsplit(uri).path or "/"
        return uri.split("?", 1)[0] or "/"
    path = environ.get("PATH_INFO", "/").encode("latin-1").decode("utf-8", "replace")
    return quote(path, safe="/~!$&'()*+,;=:@%")


# --- time ---------------------------------------------------------------------------------------


def _epoch(timestamp: str) -> int:
    return calendar.timegm(time.strptime(timestamp, "%Y%m%dT%H%M%SZ"))


def _basic(seconds: float) -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(seconds))


def check_time(claim: Claim, now: float | None = None) -> None:
    """Refuse a request dated more than 15 minutes from `now`, and a presigned URL past its
    X-Amz-Expires, with the messages AWS gives."""
    if not claim.signed or claim.timestamp is None:
        return
    now = time.time() if now is None else now
    try:
        when = _epoch(claim.timestamp)
    except ValueError:
        raise Refused(MALFORMED, f"the date {claim.timestamp!r} is not a valid date", claim.service) from None
    if claim.timestamp[:8] != claim.date:
        raise Refused(
            MISMATCH,
            f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
            f"from HTTP: '{claim.date}' != '{claim.timestamp[:8]}', from '{claim.timestamp}'.",
            claim.service,
        )
    if claim.form == "query":
        if when - now > MAX_SKEW:
            raise Refused(SKEWED, "Request is not valid yet", claim.service)
        if now > when + (claim.expires or 0):
            raise Refused(EXPIRED, "Request has expired", claim.service)
        return
    if when < now - MAX_SKEW:
        raise Refused(
            SKEWED,
            f"Signature expired: {claim.timestamp} is now earlier than "
            f"{_basic(now - MAX_SKEW)} ({_basic(now)} - 15 min.)",
            claim.service,
        )
    if when > now + MAX_SKEW:
        raise Refused(
            SKEWED,
            f"Signature not yet current: {claim.timestamp} is still later than "
            f"{_basic(now + MAX_SKEW)} ({_basic(now)} + 15 min.)",
            claim.service,
        )


# --- verifying ----------------------------------------------------------------------------------


def _trimall(value: str) -> str:
    return " ".join(value.split())


def canonical_query(query: str, form: str) -> str:
    """The query as botocore's signer canonicalizes a URL's query: the pairs as sent,
    sorted; a presigned URL's own X-Amz-Signature left out."""
    pairs = []
    for part in (query or "").split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if form == "query" and unquote(name) == "X-Amz-Signature":
            continue
        pairs.append((name, value))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def canonical_path(path: str, service: str) -> str:
    """S3 signs the path as sent; every other service its normalized, encoded form."""
    if service == "s3":
        return path
    # deferred: botocore loads with boto3, not at start-up
    from botocore.utils import normalize_url_path

    return quote(normalize_url_path(path), safe="/~")


def payload_hash(claim: Claim, headers, body: bytes) -> str:
    """The payload hash the signature covers, checked against the body where the body is
    part of the signature."""
    declared = _get(headers, "X-Amz-Content-SHA256")
    actual = hashlib.sha256(body or b"").hexdigest()
    if declared is None:
        if claim.form == "query" and claim.service == "s3":
            return "UNSIGNED-PAYLOAD"
        return actual
    if declared in S3_PAYLOAD_MARKERS and claim.service == "s3":
        return declared
    if not hmac.compare_digest(declared.lower().encode(), actual.encode()):
        raise Refused(
            BODY_HASH, "The provided 'x-amz-content-sha256' header does not match what was computed.", claim.service
        )
    return declared


def signature_of(claim: Claim, secret: str, method: str, path: str, query: str, headers, body: bytes) -> str:
    """The signature `secret` makes over the request, as botocore's SigV4 signer makes it."""
    # deferred: botocore loads with boto3, not at start-up
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest  # deferred: as above
    from botocore.credentials import Credentials  # deferred: as above

    canonical_headers = "".join(f"{name}:{_trimall(_get(headers, name) or '')}\n" for name in claim.signed_headers)
    canonical = "\n".join(
        [
            method.upper(),
            canonical_path(path, claim.service),
            canonical_query(query, claim.form),
            canonical_headers,
            ";".join(claim.signed_headers),
            payload_hash(claim, headers, body),
        ]
    )
    string_to_sign = "\n".join(
        [
            ALGORITHM,
            claim.timestamp or "",
            f"{claim.date}/{claim.region}/{claim.service}/aws4_request",
            hashlib.sha256(canonical.encode("utf-8")).hexdigest(),
        ]
    )
    signer = SigV4Auth(Credentials(claim.access_key, secret), claim.service, claim.region)
    request = AWSRequest(method=method)
    request.context["timestamp"] = claim.timestamp
    return signer.signature(string_to_sign, request)


def _signing_key(secret: str, claim: Claim) -> bytes:
    key = ("AWS4" + secret).encode("utf-8")
    for part in (claim.date, claim.region, claim.service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


_CHUNK_HEADER = re.compile(rb"^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$")
_EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def check_chunk_signatures(claim: Claim, secret: str, headers, body: bytes) -> None:
    """An S3 upload sent as STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): every chunk's
    signature, chained from the request's own, and the trailer's, as S3 checks them. The
    seed signature covers only the headers; these bind the body to the signer."""

    def refused(why: str) -> Refused:
        return Refused(
            MISMATCH,
            f"The request signature we calculated does not match the signature you provided "
            f"({why}). Check your AWS Secret Access Key and signing method.",
            claim.service,
        )

    key = _signing_key(secret, claim)
    scope = f"{claim.date}/{claim.region}/{claim.service}/aws4_request"
    previous, at, total = claim.signature, 0, 0
    while True:
        end = body.find(b"\r\n", at)
        match = _CHUNK_HEADER.match(body[at:end]) if end >= 0 else None
        if match is None:
            raise refused("a chunk header is not 'SIZE;chunk-signature=SIGNATURE'")
        size = int(match.group(1), 16)
        data = body[end + 2 : end + 2 + size]
        if len(data) != size or (size and body[end + 2 + size : end + 4 + size] != b"\r\n"):
            raise refused("a chunk is shorter than its size")
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                claim.timestamp or "",
                scope,
                previous,
                _EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), match.group(2)):
            raise refused("a chunk's signature does not match")
        previous, total = expected, total + size
        if size == 0:
            at = end + 2
            break
        at = end + 4 + size
    rest = body[at:]
    if _get(headers, "X-Amz-Content-SHA256") == "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER":
        trailer, _, signed = rest.rpartition(b"x-amz-trailer-signature:")
        signature = signed.strip()
        if not signed.endswith(b"\r\n"):
            raise refused("the trailer is incomplete")
        lines = [line for line in trailer.split(b"\r\n") if line]
        canonical = b"".join(line.strip() + b"\n" for line in lines)
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", claim.timestamp or "", scope, previous, hashlib.sha256(canonical).hexdigest()]
        )
        expected = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected.encode(), signature):
            raise refused("the trailer's signature does not match")
    elif rest not in (b"\r\n", b""):
        raise refused("there is data after the last chunk")
    decoded = _get(headers, "X-Amz-Decoded-Content-Length")
    if decoded is not None and decoded.strip() != str(total):
        raise refused("X-Amz-Decoded-Content-Length is not the chunks' total size")


def authenticate(
    method: str,
    path: str,
    query: str,
    headers,
    body: bytes,
    issued: Callable[[str], Issued | None],
    now: float | None = None,
) -> Claim:
    """The request's claim once its signature is verified: the claim of the key that signed
    it, or an unsigned claim. Raises Refused otherwise. `issued(access_key)` is what the
    endpoint issued for a key, or None for a key it never issued."""
    claim = read(headers, query)
    if not claim.signed:
        return claim
    check_time(claim, now)
    found = issued(claim.access_key or "")
    if found is None:
        raise Refused(UNKNOWN_KEY, "The security token included in the request is invalid.", claim.service)
    if found.token is not None or claim.token is not None:
        if (
            found.token is None
            or claim.token is None
            or not hmac.compare_digest(claim.token.encode("utf-8", "replace"), found.token.encode("utf-8", "replace"))
        ):
            raise Refused(BAD_TOKEN, "The security token included in the request is invalid.", claim.service)
    expected = signature_of(claim, found.secret, method, path, query, headers, body)
    if not hmac.compare_digest(expected.encode(), claim.signature.encode()):
        raise Refused(
            MISMATCH,
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method. Consult the service documentation "
            "for details.",
            claim.service,
        )
    if claim.service == "s3" and (_get(headers, "X-Amz-Content-SHA256") or "").startswith(
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
    ):
        check_chunk_signatures(claim, found.secret, headers, body)
    return claim


def header_of(claim: Claim) -> str:
    """The claim as an Authorization header, for moto's own parsers, which read no other
    form (moto's dispatcher picks the service from it; its IAMRequest the key)."""
    return (
        f"{ALGORITHM} Credential={claim.access_key}/{claim.date}/{claim.region}/{claim.service}/aws4_request, "
        f"SignedHeaders={';'.join(claim.signed_headers)}, Signature={claim.signature}"
    )


# --- the verified caller of this thread's request ------------------------------------------------

_verified = threading.local()


@contextmanager
def verified_as(claim: Claim) -> Iterator[None]:
    """While a class endpoint's gate hands a request to moto: the claim it verified, so the
    caller's identity (iam.py) is this one and no other reading of the request."""
    previous = getattr(_verified, "claim", None)
    _verified.claim = claim
    try:
        yield
    finally:
        _verified.claim = previous


def verified() -> Claim | None:
    """The claim the class gate verified for this thread's request; None outside class
    mode (then any key acts as the account root, as before)."""
    return getattr(_verified, "claim", None)


_moto_reads_claim = False


def make_moto_read_the_verified_claim() -> None:
    """moto reads a request's access key itself (BaseResponse.get_access_key: the caller
    STS's GetCallerIdentity names, the account of a request without moto's account header)
    with a regex of its own that knows neither presigned URLs nor ambiguity. While a class
    gate has verified this thread's request, it reads the verified claim instead; anywhere
    else it reads as before. Once per process."""
    global _moto_reads_claim
    if _moto_reads_claim:
        return
    # deferred: moto loads with the backend, not at start-up
    from moto.core.responses import BaseResponse

    original = BaseResponse.get_access_key

    def get_access_key(self) -> str:
        claim = verified()
        if claim is None:
            return original(self)
        return claim.access_key or "AKIAEXAMPLE"  # unsigned: moto's own answer for no key

    BaseResponse.get_access_key = get_access_key  # type: ignore[method-assign]
    _moto_reads_claim = True
