"""Attacks on a class endpoint's authentication (`serve --participants alice,bob`).

Each test plays the attacker against a real endpoint in a subprocess: alice (or someone
holding no secret at all) tries to act as bob, or as nobody, with forged, replayed,
skewed, ambiguous or malformed credentials. Every attempt must be refused with the error
AWS gives, bob's resources must stay untouched and unread, and the endpoint must keep
serving. Requests are built by hand (http.client) so the test controls every byte;
where a valid signature is needed, botocore's own signer makes it.
"""

from __future__ import annotations

import datetime
import http.client
import json
import re
import time
import urllib.parse
from contextlib import nullcontext
from dataclasses import dataclass
from unittest import mock

import pytest
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fidelity_support import sign_chunks
from test_classroom import REGION, Seat, start_class

BOB_OBJECT = b"bob's private object"
BOB_PLAINTEXT = b"bob's private plaintext"
MADE_UP = "AKIAZZZZZZZZZZZZZZZZ"  # pragma: allowlist secret


@dataclass
class Answer:
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    @property
    def code(self) -> str:
        try:
            return str(json.loads(self.text).get("__type", "")).rsplit("#", 1)[-1]
        except (ValueError, AttributeError):
            match = re.search(r"<Code>([^<]+)</Code>", self.text)
            return match.group(1) if match else ""


class Endpoint:
    def __init__(self, url: str):
        parsed = urllib.parse.urlsplit(url)
        self.url, self.host, self.port = url, parsed.hostname, parsed.port

    def send(self, method: str, target: str, headers: dict | None = None, body: bytes = b"") -> Answer:
        """One request, exactly as given (the path and query are not re-encoded)."""
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
            sent = {k.lower() for k in (headers or {})}
            if "host" not in sent:
                conn.putheader("Host", f"{self.host}:{self.port}")
            for name, value in (headers or {}).items():
                for one in value if isinstance(value, list) else [value]:
                    conn.putheader(name, one)
            if body or method in ("POST", "PUT"):
                conn.putheader("Content-Length", str(len(body)))
            conn.endheaders(body or None)
            response = conn.getresponse()
            return Answer(response.status, response.read())
        finally:
            conn.close()


def _when(when: datetime.datetime | None):
    if when is None:
        return nullcontext()
    return mock.patch("botocore.auth.get_current_datetime", return_value=when.replace(tzinfo=None))


def sign(
    endpoint: Endpoint,
    creds: Credentials,
    service: str,
    method: str,
    target: str,
    body: bytes = b"",
    headers: dict | None = None,
    *,
    when: datetime.datetime | None = None,
    region: str = REGION,
) -> dict:
    """The headers botocore's signer adds to this request, as strings."""
    signer = (S3SigV4Auth if service == "s3" else SigV4Auth)(creds, service, region)
    request = AWSRequest(method=method, url=endpoint.url + target, data=body, headers=dict(headers or {}))
    with _when(when):
        signer.add_auth(request)
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}


def presign(
    endpoint: Endpoint,
    creds: Credentials,
    service: str,
    method: str,
    target: str,
    *,
    expires: int = 300,
    when: datetime.datetime | None = None,
) -> str:
    """A presigned URL's path and query, as botocore makes it."""
    signer = (S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth)(creds, service, REGION, expires=expires)
    request = AWSRequest(method=method, url=endpoint.url + target)
    with _when(when):
        signer.add_auth(request)
    parts = urllib.parse.urlsplit(request.url)
    return parts.path + "?" + parts.query


def forge(signature_headers: dict) -> dict:
    """The same headers with the last hex digit of the signature changed."""
    auth = signature_headers["Authorization"]
    flipped = auth[:-1] + ("0" if auth[-1] != "0" else "1")
    return {**signature_headers, "Authorization": flipped}


def forge_url(target: str) -> str:
    return re.sub(
        r"X-Amz-Signature=([0-9a-f]*)[0-9a-f]",
        lambda m: f"X-Amz-Signature={m.group(1)}0" if not target.endswith("0") else f"X-Amz-Signature={m.group(1)}1",
        target,
    )


