"""Every moto, botocore and boto3 internal the workshop touches, in one place, checked at start-up.

The fidelity layer replaces methods inside moto, the account on disk patches moto's
request stubber and pickles its backends, and the audit trail reads botocore's events and
service model. None of that is public API, so an upgrade that renames one of them would
not fail: it would quietly bring back moto's unfaithful behaviour, or an empty trail.
`check()` runs when the fidelity layer is applied (`connect("moto")`, `serve`), before
anything is patched, and fails with one line naming the internal and the versions tested.

What is checked, per part of the workshop that relies on it:

- MEMBERS: module attributes and class members (methods, properties, class attributes);
  ``name(a, b)`` also requires those leading parameters (the workshop calls the original
  with them, or moto calls the workshop's replacement with them);
- INSTANCE_ATTRIBUTES: attributes moto/botocore set in ``__init__``, checked on a throwaway
  object (`_SAMPLES`), so nothing global is touched and no mock is started;
- ASSIGNED: attributes set on ``self`` by another method (no object to make cheaply);
- REFERENCES: functions that must still use a name (the patches act only through them);
- EVENTS: the botocore events the hooks listen to, with the keyword arguments they read.

Modules that take seconds to import (EC2) or that only `serve` needs (moto's server) are
checked by `check()` when already imported, and before their first use: a service's by
`check_service` (through `fidelity.load_service`, on its first request), moto's server's
by `require(prefix)`.
"""

from __future__ import annotations

import dis
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from importlib import metadata
from typing import Any

from ..errors import WorkshopError, one_line

# The versions this is tested with (pyproject.toml pins the same ranges).
MOTO_TESTED = ">=5.2.5,<5.3"
BOTOCORE_TESTED = ">=1.44.8,<1.45"
_RANGES = {"moto": ((5, 2, 5), (5, 3)), "botocore": ((1, 44, 8), (1, 45))}
_TESTED = {"moto": MOTO_TESTED, "botocore": BOTOCORE_TESTED}

# Set to 1 to run on an untested moto / botocore anyway (the internals are still checked).
ALLOW_UNTESTED_ENV = "KMS_WORKSHOP_ALLOW_UNTESTED_MOTO"
ALLOW_UNTESTED_BOTOCORE_ENV = "KMS_WORKSHOP_ALLOW_UNTESTED_BOTOCORE"
_ALLOW = {"moto": ALLOW_UNTESTED_ENV, "botocore": ALLOW_UNTESTED_BOTOCORE_ENV}

_BOTO_PINS = f"'boto3{BOTOCORE_TESTED}' 'botocore{BOTOCORE_TESTED}'"
_PINS = {"moto": f"'moto[server]{MOTO_TESTED}'", "botocore": _BOTO_PINS, "boto3": _BOTO_PINS}

# Services loaded on their first use (fidelity.load_service), each with the modules its
# internals live in: moto's EC2 alone takes about a second to import.
SERVICES_LOADED_ON_FIRST_USE = {"ec2": ("moto.ec2",), "s3": ("moto.s3",)}
# Imported only when used: checked by check() if already imported, else before first use.
LAZY_PREFIXES = (*(p for prefixes in SERVICES_LOADED_ON_FIRST_USE.values() for p in prefixes), "moto.moto_server")

# Where moto may be used (paths from the repository root; "path:function" allows one
# function). Everything else reaches moto through a function of these.
SIMULATION_LAYER = (
    "workshop_helpers/fidelity/",
    "workshop_helpers/account/",
    "workshop_helpers/endpoint.py",
    "workshop_helpers/serving/",
    "workshop_helpers/classroom/",
    "workshop_helpers/ebs.py",
    "workshop_helpers/s3_sse.py",
    "workshop_helpers/backend.py:_connect_moto",  # starts moto's mock
)

