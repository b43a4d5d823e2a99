"""moto crashes found on the workshop's paths, each turned into the error KMS gives.

Each has a test in tests/unit/test_fidelity_errors.py. DisableKey/EnableKey by ARN (KeyError in
moto) are fixed with the key-state rules in keys.py. Whatever still crashes becomes
KMSInternalException (safety_net.py).
"""

from __future__ import annotations

from .exceptions import UnsupportedOperationException
from .keys import find_key


def _describe_key(original):
    """moto indexes its key dict with whatever it gets (KeyError for a missing key, which
    every grant operation hits): resolve first, NotFoundException otherwise."""

    def describe_key(self, key_id: str):
        return original(self, find_key(self, key_id).id)

    return describe_key


def _replicate_key(original):
    """moto crashes on a key that is not multi-Region (AttributeError) or named by ARN."""

    def replicate_key(self, key_id: str, replica_region: str):
        key = find_key(self, key_id)
        if not key.multi_region:
            raise UnsupportedOperationException(f"{key.arn} is not a multi-Region key.")
        if key.arn != key.multi_region_configuration["PrimaryKey"]["Arn"]:
            raise UnsupportedOperationException(f"{key.arn} is not a multi-region primary key.")
        return original(self, key.id, replica_region)

    return replicate_key


def _key_id_or_arn_only(original):
    """RotateKeyOnDemand takes a key id or ARN; moto crashes with KeyError on an alias, KMS
    answers NotFoundException. (ListKeyRotations is the fidelity layer's own: responses.py.)"""

    def method(self) -> str:
        self._validate_cmk_id(self._get_param("KeyId"))
        return original(self)

    return method


def install() -> None:
    # deferred: moto's KMS models load in apply(), not on import
    from moto.kms.models import KmsBackend
    from moto.kms.responses import KmsResponse  # deferred: likewise

    KmsBackend.describe_key = _describe_key(KmsBackend.describe_key)
    KmsBackend.replicate_key = _replicate_key(KmsBackend.replicate_key)
    KmsResponse.rotate_key_on_demand = _key_id_or_arn_only(KmsResponse.rotate_key_on_demand)