KMS_HEADERS = {"Content-Type": "application/x-amz-json-1.1"}
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def kms_body(operation: str, params: dict) -> tuple[dict, bytes]:
    return {**KMS_HEADERS, "X-Amz-Target": f"TrentService.{operation}"}, json.dumps(params).encode()


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """One class endpoint; bob owns a bucket with an object, a KMS key with a ciphertext,
    and a role that trusts his own account."""
    tmp_path = tmp_path_factory.mktemp("class-security")
    server = start_class(tmp_path)
    alice, bob = Seat(tmp_path / "class", "alice"), Seat(tmp_path / "class", "bob")
    bob.client("s3").create_bucket(Bucket="bob-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    bob.client("s3").put_object(Bucket="bob-bucket", Key="private.txt", Body=BOB_OBJECT)
    bkms = bob.client("kms")
    key_arn = bkms.create_key(Description="bob's")["KeyMetadata"]["Arn"]
    blob = bkms.encrypt(KeyId=key_arn, Plaintext=BOB_PLAINTEXT)["CiphertextBlob"]
    bob_account = bob.client("sts").get_caller_identity()["Account"]
    role_arn = bob.client("iam").create_role(
        RoleName="bob-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{bob_account}:root"},
                    }
                ],
            }
        ),
    )["Role"]["Arn"]
    yield {
        "server": server,
        "endpoint": Endpoint(server.url),
        "alice": alice,
        "bob": bob,
        "blob": blob,
        "key_arn": key_arn,
        "role_arn": role_arn,
        "bob_account": bob_account,
    }
    assert server.stop() == 0


def creds_of(seat: Seat, secret: str | None = None, token: str | None = None) -> Credentials:
    return Credentials(seat.env["AWS_ACCESS_KEY_ID"], secret or seat.env["AWS_SECRET_ACCESS_KEY"], token)


def bobs_things_untouched(world) -> None:
    s3 = world["bob"].client("s3")
    assert s3.get_object(Bucket="bob-bucket", Key="private.txt")["Body"].read() == BOB_OBJECT
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="bob-bucket").get("Contents", [])] == ["private.txt"]
    assert world["bob"].client("kms").decrypt(CiphertextBlob=world["blob"])["Plaintext"] == BOB_PLAINTEXT


def still_serving(world) -> None:
    assert world["alice"].client("sts").get_caller_identity()["Arn"].endswith(":user/alice")
    assert "Keys" in world["alice"].client("kms").list_keys()


# --- 1. Signature Version 2: a key id alone is not a credential ----------------------------------

S3_CALLS = [
    ("GET", "/bob-bucket/private.txt", b""),
    ("PUT", "/bob-bucket/planted.txt", b"planted by someone without bob's secret"),
    ("GET", "/bob-bucket", b""),
    ("DELETE", "/bob-bucket/private.txt", b""),
    ("GET", "/", b""),
]


@pytest.mark.parametrize("method,path,body", S3_CALLS, ids=["get", "put", "list", "delete", "list-buckets"])
def test_a_sigv2_query_with_bobs_key_id_and_a_forged_signature_is_refused(world, method, path, body):
    bob_key = world["bob"].env["AWS_ACCESS_KEY_ID"]
    answer = world["endpoint"].send(
        method, f"{path}?AWSAccessKeyId={bob_key}&Signature=forged&Expires=9999999999", body=body
    )
    assert (answer.status, answer.code) == (400, "InvalidRequest"), answer.text
    assert "Please use AWS4-HMAC-SHA256" in answer.text
    assert BOB_OBJECT not in answer.body and "bob-bucket" not in answer.text
    bobs_things_untouched(world)


@pytest.mark.parametrize("method,path,body", S3_CALLS, ids=["get", "put", "list", "delete", "list-buckets"])
def test_a_sigv2_header_with_bobs_key_id_is_refused(world, method, path, body):
    bob_key = world["bob"].env["AWS_ACCESS_KEY_ID"]
    headers = {
        "Authorization": f"AWS {bob_key}:Zm9yZ2Vk",
        "Date": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime()),
    }
    answer = world["endpoint"].send(method, path, headers, body)
    assert (answer.status, answer.code) == (400, "InvalidRequest"), answer.text
    assert BOB_OBJECT not in answer.body
    bobs_things_untouched(world)


# --- 2. one header, two readings --------------------------------------------------------------------