# Who relies on what (named in the error).
FIDELITY = "fidelity layer (workshop_helpers/fidelity)"
ACCOUNT = "account on disk (workshop_helpers/account)"
ENDPOINT = "local endpoint (workshop_helpers/endpoint.py)"
CLASSROOM = "class endpoint (workshop_helpers/classroom)"
BACKEND = "connect() (workshop_helpers/backend.py)"
HOOKS = "botocore hook (workshop_helpers/hooks.py)"
AUDIT = "audit trail (workshop_helpers/audit.py)"
FIRST_USE = "services loaded on first use (workshop_helpers/fidelity/__init__.py)"

MEMBERS: dict[str, dict[str, tuple[str, ...]]] = {
    FIDELITY: {
        "moto.kms.models": (
            "generate_private_key(key_spec)",  # keys.py: made lazy
            "generate_key_id(multi_region)",  # keys.py: multi-Region ids as KMS makes them
            # wrapped: the original is called with these
            "KmsBackend.create_key(self, policy, key_usage, key_spec, description, tags, multi_region, origin)",
            "KmsBackend.describe_key(self, key_id)",
            "KmsBackend.replicate_key(self, key_id, replica_region)",
            "KmsBackend.enable_key_rotation(self, key_id)",
            "KmsBackend.create_grant(self, key_id, grantee_principal, operations, name, constraints, "
            "retiring_principal)",
            "KmsBackend.create_alias(self, target_key_id, alias_name)",
            "KmsBackend.update_alias(self, target_key_id, alias_name)",
            "KmsBackend._generate_default_keys(self, alias_name)",
            "Key.to_dict(self)",
            # replaced: moto's responses (and other services) call them with these
            "KmsBackend.encrypt(self, key_id, plaintext, encryption_context)",
            "KmsBackend.decrypt(self, ciphertext_blob, encryption_context, key_id)",
            "KmsBackend.re_encrypt(self, ciphertext_blob, source_encryption_context, destination_key_id, "
            "destination_encryption_context)",
            "KmsBackend.generate_data_key(self, key_id, encryption_context, number_of_bytes, key_spec)",
            "KmsBackend.disable_key(self, key_id)",
            "KmsBackend.enable_key(self, key_id)",
            "KmsBackend.schedule_key_deletion(self, key_id, pending_window_in_days)",
            "KmsBackend.cancel_key_deletion(self, key_id)",
            "KmsBackend.rotate_key_on_demand(self, key_id)",
            # called: key policies (responses.py answers GetKeyPolicy / PutKeyPolicy itself)
            "KmsBackend.get_key_policy(self, key_id)",
            "KmsBackend.put_key_policy(self, key_id, policy)",
            # called: automatic rotation's flag (responses.py keeps its period and date)
            "KmsBackend.disable_key_rotation(self, key_id)",
            "KmsBackend.get_key_rotation_status(self, key_id)",
            # read: resolving key ids, key ARNs, alias names and alias ARNs
            "KmsBackend.get_alias_name(alias_name)",
            "KmsBackend.get_key_id(key_id)",
            "KmsBackend.get_key_id_from_alias(self, alias_name)",
        ),
        "moto.kms.responses": (
            "KmsResponse.kms_backend",
            "KmsResponse._dispatch",  # errors.py: the net under every KMS request
            "KmsResponse._get_param(self, param_name, if_none)",
            "KmsResponse._validate_key_id(self, key_id)",
            "KmsResponse._validate_cmk_id(self, key_id)",
            "KmsResponse.get_public_key(self)",
            "KmsResponse.rotate_key_on_demand(self)",
            "KmsResponse.create_alias(self)",
            "KmsResponse.update_alias(self)",
            "KmsResponse.delete_alias(self)",
            "KmsResponse.list_aliases(self)",
            "KmsResponse.tag_resource(self)",
            "KmsResponse.create_grant(self)",
            "KmsResponse.list_grants(self)",
            "KmsResponse.list_retirable_grants(self)",
            "KmsResponse.retire_grant(self)",
            "KmsResponse.revoke_grant(self)",
        ),
        "moto.utilities.tagging_service": ("TaggingService.get_tag_dict_for_resource(self, arn)",),
        # validation.py: the API's constraints, read from botocore's service model (moto's copy)
        "botocore.model": (
            "ServiceModel.operation_model(self, operation_name)",
            "StructureShape.required_members",
            "StringShape.enum",
        ),
        "moto.core.responses": (
            "BaseResponse.dispatch",
            "BaseResponse._get_action(self)",
            "BaseResponse.get_access_key(self)",
        ),
        "moto.core.authorization": (
            "ActionAuthenticatorMixin._authenticate_and_authorize_action(self, iam_request_cls, resource)",
            "ActionAuthenticatorMixin.PUBLIC_OPERATIONS",
        ),
        "moto.core.exceptions": (
            "JsonRESTError.__init__(self, error_type, message)",
            "JsonRESTError.get_headers",
            "JsonRESTError.get_body",
            "_RESTError.__init__(self, error_type, message)",
            "InvalidClientTokenIdError.__init__(self)",
            "SignatureDoesNotMatchError",
        ),
        "moto.core.utils": (
            "unix_time(dt)",
            "utcnow()",
            "get_service_model(service_name)",
            "convert_to_flask_response.__call__(self, args)",  # safety_net.py: moto's server's net
        ),
        # credentials.py: signatures checked as botocore's SigV4 signer makes them
        "botocore.utils": ("normalize_url_path(path)",),
        "botocore.auth": (
            "SigV4Auth.__init__(self, credentials, service_name, region_name)",
            "SigV4Auth.signature(self, string_to_sign, request)",
        ),
        "botocore.awsrequest": ("AWSRequest.__init__(self, method)",),
        "botocore.credentials": ("Credentials.__init__(self, access_key, secret_key)",),
        "moto.iam.access_control": (
            "IAMRequestBase.__init__(self, account_id, method, path, data, body, headers, action)",
            "IAMRequest.check_signature(self)",
            "IAMRequest.check_action_permitted(self, resource)",
            "IAMRequestBase.check_action_permitted(self, resource)",  # sts.py: AssumeRole decided there
            # iam.py: a trust policy naming an account's root delegates to that account
            "IAMRequestBase._check_role_trust_relationship(self, role_arn)",
            "IAMPolicy",
            "PermissionResult.PERMITTED",
            "format_incoming_conditional_values",
            "S3IAMRequest",
        ),
        "moto.iam.models": (
            "iam_backends",
            "get_account_id_from(access_key)",  # whose account an access key is
            "IAMBackend.get_user(self, name)",
            "IAMBackend.get_groups_for_user(self, user_name)",
            "IAMBackend.get_role_by_arn(self, arn)",
        ),
        "moto.iam.exceptions": ("NoSuchEntity", "NotFoundException"),
        "moto.sts.models": (
            "sts_backends",
            "STSBackend.get_assumed_role_from_access_key(self, access_key_id)",
        ),
        # sts.py: AssumeRole checked as on AWS; web identity and SAML refused
        "moto.sts.responses": (
            "TokenResponse.assume_role(self)",
            "TokenResponse.assume_role_with_web_identity(self)",
            "TokenResponse.assume_role_with_saml(self)",
        ),
    },
    FIRST_USE: {"moto.backends": ("get_backend(name)",)},
    ACCOUNT: {
        "moto.core.botocore_stubber": ("BotocoreStubber.process_request(self, request)",),
        "moto.backends": ("get_backend(name)",),
        "moto.core.base_backend": ("BaseBackend.reset(self)",),
        # sync.py: which accounts a request ran in
        "moto.core.responses": ("BaseResponse.get_current_account(self)",),
        "moto.s3.models": ("FakeKey",),
        # requests.py: the account a request's access key belongs to
        "moto.iam.models": ("get_account_id_from(access_key)",),
        # snapshot.py: EC2's backends, saved and loaded through get_backend("ec2")
        "moto.ec2.models": ("ec2_backends",),
    },
    CLASSROOM: {"moto.kms.models": ("kms_backends",)},  # the class's progress: each account's keys
    ENDPOINT: {
        "moto.moto_server.werkzeug_app": (
            "DomainDispatcherApplication.__init__(self, create_app)",
            "MotoRequestHandler",
            "create_backend_app(service)",
        ),
        # serving/server.py: headers with underscores kept as moto's own server keeps them
        "moto.core.request": (
            "environ_key_for_header(header_name)",
            "should_preserve_original_header_name(header_name)",
        ),
    },
    HOOKS: {"botocore.handlers": ("BUILTIN_HANDLERS.append",)},
    BACKEND: {"moto": ("mock_aws",)},
    AUDIT: {
        "botocore.model": (
            "OperationModel.name",
            "OperationModel.input_shape",
            "OperationModel.output_shape",
            "Shape.metadata",
            "StructureShape.members",
            "ListShape.member",
            "MapShape.value",
        ),
        "botocore.credentials": ("Credentials.get_frozen_credentials(self)", "ReadOnlyCredentials.access_key"),
    },
}

