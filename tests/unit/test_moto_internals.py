"""The moto and botocore internals the workshop relies on: all listed in
workshop_helpers/fidelity/internals.py (a scan of the package's code finds any it uses
unlisted, and any use of moto outside the simulation layer), all present on the installed
versions, and when one moves, `connect("moto")` fails at once with one line naming it (and
nothing is patched); EC2's, which load on first use, fail its first request the same way.

The failure cases run in a subprocess, so this process's real moto and botocore are never
touched: each one removes or changes a single internal, then connects.
"""

from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

try:  # Python 3.11 and newer
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, as a package (pytest depends on it there)
    import tomli as tomllib
from fidelity_support import ACCOUNT, REGION, ROOT

from workshop_helpers import fidelity
from workshop_helpers.fidelity import internals
from workshop_helpers.fidelity.internals import MotoIncompatible

# --- the list ---------------------------------------------------------------------------


def test_every_listed_internal_is_there():
    internals.check(everything=True)  # EC2 and moto's server too


def test_the_internals_the_review_found_missing_are_listed():
    listed = {name for name, _kind, _user in internals.inventory()}
    for name in (
        "moto.kms.models.KmsBackend.keys",
        "moto.kms.models.KmsBackend.get_key_id_from_alias",
        "moto.core.authorization.ActionAuthenticatorMixin.PUBLIC_OPERATIONS",
        "moto.core.responses.BaseResponse.partition",
        "moto.core.responses.BaseResponse.current_account",
        "moto.iam.models.ManagedPolicy.versions",
        "moto.iam.models.PolicyVersion.is_default",
        "moto.sts.models.AssumedRole.policy",
        "moto.ec2.models.ec2_backends",
        "moto.core.botocore_stubber.BotocoreStubber.process_request",
        "moto.moto_server.werkzeug_app.DomainDispatcherApplication.__init__",
        "moto.moto_server.werkzeug_app.MotoRequestHandler",
        "botocore.handlers.BUILTIN_HANDLERS.append",
        "botocore.awsrequest.AWSPreparedRequest.body",
        "botocore.model.StructureShape.members",
    ):
        assert name in listed, name


def test_objects_moto_really_makes_have_the_listed_attributes(inprocess_kms_env):
    """The throwaway objects check() builds stand for the real ones: the same attributes
    are on objects made through the API."""
    from moto.iam.models import iam_backends
    from moto.kms.models import kms_backends
    from moto.sts.models import sts_backends

    env = inprocess_kms_env
    iam = env.client("iam")
    key_id = env.kms.create_key()["KeyMetadata"]["KeyId"]
    env.kms.create_grant(KeyId=key_id, GranteePrincipal=f"arn:aws:iam::{ACCOUNT}:root", Operations=["Decrypt"])
    name = f"internals-{key_id[:8]}"
    trust = json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )
    role_arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=trust)["Role"]["Arn"]
    document = json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Encrypt", "Resource": "*"}]}
    )
    policy_arn = iam.create_policy(PolicyName=name, PolicyDocument=document)["Policy"]["Arn"]
    iam.create_user(UserName=name)
    iam.create_group(GroupName=name)
    user_key = iam.create_access_key(UserName=name)["AccessKey"]["AccessKeyId"]
    session_key = env.client("sts").assume_role(RoleArn=role_arn, RoleSessionName="internals")["Credentials"][
        "AccessKeyId"
    ]

    kms_backend = kms_backends[ACCOUNT][REGION]
    iam_backend = iam_backends[ACCOUNT]["aws"]
    key = kms_backend.keys[key_id]
    policy = iam_backend.managed_policies[policy_arn]
    real = {
        "moto.kms.models:KmsBackend": kms_backend,
        "moto.kms.models:Key": key,
        "moto.kms.models:Grant": next(iter(key.grants.values())),
        "moto.iam.models:IAMBackend": iam_backend,
        "moto.iam.models:AccessKey": iam_backend.access_keys[user_key],
        "moto.iam.models:User": iam_backend.get_user(name),
        "moto.iam.models:Group": iam_backend.get_group(name),
        "moto.iam.models:Role": iam_backend.get_role_by_arn(role_arn),
        "moto.iam.models:ManagedPolicy": policy,
        "moto.iam.models:PolicyVersion": policy.versions[0],
        "moto.sts.models:AssumedRole": sts_backends[ACCOUNT]["aws"].get_assumed_role_from_access_key(session_key),
    }
    listed = internals.INSTANCE_ATTRIBUTES[internals.FIDELITY]
    for spec, obj in real.items():
        missing = [attr for attr in listed[spec] if not hasattr(obj, attr)]
        assert not missing, (spec, missing)


