"""The exercises of notebooks 05 and 06: the solutions pass their self-checks, and typical
wrong answers get a hint, not a pass (nor an exception)."""

from __future__ import annotations

import json
import pathlib
import runpy

import pytest

from workshop_helpers import checks, ebs

SOLUTIONS = pathlib.Path(__file__).resolve().parents[2] / "notebooks" / "solutions"


@pytest.fixture(scope="module")
def ws(moto_workshop):
    return moto_workshop


@pytest.fixture(scope="module")
def key_arn(ws):
    return ws.client("kms").create_key(Description="solution tests")["KeyMetadata"]["Arn"]


@pytest.fixture(scope="module")
def sdk(key_arn):
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    return client, provider


# --- 05 -------------------------------------------------------------------------------------


def _solution_05():
    return runpy.run_path(str(SOLUTIONS / "ex05_calls_for_volume.py"))["calls_for_volume"]


def test_05_solution_passes_on_samples():
    assert checks.check_calls_for_volume(_solution_05())


def test_05_solution_passes_on_a_real_trail(ws, key_arn):
    sim = ebs.create_encrypted_volume(ws, key_arn, size_gib=1)
    ebs.attach_volume(ws, sim.volume_id, ebs.workshop_instance(ws))
    result = checks.check_calls_for_volume(_solution_05(), records=ws.trail(), volume_id=sim.volume_id)
    assert result, result.message
    assert _solution_05()(ws.trail(), sim.volume_id) == checks.SAMPLE_ANSWER


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (None, "define"),
        (lambda records, vid: [r["eventName"] for r in records], "KEY aws:ebs:id"),
        (
            lambda records, vid: [
                r["eventName"]
                for r in records
                if r["requestParameters"].get("encryptionContext", {}).get("aws:ebs:id") == vid
            ],
            "requestParameters None",
        ),
        (
            lambda records, vid: [
                r["eventName"]
                for r in records
                if ((r.get("requestParameters") or {}).get("encryptionContext") or {}).get("aws:ebs:id") == vid
            ],
            "constraints",
        ),
        (
            lambda records, vid: [r["eventName"] for r in records if "aws:ebs:id" in str(r.get("requestParameters"))],
            "another volume",
        ),
    ],
)
def test_05_wrong_answers_get_hints(wrong, hint):
    result = checks.check_calls_for_volume(wrong)
    assert not result
    assert hint in result.message


def test_05_wrong_on_own_trail(ws):
    result = checks.check_calls_for_volume(_solution_05(), records=[], volume_id="vol-0123")
    assert not result and "found []" in result.message


# --- 06 -------------------------------------------------------------------------------------


def _solution_06(sdk):
    client, provider = sdk
    return runpy.run_path(
        str(SOLUTIONS / "ex06_decrypt_expecting.py"), init_globals={"client": client, "provider": provider}
    )


def test_06_solution_passes(sdk, key_arn):
    namespace = _solution_06(sdk)
    result = checks.check_decrypt_expecting(namespace["decrypt_expecting"], key_arn=key_arn)
    assert result, result.message


def test_06_solution_refuses_with_its_own_error(sdk, key_arn, ws):
    namespace = _solution_06(sdk)
    client, provider = sdk
    message, _ = client.encrypt(source=b"x", key_provider=provider, encryption_context={"project": "other"})
    with pytest.raises(namespace["UnexpectedContext"]):
        namespace["decrypt_expecting"](message, {"project": "workshop"})


def test_06_wrong_answers_get_hints(sdk, key_arn):
    client, provider = sdk

    def no_check(message, expected):
        return client.decrypt(source=message, key_provider=provider)[0]

    def too_strict(message, expected):
        plaintext, header = client.decrypt(source=message, key_provider=provider)
        if header.encryption_context != expected:
            raise ValueError("mismatch")
        return plaintext

    def subset_only(message, expected):
        plaintext, header = client.decrypt(source=message, key_provider=provider)
        if any(header.encryption_context.get(k) != v for k, v in expected.items()):
            raise ValueError("mismatch")
        return plaintext

    result = checks.check_decrypt_expecting(no_check, key_arn=key_arn)
    assert not result and "must raise" in result.message
    result = checks.check_decrypt_expecting(too_strict, key_arn=key_arn)
    assert not result and "aws-crypto-" in result.message
    result = checks.check_decrypt_expecting(subset_only, key_arn=key_arn)
    assert not result and "extra pair" in result.message
    assert not checks.check_decrypt_expecting(None, key_arn=key_arn)


# --- the two notebooks meet the workshop's notebook rules -----------------------------------

E_NOTEBOOKS = ("05-server-side-encryption.ipynb", "06-client-side-encryption.ipynb")
NOTEBOOKS = SOLUTIONS.parent


def _notebook(name):
    import nbformat

    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", E_NOTEBOOKS)
def test_notebook_says_what_is_simulated_and_uses_the_trail(name):
    """The rules every notebook follows are in test_notebooks.py; these are 05's and 06's."""
    import re

    nb = _notebook(name)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "simulated" in text.lower() and "CloudTrail" in text
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "show_trail(" in code and "trail_mark()" in code
    solution = re.search(r"solutions/(ex0[56]_\w+\.py)", text)
    assert solution and (SOLUTIONS / solution.group(1)).exists()
    blob = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    # the trail shown in the notebook never holds a plaintext member
    assert '\\"plaintext\\"' not in blob.lower()


def test_notebook_05_shows_the_simulated_ebs_and_s3_calls():
    blob = json.dumps([c.get("outputs", []) for c in _notebook(E_NOTEBOOKS[0]).cells if c.cell_type == "code"])
    for needed in (
        "GenerateDataKeyWithoutPlaintext",
        "CreateGrant",
        "aws:ebs:id",
        "aws:s3:arn",
        "SIMULATED",
        "ec2.amazonaws.com",
        "s3.amazonaws.com",
    ):
        assert needed in blob, needed


def test_notebook_06_shows_one_generate_and_one_decrypt():
    blob = json.dumps([c.get("outputs", []) for c in _notebook(E_NOTEBOOKS[1]).cells if c.cell_type == "code"])
    assert "KMS calls made by client.encrypt (1 call)" in blob
    assert "KMS calls made by client.decrypt (1 call)" in blob
    assert "AWS Encryption SDK" in blob and "InvalidCiphertextException" in blob
