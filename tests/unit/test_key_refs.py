"""Which account and which key a KMS request names (fidelity/key_refs.py), and what the
class gate and the account layer decide from it: the gate runs a request on another
account's key in that key's account, or refuses it (gate.cross_account), and the account
layer locks and saves every account a request names (account/requests.py accounts_of).

The references are read from requests as an attacker would write them: another account's
key ARN, alias ARN or ciphertext, malformed ARNs, blobs that are not the simulation's, a
key id that exists in two accounts, a ReEncrypt between two accounts. The keys live in
in-process moto, in accounts reached through moto's account header."""

from __future__ import annotations

import base64
import json
import os
from unittest import mock

import boto3
import pytest
from fidelity_support import REGION, unique

from workshop_helpers.account import requests
from workshop_helpers.classroom import gate
from workshop_helpers.fidelity import ciphertext, key_refs, sts

ALICE, BOB, CAROL = "100000800001", "100000800002", "100000800003"
NOBODY = "100000899999"  # an account nobody has used
KEY_ID = "0f0e0d0c-1111-2222-3333-444455556666"
MATERIAL_ID = "ab" * 32
CALLER_ARN = f"arn:aws:iam::{ALICE}:user/alice"


def b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode()


def sealed_by(account: str, key_id: str = KEY_ID) -> str:
    """A blob the simulation made under `key_id` of `account` (base64, as in a request)."""
    return b64(ciphertext.seal(account, key_id, MATERIAL_ID, os.urandom(32), b"data key", {"who": account}))


# --- reading one reference --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, expected",
    [
        (KEY_ID, key_refs.KeyRef(KEY_ID)),
        ("alias/shared", key_refs.KeyRef(None, "alias/shared")),
        (f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}", key_refs.KeyRef(KEY_ID, None, BOB, REGION)),
        (f"arn:aws:kms:us-east-1:{BOB}:alias/shared", key_refs.KeyRef(None, "alias/shared", BOB, "us-east-1")),
        (f"arn:aws-cn:kms:cn-north-1:{BOB}:key/{KEY_ID}", key_refs.KeyRef(KEY_ID, None, BOB, "cn-north-1")),
    ],
)
def test_key_ids_aliases_and_their_arns_are_read(text, expected):
    assert key_refs.parse(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        "",
        42,
        ["arn:aws:kms:eu-west-1:100000800002:key/x"],  # pragma: allowlist secret
        "arn:aws:kms:eu-west-1:10000080000:key/x",  # an account of 11 digits
        "arn:aws:kms:eu-west-1:1000008000023:key/x",  # of 13
        f"arn:aws:kms:eu-west-1:{BOB}:garbage",  # neither key/ nor alias/
        f"arn:aws:kms:eu-west-1:{BOB}:key/",  # no key id
        f"arn:aws:iam::{BOB}:role/not-a-key",  # not KMS
        f"arn:notaws:kms:eu-west-1:{BOB}:key/x",  # not a partition
        f"arn:aws:kms:eu-west-1:{BOB}",
    ],
)
def test_a_malformed_arn_or_a_non_text_names_no_account(text):
    assert key_refs.parse(text) is None
    assert key_refs.named_accounts({"KeyId": text}, "Encrypt") == set()


def test_an_id_or_alias_name_is_the_callers_own_and_an_arn_is_its_accounts():
    for text in (KEY_ID, "alias/shared", f"arn:aws:kms:{REGION}:{ALICE}:key/{KEY_ID}"):
        assert not key_refs.parse(text).is_foreign(ALICE)
        assert key_refs.parse(text).account_or(ALICE) == ALICE
    assert key_refs.parse(f"arn:aws:kms:{REGION}:{BOB}:alias/shared").is_foreign(ALICE)
    assert key_refs.parse(f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}").account_or(ALICE) == BOB


def test_a_blob_names_the_key_and_account_that_made_it():
    ref = key_refs.from_blob(sealed_by(BOB))
    assert (ref.key_id, ref.account_id, ref.from_blob) == (KEY_ID, BOB, True)
    assert ref.is_foreign(ALICE) and not ref.is_foreign(BOB)
    # as a KeyId: its id in its own account, its key ARN anywhere else
    assert ref.as_key_id(BOB, REGION) == KEY_ID
    assert ref.as_key_id(ALICE, REGION) == f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}"


