"""Key states as KMS enforces them: which states refuse cryptographic operations, and the
rules of disable/enable and of scheduling and cancelling deletion."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from moto.core.utils import unix_time, utcnow

from . import key_import
from .exceptions import DisabledException, KMSInvalidStateException, ValidationException, invalid_state

MIN_PENDING_DAYS = 7
MAX_PENDING_DAYS = 30


def current_state(key: Any) -> str:
    """The key's state now: imported material past its ValidTo has expired meanwhile."""
    key_import.expire_if_due(key)
    return key.key_state


def require_usable(key: Any) -> None:
    """Refuse cryptographic use of a key that is not Enabled, as KMS does."""
    state = current_state(key)
    if state == "Enabled":
        return
    if state == "Disabled":
        raise DisabledException(f"{key.arn} is disabled.")
    raise invalid_state(key)


def _set_enabled(key: Any, enabled: bool) -> None:
    """DisableKey / EnableKey: only between Enabled and Disabled, as KMS allows."""
    if current_state(key) not in ("Enabled", "Disabled"):
        raise invalid_state(key)
    key.enabled = enabled
    key.key_state = "Enabled" if enabled else "Disabled"


def disable(key: Any) -> None:
    _set_enabled(key, False)


def enable(key: Any) -> None:
    _set_enabled(key, True)


def validate_pending_window(days: Any) -> int:
    if days is None:
        return MAX_PENDING_DAYS
    if not isinstance(days, int) or isinstance(days, bool):
        raise ValidationException(
            f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy constraint: Member must be an integer"
        )
    if days < MIN_PENDING_DAYS:
        raise ValidationException(
            f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy "
            f"constraint: Member must have value greater than or equal to {MIN_PENDING_DAYS}"
        )
    if days > MAX_PENDING_DAYS:
        raise ValidationException(
            f"1 validation error detected: Value '{days}' at 'pendingWindowInDays' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_PENDING_DAYS}"
        )
    return days


def schedule_deletion(key: Any, days: int) -> float:
    """Put the key in PendingDeletion for `days` (already validated); returns DeletionDate."""
    if current_state(key) == "PendingDeletion":
        raise invalid_state(key)
    key.enabled = False
    key.key_state = "PendingDeletion"
    key.deletion_date = utcnow() + timedelta(days=days)
    key.pending_deletion_window_in_days = days
    return unix_time(key.deletion_date)


def cancel_deletion(key: Any) -> None:
    """Back to Disabled (PendingImport if an imported key lacks material), as KMS does."""
    if current_state(key) != "PendingDeletion":
        raise KMSInvalidStateException(f"{key.arn} is not pending deletion.")
    key.deletion_date = None
    key.pending_deletion_window_in_days = None
    key.enabled = False
    key.key_state = "Disabled"
    if key_import.is_external(key):
        key.key_state = "PendingImport"
        key_import.refresh_state(key)  # all its materials imported: Enabled ...
        if key.key_state == "Enabled":  # ... but a cancelled deletion leaves a key Disabled
            key.key_state, key.enabled = "Disabled", False
