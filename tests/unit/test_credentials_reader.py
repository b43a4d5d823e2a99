"""The one reader of AWS credentials (workshop_helpers/fidelity/credentials.py), attacked
with mutations of real botocore-signed requests.

The property: whatever is done to a request alice signed (a field cut, doubled, swapped
for bob's, spliced in twice, re-cased, its body or path changed), `authenticate` either
names alice, the key that signed it, or refuses it (an unsigned request names no one).
It never names bob, a made-up key, or anyone else. And no other reading of an accepted
header (moto's own) finds another key in it.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fidelity_support import sign_chunks
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workshop_helpers.fidelity import credentials

ALICE = Credentials("AKIAALICEALICEALICE0", "alice-secret-" + "a" * 27)  # pragma: allowlist secret
BOB = Credentials("AKIABOBBOBBOBBOBBOB0", "bob-secret-" + "b" * 29)  # pragma: allowlist secret
SESSION = Credentials(
    "ASIASESSIONSESSION00",  # pragma: allowlist secret
    "session-secret-" + "s" * 25,
    "session-token-" + "t" * 40,
)
ISSUED = {c.access_key: credentials.Issued(c.secret_key, c.token) for c in (ALICE, BOB, SESSION)}
URL = "http://127.0.0.1:5000"


def issued(access_key: str):
    return ISSUED.get(access_key)


def _sent(request: AWSRequest) -> dict:
    prepared = request.prepare()
    parts = urlsplit(prepared.url)
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in prepared.headers.items()}
    headers["Host"] = parts.netloc
    body = prepared.body or b""
    return {
        "method": prepared.method,
        "path": parts.path or "/",
        "query": parts.query,
        "headers": headers,
        "body": body.encode() if isinstance(body, str) else body,
    }


def signed_requests() -> list[tuple[Credentials, dict]]:
    """Requests as botocore signs them: every form the reader reads."""
    made = []

    def header(creds, signer_cls, service, method, url, body=b"", headers=None):
        request = AWSRequest(method=method, url=URL + url, data=body, headers=dict(headers or {}))
        signer_cls(creds, service, "eu-west-1").add_auth(request)
        made.append((creds, _sent(request)))

    def query(creds, signer_cls, service, method, url):
        request = AWSRequest(method=method, url=URL + url)
        signer_cls(creds, service, "eu-west-1", expires=300).add_auth(request)
        made.append((creds, _sent(request)))

    kms = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "TrentService.Decrypt"}
    header(ALICE, SigV4Auth, "kms", "POST", "/", b'{"CiphertextBlob": "AAAA"}', kms)
    header(SESSION, SigV4Auth, "kms", "POST", "/", b'{"KeyId": "alias/x"}', kms)
    header(
        ALICE,
        SigV4Auth,
        "sts",
        "POST",
        "/",
        b"Action=GetCallerIdentity&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
    )
    header(ALICE, S3SigV4Auth, "s3", "PUT", "/bucket/a%20key/%C3%A9", b"object body")
    header(ALICE, S3SigV4Auth, "s3", "GET", "/bucket?list-type=2&prefix=a%2Fb&encoding-type=url")
    query(ALICE, S3SigV4QueryAuth, "s3", "GET", "/bucket/key")
    query(SESSION, S3SigV4QueryAuth, "s3", "PUT", "/bucket/key")
    query(ALICE, SigV4QueryAuth, "sts", "GET", "/?Action=GetCallerIdentity&Version=2011-06-15")
    return made


BASE = signed_requests()
NOW = time.time()


def authenticate(request: dict) -> credentials.Claim | None:
    try:
        return credentials.authenticate(
            request["method"], request["path"], request["query"], request["headers"], request["body"], issued, now=NOW
        )
    except credentials.Refused:
        return None


def test_every_honest_request_is_its_signers():
    for creds, request in BASE:
        claim = authenticate(request)
        assert claim is not None and claim.access_key == creds.access_key, request


# --- mutations ------------------------------------------------------------------------------------

# Text an attacker splices in: other keys, in every form the reader knows.
SPLICES = [
    BOB.access_key,
    "AKIAZZZZZZZZZZZZZZZZ",
    f"Credential={BOB.access_key}/20200101/eu-west-1/kms/aws4_request",  # pragma: allowlist secret
    f", Credential={BOB.access_key}/{time.strftime('%Y%m%d', time.gmtime(NOW))}/eu-west-1/kms/aws4_request",
    f"&X-Amz-Credential={BOB.access_key}%2F20200101%2Feu-west-1%2Fs3%2Faws4_request",
    f"&AWSAccessKeyId={BOB.access_key}&Signature=x",
    f"AWS {BOB.access_key}:sig",
    "&X-Amz-Signature=" + "0" * 64,
    ", Signature=" + "0" * 64,
    ",",
    "/",
    "%2F",
    " ",
    "&",
    "=",
    "\t",
    "AWS4-HMAC-SHA256 ",
    "X-Amz-Security-Token=t",
    "/eu-west-1/12345678901234567890/aws4_request",
]
FIELDS = [
    "Authorization",
    "X-Amz-Date",
    "X-Amz-Security-Token",
    "X-Amz-Content-SHA256",
    "Host",
    "X-Amz-Target",
    "Content-Type",
]


@st.composite
def mutated(draw):
    signer, request = draw(st.sampled_from(BASE))
    request = {**request, "headers": dict(request["headers"])}
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "splice-header",
                    "splice-query",
                    "cut",
                    "drop",
                    "double",
                    "set",
                    "recase",
                    "body",
                    "path",
                    "bob-key",
                    "region",
                ]
            )
        )
        headers = request["headers"]
        if kind in ("splice-header", "cut") and headers.get("Authorization") is not None:
            text = headers["Authorization"]
            at = draw(st.integers(0, len(text)))
            if kind == "cut":
                end = draw(st.integers(at, len(text)))
                headers["Authorization"] = text[:at] + text[end:]
            else:
                headers["Authorization"] = text[:at] + draw(st.sampled_from(SPLICES)) + text[at:]
        elif kind in ("splice-query", "cut"):
            text = request["query"]
            at = draw(st.integers(0, len(text)))
            if kind == "cut":
                request["query"] = text[:at] + text[draw(st.integers(at, len(text))) :]
            else:
                request["query"] = text[:at] + draw(st.sampled_from(SPLICES + ["&"])) + text[at:]
        elif kind == "drop":
            headers.pop(draw(st.sampled_from(FIELDS)), None)
        elif kind == "double":  # a repeated header, as a WSGI server joins it
            name = draw(st.sampled_from(FIELDS))
            if name in headers:
                headers[name] = headers[name] + "," + headers[name]
            else:
                request["query"] += "&" + request["query"]
        elif kind == "set":
            headers[draw(st.sampled_from(FIELDS))] = draw(
                st.sampled_from(SPLICES + [SESSION.token, "20200101T000000Z", "UNSIGNED-PAYLOAD", ""])
            )
        elif kind == "recase":
            name = draw(st.sampled_from(FIELDS))
            if name in headers:
                headers[name.swapcase()] = headers.pop(name)
            request["query"] = request["query"].replace("X-Amz-Credential", "x-amz-credential")
        elif kind == "body":
            request["body"] = draw(st.binary(max_size=40))
        elif kind == "path":
            request["path"] = draw(st.sampled_from(["/", "/bucket/other", "/bucket/a key/é", "/../bucket/key"]))
        elif kind == "region":  # a Region other readers could take for a key id
            region = draw(st.sampled_from(["us-east-1", "a12345678901234567890", "x-12345678901234567890"]))
            if "Authorization" in headers:
                headers["Authorization"] = headers["Authorization"].replace("/eu-west-1/", f"/{region}/")
        elif kind == "bob-key":
            for name in ("Authorization",):
                if name in headers:
                    headers[name] = headers[name].replace(signer.access_key, BOB.access_key)
            request["query"] = request["query"].replace(signer.access_key, BOB.access_key)
    return signer, request


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_request_names_its_signer_or_is_refused(case):
    signer, request = case
    claim = authenticate(request)
    if claim is None or not claim.signed:
        return
    assert claim.access_key == signer.access_key, (claim, request)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_no_other_reading_of_an_accepted_header_finds_another_key(case):
    """moto reads the access key from the header with a regex of its own: on any header
    the reader accepts, it finds the reader's key or none."""
    from moto.core.responses import BaseResponse

    _signer, request = case
    try:
        claim = credentials.read(request["headers"], request["query"])
    except credentials.Refused:
        return
    if claim.form != "header":
        return
    headers = request["headers"]
    header = headers.get("Authorization") or next(v for k, v in headers.items() if k.lower() == "authorization")
    found = BaseResponse.access_key_regex.search(header)
    assert found is None or found.group("access_key") == claim.access_key


