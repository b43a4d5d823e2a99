"""Running the whole workshop under test, once per pytest process, for the reliability tests.

Four runs, each made at most once (memoized) and shared by the tests that need it:

- `fresh_runs()`: every notebook in a fresh kernel of its own, on moto, in a temporary copy
  of notebooks/ (one copy per notebook, so notebook 08's cleanup cannot remove the files
  the others leave).
- `whole_workshop("moto")`: notebooks 01..07 and then 08 twice, concatenated into ONE
  kernel, with an inventory of what exists before the cleanup, after it and after the
  second one.
- `whole_workshop("aws")`: the same on an "aws" Workshop whose session is moto-backed (the
  spy cell swaps it in before the first notebook connects), after "someone else" created
  untagged resources that must survive.
- `whole_workshop("endpoint")`: notebooks 01..07 in one kernel over `serve
  --record-data-keys`, then `python -m workshop_helpers cleanup` twice.

A test-only spy is prepended to every kernel (`install_spy`): the fidelity layer's recording
of every GenerateDataKey plaintext, plus every 32-byte plaintext a Decrypt hands back (the
data keys of GenerateDataKeyWithoutPlaintext, EBS's among them), plus the key material a
notebook keeps. The spy writes to a folder OUTSIDE everything the key-hygiene test scans.

This module is also imported inside the kernels (the tests folder is on their PYTHONPATH).
"""

from __future__ import annotations

import atexit
import base64
import copy
import datetime as dt
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

ROOT = pathlib.Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
NOTEBOOKS = ROOT / "notebooks"
REGION = "eu-west-1"
ACCOUNT = "123456789012"
CELL_TIMEOUT = 300
#: Operations that create or change nothing (everything else counts as creating or changing).
READ_ONLY_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "Head",
    "Lookup",
    "Decrypt",
    "Encrypt",
    "Generate",
    "AssumeRole",
    "ReEncrypt",
)

STRANGER = "someone-else"  # what "someone else" made in the account, untagged


def notebook_names() -> list[str]:
    """The workshop's notebooks in the manifest's order (notebooks/manifest.yml)."""
    from notebook_support import WORKSHOP_NOTEBOOKS

    return list(WORKSHOP_NOTEBOOKS)


def cleanup_notebook() -> str:
    from notebook_support import CLEANUP_NOTEBOOK

    return CLEANUP_NOTEBOOK


# --- encodings of a secret ---------------------------------------------------------------


def encodings(secret: bytes) -> dict[str, bytes]:
    """Every form in which a notebook or a helper could show or write `secret`."""
    std = base64.b64encode(secret)
    url = base64.urlsafe_b64encode(secret)
    forms = {
        "raw bytes": secret,
        "base64": std.rstrip(b"="),
        "urlsafe base64": url.rstrip(b"="),
        "hex": secret.hex().encode(),
        "HEX": secret.hex().upper().encode(),
        "spaced hex, first half": " ".join(f"{b:02x}" for b in secret[:16]).encode(),
        "spaced hex, second half": " ".join(f"{b:02x}" for b in secret[16:]).encode(),
        "SPACED HEX, first half": " ".join(f"{b:02X}" for b in secret[:16]).encode(),
        "repr": repr(secret)[2:-1].encode(),
    }
    # JSON escapes "/" as "\/" in some writers
    if b"/" in forms["base64"]:
        forms["base64, JSON-escaped"] = forms["base64"].replace(b"/", b"\\/")
    return forms


def find_secrets(paths: list[pathlib.Path], secrets: list[bytes]) -> list[str]:
    """Where any encoding of any secret appears in any file under `paths` (recursively)."""
    needles = [(name, form, i) for i, s in enumerate(secrets) for name, form in encodings(s).items()]
    found = []
    files = []
    for base in paths:
        if base.is_file():
            files.append(base)
        elif base.is_dir():
            files += [p for p in base.rglob("*") if p.is_file()]
    for path in sorted(set(files)):
        try:
            data = path.read_bytes()
        except OSError:
            continue
        for name, form, i in needles:
            if form in data:
                found.append(f"{path}: data key #{i} as {name}")
    return found


def files_under(paths: list[pathlib.Path]) -> list[pathlib.Path]:
    out = []
    for base in paths:
        if base.is_dir():
            out += [p for p in base.rglob("*") if p.is_file()]
        elif base.is_file():
            out.append(base)
    return sorted(set(out))