def _with_second_credential(headers: dict, second_key: str) -> dict:
    auth = headers["Authorization"]
    scope = re.search(r"Credential=[^/]+(/[^,]+)", auth).group(1)
    return {
        **headers,
        "Authorization": auth.replace(", SignedHeaders", f", Credential={second_key}{scope}, SignedHeaders", 1),
    }


@pytest.mark.parametrize("second", ["made-up", "bob"])
def test_a_header_naming_two_access_keys_never_decrypts_bobs_ciphertext(world, second):
    """alice signs a Decrypt of bob's ciphertext, then adds a second Credential= to the
    header (a made-up key, or bob's): one reader must not see alice while another sees
    someone else (the account root of a made-up key, or bob)."""
    import base64

    endpoint = world["endpoint"]
    second_key = MADE_UP if second == "made-up" else world["bob"].env["AWS_ACCESS_KEY_ID"]
    headers, body = kms_body("Decrypt", {"CiphertextBlob": base64.b64encode(world["blob"]).decode()})
    signed = sign(endpoint, creds_of(world["alice"]), "kms", "POST", "/", body, headers)
    answer = endpoint.send("POST", "/", _with_second_credential(signed, second_key), body)
    assert (answer.status, answer.code) == (400, "IncompleteSignatureException"), answer.text
    assert "Plaintext" not in answer.text
    still_serving(world)


def test_credentials_in_both_the_header_and_the_query_are_refused(world):
    endpoint = world["endpoint"]
    target = f"/bob-bucket/private.txt?X-Amz-Credential={world['bob'].env['AWS_ACCESS_KEY_ID']}"
    signed = sign(endpoint, creds_of(world["alice"]), "s3", "GET", target)
    answer = endpoint.send("GET", target, signed)
    assert (answer.status, answer.code) == (400, "InvalidArgument"), answer.text
    assert BOB_OBJECT not in answer.body


# --- 3. STS: no credentials for anyone who did not sign -------------------------------------------


def _assume_role_body(role_arn: str, action: str = "AssumeRole", **extra: str) -> bytes:
    fields = {"Action": action, "Version": "2011-06-15", "RoleArn": role_arn, "RoleSessionName": "mallory", **extra}
    return urllib.parse.urlencode(fields).encode()


def test_an_unsigned_assume_role_is_missing_authentication(world):
    answer = world["endpoint"].send("POST", "/", FORM, _assume_role_body(world["role_arn"]))
    assert (answer.status, answer.code) == (403, "MissingAuthenticationToken"), answer.text
    assert "SecretAccessKey" not in answer.text


def test_a_forged_assume_role_is_refused(world):
    endpoint = world["endpoint"]
    body = _assume_role_body(world["role_arn"])
    signed = sign(endpoint, creds_of(world["bob"], secret="not-bobs-secret"), "sts", "POST", "/", body, FORM)
    answer = endpoint.send("POST", "/", signed, body)
    assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch"), answer.text
    assert "SecretAccessKey" not in answer.text
    target = "/?" + body.decode()  # the same call as a presigned URL, signed with a wrong secret
    answer = endpoint.send(
        "GET", presign(endpoint, creds_of(world["bob"], secret="not-bobs-secret"), "sts", "GET", target)
    )
    assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch"), answer.text
    assert "SecretAccessKey" not in answer.text


@pytest.mark.parametrize("action", ["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"])
def test_unsigned_web_identity_and_saml_reach_sts_and_get_no_credentials(world, action):
    """AWS serves these two unsigned: they pass the door as no one, and STS refuses them
    in its own format (fidelity/sts.py), never handing out a session in bob's account."""
    extra = (
        {"WebIdentityToken": "eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0."}
        if action.endswith("Identity")
        else {"SAMLAssertion": "PHNhbWw+PC9zYW1sPg==", "PrincipalArn": world["role_arn"]}
    )
    answer = world["endpoint"].send("POST", "/", FORM, _assume_role_body(world["role_arn"], action, **extra))
    assert 400 <= answer.status < 500, answer.text
    assert "<ErrorResponse" in answer.text  # STS's error, not S3's
    assert "SecretAccessKey" not in answer.text


