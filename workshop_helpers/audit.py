"""A CloudTrail-shaped record of every KMS call this process makes after `connect()`.

Real AWS records each KMS call in CloudTrail, minutes later. The workshop wants the same
view at once and on every backend, so it records the calls on the client side: botocore
hooks (registered through `hooks.register`, the project's one hook point) see
every KMS call of every client made after `connect()`, whoever made it: a notebook cell,
a helper, or a library that builds its own clients (the AWS Encryption SDK does).

    provide-client-params.kms   the parameters, turned at once into CloudTrail's
                                `requestParameters` (blobs and sensitive members dropped)
    before-call.kms             the caller's user agent and access key id
    after-call.kms              the result: `responseElements` or `errorCode`/`errorMessage`
    after-call-error.kms        a call that never got an answer (connection errors)

A record holds what CloudTrail would log, no more: never a plaintext, a ciphertext blob,
a data key, an import token or key material (blob members and members the API model marks
sensitive never reach a record, and grant tokens are dropped too). Records are kept in a
bounded deque (the last `MAX_RECORDS`), under a lock.

Calls that the workshop's simulations make on behalf of an AWS service (ebs.py acting as
EC2/EBS, s3_sse.py acting as S3) run inside `acting_as(...)`: their records carry
``"simulated": True`` and a user agent such as ``"ec2.amazonaws.com (simulated)"``.

On the aws backend this trail shows only what *this process* called; calls that AWS services
make for you (EBS, S3) appear only in the real CloudTrail, typically some minutes later.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import datetime as _dt
import os
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import hooks
from .errors import one_line

MAX_RECORDS = 10_000
EVENT_SOURCE = "kms.amazonaws.com"
EVENT_VERSION = "1.08"

# Where a pending call's data waits between the hooks of one API call (botocore's
# per-call request context dict, so concurrent calls never mix).
_CONTEXT_KEY = "kms_workshop_audit"

# Members CloudTrail does not log, beyond blobs and members marked sensitive.
_DROPPED_MEMBERS = frozenset({"GrantTokens", "GrantToken"})

# Operations whose CloudTrail record has "responseElements": null.
_NULL_RESPONSE_PREFIXES = ("Describe", "List", "Get")
_CRYPTO_OPERATIONS = frozenset(
    {
        "Encrypt",
        "Decrypt",
        "ReEncrypt",
        "GenerateDataKey",
        "GenerateDataKeyWithoutPlaintext",
        "GenerateDataKeyPair",
        "GenerateDataKeyPairWithoutPlaintext",
        "GenerateRandom",
        "GenerateMac",
        "VerifyMac",
        "Sign",
        "Verify",
        "DeriveSharedSecret",
    }
)

_lock = threading.RLock()
_records: deque = deque(maxlen=MAX_RECORDS)
_seq = 0
_started = False
_account_id = ""
_trail_account = None  # the account on disk the trail is kept with (moto backend), else this process
# access key id -> principal ARN, learnt from connect() and from STS/IAM answers
_identities: dict[str, str] = {}
# On moto and the local endpoint, STS answers with the same principal for any access key it
# did not issue (moto's mock even swaps in its own fake key for clients made from the
# environment): such keys are that principal. On aws an unknown key stays "Unknown".
_default_arn: str | None = None
_listeners: list[Callable[[dict], None]] = []
_hook_failures = 0  # a hook must never break the caller's call: failures are counted


@dataclass(frozen=True)
class _Acting:
    service: str  # "ec2.amazonaws.com"
    identity: dict | None = None  # a userIdentity to log instead of the caller's
    extra: dict = field(default_factory=dict)


_acting: contextvars.ContextVar[_Acting | None] = contextvars.ContextVar("kms_workshop_acting", default=None)


# --- starting ---------------------------------------------------------------------------


def start(ws=None) -> None:
    """Start recording (idempotent). `connect()` calls it with the new Workshop; the trail
    is kept with the Workshop's account on disk when it has one (moto backend)."""
    global _started, _account_id, _trail_account
    with _lock:
        if ws is not None:
            _account_id = ws.account_id or _account_id
            _trail_account = getattr(ws, "account", None)
            _learn_session_identity(ws)
        if _started:
            return
        hooks.install()
        hooks.register("provide-client-params.kms", _on_params)
        hooks.register("before-call.kms", _on_before_call)
        hooks.register("after-call.kms", _on_after_call)
        hooks.register("after-call-error.kms", _on_after_call_error)
        hooks.register("after-call.sts", _on_sts_answer)
        hooks.register("after-call.iam", _on_iam_answer)
        _started = True


