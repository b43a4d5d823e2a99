"""A small class at once: 5 participants run the workshop's calls at
the same time on one class endpoint: no error, no lost update, no cross-account leak.
The workload is benchmarks/class_bench.py's, which also measures N = 1 to 60."""

from __future__ import annotations

import os
import sys

import boto3
import pytest
from botocore.exceptions import ClientError
from fidelity_support import ROOT

sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
import class_bench

NAMES = [f"s{i}" for i in range(1, 6)]


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("small-class")
    proc, url = class_bench.start_class(NAMES, workdir)
    try:
        yield workdir, url, [class_bench.read_env(workdir / "class" / f"{n}.env") for n in NAMES]
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0


def test_five_participants_at_once(small_class):
    workdir, url, envs = small_class
    timings = class_bench.Timings()
    results = class_bench.run_class(envs, timings)
    assert timings.errors == []
    assert len(results) == len(NAMES)
    accounts = {r["account"] for r in results}
    assert len(accounts) == len(NAMES)  # an account each
    own_keys = {r["account"]: r["key_id"] for r in results}
    for r in results:
        assert r["keys"] == [r["key_id"]]  # only their own key: none of the others' (no leak)
        assert r["aliases"] == ["alias/ImportedCMK"]  # every participant's alias of that name, all kept
        assert r["state_after_cleanup"] == "PendingDeletion"

    # after the run, from fresh clients: every update kept, in the right account only
    for env, r in zip(envs, sorted(results, key=lambda r: r["name"])):
        kms = boto3.client(
            "kms",
            endpoint_url=url,
            region_name=env["AWS_DEFAULT_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        listed = [k["KeyId"] for k in kms.list_keys()["Keys"]]
        assert listed == [own_keys[r["account"]]]
        assert kms.describe_key(KeyId=r["key_id"])["KeyMetadata"]["KeyState"] == "PendingDeletion"
        for other in results:
            if other["account"] == r["account"]:
                continue
            with pytest.raises(ClientError) as info:
                kms.decrypt(CiphertextBlob=other["direct_blob"])
            assert info.value.response["Error"]["Code"] == "AccessDeniedException"