def test_a_forged_signature_on_web_identity_is_not_taken_for_unsigned(world):
    """A forged signature is refused as forged, in the header and in a presigned URL, even
    on the operations AWS also serves unsigned."""
    endpoint = world["endpoint"]
    forged = creds_of(world["alice"], secret="not-alices-secret")
    body = _assume_role_body(world["role_arn"], "AssumeRoleWithWebIdentity", WebIdentityToken="x" * 20)
    answers = [
        endpoint.send("POST", "/", sign(endpoint, forged, "sts", "POST", "/", body, FORM), body),
        endpoint.send("GET", presign(endpoint, forged, "sts", "GET", "/?" + body.decode())),
    ]
    for answer in answers:
        assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch"), answer.text
        assert "SecretAccessKey" not in answer.text


# --- 4. a valid key id with a forged signature, every service, both forms -------------------------

FORGED = {
    "kms": (400, "InvalidSignatureException"),
    "iam": (403, "SignatureDoesNotMatch"),
    "sts": (403, "SignatureDoesNotMatch"),
    "ec2": (401, "AuthFailure"),
    "s3": (403, "SignatureDoesNotMatch"),
}
QUERY_CALLS = {
    "iam": "/?Action=ListRoles&Version=2010-05-08",
    "sts": "/?Action=GetCallerIdentity&Version=2011-06-15",
    "ec2": "/?Action=DescribeVolumes&Version=2016-11-15",
    "s3": "/bob-bucket/private.txt",
}


@pytest.mark.parametrize("service", sorted(FORGED))
def test_a_forged_signature_with_bobs_key_id_is_refused(world, service):
    endpoint, status_code = world["endpoint"], FORGED[service]
    bob_forged = creds_of(world["bob"], secret="x" * 40)
    if service == "kms":
        headers, body = kms_body("ListKeys", {})
        answer = endpoint.send("POST", "/", sign(endpoint, bob_forged, "kms", "POST", "/", body, headers), body)
        target = presign(endpoint, bob_forged, "kms", "GET", "/?Action=ListKeys")
        forms = [answer, endpoint.send("POST", target, headers, body)]
    else:
        target = QUERY_CALLS[service]
        forms = [
            endpoint.send("GET", target, sign(endpoint, bob_forged, service, "GET", target)),
            endpoint.send("GET", presign(endpoint, bob_forged, service, "GET", target)),
        ]
    for answer in forms:
        assert (answer.status, answer.code) == status_code, answer.text
        assert BOB_OBJECT not in answer.body and "KeyId" not in answer.text
    bobs_things_untouched(world)


def test_a_presigned_request_acts_as_its_signer_never_as_a_root(world):
    """A presigned URL is no unsigned request: moto's own reading of the caller (here
    GetCallerIdentity's) names the key that signed it, in its own account."""
    endpoint = world["endpoint"]
    target = presign(endpoint, creds_of(world["alice"]), "sts", "GET", QUERY_CALLS["sts"])
    answer = endpoint.send("GET", target)
    alice_account = world["alice"].client("sts").get_caller_identity()["Account"]
    assert answer.status == 200, answer.text
    assert f"<Arn>arn:aws:iam::{alice_account}:user/alice</Arn>" in answer.text


def test_a_presigned_url_with_its_signature_changed_is_refused(world):
    endpoint = world["endpoint"]
    target = presign(endpoint, creds_of(world["bob"]), "s3", "GET", "/bob-bucket/private.txt")
    assert endpoint.send("GET", target).body == BOB_OBJECT  # as bob made it
    answer = endpoint.send("GET", forge_url(target))
    assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch"), answer.text
    tampered = target.replace("private.txt", "other.txt")  # another object under bob's signature
    assert endpoint.send("GET", tampered).code == "SignatureDoesNotMatch"


def test_a_replayed_request_with_another_body_is_refused(world):
    """A captured signed PUT, its body swapped: S3 compares the body with the signed hash."""
    endpoint = world["endpoint"]
    signed = sign(endpoint, creds_of(world["bob"]), "s3", "PUT", "/bob-bucket/private.txt", BOB_OBJECT)
    answer = endpoint.send("PUT", "/bob-bucket/private.txt", signed, b"replaced by mallory")
    assert (answer.status, answer.code) == (400, "XAmzContentSHA256Mismatch"), answer.text
    headers, body = kms_body("ListKeys", {})
    signed = sign(endpoint, creds_of(world["bob"]), "kms", "POST", "/", body, headers)
    other = json.dumps({"Limit": 1}).encode()
    answer = endpoint.send("POST", "/", signed, other)
    assert (answer.status, answer.code) == (400, "InvalidSignatureException"), answer.text
    bobs_things_untouched(world)


