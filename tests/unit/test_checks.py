"""workshop_helpers.checks: wrong answers give a hint and never raise; every solution in
notebooks/solutions/ passes its check."""

from __future__ import annotations

import importlib.util
import os
import uuid

import pytest
from notebook_support import NOTEBOOKS

from workshop_helpers import checks, fixtures, names
from workshop_helpers.checks import CheckResult

SOLUTIONS = NOTEBOOKS / "solutions"


def solution(name: str):
    spec = importlib.util.spec_from_file_location(f"solution_{name}", SOLUTIONS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def ws(moto_workshop, monkeypatch, tmp_path):
    # the default names (alias/ImportedCMK): the checks and solutions use them, as in the notebooks
    monkeypatch.delenv("KMS_WORKSHOP_PARTICIPANT", raising=False)
    monkeypatch.setenv("KMS_WORKSHOP_DATA_DIR", str(tmp_path / "workshop-data"))
    fixtures.ensure_imported_cmk(moto_workshop)
    return moto_workshop


def assert_hint(result):
    assert isinstance(result, CheckResult)
    assert not result and result.message
    assert repr(result).startswith("Not yet: ")
    assert "Not yet" in result._repr_html_()


def assert_pass(result):
    assert isinstance(result, CheckResult)
    assert result, result.message
    assert repr(result).startswith("Correct: ")


# --- 01 ----------------------------------------------------------------------------------


def test_01_wrong_answers(ws):
    for answer in [
        (None, None),
        ("AWS_KMS", "KEY_MATERIAL_DOES_NOT_EXPIRE"),
        ("EXTERNAL", "KEY_MATERIAL_EXPIRES"),
        ("banana", 3),
    ]:
        assert_hint(checks.check_key_origin(*answer))


def test_01_solution(ws):
    assert_pass(checks.check_key_origin(*solution("ex01_key_origin").solve(ws)))


# --- 02 ----------------------------------------------------------------------------------


def test_02_wrong_answers(ws):
    kms = ws.client("kms")
    alias = names.key_alias()
    assert_hint(checks.check_data_key_exercise(None))
    assert_hint(checks.check_data_key_exercise("a string"))
    wrong_size = kms.generate_data_key(KeyId=alias, KeySpec="AES_256", EncryptionContext=checks.EXERCISE_02_CONTEXT)
    assert "bits" in checks.check_data_key_exercise(wrong_size).message
    wrong_context = kms.generate_data_key(KeyId=alias, KeySpec="AES_128", EncryptionContext={"project": "workshop"})
    assert "team" in checks.check_data_key_exercise(wrong_context).message
    no_plaintext = kms.generate_data_key_without_plaintext(
        KeyId=alias, KeySpec="AES_128", EncryptionContext=checks.EXERCISE_02_CONTEXT
    )
    assert_hint(checks.check_data_key_exercise(no_plaintext))
    other = fixtures.ensure_other_key(ws)
    other_key = kms.generate_data_key(
        KeyId=other["KeyId"], KeySpec="AES_128", EncryptionContext=checks.EXERCISE_02_CONTEXT
    )
    assert "another KMS key" in checks.check_data_key_exercise(other_key).message
    mixed = dict(wrong_context, Plaintext=os.urandom(16))
    assert_hint(checks.check_data_key_exercise(mixed))


def test_02_solution(ws):
    assert_pass(checks.check_data_key_exercise(solution("ex02_data_key").solve(ws)))


# --- 03 ----------------------------------------------------------------------------------


def test_03_wrong_answers():
    key = os.urandom(32)
    assert_hint(checks.check_hand_encryption(None, key))
    assert_hint(checks.check_hand_encryption(b"x" * 42, b"short"))
    assert_hint(checks.check_hand_encryption(b"x" * 10, key))
    assert_hint(checks.check_hand_encryption(b"x" * 42, key))  # right length, wrong content
    other = solution("ex03_hand_encryption").solve(os.urandom(32))
    assert_hint(checks.check_hand_encryption(other, key))  # another key


def test_03_solution():
    key = os.urandom(32)
    assert_pass(checks.check_hand_encryption(solution("ex03_hand_encryption").solve(key), key))


# --- 04 ----------------------------------------------------------------------------------


def test_04_wrong_answers():
    assert_hint(checks.check_recovered_secret(None))
    assert_hint(checks.check_recovered_secret("something else"))
    assert_hint(checks.check_refusals(None))
    assert_hint(checks.check_refusals({}))
    partly = dict(solution("ex04_decrypt").ANSWERS, **{"wrong key": "AccessDeniedException"})
    result = checks.check_refusals(partly)
    assert_hint(result)
    assert "2 of 3" in result.message


def test_04_solutions(ws):
    fixtures.ensure_encrypted_sample(ws)
    module = solution("ex04_decrypt")
    text = module.solve(ws)
    assert_pass(checks.check_recovered_secret(text))
    assert_hint(checks.check_recovered_secret(text.encode()))  # bytes where the exercise asks for a str
    assert_pass(checks.check_refusals(module.ANSWERS))
    # the envelope helper's refusal of a wrong key, shown in the notebook, is right too
    assert_pass(checks.check_refusals(dict(module.ANSWERS, **{"wrong key": "KeyMismatchError"})))


# --- 07 ----------------------------------------------------------------------------------


def test_07_wrong_answers(ws):
    kms = ws.client("kms")
    assert_hint(checks.check_direct_encryption(None))
    assert_hint(checks.check_direct_encryption({"CiphertextBlob": b"x"}))
    no_context = kms.encrypt(KeyId=names.key_alias(), Plaintext=checks.EXERCISE_07_MESSAGE)["CiphertextBlob"]
    assert "context" in checks.check_direct_encryption(no_context).message
    wrong_text = kms.encrypt(
        KeyId=names.key_alias(), Plaintext=b"The answer is 41", EncryptionContext=checks.EXERCISE_07_CONTEXT
    )["CiphertextBlob"]
    assert_hint(checks.check_direct_encryption(wrong_text))
    assert_hint(checks.check_direct_encryption(b"garbage" * 10))


def test_07_solution(ws):
    assert_pass(checks.check_direct_encryption(solution("ex07_direct").solve(ws)))


# --- 08 (rotation) -----------------------------------------------------------------------


@pytest.fixture
def rotated(ws):
    """The ImportedCMK after one on-demand rotation, and a blob made before it."""
    kms = ws.client("kms")
    key_id = kms.describe_key(KeyId=names.key_alias())["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"before", EncryptionContext={"purpose": "rotation"})["CiphertextBlob"]
    first = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=fixtures.wrap_key_material(params["PublicKey"], os.urandom(32)),
        ImportType="NEW_KEY_MATERIAL",
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
    )
    kms.rotate_key_on_demand(KeyId=key_id)
    return blob, first


def test_08_rotation_wrong_answers(rotated):
    blob, first = rotated
    assert_hint(checks.check_material_of_blob(blob, None, None))
    assert_hint(checks.check_material_of_blob(blob, "not an id", False))
    assert_hint(checks.check_material_of_blob(blob, first, "no"))
    assert_hint(checks.check_material_of_blob(blob, "0" * 64, False))
    assert "compare" in checks.check_material_of_blob(blob, first, True).message  # the id right, the state wrong
    assert_hint(checks.check_material_of_blob(b"garbage" * 10, first, False))
    assert_hint(checks.check_material_of_blob(None, first, False))


def test_08_rotation_solution(ws, rotated):
    blob, first = rotated
    answer = solution("ex08_material_of_blob").solve(ws, blob)
    assert answer == (first, False)
    assert_pass(checks.check_material_of_blob(blob, *answer))


# --- 09 (cleanup) ------------------------------------------------------------------------


def test_08_wrong_answers():
    for answer in [(None, None), ("seven", "PendingDeletion"), (30, "PendingDeletion"), (7, "Disabled")]:
        assert_hint(checks.check_cleanup_quiz(*answer))


def test_08_solution(moto_workshop, monkeypatch):
    monkeypatch.setenv("KMS_WORKSHOP_PARTICIPANT", "chk" + uuid.uuid4().hex[:6])
    key = fixtures.ensure_imported_cmk(moto_workshop)
    moto_workshop.client("kms").schedule_key_deletion(KeyId=key.key_id, PendingWindowInDays=7)
    assert_pass(checks.check_cleanup_quiz(*solution("ex08_cleanup").solve(moto_workshop, key.key_id)))


def test_every_solution_file_is_tested():
    tested = {
        "ex01_key_origin",
        "ex02_data_key",
        "ex03_hand_encryption",
        "ex04_decrypt",
        "ex07_direct",
        "ex08_cleanup",
        "ex08_material_of_blob",
    }
    mine = {p.stem for p in SOLUTIONS.glob("ex0[123478]_*.py")}
    assert mine == tested