def test_a_blob_of_the_earlier_format_is_the_callers_own():
    legacy = bytes([1, len(KEY_ID)]) + KEY_ID.encode() + os.urandom(12 + 16 + 32)
    ref = key_refs.from_blob(b64(legacy))
    assert (ref.key_id, ref.account_id) == (KEY_ID, None)
    assert not ref.is_foreign(ALICE) and ref.as_key_id(ALICE, REGION) == KEY_ID


def _flipped(blob: str, at: int) -> str:
    raw = bytearray(base64.b64decode(blob))
    raw[at] ^= 1
    return b64(bytes(raw))


@pytest.mark.parametrize(
    "blob",
    [
        None,
        "",
        7,
        {"blob": "x"},
        "not base64 at all!",
        b64(b""),
        b64(b"\x02"),
        b64(os.urandom(200)),
        b64(bytes([1, 36]) + b"x" * 36 + os.urandom(60)),  # the earlier format, with no key id in it
        _flipped(sealed_by(BOB), 0),
        _flipped(sealed_by(BOB), 100),  # one bit changed
        sealed_by(BOB)[:-8],  # cut short
    ],
)
def test_a_blob_that_is_not_ours_names_no_key(blob):
    assert key_refs.from_blob(blob) is None
    assert key_refs.references({"CiphertextBlob": blob}, "Decrypt") == []


# --- the references of a request, per field -------------------------------------------------------


def test_decrypt_takes_the_key_from_the_blob_only_without_a_key_id():
    blob = sealed_by(BOB)
    assert [(f, r.account_id) for f, r in key_refs.references({"CiphertextBlob": blob}, "Decrypt")] == [
        ("CiphertextBlob", BOB)
    ]
    assert [f for f, _ in key_refs.references({"CiphertextBlob": blob, "KeyId": KEY_ID}, "Decrypt")] == ["KeyId"]
    assert key_refs.named_accounts({"CiphertextBlob": blob, "KeyId": KEY_ID}, "Decrypt") == set()
    assert key_refs.references({"CiphertextBlob": blob}, "Encrypt") == []  # not an operation that reads one


def test_reencrypt_between_two_accounts_names_both():
    params = {"CiphertextBlob": sealed_by(BOB), "DestinationKeyId": f"arn:aws:kms:{REGION}:{CAROL}:key/{KEY_ID}"}
    assert [(f, r.account_id) for f, r in key_refs.references(params, "ReEncrypt")] == [
        ("DestinationKeyId", CAROL),
        ("CiphertextBlob", BOB),
    ]
    assert key_refs.named_accounts(params, "ReEncrypt") == {BOB, CAROL}
    by_arn = {
        "SourceKeyId": f"arn:aws:kms:{REGION}:{BOB}:alias/a",
        "DestinationKeyId": "alias/mine",
        "CiphertextBlob": sealed_by(CAROL),
    }  # a SourceKeyId names the key: the blob's is not read
    assert [(f, r.account_id) for f, r in key_refs.references(by_arn, "ReEncrypt")] == [
        ("SourceKeyId", BOB),
        ("DestinationKeyId", None),
    ]


def test_only_the_fields_of_the_operation_count():
    stray = {
        "KeyId": KEY_ID,
        "SourceKeyId": f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}",
        "DestinationKeyId": f"arn:aws:kms:{REGION}:{CAROL}:key/{KEY_ID}",
    }
    assert [f for f, _ in key_refs.references(stray, "Encrypt")] == ["KeyId"]
    assert key_refs.named_accounts(stray, "Encrypt") == set()
    assert key_refs.named_accounts(stray, "ReEncrypt") == {BOB, CAROL}
    assert key_refs.references(["KeyId"], "Encrypt") == []  # a JSON body that is not an object


# --- the accounts the account layer locks and saves ----------------------------------------------


def _kms_request(action: str, params: dict, account: str = ALICE) -> set[str]:
    headers = {"X-Amz-Target": f"TrentService.{action}", "x-moto-account-id": account}
    return requests.accounts_of("kms", headers, f"https://kms.{REGION}.amazonaws.com/", json.dumps(params).encode())