# "module:Class" -> attributes its objects get in __init__ (checked on a throwaway one).
INSTANCE_ATTRIBUTES: dict[str, dict[str, tuple[str, ...]]] = {
    FIDELITY: {
        "moto.kms.models:KmsBackend": ("keys", "region_name", "account_id", "tagger"),
        "moto.kms.models:Key": (
            "id",
            "arn",
            "policy",
            "key_usage",
            "key_spec",
            "key_state",
            "enabled",
            "origin",
            "key_material",
            "deletion_date",
            "grants",
            "multi_region",
            "key_manager",
            "aliases",
        ),
        "moto.kms.models:Grant": ("id", "token", "grantee_principal", "operations", "constraints"),
        "moto.kms.responses:KmsResponse": ("service_name",),
        "moto.iam.models:IAMBackend": ("access_keys",),
        "moto.iam.models:AccessKey": ("user_name", "status"),
        "moto.iam.models:User": ("arn", "name", "policies", "managed_policies"),
        "moto.iam.models:Group": ("name", "policies", "managed_policies"),
        "moto.iam.models:Role": ("name", "policies", "managed_policies"),
        "moto.iam.models:ManagedPolicy": ("arn", "versions"),
        "moto.iam.models:PolicyVersion": ("is_default", "document"),
        "moto.sts.models:AssumedRole": ("arn", "role_arn", "expiration", "policy"),
    },
    ACCOUNT: {"botocore.awsrequest:AWSPreparedRequest": ("method", "url", "headers", "body")},
    AUDIT: {
        "botocore.model:Shape": ("type_name",),
        "botocore.signers:RequestSigner": ("_credentials",),
        "botocore.awsrequest:AWSResponse": ("status_code",),
    },
}