def started() -> bool:
    return _started


def _learn_session_identity(ws) -> None:
    global _default_arn
    if ws.is_simulated and ws.identity_arn:
        _default_arn = ws.identity_arn
    try:
        creds = ws.session.get_credentials()
        key = creds.access_key if creds is not None else None
    except Exception:  # noqa: BLE001 - no credentials yet: nothing to learn
        key = None
    if key and ws.identity_arn:
        _identities[key] = ws.identity_arn


# --- acting on behalf of a service ------------------------------------------------------


@contextlib.contextmanager
def acting_as(service: str, *, identity: dict | None = None, **extra) -> Iterator[None]:
    """Label the KMS calls made inside this block as made by `service`, simulated.

    `identity` replaces the caller's userIdentity in the records (EC2's infrastructure role
    for the Decrypt of an attached volume, for example); otherwise the caller's identity is
    logged with ``invokedBy`` set to `service`, as CloudTrail does for forward access.
    """
    token = _acting.set(_Acting(service, identity, dict(extra)))
    try:
        yield
    finally:
        _acting.reset(token)


def simulating() -> str | None:
    """The service being simulated in this thread/context, if any."""
    acting = _acting.get()
    return acting.service if acting else None


# --- reading ----------------------------------------------------------------------------


def _account():
    """The account on disk whose trail this is (moto backend), or None: this process's own."""
    return _trail_account


def _origin() -> str:
    """Which notebook (or program) made a call: JupyterLab tells a kernel its notebook."""
    session = os.environ.get("JPY_SESSION_NAME", "").strip()
    name = os.path.basename(session) if session else os.path.basename(sys.argv[0] or "python") or "python"
    return f"{name} (pid {os.getpid()})"


ORIGIN = _origin()


def mark() -> int:
    """A point in the trail: `records(since=mark())` later gives only what came after."""
    stored = _account()
    if stored is not None:
        return stored.store.last_trail_seq()
    with _lock:
        return _seq


def _items() -> list[tuple[int, float, dict]]:
    stored = _account()
    if stored is None:
        with _lock:
            return [(seq, t, dict(record, origin=ORIGIN)) for seq, t, record in _records]
    return [(seq, row["t"], dict(row["record"], origin=origin)) for seq, origin, row in stored.trail()]


def records(
    *,
    event_name: str | Iterable[str] | None = None,
    since: int | _dt.datetime | str | None = None,
    simulated: bool | None = None,
    errors_only: bool = False,
    last: int | None = None,
    here: bool = False,
) -> list[dict]:
    """Copies of the recorded events, oldest first, filtered.

    On the moto backend with its account on disk, the trail is the account's, as
    CloudTrail's event history is: every call any notebook, kernel or command made. Each
    record's ``origin`` names who made it ("04-decrypt.ipynb (pid 4242)"); `here=True`
    keeps only this process's calls. Elsewhere the trail holds this process's calls.

    `since` is a `mark()` (an int), a datetime or an ISO time: only later events are kept.
    `event_name` is one name or several. `simulated` True/False keeps only simulated or only
    real calls. `last` keeps the last N after filtering.
    """
    names = {event_name} if isinstance(event_name, str) else set(event_name) if event_name else None
    since_seq, since_time = _since(since)
    out = []
    for seq, t, record in _items():
        if here and record.get("origin") != ORIGIN:
            continue
        if since_seq is not None and seq <= since_seq:
            continue
        if since_time is not None and t <= since_time:
            continue
        if names is not None and record["eventName"] not in names:
            continue
        if simulated is not None and bool(record.get("simulated")) != simulated:
            continue
        if errors_only and "errorCode" not in record:
            continue
        out.append(record)
    if last is not None:
        out = out[-last:] if last > 0 else []
    return copy.deepcopy(out)