# --- the spy, inside a kernel ----------------------------------------------------------------

_spy_lock = threading.Lock()
_spy: dict = {}


def _append_line(path: pathlib.Path, line: str) -> None:
    with _spy_lock, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")


def install_spy(spy_dir: str, label: str, mode: str = "moto") -> None:
    """Run first in a kernel, before the notebook's own cells. Records every data key (and
    kept key material) to files in `spy_dir`; `mode="aws"` also puts a moto-backed "aws"
    Workshop in place, after creating "someone else's" untagged resources."""
    from workshop_helpers import fidelity, fixtures, hooks

    spy = pathlib.Path(spy_dir)
    spy.mkdir(parents=True, exist_ok=True)
    _spy.update(dir=spy, label=label)
    fidelity.start_recording(spy / f"{label}.generated.keys")  # moto in this kernel (not endpoint)

    def after_kms(*, parsed=None, model=None, **_):
        value = (parsed or {}).get("Plaintext")
        if isinstance(value, (bytes, bytearray)) and len(value) == 32:
            _append_line(spy / f"{label}.seen.keys", base64.b64encode(bytes(value)).decode())

    hooks.register("after-call.kms", after_kms)

    from workshop_helpers.fixtures import key_material

    original_keep = key_material.keep_key_material

    def keep(ws, key_id, material):
        _append_line(spy / f"{label}.material.keys", base64.b64encode(bytes(material)).decode())
        return original_keep(ws, key_id, material)

    key_material.keep_key_material = keep  # the fixtures' own calls
    fixtures.keep_key_material = keep  # notebook 01's call

    calls_log = spy / f"{label}.calls.log"

    def before_call(*, event_name=None, model=None, **_):
        service = (event_name or "").split(".")[1:2]
        _append_line(calls_log, f"call {service[0] if service else '?'}.{getattr(model, 'name', '?')}")

    hooks.register("before-call", before_call)
    original_announce = fixtures.announce

    def announce(ws):
        _append_line(calls_log, f"announce {ws.backend} {ws.account_id} {ws.region}")
        return original_announce(ws)

    fixtures.announce = announce

    if mode == "aws":
        _become_aws(spy, label)
    _append_line(calls_log, "spy-ready")


def mark(text: str) -> None:
    """A line in the calls log (the notebook boundaries of a concatenated run)."""
    _append_line(_spy["dir"] / f"{_spy['label']}.calls.log", f"mark {text}")


def _become_aws(spy: pathlib.Path, label: str) -> None:
    import boto3

    from workshop_helpers import backend

    moto_ws = backend.connect("moto")
    strangers = make_strangers(moto_ws)
    (spy / f"{label}.strangers.json").write_text(json.dumps(strangers, indent=1))
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
    aws_ws = backend.Workshop("aws", REGION, ACCOUNT, f"arn:aws:iam::{ACCOUNT}:user/learner", None, session)
    backend._active = aws_ws  # connect() now returns the "aws" Workshop


def make_strangers(ws) -> dict:
    """Resources someone else made in the account, without the workshop's tag (or with
    another participant's): an aws-backend cleanup must leave every one of them alone."""
    kms, iam, s3, ec2 = (ws.client(s) for s in ("kms", "iam", "s3", "ec2"))
    untagged_key = kms.create_key(Description=f"{STRANGER}: production key")["KeyMetadata"]["KeyId"]
    kms.create_alias(AliasName=f"alias/{STRANGER}-prod", TargetKeyId=untagged_key)
    other_participant_key = kms.create_key(
        Description=f"{STRANGER}: another participant's workshop key",
        Tags=[
            {"TagKey": "kms-workshop", "TagValue": "true"},
            {"TagKey": "kms-workshop-participant", "TagValue": "carol"},
        ],
    )["KeyMetadata"]["KeyId"]
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
        ],
    }
    iam.create_role(RoleName=f"{STRANGER}-role", AssumeRolePolicyDocument=json.dumps(trust))
    policy = iam.create_policy(
        PolicyName=f"{STRANGER}-policy",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "kms:Decrypt", "Resource": "*"}]}
        ),
    )["Policy"]["Arn"]
    iam.attach_role_policy(RoleName=f"{STRANGER}-role", PolicyArn=policy)
    bucket = f"kms-workshop-{STRANGER}-bucket"  # the workshop's name prefix, but not its tag
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=bucket, Key="keep.txt", Body=b"keep me")
    volume = ec2.create_volume(
        AvailabilityZone=f"{REGION}a",
        Size=1,
        TagSpecifications=[{"ResourceType": "volume", "Tags": [{"Key": "Name", "Value": "KMSWorkshop-Volume"}]}],
    )["VolumeId"]
    return {
        "keys": [untagged_key, other_participant_key],
        "aliases": [f"alias/{STRANGER}-prod"],
        "roles": [f"{STRANGER}-role"],
        "policies": [f"{STRANGER}-policy"],
        "buckets": [bucket],
        "volumes": [volume],
    }