# "module:Class.method" -> attributes it sets on self (no cheap object to check them on).
ASSIGNED: dict[str, dict[str, tuple[str, ...]]] = {
    FIDELITY: {
        "moto.core.responses:BaseResponse.setup_class": (
            "body",
            "raw_body",
            "uri",
            "raw_path",
            "data",
            "method",
            "headers",
            "response_headers",
            "partition",
            "current_account",
            "region",
        ),
        # exceptions.py: an error without a message field replaces the body moto sends
        "moto.core.exceptions:_RESTError.__init__": ("error_type",),
        "moto.core.exceptions:JsonRESTError.__init__": ("description",),
        "moto.kms.models:Key.__init__": ("multi_region_configuration",),  # set for multi-Region keys only
        "moto.core.utils:convert_to_flask_response.__init__": ("callback",),  # safety_net.py: which service
        "botocore.awsrequest:AWSRequest.__init__": ("context",),  # credentials.py: the signing time
    },
    ACCOUNT: {  # snapshot.py leaves EC2's start-up data out of the pickles
        "moto.ec2.models.amis:AmiBackend.__init__": ("amis",),
        "moto.ec2.models.elastic_block_store:EBSBackend.__init__": ("snapshots",),
        # objects.py: an S3 object's bytes, kept beside the snapshot
        "moto.s3.models:FakeKey.__init__": ("_value_buffer", "_max_buffer_size"),
    },
}