# --- versions ---------------------------------------------------------------------------


def test_installed_versions_are_in_the_tested_ranges():
    internals.check_version(package="moto")
    internals.check_version(package="botocore")


@pytest.mark.parametrize("version", ["5.2.4", "5.3.0", "6.0.0", "4.2.14"])
def test_untested_moto_versions_are_refused(version, monkeypatch):
    monkeypatch.delenv(internals.ALLOW_UNTESTED_ENV, raising=False)
    with pytest.raises(MotoIncompatible, match=re.escape(f"moto {version} is installed")):
        internals.check_version(version)


@pytest.mark.parametrize("version", ["5.2.5", "5.2.9", "5.2.10.dev3"])
def test_tested_moto_versions_pass(version):
    internals.check_version(version)


@pytest.mark.parametrize("version", ["1.44.7", "1.45.0", "2.0.0", "1.43.99"])
def test_untested_botocore_versions_are_refused(version, monkeypatch):
    monkeypatch.delenv(internals.ALLOW_UNTESTED_BOTOCORE_ENV, raising=False)
    with pytest.raises(MotoIncompatible, match=re.escape(f"botocore {version} is installed")):
        internals.check_botocore_version(version)


@pytest.mark.parametrize("version", ["1.44.8", "1.44.30"])
def test_tested_botocore_versions_pass(version):
    internals.check_botocore_version(version)


def test_an_untested_version_can_be_allowed_but_internals_are_still_checked(monkeypatch):
    monkeypatch.setenv(internals.ALLOW_UNTESTED_BOTOCORE_ENV, "1")
    monkeypatch.setenv(internals.ALLOW_UNTESTED_ENV, "1")
    internals.check_botocore_version("1.45.0")
    internals.check_version("5.3.0")
    from botocore.model import OperationModel

    monkeypatch.delattr(OperationModel, "output_shape")
    with pytest.raises(MotoIncompatible, match=re.escape("botocore.model.OperationModel.output_shape")):
        internals.check_botocore()


def test_tested_ranges_match_the_project_pins():
    project = tomllib.loads(Path(ROOT, "pyproject.toml").read_text())["project"]
    assert f"moto[server]{fidelity.MOTO_TESTED}" in project["dependencies"]
    assert f"botocore{fidelity.BOTOCORE_TESTED}" in project["dependencies"]


# --- what connect() says when one internal moved ------------------------------------------

_CONNECT = """
import json, sys
{setup}
import workshop_helpers
from workshop_helpers import fidelity
from moto.kms.models import KmsBackend
before = KmsBackend.encrypt
try:
    workshop_helpers.connect("moto")
except workshop_helpers.WorkshopError as exc:
    print(json.dumps({{"type": type(exc).__name__, "message": str(exc),
                       "applied": fidelity.applied(), "patched": KmsBackend.encrypt is not before}}))
    sys.exit(3)
print(json.dumps({{"connected": True}}))
"""


def _env() -> dict:
    env = dict(os.environ, KMS_WORKSHOP_STATE_DIR="memory", PYTHONPATH=ROOT)
    for name in (internals.ALLOW_UNTESTED_ENV, internals.ALLOW_UNTESTED_BOTOCORE_ENV, "KMS_WORKSHOP_BACKEND"):
        env.pop(name, None)
    return env


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=120
    )


def _connect_with(setup: str) -> dict:
    done = _python(_CONNECT.format(setup=textwrap.dedent(setup)))
    assert done.returncode == 3, (done.stdout, done.stderr)
    return json.loads(done.stdout)


