"""No moto crash reaches the learner. Each known crash gives the error
real KMS gives; anything unforeseen is KMSInternalException, at once, in both modes."""

from __future__ import annotations

import uuid

import pytest
from fidelity_support import ACCOUNT, REGION, kms_error


@pytest.fixture
def missing_key_arn():
    return f"arn:aws:kms:{REGION}:{ACCOUNT}:key/{uuid.uuid4()}"


@pytest.mark.parametrize("call", ["create_grant", "list_grants", "revoke_grant", "retire_grant"])
def test_grant_operations_on_a_missing_key_are_not_found(kms_env, missing_key_arn, call):
    kms = kms_env.kms
    arguments = {
        "create_grant": {"GranteePrincipal": f"arn:aws:iam::{ACCOUNT}:root", "Operations": ["Decrypt"]},
        "revoke_grant": {"GrantId": "0" * 64},
        "retire_grant": {"GrantId": "0" * 64},
        "list_grants": {},
    }[call]
    with kms_error("NotFoundException"):  # moto: KeyError
        getattr(kms, call)(KeyId=missing_key_arn, **arguments)


def test_replicating_a_single_region_key_is_unsupported(kms_env):
    kms = kms_env.kms
    arn = kms.create_key()["KeyMetadata"]["Arn"]
    with kms_error("UnsupportedOperationException"):  # moto: AttributeError / KeyError
        kms.replicate_key(KeyId=arn, ReplicaRegion="us-east-1")


@pytest.mark.parametrize("call", ["rotate_key_on_demand", "list_key_rotations"])
def test_rotation_calls_with_an_alias_are_not_found(kms_env, call):
    kms = kms_env.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    alias = f"alias/rotation-{key_id[:8]}"
    kms.create_alias(AliasName=alias, TargetKeyId=key_id)
    with kms_error("NotFoundException"):  # moto: KeyError
        getattr(kms, call)(KeyId=alias)


def test_public_key_of_a_symmetric_key_is_unsupported(kms_env):
    kms = kms_env.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with kms_error("UnsupportedOperationException"):  # moto: returns an RSA key it made up
        kms.get_public_key(KeyId=key_id)


def test_rotation_of_imported_material_is_unsupported(kms_env):
    kms = kms_env.kms
    key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
    with kms_error("UnsupportedOperationException"):
        kms.enable_key_rotation(KeyId=key_id)


def test_unknown_origin_is_a_validation_error(kms_env):
    with kms_error("ValidationException"):  # moto: accepted anything
        kms_env.kms.create_key(Origin="AWS_KMS_TYPO")


def test_unforeseen_failure_is_kms_internal_exception_at_once(kms_env):
    """GenerateDataKeyPair is not implemented by moto (NotImplementedError in-process,
    HTTP 500 and silent retries over the server): the learner gets one clear error."""
    kms = kms_env.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    with kms_error("KMSInternalException") as info:
        kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="RSA_2048")
    response = info.value.response
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    message = response["Error"]["Message"]
    assert "\n" not in message and "GenerateDataKeyPair" in message


def test_a_crash_inside_the_backend_is_kms_internal_exception(inprocess_kms_env, monkeypatch):
    from moto.kms.models import KmsBackend

    def broken(self, *args, **kwargs):
        raise TypeError("simulated moto bug")

    monkeypatch.setattr(KmsBackend, "list_keys", broken)
    with kms_error("KMSInternalException") as info:
        inprocess_kms_env.kms.list_keys()
    assert "TypeError: simulated moto bug" in info.value.response["Error"]["Message"]
