"""The KMS API's own input constraints, checked as AWS checks them, before the operation.

AWS rejects a request that breaks a constraint of its API model (a length, a range, an
enum, a pattern, a required member) with one ValidationException that lists every broken
constraint, worded the same way for every operation:

    1 validation error detected: Value 'HMAC_random' at 'keySpec' failed to satisfy
    constraint: Member must satisfy enum value set: [RSA_2048, ...]

The constraints are read from botocore's KMS service model (the model AWS publishes), so
every operation is covered without a list of its own here; moto checks almost none of them.
botocore already refuses, on the client, a missing required member, a too-short value and a
value below its minimum; the rest (maximums, enums, patterns) reach the server, and any
client that does not validate (parameter_validation=False, other SDKs) sends them all.

Values are quoted as AWS quotes them (strings and numbers); blobs and sensitive members
(Plaintext) are not shown: "Value at 'plaintext' failed to satisfy constraint: ...".
Members are named as in AWS's messages: camelCase, list members as `tags.1.member.tagKey`.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import re
from typing import Any

from moto.core.utils import get_service_model

from .exceptions import ValidationException


@functools.lru_cache(maxsize=1)
def _service_model():
    # moto's own copy (it parses KMS's model for every KMS request anyway): a second
    # botocore session would parse the same file again, at every kernel's first KMS call
    return get_service_model("kms")


@functools.lru_cache(maxsize=256)
def _pattern(text: str):
    try:
        return re.compile(text)
    except re.error:
        return None


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _shown(shape, value: Any) -> str:
    if shape.type_name == "blob" or shape.metadata.get("sensitive"):
        return "Value"
    if isinstance(value, list):
        return f"Value '[{', '.join(str(v) for v in value)}]'"
    if isinstance(value, bool):
        return f"Value '{str(value).lower()}'"
    return f"Value '{value}'"


def _length(shape, value: Any) -> int | None:
    if shape.type_name == "blob":
        if not isinstance(value, str):
            return None
        try:
            return len(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            return None
    if isinstance(value, (str, list, dict)):
        return len(value)
    return None


def _scalar_constraints(shape, value: Any) -> list[str]:
    """The constraints one value breaks, each as AWS words it."""
    broken = []
    meta = shape.metadata
    if shape.type_name in ("integer", "long"):
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "min" in meta and value < meta["min"]:
                broken.append(f"Member must have value greater than or equal to {meta['min']}")
            if "max" in meta and value > meta["max"]:
                broken.append(f"Member must have value less than or equal to {meta['max']}")
        return broken
    length = _length(shape, value)
    if length is not None:
        if "max" in meta and length > meta["max"]:
            broken.append(f"Member must have length less than or equal to {meta['max']}")
        if "min" in meta and length < meta["min"]:
            broken.append(f"Member must have length greater than or equal to {meta['min']}")
    if shape.type_name == "string" and isinstance(value, str):
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            broken.append(f"Member must satisfy enum value set: [{', '.join(enum)}]")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            broken.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
    return broken


def _walk(shape, value: Any, path: str, out: list[str]) -> None:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return
        required = set(shape.required_members)
        for name, member in shape.members.items():
            where = f"{path}.{_camel(name)}" if path else _camel(name)
            if value.get(name) is None:
                if name in required:
                    out.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
                continue
            _walk(member, value[name], where, out)
        return
    if kind == "list":
        if not isinstance(value, list):
            return
        for broken in _scalar_constraints(shape, value):
            out.append(f"{_shown(shape, value)} at '{path}' failed to satisfy constraint: {broken}")
        member = shape.member
        if member.type_name == "structure":
            for index, item in enumerate(value, start=1):
                _walk(member, item, f"{path}.{index}.member", out)
            return
        nested = sorted({b for item in value for b in _scalar_constraints(member, item)})
        if nested:
            out.append(
                f"{_shown(shape, value)} at '{path}' failed to satisfy constraint: "
                f"Member must satisfy constraint: [{', '.join(nested)}]"
            )
        return
    if kind == "map":
        return  # KMS's maps (encryption contexts) carry no constraints of their own
    for broken in _scalar_constraints(shape, value):
        out.append(f"{_shown(shape, value)} at '{path}' failed to satisfy constraint: {broken}")


def problems(operation: str, params: dict) -> list[str]:
    """Every API-model constraint `params` break for `operation` (empty if none, or if the
    operation is unknown)."""
    try:
        shape = _service_model().operation_model(operation).input_shape
    except Exception:  # noqa: BLE001 - an operation botocore does not know: nothing to check
        return []
    out: list[str] = []
    if shape is not None:
        _walk(shape, params, "", out)
    return out


def message(found: list[str]) -> str:
    count = len(found)
    return f"{count} validation error{'s' if count != 1 else ''} detected: " + "; ".join(found)


def check_request(response: Any) -> None:
    """ValidationException if the KMS request `response` (moto's KmsResponse) is serving
    breaks its API's constraints."""
    try:
        params = json.loads(response.body or "{}")
    except ValueError:
        return  # not JSON: moto's parser answers it
    if not isinstance(params, dict):
        return
    found = problems(response._get_action(), params)
    if found:
        raise ValidationException(message(found))