MOVED = {
    "module attribute": (
        "import moto.kms.models; del moto.kms.models.generate_private_key",
        "lacks moto.kms.models.generate_private_key,",
    ),
    "module attribute other moto modules import": (
        "import moto.sts.models; del moto.sts.models.sts_backends",
        "cannot import name 'sts_backends' from 'moto.sts.models'",
    ),
    "class method": (
        "from moto.kms.models import KmsBackend; del KmsBackend.get_key_id_from_alias",
        "lacks moto.kms.models.KmsBackend.get_key_id_from_alias,",
    ),
    "class attribute": (
        "from moto.core.authorization import ActionAuthenticatorMixin as M; del M.PUBLIC_OPERATIONS",
        "lacks moto.core.authorization.ActionAuthenticatorMixin.PUBLIC_OPERATIONS,",
    ),
    "instance attribute of a backend": (
        """
        from moto.kms.models import KmsBackend
        init = KmsBackend.__init__
        def renamed(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self.all_keys = vars(self).pop("keys")
        KmsBackend.__init__ = renamed
        """,
        "lacks moto.kms.models.KmsBackend.keys (on a new KmsBackend),",
    ),
    "instance attribute of a model": (
        """
        from moto.sts.models import AssumedRole
        init = AssumedRole.__init__
        def renamed(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self.session_policy = vars(self).pop("policy")
        AssumedRole.__init__ = renamed
        """,
        "lacks moto.sts.models.AssumedRole.policy (on a new AssumedRole),",
    ),
    "attribute set per request": (
        """
        import inspect, textwrap
        from moto.core import responses
        source = textwrap.dedent(inspect.getsource(responses.BaseResponse.setup_class))
        made = {}
        exec(source.replace("self.partition =", "self.aws_partition ="), vars(responses), made)
        responses.BaseResponse.setup_class = made["setup_class"]
        """,
        "lacks moto.core.responses.BaseResponse.partition "
        "(no longer set by moto.core.responses.BaseResponse.setup_class)",
    ),
    "reordered parameters": (
        """
        from moto.kms.models import KmsBackend
        create = KmsBackend.create_key
        def create_key(self, policy, key_usage, key_spec, description, tags, origin="AWS_KMS", multi_region=False):
            return create(self, policy, key_usage, key_spec, description, tags, multi_region, origin)
        KmsBackend.create_key = create_key
        """,
        "changed moto.kms.models.KmsBackend.create_key to take (self, policy, key_usage, key_spec, description, "
        "tags, origin, multi_region) instead of",
    ),
    "a patched method no longer reached": (
        """
        from moto.core.responses import BaseResponse
        def call_action(self):
            return 200, {}, ""
        BaseResponse.call_action = call_action
        """,
        "changed moto.core.responses.BaseResponse.call_action: it no longer uses "
        "_authenticate_and_authorize_normal_action,",
    ),
    "botocore class member": (
        "from botocore.model import OperationModel; del OperationModel.output_shape",
        "lacks botocore.model.OperationModel.output_shape,",
    ),
    "botocore instance attribute": (
        """
        from botocore.signers import RequestSigner
        init = RequestSigner.__init__
        def renamed(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self._creds = vars(self).pop("_credentials")
        RequestSigner.__init__ = renamed
        """,
        "lacks botocore.signers.RequestSigner._credentials (on a new RequestSigner),",
    ),
    "botocore event": (
        """
        from botocore.client import BaseClient
        def _make_request(self, operation_model, request_dict, request_context):
            return self._endpoint.make_request(operation_model, request_dict)
        BaseClient._make_request = _make_request
        """,
        "changed botocore.client.BaseClient._make_request: it no longer emits after-call-error with exception, "
        "context,",
    ),
}


@pytest.mark.parametrize("case", list(MOVED))
def test_connect_names_the_internal_that_moved(case):
    setup, expected = MOVED[case]
    answer = _connect_with(setup)
    assert answer["type"] == "MotoIncompatible"
    message = answer["message"]
    assert "\n" not in message and expected in message, message
    package = "botocore" if case.startswith("botocore") else "moto"
    assert message.startswith(f"{package} {internals.installed_version(package)} "), message
    assert message.endswith(f"install the tested {package} (pip install {internals._PINS[package]}).")
    assert not answer["applied"] and not answer["patched"], "something was patched before the check"


