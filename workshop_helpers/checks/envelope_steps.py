"""Self-checks for the exercises of notebooks 01 to 04, 07 and 08: the ImportedCMK, data
keys, encrypting and decrypting by hand, direct encryption, cleanup.

Checks that need KMS use the workshop's current connection (`connect()` first).
"""

from __future__ import annotations

from typing import TypeGuard

from .. import fixtures, names
from ..backend import require
from ..display.expect import error_code
from .result import CheckResult
from .result import hint as _hint
from .result import passed as _passed


def _kms():
    return require().client("kms")


def _is_bytes(value) -> TypeGuard[bytes | bytearray | memoryview]:
    return isinstance(value, (bytes, bytearray, memoryview))


# --- 01: the ImportedCMK -----------------------------------------------------------------


def check_key_origin(origin, expiration_model) -> CheckResult:
    """Exercise 01: the ImportedCMK's Origin and ExpirationModel, as describe_key reports them."""
    if origin is None or expiration_model is None:
        return _hint(
            "call kms.describe_key(KeyId='alias/ImportedCMK') and read 'Origin' and "
            "'ExpirationModel' from response['KeyMetadata']."
        )
    if str(origin) != "EXTERNAL":
        if str(origin) == "AWS_KMS":
            return _hint(
                "AWS_KMS is the origin of keys whose material KMS made itself; this key's material came from you."
            )
        return _hint("look at KeyMetadata['Origin'] of the ImportedCMK (alias/ImportedCMK).")
    if str(expiration_model) != "KEY_MATERIAL_DOES_NOT_EXPIRE":
        return _hint(
            "the Origin is right; now read KeyMetadata['ExpirationModel']: which "
            "ExpirationModel did import_key_material use?"
        )
    return _passed("the key material came from outside KMS (EXTERNAL) and was imported without an expiry date.")


# --- 02: data keys -----------------------------------------------------------------------

EXERCISE_02_CONTEXT = {"project": "workshop", "team": "blue"}


def check_data_key_exercise(response) -> CheckResult:
    """Exercise 02: a 128-bit data key under alias/ImportedCMK, context project=workshop, team=blue."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    if not isinstance(response, dict) or "CiphertextBlob" not in response:
        return _hint(
            "pass the whole response of kms.generate_data_key(...) (a dict with "
            "'CiphertextBlob', 'Plaintext' and 'KeyId')."
        )
    plaintext = response.get("Plaintext")
    if not _is_bytes(plaintext):
        return _hint(
            "the response has no plaintext key: use generate_data_key, not "
            "generate_data_key_without_plaintext, for this exercise."
        )
    if len(plaintext) != 16:
        return _hint(
            f"the data key has {len(plaintext) * 8} bits; ask for 128 with KeySpec='AES_128' (or NumberOfBytes=16)."
        )
    try:
        back = _kms().decrypt(CiphertextBlob=response["CiphertextBlob"], EncryptionContext=EXERCISE_02_CONTEXT)
    except ClientError as exc:
        if error_code(exc) == "InvalidCiphertextException":
            return _hint(
                "the encrypted key does not decrypt with the context "
                "{'project': 'workshop', 'team': 'blue'}: pass exactly these two pairs as "
                "EncryptionContext."
            )
        return _hint(f"KMS could not decrypt the encrypted key ({error_code(exc)}).")
    same = bytes(back.pop("Plaintext")) == bytes(plaintext)
    if not same:
        return _hint("the encrypted key does not match the plaintext key: pass one response, unchanged.")
    key_arn = _kms().describe_key(KeyId=names.key_alias())["KeyMetadata"]["Arn"]
    if back.get("KeyId") != key_arn:
        return _hint("the data key is encrypted under another KMS key: use KeyId='alias/ImportedCMK'.")
    return _passed("a 128-bit data key under the ImportedCMK, bound to project=workshop and team=blue.")


# --- 03: encrypting by hand --------------------------------------------------------------

EXERCISE_03_MESSAGE = b"attack at dawn"


def check_hand_encryption(sealed, data_key) -> CheckResult:
    """Exercise 03: b'attack at dawn' sealed with AES-GCM under `data_key`, as nonce || ciphertext."""
    # deferred: cryptography's compiled bindings load at first use, not on import
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # deferred: as above

    if not _is_bytes(sealed):
        return _hint(
            "build nonce + AESGCM(key).encrypt(nonce, b'attack at dawn', None), with the "
            "plaintext data key you pass as the second argument (exercise_key in notebook 03) "
            "and a fresh 12-byte nonce (os.urandom(12))."
        )
    if not _is_bytes(data_key) or len(data_key) not in (16, 24, 32):
        return _hint("pass the plaintext data key (bytes) as the second argument.")
    sealed = bytes(sealed)
    expected_len = fixtures.GCM_NONCE_BYTES + len(EXERCISE_03_MESSAGE) + 16
    if len(sealed) != expected_len:
        return _hint(
            f"expected {expected_len} bytes (12 of nonce, {len(EXERCISE_03_MESSAGE)} of "
            f"ciphertext, 16 of tag), got {len(sealed)}: did you put the nonce in front?"
        )
    nonce = sealed[: fixtures.GCM_NONCE_BYTES]
    if len(set(nonce)) == 1:
        # A fixed nonce decrypts today, but the next message under this key would reuse it,
        # and two GCM messages under one key and one nonce give away both plaintexts' XOR
        # and the means to forge tags.
        return _hint(
            f"the nonce is {nonce.hex()}, a fixed value: under one key a nonce must never "
            "repeat, so make a fresh one for every message with os.urandom(12)."
        )
    try:
        opened = AESGCM(bytes(data_key)).decrypt(sealed[:12], sealed[12:], None)
    except InvalidTag:
        return _hint(
            "it does not decrypt under this data key: encrypt with AESGCM(data_key), "
            "no associated data (None), and put the 12-byte nonce first."
        )
    if opened != EXERCISE_03_MESSAGE:
        return _hint(f"it decrypts, but to {opened!r} instead of {EXERCISE_03_MESSAGE!r}.")
    return _passed("12 bytes of nonce, the ciphertext and a 16-byte tag: AES-GCM adds 28 bytes.")


# --- 04: decrypting ----------------------------------------------------------------------


def check_recovered_secret(text) -> CheckResult:
    """Exercise 04: the secret text recovered from notebook 03's envelope file."""
    if text is None:
        return _hint(
            "decrypt workshop-data/samplesecret.txt.envelope with "
            "envelope.decrypt_bytes(..., encryption_context={'project': 'workshop'}, key_id=key.arn)."
        )
    if _is_bytes(text):
        return _hint(
            "that is bytes, and the exercise asks for the text (a str): decode it, for example with .decode('utf-8')."
        )
    if str(text) != fixtures.sample_secret_text():  # the text written in notebook 03 (or the default)
        return _hint("that is not the text of samplesecret.txt: pass what decrypt_bytes returned, decoded as UTF-8.")
    return _passed("the secret text is back: the KMS key decrypted the data key, the data key the file.")


