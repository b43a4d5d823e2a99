"""The moto internals the fidelity layer relies on, checked before anything is patched.

The layer replaces methods inside moto, so a moto release that renames one would silently
bring the unfaithful behaviour back. `check()` fails loudly instead: a clear error naming
the missing attribute, and one for a moto outside the tested version range.
"""

from __future__ import annotations

import importlib
import os
import re
from importlib import metadata

from ..errors import WorkshopError

# The moto versions this layer is tested with (pyproject.toml pins the same range).
MOTO_TESTED = ">=5.2.5,<5.3"
_LOWEST, _BELOW = (5, 2, 5), (5, 3)

# Set to 1 to run on an untested moto anyway (the internals are still checked).
ALLOW_UNTESTED_ENV = "KMS_WORKSHOP_ALLOW_UNTESTED_MOTO"

# module -> attributes that must exist, "Class.attr" for class members
REQUIRED = {
    "moto.kms.models": (
        "KmsBackend.any_id_to_key_id",
        "KmsBackend.create_key",
        "KmsBackend.describe_key",
        "KmsBackend.get_key_id",
        "KmsBackend.encrypt",
        "KmsBackend.decrypt",
        "KmsBackend.re_encrypt",
        "KmsBackend.generate_data_key",
        "KmsBackend.disable_key",
        "KmsBackend.enable_key",
        "KmsBackend.schedule_key_deletion",
        "KmsBackend.cancel_key_deletion",
        "KmsBackend.replicate_key",
        "KmsBackend.enable_key_rotation",
        "KmsBackend.rotate_key_on_demand",
        "Key.to_dict",
        "generate_private_key",
        "kms_backends",
    ),
    "moto.kms.responses": (
        "KmsResponse._dispatch",
        "KmsResponse._get_action",
        "KmsResponse._get_param",
        "KmsResponse._validate_key_id",
        "KmsResponse._validate_cmk_id",
        "KmsResponse.kms_backend",
        "KmsResponse.generate_data_key",
        "KmsResponse.get_public_key",
        "KmsResponse.rotate_key_on_demand",
        "KmsResponse.list_key_rotations",
    ),
    "moto.core.authorization": ("ActionAuthenticatorMixin._authenticate_and_authorize_action",),
    "moto.core.exceptions": ("JsonRESTError", "_RESTError", "InvalidClientTokenIdError", "SignatureDoesNotMatchError"),
    "moto.core.utils": ("unix_time", "utcnow"),
    "moto.iam.access_control": (
        "IAMRequest.check_signature",
        "IAMRequest.check_action_permitted",
        "S3IAMRequest",
    ),
    "moto.iam.models": (
        "iam_backends",
        "IAMBackend.get_role_by_arn",
        "IAMBackend.get_user",
        "IAMBackend.get_groups_for_user",
    ),
    "moto.sts.models": ("sts_backends", "STSBackend.get_assumed_role_from_access_key"),
    "moto.moto_server.werkzeug_app": ("DomainDispatcherApplication", "MotoRequestHandler", "create_backend_app"),
}

# Attributes of moto objects (set in __init__, so only visible on instances).
KEY_ATTRIBUTES = ("id", "arn", "account_id", "region", "key_material", "key_state", "enabled",
                  "origin", "key_spec", "key_usage", "deletion_date", "policy", "grants", "multi_region")
ACCESS_KEY_ATTRIBUTES = ("access_key_id", "secret_access_key", "user_name", "role_arn", "status")
ASSUMED_ROLE_ATTRIBUTES = ("access_key_id", "role_arn", "session_name", "session_token", "expiration")
ROLE_OR_USER_ATTRIBUTES = ("policies", "managed_policies")
GRANT_ATTRIBUTES = ("grantee_principal", "operations", "constraints")


class MotoIncompatible(WorkshopError):
    """moto changed in a way the fidelity layer cannot work with."""


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def installed_version() -> str:
    return metadata.version("moto")


def check_version(version: str | None = None) -> None:
    version = version or installed_version()
    if _LOWEST <= _version_tuple(version) < _BELOW:
        return
    message = (
        f"moto {version} is installed but the workshop's KMS fidelity layer is tested with moto{MOTO_TESTED}; "
        f"run `make install` (or set {ALLOW_UNTESTED_ENV}=1 to try anyway)."
    )
    if os.environ.get(ALLOW_UNTESTED_ENV) != "1":
        raise MotoIncompatible(message)


def check_attributes() -> None:
    for module_name, names in REQUIRED.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise MotoIncompatible(f"moto changed: cannot import {module_name} ({exc}); the fidelity layer needs it.") from None
        for dotted in names:
            obj = module
            for part in dotted.split("."):
                if not hasattr(obj, part):
                    raise MotoIncompatible(
                        f"moto changed: {module_name}.{dotted} is missing; the workshop's KMS fidelity "
                        f"layer relies on it (tested with moto{MOTO_TESTED})."
                    )
                obj = getattr(obj, part)


def check_instance(obj: object, names: tuple[str, ...], what: str) -> None:
    """Fail loudly if a moto object lacks an attribute the layer reads or writes."""
    for name in names:
        if not hasattr(obj, name):
            raise MotoIncompatible(f"moto changed: {what} objects have no attribute {name!r}; the fidelity layer relies on it.")


def check() -> None:
    check_version()
    check_attributes()