def _since(since) -> tuple[int | None, float | None]:
    if since is None:
        return None, None
    if isinstance(since, bool):
        raise TypeError("since= takes a mark (int), a datetime or an ISO time string")
    if isinstance(since, int):
        return since, None
    if isinstance(since, str):
        text = since.strip().replace("Z", "+00:00")
        since = _dt.datetime.fromisoformat(text)
    if isinstance(since, _dt.datetime):
        if since.tzinfo is None:
            since = since.replace(tzinfo=_dt.timezone.utc)
        return None, since.timestamp()
    raise TypeError("since= takes a mark (int), a datetime or an ISO time string")


def subscribe(listener: Callable[[dict], None]) -> Callable[[], None]:
    """Call `listener(record)` for every new record (from the calling thread); returns an
    unsubscribe function. Listener errors are swallowed: they never break a KMS call."""
    with _lock:
        _listeners.append(listener)

    def unsubscribe() -> None:
        with _lock:
            if listener in _listeners:
                _listeners.remove(listener)

    return unsubscribe


def hook_failures() -> int:
    """How many times a hook failed internally (tests assert zero)."""
    return _hook_failures


# --- the hooks --------------------------------------------------------------------------


def _guard(fn):
    def wrapper(**kwargs):
        global _hook_failures
        try:
            fn(**kwargs)
        except Exception:  # noqa: BLE001 - never break the learner's call
            _hook_failures += 1
        return None

    wrapper.__name__ = fn.__name__
    wrapper.__wrapped__ = fn
    return wrapper


@_guard
def _on_params(*, params=None, model=None, context=None, **_):
    if context is None or model is None:
        return
    context[_CONTEXT_KEY] = {
        "t0": time.time(),
        "operation": model.name,
        "requestParameters": _sanitize(params or {}, model.input_shape),
        "acting": _acting.get(),
        "region": context.get("client_region"),
        "keyIdParam": (params or {}).get("KeyId"),
    }


@_guard
def _on_before_call(*, params=None, request_signer=None, context=None, **_):
    pending = (context or {}).get(_CONTEXT_KEY)
    if pending is None:
        return
    headers = (params or {}).get("headers") or {}
    agent = headers.get("User-Agent")
    if isinstance(agent, bytes):
        agent = agent.decode("latin-1")
    pending["userAgent"] = agent or ""
    pending["accessKeyId"] = _access_key_of(request_signer)


@_guard
def _on_after_call(*, http_response=None, parsed=None, model=None, context=None, **_):
    pending = (context or {}).pop(_CONTEXT_KEY, None)
    if pending is None:
        return
    parsed = parsed or {}
    status = http_response.status_code
    error = None
    if status >= 300:
        info = parsed.get("Error", {}) or {}
        code = (context or {}).get("error_code_override") or info.get("Code") or str(status)
        error = (str(code), str(info.get("Message") or ""))
    request_id = (parsed.get("ResponseMetadata") or {}).get("RequestId")
    _append(pending, parsed if error is None else None, model, error, request_id)


@_guard
def _on_after_call_error(*, exception=None, context=None, **_):
    pending = (context or {}).pop(_CONTEXT_KEY, None)
    if pending is None:
        return
    _append(pending, None, None, (type(exception).__name__, str(exception)), None)


@_guard
def _on_sts_answer(*, parsed=None, model=None, http_response=None, **_):
    if http_response.status_code >= 300 or not parsed or model is None:
        return
    if model.name in ("AssumeRole", "AssumeRoleWithWebIdentity", "AssumeRoleWithSAML"):
        creds, user = parsed.get("Credentials") or {}, parsed.get("AssumedRoleUser") or {}
        if creds.get("AccessKeyId") and user.get("Arn"):
            with _lock:
                _identities[creds["AccessKeyId"]] = user["Arn"]


@_guard
def _on_iam_answer(*, parsed=None, model=None, http_response=None, **_):
    if http_response.status_code >= 300 or not parsed or model is None:
        return
    if model.name == "CreateAccessKey" and _account_id:
        key = parsed.get("AccessKey") or {}
        if key.get("AccessKeyId") and key.get("UserName"):
            with _lock:
                _identities[key["AccessKeyId"]] = f"arn:aws:iam::{_account_id}:user/{key['UserName']}"