# "module:function" -> names it must still use: the patched function is reached only through it.
REFERENCES: dict[str, dict[str, tuple[str, ...]]] = {
    FIDELITY: {
        "moto.core.responses:BaseResponse.dispatch": ("_dispatch",),
        "moto.core.responses:BaseResponse.call_action": ("_authenticate_and_authorize_normal_action", "description"),
        "moto.core.authorization:ActionAuthenticatorMixin._authenticate_and_authorize_normal_action": (
            "_authenticate_and_authorize_action",
        ),
        "moto.core.authorization:ActionAuthenticatorMixin._authenticate_and_authorize_s3_action": (
            "_authenticate_and_authorize_action",
        ),
        "moto.kms.models:Key.__init__": ("generate_private_key", "generate_key_id"),
        # responses.py replaces _validate_cmk_id: moto's _validate_key_id reaches it through this
        "moto.kms.responses:KmsResponse._validate_key_id": ("_validate_cmk_id",),
    },
    ACCOUNT: {"moto.core.botocore_stubber:BotocoreStubber.__call__": ("process_request",)},
    # fidelity.load_service runs from get_backend: every request must reach it
    FIRST_USE: {"moto.core.botocore_stubber:BotocoreStubber.process_request": ("get_backend",)},
    ENDPOINT: {"moto.moto_server.werkzeug_app:create_backend_app": ("get_backend",)},
    # backend.py sets boto3.DEFAULT_SESSION = None so clients made by other libraries are
    # rebuilt from the workshop's environment: the setting works only if boto3 still reads it.
    BACKEND: {"boto3:_get_default_session": ("DEFAULT_SESSION",)},
    HOOKS: {"botocore.session:Session._register_builtin_handlers": ("BUILTIN_HANDLERS",)},
    AUDIT: {"botocore.client:BaseClient._make_api_call": ("client_region", "error_code_override")},
}

# "module:function" -> (event, keyword arguments the handlers read) it must emit.
EVENTS: dict[str, dict[str, tuple[tuple[str, tuple[str, ...]], ...]]] = {
    AUDIT: {
        "botocore.client:BaseClient._emit_api_params": (("provide-client-params", ("params", "model", "context")),),
        "botocore.client:BaseClient._make_api_call": (
            ("before-call", ("model", "params", "request_signer", "context")),
            ("after-call", ("http_response", "parsed", "model", "context")),
        ),
        "botocore.client:BaseClient._make_request": (("after-call-error", ("exception", "context")),),
    },
}

_ACCOUNT_ID, _REGION = "123456789012", "eu-west-1"
_URL = "https://kms.eu-west-1.amazonaws.com/"


def _assumed_role(cls):
    # deferred: moto loads with the backend, not at start-up
    from moto.iam.models import AccessKey

    key = AccessKey(None, "ASIA", _ACCOUNT_ID)
    return cls(_ACCOUNT_ID, _REGION, key, "session", f"arn:aws:iam::{_ACCOUNT_ID}:role/role", None, 900, None)


def _request_signer(cls):
    # deferred: botocore loads with boto3, not at start-up
    from botocore.hooks import HierarchicalEmitter

    return cls("kms", _REGION, "kms", "v4", None, HierarchicalEmitter())