def test_the_account_layer_locks_every_account_a_kms_request_names():
    bob_key = f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}"
    assert _kms_request("Encrypt", {"KeyId": KEY_ID}) == {ALICE}
    assert _kms_request("Encrypt", {"KeyId": bob_key}) == {ALICE, BOB}
    assert _kms_request("Encrypt", {"KeyId": f"arn:aws:kms:{REGION}:{BOB}:alias/shared"}) == {ALICE, BOB}
    assert _kms_request("Decrypt", {"CiphertextBlob": sealed_by(BOB)}) == {ALICE, BOB}
    assert _kms_request(
        "ReEncrypt",
        {"CiphertextBlob": sealed_by(BOB), "DestinationKeyId": f"arn:aws:kms:{REGION}:{CAROL}:key/{KEY_ID}"},
    ) == {ALICE, BOB, CAROL}
    assert _kms_request("Encrypt", {"KeyId": f"arn:aws:kms:{REGION}:{BOB}:garbage"}) == {ALICE}
    assert _kms_request("Decrypt", {"CiphertextBlob": b64(os.urandom(200))}) == {ALICE}
    headers = {"X-Amz-Target": "TrentService.Encrypt", "x-moto-account-id": ALICE}
    for body in (b"{not json", b"[1, 2]", b'"KeyId"', b""):
        assert requests.accounts_of("kms", headers, "https://kms.eu-west-1.amazonaws.com/", body) == {ALICE}


# --- the gate's decision on keys of other accounts ---------------------------------------------


@pytest.fixture(scope="module")
def keys(moto_workshop):
    """Keys in alice's, bob's and carol's accounts (and one key id that both alice and bob
    have), made as each account's root through moto's account header."""
    from workshop_helpers.backend import client_config

    session = boto3.Session(region_name=REGION)

    def kms(account: str):
        client = session.client(
            "kms",
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=client_config(),
        )
        client.meta.events.register(
            "before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", account)
        )
        return client

    made = {"kms": kms}
    for account in (ALICE, BOB, CAROL):
        key = kms(account).create_key(Description=f"{account}'s")["KeyMetadata"]
        kms(account).create_alias(AliasName="alias/shared", TargetKeyId=key["KeyId"])
        made[account] = key
    kms(BOB).create_alias(AliasName="alias/bobs-only", TargetKeyId=made[BOB]["KeyId"])
    twin_id = "5a5a5a5a-0000-4000-8000-" + os.urandom(6).hex()
    with mock.patch("moto.kms.models.generate_key_id", return_value=twin_id):
        made["twins"] = {
            account: kms(account).create_key(Description="twin")["KeyMetadata"] for account in (ALICE, BOB)
        }
    return made


def blob_of(keys, account: str, key: dict) -> str:
    return b64(keys["kms"](account).encrypt(KeyId=key["KeyId"], Plaintext=b"secret")["CiphertextBlob"])


def decide(params: dict, action: str) -> tuple[str | None, str | None]:
    return gate.cross_account(params, action, ALICE, REGION, CALLER_ARN)


def denial(action: str, key_arn: str) -> tuple[str, None]:
    return (
        f"User: {CALLER_ARN} is not authorized to perform: kms:{action} on resource: {key_arn} "
        f"because no resource-based policy allows the kms:{action} action"
    ), None


def test_the_callers_own_keys_stay_in_the_callers_account(keys):
    own = keys[ALICE]
    for key_id in (own["KeyId"], own["Arn"], "alias/shared", f"arn:aws:kms:{REGION}:{ALICE}:alias/shared"):
        assert decide({"KeyId": key_id}, "Encrypt") == (None, None)
        assert decide({"KeyId": key_id}, "ScheduleKeyDeletion") == (None, None)
    assert decide({"CiphertextBlob": blob_of(keys, ALICE, own)}, "Decrypt") == (None, None)
    assert decide({}, "ListKeys") == (None, None)


def test_another_accounts_key_arn_runs_in_its_account(keys):
    bob = keys[BOB]
    assert key_refs.key_of(key_refs.parse(bob["Arn"]), ALICE, REGION).arn == bob["Arn"]
    for action in ("Encrypt", "GenerateDataKey", "DescribeKey", "CreateGrant"):
        assert decide({"KeyId": bob["Arn"]}, action) == (None, BOB)


def test_another_accounts_alias_arn_is_its_alias_not_the_callers(keys):
    """alice has an alias/shared of her own: bob's alias ARN still means bob's key."""
    alias_arn = f"arn:aws:kms:{REGION}:{BOB}:alias/shared"
    assert key_refs.key_of(key_refs.parse(alias_arn), ALICE, REGION).arn == keys[BOB]["Arn"]
    assert decide({"KeyId": alias_arn}, "Encrypt") == (None, BOB)
    assert decide({"KeyId": alias_arn}, "DisableKey") == denial("DisableKey", keys[BOB]["Arn"])
    # an alias name is always the caller's own: bob's alias/bobs-only is not reachable so
    assert decide({"KeyId": "alias/bobs-only"}, "Encrypt") == (None, None)