# --- inventory: what exists ----------------------------------------------------------------


def inventory(ws) -> dict:
    """Everything customer-made in the backend's account and region, with tags and states."""
    from workshop_helpers import fixtures

    kms, iam, s3, ec2 = (ws.client(s) for s in ("kms", "iam", "s3", "ec2"))
    now = dt.datetime.now(dt.timezone.utc)
    keys = []
    for page in kms.get_paginator("list_keys").paginate():
        for entry in page["Keys"]:
            meta = kms.describe_key(KeyId=entry["KeyId"])["KeyMetadata"]
            if meta.get("KeyManager") == "AWS":
                continue
            tags = {t["TagKey"]: t["TagValue"] for t in kms.list_resource_tags(KeyId=entry["KeyId"]).get("Tags", [])}
            when = meta.get("DeletionDate")
            keys.append(
                {
                    "id": meta["KeyId"],
                    "state": meta["KeyState"],
                    "tags": tags,
                    "window": meta.get("PendingDeletionWindowInDays"),
                    "days_left": (when - now).total_seconds() / 86400 if isinstance(when, dt.datetime) else None,
                    "description": meta.get("Description", ""),
                }
            )
    aliases = [
        {"name": a["AliasName"], "target": a.get("TargetKeyId")}
        for page in kms.get_paginator("list_aliases").paginate()
        for a in page["Aliases"]
        if not a["AliasName"].startswith("alias/aws/")
    ]
    volumes = [
        {"id": v["VolumeId"], "state": v["State"], "tags": {t["Key"]: t["Value"] for t in v.get("Tags", [])}}
        for v in ec2.describe_volumes()["Volumes"]
    ]
    instances = [
        {"id": i["InstanceId"], "state": i["State"]["Name"], "tags": {t["Key"]: t["Value"] for t in i.get("Tags", [])}}
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
    ]
    buckets = []
    for b in s3.list_buckets().get("Buckets", []):
        try:
            tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=b["Name"])["TagSet"]}
        except Exception:  # noqa: BLE001 - NoSuchTagSet
            tags = {}
        objects = s3.list_objects_v2(Bucket=b["Name"]).get("KeyCount", 0)
        buckets.append({"name": b["Name"], "tags": tags, "objects": objects})
    roles = []
    for page in iam.get_paginator("list_roles").paginate():
        for r in page["Roles"]:
            tags = {t["Key"]: t["Value"] for t in iam.list_role_tags(RoleName=r["RoleName"]).get("Tags", [])}
            attached = [
                p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=r["RoleName"])["AttachedPolicies"]
            ]
            roles.append(
                {
                    "name": r["RoleName"],
                    "tags": tags,
                    "attached": attached,
                    "inline": iam.list_role_policies(RoleName=r["RoleName"])["PolicyNames"],
                }
            )
    policies = []
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for p in page["Policies"]:
            tags = {t["Key"]: t["Value"] for t in iam.list_policy_tags(PolicyArn=p["Arn"]).get("Tags", [])}
            policies.append(
                {"name": p["PolicyName"], "arn": p["Arn"], "tags": tags, "attachments": p.get("AttachmentCount", 0)}
            )
    data_dir = fixtures.workshop_data_path()
    local = (
        sorted(str(p.relative_to(data_dir)) for p in data_dir.rglob("*") if p.is_file() and p.name != ".gitignore")
        if data_dir.exists()
        else []
    )
    material_dir = fixtures.key_material_dir(ws)
    material = (
        sorted(p.name for p in material_dir.rglob("*") if p.is_file()) if material_dir and material_dir.exists() else []
    )
    return {
        "backend": ws.backend,
        "keys": keys,
        "aliases": aliases,
        "volumes": volumes,
        "instances": instances,
        "buckets": buckets,
        "roles": roles,
        "policies": policies,
        "local_files": local,
        "key_material_files": material,
    }