@pytest.mark.parametrize(
    "header",
    [
        f"AWS4-HMAC-SHA256 Credential={ALICE.access_key}/20260101/eu-west-1/kms/aws4_request, "
        f"Credential={BOB.access_key}/20260101/eu-west-1/kms/aws4_request, SignedHeaders=host, Signature={'0' * 64}",
        f"AWS4-HMAC-SHA256 Credential={ALICE.access_key}/20260101/eu-west-1/kms/aws4_request, SignedHeaders=host",
        f"AWS4-HMAC-SHA256 Credential={ALICE.access_key}/20260101/eu-west-1/12345678901234567890/aws4_request, "
        f"SignedHeaders=host, Signature={'0' * 64}",
        f"AWS {BOB.access_key}:c2lnbmF0dXJl",
        "AWS4-HMAC-SHA256 Credential=",
        "",
    ],
)
def test_ambiguous_or_truncated_headers_are_refused(header):
    headers = {"Authorization": header, "X-Amz-Date": "20260101T000000Z", "Host": "127.0.0.1:5000"}
    with pytest.raises(credentials.Refused):
        claim = credentials.read(headers, "")
        if not claim.signed:  # the empty header: unsigned, which the gate refuses
            raise credentials.Refused(credentials.UNSIGNED, "unsigned")


