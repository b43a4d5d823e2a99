"""Benchmark the cost of keeping the simulated account on disk (workshop_helpers.account).

    python benchmarks/account_bench.py [--calls 2000] [--warmup 50] [--rounds 1]

Measures the latency of one KMS call at a time, GenerateDataKey and Decrypt, in four
configurations, each in a fresh Python process of its own (`connect()` holds one backend
per process):

- in-process, persistent: `connect("moto")` with KMS_WORKSHOP_STATE_DIR a fresh temporary
  folder, so every request reads the account's generations from SQLite first, and every
  KMS call's trail record is written to it (a write transaction);
- in-process, memory: the same with KMS_WORKSHOP_STATE_DIR=memory;
- endpoint, persistent: a `python -m workshop_helpers serve --port 0 --state-dir DIR`
  subprocess (DIR a fresh temporary folder) and a client process with the endpoint backend;
- endpoint, memory: the same with `serve --ephemeral`.

Every configuration does the same thing: `fixtures.ensure_imported_cmk` (the workshop's
key, alias/ImportedCMK, made fresh in the empty account), then the warm-up calls
(untimed), then N pairs of calls: GenerateDataKey (AES_256, context project=workshop), then
Decrypt of the blob it returned, each call timed alone with time.perf_counter_ns, on
one client made by `Workshop.client("kms")` (the workshop's botocore Config). Plaintext
data keys are compared with each other (untimed), never printed.

How to read it: p50 and p99 per operation and configuration, in milliseconds; then, per
process kind, persistent/memory for p50 and p99 (1.00 = persistence costs nothing). With
--rounds > 1 each figure is the median over rounds, and each ratio the median of the
rounds' ratios; rounds alternate which of persistent/memory goes first, so a slow patch
of a shared machine hits both alike. Last, the aims: persistent p50 at most 2x memory's
(both process kinds, both operations) and in-process persistent p50 under 5 ms.

Temporary folders (state folders, and the key-material folder the endpoint client keeps
its copy in) are made with tempfile, outside the repository (the account refuses a state
folder inside it), and removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import selectors
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CONTEXT = {"project": "workshop"}
OPERATIONS = ("GenerateDataKey", "Decrypt")
RESULT_MARK = "RESULT "  # the child's last stdout line: RESULT {json}
SERVE_START_TIMEOUT_S = 60
CHILD_TIMEOUT_S = 1800

TARGET_RATIO_P50 = 2.0
TARGET_IN_PROCESS_P50_MS = 5.0

# (name, process kind, persistent?)
CONFIGURATIONS = (
    ("in-process persistent", "in-process", True),
    ("in-process memory", "in-process", False),
    ("endpoint persistent", "endpoint", True),
    ("endpoint memory", "endpoint", False),
)
KINDS = ("in-process", "endpoint")


# --- the measuring child ----------------------------------------------------------------


def percentile(sorted_values: list[int], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    index = min(len(sorted_values) - 1, max(0, round(fraction * len(sorted_values)) - 1))
    return sorted_values[index]


def measure(calls: int, warmup: int) -> None:
    """Child process: connect with the backend the environment names, time the calls, and
    print `RESULT {"GenerateDataKey": {"p50": ms, "p99": ms}, ...}` as the last line."""
    import workshop_helpers
    from workshop_helpers import fixtures

    ws = workshop_helpers.connect()
    kms = ws.client("kms")
    key = fixtures.ensure_imported_cmk(ws, kms=kms)
    clock = time.perf_counter_ns
    timings: dict[str, list[int]] = {name: [] for name in OPERATIONS}
    for number in range(warmup + calls):
        start = clock()
        made = kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext=CONTEXT)
        between = clock()
        opened = kms.decrypt(CiphertextBlob=made["CiphertextBlob"], EncryptionContext=CONTEXT)
        end = clock()
        if opened["Plaintext"] != made["Plaintext"]:
            raise SystemExit("Decrypt returned another data key than GenerateDataKey made")
        if number >= warmup:
            timings["GenerateDataKey"].append(between - start)
            timings["Decrypt"].append(end - between)
    result = {}
    for name, values in timings.items():
        values.sort()
        result[name] = {"p50": percentile(values, 0.50) / 1e6, "p99": percentile(values, 0.99) / 1e6}
    result["state_dir"] = str(ws.state_dir) if ws.state_dir else None
    print(RESULT_MARK + json.dumps(result), flush=True)


# --- running one configuration ----------------------------------------------------------


def child_env(**settings: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("KMS_WORKSHOP_")}
    env.update(settings)
    return env


def start_serve(arguments: list[str], log: Path) -> tuple[subprocess.Popen, str]:
    """A `serve --port 0` subprocess and the URL it prints as its first stdout line."""
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "workshop_helpers", "serve", "--port", "0", *arguments],
            cwd=ROOT,
            env=child_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
        )
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    ready = selector.select(timeout=SERVE_START_TIMEOUT_S)
    selector.close()
    line = process.stdout.readline().decode().strip() if ready else ""
    name, _, url = line.partition("=")
    if name != "KMS_WORKSHOP_ENDPOINT_URL" or not url:
        stop_serve(process)
        raise SystemExit(f"serve {' '.join(arguments)} did not start: {log.read_text().strip()[-500:]}")
    return process, url


def stop_serve(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    process.stdout.close()


def run_child(env: dict[str, str], calls: int, warmup: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--child", "--calls", str(calls), "--warmup", str(warmup)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT_S,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"the measuring process failed: {result.stderr.strip()[-1500:]}")
    return json.loads(lines[-1][len(RESULT_MARK) :])


def run_configuration(kind: str, persistent: bool, calls: int, warmup: int) -> dict:
    """One configuration in fresh processes, with fresh temporary folders, removed after."""
    workdir = Path(tempfile.mkdtemp(prefix="account-bench-"))
    try:
        if workdir.resolve().is_relative_to(ROOT):
            raise SystemExit(f"the temporary folder {workdir} is inside the repository; set TMPDIR elsewhere")
        state = workdir / "account"
        if kind == "in-process":
            env = child_env(KMS_WORKSHOP_BACKEND="moto", KMS_WORKSHOP_STATE_DIR=str(state) if persistent else "memory")
            result = run_child(env, calls, warmup)
            if (result["state_dir"] is not None) != persistent:
                raise SystemExit(f"the in-process account is not where it should be: {result['state_dir']}")
            return result
        arguments = ["--state-dir", str(state)] if persistent else ["--ephemeral"]
        server, url = start_serve(arguments, workdir / "serve.log")
        try:
            env = child_env(
                KMS_WORKSHOP_BACKEND="endpoint",
                KMS_WORKSHOP_ENDPOINT_URL=url,
                KMS_WORKSHOP_STATE_DIR="memory",
                KMS_WORKSHOP_KEY_MATERIAL_DIR=str(workdir / "key-material"),
            )
            result = run_child(env, calls, warmup)
        finally:
            stop_serve(server)
        if persistent and not (state / "account.sqlite3").exists():
            raise SystemExit(f"serve --state-dir kept no account in {state}")
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


# --- settings and report ----------------------------------------------------------------


def filesystem_type(path: Path) -> str:
    """The type of the filesystem holding `path` (longest mount point in /proc/mounts)."""
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return "unknown"
    best, kind = "", "unknown"
    resolved = str(path.resolve())
    for line in mounts:
        fields = line.split()
        if len(fields) < 3:
            continue
        point = fields[1].replace("\\040", " ")
        inside = resolved == point or resolved.startswith(point.rstrip("/") + "/")
        if inside and len(point) > len(best):
            best, kind = point, fields[2]
    return kind


def load_average() -> str:
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def print_settings(args) -> None:
    temp = Path(tempfile.gettempdir())
    print(f"calls: {args.calls} per operation, after {args.warmup} warm-up calls; {args.rounds} round(s)")
    print(
        f"Python {platform.python_version()}, moto {metadata.version('moto')}, "
        f"botocore {metadata.version('botocore')}, {os.cpu_count()} CPUs"
    )
    print(f"state folders in {temp} ({filesystem_type(temp)})")
    print(f"load average (1/5/15 min) before: {load_average()}", flush=True)


def ratio(results: dict, kind: str, operation: str, figure: str) -> float:
    """Median over rounds of persistent/memory within the round."""
    persistent = results[f"{kind} persistent"]
    memory = results[f"{kind} memory"]
    return statistics.median(
        p[operation][figure] / m[operation][figure] for p, m in zip(persistent, memory, strict=True)
    )


def median_ms(runs: list[dict], operation: str, figure: str) -> float:
    return statistics.median(run[operation][figure] for run in runs)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results: dict[str, list[dict]], rounds: int) -> None:
    print()
    print(f"latency in ms{' (median of rounds)' if rounds > 1 else ''}")
    print(f"{'':24}" + "".join(f"{op + ' p50':>20}{'p99':>8}" for op in OPERATIONS))
    for name, _kind, _persistent in CONFIGURATIONS:
        print(
            f"{name:24}"
            + "".join(
                f"{median_ms(results[name], op, 'p50'):>20.2f}{median_ms(results[name], op, 'p99'):>8.2f}"
                for op in OPERATIONS
            )
        )
    print()
    print("persistent / memory" + (" (median of per-round ratios)" if rounds > 1 else ""))
    for kind in KINDS:
        print(
            f"{kind:24}"
            + "".join(
                f"{ratio(results, kind, op, 'p50'):>19.2f}x{ratio(results, kind, op, 'p99'):>7.2f}x"
                for op in OPERATIONS
            )
        )
    print()
    print("aims")
    for kind in KINDS:
        worst = max(ratio(results, kind, op, "p50") for op in OPERATIONS)
        print(
            f"  {kind} persistent p50 <= {TARGET_RATIO_P50:g}x memory's: worst {worst:.2f}x   "
            f"{verdict(worst <= TARGET_RATIO_P50)}"
        )
    slowest = max(median_ms(results["in-process persistent"], op, "p50") for op in OPERATIONS)
    print(
        f"  in-process persistent p50 < {TARGET_IN_PROCESS_P50_MS:g} ms: slowest {slowest:.2f} ms   "
        f"{verdict(slowest < TARGET_IN_PROCESS_P50_MS)}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="timed calls per operation (default 2000)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed calls of each operation first (default 50)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of all four configurations (default 1)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.calls < 1 or args.warmup < 0 or args.rounds < 1:
        parser.error("--calls and --rounds must be at least 1, --warmup at least 0")
    if args.child:
        measure(args.calls, args.warmup)
        return 0

    print_settings(args)
    results: dict[str, list[dict]] = {name: [] for name, _kind, _persistent in CONFIGURATIONS}
    started = time.monotonic()
    for round_number in range(args.rounds):
        order = list(CONFIGURATIONS)
        if round_number % 2:  # memory first in odd rounds
            order = [order[1], order[0], order[3], order[2]]
        for name, kind, persistent in order:
            before = load_average()
            result = run_configuration(kind, persistent, args.calls, args.warmup)
            results[name].append(result)
            print(
                f"  round {round_number + 1}/{args.rounds} {name:24} "
                + "; ".join(f"{op} p50 {result[op]['p50']:.2f} ms" for op in OPERATIONS)
                + f"  (load {before} before, {load_average()} after)",
                flush=True,
            )
    print(f"load average (1/5/15 min) after:  {load_average()}; took {time.monotonic() - started:.0f} s")
    report(results, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
