"""Who is calling: the IAM user or assumed-role session behind an access key id, and the
policies that apply to it.

Only credentials that moto's IAM or STS issued are principals here. Any other access key
id (the workshop's "testing" key included) is None: it acts as the account root.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timezone
from typing import Any


@dataclass(frozen=True)
class Principal:
    kind: str  # "user" or "assumed-role"
    arn: str  # what AWS names in "User: <arn> is not authorized ..."
    account_id: str
    partition: str
    user_name: str | None = None
    role_arn: str | None = None
    session: Any = None  # moto's AssumedRole
    active: bool = True  # an IAM user's access key can be made Inactive

    @property
    def arns_for_resource_policies(self) -> tuple[str, ...]:
        """The ARNs a key policy's Principal may name to mean this caller."""
        return (self.arn, self.role_arn) if self.role_arn else (self.arn,)

    @property
    def root_arns(self) -> tuple[str, ...]:
        """The forms a key policy uses for the account (delegation to IAM policies)."""
        return (f"arn:{self.partition}:iam::{self.account_id}:root", self.account_id)


def _iam(account_id: str, partition: str):
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.models import iam_backends

    return iam_backends[account_id][partition]


def _sts(account_id: str, partition: str):
    # deferred: moto loads with the backend, not at start-up
    from moto.sts.models import sts_backends

    return sts_backends[account_id][partition]


def _not_found() -> tuple[type[Exception], ...]:
    """moto IAM's errors for a user or role that does not exist (any other error is a bug)."""
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.exceptions import NoSuchEntity, NotFoundException

    return NoSuchEntity, NotFoundException


def identify(account_id: str, partition: str, access_key_id: str) -> Principal | None:
    """The principal that moto issued `access_key_id` to, or None (the account root)."""
    access_key = _iam(account_id, partition).access_keys.get(access_key_id)
    if access_key is None:
        return None
    if access_key.user_name:
        arn = f"arn:{partition}:iam::{account_id}:user/{access_key.user_name}"
        try:
            arn = _iam(account_id, partition).get_user(access_key.user_name).arn
        except _not_found():  # a deleted user still has a name, and no policies
            pass
        active = access_key.status == "Active"
        return Principal("user", arn, account_id, partition, user_name=access_key.user_name, active=active)
    session = _sts(account_id, partition).get_assumed_role_from_access_key(access_key_id)
    if session is None:
        return None
    return Principal("assumed-role", session.arn, account_id, partition, role_arn=session.role_arn, session=session)


def is_expired(principal: Principal) -> bool:
    if principal.session is None:
        return False
    expiration = principal.session.expiration
    if expiration.tzinfo is None:
        expiration = expiration.replace(tzinfo=timezone.utc)
    return expiration.timestamp() <= time.time()


def _managed_document(policy: Any) -> Any:
    for version in policy.versions:
        if version.is_default:
            return version.document
    return "{}"


def _documents_of(entity: Any, label: str) -> list[tuple[str, Any]]:
    docs = [(f"inline policy {name} of {label}", doc) for name, doc in entity.policies.items()]
    docs += [(policy.arn, _managed_document(policy)) for policy in entity.managed_policies.values()]
    return docs


def identity_documents(principal: Principal) -> list[tuple[str, Any]]:
    """(name, document) of every identity policy of the principal, read now, so policies
    attached or detached after the credentials were issued take effect at once."""
    iam = _iam(principal.account_id, principal.partition)
    try:
        if principal.kind == "user":
            user = iam.get_user(principal.user_name)
            docs = _documents_of(user, f"user {user.name}")
            for group in iam.get_groups_for_user(user.name):
                docs += _documents_of(group, f"group {group.name}")
            return docs
        role = iam.get_role_by_arn(principal.role_arn)
        return _documents_of(role, f"role {role.name}")
    except _not_found():  # a deleted role or user has no policies left
        return []


def session_document(principal: Principal) -> Any | None:
    """The session policy passed to AssumeRole, if any: it can only narrow permissions."""
    return (principal.session.policy or None) if principal.session is not None else None
