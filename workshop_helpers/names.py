"""Names of what the workshop creates, so that participants sharing an endpoint or an
account do not collide.

Without `KMS_WORKSHOP_PARTICIPANT` the names are the original workshop's own
(`alias/ImportedCMK`, `KMSWorkshop-InstanceInitRole`, ...). With it, each name carries the
participant's name, and every resource is tagged with it.
"""

from __future__ import annotations

import os
import re

from .errors import WorkshopError

TAG_KEY = "kms-workshop"
TAG_VALUE = "true"
PARTICIPANT_TAG_KEY = "kms-workshop-participant"

_VALID = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


def participant() -> str | None:
    value = os.environ.get("KMS_WORKSHOP_PARTICIPANT", "").strip()
    if not value:
        return None
    if not _VALID.match(value):
        raise WorkshopError(
            f"KMS_WORKSHOP_PARTICIPANT={value!r} is not a valid name: use 1 to 32 letters, digits, '-' or '_'."
        )
    return value


def _suffixed(base: str, sep: str = "-") -> str:
    who = participant()
    return f"{base}{sep}{who}" if who else base


def key_alias() -> str:
    """The ImportedCMK's alias: `alias/ImportedCMK` (or `alias/ImportedCMK-<participant>`)."""
    return "alias/" + _suffixed("ImportedCMK")


def other_key_alias() -> str:
    """Alias of a second, ordinary KMS key: "the wrong key" in notebook 04."""
    return "alias/" + _suffixed("KMSWorkshop-OtherKey")


def role_name() -> str:
    """The participant's role, with too few permissions at first."""
    return _suffixed("KMSWorkshop-InstanceInitRole")


def additional_policy_name() -> str:
    """The policy that grants the data-key operations (attached in notebook 02)."""
    return _suffixed("KMSWorkshop-AdditionalPermissions")


def context_policy_name() -> str:
    """The policy that allows Decrypt only with the encryption context project=workshop."""
    return _suffixed("KMSWorkshop-DecryptWithContextOnly")


def bucket_name(account_id: str, region: str) -> str:
    who = participant()
    base = f"kms-workshop-{account_id}-{region}"
    return f"{base}-{who.lower()}" if who else base


def tags() -> dict[str, str]:
    """Tags put on everything the workshop creates; `is_ours` recognises them (cleanup on aws
    touches only what it accepts)."""
    result = {TAG_KEY: TAG_VALUE}
    who = participant()
    if who:
        result[PARTICIPANT_TAG_KEY] = who
    return result


def kms_tags() -> list[dict[str, str]]:
    return [{"TagKey": k, "TagValue": v} for k, v in tags().items()]


def iam_tags() -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags().items()]


def tag_dict(items: list[dict] | None) -> dict[str, str]:
    """An AWS tag list as a dict: KMS's ``[{"TagKey": k, "TagValue": v}, ...]`` or EC2's,
    S3's and IAM's ``[{"Key": k, "Value": v}, ...]``."""
    pairs = ((t.get("TagKey", t.get("Key")), t.get("TagValue", t.get("Value"))) for t in items or [])
    # AWS always sends both fields; a tag without one could never make `is_ours` true
    return {k: v for k, v in pairs if k is not None and v is not None}


def is_ours(tags: dict[str, str]) -> bool:
    """Whether a resource with these tags is the workshop's, for the current participant.

    The one rule every module follows (fixtures, cleanup, ebs): a resource is ours when

    - the workshop's tag is present with its value (``kms-workshop=true``), and
    - the participant tag equals the current participant (`participant()`): absent when
      no participant is set, ``kms-workshop-participant=<name>`` when one is.

    So a key tagged for participant "alice" is not ours when no participant is set, nor
    when the participant is "bob"; an untagged key is never ours, whatever its name.
    """
    return tags.get(TAG_KEY) == TAG_VALUE and tags.get(PARTICIPANT_TAG_KEY) == participant()
