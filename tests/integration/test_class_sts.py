"""STS across accounts on a class endpoint, attacked as a participant would attack it.

alice tries to get credentials in bob's account: with AssumeRoleWithWebIdentity and
AssumeRoleWithSAML (unsigned on AWS; also signed, and naming her key without a signature),
and with AssumeRole of bob's roles. Only a role whose trust policy names her account, with
her own IAM policy allowing it, gives her a session, and that session acts in bob's account
only as the role's policies allow."""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import boto3
import pytest
from botocore.auth import SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from fidelity_support import kms_error
from test_classroom import NO_RETRIES, REGION, Seat, start_class


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("class-sts")
    server = start_class(tmp_path)
    yield tmp_path, server
    assert server.stop() == 0


@pytest.fixture(scope="module")
def alice(klass):
    return Seat(klass[0] / "class", "alice")


@pytest.fixture(scope="module")
def bob(klass):
    return Seat(klass[0] / "class", "bob")


def account_of(seat: Seat) -> str:
    return seat.client("sts").get_caller_identity()["Account"]


def trusting(*principals: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}],
        }
    )


def allowing(actions, resource: str = "*") -> str:
    return json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": resource}]}
    )


def denied_message(caller_arn: str, role_arn: str) -> str:
    return f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"


@pytest.fixture(scope="module")
def bobs_role(bob):
    """A role in bob's account that trusts only bob's account."""
    return bob.client("iam").create_role(
        RoleName="bobs-own", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{account_of(bob)}:root")
    )["Role"]["Arn"]


# --- web identity and SAML: no identity provider, never credentials ------------------------