def _streamed(endpoint: Endpoint, creds: Credentials, target: str, chunks: list[bytes]) -> tuple[dict, bytes]:
    """An upload as SDKs stream it over HTTP (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): botocore
    signs the headers, each chunk is signed after the one before it (AWS's chunk signing)."""

    total = sum(len(c) for c in chunks)
    request = AWSRequest(
        method="PUT",
        url=endpoint.url + target,
        headers={
            "X-Amz-Content-SHA256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "Content-Encoding": "aws-chunked",
            "X-Amz-Decoded-Content-Length": str(total),
            "Content-Type": "application/octet-stream",
        },
    )
    SigV4Auth(creds, "s3", REGION).add_auth(request)  # the plain signer keeps the header's payload hash
    timestamp = request.context["timestamp"]
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
    previous = re.search(r"Signature=([0-9a-f]{64})", headers["Authorization"]).group(1)
    body, _key, _scope, _last = sign_chunks(creds.secret_key, timestamp, REGION, previous, chunks)
    return headers, body + b"\r\n"


def test_a_streamed_upload_with_a_chunk_changed_is_refused(world, alice_bucket):
    """The seed signature covers only the headers: each chunk's own signature binds the
    body. An honest stream is stored; the same request with a chunk swapped, or with its
    chunk signatures made up, is refused and changes nothing."""
    endpoint = world["endpoint"]
    target = f"/{alice_bucket}/streamed"
    headers, body = _streamed(endpoint, creds_of(world["alice"]), target, [b"first chunk ", b"second chunk"])
    answer = endpoint.send("PUT", target, headers, body)
    assert answer.status == 200, answer.text
    s3 = world["alice"].client("s3")
    assert s3.get_object(Bucket=alice_bucket, Key="streamed")["Body"].read() == b"first chunk second chunk"
    swapped = body.replace(b"second chunk", b"mallory's!!!")
    made_up = re.sub(rb"chunk-signature=[0-9a-f]{64}", b"chunk-signature=" + b"0" * 64, body)
    for tampered in (swapped, made_up):  # the same signed headers, to the same key
        answer = endpoint.send("PUT", target, headers, tampered)
        assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch"), answer.text
    assert s3.get_object(Bucket=alice_bucket, Key="streamed")["Body"].read() == b"first chunk second chunk"


# --- 5. session tokens ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def alice_session(world):
    alice = world["alice"]
    account = alice.client("sts").get_caller_identity()["Account"]
    role = alice.client("iam").create_role(
        RoleName="alice-session-role",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Action": "sts:AssumeRole",
                        "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    }
                ],
            }
        ),
    )["Role"]
    alice.client("iam").put_role_policy(
        RoleName="alice-session-role",
        PolicyName="all",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        ),
    )
    return alice.client("sts").assume_role(RoleArn=role["Arn"], RoleSessionName="session")["Credentials"]


@pytest.mark.parametrize("token", ["wrong", "missing", "bobs-key"])
def test_a_session_key_needs_its_own_token(world, alice_session, token):
    endpoint = world["endpoint"]
    key, secret, real = alice_session["AccessKeyId"], alice_session["SecretAccessKey"], alice_session["SessionToken"]
    used = {"wrong": real[:-4] + "AAAA", "missing": None, "bobs-key": real}[token]
    if token == "bobs-key":  # a token with another key id: bob's key and secret, alice's session token
        key, secret = world["bob"].env["AWS_ACCESS_KEY_ID"], world["bob"].env["AWS_SECRET_ACCESS_KEY"]
    headers, body = kms_body("ListKeys", {})
    honest = sign(
        endpoint, Credentials(key, secret, real if token != "bobs-key" else None), "kms", "POST", "/", body, headers
    )
    if token != "bobs-key":
        assert endpoint.send("POST", "/", honest, body).status == 200  # the session itself works
    answer = endpoint.send(
        "POST", "/", sign(endpoint, Credentials(key, secret, used), "kms", "POST", "/", body, headers), body
    )
    assert (answer.status, answer.code) == (400, "UnrecognizedClientException"), answer.text
    target = presign(endpoint, Credentials(key, secret, used), "s3", "GET", "/")
    answer = endpoint.send("GET", target)
    assert (answer.status, answer.code) in ((400, "InvalidToken"), (403, "InvalidAccessKeyId")), answer.text