def _access_key_of(request_signer) -> str | None:
    creds = request_signer._credentials
    if creds is None:
        return None
    try:
        return creds.get_frozen_credentials().access_key
    except Exception:  # noqa: BLE001
        return getattr(creds, "access_key", None)


# --- building a record ------------------------------------------------------------------


def _append(pending: dict, parsed: dict | None, model, error: tuple[str, str] | None, request_id) -> None:
    global _seq
    record = _build(pending, parsed, model, error, request_id)
    stored = _account()
    if stored is not None:
        stored.append_trail(ORIGIN, {"t": pending["t0"], "record": record})
    with _lock:
        _seq += 1
        if stored is None:
            _records.append((_seq, pending["t0"], record))
        listeners = list(_listeners)
    record = dict(record, origin=ORIGIN)
    for listener in listeners:
        try:
            listener(copy.deepcopy(record))
        except Exception:  # noqa: BLE001 - a display must not break a KMS call
            pass


def _build(pending, parsed, model, error, request_id) -> dict:
    operation = pending["operation"]
    acting: _Acting | None = pending.get("acting")
    account = _account_id
    identity = _identity(pending.get("accessKeyId"))
    if acting is not None:
        if acting.identity is not None:
            identity = dict(acting.identity)
        else:
            identity["invokedBy"] = acting.service
    record: dict[str, Any] = {
        "eventVersion": EVENT_VERSION,
        "userIdentity": identity,
        "eventTime": _iso(pending["t0"]),
        "eventSource": EVENT_SOURCE,
        "eventName": operation,
        "awsRegion": pending.get("region") or "",
    }
    if acting is not None:
        record["sourceIPAddress"] = acting.service
        record["userAgent"] = f"{acting.service} (simulated)"
    else:
        record["userAgent"] = pending.get("userAgent", "")
    record["requestParameters"] = pending["requestParameters"] or None
    if error is None:
        record["responseElements"] = _response_elements(operation, parsed or {}, model, pending)
    else:
        record["errorCode"] = _short_code(error[0])
        record["errorMessage"] = one_line(error[1], 500)
        record["responseElements"] = None
    record["requestID"] = request_id or str(uuid.uuid4())
    record["eventID"] = str(uuid.uuid4())
    record["readOnly"] = _read_only(operation)
    key_arn = _key_arn(parsed if error is None else None, pending)
    record["resources"] = (
        [{"accountId": key_arn.split(":")[4], "type": "AWS::KMS::Key", "ARN": key_arn}] if key_arn else []
    )
    record["eventType"] = "AwsApiCall"
    record["managementEvent"] = True
    record["recipientAccountId"] = account or (key_arn.split(":")[4] if key_arn else "")
    record["eventCategory"] = "Management"
    record["simulated"] = acting is not None
    if acting is not None and acting.extra:
        record["simulation"] = dict(acting.extra)
    return record