def _jwt(issuer: str) -> str:
    def part(value: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256', 'kid': 'made-up'})}.{part({'iss': issuer, 'sub': 'alice', 'aud': 'sts'})}.c2ln"


def _saml_assertion(role_arn: str, provider_arn: str) -> str:
    """A SAML response naming bob's role, as an IdP would send it (unsigned: nobody can sign one)."""
    xml = (
        '<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol">'
        '<saml:Assertion xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"><saml:AttributeStatement>'
        '<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/RoleSessionName">'
        "<saml:AttributeValue>alice</saml:AttributeValue></saml:Attribute>"
        '<saml:Attribute Name="https://aws.amazon.com/SAML/Attributes/Role">'
        f"<saml:AttributeValue>{role_arn},{provider_arn}</saml:AttributeValue></saml:Attribute>"
        "</saml:AttributeStatement></saml:Assertion></samlp:Response>"
    )
    return base64.b64encode(xml.encode()).decode()


def _federation_params(action: str, role_arn: str, bob_account: str) -> dict[str, str]:
    params = {"Action": action, "Version": "2011-06-15", "RoleArn": role_arn, "RoleSessionName": "alice"}
    if action == "AssumeRoleWithWebIdentity":
        params["WebIdentityToken"] = _jwt("https://idp.example.com")
    else:
        provider = f"arn:aws:iam::{bob_account}:saml-provider/made-up"
        params.update(PrincipalArn=provider, SAMLAssertion=_saml_assertion(role_arn, provider))
    return params


def _post(url: str, body: str, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def send(server_url: str, params: dict[str, str], signing: str, seat: Seat) -> tuple[int, str]:
    """POST an STS query request: unsigned (as SDKs send these calls), signed with the
    seat's key, or naming the seat's key in a presigned-style query without a signature."""
    body = urllib.parse.urlencode(params)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    url = server_url + "/"
    if signing == "signed":
        request = AWSRequest("POST", url, data=body, headers=headers)
        SigV4Auth(
            Credentials(seat.env["AWS_ACCESS_KEY_ID"], seat.env["AWS_SECRET_ACCESS_KEY"]), "sts", REGION
        ).add_auth(request)
        headers = dict(request.headers.items())
    elif signing == "key named, no signature":
        url += "?" + urllib.parse.urlencode(
            {"X-Amz-Credential": f"{seat.env['AWS_ACCESS_KEY_ID']}/20260101/{REGION}/sts/aws4_request"}
        )
    return _post(url, body, headers)


def _code(body: str) -> str | None:
    match = re.search(r"<Code>([^<]+)</Code>", body)
    return match.group(1) if match else None


@pytest.mark.parametrize("signing", ["unsigned", "signed", "key named, no signature"])
@pytest.mark.parametrize("action", ["AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"])
def test_federated_calls_naming_another_accounts_role_issue_no_credentials(
    klass, alice, bob, bobs_role, action, signing
):
    _, server = klass
    status, body = send(server.url, _federation_params(action, bobs_role, account_of(bob)), signing, alice)
    assert "SecretAccessKey" not in body and "SessionToken" not in body, f"{action} issued credentials ({status})"
    assert status in (400, 403), body[:500]
    if signing in ("unsigned", "signed"):  # STS itself answers, as on AWS: these calls need no signature
        assert (status, _code(body)) == (400, "InvalidIdentityToken"), body[:500]
    if action == "AssumeRoleWithWebIdentity" and _code(body) == "InvalidIdentityToken":
        assert "No OpenIDConnect provider found in your account for https://idp.example.com" in body


# --- AssumeRole across accounts -----------------------------------------------------------


def test_a_role_trusting_only_its_own_account_is_refused_to_another_participant(alice, bob, bobs_role):
    alice_arn = alice.client("sts").get_caller_identity()["Arn"]
    missing = f"arn:aws:iam::{account_of(bob)}:role/no-such-role"
    for role_arn in (bobs_role, missing):  # a missing role: the same answer, existence not revealed
        with kms_error("AccessDenied") as refused:
            alice.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="alice")
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert refused.value.response["Error"]["Message"] == denied_message(alice_arn, role_arn)
    assert bob.client("sts").assume_role(RoleArn=bobs_role, RoleSessionName="bob")["Credentials"]


def test_a_role_trusting_another_account_gives_a_session_there_limited_to_the_roles_policies(alice, bob):
    biam, bkms, akms = bob.client("iam"), bob.client("kms"), alice.client("kms")
    role = biam.create_role(
        RoleName="lets-alice-list", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{account_of(alice)}:root")
    )["Role"]["Arn"]
    biam.put_role_policy(RoleName="lets-alice-list", PolicyName="list-keys", PolicyDocument=allowing(["kms:ListKeys"]))
    bobs_key = bkms.create_key(Description="bob's")["KeyMetadata"]["KeyId"]
    alices_key = akms.create_key(Description="alice's")["KeyMetadata"]["KeyId"]

    session = alice.client("sts").assume_role(RoleArn=role, RoleSessionName="alice-visits")
    assert (
        session["AssumedRoleUser"]["Arn"] == f"arn:aws:sts::{account_of(bob)}:assumed-role/lets-alice-list/alice-visits"
    )
    creds = session["Credentials"]

    def as_session(service: str):
        return boto3.client(
            service,
            endpoint_url=bob.env["KMS_WORKSHOP_ENDPOINT_URL"],
            region_name=REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            config=NO_RETRIES,
        )

    identity = as_session("sts").get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (account_of(bob), session["AssumedRoleUser"]["Arn"])
    listed = [k["KeyId"] for k in as_session("kms").list_keys()["Keys"]]
    assert bobs_key in listed and alices_key not in listed  # bob's account, not hers
    with kms_error("AccessDeniedException"):
        as_session("kms").create_key()
    with kms_error("AccessDenied"):
        as_session("iam").create_role(RoleName="alice-was-here", AssumeRolePolicyDocument=trusting("*"))
    assert "alice-was-here" not in [r["RoleName"] for r in biam.list_roles()["Roles"]]


def test_a_trust_naming_the_account_also_needs_the_callers_own_policy(alice, bob):
    """carol, in alice's account, may use KMS only: bob's role trusting her account is not
    enough until her own IAM policy allows sts:AssumeRole on it."""
    role = bob.client("iam").create_role(
        RoleName="trusts-alices-account", AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{account_of(alice)}:root")
    )["Role"]["Arn"]
    aiam = alice.client("iam")
    carol_arn = aiam.create_user(UserName="carol")["User"]["Arn"]
    aiam.put_user_policy(UserName="carol", PolicyName="kms-only", PolicyDocument=allowing(["kms:*"]))
    key = aiam.create_access_key(UserName="carol")["AccessKey"]
    carol = alice.client("sts", access_key=key["AccessKeyId"], secret=key["SecretAccessKey"])

    with kms_error("AccessDenied") as refused:
        carol.assume_role(RoleArn=role, RoleSessionName="carol")
    assert refused.value.response["Error"]["Message"] == denied_message(carol_arn, role)

    presigned = presign(
        {"Action": "AssumeRole", "Version": "2011-06-15", "RoleArn": role, "RoleSessionName": "carol"},
        key["AccessKeyId"],
        key["SecretAccessKey"],
        bob.env["KMS_WORKSHOP_ENDPOINT_URL"],
    )
    status, body = _get(presigned)  # a presigned URL acts as its signer, not as her account's root
    assert "SessionToken" not in body, "a presigned AssumeRole issued credentials"
    assert (status, _code(body)) == (403, "AccessDenied")
    assert denied_message(carol_arn, role) in body

    aiam.put_user_policy(UserName="carol", PolicyName="may-assume", PolicyDocument=allowing("sts:AssumeRole", role))
    session = carol.assume_role(RoleArn=role, RoleSessionName="carol")
    assert session["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{account_of(bob)}:assumed-role/")


def presign(params: dict[str, str], access_key: str, secret: str, endpoint_url: str) -> str:
    request = AWSRequest("GET", f"{endpoint_url}/?{urllib.parse.urlencode(params)}")
    SigV4QueryAuth(Credentials(access_key, secret), "sts", REGION, expires=300).add_auth(request)
    return request.prepare().url


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_a_session_in_another_participants_account_survives_a_restart(tmp_path):
    """alice's session of bob's role is made in bob's account: it is kept there on disk
    with bob's account, so it still signs requests after the endpoint restarts (and in
    any worker process of `serve --workers`, which reads the same disk)."""
    server = start_class(tmp_path)
    try:
        alice, bob = Seat(tmp_path / "class", "alice"), Seat(tmp_path / "class", "bob")
        role = bob.client("iam").create_role(
            RoleName="visited-after-restart",
            AssumeRolePolicyDocument=trusting(f"arn:aws:iam::{account_of(alice)}:root"),
        )["Role"]["Arn"]
        bob.client("iam").put_role_policy(
            RoleName="visited-after-restart", PolicyName="list-keys", PolicyDocument=allowing(["kms:ListKeys"])
        )
        bobs_key = bob.client("kms").create_key()["KeyMetadata"]["KeyId"]
        session = alice.client("sts").assume_role(RoleArn=role, RoleSessionName="before-restart")
        bob_account = account_of(bob)
    finally:
        assert server.stop() == 0
    server = start_class(tmp_path)
    try:
        creds = session["Credentials"]

        def as_session(service: str):
            return boto3.client(
                service,
                endpoint_url=server.url,
                region_name=REGION,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                config=NO_RETRIES,
            )

        identity = as_session("sts").get_caller_identity()
        assert (identity["Account"], identity["Arn"]) == (bob_account, session["AssumedRoleUser"]["Arn"])
        assert bobs_key in [k["KeyId"] for k in as_session("kms").list_keys()["Keys"]]
        with kms_error("AccessDeniedException"):  # still the role's policies, nothing more
            as_session("kms").create_key()
    finally:
        assert server.stop() == 0
