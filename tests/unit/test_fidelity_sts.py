"""Who may assume a role, in-process (moto's mock in this process, two accounts).

Each test makes its own users in two simulated accounts: "home" (the caller's) and "other"
(the role's). The other account is reached as its root through moto's account header, as a
second participant would administer it."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.credentials import Credentials
from fidelity_support import REGION, kms_error, unique

HOME, OTHER = "100000900001", "100000900002"


def statement(actions, resource: str = "*", effect: str = "Allow") -> dict:
    return {"Effect": effect, "Action": actions, "Resource": resource}


def document(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def trusting(*principals: str, condition: dict | None = None) -> str:
    trust = {"Effect": "Allow", "Principal": {"AWS": list(principals)}, "Action": "sts:AssumeRole"}
    if condition:
        trust["Condition"] = condition
    return document(trust)


class Accounts:
    """Clients of the account roots and of IAM users made in them."""

    def __init__(self):
        from workshop_helpers.backend import client_config

        self._session = boto3.Session(region_name=REGION)
        self._config = client_config()

    def client(self, service: str, credentials: dict | None = None, account: str | None = None):
        creds = credentials or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
        client = self._session.client(
            service,
            region_name=REGION,
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds.get("SessionToken"),
            config=self._config,
        )
        if account:  # moto's own header: the root of that account
            client.meta.events.register(
                "before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account)
            )
        return client

    def root(self, service: str, account: str):
        return self.client(service, account=account)

    def user(self, account: str, *statements: dict) -> tuple[str, dict]:
        """(ARN, credentials) of a new IAM user of `account` with these inline statements."""
        iam = self.root("iam", account)
        name = unique("user")
        arn = iam.create_user(UserName=name)["User"]["Arn"]
        if statements:
            iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=document(*statements))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return arn, {"AccessKeyId": key["AccessKeyId"], "SecretAccessKey": key["SecretAccessKey"]}

    def role(self, account: str, trust: str, *statements: dict) -> str:
        iam = self.root("iam", account)
        name = unique("role")
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
        if statements:
            iam.put_role_policy(RoleName=name, PolicyName="inline", PolicyDocument=document(*statements))
        return arn


@pytest.fixture(scope="module")
def accounts(moto_workshop):
    return Accounts()


def refused(accounts: Accounts, credentials: dict, caller_arn: str, role_arn: str, **extra) -> None:
    with kms_error("AccessDenied") as info:
        accounts.client("sts", credentials).assume_role(RoleArn=role_arn, RoleSessionName="attempt", **extra)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert info.value.response["Error"]["Message"] == (
        f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )


def assumed(accounts: Accounts, credentials: dict, role_arn: str, **extra) -> dict:
    return accounts.client("sts", credentials).assume_role(RoleArn=role_arn, RoleSessionName="attempt", **extra)


ADMIN = statement("*")


def test_another_accounts_role_needs_its_trust_policy_to_name_the_caller(accounts):
    caller_arn, caller = accounts.user(HOME, ADMIN)
    refused(accounts, caller, caller_arn, accounts.role(OTHER, trusting(f"arn:aws:iam::{OTHER}:root")))
    refused(accounts, caller, caller_arn, f"arn:aws:iam::{OTHER}:role/{unique('missing')}")
    nobody = "arn:aws:iam::100000900999:role/in-an-account-nobody-used"  # pragma: allowlist secret
    refused(accounts, caller, caller_arn, nobody)
    for trusted in (f"arn:aws:iam::{HOME}:root", HOME, caller_arn):
        assert assumed(accounts, caller, accounts.role(OTHER, trusting(trusted)))["Credentials"]


def test_another_accounts_role_also_needs_the_callers_identity_policy(accounts):
    role = accounts.role(OTHER, trusting(f"arn:aws:iam::{HOME}:root"))
    caller_arn, caller = accounts.user(HOME, statement("kms:*"))
    refused(accounts, caller, caller_arn, role)
    named_arn, named = accounts.user(HOME, statement("kms:*"))  # named by the trust policy itself
    refused(accounts, named, named_arn, accounts.role(OTHER, trusting(named_arn)))
    scoped_arn, scoped = accounts.user(HOME, statement("sts:AssumeRole", role))
    assert assumed(accounts, scoped, role)["Credentials"]
    refused(accounts, scoped, scoped_arn, accounts.role(OTHER, trusting(f"arn:aws:iam::{HOME}:root")))


def test_an_explicit_deny_wins_on_either_side(accounts):
    denied_arn, denied = accounts.user(HOME, ADMIN, statement("sts:AssumeRole", effect="Deny"))
    refused(accounts, denied, denied_arn, accounts.role(OTHER, trusting(f"arn:aws:iam::{HOME}:root")))
    caller_arn, caller = accounts.user(HOME, ADMIN)
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{HOME}:root"}, "Action": "sts:AssumeRole"},
                {"Effect": "Deny", "Principal": {"AWS": caller_arn}, "Action": "sts:AssumeRole"},
            ],
        }
    )
    refused(accounts, caller, caller_arn, accounts.role(OTHER, trust))


def test_own_accounts_role_follows_the_same_account_rule(accounts):
    """In its own account a trust policy naming the user is enough (a resource policy in the
    same account); naming the account delegates to the user's identity policies."""
    caller_arn, caller = accounts.user(HOME, statement("kms:*"))
    assert assumed(accounts, caller, accounts.role(HOME, trusting(caller_arn)))["Credentials"]
    refused(accounts, caller, caller_arn, accounts.role(HOME, trusting(f"arn:aws:iam::{HOME}:root")))
    admin_arn, admin = accounts.user(HOME, ADMIN)
    assert assumed(accounts, admin, accounts.role(HOME, trusting(f"arn:aws:iam::{HOME}:root")))["Credentials"]
    refused(accounts, admin, admin_arn, accounts.role(HOME, trusting(f"arn:aws:iam::{OTHER}:root")))