# --- 6. time ---------------------------------------------------------------------------------------------

NOW = datetime.datetime.now(datetime.timezone.utc)
SKEWS = {
    "2020": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    "2031": datetime.datetime(2031, 1, 1, tzinfo=datetime.timezone.utc),
    "16-min-ago": None,
    "16-min-ahead": None,
}
SKEWED = {
    "kms": (400, "InvalidSignatureException"),
    "sts": (403, "SignatureDoesNotMatch"),
    "iam": (403, "SignatureDoesNotMatch"),
    "ec2": (403, "SignatureDoesNotMatch"),
    "s3": (403, "RequestTimeTooSkewed"),
}


def _skewed(name: str) -> datetime.datetime:
    now = datetime.datetime.now(datetime.timezone.utc)
    return SKEWS[name] or now + datetime.timedelta(minutes=16 if name.endswith("ahead") else -16)


@pytest.mark.parametrize("service", sorted(SKEWED))
@pytest.mark.parametrize("when", sorted(SKEWS))
def test_a_request_dated_more_than_15_minutes_away_is_refused(world, service, when):
    endpoint, date = world["endpoint"], _skewed(when)
    if service == "kms":
        headers, body = kms_body("ListKeys", {})
        signed = sign(endpoint, creds_of(world["alice"]), "kms", "POST", "/", body, headers, when=date)
        answer = endpoint.send("POST", "/", signed, body)
    else:
        target = QUERY_CALLS[service].replace("bob-bucket/private.txt", "")
        answer = endpoint.send(
            "GET", target, sign(endpoint, creds_of(world["alice"]), service, "GET", target, when=date)
        )
    assert (answer.status, answer.code) == SKEWED[service], answer.text
    if service != "s3":
        words = "is now earlier than" if date < NOW else "is still later than"
        assert "Signature expired" in answer.text or "Signature not yet current" in answer.text
        assert words in answer.text
    if when.startswith("16-min"):  # the bound is 15 minutes: 14 minutes the same way is accepted
        minutes = 14 if when.endswith("ahead") else -14
        date = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=minutes)
        headers, body = kms_body("ListKeys", {})
        signed = sign(endpoint, creds_of(world["alice"]), "kms", "POST", "/", body, headers, when=date)
        assert endpoint.send("POST", "/", signed, body).status == 200


def test_an_expired_presigned_url_is_refused(world):
    endpoint = world["endpoint"]
    an_hour_ago = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    target = presign(
        endpoint, creds_of(world["bob"]), "s3", "GET", "/bob-bucket/private.txt", expires=600, when=an_hour_ago
    )
    answer = endpoint.send("GET", target)
    assert (answer.status, answer.code) == (403, "AccessDenied"), answer.text
    assert "Request has expired" in answer.text
    assert BOB_OBJECT not in answer.body


# --- 7. unsigned requests get their own service's error -----------------------------------------------


@pytest.mark.parametrize(
    "target,status,code",
    [
        ("/?Action=ListUsers&Version=2010-05-08", 403, "MissingAuthenticationToken"),
        ("/?Action=GetCallerIdentity&Version=2011-06-15", 403, "MissingAuthenticationToken"),
        ("/?Action=DescribeVolumes&Version=2016-11-15", 401, "AuthFailure"),
    ],
    ids=["iam", "sts", "ec2"],
)
def test_an_unsigned_query_api_request_gets_its_services_error(world, target, status, code):
    answer = world["endpoint"].send("GET", target)
    assert (answer.status, answer.code) == (status, code), answer.text


# --- 8. malformed input: a 4xx with AWS's code, and the endpoint keeps serving --------------------------


def _nested(depth: int) -> bytes:
    return b'{"KeyId": ' + b"[" * depth + b"]" * depth + b"}"