def test_every_internal_that_moved_is_counted_in_the_one_line():
    answer = _connect_with("""
        from moto.kms.models import KmsBackend, Key
        del KmsBackend.get_key_id_from_alias
        del Key.to_dict
        """)
    assert "\n" not in answer["message"]
    assert "lacks moto.kms.models.Key.to_dict," in answer["message"]  # the first one listed
    assert "(and 1 more internal moved)" in answer["message"]


@pytest.mark.parametrize(("package", "version"), [("botocore", "1.45.0"), ("moto", "5.3.0")])
def test_connect_refuses_an_untested_version_in_one_line(package, version):
    answer = _connect_with(f"""
        from importlib import metadata
        real = metadata.version
        metadata.version = lambda name: {version!r} if name == {package!r} else real(name)
        """)
    assert answer["type"] == "MotoIncompatible" and "\n" not in answer["message"]
    assert answer["message"].startswith(f"{package} {version} is installed but the workshop's ")
    assert f"tested with {package}{internals._TESTED[package]}" in answer["message"]
    assert not answer["applied"] and not answer["patched"]


def test_the_command_line_says_it_in_one_line():
    code = textwrap.dedent("""
        import runpy, sys
        from moto.kms.models import KmsBackend
        del KmsBackend.get_key_id_from_alias
        sys.argv = ["workshop_helpers", "doctor"]
        runpy.run_module("workshop_helpers", run_name="__main__")
        """)
    done = _python(code)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "moto.kms.models.KmsBackend.get_key_id_from_alias" in lines[0], done.stderr


# --- lazily imported modules -------------------------------------------------------------


