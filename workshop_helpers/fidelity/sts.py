"""STS as on AWS: who may assume a role, and in which account its session lives.

moto's AssumeRole issues credentials for any role ARN, even in another account or for a
role that does not exist; it reads the trust policy only from the caller's own account (so
a role of another account is never checked); and its AssumeRoleWithWebIdentity and
AssumeRoleWithSAML issue credentials for any token or assertion. On a class endpoint, one
account per participant, that lets anyone act in anyone's account. Here:

- AssumeRole reads the role in its own account. The role's trust policy must name the
  caller (its ARN; for a role session also its role's ARN) or the caller's account (its
  root ARN or the account id), and the caller's own identity policies must allow
  sts:AssumeRole on the role, except where the trust policy names the caller itself in
  the role's own account (AWS's rule for a resource policy in the same account). An
  explicit Deny in either wins. A key moto did not issue acts as its account's root
  (iam.py): allowed in its own account, as everywhere there, and for another account's
  role only when the trust policy names its account. Refused, and for a role that does
  not exist, AWS's AccessDenied (403) "User: <caller> is not authorized to perform:
  sts:AssumeRole on resource: <role>", which does not reveal whether the role exists.
  Only then does moto issue the session, in the role's account (its key in that
  account's IAM, the session in that account's STS), so requests signed with it run
  there, as the role.
- AssumeRoleWithWebIdentity and AssumeRoleWithSAML are never granted: AWS verifies the
  token or assertion with an identity provider configured in the role's account, and the
  simulation verifies none. They answer InvalidIdentityToken (400), whatever signed the
  request (on AWS they are unsigned calls): "No OpenIDConnect provider found in your
  account for <issuer>" when the role's account has no such provider, as AWS words it;
  for SAML, the code AWS gives an assertion it cannot validate, in the simulation's words.

moto's generic check of the caller's identity policies (IAMRequestBase.check_action_permitted)
stands aside for these three actions, so the decision and its wording are made here only.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from . import credentials, policy, principals

ASSUME_ROLE = "sts:AssumeRole"
# The actions decided here, not by moto's identity-policy check before the action runs.
DECIDED_HERE = frozenset({ASSUME_ROLE, "sts:AssumeRoleWithWebIdentity", "sts:AssumeRoleWithSAML"})
_ROLE_ARN = re.compile(r"^arn:(aws[a-z-]*):iam::(\d{12}):role/.+$")


def _access_denied(caller_arn: str, role_arn: str):
    # deferred: moto loads with the backend, not at start-up
    from moto.core.exceptions import _RESTError

    error = _RESTError(
        "AccessDenied", f"User: {caller_arn} is not authorized to perform: {ASSUME_ROLE} on resource: {role_arn}"
    )
    error.code = 403
    return error


def _invalid_identity_token(message: str):
    # deferred: moto loads with the backend, not at start-up
    from moto.core.exceptions import _RESTError

    return _RESTError("InvalidIdentityToken", message)  # HTTP 400, as STS sends it


def _iam_of(account_id: str, partition: str) -> Any | None:
    """The IAM backend of an account moto already has, else None (an account nobody has
    used has no roles, and looking it up must not create it)."""
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.models import iam_backends

    regions = dict.get(iam_backends, account_id)
    return dict.get(regions, partition) if regions is not None else None


def role_account(role_arn: str | None) -> str | None:
    """The account of the role `role_arn` names, when moto has that account (its IAM), else
    None: an account nobody has used has no roles, so assuming one fails there and saves
    nothing, and naming it must not make the account layer keep an empty account."""
    match = _ROLE_ARN.match(role_arn or "")
    if not match or _iam_of(match.group(2), match.group(1)) is None:
        return None
    return match.group(2)


def find_role(role_arn: str | None) -> Any | None:
    """The role `role_arn` names, read in the role's own account; None if there is none."""
    match = _ROLE_ARN.match(role_arn or "")
    if not match:
        return None
    iam = _iam_of(match.group(2), match.group(1))
    if iam is None:
        return None
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.exceptions import NotFoundException

    try:
        return iam.get_role_by_arn(role_arn)
    except NotFoundException:
        return None


class Caller:
    """Who asks: an IAM user or role session moto issued the key to, or an account root
    (a key moto did not issue, or an unsigned request: the workshop's "testing" key)."""

    def __init__(self, principal: principals.Principal | None, account_id: str, partition: str):
        self.principal = principal
        self.account_id = principal.account_id if principal else account_id
        self.partition = partition
        self.root_arns = (f"arn:{partition}:iam::{self.account_id}:root", self.account_id)
        self.arn = principal.arn if principal else self.root_arns[0]
        self.own_arns = principal.arns_for_resource_policies if principal else self.root_arns


def caller_of(response: Any) -> Caller:
    """The caller of moto's STS request `response`: on a class endpoint the signer the gate
    verified (credentials.verified(); unsigned, no one: the account's root), elsewhere the
    key of its Authorization header (its signature was checked by iam.py), and without
    one the account's root."""
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.models import get_account_id_from

    claim = credentials.verified()
    if claim is not None:
        access_key = claim.access_key if claim.signed else None
    else:
        access_key = response.get_access_key() if "Authorization" in response.headers else None
    if not access_key:
        return Caller(None, response.current_account, response.partition)
    found = principals.identify(get_account_id_from(access_key), response.partition, access_key)
    return Caller(found, response.current_account, response.partition)


def _context(caller: Caller, params: dict[str, Any]) -> dict[str, list[str]]:
    found = caller.principal
    principal_arn = (found.role_arn or found.arn) if found is not None else caller.arn
    context = {"aws:principalaccount": [caller.account_id], "aws:principalarn": [principal_arn]}
    if found is not None and found.user_name:
        context["aws:username"] = [found.user_name]
    for name, key in (("ExternalId", "sts:externalid"), ("RoleSessionName", "sts:rolesessionname")):
        if params.get(name):
            context[key] = [str(params[name])]
    return context