def test_external_id_condition(accounts):
    caller_arn, caller = accounts.user(HOME, ADMIN)
    role = accounts.role(
        OTHER, trusting(f"arn:aws:iam::{HOME}:root", condition={"StringEquals": {"sts:ExternalId": "class-2026"}})
    )
    refused(accounts, caller, caller_arn, role)
    refused(accounts, caller, caller_arn, role, ExternalId="guess-work")
    assert assumed(accounts, caller, role, ExternalId="class-2026")["Credentials"]


def test_the_session_lives_and_acts_in_the_roles_account(accounts):
    _, caller = accounts.user(HOME, ADMIN)
    role = accounts.role(OTHER, trusting(f"arn:aws:iam::{HOME}:root"), statement("kms:ListKeys"))
    session = assumed(accounts, caller, role)
    creds = session["Credentials"]
    assert session["AssumedRoleUser"]["Arn"].startswith(f"arn:aws:sts::{OTHER}:assumed-role/")
    identity = accounts.client("sts", creds).get_caller_identity()
    assert (identity["Account"], identity["Arn"]) == (OTHER, session["AssumedRoleUser"]["Arn"])
    key_id = accounts.root("kms", OTHER).create_key()["KeyMetadata"]["KeyId"]
    assert key_id in [k["KeyId"] for k in accounts.client("kms", creds).list_keys()["Keys"]]
    with kms_error("AccessDeniedException"):
        accounts.client("kms", creds).create_key()
    # a session of the role is named by its role's ARN in a further trust policy
    chained = accounts.role(HOME, trusting(role))
    with kms_error("AccessDenied"):  # the role's own policies do not allow sts:AssumeRole
        accounts.client("sts", creds).assume_role(RoleArn=chained, RoleSessionName="chained")


@pytest.mark.parametrize("signed_by", ["nobody", "an administrator of the role's account"])
def test_web_identity_and_saml_are_never_granted(accounts, signed_by):
    role = accounts.role(OTHER, trusting(f"arn:aws:iam::{OTHER}:root"))
    if signed_by == "nobody":
        sts = accounts.client("sts")  # botocore sends these calls unsigned
    else:
        creds = accounts.user(OTHER, ADMIN)[1]
        sts = accounts.client("sts", creds)

        def sign_anyway(request, **_):  # after botocore's signer, which leaves these calls unsigned
            if "Authorization" not in request.headers:
                SigV4Auth(Credentials(creds["AccessKeyId"], creds["SecretAccessKey"]), "sts", REGION).add_auth(request)

        sts.meta.events.register("request-created.sts", sign_anyway)
    token = "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbSJ9.c2ln"  # iss: idp.example.com
    with kms_error("InvalidIdentityToken") as info:
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="web", WebIdentityToken=token)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["Error"]["Message"] == (
        "No OpenIDConnect provider found in your account for https://idp.example.com"
    )
    with kms_error("InvalidIdentityToken"):
        sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="web", WebIdentityToken="not-a-jwt")
    with kms_error("InvalidIdentityToken"):
        sts.assume_role_with_saml(
            RoleArn=role,
            PrincipalArn=f"arn:aws:iam::{OTHER}:saml-provider/made-up",
            SAMLAssertion="PHNhbWxwOlJlc3BvbnNlLz4=" * 2,
        )


class _StsRequest:
    """What caller_of reads of moto's STS request: its headers and the key moto reads."""

    def __init__(self, headers: dict, access_key: str = "AKIAEXAMPLE"):
        self.headers, self._access_key = headers, access_key
        self.current_account, self.partition = HOME, "aws"

    def get_access_key(self) -> str:
        return self._access_key


def test_the_caller_is_the_signer_the_class_gate_verified(accounts):
    """On a class endpoint the caller is the verified signer, however the request reaches
    moto (a presigned URL has no Authorization header); with no signer verified, an
    Authorization header's key is not taken for one."""
    from workshop_helpers.fidelity import credentials, sts

    carol_arn, carol = accounts.user(HOME, ADMIN)
    signed = credentials.Claim("query", access_key=carol["AccessKeyId"], service="sts")
    header = {"Authorization": f"AWS4-HMAC-SHA256 Credential={carol['AccessKeyId']}/20260101/{REGION}/sts/aws4_request"}
    with credentials.verified_as(signed):
        assert sts.caller_of(_StsRequest({})).arn == carol_arn
    with credentials.verified_as(credentials.Claim("unsigned")):  # let in unsigned: no one
        caller = sts.caller_of(_StsRequest(header, carol["AccessKeyId"]))
        assert (caller.principal, caller.arn) == (None, f"arn:aws:iam::{HOME}:root")
    # outside class mode, as before: the key of the Authorization header, else the root
    assert sts.caller_of(_StsRequest(header, carol["AccessKeyId"])).arn == carol_arn
    assert sts.caller_of(_StsRequest({}, carol["AccessKeyId"])).arn == f"arn:aws:iam::{HOME}:root"