def test_check_does_not_import_the_slow_or_server_only_modules():
    done = _python(
        textwrap.dedent("""
        import sys
        from workshop_helpers.fidelity import internals
        internals.check()
        print(sorted(m for m in ("moto.ec2.models", "moto.moto_server.werkzeug_app", "flask") if m in sys.modules))
        """)
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_require_checks_a_lazy_module_before_its_first_use():
    internals.require("moto.ec2")
    internals.require("moto.moto_server")
    with pytest.raises(ValueError):
        internals.require("moto.nothing")


_AMIS_RENAMED = """
    from moto.ec2.models.amis import AmiBackend
    init = AmiBackend.__init__
    def renamed(self):
        init(self)
        self.images = vars(self).pop("amis")
    AmiBackend.__init__ = renamed
    """


def test_an_imported_lazy_module_is_checked_at_connect_too():
    done = _python(
        textwrap.dedent(_AMIS_RENAMED)
        + textwrap.dedent("""
        from workshop_helpers.fidelity import internals
        internals.check()  # moto.ec2 is imported now: checked too
        """)
    )
    assert done.returncode != 0
    assert "lacks moto.ec2.models.amis.AmiBackend.amis (no longer set by" in done.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize("state", ["memory", "disk"])
def test_ec2_internals_are_checked_on_its_first_request_before_moto_answers(state, tmp_path):
    """EC2 loads on first use: a moved EC2 internal does not stop connect() or KMS, and
    the first EC2 request fails with the one line, before moto answers it."""
    code = (
        textwrap.dedent("""
        import json, sys
        import workshop_helpers
        ws = workshop_helpers.connect("moto")
        ws.client("kms").list_aliases()
        ec2_before = "moto.ec2.models" in sys.modules
        """)
        + textwrap.dedent(_AMIS_RENAMED)
        + textwrap.dedent("""
        ec2 = ws.client("ec2")
        outcomes = []
        for _ in range(2):  # a failed check is not remembered as passed
            try:
                ec2.describe_volumes()
                outcomes.append("answered")
            except workshop_helpers.WorkshopError as exc:
                outcomes.append(type(exc).__name__ + ": " + str(exc))
        print(json.dumps({"ec2_before": ec2_before, "outcomes": outcomes}))
        """)
    )
    env = _env()
    env["KMS_WORKSHOP_STATE_DIR"] = "memory" if state == "memory" else str(tmp_path / "account")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["ec2_before"] is False
    for outcome in answer["outcomes"]:
        assert outcome.startswith("MotoIncompatible: moto "), outcome
        assert "lacks moto.ec2.models.amis.AmiBackend.amis (no longer set by" in outcome and "\n" not in outcome


# --- the moto surface: every use listed, and only in the simulation layer -----------------

PACKAGE = Path(ROOT, "workshop_helpers")
# Names of botocore's documented API: using them is not relying on an internal.
PUBLIC_BOTOCORE = ("botocore.exceptions", "botocore.config")


def _is_scanned(name: str) -> bool:
    return name.split(".")[0] in ("moto", "botocore") and not (
        name in PUBLIC_BOTOCORE or name.startswith(tuple(p + "." for p in PUBLIC_BOTOCORE))
    )


class _MotoUses(ast.NodeVisitor):
    """The moto and botocore names one module uses: imports (in functions too), attribute
    chains and getattr() on what they bound, and modules named to importlib.import_module
    or sys.modules. Each use is (dotted name, line, enclosing function)."""

    def __init__(self, module_name: str):
        self.module_name = module_name
        self.scopes: list[dict[str, str | None]] = [{}]
        self.functions: list[str] = []
        self.uses: list[tuple[str, int, str]] = []

    def _use(self, name: str, node: ast.AST) -> None:
        if _is_scanned(name):
            self.uses.append((name, node.lineno, ".".join(self.functions)))

    def _lookup(self, name: str) -> str | None:
        for scope in reversed(self.scopes):
            if name in scope:
                return scope[name]
        return None

    def _in_scope(self, node, names) -> None:
        self.scopes.append({name: None for name in names})  # parameters shadow outer names
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node):
        self.functions.append(node.name)
        args = node.args
        names = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
        names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
        self._in_scope(node, names)
        self.functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_Lambda(self, node):
        self._in_scope(node, [a.arg for a in node.args.args])

    def visit_Import(self, node):
        for alias in node.names:
            self._use(alias.name, node)
            if alias.asname:
                self.scopes[-1][alias.asname] = alias.name
            else:
                root = alias.name.split(".")[0]
                self.scopes[-1][root] = root

    def visit_ImportFrom(self, node):
        base = node.module or ""
        if node.level:  # relative: this package's own modules
            parts = self.module_name.split(".")[: -node.level]
            base = ".".join([*parts, base] if base else parts)
        for alias in node.names:
            name = f"{base}.{alias.name}"
            self._use(name, node)
            self.scopes[-1][alias.asname or alias.name] = name

    def visit_Assign(self, node):
        self.generic_visit(node)
        bound = self._module_named(node.value)
        for target in node.targets:
            if isinstance(target, ast.Name):
                self.scopes[-1][target.id] = bound  # a plain assignment shadows an import

    def _module_named(self, node) -> str | None:
        """ "moto.x" for importlib.import_module("moto.x"), sys.modules["moto.x"], sys.modules.get("moto.x")."""
        if isinstance(node, ast.Subscript):
            key = node.slice
        elif isinstance(node, ast.Call) and node.args:
            key = node.args[0]
        else:
            return None
        if not (isinstance(key, ast.Constant) and isinstance(key.value, str) and _is_scanned(key.value)):
            return None
        source = ast.unparse(node.value if isinstance(node, ast.Subscript) else node.func)
        return key.value if source in ("sys.modules", "sys.modules.get", "importlib.import_module") else None

    def visit_Subscript(self, node):
        named = self._module_named(node)
        if named:
            self._use(named, node)
        self.generic_visit(node)

    def visit_Call(self, node):
        named = self._module_named(node)
        if named:
            self._use(named, node)
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            base = self._chain(node.args[0])
            if base:
                self._use(f"{base}.{node.args[1].value}", node)
        self.generic_visit(node)

    def _chain(self, node) -> str | None:
        attrs = []
        while isinstance(node, ast.Attribute):
            attrs.append(node.attr)
            node = node.value
        if not isinstance(node, ast.Name):
            return None
        bound = self._lookup(node.id)
        return ".".join([bound, *reversed(attrs)]) if bound else None

    def visit_Attribute(self, node):
        chain = self._chain(node)
        if chain:
            self._use(chain, node)
            return
        self.generic_visit(node)