MALFORMED_KMS = {
    "invalid-json": b'{"KeyId": "alias/x", ',
    "deeply-nested-json": _nested(100_000),
    "not-an-object": b'["ListKeys"]',
}


@pytest.mark.parametrize("case", sorted(MALFORMED_KMS))
def test_malformed_kms_json_is_a_serialization_exception(world, case):
    endpoint = world["endpoint"]
    headers, _ = kms_body("DescribeKey", {})
    body = MALFORMED_KMS[case]
    answer = endpoint.send(
        "POST", "/", sign(endpoint, creds_of(world["alice"]), "kms", "POST", "/", body, headers), body
    )
    assert (answer.status, answer.code) == (400, "SerializationException"), answer.text
    still_serving(world)


@pytest.fixture(scope="module")
def alice_bucket(world):
    world["alice"].client("s3").create_bucket(
        Bucket="alice-xml-bucket", CreateBucketConfiguration={"LocationConstraint": REGION}
    )
    return "alice-xml-bucket"


@pytest.mark.parametrize(
    "body",
    [b"<Tagging><TagSet><Tag><Key>a</Key>", b"\x00\xff not xml", b"<a>" * 50_000 + b"</a>" * 50_000],
    ids=["truncated", "binary", "deep"],
)
def test_malformed_s3_xml_is_malformed_xml(world, alice_bucket, body):
    endpoint = world["endpoint"]
    alice_bucket = f"/{alice_bucket}?tagging"
    answer = endpoint.send(
        "PUT", alice_bucket, sign(endpoint, creds_of(world["alice"]), "s3", "PUT", alice_bucket, body), body
    )
    assert (answer.status, answer.code) == (400, "MalformedXML"), answer.text
    still_serving(world)


@pytest.mark.parametrize(
    "headers,status,code",
    [
        ({"Authorization": "AWS4-HMAC-SHA256 Credential="}, 400, "IncompleteSignatureException"),
        (
            {"Authorization": "AWS AKIAZZZZZZZZZZZZZZZZ:Zm9yZ2Vk"},
            400,
            "IncompleteSignatureException",
        ),  # pragma: allowlist secret
        ({"Authorization": "Bearer nothing"}, 400, "IncompleteSignatureException"),
    ],
    ids=["truncated-sigv4", "sigv2", "other-scheme"],
)
def test_malformed_kms_authorization_headers_are_refused(world, headers, status, code):
    kms_headers, body = kms_body("ListKeys", {})
    answer = world["endpoint"].send("POST", "/", {**kms_headers, **headers}, body)
    assert (answer.status, answer.code) == (status, code), answer.text
    still_serving(world)


@pytest.mark.parametrize("service", ["kms", "sts", "s3"])
def test_a_signed_request_without_its_date_is_refused(world, service):
    endpoint = world["endpoint"]
    if service == "kms":
        headers, body = kms_body("ListKeys", {})
        target, method = "/", "POST"
    else:
        headers, body, method = {}, b"", "GET"
        target = QUERY_CALLS[service].replace("bob-bucket/private.txt", "")
    signed = sign(endpoint, creds_of(world["alice"]), service, method, target, body, headers)
    del signed["X-Amz-Date"]
    answer = endpoint.send(method, target, signed, body)
    expected = {
        "kms": (400, "IncompleteSignatureException"),
        "sts": (400, "IncompleteSignature"),
        "s3": (403, "AccessDenied"),
    }[service]
    assert (answer.status, answer.code) == expected, answer.text
    still_serving(world)


@pytest.mark.parametrize(
    "target",
    [
        "/?Action=DescribeVolumes&Version=2016-11-15&MaxResults=lots",
        "/?Action=ListRoles&Version=2010-05-08&MaxItems=lots",
    ],
    ids=["ec2", "iam"],
)
def test_malformed_query_parameters_are_a_4xx(world, target):
    service = "ec2" if "2016" in target else "iam"
    endpoint = world["endpoint"]
    answer = endpoint.send("GET", target, sign(endpoint, creds_of(world["alice"]), service, "GET", target))
    assert 400 <= answer.status < 500, answer.text
    assert answer.code in ("InvalidParameterValue", "ValidationError"), answer.text
    still_serving(world)


# --- 9. a request refused at the door has its body never read ---------------------------------------

