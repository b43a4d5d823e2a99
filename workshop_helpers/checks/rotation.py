"""Self-check for the exercise of the rotation notebook (08 · Rotate the key material you
imported). Worked solution: notebooks/solutions/ex08_material_of_blob.py."""

from __future__ import annotations

import re

from ..backend import require
from ..display.expect import error_code
from .result import CheckResult
from .result import hint as _hint
from .result import passed as _passed

_MATERIAL_ID = re.compile(r"[0-9a-f]{64}")


def _kms():
    return require().client("kms")


def check_material_of_blob(blob, material_id, is_current) -> CheckResult:
    """Exercise 08: the KeyMaterialId that made `blob` (Decrypt names it) and whether it is
    the key's current material (DescribeKey's CurrentKeyMaterialId)."""
    # deferred: botocore loads with boto3 at connect(), not on import
    from botocore.exceptions import ClientError

    if material_id is None or is_current is None:
        return _hint(
            "decrypt the blob and read 'KeyMaterialId' from the answer; then compare it with "
            "KeyMetadata['CurrentKeyMaterialId'] of describe_key."
        )
    if not isinstance(material_id, str) or not _MATERIAL_ID.fullmatch(material_id):
        return _hint("a key material id is a string of 64 hexadecimal digits, as Decrypt returns it.")
    if not isinstance(is_current, bool):
        return _hint("is_current should be True or False (a comparison of two ids gives one).")
    kms = _kms()
    try:
        answer = kms.decrypt(CiphertextBlob=bytes(blob), EncryptionContext={"purpose": "rotation"})
    except (ClientError, TypeError) as exc:
        return _hint(f"the check could not decrypt the blob it was given ({error_code(exc)}); pass old_blob.")
    answer.pop("Plaintext", None)  # not needed; dropped at once
    made_by = answer["KeyMaterialId"]
    if material_id != made_by:
        return _hint("that is not the material Decrypt names for this blob: read 'KeyMaterialId' of its answer.")
    current = kms.describe_key(KeyId=answer["KeyId"])["KeyMetadata"]["CurrentKeyMaterialId"]
    if is_current != (made_by == current):
        return _hint("the id is right; compare it with KeyMetadata['CurrentKeyMaterialId'] of describe_key again.")
    state = "the current material" if is_current else "an earlier material, still kept for decryption"
    return _passed(f"the blob was made under {state}; Decrypt found it without being told.")
