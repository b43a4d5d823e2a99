"""Self-checks for the exercises of notebooks 05 (server-side) and 06 (client-side).

Worked solutions: notebooks/solutions/ex05_calls_for_volume.py and
notebooks/solutions/ex06_decrypt_expecting.py (tested by tests/unit/test_solutions_sse_cse.py).
"""

from __future__ import annotations

from .result import CheckResult
from .result import hint as _hint
from .result import passed as _passed

EBS_KEY = "aws:ebs:id"


# --- 05: monitoring a volume through the encryption context ------------------------------


def _record(name: str, context: dict | None = None, *, grant: bool = False, failed: bool = False) -> dict:
    params: dict | None
    if failed:
        params = None
    elif grant:
        params = {
            "keyId": "arn:aws:kms:eu-west-1:111122223333:key/k",
            "constraints": {"encryptionContextSubset": context},
        }
    else:
        params = {"keyId": "arn:aws:kms:eu-west-1:111122223333:key/k", "encryptionContext": context}
    record = {"eventSource": "kms.amazonaws.com", "eventName": name, "requestParameters": params}
    if failed:
        record["errorCode"] = "InvalidCiphertextException"
    return record


SAMPLE_RECORDS = [
    _record("GenerateDataKeyWithoutPlaintext", {EBS_KEY: "vol-0aaaaaaaaaaaaaaaa"}),
    _record("GenerateDataKey", {"project": "workshop"}),
    _record("CreateGrant", {EBS_KEY: "vol-0aaaaaaaaaaaaaaaa"}, grant=True),
    _record("Decrypt", {EBS_KEY: "vol-0bbbbbbbbbbbbbbbb"}),
    _record("Decrypt", failed=True),
    _record("Encrypt", {"note": "vol-0aaaaaaaaaaaaaaaa"}),
    _record("Decrypt", {EBS_KEY: "vol-0aaaaaaaaaaaaaaaa"}),
]
SAMPLE_ANSWER = ["GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt"]


def check_calls_for_volume(calls_for_volume, *, records=None, volume_id: str | None = None) -> CheckResult:
    """Exercise 05: `calls_for_volume(records, volume_id)` -> the eventNames, in order, of the
    records whose encryption context (or grant constraint) has aws:ebs:id = volume_id.

    Checked on sample records first; then, given `records` (ws.trail()) and `volume_id`, on
    your own trail, where it must find the simulated EBS calls of your volume."""
    if calls_for_volume is None or not callable(calls_for_volume):
        return _hint("define a function calls_for_volume(records, volume_id) and pass it in.")
    try:
        found = calls_for_volume([dict(r) for r in SAMPLE_RECORDS], "vol-0aaaaaaaaaaaaaaaa")
    except (TypeError, AttributeError, KeyError) as exc:
        return _hint(
            f"it failed on the sample records ({type(exc).__name__}: {exc}); a failed call has "
            "requestParameters None, and most calls have no 'constraints': use .get() with defaults."
        )
    found = list(found or [])
    if found == SAMPLE_ANSWER:
        pass
    elif not found:
        return _hint(
            "it found nothing on the sample records: look in (record.get('requestParameters') or {})"
            ".get('encryptionContext') for the key 'aws:ebs:id'."
        )
    elif "Encrypt" in found:
        return _hint("match the context KEY aws:ebs:id, not any value that looks like the volume id.")
    elif "CreateGrant" not in found:
        return _hint("a grant carries its context in requestParameters['constraints']['encryptionContextSubset'].")
    elif len(found) > len(SAMPLE_ANSWER):
        return _hint("keep only the calls for this volume id: another volume's Decrypt is not one of them.")
    else:
        return _hint(f"on the sample records the answer is {SAMPLE_ANSWER}, yours was {found}.")
    if records is None or volume_id is None:
        return _passed("right on the sample records; pass records=ws.trail() and volume_id= to try your own.")
    try:
        mine = list(calls_for_volume(records, volume_id) or [])
    except Exception as exc:  # noqa: BLE001 - a wrong answer never raises
        return _hint(f"it failed on your trail ({type(exc).__name__}: {exc}).")
    needed = ["GenerateDataKeyWithoutPlaintext", "CreateGrant", "Decrypt"]
    it = iter(mine)
    if not all(any(name == n for n in it) for name in needed):
        return _hint(
            f"on your trail it found {mine}; after creating and attaching {volume_id} the trail holds "
            "a GenerateDataKeyWithoutPlaintext, a CreateGrant and a Decrypt for it (on the aws "
            "backend they are only in the real CloudTrail)."
        )
    return _passed(
        f"your function finds the {len(mine)} KMS calls made for {volume_id}: this is how "
        "CloudTrail is searched by encryption context."
    )


# --- 06: checking the encryption context on decrypt --------------------------------------

EXERCISE_CONTEXT = {"project": "workshop", "stage": "exercise"}


def check_decrypt_expecting(decrypt_expecting, *, key_arn: str) -> CheckResult:
    """Exercise 06: `decrypt_expecting(message, expected)` decrypts an Encryption SDK message
    and returns its plaintext only when the header's context is exactly `expected` plus the
    pairs the SDK adds itself (keys starting with ``aws-crypto-``); otherwise it raises."""
    if decrypt_expecting is None or not callable(decrypt_expecting):
        return _hint("define a function decrypt_expecting(message, expected) and pass it in.")
    # deferred: the AWS Encryption SDK takes a while to import; only notebook 06 needs it
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy  # deferred: as above

    client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
    provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])
    secret = b"a message for the exercise"

    def make(context):
        return client.encrypt(source=secret, key_provider=provider, encryption_context=context)[0]

    cases = [
        ("the right context", EXERCISE_CONTEXT, EXERCISE_CONTEXT, True),
        ("another project", {"project": "other", "stage": "exercise"}, EXERCISE_CONTEXT, False),
        ("a missing pair", {"project": "workshop"}, EXERCISE_CONTEXT, False),
        ("an extra pair someone added", {**EXERCISE_CONTEXT, "owner": "mallory"}, EXERCISE_CONTEXT, False),
    ]
    for label, made_with, expected, accept in cases:
        message = make(made_with)
        try:
            result = decrypt_expecting(message, dict(expected))
        except Exception as exc:  # noqa: BLE001
            if accept:
                return _hint(
                    f"it refused a message with {label} ({type(exc).__name__}: {exc}); remember the "
                    "SDK adds 'aws-crypto-public-key' to the context: allow keys starting with aws-crypto-."
                )
            continue
        if not accept:
            return _hint(f"it returned the plaintext of a message with {label}: it must raise instead.")
        if result != secret:
            return _hint("for the right context it must return the decrypted plaintext (bytes).")
    return _passed("it returns the plaintext only when the header's context is exactly the expected one.")


__all__ = [
    "EXERCISE_CONTEXT",
    "SAMPLE_ANSWER",
    "SAMPLE_RECORDS",
    "check_calls_for_volume",
    "check_decrypt_expecting",
]