DOOR = r"""
import json, sys, tempfile, time
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from workshop_helpers import account, fidelity
from workshop_helpers.classroom import Classroom

fidelity.apply()
state = account.open_account(tempfile.mkdtemp())
classroom = Classroom(["alice"], tempfile.mkdtemp(), region="eu-west-1")
app = classroom.wrap_outer(account.wsgi(classroom.wrap_inner(DomainDispatcherApplication(create_backend_app)), state))
classroom.open("http://127.0.0.1:9", state)
alice = classroom.participants()[0].access_key_id


class Unread:
    def read(self, *args):
        raise AssertionError("the body of a refused request was read")

    readline = read


now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
def header(key, date=now[:8]):
    return (f"AWS4-HMAC-SHA256 Credential={key}/{date}/eu-west-1/kms/aws4_request, "
            f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}")

cases = {
    "unsigned": {},
    "unknown-key": {"HTTP_AUTHORIZATION": header("AKIAZZZZZZZZZZZZZZZZ"), "HTTP_X_AMZ_DATE": now},
    "sigv2": {"HTTP_AUTHORIZATION": f"AWS {alice}:c2ln"},
    "two-credentials": {"HTTP_AUTHORIZATION": header(alice).replace(", SignedHeaders", ", Credential=x, SignedHeaders"),
                        "HTTP_X_AMZ_DATE": now},
    "2020": {"HTTP_AUTHORIZATION": header(alice, "20200101"), "HTTP_X_AMZ_DATE": "20200101T000000Z"},
}
answers = {}
for name, extra in cases.items():
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "9", "HTTP_HOST": "127.0.0.1:9", "wsgi.url_scheme": "http", "wsgi.input": Unread(),
               "CONTENT_LENGTH": "1000000", "CONTENT_TYPE": "application/x-amz-json-1.1",
               "HTTP_X_AMZ_TARGET": "TrentService.ListKeys", **extra}
    seen = []
    body = b"".join(app(environ, lambda status, headers, exc_info=None: seen.append(status)))
    answers[name] = [seen[0], json.loads(body)["__type"]]
print(json.dumps(answers))
"""


def test_a_request_refused_at_the_door_has_its_body_never_read(tmp_path):
    """Unsigned requests and unknown, malformed or stale credentials are answered from the
    headers alone: the class app's body stream raises if anything reads it."""
    import os
    import subprocess
    import sys

    from fidelity_support import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "MOTO_"))}
    done = subprocess.run([sys.executable, "-c", DOOR], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    assert answers == {
        "unsigned": ["400 Bad Request", "MissingAuthenticationTokenException"],
        "unknown-key": ["400 Bad Request", "UnrecognizedClientException"],
        "sigv2": ["400 Bad Request", "IncompleteSignatureException"],
        "two-credentials": ["400 Bad Request", "IncompleteSignatureException"],
        "2020": ["400 Bad Request", "InvalidSignatureException"],
    }


# --- S3 metadata names with "_": signed as sent, and only as sent ---------------------------------


def test_s3_metadata_named_with_an_underscore_is_signed_and_kept(world, alice_bucket):
    s3 = world["alice"].client("s3")
    s3.put_object(Bucket=alice_bucket, Key="meta.txt", Body=b"x", Metadata={"my_key": "v1", "other-key": "v2"})
    assert s3.head_object(Bucket=alice_bucket, Key="meta.txt")["Metadata"] == {"my_key": "v1", "other-key": "v2"}


def test_a_signed_underscored_header_sent_with_a_dash_is_refused(world, alice_bucket):
    """WSGI spells x-amz-meta-my_key and x-amz-meta-my-key alike: a captured request must not
    be replayable with the header renamed."""
    endpoint, target = world["endpoint"], f"/{alice_bucket}/renamed.txt"
    headers = sign(endpoint, creds_of(world["alice"]), "s3", "PUT", target, b"body", {"x-amz-meta-my_key": "v"})
    renamed = {("x-amz-meta-my-key" if k.lower() == "x-amz-meta-my_key" else k): v for k, v in headers.items()}
    answer = endpoint.send("PUT", target, renamed, b"body")
    assert (answer.status, answer.code) == (403, "SignatureDoesNotMatch"), answer.text
    assert endpoint.send("PUT", target, headers, b"body").status == 200