def dump_inventory(point: str) -> None:
    """In a kernel: the inventory at `point`, into the spy folder (outside the scanned one)."""
    from workshop_helpers import backend

    data = inventory(backend.active())
    (_spy["dir"] / f"{_spy['label']}.inventory.{point}.json").write_text(json.dumps(data, indent=1, default=str))


def check_trail_holds_no_keys() -> int:
    """In a kernel, last: the audit trail holds none of the data keys seen in this run.
    Returns how many keys were checked."""
    from workshop_helpers import backend

    keys = recorded_keys(_spy["dir"], _spy["label"])
    trail = json.dumps(backend.active().trail(), default=str).encode()
    leaks = [
        f"data key #{i} as {name}"
        for i, k in enumerate(keys)
        for name, form in encodings(k).items()
        if name != "raw bytes" and form in trail
    ]
    assert not leaks, "the audit trail holds plaintext data keys: " + ", ".join(leaks[:5])
    return len(keys)


def recorded_keys(
    spy_dir: pathlib.Path, label: str | None = None, kind: str | None = None, *, material: bool = True
) -> list[bytes]:
    """Every key the spy recorded, without duplicates: for one label or all, from one kind of
    record ("generated", "seen", "material", "server") or all."""
    from workshop_helpers.fidelity import recorded_keys as read

    spy_dir = pathlib.Path(spy_dir)
    keys: dict[bytes, None] = {}
    for path in sorted(spy_dir.glob(f"{label or '*'}.{kind or '*'}.keys")):
        if path.name.endswith(".material.keys") and not material:
            continue
        for key in read(path):
            keys[key] = None
    return list(keys)


# --- running notebooks -------------------------------------------------------------------------


def kernel_env(run_dir: pathlib.Path, backend: str = "moto", **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
    env.update(
        AWS_EC2_METADATA_DISABLED="true",
        KMS_WORKSHOP_BACKEND=backend,
        KMS_WORKSHOP_DATA_DIR=str(run_dir / "workshop-data"),
        KMS_WORKSHOP_KEY_MATERIAL_DIR=str(run_dir.parent / "key-material"),
        IPYTHONDIR=str(run_dir / ".ipython"),
        PYTHONDONTWRITEBYTECODE="1",
    )
    env["PATH"] = os.pathsep.join([str(pathlib.Path(sys.executable).parent), env.get("PATH", "")])
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), str(TESTS), env.get("PYTHONPATH", "")] if p)
    env.update(extra)
    return env


