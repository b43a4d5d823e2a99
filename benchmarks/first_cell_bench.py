"""Benchmark a notebook's first cell: `connect()` and its first KMS call, against moto alone.

    python benchmarks/first_cell_bench.py [--runs 7]

Each measurement is a fresh Python process (a kernel's first cell imports everything
anew), on an account on disk made once beforehand in a temporary folder: a symmetric KMS
key with an alias, and an encrypted EBS volume, so the account holds KMS, IAM, STS and EC2
snapshots as a learner's does after notebook 05. The kinds measured:

- workshop: `import workshop_helpers; ws = workshop_helpers.connect(); ws.client("kms")`
  then the call (`ListAliases`), the account in that folder;
- workshop GenerateDataKey: the same, with GenerateDataKey under the alias as the call
  (what a notebook's first cell does; its plaintext is never printed);
- moto alone: `mock_aws().start()`, a boto3 KMS client, the same `ListAliases`;
- boto3 alone: `import boto3` and a KMS client, no call (the floor);
- doctor: `python -m workshop_helpers doctor` on the same account (the whole process).

"in-process" is measured inside the child, from before its first import to after the
call (what a notebook cell costs: the interpreter is already running), as wall time and
as the CPU time the child used meanwhile (steadier on a busy machine: waiting for a core
is not counted); "process" is the child's wall time as the parent sees it (interpreter
start-up included). Each figure is the median over --runs rounds; rounds alternate the
order of the kinds (forwards, then backwards), so a slow patch of a shared machine hits
every kind alike. The ratios are the medians' ratios to moto alone; the aim is at most
1.2x in-process. The load average is printed before and after: compare figures only
between runs on a similar load.

Python's compiled bytecode is kept for the children in a temporary folder
(PYTHONPYCACHEPREFIX), filled by one untimed warm-up round, as an installed package's
is: without it every child would compile the workshop's modules anew (this matters where
PYTHONDONTWRITEBYTECODE is set).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
ALIAS = "alias/FirstCellBench"
AIM = 1.2
RESULT_MARK = "RESULT "
CHILD_TIMEOUT_S = 300

_TIMED_PREFIX = "import time, sys, json\n_start, _cpu = time.perf_counter(), time.process_time()\n"
_TIMED_SUFFIX = (
    "_seconds, _cpu = time.perf_counter() - _start, time.process_time() - _cpu\n"
    "print('RESULT ' + json.dumps({'in-process': _seconds, 'cpu': _cpu,"
    " 'ec2_imported': 'moto.ec2.models' in sys.modules}))\n"
)

# kind -> the child's code (None: the CLI's doctor, timed from outside only)
KINDS: dict[str, str | None] = {
    "workshop": ("import workshop_helpers\nws = workshop_helpers.connect()\nws.client('kms').list_aliases()\n"),
    "workshop GenerateDataKey": (
        "import workshop_helpers\n"
        "ws = workshop_helpers.connect()\n"
        f"ws.client('kms').generate_data_key(KeyId={ALIAS!r}, KeySpec='AES_256')\n"
    ),
    "moto alone": (
        "import boto3\n"
        "from moto import mock_aws\n"
        "mock_aws().start()\n"
        f"boto3.client('kms', region_name={REGION!r}, aws_access_key_id='testing',"
        " aws_secret_access_key='testing').list_aliases()\n"
    ),
    "boto3 alone": (
        "import boto3\n"
        f"boto3.client('kms', region_name={REGION!r}, aws_access_key_id='testing', aws_secret_access_key='testing')\n"
    ),
    "doctor": None,
}
BASELINE = "moto alone"
MEASURES = ("in-process", "cpu", "process")

_SETUP = f"""
import workshop_helpers
ws = workshop_helpers.connect()
kms = ws.client("kms")
key_id = kms.create_key(Description="first-cell benchmark")["KeyMetadata"]["KeyId"]
kms.create_alias(AliasName={ALIAS!r}, TargetKeyId=key_id)
ws.client("ec2").create_volume(AvailabilityZone={REGION + "a"!r}, Size=1, Encrypted=True, KmsKeyId=key_id)
"""


def child_env(state_dir: str, pycache: str) -> dict[str, str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("AWS_", "KMS_WORKSHOP_")) and name != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(
        KMS_WORKSHOP_STATE_DIR=state_dir,
        KMS_WORKSHOP_BACKEND="moto",
        AWS_DEFAULT_REGION=REGION,
        PYTHONPATH=str(ROOT),
        PYTHONPYCACHEPREFIX=pycache,
    )
    return env


def run_child(kind: str, env: dict[str, str]) -> dict:
    code = KINDS[kind]
    command = (
        [sys.executable, "-m", "workshop_helpers", "doctor"]
        if code is None
        else [sys.executable, "-c", _TIMED_PREFIX + code + _TIMED_SUFFIX]
    )
    start = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed (exit {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
    result = {"process": wall}
    for line in done.stdout.splitlines():
        if line.startswith(RESULT_MARK):
            result.update(json.loads(line[len(RESULT_MARK) :]))
    return result


def load() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        sys.exit(f"{self.prog}: {message} (see --help)")  # one line, not the usage block


def main() -> int:
    parser = _Parser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="rounds, each one fresh process per kind (at least 5)")
    args = parser.parse_args()
    if args.runs < 5:
        parser.error(f"--runs {args.runs} is too few: use at least 5, the medians need them")

    print("settings:")
    print(
        f"  python {platform.python_version()}, moto {metadata.version('moto')}, "
        f"botocore {metadata.version('botocore')}, boto3 {metadata.version('boto3')}"
    )
    print(
        f"  {os.cpu_count()} CPUs, {args.runs} rounds alternating the order of {len(KINDS)} kinds, "
        f"first call ListAliases (and GenerateDataKey), region {REGION}"
    )
    print("  bytecode cached in a temporary PYTHONPYCACHEPREFIX, filled by an untimed warm-up round")
    print(f"  load average before: {load()}")

    state_dir = tempfile.mkdtemp(prefix="kms-first-cell-")  # outside the repository: the account refuses it
    pycache = tempfile.mkdtemp(prefix="kms-first-cell-pycache-")
    try:
        env = child_env(state_dir, pycache)
        done = subprocess.run(
            [sys.executable, "-c", _SETUP], cwd=ROOT, env=env, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
        )
        if done.returncode != 0:
            raise SystemExit(f"setting up the account failed: {done.stderr.strip().splitlines()[-1:]}")
        print("  account on disk: a KMS key with an alias and an encrypted EBS volume (KMS, IAM, STS, EC2 snapshots)")

        for kind in KINDS:
            run_child(kind, env)  # warm-up: compiles the bytecode
        samples: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        order = list(KINDS)
        for round_index in range(args.runs):
            for kind in order if round_index % 2 == 0 else reversed(order):
                samples[kind].append(run_child(kind, env))
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)
        shutil.rmtree(pycache, ignore_errors=True)
    print(f"  load average after: {load()}")

    def median(kind: str, measure: str) -> float | None:
        values = [sample[measure] for sample in samples[kind] if measure in sample]
        return statistics.median(values) if values else None

    print()
    base = {measure: median(BASELINE, measure) for measure in MEASURES}
    print(f"{'median seconds (x moto alone)':<28}" + "".join(f"{m:>18}" for m in MEASURES) + "  EC2 imported")
    ratios: dict[str, dict[str, float]] = {}
    for kind in KINDS:
        cells = []
        for measure in MEASURES:
            value = median(kind, measure)
            if value is None:
                cells.append(f"{'-':>18}")
                continue
            ratios.setdefault(kind, {})[measure] = value / base[measure]
            cells.append(f"{value:>10.3f} ({value / base[measure]:.2f}x)")
        ec2 = sorted({str(s["ec2_imported"]) for s in samples[kind] if "ec2_imported" in s})
        print(f"{kind:<28}" + "".join(cells) + f"  {'/'.join(ec2) or '-'}")
    print()
    for measure in ("in-process", "cpu"):
        ratio = ratios["workshop"][measure]
        print(
            f"aim: workshop {measure} at most {AIM}x moto alone: {ratio:.2f}x, {'met' if ratio <= AIM else 'NOT met'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