# situation -> every error the notebook showed for it (a wrong key: KMS's refusal when the
# blob is decrypted under another KeyId, and the envelope helper's, before it asks KMS)
REFUSALS = {
    "wrong context": ("InvalidCiphertextException",),
    "wrong key": ("IncorrectKeyException", "KeyMismatchError"),
    "tampered envelope": ("AuthenticationError",),
}


def check_refusals(answers) -> CheckResult:
    """Exercise 04 (quiz): which error each mistake gives. `answers` maps each situation in
    REFUSALS to an error code or exception class name (any of those shown for it)."""
    if not isinstance(answers, dict) or not answers:
        return _hint(f"pass a dict with the keys {', '.join(repr(k) for k in REFUSALS)}.")
    wrong = [k for k, shown in REFUSALS.items() if str(answers.get(k, "")).strip() not in shown]
    if wrong:
        first = wrong[0]
        return _hint(
            f"look again at what happened for {first!r} in the cells above "
            f"({len(REFUSALS) - len(wrong)} of {len(REFUSALS)} right)."
        )
    return _passed("the context and the key are checked by KMS, the file's integrity by AES-GCM.")


# --- 07: direct encryption ---------------------------------------------------------------

EXERCISE_07_CONTEXT = {"project": "kmsworkshop", "purpose": "exercise"}
EXERCISE_07_MESSAGE = b"The answer is 42"


def check_direct_encryption(blob) -> CheckResult:
    """Exercise 07: b'The answer is 42' encrypted directly under the ImportedCMK with the
    context project=kmsworkshop, purpose=exercise; pass the CiphertextBlob."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    if isinstance(blob, dict):
        return _hint("pass response['CiphertextBlob'], not the whole response.")
    if not _is_bytes(blob):
        return _hint(
            "call kms.encrypt(KeyId='alias/ImportedCMK', Plaintext=b'The answer is 42', "
            "EncryptionContext=...) and pass its 'CiphertextBlob'."
        )
    kms = _kms()
    try:
        back = kms.decrypt(CiphertextBlob=bytes(blob), EncryptionContext=EXERCISE_07_CONTEXT)
    except ClientError as exc:
        if error_code(exc) == "InvalidCiphertextException":
            return _hint(
                "KMS refuses it with the context {'project': 'kmsworkshop', 'purpose': "
                "'exercise'}: use exactly these two pairs when encrypting."
            )
        return _hint(f"KMS could not decrypt it ({error_code(exc)}).")
    plaintext = bytes(back.pop("Plaintext"))
    if plaintext != EXERCISE_07_MESSAGE:
        return _hint(f"it decrypts to {plaintext!r}: encrypt exactly {EXERCISE_07_MESSAGE!r}.")
    return _passed("encrypted inside KMS, no data key involved, and bound to its context.")


# --- 08: cleanup -------------------------------------------------------------------------


def check_cleanup_quiz(minimum_days, state) -> CheckResult:
    """Exercise 08: the shortest deletion waiting period, and the key's state meanwhile."""
    if minimum_days is None or state is None:
        return _hint(
            "two answers: the smallest PendingWindowInDays KMS accepts, and the "
            "KeyState that kms.describe_key(KeyId=key.key_id) reports after the cleanup."
        )
    try:
        days = int(minimum_days)
    except (TypeError, ValueError):
        return _hint("the first answer is a number of days.")
    if days != 7:
        return _hint("KMS accepts a waiting period from 7 to 30 days; which end is the shortest?")
    if str(state) != "PendingDeletion":
        return _hint("describe the key now (kms.describe_key) and read KeyMetadata['KeyState'].")
    return _passed("for 7 days the key is PendingDeletion: unusable, and cancel_key_deletion can still save it.")