def _iso(t: float) -> str:
    return _dt.datetime.fromtimestamp(t, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short_code(code: str) -> str:
    # "com.amazonaws.kms#NotFoundException" -> "NotFoundException"
    return code.rsplit("#", 1)[-1]


def _read_only(operation: str) -> bool:
    """Cryptographic operations and Describe/List/Get: readOnly, and no responseElements."""
    return operation in _CRYPTO_OPERATIONS or operation.startswith(_NULL_RESPONSE_PREFIXES)


def _response_elements(operation: str, parsed: dict, model, pending: dict):
    if _read_only(operation):
        return None
    shape = model.output_shape
    if shape is None:
        return None
    body = {k: v for k, v in parsed.items() if k != "ResponseMetadata"}
    out = _sanitize(body, shape)
    if operation == "CreateGrant":
        # CloudTrail adds the key ARN although CreateGrant does not return it.
        arn = _key_arn(None, pending)
        if arn:
            out["keyId"] = arn
    return out or None


def _key_arn(parsed: dict | None, pending: dict) -> str | None:
    candidates = []
    if parsed:
        candidates += [parsed.get("KeyId"), (parsed.get("KeyMetadata") or {}).get("Arn")]
    candidates.append(pending.get("keyIdParam"))
    for value in candidates:
        if isinstance(value, str) and value.startswith("arn:") and ":key/" in value:
            return value
    return None


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


_DROP = object()


def _sanitize(value, shape):
    """Turn API parameters into CloudTrail's form: lowerCamel member names, no blobs, no
    sensitive members, timestamps as ISO strings. Map keys (encryption context) are kept."""
    if shape is None:
        return _DROP
    if shape.type_name == "blob" or shape.metadata.get("sensitive"):
        return _DROP
    if shape.type_name == "structure":
        if not isinstance(value, dict):
            return _DROP
        out = {}
        for name, item in value.items():
            if name in _DROPPED_MEMBERS or name not in shape.members:
                continue
            clean = _sanitize(item, shape.members[name])
            if clean is not _DROP:
                out[_lower_camel(name)] = clean
        return out
    if shape.type_name == "list":
        if not isinstance(value, (list, tuple)):
            return _DROP
        items = [_sanitize(item, shape.member) for item in value]
        return [item for item in items if item is not _DROP]
    if shape.type_name == "map":
        if not isinstance(value, dict):
            return _DROP
        out = {}
        for k, v in value.items():
            clean = _sanitize(v, shape.value)
            if clean is not _DROP:
                out[str(k)] = clean
        return out
    if shape.type_name == "timestamp":
        if isinstance(value, _dt.datetime):
            if value.tzinfo is None:
                value = value.replace(tzinfo=_dt.timezone.utc)
            return value.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return value
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _DROP
    return value


# --- who called -------------------------------------------------------------------------


def mask_access_key(key: str | None) -> str | None:
    """An access key id as the workshop shows secrets: its ends only ("AKIA…MNOP")."""
    # deferred: display's package imports every view, which connect() does without
    from .display.masking import mask

    return mask(key, compact=True) if key else None


def _identity(access_key: str | None) -> dict:
    with _lock:
        arn = _identities.get(access_key or "") or (_default_arn if access_key else None)
    masked = mask_access_key(access_key)
    if not arn:
        ident: dict[str, Any] = {"type": "Unknown"}
        if masked:
            ident["accessKeyId"] = masked
        return ident
    return identity_from_arn(arn, masked)


def identity_from_arn(arn: str, access_key_masked: str | None = None) -> dict:
    """A CloudTrail userIdentity for a principal ARN."""
    parts = arn.split(":", 5)
    account = parts[4] if len(parts) > 5 else ""
    resource = parts[5] if len(parts) > 5 else ""
    ident: dict[str, Any]
    if resource == "root":
        ident = {"type": "Root", "arn": arn, "accountId": account}
    elif resource.startswith("assumed-role/"):
        _, role, *session = resource.split("/")
        ident = {
            "type": "AssumedRole",
            "arn": arn,
            "accountId": account,
            "sessionContext": {
                "sessionIssuer": {
                    "type": "Role",
                    "arn": f"arn:aws:iam::{account}:role/{role}",
                    "accountId": account,
                    "userName": role,
                }
            },
        }
    elif resource.startswith("user/"):
        ident = {"type": "IAMUser", "arn": arn, "accountId": account, "userName": resource.split("/")[-1]}
    else:
        ident = {"type": "Unknown", "arn": arn, "accountId": account}
    if access_key_masked:
        ident["accessKeyId"] = access_key_masked
    return ident


def caller_label(record: dict) -> str:
    """A short name for who made the call, for tables: "you (boto3)", "AWS Encryption SDK",
    "ec2.amazonaws.com (simulated)"."""
    agent = record.get("userAgent") or ""
    ident = record.get("userIdentity") or {}
    if record.get("simulated"):
        if ident.get("type") == "AssumedRole":
            return f"{agent}, as role {ident['sessionContext']['sessionIssuer']['userName']}"
        return agent
    if "AwsEncryptionSdkPython" in agent:
        return "AWS Encryption SDK"
    if ident.get("type") == "AssumedRole":
        return "role " + ident["sessionContext"]["sessionIssuer"]["userName"]
    return "you (boto3)"
