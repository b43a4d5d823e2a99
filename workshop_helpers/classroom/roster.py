"""The participants of a class: an account each, an administrator IAM user in it, and the
access key the endpoint issued to that user.

Everything lives in moto's IAM backends, which the account state (workshop_helpers.account)
already persists: a participant is the IAM user tagged `kms-workshop-participant=<name>`
in its own account, so a restarted endpoint finds its participants, their accounts and
their keys again and issues nothing new. moto runs a request in the account whose IAM
issued its access key (moto.iam.models.get_account_id_from), which is what makes one
participant's requests run in their own account.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from ..account.snapshot import live_backends
from ..errors import ClassError

PARTICIPANT_TAG = "kms-workshop-participant"
USER_PATH = "/"  # no path: moto names a user's ARN without it when it checks trust policies
ADMIN_POLICY_NAME = "kms-workshop-administrator"
ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
# Simulated account ids: a fixed prefix no real account is likely to be confused with,
# never moto's default account (123456789012, the single-user endpoint's account).
ACCOUNT_PREFIX = "100000"
DEFAULT_ACCOUNT = "123456789012"
PARTITION = "aws"
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")


class RosterError(ClassError):
    """A participant name or roster operation that cannot be done (one line)."""


@dataclass(frozen=True)
class Participant:
    name: str
    account_id: str
    user_arn: str
    access_key_id: str
    secret_access_key: str = field(repr=False)


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise RosterError(
            f"participant name {name!r}: use 1 to 32 lower-case letters, digits or '-', starting with a letter"
        )
    return name


def parse_names(text: str) -> list[str]:
    names = [part.strip() for part in (text or "").split(",") if part.strip()]
    for name in names:
        check_name(name)
    if len(set(names)) != len(names):
        raise RosterError("a participant is named twice in --participants")
    return names


def _iam_accounts() -> dict:
    """{account id: IAM backend} of the accounts moto has created, without creating any."""
    return {account: backend for (account, where), backend in live_backends("iam").items() if where == PARTITION}


def _participant_user(backend):
    """The one user `ensure` makes in an account: named after the participant, tagged."""
    for user in list(backend.users.values()):
        if backend.tagger.get_tag_dict_for_resource(user.arn).get(PARTICIPANT_TAG) == user.name:
            return user
    return None


def _as_participant(account_id: str, user) -> Participant | None:
    keys = [k for k in user.access_keys if k.status == "Active"]
    if not keys:
        return None
    key = keys[0]
    return Participant(user.name, account_id, user.arn, key.access_key_id, key.secret_access_key)


def participants() -> list[Participant]:
    """Every participant moto's IAM knows, by name."""
    found = []
    for account_id, backend in _iam_accounts().items():
        user = _participant_user(backend)
        if user is not None:
            participant = _as_participant(account_id, user)
            if participant is not None:
                found.append(participant)
    return sorted(found, key=lambda p: p.name)


def find(name: str) -> Participant | None:
    return next((p for p in participants() if p.name == name), None)


def account_id_for(name: str) -> str:
    """A distinct account id for `name`: ACCOUNT_PREFIX and six digits from the name's hash,
    the next free one if another participant already has it (so stable for a given class)."""
    taken = {account_id for account_id, backend in _iam_accounts().items() if backend.users}
    start = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") % 1_000_000
    for step in range(1_000_000):
        candidate = f"{ACCOUNT_PREFIX}{(start + step) % 1_000_000:06d}"
        if candidate not in taken and candidate != DEFAULT_ACCOUNT:
            return candidate
    raise RosterError("no simulated account id left")  # pragma: no cover - a million participants


def ensure(name: str, region: str = "us-east-1") -> tuple[Participant, bool]:
    """The participant `name`, created (account, administrator user, access key) if new:
    (participant, created). An existing participant keeps their account and key."""
    check_name(name)
    existing = find(name)
    if existing is not None:
        return existing, False
    # deferred: moto's IAM models load with the backend, not on import
    from moto.iam.models import iam_backends

    account_id = account_id_for(name)
    iam = iam_backends[account_id][PARTITION]
    user = iam.create_user(
        region_name=region, user_name=name, path=USER_PATH, tags=[{"Key": PARTICIPANT_TAG, "Value": name}]
    )
    iam.put_user_policy(name, ADMIN_POLICY_NAME, ADMIN_POLICY)
    iam.create_access_key(name)
    participant = _as_participant(account_id, user)
    assert participant is not None
    return participant, True


def issued(access_key_id: str) -> str | None:
    """The account whose IAM issued `access_key_id` (an IAM user's key or an STS session's),
    or None: a key this endpoint never issued."""
    for account_id, backend in _iam_accounts().items():
        if access_key_id in backend.access_keys:
            return account_id
    return None