def test_an_alias_arn_for_an_aws_managed_key_creates_nothing_in_the_other_account(keys):
    from moto.kms.models import kms_backends

    before = len(kms_backends[CAROL][REGION].keys)
    assert decide({"KeyId": f"arn:aws:kms:{REGION}:{CAROL}:alias/aws/ebs"}, "Encrypt") == (None, None)
    assert len(kms_backends[CAROL][REGION].keys) == before


def test_another_accounts_ciphertext_is_decrypted_in_its_account(keys):
    blob = blob_of(keys, BOB, keys[BOB])
    assert decide({"CiphertextBlob": blob}, "Decrypt") == (None, BOB)
    assert decide({"CiphertextBlob": blob, "KeyId": keys[BOB]["Arn"]}, "Decrypt") == (None, BOB)
    # with her own key named, KMS answers in her account (IncorrectKeyException there)
    assert decide({"CiphertextBlob": blob, "KeyId": keys[ALICE]["KeyId"]}, "Decrypt") == (None, None)


def test_a_key_id_in_two_accounts_is_the_one_of_the_account_the_blob_names(keys):
    twins = keys["twins"]
    assert twins[ALICE]["KeyId"] == twins[BOB]["KeyId"] and twins[ALICE]["Arn"] != twins[BOB]["Arn"]
    assert decide({"CiphertextBlob": blob_of(keys, BOB, twins[BOB])}, "Decrypt") == (None, BOB)
    assert decide({"CiphertextBlob": blob_of(keys, ALICE, twins[ALICE])}, "Decrypt") == (None, None)
    ref = key_refs.from_blob(blob_of(keys, BOB, twins[BOB]))
    assert key_refs.key_of(ref, ALICE, REGION).arn == twins[BOB]["Arn"]
    assert decide({"KeyId": twins[BOB]["Arn"]}, "Encrypt") == (None, BOB)
    assert decide({"KeyId": twins[BOB]["KeyId"]}, "Encrypt") == (None, None)  # an id is the caller's own


def test_operations_kms_never_allows_across_accounts_are_refused(keys):
    bob = keys[BOB]
    for action in ("ScheduleKeyDeletion", "DisableKey", "PutKeyPolicy", "EnableKeyRotation", "ImportKeyMaterial"):
        assert decide({"KeyId": bob["Arn"]}, action) == denial(action, bob["Arn"])


def test_reencrypt_between_two_accounts(keys):
    bob, carol, alice = keys[BOB], keys[CAROL], keys[ALICE]
    bobs_blob = blob_of(keys, BOB, bob)
    # from bob's key to bob's key: one account, run there
    assert decide({"CiphertextBlob": bobs_blob, "DestinationKeyId": bob["Arn"]}, "ReEncrypt") == (None, BOB)
    # from bob's to alice's own, or to carol's: the simulation cannot run it in one account
    assert decide({"CiphertextBlob": bobs_blob, "DestinationKeyId": alice["KeyId"]}, "ReEncrypt") == denial(
        "ReEncryptFrom", bob["Arn"]
    )
    assert decide({"CiphertextBlob": bobs_blob, "DestinationKeyId": carol["Arn"]}, "ReEncrypt") == denial(
        "ReEncryptTo", carol["Arn"]
    )
    assert decide(
        {"SourceKeyId": bob["Arn"], "CiphertextBlob": blob_of(keys, ALICE, alice), "DestinationKeyId": "alias/shared"},
        "ReEncrypt",
    ) == denial("ReEncryptFrom", bob["Arn"])
    # from alice's own to bob's: refused the same way
    assert decide(
        {"CiphertextBlob": blob_of(keys, ALICE, alice), "DestinationKeyId": bob["Arn"]}, "ReEncrypt"
    ) == denial("ReEncryptTo", bob["Arn"])