# Throwaway objects for INSTANCE_ATTRIBUTES: cheap (an EC key, not RSA), nothing registered
# in moto's global state, no mock started.
_SAMPLES: dict[str, Callable[[type], Any]] = {
    "moto.kms.models:KmsBackend": lambda cls: cls(_REGION, _ACCOUNT_ID),
    "moto.kms.models:Key": lambda cls: cls(None, "SIGN_VERIFY", "ECC_NIST_P256", "", _ACCOUNT_ID, _REGION),
    "moto.kms.models:Grant": lambda cls: cls("key", "grant", "principal", ["Decrypt"], {}, None),
    "moto.kms.responses:KmsResponse": lambda cls: cls(),
    "moto.iam.models:IAMBackend": lambda cls: cls("aws", _ACCOUNT_ID),
    "moto.iam.models:AccessKey": lambda cls: cls("user", "AKIA", _ACCOUNT_ID),
    "moto.iam.models:User": lambda cls: cls(_ACCOUNT_ID, _REGION, "user"),
    "moto.iam.models:Group": lambda cls: cls(_ACCOUNT_ID, _REGION, "group"),
    "moto.iam.models:Role": lambda cls: cls(_ACCOUNT_ID, "aws", "AROASAMPLE", "role", "{}", "/", None, "", [], None),
    "moto.iam.models:ManagedPolicy": lambda cls: cls("policy", _ACCOUNT_ID, _REGION, document="{}"),
    "moto.iam.models:PolicyVersion": lambda cls: cls(f"arn:aws:iam::{_ACCOUNT_ID}:policy/policy", "{}", True),
    "moto.sts.models:AssumedRole": _assumed_role,
    "botocore.awsrequest:AWSPreparedRequest": lambda cls: cls("POST", _URL, {}, b"", False),
    "botocore.model:Shape": lambda cls: cls("Sample", {"type": "string"}),
    "botocore.signers:RequestSigner": _request_signer,
    "botocore.awsrequest:AWSResponse": lambda cls: cls(_URL, 200, {}, None),
}


class MotoIncompatible(WorkshopError):
    """moto or botocore changed in a way the workshop cannot work with (one line)."""


# --- versions ---------------------------------------------------------------------------


def _version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text.split("+")[0])[:3])


def installed_version(package: str = "moto") -> str:
    return metadata.version(package)


def check_version(version: str | None = None, package: str = "moto") -> None:
    """Refuse a moto (or botocore) outside the tested range, unless allowed by its variable."""
    version = version or installed_version(package)
    lowest, below = _RANGES[package]
    if lowest <= _version_tuple(version) < below:
        return
    who = "KMS fidelity layer is" if package == "moto" else "botocore hooks and audit trail are"
    if os.environ.get(_ALLOW[package]) != "1":
        raise MotoIncompatible(
            f"{package} {version} is installed but the workshop's {who} tested with {package}{_TESTED[package]}; "
            f"run `make install` (or set {_ALLOW[package]}=1 to try anyway)."
        )


def check_botocore_version(version: str | None = None) -> None:
    check_version(version, "botocore")


# --- the internals ----------------------------------------------------------------------


class _Failure(Exception):
    def __init__(self, path: str, user: str, problem: str):
        super().__init__(problem)
        self.path, self.user, self.problem = path, user, problem


def _message(failure: _Failure, more: int) -> str:
    package = failure.path.split(".")[0]
    try:
        version = installed_version(package)
    except metadata.PackageNotFoundError:
        version = "(version unknown)"
    also = f" (and {more} more internal{'s' if more > 1 else ''} moved)" if more else ""
    return one_line(
        f"{package} {version} {failure.problem}, which the workshop's {failure.user} relies on{also}; "
        f"install the tested {package} (pip install {_PINS[package]})."
    )


def _module(name: str, user: str):
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise _Failure(name, user, f"lacks module {name} ({type(exc).__name__}: {exc})") from None


