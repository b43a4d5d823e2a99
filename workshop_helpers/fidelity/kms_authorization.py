"""Authorization of one KMS request as KMS does it: which actions on which key ARNs the
request needs, with which condition keys, and the AccessDeniedException when refused.

A caller is allowed when the key policy allows it directly, when a grant on the key
allows it, or when the key policy delegates to the account (the default key policy does)
and its identity policies allow it; an explicit Deny anywhere wins; a session policy can
only narrow.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from . import key_refs, policy
from .exceptions import AccessDeniedException, KmsError
from .keys import find_key
from .principals import Principal, identity_documents, session_document


@dataclass(frozen=True)
class Check:
    """One permission a request needs."""

    action: str  # "kms:Decrypt"
    resource: str  # the key ARN (aliases resolved), an alias ARN, or "*"
    key: Any  # moto's Key, or None when there is no key (yet)
    context: dict[str, list[str]]
    encryption_context: dict[str, str] | None = None


def _encryption_context_keys(context: dict[str, str] | None) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    if context:
        values["kms:encryptioncontextkeys"] = list(context)
        for key, value in context.items():
            values[f"kms:encryptioncontext:{key.lower()}"] = [str(value)]
    return values


def _resource_of(backend: Any, key_id: str | None) -> tuple[str, Any]:
    """(ARN to authorize against, Key or None) for a KeyId as the caller wrote it."""
    if not key_id:
        return "*", None
    try:
        key = find_key(backend, key_id)
        return key.arn, key
    except KmsError:
        pass
    if key_id.startswith("arn:"):
        return key_id, None
    kind = "" if key_id.startswith("alias/") else "key/"
    return f"arn:aws:kms:{backend.region_name}:{backend.account_id}:{kind}{key_id}", None


def _blob_key_id(backend: Any, params: dict) -> str | None:
    """The key a blob names, as a KeyId written in `backend`'s account."""
    ref = key_refs.from_blob(params.get(key_refs.BLOB_FIELD))
    return ref.as_key_id(backend.account_id, backend.region_name) if ref is not None else None


def _check(
    backend: Any, action: str, key_id: str | None, encryption_context: Any, request_key_id: str | None = None
) -> Check:
    resource, key = _resource_of(backend, key_id)
    context = _encryption_context_keys(encryption_context if isinstance(encryption_context, dict) else None)
    context["kms:calleraccount"] = [backend.account_id]
    if key is not None:
        context.update({"kms:keyorigin": [key.origin], "kms:keyspec": [key.key_spec], "kms:keyusage": [key.key_usage]})
    alias = getattr(key_refs.parse(request_key_id), "alias", None)
    if alias:
        context["kms:requestalias"] = [alias]
    encryption_context = encryption_context if isinstance(encryption_context, dict) else None
    return Check(f"kms:{action}", resource, key, context, encryption_context)


def checks_for(backend: Any, action: str, params: dict) -> list[Check]:
    """The permissions a KMS request needs."""
    key_id = params.get("KeyId")
    context = params.get("EncryptionContext")
    if action == "Decrypt":
        key_id = key_id or _blob_key_id(backend, params)
        if key_id is None:
            return []  # not a ciphertext: Decrypt itself answers InvalidCiphertextException
        return [_check(backend, action, key_id, context, params.get("KeyId"))]
    if action == "ReEncrypt":
        source = params.get("SourceKeyId") or _blob_key_id(backend, params)
        checks = [
            _check(backend, "ReEncryptTo", params.get("DestinationKeyId"), params.get("DestinationEncryptionContext"))
        ]
        if source is not None:
            checks.insert(0, _check(backend, "ReEncryptFrom", source, params.get("SourceEncryptionContext")))
        return checks
    if action in ("CreateAlias", "UpdateAlias", "DeleteAlias"):
        alias = params.get("AliasName") or ""
        target = params.get("TargetKeyId")
        if action == "DeleteAlias":
            target = backend.get_key_id_from_alias(alias) if alias.startswith("alias/") else None
        alias_arn = f"arn:aws:kms:{backend.region_name}:{backend.account_id}:{alias}"
        checks = [Check(f"kms:{action}", alias_arn, None, {"kms:calleraccount": [backend.account_id]})]
        if target:
            checks.append(_check(backend, action, target, None))
        return checks
    return [_check(backend, action, key_id, context, key_id)]


