"""IAM policy evaluation (fidelity/policy.py) without moto: the operators and the
qualifiers the KMS condition keys are used with."""

from __future__ import annotations

import pytest

from workshop_helpers.fidelity.policy import Decision, Request, condition_holds, evaluate, glob_match

CONTEXT = {"kms:encryptioncontext:project": ["workshop"], "kms:encryptioncontextkeys": ["project", "team"]}


@pytest.mark.parametrize(
    "operator, key, expected, holds",
    [
        ("StringEquals", "kms:EncryptionContext:project", "workshop", True),
        ("StringEquals", "kms:EncryptionContext:Project", "workshop", True),  # key names ignore case
        ("StringEquals", "kms:EncryptionContext:project", "Workshop", False),  # values do not
        ("StringEquals", "kms:EncryptionContext:project", ["other", "workshop"], True),
        ("StringEquals", "kms:EncryptionContext:absent", "x", False),
        ("StringNotEquals", "kms:EncryptionContext:project", "other", True),
        ("StringNotEquals", "kms:EncryptionContext:absent", "x", True),
        ("StringEqualsIfExists", "kms:EncryptionContext:absent", "x", True),
        ("StringLike", "kms:EncryptionContext:project", "work*", True),
        ("StringLike", "kms:EncryptionContext:project", "w?rkshop", True),
        ("StringNotLike", "kms:EncryptionContext:project", "work*", False),
        ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["project", "team"], True),
        ("ForAllValues:StringEquals", "kms:EncryptionContextKeys", ["project"], False),
        ("ForAllValues:StringEquals", "kms:EncryptionContextKeys:absent", ["project"], True),  # empty set
        ("ForAllValues:StringLike", "kms:EncryptionContextKeys", ["p*", "t*"], True),
        ("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", ["team", "nobody"], True),
        ("ForAnyValue:StringEquals", "kms:EncryptionContextKeys", ["nobody"], False),
        ("ForAnyValue:StringEquals", "kms:EncryptionContextKeys:absent", ["x"], False),
        ("Null", "kms:EncryptionContextKeys", "false", True),
        ("Null", "kms:EncryptionContext:absent", "true", True),
        ("Null", "kms:EncryptionContext:project", True, False),
        ("DateGreaterThan", "aws:CurrentTime", "2020-01-01T00:00:00Z", False),  # unknown here: no match
    ],
)
def test_condition_operators(operator, key, expected, holds):
    assert condition_holds(operator, key, expected, CONTEXT) is holds


def test_globs_are_iam_globs_not_regular_expressions():
    assert glob_match("arn:aws:kms:*:123456789012:key/*", "arn:aws:kms:eu-west-1:123456789012:key/abc")
    assert not glob_match("kms:Encrypt.", "kms:EncryptX")
    assert glob_match("kms:encrypt", "kms:Encrypt", ignore_case=True)


def test_explicit_deny_wins_and_names_the_policy():
    docs = [
        ("allow-all", {"Statement": {"Effect": "Allow", "Action": "*", "Resource": "*"}}),
        (
            "arn:aws:iam::123456789012:policy/deny",
            '{"Statement": [{"Effect": "Deny", "Action": "kms:Decrypt", "Resource": "*"}]}',
        ),
    ]
    result = evaluate(docs, Request("kms:Decrypt", "arn:aws:kms:eu-west-1:123456789012:key/k"))
    assert (result.decision, result.deny_source) == (Decision.EXPLICIT_DENY, "arn:aws:iam::123456789012:policy/deny")
    assert evaluate(docs, Request("kms:Encrypt", "*")).decision is Decision.ALLOWED
    assert evaluate([], Request("kms:Encrypt", "*")).decision is Decision.NOT_ALLOWED


def test_not_resource():
    doc = {"Statement": [{"Effect": "Allow", "Action": "kms:*", "NotResource": "arn:aws:kms:*:*:key/secret"}]}
    assert evaluate([("p", doc)], Request("kms:Encrypt", "arn:aws:kms:r:1:key/other")).decision is Decision.ALLOWED
    assert evaluate([("p", doc)], Request("kms:Encrypt", "arn:aws:kms:r:1:key/secret")).decision is Decision.NOT_ALLOWED
