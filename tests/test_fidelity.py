"""The fidelity layer itself: applied once, pinned to the moto versions it is tested
with, and loud when moto's internals it relies on change."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from fidelity_support import ACCOUNT, REGION, ROOT

from workshop_helpers import fidelity
from workshop_helpers.fidelity import moto_internals
from workshop_helpers.fidelity.moto_internals import MotoIncompatible


def test_connect_applies_it_once(moto_workshop):
    assert fidelity.applied()
    from moto.kms.models import KmsBackend

    encrypt = KmsBackend.encrypt
    fidelity.apply()
    assert KmsBackend.encrypt is encrypt


def test_installed_moto_is_in_the_tested_range():
    moto_internals.check_version()  # raises MotoIncompatible otherwise


@pytest.mark.parametrize("version", ["5.2.4", "5.3.0", "6.0.0", "4.2.14"])
def test_untested_moto_versions_are_refused(version, monkeypatch):
    monkeypatch.delenv(moto_internals.ALLOW_UNTESTED_ENV, raising=False)
    with pytest.raises(MotoIncompatible, match=re.escape(version)):
        moto_internals.check_version(version)


@pytest.mark.parametrize("version", ["5.2.5", "5.2.9", "5.2.10.dev3"])
def test_tested_moto_versions_pass(version):
    moto_internals.check_version(version)


def test_tested_range_matches_the_project_pin():
    project = tomllib.loads(Path(ROOT, "pyproject.toml").read_text())["project"]
    assert f"moto[server]{fidelity.MOTO_TESTED}" in project["dependencies"]


def test_moto_internals_are_all_there():
    moto_internals.check_attributes()


def test_a_missing_internal_is_named(monkeypatch):
    from moto.kms.responses import KmsResponse

    monkeypatch.delattr(KmsResponse, "_validate_cmk_id")
    with pytest.raises(MotoIncompatible, match=r"moto\.kms\.responses\.KmsResponse\._validate_cmk_id"):
        moto_internals.check_attributes()


def test_moto_objects_have_the_attributes_the_layer_uses(inprocess_kms_env):
    from moto.iam.models import iam_backends
    from moto.kms.models import kms_backends
    from moto.sts.models import sts_backends

    env = inprocess_kms_env
    key_id = env.kms.create_key()["KeyMetadata"]["KeyId"]
    key = kms_backends[ACCOUNT][REGION].keys[key_id]
    moto_internals.check_instance(key, moto_internals.KEY_ATTRIBUTES, "kms Key")
    env.kms.create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Decrypt"])
    moto_internals.check_instance(next(iter(key.grants.values())), moto_internals.GRANT_ATTRIBUTES, "kms Grant")
    iam = env.client("iam")
    name = f"fidelity-internals-{key_id[:8]}"
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    access_key_id = env.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="internals")["Credentials"]["AccessKeyId"]
    iam_backend = iam_backends[ACCOUNT]["aws"]
    moto_internals.check_instance(iam_backend.access_keys[access_key_id], moto_internals.ACCESS_KEY_ATTRIBUTES, "iam AccessKey")
    session = sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(access_key_id)
    moto_internals.check_instance(session, moto_internals.ASSUMED_ROLE_ATTRIBUTES, "sts AssumedRole")
    moto_internals.check_instance(iam_backend.get_role_by_arn(role_arn), moto_internals.ROLE_OR_USER_ATTRIBUTES, "iam Role")


def test_check_instance_names_the_attribute():
    with pytest.raises(MotoIncompatible, match="'key_material'"):
        moto_internals.check_instance(object(), ("key_material",), "kms Key")