def _identity_allows(caller: Caller, request: policy.Request) -> policy.Decision:
    """The caller's own side: its identity policies, narrowed by its session policy."""
    if caller.principal is None:
        return policy.Decision.ALLOWED  # an account root is not limited by IAM policies
    decision = policy.evaluate(principals.identity_documents(caller.principal), request).decision
    session = principals.session_document(caller.principal)
    if session is not None and decision is not policy.Decision.EXPLICIT_DENY:
        narrowed = policy.evaluate([("session policy", session)], request).decision
        if narrowed is not policy.Decision.ALLOWED:
            return narrowed
    return decision


def may_assume(caller: Caller, role: Any | None, role_arn: str, params: dict[str, Any] | None = None) -> bool:
    """Whether `caller` may assume `role` (None: no such role), by AWS's rules above."""
    if role is None:
        return False
    same_account = role_arn.split(":")[4] == caller.account_id
    if caller.principal is None and same_account:
        return True  # a key moto did not issue is its account's root, allowed everything there (iam.py)
    request = policy.Request(ASSUME_ROLE, role_arn, _context(caller, params or {}))
    trust = role.assume_role_policy_document
    try:
        named = policy.evaluate_resource_policy(trust, request, caller.own_arns).decision
        delegated = policy.evaluate_resource_policy(trust, request, caller.root_arns).decision
    except (ValueError, TypeError, AttributeError):
        return False  # a trust policy that is not a policy trusts nobody
    if policy.Decision.EXPLICIT_DENY in (named, delegated):
        return False
    identity = _identity_allows(caller, request)
    if identity is policy.Decision.EXPLICIT_DENY:
        return False
    if named is policy.Decision.ALLOWED and same_account:
        return True
    return (named is policy.Decision.ALLOWED or delegated is policy.Decision.ALLOWED) and (
        identity is policy.Decision.ALLOWED
    )


def authorize_assume_role(response: Any) -> None:
    """Raise AccessDenied unless the caller of moto's AssumeRole request may assume the role."""
    role_arn = response._get_param("RoleArn") or ""
    caller = caller_of(response)
    params = {name: response._get_param(name) for name in ("ExternalId", "RoleSessionName")}
    if not may_assume(caller, find_role(role_arn), role_arn, params):
        raise _access_denied(caller.arn, role_arn)


def _issuer(token: str | None) -> str | None:
    """The `iss` claim of a JWT, read without verifying it (only to name the provider)."""
    parts = (token or "").split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return None
    issuer = claims.get("iss") if isinstance(claims, dict) else None
    return issuer if isinstance(issuer, str) and issuer else None


def refuse_web_identity(response: Any) -> None:
    """AssumeRoleWithWebIdentity: always InvalidIdentityToken (no token can be verified here)."""
    issuer = _issuer(response._get_param("WebIdentityToken"))
    if issuer is None:
        raise _invalid_identity_token(
            "The web identity token is not a JSON Web Token with an issuer (iss) claim: "
            "pass the ID token your identity provider issued."
        )
    match = _ROLE_ARN.match(response._get_param("RoleArn") or "")
    iam = _iam_of(match.group(2), match.group(1)) if match else None
    provider = re.sub(r"^https://", "", issuer).rstrip("/")
    configured = iam is not None and any(
        arn.endswith(f":oidc-provider/{provider}") for arn in iam.list_open_id_connect_providers()
    )
    if not configured:
        raise _invalid_identity_token(f"No OpenIDConnect provider found in your account for {issuer}")
    raise _invalid_identity_token(
        f"The workshop's simulated STS cannot verify tokens from {issuer} (it fetches no provider keys): "
        "use AssumeRole instead."
    )


def refuse_saml(response: Any) -> None:
    """AssumeRoleWithSAML: always InvalidIdentityToken (no assertion can be verified here)."""
    provider_arn = response._get_param("PrincipalArn") or ""
    match = _ROLE_ARN.match(response._get_param("RoleArn") or "")
    iam = _iam_of(match.group(2), match.group(1)) if match else None
    configured = iam is not None and any(p.arn == provider_arn for p in iam.list_saml_providers())
    if not configured:
        raise _invalid_identity_token(f"No SAML provider found in your account for {provider_arn}")
    raise _invalid_identity_token(
        "The workshop's simulated STS cannot verify SAML assertions (it checks no signature): use AssumeRole instead."
    )


def _checked_assume_role(original):
    def assume_role(self):
        authorize_assume_role(self)
        return original(self)

    return assume_role


def _refusing(refuse):
    def action(self):
        refuse(self)

    return action


def _leaves_sts_decisions_here(original):
    """moto's identity-policy check, except for the actions this module decides."""

    def check_action_permitted(self, resource: str) -> None:
        if self._action in DECIDED_HERE:
            return
        original(self, resource)

    return check_action_permitted


def install() -> None:
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.access_control import IAMRequestBase
    from moto.sts.responses import TokenResponse  # deferred: as above

    TokenResponse.assume_role = _checked_assume_role(TokenResponse.assume_role)  # type: ignore[method-assign]
    TokenResponse.assume_role_with_web_identity = _refusing(refuse_web_identity)  # type: ignore[method-assign]
    TokenResponse.assume_role_with_saml = _refusing(refuse_saml)  # type: ignore[method-assign]
    IAMRequestBase.check_action_permitted = _leaves_sts_decisions_here(  # type: ignore[method-assign]
        IAMRequestBase.check_action_permitted
    )
