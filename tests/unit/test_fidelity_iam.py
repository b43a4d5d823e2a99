"""IAM as on AWS, in-process and over the endpoint."""

from __future__ import annotations

import re

import pytest
from fidelity_support import ACCOUNT, allow, kms_error, policy, trust_account_root, unique

DENIED = re.compile(
    r"^User: arn:aws:sts::123456789012:assumed-role/(?P<role>[\w+=,.@-]+)/(?P<session>[\w+=,.@-]+) "
    r"is not authorized to perform: (?P<action>kms:\w+) on resource: (?P<resource>\S+) "
    r"(?P<why>because no identity-based policy allows the kms:\w+ action|with an explicit deny in an identity-based policy.*"
    r"|because no resource-based policy allows the kms:\w+ action)$"
)


class Role:
    """A role in the backend and a session of it (what notebook 02 does)."""

    def __init__(self, env, *inline_statements: dict, name_prefix: str = "KMSWorkshop-InstanceInitRole"):
        self.env = env
        self.iam = env.client("iam")
        self.name = unique(name_prefix)
        self.arn = self.iam.create_role(RoleName=self.name, AssumeRolePolicyDocument=trust_account_root())["Role"][
            "Arn"
        ]
        if inline_statements:
            self.put("inline", *inline_statements)
        self.credentials = env.client("sts").assume_role(RoleArn=self.arn, RoleSessionName="fidelity")["Credentials"]
        self.kms = env.client("kms", credentials=self.credentials)

    def put(self, name: str, *statements: dict) -> None:
        self.iam.put_role_policy(RoleName=self.name, PolicyName=name, PolicyDocument=policy(*statements))


@pytest.fixture
def key(kms_env):
    return kms_env.kms.create_key()["KeyMetadata"]


def test_unknown_access_keys_act_as_the_account_root(kms_env):
    made_up = {"AccessKeyId": "AKIAMADEUPWORKSHOP01", "SecretAccessKey": "x" * 40}
    kms = kms_env.client("kms", credentials=made_up)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")
    with_token = dict(made_up, SessionToken="made-up-session-token")
    kms_env.client("kms", credentials=with_token).encrypt(KeyId=key_id, Plaintext=b"x")
    assert kms_env.client("sts", credentials=made_up).get_caller_identity()["Account"] == ACCOUNT


def test_workshop_flow_denied_attach_allowed_detach_denied(kms_env, key):
    role = Role(kms_env)
    with kms_error("AccessDeniedException") as denied:
        role.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    response = denied.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    match = DENIED.match(response["Error"]["Message"])
    assert match, response["Error"]["Message"]
    assert (match["role"], match["action"], match["resource"]) == (role.name, "kms:GenerateDataKey", key["Arn"])

    iam = kms_env.client("iam")
    managed = iam.create_policy(
        PolicyName=unique("KMSWorkshop-AdditionalPermissions"),
        PolicyDocument=policy(allow(["kms:GenerateDataKey", "kms:Encrypt", "kms:Decrypt"])),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=role.name, PolicyArn=managed)
    data_key = role.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")  # same credentials
    assert role.kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"])["Plaintext"] == data_key["Plaintext"]

    iam.detach_role_policy(RoleName=role.name, PolicyArn=managed)
    with kms_error("AccessDeniedException"):
        role.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")


def test_allow_scoped_to_one_key_arn(kms_env, key):
    other = kms_env.kms.create_key()["KeyMetadata"]
    alias = f"alias/{unique('scoped')}"
    kms_env.kms.create_alias(AliasName=alias, TargetKeyId=key["KeyId"])
    role = Role(kms_env, allow("kms:Encrypt", key["Arn"]))
    role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    role.kms.encrypt(KeyId=alias, Plaintext=b"x")  # the alias resolves to the key ARN
    with kms_error("AccessDeniedException") as denied:
        role.kms.encrypt(KeyId=other["KeyId"], Plaintext=b"x")
    assert other["Arn"] in denied.value.response["Error"]["Message"]