def _member(module, module_name: str, dotted: str, user: str):
    obj = module
    for i, part in enumerate(dotted.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            path = ".".join([module_name, *dotted.split(".")[: i + 1]])
            raise _Failure(path, user, f"lacks {path}") from None
    return obj


def _split(entry: str) -> tuple[str, tuple[str, ...] | None]:
    """The name and the parameters of an entry: `Class.method(a, b)` gives ("Class.method",
    ("a", "b")); an entry without parentheses gives (name, None)."""
    name, paren, params = entry.partition("(")
    if not paren:
        return name, None
    return name, tuple(p.strip() for p in params.rstrip(")").split(",") if p.strip())


def _function(obj):
    obj = getattr(obj, "__func__", obj)  # classmethod / bound method
    return inspect.unwrap(obj)


def _check_signature(obj, path: str, expected: tuple[str, ...], user: str) -> None:
    try:
        actual = tuple(inspect.signature(obj).parameters)
    except (TypeError, ValueError):
        raise _Failure(path, user, f"changed {path}: it is no longer a function") from None
    if actual[: len(expected)] != expected:
        raise _Failure(
            path, user, f"changed {path} to take ({', '.join(actual)}) instead of ({', '.join(expected)}, ...)"
        )


def _target(spec: str, user: str):
    """(display path, object) for "module:Qual.name"."""
    module_name, _, qualname = spec.partition(":")
    return f"{module_name}.{qualname}", _member(_module(module_name, user), module_name, qualname, user)


def _self_assigned(function) -> set[str]:
    code = _function(function).__code__
    self_name = code.co_varnames[0] if code.co_argcount else None
    found, previous = set(), None
    for instruction in dis.get_instructions(code):
        if instruction.opname == "STORE_ATTR" and previous is not None:
            loaded = previous.argval  # LOAD_FAST self (3.13+: LOAD_FAST_LOAD_FAST (value, self))
            if (loaded[-1] if isinstance(loaded, tuple) else loaded) == self_name:
                found.add(instruction.argval)
        previous = instruction
    return found


def _names_used(function) -> set:
    """The names and string constants a function's code uses (a dict literal's keys are a
    tuple constant)."""
    code = _function(function).__code__
    used = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, str):
            used.add(const)
        elif isinstance(const, tuple):
            used.update(c for c in const if isinstance(c, str))
    return used


def _emits(function, event: str, keywords: tuple[str, ...]) -> bool:
    consts = _function(function).__code__.co_consts
    named = any(isinstance(c, str) and (c == event or c.startswith(event + ".")) for c in consts)
    passes = any(isinstance(c, tuple) and set(keywords) <= set(c) for c in consts)
    return named and passes


def _in_packages(packages: tuple[str, ...], everything: bool) -> Callable[[str], bool]:
    def wanted(module_name: str) -> bool:
        if module_name.split(".")[0] not in packages:
            return False
        if everything or not module_name.startswith(LAZY_PREFIXES):
            return True
        return module_name in sys.modules  # a lazy module: checked once something imported it

    return wanted


def _under(prefix: str) -> Callable[[str], bool]:
    return lambda module_name: module_name == prefix or module_name.startswith(prefix + ".")


def _checks(wanted: Callable[[str], bool]):
    """One callable per listed internal in a module `wanted`; each raises _Failure if it moved."""
    for user, modules in MEMBERS.items():
        for module_name, entries in modules.items():
            if not wanted(module_name):
                continue
            for entry in entries:
                yield _member_check(module_name, entry, user)
    for user, classes in INSTANCE_ATTRIBUTES.items():
        for spec, names in classes.items():
            if wanted(spec.partition(":")[0]):
                yield _instance_check(spec, names, user)
    for user, methods in ASSIGNED.items():
        for spec, names in methods.items():
            if wanted(spec.partition(":")[0]):
                yield _assigned_check(spec, names, user)
    for user, functions in REFERENCES.items():
        for spec, names in functions.items():
            if wanted(spec.partition(":")[0]):
                yield _references_check(spec, names, user)
    for user, functions in EVENTS.items():
        for spec, events in functions.items():
            if wanted(spec.partition(":")[0]):
                yield _events_check(spec, events, user)


def _member_check(module_name: str, entry: str, user: str):
    def run():
        dotted, params = _split(entry)
        obj = _member(_module(module_name, user), module_name, dotted, user)
        if params is not None:
            _check_signature(obj, f"{module_name}.{dotted}", params, user)

    return run