def _package_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(ROOT)
        module = ".".join(relative.with_suffix("").parts)
        yield relative.as_posix(), module.removesuffix(".__init__"), path


def _uses(path: Path, module: str) -> list[tuple[str, int, str]]:
    scanner = _MotoUses(module)
    scanner.visit(ast.parse(path.read_text(), str(path)))
    return scanner.uses


def _listed() -> set[str]:
    """Every dotted name internals.py lists (members, attributes, and the functions whose
    code it reads)."""
    names = {name for name, kind, _user in internals.inventory() if kind not in ("reference", "event")}
    for table in (internals.REFERENCES, internals.EVENTS):
        names |= {spec.replace(":", ".") for specs in table.values() for spec in specs}
    return names


def unlisted_uses(paths=None) -> list[str]:
    listed = _listed()
    covered_prefixes = {".".join(name.split(".")[:i]) for name in listed for i in range(1, name.count(".") + 1)}
    found = []
    for relative, module, path in _package_modules():
        if relative == "workshop_helpers/fidelity/internals.py":
            continue  # the list itself: what it imports is what it checks
        if paths is not None and relative not in paths:
            continue
        for name, line, _function in _uses(path, module):
            if name not in listed and name not in covered_prefixes:
                found.append(f"{relative}:{line} {name}")
    return found


def test_every_moto_and_botocore_name_the_package_uses_is_listed_in_internals():
    found = unlisted_uses()
    assert not found, "used but not listed in workshop_helpers/fidelity/internals.py:\n" + "\n".join(found)


def test_the_scan_finds_each_way_of_reaching_moto(tmp_path):
    """The scanner itself, on a module written to use moto every way the package does:
    a use it missed would pass the test above unnoticed."""
    source = textwrap.dedent("""
        import moto.kms.models
        import moto.sts.models as sts_models
        from moto.iam import models as iam_models
        from botocore.exceptions import ClientError
        import sys, importlib

        def inside():
            from moto.core.utils import not_listed_import
            moto.kms.models.KmsBackend.not_listed_member
            sts_models.not_listed_module_attribute
            iam_models.IAMBackend.not_listed_method()
            getattr(iam_models.IAMBackend, "not_listed_getattr")
            models = sys.modules.get("moto.ec2.not_listed_module")
            models.ec2_backends
            importlib.import_module("moto.not_listed_imported")

        def shadowed(iam_models):
            iam_models.anything_else
        """)
    scanner = _MotoUses("workshop_helpers.sample")
    scanner.visit(ast.parse(source))
    used = {name for name, _line, _function in scanner.uses}
    for name in (
        "moto.core.utils.not_listed_import",
        "moto.kms.models.KmsBackend.not_listed_member",
        "moto.sts.models.not_listed_module_attribute",
        "moto.iam.models.IAMBackend.not_listed_method",
        "moto.iam.models.IAMBackend.not_listed_getattr",
        "moto.ec2.not_listed_module",
        "moto.ec2.not_listed_module.ec2_backends",
        "moto.not_listed_imported",
    ):
        assert name in used, name
    assert not any("anything_else" in name or "ClientError" in name for name in used), used


def _outside_the_simulation_layer(relative: str, function: str) -> bool:
    for allowed in internals.SIMULATION_LAYER:
        path, _, where = allowed.partition(":")
        if (relative == path or relative.startswith(path.rstrip("/") + "/")) and (
            not where or function == where or function.startswith(where + ".")
        ):
            return False
    return True


def test_moto_is_used_only_inside_the_simulation_layer():
    outside = []
    for relative, module, path in _package_modules():
        for name, line, function in _uses(path, module):
            if name.split(".")[0] == "moto" and _outside_the_simulation_layer(relative, function):
                outside.append(f"{relative}:{line} ({function or 'module level'}) {name}")
    assert not outside, (
        "moto used outside the simulation layer (internals.SIMULATION_LAYER); call a function of "
        "the layer instead:\n" + "\n".join(outside)
    )