# --- streamed S3 uploads: every chunk signed --------------------------------------------------------


def _streamed(chunks: list[bytes], trailer: bytes | None = None) -> dict:
    """A PUT as SDKs stream it (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]): botocore
    signs the headers; each chunk, then the trailer, is signed after the one before it."""
    import hashlib
    import hmac

    marker = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" + ("-TRAILER" if trailer is not None else "")
    request = AWSRequest(
        method="PUT",
        url=URL + "/bucket/streamed",
        headers={
            "X-Amz-Content-SHA256": marker,
            "Content-Encoding": "aws-chunked",
            "X-Amz-Decoded-Content-Length": str(sum(map(len, chunks))),
        },
    )
    SigV4Auth(ALICE, "s3", "eu-west-1").add_auth(request)  # keeps the header's payload hash
    sent = _sent(request)
    timestamp = request.context["timestamp"]
    previous = sent["headers"]["Authorization"].rsplit("Signature=", 1)[1]
    body, key, scope, previous = sign_chunks(ALICE.secret_key, timestamp, "eu-west-1", previous, chunks)
    if trailer is None:
        body += b"\r\n"
    else:
        to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-TRAILER", timestamp, scope, previous, hashlib.sha256(trailer + b"\n").hexdigest()]
        )
        signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += trailer + b"\r\n" + f"x-amz-trailer-signature:{signature}\r\n\r\n".encode()
    sent["body"] = body
    return sent


@pytest.mark.parametrize("trailer", [None, b"x-amz-checksum-crc32:NhCmhg=="], ids=["chunks", "chunks-and-trailer"])
def test_a_streamed_upload_is_its_signers_only_while_every_chunk_is(trailer):
    request = _streamed([b"first ", b"second"], trailer)
    assert authenticate(request).access_key == ALICE.access_key
    tampered = [
        request["body"].replace(b"second", b"mallet"),
        request["body"].replace(b";chunk-signature=", b";chunk-signature=0", 1),
        request["body"][:-10],
        request["body"] + b"more",
    ]
    if trailer is not None:
        tampered.append(request["body"].replace(b"NhCmhg==", b"AAAAAA=="))
    for body in tampered:
        assert authenticate({**request, "body": body}) is None, body
    wrong_length = {**request, "headers": {**request["headers"], "X-Amz-Decoded-Content-Length": "99"}}
    assert authenticate(wrong_length) is None