def _denied(principal: Principal, check: Check, why: str) -> AccessDeniedException:
    return AccessDeniedException(
        f"User: {principal.arn} is not authorized to perform: {check.action} on resource: {check.resource} {why}"
    )


def _key_policy(key: Any) -> Any:
    try:
        return policy.load_document(key.policy)
    except (ValueError, TypeError):
        return {}  # not a policy at all: it allows nothing


def _lower_keys(pairs: dict | None) -> dict[str, str]:
    return {str(k).lower(): str(v) for k, v in (pairs or {}).items()}


def _grant_allows(grant: Any, principal: Principal, check: Check) -> bool:
    """A grant allows its operations to its grantee, within its context constraints (where
    the context keys are case-insensitive and the values are not, as in KMS)."""
    if grant.grantee_principal not in principal.arns_for_resource_policies:
        return False
    if check.action.split(":", 1)[1] not in (grant.operations or []):
        return False
    constraints = grant.constraints or {}
    context = _lower_keys(check.encryption_context)
    if "EncryptionContextEquals" in constraints:
        return context == _lower_keys(constraints["EncryptionContextEquals"])
    subset = _lower_keys(constraints.get("EncryptionContextSubset"))
    return all(context.get(k) == v for k, v in subset.items())


def authorize(principal: Principal, check: Check) -> None:
    """Raise AccessDeniedException unless `principal` may do `check`."""
    context = dict(check.context)
    context["kms:calleraccount"] = [principal.account_id]  # the caller's, also on another account's key
    context["aws:principalarn"] = [principal.role_arn or principal.arn]
    context["aws:principalaccount"] = [principal.account_id]
    if principal.user_name:
        context["aws:username"] = [principal.user_name]
    request = policy.Request(check.action, check.resource, context)

    identity = policy.evaluate(identity_documents(principal), request)
    if identity.decision is policy.Decision.EXPLICIT_DENY:
        source = identity.deny_source or ""
        suffix = f": {source}" if source.startswith("arn:") else ""
        raise _denied(principal, check, f"with an explicit deny in an identity-based policy{suffix}")

    session = session_document(principal)
    if session is not None:
        narrowed = policy.evaluate([("session policy", session)], request)
        if narrowed.decision is policy.Decision.EXPLICIT_DENY:
            raise _denied(principal, check, "with an explicit deny in a session policy")
        if narrowed.decision is not policy.Decision.ALLOWED:
            raise _denied(principal, check, f"because no session policy allows the {check.action} action")

    if check.key is None:  # no key policy involved: identity policies decide
        if identity.decision is not policy.Decision.ALLOWED:
            raise _denied(principal, check, f"because no identity-based policy allows the {check.action} action")
        return

    key_policy = _key_policy(check.key)
    direct = policy.evaluate_resource_policy(key_policy, request, principal.arns_for_resource_policies)
    if direct.decision is policy.Decision.EXPLICIT_DENY:
        raise _denied(principal, check, "with an explicit deny in a resource-based policy")
    if direct.decision is policy.Decision.ALLOWED:
        return
    if any(_grant_allows(grant, principal, check) for grant in check.key.grants.values()):
        return
    delegated = policy.evaluate_resource_policy(key_policy, request, principal.root_arns)
    if delegated.decision is not policy.Decision.ALLOWED:
        raise _denied(principal, check, f"because no resource-based policy allows the {check.action} action")
    if identity.decision is not policy.Decision.ALLOWED:
        raise _denied(principal, check, f"because no identity-based policy allows the {check.action} action")


def authorize_request(response: Any, principal: Principal) -> None:
    """Authorize the KMS request `response` (moto's KmsResponse) is about to serve."""
    try:
        params = json.loads(response.body or "{}")
    except ValueError:
        params = {}
    for check in checks_for(response.kms_backend, response._get_action(), params if isinstance(params, dict) else {}):
        authorize(principal, check)
