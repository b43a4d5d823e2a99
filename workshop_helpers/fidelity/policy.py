"""IAM policy evaluation: one request against a set of policy documents.

Pure functions, no moto: `evaluate()` answers ALLOWED, EXPLICIT_DENY or NOT_ALLOWED the way
IAM does (an explicit Deny anywhere wins; otherwise some Allow must match). Supported:
Action/NotAction (case-insensitive, * and ?), Resource/NotResource (* and ?), Principal
(for key policies), and Condition with the String*, Arn*, Bool, Numeric* and Null operators,
the ForAllValues:/ForAnyValue: qualifiers and the IfExists suffix. Condition key names are
case-insensitive, values case-sensitive, as in IAM.
"""

from __future__ import annotations

import enum
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any


class Decision(enum.Enum):
    ALLOWED = "allowed"
    EXPLICIT_DENY = "explicit deny"
    NOT_ALLOWED = "no allow"


@dataclass(frozen=True)
class Request:
    action: str  # "kms:GenerateDataKey"
    resource: str  # the key ARN, or "*"
    # condition key (lower case) -> its values; a single-valued key has one value
    context: dict[str, list[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    decision: Decision
    deny_source: str | None = None  # the policy name/ARN with the matching Deny


def load_document(document: Any) -> dict:
    """A policy document as a dict, from the JSON text or dict moto stores."""
    if isinstance(document, dict):
        return document
    return json.loads(document)


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


@lru_cache(maxsize=1024)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern:
    # IAM wildcards: * any run, ? one character; everything else literal.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.compile(f"^{body}$", re.IGNORECASE | re.DOTALL if ignore_case else re.DOTALL)


def glob_match(pattern: str, value: str, *, ignore_case: bool = False) -> bool:
    return bool(_glob(str(pattern), ignore_case).match(value))


def _matches_any(patterns: Any, value: str, *, ignore_case: bool = False) -> bool:
    return any(glob_match(p, value, ignore_case=ignore_case) for p in _as_list(patterns))


def _action_applies(statement: dict, action: str) -> bool:
    if "NotAction" in statement:
        return not _matches_any(statement["NotAction"], action, ignore_case=True)
    return _matches_any(statement.get("Action"), action, ignore_case=True)


def _resource_applies(statement: dict, resource: str) -> bool:
    if "NotResource" in statement:
        return not _matches_any(statement["NotResource"], resource)
    if "Resource" not in statement:
        return True  # key policies may leave Resource out; it then means this key
    return _matches_any(statement["Resource"], resource)


# --- conditions -------------------------------------------------------------------------


def _string_op(ignore_case: bool = False, like: bool = False):
    def match(actual: str, expected: str) -> bool:
        if like:
            return glob_match(expected, actual, ignore_case=ignore_case)
        return actual.lower() == expected.lower() if ignore_case else actual == expected

    return match


def _numeric_op(compare):
    def match(actual: str, expected: str) -> bool:
        try:
            return compare(float(actual), float(expected))
        except ValueError:
            return False

    return match


# base operator -> (match function, negated)
_OPERATORS = {
    "stringequals": (_string_op(), False),
    "stringnotequals": (_string_op(), True),
    "stringequalsignorecase": (_string_op(ignore_case=True), False),
    "stringnotequalsignorecase": (_string_op(ignore_case=True), True),
    "stringlike": (_string_op(like=True), False),
    "stringnotlike": (_string_op(like=True), True),
    "arnequals": (_string_op(like=True), False),
    "arnlike": (_string_op(like=True), False),
    "arnnotequals": (_string_op(like=True), True),
    "arnnotlike": (_string_op(like=True), True),
    "bool": (_string_op(ignore_case=True), False),
    "numericequals": (_numeric_op(lambda a, e: a == e), False),
    "numericnotequals": (_numeric_op(lambda a, e: a == e), True),
    "numericlessthan": (_numeric_op(lambda a, e: a < e), False),
    "numericlessthanequals": (_numeric_op(lambda a, e: a <= e), False),
    "numericgreaterthan": (_numeric_op(lambda a, e: a > e), False),
    "numericgreaterthanequals": (_numeric_op(lambda a, e: a >= e), False),
}


def _expected_values(raw: Any) -> list[str]:
    return [str(v).lower() if isinstance(v, bool) else str(v) for v in _as_list(raw)]


def condition_holds(operator: str, key: str, raw_expected: Any, context: dict[str, list[str]]) -> bool:
    """One operator/key pair of a Condition block against the request's context."""
    op = operator.lower()
    qualifier = None
    for prefix in ("forallvalues:", "foranyvalue:"):
        if op.startswith(prefix):
            qualifier, op = prefix[:-1], op[len(prefix) :]
    if_exists = op.endswith("ifexists") and op != "null"
    if if_exists:
        op = op[: -len("ifexists")]
    expected = _expected_values(raw_expected)
    actual = context.get(key.lower())

    if op == "null":
        absent = not actual
        return any((e.lower() == "true") == absent for e in expected)
    if op not in _OPERATORS:
        return False  # an operator this simulation does not know never matches
    match, negated = _OPERATORS[op]

    def value_ok(value: str) -> bool:
        hit = any(match(value, e) for e in expected)
        return not hit if negated else hit

    if qualifier == "forallvalues":
        return all(value_ok(v) for v in actual or [])  # true for an empty set, as in IAM
    if qualifier == "foranyvalue":
        return any(value_ok(v) for v in actual or [])
    if not actual:
        return if_exists or negated
    return all(value_ok(v) for v in actual) if negated else any(value_ok(v) for v in actual)


def _conditions_hold(statement: dict, context: dict[str, list[str]]) -> bool:
    for operator, block in (statement.get("Condition") or {}).items():
        for key, expected in (block or {}).items():
            if not condition_holds(operator, key, expected, context):
                return False
    return True


# --- principals (key policies) ----------------------------------------------------------


def principal_applies(statement: dict, principal_arns: Iterable[str]) -> bool:
    """Whether a resource-policy statement names one of `principal_arns` (or "*")."""
    principal = statement.get("Principal")
    if principal is None:
        return False
    if principal == "*":
        return True
    names = _as_list(principal.get("AWS")) if isinstance(principal, dict) else []
    wanted = set(principal_arns)
    return any(name == "*" or name in wanted for name in names)


def statement_applies(statement: dict, request: Request) -> bool:
    return (
        _action_applies(statement, request.action)
        and _resource_applies(statement, request.resource)
        and _conditions_hold(statement, request.context)
    )


def statements(document: dict) -> list[dict]:
    return [s for s in _as_list(document.get("Statement")) if isinstance(s, dict)]


def evaluate(documents: Iterable[tuple[str, Any]], request: Request) -> Result:
    """Evaluate identity policies (name, document) for `request`."""
    allowed = False
    for name, document in documents:
        for statement in statements(load_document(document)):
            if not statement_applies(statement, request):
                continue
            if str(statement.get("Effect", "")).lower() == "deny":
                return Result(Decision.EXPLICIT_DENY, name)
            if str(statement.get("Effect", "")).lower() == "allow":
                allowed = True
    return Result(Decision.ALLOWED if allowed else Decision.NOT_ALLOWED)


def evaluate_resource_policy(document: Any, request: Request, principal_arns: Iterable[str]) -> Result:
    """Evaluate a resource (key) policy for the caller named by `principal_arns`."""
    arns = list(principal_arns)
    allowed = False
    for statement in statements(load_document(document)):
        if not principal_applies(statement, arns) or not statement_applies(statement, request):
            continue
        if str(statement.get("Effect", "")).lower() == "deny":
            return Result(Decision.EXPLICIT_DENY, "key policy")
        if str(statement.get("Effect", "")).lower() == "allow":
            allowed = True
    return Result(Decision.ALLOWED if allowed else Decision.NOT_ALLOWED)


__all__ = [
    "Decision",
    "Request",
    "Result",
    "condition_holds",
    "evaluate",
    "evaluate_resource_policy",
    "glob_match",
    "load_document",
    "principal_applies",
]