def test_wildcards_in_action_and_resource(kms_env, key):
    role = Role(kms_env, allow("kms:Generate*", f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/*"))
    role.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")
    role.kms.generate_data_key_without_plaintext(KeyId=key["KeyId"], KeySpec="AES_256")
    with kms_error("AccessDeniedException"):
        role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_explicit_deny_wins(kms_env, key):
    role = Role(kms_env, allow("kms:*"), allow("kms:Decrypt", key["Arn"], effect="Deny"))
    blob = role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with kms_error("AccessDeniedException") as denied:
        role.kms.decrypt(CiphertextBlob=blob)
    assert "with an explicit deny in an identity-based policy" in denied.value.response["Error"]["Message"]


def test_not_action(kms_env, key):
    role = Role(kms_env, {"Effect": "Allow", "NotAction": "kms:Decrypt", "Resource": "*"})
    blob = role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with kms_error("AccessDeniedException"):
        role.kms.decrypt(CiphertextBlob=blob)


def test_decrypt_only_with_the_workshop_context(kms_env, key):
    kms = kms_env.kms
    role = Role(
        kms_env, allow("kms:Decrypt", key["Arn"], {"StringEquals": {"kms:EncryptionContext:project": "workshop"}})
    )
    good = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"ok", EncryptionContext={"project": "workshop"})["CiphertextBlob"]
    other = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"no", EncryptionContext={"project": "other"})["CiphertextBlob"]
    bare = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"no")["CiphertextBlob"]
    assert role.kms.decrypt(CiphertextBlob=good, EncryptionContext={"project": "workshop"})["Plaintext"] == b"ok"
    with kms_error("AccessDeniedException"):
        role.kms.decrypt(CiphertextBlob=other, EncryptionContext={"project": "other"})
    with kms_error("AccessDeniedException"):
        role.kms.decrypt(CiphertextBlob=bare)


def test_context_keys_conditions(kms_env, key):
    kms = kms_env.kms
    role = Role(
        kms_env,
        allow(
            "kms:Encrypt", key["Arn"], {"ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["project", "team"]}}
        ),
        allow("kms:GenerateDataKey", key["Arn"], {"StringLike": {"kms:EncryptionContext:project": "work*"}}),
        allow("kms:Decrypt", key["Arn"], {"ForAnyValue:StringEquals": {"kms:EncryptionContextKeys": "team"}}),
    )
    role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"project": "a", "team": "b"})
    with kms_error("AccessDeniedException"):
        role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"project": "a", "extra": "b"})
    role.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"project": "workshop"})
    with kms_error("AccessDeniedException"):
        role.kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256", EncryptionContext={"project": "home"})
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x", EncryptionContext={"team": "t"})["CiphertextBlob"]
    role.kms.decrypt(CiphertextBlob=blob, EncryptionContext={"team": "t"})


def test_iam_user_with_inline_and_group_policies(kms_env, key):
    iam = kms_env.client("iam")
    user, group = unique("fidelity-user"), unique("fidelity-group")
    iam.create_user(UserName=user)
    iam.create_group(GroupName=group)
    iam.add_user_to_group(GroupName=group, UserName=user)
    iam.put_group_policy(GroupName=group, PolicyName="encrypt", PolicyDocument=policy(allow("kms:Encrypt")))
    access_key = iam.create_access_key(UserName=user)["AccessKey"]
    kms = kms_env.client("kms", credentials=access_key)
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    with kms_error("AccessDeniedException") as denied:
        kms.decrypt(CiphertextBlob=blob)
    assert denied.value.response["Error"]["Message"].startswith(f"User: arn:aws:iam::{ACCOUNT}:user/{user} ")
    iam.put_user_policy(UserName=user, PolicyName="decrypt", PolicyDocument=policy(allow("kms:Decrypt")))
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"


def test_inactive_user_key_and_session_without_token_are_unrecognized(kms_env, key):
    iam = kms_env.client("iam")
    user = unique("fidelity-inactive")
    iam.create_user(UserName=user)
    access_key = iam.create_access_key(UserName=user)["AccessKey"]
    iam.update_access_key(UserName=user, AccessKeyId=access_key["AccessKeyId"], Status="Inactive")
    with kms_error("UnrecognizedClientException"):
        kms_env.client("kms", credentials=access_key).list_keys()
    role = Role(kms_env, allow("kms:*"))
    no_token = {k: v for k, v in role.credentials.items() if k != "SessionToken"}
    with kms_error("UnrecognizedClientException"):
        kms_env.client("kms", credentials=no_token).list_keys()


def test_key_policy_without_account_delegation_denies_despite_iam(kms_env):
    kms = kms_env.kms
    role = Role(kms_env, allow("kms:*"))
    locked = kms.create_key(
        Policy=policy(
            {
                "Effect": "Allow",
                "Principal": {"AWS": role.arn},
                "Action": "kms:Encrypt",
                "Resource": "*",
            }
        )
    )["KeyMetadata"]
    role.kms.encrypt(KeyId=locked["KeyId"], Plaintext=b"x")  # the key policy names the role itself
    with kms_error("AccessDeniedException") as denied:
        role.kms.generate_data_key(KeyId=locked["KeyId"], KeySpec="AES_256")
    assert "no resource-based policy allows" in denied.value.response["Error"]["Message"]


def test_grant_allows_its_grantee_within_its_constraints(kms_env, key):
    kms = kms_env.kms
    role = Role(kms_env)
    kms.create_grant(
        KeyId=key["KeyId"],
        GranteePrincipal=role.arn,
        Operations=["Decrypt"],
        Constraints={"EncryptionContextSubset": {"project": "workshop"}},
    )
    context = {"project": "workshop", "file": "a.txt"}
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"granted", EncryptionContext=context)["CiphertextBlob"]
    assert role.kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)["Plaintext"] == b"granted"
    other = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"no", EncryptionContext={"project": "x"})["CiphertextBlob"]
    with kms_error("AccessDeniedException"):
        role.kms.decrypt(CiphertextBlob=other, EncryptionContext={"project": "x"})
    with kms_error("AccessDeniedException"):
        role.kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_re_encrypt_needs_from_on_the_source_and_to_on_the_destination(kms_env, key):
    kms = kms_env.kms
    target = kms.create_key()["KeyMetadata"]
    blob = kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")["CiphertextBlob"]
    role = Role(kms_env, allow("kms:ReEncryptTo", target["Arn"]))
    with kms_error("AccessDeniedException") as denied:
        role.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=target["KeyId"])
    assert f"kms:ReEncryptFrom on resource: {key['Arn']}" in denied.value.response["Error"]["Message"]
    role.put("from", allow("kms:ReEncryptFrom", key["Arn"]))
    assert role.kms.re_encrypt(CiphertextBlob=blob, DestinationKeyId=target["KeyId"])["KeyId"] == target["Arn"]


def test_session_policy_narrows(kms_env, key):
    iam = kms_env.client("iam")
    name = unique("KMSWorkshop-Session")
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust_account_root())["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="all", PolicyDocument=policy(allow("kms:*")))
    creds = kms_env.client("sts").assume_role(
        RoleArn=arn, RoleSessionName="narrow", Policy=policy(allow("kms:Encrypt"))
    )["Credentials"]
    kms = kms_env.client("kms", credentials=creds)
    kms.encrypt(KeyId=key["KeyId"], Plaintext=b"x")
    with kms_error("AccessDeniedException"):
        kms.generate_data_key(KeyId=key["KeyId"], KeySpec="AES_256")


def test_wrong_secret_for_an_issued_key(kms_env, key):
    role = Role(kms_env, allow("kms:*"))
    forged = dict(role.credentials, SecretAccessKey="not-the-secret")
    with kms_error("InvalidSignatureException"):
        kms_env.client("kms", credentials=forged).encrypt(KeyId=key["KeyId"], Plaintext=b"x")


def test_other_services_also_check_the_role(kms_env):
    role = Role(kms_env)
    with kms_error("AccessDenied"):
        kms_env.client("iam", credentials=role.credentials).list_roles()
    assert (
        kms_env.client("sts", credentials=role.credentials)
        .get_caller_identity()["Arn"]
        .endswith(f"assumed-role/{role.name}/fidelity")
    )


def test_expired_session(inprocess_kms_env):
    """Expiry needs time to pass: in-process, where the session's expiry can be moved."""
    import datetime as dt

    from moto.sts.models import sts_backends

    role = Role(inprocess_kms_env, allow("kms:*"))

    session = sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(role.credentials["AccessKeyId"])
    session.expiration = session.expiration - dt.timedelta(hours=2)
    with kms_error("ExpiredTokenException"):
        role.kms.list_keys()


def test_inline_policy_put_after_the_session_started_applies(kms_env, key):
    role = Role(kms_env)
    with kms_error("AccessDeniedException"):
        role.kms.describe_key(KeyId=key["KeyId"])
    role.put("later", allow("kms:DescribeKey"))
    assert role.kms.describe_key(KeyId=key["KeyId"])["KeyMetadata"]["Arn"] == key["Arn"]