def test_what_names_no_key_of_another_account_stays_in_the_callers(keys):
    for params, action in [
        ({"KeyId": f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}"}, "Encrypt"),  # no such key
        ({"KeyId": f"arn:aws:kms:{REGION}:{BOB}:alias/no-such-alias"}, "Encrypt"),
        ({"KeyId": f"arn:aws:kms:{REGION}:{NOBODY}:key/{KEY_ID}"}, "Encrypt"),  # no such account
        ({"KeyId": f"arn:aws:kms:us-west-2:{BOB}:key/{keys[BOB]['KeyId']}"}, "Encrypt"),  # not in that Region
        ({"KeyId": f"arn:aws:kms:{REGION}:{BOB}:garbage/{keys[BOB]['KeyId']}"}, "Encrypt"),  # malformed
        ({"KeyId": f"arn:aws:kms:{REGION}:{BOB[:-1]}:key/{keys[BOB]['KeyId']}"}, "Encrypt"),
        ({"CiphertextBlob": b64(os.urandom(200))}, "Decrypt"),  # not a blob of ours
        ({"CiphertextBlob": _flipped(blob_of(keys, BOB, keys[BOB]), 40)}, "Decrypt"),
        ({"KeyId": keys[ALICE]["KeyId"], "SourceKeyId": keys[BOB]["Arn"]}, "Encrypt"),  # not Encrypt's field
    ]:
        assert decide(params, action) == (None, None), params
    from moto.kms.models import kms_backends

    assert NOBODY not in kms_backends  # looking did not make the account


# --- the account of an assumed role ----------------------------------------------------------------


def test_an_assume_role_names_the_roles_account_when_it_has_one(keys):
    session = boto3.Session(region_name=REGION)
    from workshop_helpers.backend import client_config

    iam = session.client(
        "iam", region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing", config=client_config()
    )
    iam.meta.events.register("before-sign", lambda request, **_: request.headers.__setitem__("x-moto-account-id", BOB))
    iam.create_role(RoleName=unique("role"), AssumeRolePolicyDocument="{}")  # bob's IAM exists

    def named(role_arn: str, in_query: bool = False) -> set[str]:
        form = f"Action=AssumeRole&Version=2011-06-15&RoleSessionName=s&RoleArn={role_arn}"
        url, body = (
            ("https://sts.amazonaws.com/?" + form, b"") if in_query else ("https://sts.amazonaws.com/", form.encode())
        )
        return requests.accounts_of("sts", {"x-moto-account-id": ALICE}, url, body)

    assert named(f"arn:aws:iam::{BOB}:role/any") == {ALICE, BOB}
    assert named(f"arn:aws:iam::{BOB}:role/any", in_query=True) == {ALICE, BOB}  # a presigned URL
    assert named(f"arn:aws:iam::{NOBODY}:role/any") == {ALICE}  # no account: nothing to save there
    assert named(f"arn:aws:iam::{BOB[:-1]}:role/any") == {ALICE}
    assert named(f"arn:aws:kms:{REGION}:{BOB}:key/{KEY_ID}") == {ALICE}
    assert sts.role_account(f"arn:aws:iam::{BOB}:role/any") == BOB
    assert sts.role_account(None) is None


# --- what the fidelity layer authorizes against ---------------------------------------------------


def test_authorization_checks_the_key_a_blob_or_an_alias_names(keys):
    from moto.kms.models import kms_backends

    from workshop_helpers.fidelity import kms_authorization

    alices = kms_backends[ALICE][REGION]
    [check] = kms_authorization.checks_for(alices, "Decrypt", {"CiphertextBlob": blob_of(keys, BOB, keys[BOB])})
    assert (check.action, check.resource, check.key) == ("kms:Decrypt", keys[BOB]["Arn"], None)  # not hers to open
    [check] = kms_authorization.checks_for(alices, "Decrypt", {"CiphertextBlob": blob_of(keys, ALICE, keys[ALICE])})
    assert (check.resource, check.key.arn) == (keys[ALICE]["Arn"], keys[ALICE]["Arn"])
    assert kms_authorization.checks_for(alices, "Decrypt", {"CiphertextBlob": b64(os.urandom(200))}) == []
    for key_id in ("alias/shared", f"arn:aws:kms:{REGION}:{ALICE}:alias/shared"):
        [check] = kms_authorization.checks_for(alices, "Encrypt", {"KeyId": key_id})
        assert (check.resource, check.context["kms:requestalias"]) == (keys[ALICE]["Arn"], ["alias/shared"])
    [check] = kms_authorization.checks_for(alices, "Encrypt", {"KeyId": keys[ALICE]["KeyId"]})
    assert "kms:requestalias" not in check.context