def _instance_check(spec: str, names: tuple[str, ...], user: str):
    def run():
        path, cls = _target(spec, user)
        try:
            sample = _SAMPLES[spec](cls)
        except Exception as exc:  # noqa: BLE001 - any failure to build one means the class changed
            problem = f"changed {path} (cannot make one to check it: {type(exc).__name__}: {exc})"
            raise _Failure(path, user, problem) from None
        for name in names:
            if not hasattr(sample, name):
                raise _Failure(f"{path}.{name}", user, f"lacks {path}.{name} (on a new {cls.__name__})")

    return run


def _assigned_check(spec: str, names: tuple[str, ...], user: str):
    def run():
        path, function = _target(spec, user)
        assigned = _self_assigned(function)
        owner = path.rsplit(".", 1)[0]
        for name in names:
            if name not in assigned:
                raise _Failure(f"{owner}.{name}", user, f"lacks {owner}.{name} (no longer set by {path})")

    return run


def _references_check(spec: str, names: tuple[str, ...], user: str):
    def run():
        path, function = _target(spec, user)
        used = _names_used(function)
        for name in names:
            if name not in used:
                raise _Failure(path, user, f"changed {path}: it no longer uses {name}")

    return run


def _events_check(spec: str, events, user: str):
    def run():
        path, function = _target(spec, user)
        for event, keywords in events:
            if not _emits(function, event, keywords):
                raise _Failure(path, user, f"changed {path}: it no longer emits {event} with {', '.join(keywords)}")

    return run


def _run(checks) -> None:
    failures = []
    for run in checks:
        try:
            run()
        except _Failure as failure:
            failures.append(failure)
    if failures:
        raise MotoIncompatible(_message(failures[0], len(failures) - 1))


def check_attributes(*, packages: tuple[str, ...] = ("moto", "botocore", "boto3"), everything: bool = False) -> None:
    """Every listed internal of `packages`; lazily imported ones only if imported (or `everything`)."""
    _run(_checks(_in_packages(packages, everything)))


def check(*, everything: bool = False) -> None:
    """Versions, then every internal: what `fidelity.apply()` runs before it patches anything."""
    check_version(package="moto")
    check_version(package="botocore")
    check_attributes(everything=everything)


def check_botocore() -> None:
    """botocore's version and the botocore/boto3 internals (hooks and audit run on every backend)."""
    check_version(package="botocore")
    check_attributes(packages=("botocore", "boto3"))


_required: set[str] = set()


def require(prefix: str) -> None:
    """Check the internals under a lazily imported module (`"moto.ec2"`, `"moto.moto_server"`)
    before its first use; once per process."""
    if prefix in _required:
        return
    checks = list(_checks(_under(prefix)))
    if not checks:
        raise ValueError(f"no internals are listed under {prefix!r}")
    _run(checks)
    _required.add(prefix)


def check_service(service: str) -> None:
    """Check the internals of a service loaded on its first use (importing its modules);
    a service with none listed passes."""
    for prefix in SERVICES_LOADED_ON_FIRST_USE[service]:
        if prefix not in _required:
            _run(_checks(_under(prefix)))
            _required.add(prefix)


def inventory() -> list[tuple[str, str, str]]:
    """(internal, kind, who relies on it) for everything listed here."""
    out = []
    for user, modules in MEMBERS.items():
        for module_name, entries in modules.items():
            out += [(f"{module_name}.{_split(e)[0]}", "member", user) for e in entries]
    for kind, table in (("instance attribute", INSTANCE_ATTRIBUTES), ("assigned attribute", ASSIGNED)):
        for user, specs in table.items():
            for spec, names in specs.items():
                owner = spec.replace(":", ".")
                if kind == "assigned attribute":
                    owner = owner.rsplit(".", 1)[0]
                out += [(f"{owner}.{name}", kind, user) for name in names]
    for user, specs in REFERENCES.items():
        for spec, names in specs.items():
            out += [(f"{spec.replace(':', '.')} uses {name}", "reference", user) for name in names]
    for user, specs in EVENTS.items():
        for spec, events in specs.items():
            out += [(f"{spec.replace(':', '.')} emits {event}", "event", user) for event, _ in events]
    return out