def copy_notebooks(dest: pathlib.Path, names: list[str] | None = None) -> pathlib.Path:
    """A temporary copy of notebooks/ (the notebooks and their solutions, no workshop-data)."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in names or notebook_names():
        shutil.copy2(NOTEBOOKS / name, dest / name)
    if (NOTEBOOKS / "solutions").is_dir():
        shutil.copytree(
            NOTEBOOKS / "solutions",
            dest / "solutions",
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    return dest


def code_cell(source: str, tag: str = "test-spy"):
    import nbformat

    cell = nbformat.v4.new_code_cell(source)
    cell.metadata["tags"] = [tag]
    cell["id"] = uuid.uuid4().hex[:12]
    return cell


def execute(nb, cwd: pathlib.Path, env: dict[str, str], timeout: int = CELL_TIMEOUT):
    from nbclient import NotebookClient

    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    client.execute(env=env, cwd=str(cwd))
    return nb


@dataclass
class Run:
    label: str
    base: pathlib.Path  # holds the scanned folders and, beside them, the spy folder
    spy: pathlib.Path
    scanned: list[pathlib.Path] = field(default_factory=list)
    executed: list[pathlib.Path] = field(default_factory=list)
    seconds: float = 0.0
    notes: dict = field(default_factory=dict)

    def keys(self, *, material: bool = True) -> list[bytes]:
        return recorded_keys(self.spy, material=material)

    def inventory(self, point: str, label: str | None = None) -> dict:
        return json.loads((self.spy / f"{label or self.label}.inventory.{point}.json").read_text())

    def calls_log(self, label: str | None = None) -> list[str]:
        return (self.spy / f"{label or self.label}.calls.log").read_text().splitlines()


_base_dir: pathlib.Path | None = None
_runs: dict[str, Run] = {}
_runs_lock = threading.Lock()


def base_dir() -> pathlib.Path:
    global _base_dir
    if _base_dir is None:
        _base_dir = pathlib.Path(tempfile.mkdtemp(prefix="kms-workshop-reliability-"))
        atexit.register(shutil.rmtree, _base_dir, True)
    return _base_dir


def _memo(name: str, make) -> Run:
    with _runs_lock:
        if name not in _runs:
            _runs[name] = make()
        return _runs[name]


def _spy_source(spy: pathlib.Path, label: str, mode: str = "moto") -> str:
    return (
        "# Test-only spy (tests/workshop_run.py): records every data key handed out, outside\n"
        "# the folder the key-hygiene test scans.\n"
        "import workshop_run as _workshop_run\n"
        f"_workshop_run.install_spy({str(spy)!r}, {label!r}, mode={mode!r})"
    )


def _run_fresh(name: str, base: pathlib.Path, spy: pathlib.Path) -> pathlib.Path:
    import nbformat

    label = name.split("-")[0]
    run_dir = copy_notebooks(base / f"fresh-{label}" / "notebooks", [name])
    nb = nbformat.read(run_dir / name, as_version=4)
    nb.cells.insert(0, code_cell(_spy_source(spy, label)))
    nb.cells.append(code_cell("print('keys checked against the trail:', _workshop_run.check_trail_holds_no_keys())"))
    execute(nb, run_dir, kernel_env(run_dir))
    out = run_dir / name.replace(".ipynb", ".executed.ipynb")
    nbformat.write(nb, out)
    return run_dir


def fresh_runs() -> Run:
    """Every notebook in a fresh kernel, one after the other, each in its own copy of notebooks/
    (two at a time is no faster on two cores)."""

    def make() -> Run:
        base = base_dir() / "fresh"
        spy = base_dir() / "spy-fresh"
        started = time.monotonic()
        dirs = [_run_fresh(name, base, spy) for name in notebook_names()]
        run = Run("fresh", base, spy, scanned=dirs, seconds=time.monotonic() - started)
        run.executed = sorted(base.rglob("*.executed.ipynb"))
        return run

    return _memo("fresh", make)


def _concatenated(names: list[str], spy: pathlib.Path, label: str, mode: str, *, cleanup_twice: bool):
    import nbformat

    first = nbformat.read(NOTEBOOKS / names[0], as_version=4)
    nb = nbformat.v4.new_notebook(metadata=copy.deepcopy(first.metadata))
    nb.cells.append(code_cell(_spy_source(spy, label, mode)))

    def add(name: str, round_: int = 1) -> None:
        nb.cells.append(code_cell(f"_workshop_run.mark({f'{name} round {round_}'!r})"))
        for cell in nbformat.read(NOTEBOOKS / name, as_version=4).cells:
            cell = copy.deepcopy(cell)
            cell["id"] = uuid.uuid4().hex[:12]  # ids stay unique in the concatenation
            nb.cells.append(cell)

    for name in names:
        if name != cleanup_notebook():
            add(name)
    nb.cells.append(
        code_cell(
            "import shutil as _shutil\n"
            "from workshop_helpers import fixtures as _fixtures\n"
            "if _fixtures.workshop_data_path().exists():\n"
            "    _shutil.copytree(_fixtures.workshop_data_path(), 'snapshot-before-cleanup')\n"
            "_workshop_run.dump_inventory('before-cleanup')"
        )
    )
    if cleanup_twice:
        cleanup_nb = cleanup_notebook()
        for round_ in (1, 2):
            add(cleanup_nb, round_)
            nb.cells.append(
                code_cell(
                    "assert report.errors == [] and again.errors == [], (report.errors, again.errors)\n"
                    "assert again.nothing_to_do, again.text()\n"
                    f"_workshop_run.dump_inventory('after-cleanup-{round_}')"
                )
            )
    nb.cells.append(code_cell("print('keys checked against the trail:', _workshop_run.check_trail_holds_no_keys())"))
    return nb


def whole_workshop(backend: str) -> Run:
    """The whole workshop in one kernel: moto, aws (moto-backed) or endpoint (then the CLI)."""
    return _memo(f"whole-{backend}", lambda: _whole(backend))


def _whole(backend: str) -> Run:
    import nbformat

    label = f"whole-{backend}"
    base = base_dir() / label
    spy = base_dir() / f"spy-{label}"
    spy.mkdir(parents=True, exist_ok=True)
    run_dir = copy_notebooks(base / "notebooks")
    started = time.monotonic()
    run = Run(label, base, spy, scanned=[base])
    if backend == "endpoint":
        env = kernel_env(run_dir, "endpoint", KMS_WORKSHOP_PARTICIPANT="reliability")
        server = RecordingEndpoint(env, spy / f"{label}.server.keys")
        try:
            env["KMS_WORKSHOP_ENDPOINT_URL"] = server.url
            names = [n for n in notebook_names() if n != cleanup_notebook()]
            nb = _concatenated(names, spy, label, "endpoint", cleanup_twice=False)
            execute(nb, run_dir, env)
            nbformat.write(nb, run_dir / "workshop.executed.ipynb")
            run.notes["cli"] = []
            for round_ in (1, 2):
                result = subprocess.run(
                    [sys.executable, "-m", "workshop_helpers", "cleanup"],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                run.notes["cli"].append(result)
                dump = subprocess.run(
                    [
                        sys.executable,
                        "-c",
                        "import json, sys, workshop_helpers, workshop_run; "
                        "json.dump(workshop_run.inventory(workshop_helpers.connect()), sys.stdout, default=str)",
                    ],
                    cwd=ROOT,
                    env=env,
                    capture_output=True,
                    text=True,
                    timeout=300,
                )
                assert dump.returncode == 0, dump.stderr
                (spy / f"{label}.inventory.after-cleanup-{round_}.json").write_text(dump.stdout)
        finally:
            run.notes["server_exit"] = server.stop()
            run.notes["server_stderr"] = server.stderr_text()
    else:
        extra = {"KMS_WORKSHOP_IAM": "yes"} if backend == "aws" else {}
        if backend == "moto":  # the account on disk, as learners have it; searched by test_key_hygiene
            run.notes["state_dir"] = base_dir() / f"{label}-account"
            extra["KMS_WORKSHOP_STATE_DIR"] = str(run.notes["state_dir"])
        env = kernel_env(run_dir, "moto", **extra)
        nb = _concatenated(notebook_names(), spy, label, "aws" if backend == "aws" else "moto", cleanup_twice=True)
        execute(nb, run_dir, env)
        nbformat.write(nb, run_dir / "workshop.executed.ipynb")
    run.executed = [run_dir / "workshop.executed.ipynb"]
    run.seconds = time.monotonic() - started
    return run


class Kernel:
    """A kernel started with `env` in `cwd`; `run(code)` returns (reply, outputs, seconds)."""

    def __init__(self, env, cwd):
        from jupyter_client.manager import KernelManager

        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(env=env, cwd=str(cwd))
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)

    def run(self, code: str, timeout: float = 120):
        outputs = []
        started = time.monotonic()
        reply = self.kc.execute_interactive(
            code, timeout=timeout, output_hook=lambda msg: outputs.append(msg), allow_stdin=False
        )
        return reply["content"], outputs, time.monotonic() - started

    def close(self):
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)


class RecordingEndpoint:
    """`serve --port 0 --record-data-keys FILE` in a subprocess."""

    def __init__(self, env: dict[str, str], record_to: pathlib.Path | None = None, *extra: str):
        # --inject-error is test-only: tests/fault_injection.py wraps `serve` with it
        program = (
            [str(TESTS / "fault_injection.py")] if "--inject-error" in extra else ["-m", "workshop_helpers", "serve"]
        )
        args = [sys.executable, *program, "--port", "0", *extra]
        if record_to is not None:
            args += ["--record-data-keys", str(record_to)]
        self._stderr = tempfile.TemporaryFile(mode="w+")
        server_env = {k: v for k, v in env.items() if not k.startswith("KMS_WORKSHOP_ENDPOINT")}
        self.proc = subprocess.Popen(
            args, cwd=ROOT, env=server_env, stdout=subprocess.PIPE, stderr=self._stderr, text=True
        )
        line = self.proc.stdout.readline()
        if not line.startswith("KMS_WORKSHOP_ENDPOINT_URL="):
            self.proc.kill()
            raise RuntimeError(f"serve did not print its URL: {line!r} {self.stderr_text()[-2000:]}")
        self.url = line.strip().split("=", 1)[1]

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stderr_text(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
