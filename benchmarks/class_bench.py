"""N participants at once on one class endpoint, through the workshop's calls, beside plain moto_server.

    .venv/bin/python benchmarks/class_bench.py [--sizes 1,10,30,60] [--targets workers1,workers2,moto_server]

For each N and target it starts a fresh server, gives every participant a thread of its
own, creates all their clients, and only then starts the clock; every participant then
runs notebook 01 to 08's calls: key creation and import of key material, a
least-privilege role denied then allowed, GenerateDataKey with an encryption context,
Decrypt without the context (refused) and with it, envelope encryption of a file, direct
Encrypt/Decrypt, and cleanup. The targets:

- workers1, workers2: `serve --participants p001,...,pNNN --class-dir DIR --workers 1|2`
  with a fresh state folder on disk, as in a real class; each participant uses their own
  issued credentials, in an account of their own;
- moto_server: moto's own server (`moto_server -p PORT`), which has no class mode: the same
  calls in its one account (alias and role names carry the participant's name so they do
  not collide), state in memory, no signature checks; it does not enforce the role's
  missing permission, so the "denied" call succeeds there, and it answers
  GetParametersForImport with a 500, so its key has KMS's own material (21 calls, not 23).

It prints the settings, then per N and target the calls per second, p50/p99 per call,
the server's CPU time per call (all its processes; Linux), the error count and the
machine's load average (1, 5, 15 min) before and after, then the ratios workers2 /
workers1 and workers2 / moto_server. Clients and servers share this
machine's CPUs, so other work on it changes every figure: compare ratios from one run.
The aims on a 2-core machine: no error; at N=30, workers2 >= 1.7x workers1 and >= 1.5x
moto_server (calls per second).

`run_participant` is also what tests/integration/test_classroom_load.py runs for 5 participants.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict

ROOT = pathlib.Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
CONTEXT = {"purpose": "workshop", "participant": ""}


def read_env(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in pathlib.Path(path).read_text().splitlines() if "=" in line)


class Timings:
    def __init__(self):
        self._lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.errors: list[str] = []

    def timed(self, name: str, call):
        start = time.perf_counter()
        try:
            return call()
        finally:
            with self._lock:
                self.latencies[name].append(time.perf_counter() - start)

    def error(self, text: str) -> None:
        with self._lock:
            self.errors.append(text)


def _wrap(public_key_der: bytes, material: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding

    key = serialization.load_der_public_key(public_key_der)
    return key.encrypt(material, padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None))


def _expect_error(code: str, call) -> None:
    from botocore.exceptions import ClientError

    try:
        call()
    except ClientError as exc:
        if exc.response["Error"]["Code"] != code:
            raise
        return
    raise AssertionError(f"expected {code}, the call succeeded")


class Seat:
    """A participant's clients, made before the clock starts (a boto3 client costs tens of
    milliseconds to make; a participant makes theirs once, in the notebook's first cell)."""

    def __init__(self, env: dict[str, str], shared_account: bool = False):
        import boto3
        from botocore.config import Config

        self.env = env
        self.name = env["KMS_WORKSHOP_PARTICIPANT"]
        self.shared_account = shared_account
        config = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4)
        self.kw = dict(
            endpoint_url=env["KMS_WORKSHOP_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"], config=config
        )
        self.session = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"]
        )
        self.kms, self.iam, self.sts = (self.session.client(s, **self.kw) for s in ("kms", "iam", "sts"))

    def role_client(self, creds: dict):
        """The role's KMS client: its credentials exist only once AssumeRole has answered
        (the one client made while the clock runs; from the seat's session, so cheap)."""
        return self.session.client(
            "kms",
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            **self.kw,
        )


def run_participant(env: dict[str, str] | Seat, timings: Timings) -> dict:
    """One participant through the workshop. Returns what it made (for the checks)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    seat = env if isinstance(env, Seat) else Seat(env)
    kms, iam, sts = seat.kms, seat.iam, seat.sts
    t = timings.timed
    name = seat.name
    # one account for everybody (moto_server): names carry the participant's
    suffix = f"-{name}" if seat.shared_account else ""
    alias, role = f"alias/ImportedCMK{suffix}", f"kms-workshop-participant{suffix}"
    context = {**CONTEXT, "participant": name}
    account = t("GetCallerIdentity", sts.get_caller_identity)["Account"]

    # 01: a key with imported material, and its alias (plain moto_server answers
    # GetParametersForImport with a 500: there, a key with KMS's own material)
    origin = "AWS_KMS" if seat.shared_account else "EXTERNAL"
    key_id = t("CreateKey", lambda: kms.create_key(Origin=origin, Description=f"{name}'s ImportedCMK"))["KeyMetadata"][
        "KeyId"
    ]
    if not seat.shared_account:
        params = t(
            "GetParametersForImport",
            lambda: kms.get_parameters_for_import(
                KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
            ),
        )
        wrapped = _wrap(params["PublicKey"], os.urandom(32))
        t(
            "ImportKeyMaterial",
            lambda: kms.import_key_material(
                KeyId=key_id,
                ImportToken=params["ImportToken"],
                EncryptedKeyMaterial=wrapped,
                ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE",
            ),
        )
    t("CreateAlias", lambda: kms.create_alias(AliasName=alias, TargetKeyId=key_id))

    # least privilege: a role that may not use the key, then may; it trusts the account,
    # as the workshop's participant role does
    t("GetCallerIdentity", sts.get_caller_identity)
    trust = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
        ],
    }
    t("CreateRole", lambda: iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps(trust)))
    creds = t(
        "AssumeRole", lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/{role}", RoleSessionName=name)
    )["Credentials"]
    role_kms = seat.role_client(creds)
    denied = lambda: role_kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)  # noqa: E731
    t(
        "GenerateDataKey(denied)",
        denied if seat.shared_account else lambda: _expect_error("AccessDeniedException", denied),
    )
    allow = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                "Resource": f"arn:aws:kms:{REGION}:{account}:key/{key_id}",
            }
        ],
    }
    t(
        "PutRolePolicy",
        lambda: iam.put_role_policy(RoleName=role, PolicyName="use-the-key", PolicyDocument=json.dumps(allow)),
    )
    t(
        "GenerateDataKey(role)",
        lambda: role_kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context),
    )

    # 02-04: a data key with a context, decrypt without it (refused) and with it
    data_key = t(
        "GenerateDataKey", lambda: kms.generate_data_key(KeyId=alias, KeySpec="AES_256", EncryptionContext=context)
    )
    blob = data_key["CiphertextBlob"]
    t(
        "Decrypt(no context)",
        lambda: _expect_error("InvalidCiphertextException", lambda: kms.decrypt(CiphertextBlob=blob)),
    )
    plain = t("Decrypt", lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=context))["Plaintext"]
    assert plain == data_key["Plaintext"], "Decrypt gave another data key"

    # envelope files: the data key encrypts a file locally; only the wrapped key is kept
    document = os.urandom(64 * 1024)
    nonce = os.urandom(12)
    sealed = AESGCM(plain).encrypt(nonce, document, None)
    reopened_key = t("Decrypt(envelope)", lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=context))[
        "Plaintext"
    ]
    assert AESGCM(reopened_key).decrypt(nonce, sealed, None) == document

    # 07: direct encryption
    secret = f"{name}'s secret".encode()
    direct = t("Encrypt", lambda: kms.encrypt(KeyId=key_id, Plaintext=secret, EncryptionContext=context))[
        "CiphertextBlob"
    ]
    assert (
        t("Decrypt(direct)", lambda: kms.decrypt(CiphertextBlob=direct, EncryptionContext=context))["Plaintext"]
        == secret
    )

    keys = [k["KeyId"] for k in t("ListKeys", kms.list_keys)["Keys"]]
    aliases = [
        a["AliasName"]
        for a in t("ListAliases", kms.list_aliases)["Aliases"]
        if not a["AliasName"].startswith("alias/aws/")
    ]

    # 08: cleanup
    t("DeleteRolePolicy", lambda: iam.delete_role_policy(RoleName=role, PolicyName="use-the-key"))
    t("DeleteRole", lambda: iam.delete_role(RoleName=role))
    t("DeleteAlias", lambda: kms.delete_alias(AliasName=alias))
    state = t("ScheduleKeyDeletion", lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)).get(
        "KeyState"
    )
    return {
        "name": name,
        "account": account,
        "key_id": key_id,
        "keys": keys,
        "aliases": aliases,
        "state_after_cleanup": state,
        "direct_blob": direct,
    }


def run_class(envs: list[dict[str, str]], timings: Timings, *, shared_account: bool = False) -> list[dict]:
    """Every participant in a thread of their own, all at once; (results, seconds from the
    start signal to the last participant's end). Clients are made before the start."""
    results, _wall = run_class_timed(envs, timings, shared_account=shared_account)
    return results


def run_class_timed(
    envs: list[dict[str, str]], timings: Timings, *, shared_account: bool = False
) -> tuple[list[dict], float]:
    seats = [Seat(env, shared_account) for env in envs]
    results: list[dict | None] = [None] * len(seats)
    barrier = threading.Barrier(len(seats) + 1)

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = run_participant(seats[i], timings)
        except Exception as exc:  # noqa: BLE001 - counted and printed
            timings.error(f"{seats[i].name}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(seats))]
    for thread in threads:
        thread.start()
    barrier.wait()  # every participant ready, every client made: the clock starts
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    return [r for r in results if r is not None], wall


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "MOTO_"))}


def start_class(
    names: list[str], workdir: pathlib.Path, workers: int = 1, threads: int | None = None
) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "workshop_helpers",
            "serve",
            "--port",
            "0",
            "--state-dir",
            str(workdir / "state"),
            "--participants",
            ",".join(names),
            "--class-dir",
            str(workdir / "class"),
            *(["--workers", str(workers)] if workers != 1 else []),
            *(["--threads", str(threads)] if threads else []),
        ],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    line = proc.stdout.readline()
    if not line.startswith("KMS_WORKSHOP_ENDPOINT_URL="):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.strip().split("=", 1)[1]


def start_moto_server() -> tuple[subprocess.Popen, str]:
    """moto's own server on a free port, once it answers."""
    import socket
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [str(pathlib.Path(sys.executable).with_name("moto_server")), "-p", str(port)],
        cwd=ROOT,
        env=_clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=2).read()
            return proc, url
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("moto_server did not start")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def load_average() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def server_cpu_seconds(pid: int) -> float | None:
    """CPU seconds used so far by process `pid` and its children (its workers), from Linux's
    /proc; None elsewhere. CPU per call compares servers fairly on a busy machine, where
    the wall clock mostly measures the other work."""

    def stat(p: str) -> list[str]:
        with open(f"/proc/{p}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()

    try:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for p in [str(pid)] + [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                fields = stat(p)
            except OSError:
                continue
            if p == str(pid) or fields[1] == str(pid):
                total += int(fields[11]) + int(fields[12])
        return total / tick
    except (OSError, ValueError):
        return None


TARGETS = ("workers1", "workers2", "moto_server")


def bench(n: int, target: str, per_call: bool = False, threads: int | None = None) -> dict:
    names = [f"p{i:03d}" for i in range(1, n + 1)]
    with tempfile.TemporaryDirectory(prefix="class-bench-") as tmp:
        workdir = pathlib.Path(tmp)
        if target == "moto_server":
            proc, url = start_moto_server()
            envs = [
                {
                    "KMS_WORKSHOP_ENDPOINT_URL": url,
                    "AWS_DEFAULT_REGION": REGION,
                    "AWS_ACCESS_KEY_ID": "testing",
                    "AWS_SECRET_ACCESS_KEY": "testing",
                    "KMS_WORKSHOP_PARTICIPANT": name,
                }
                for name in names
            ]
        else:
            proc, url = start_class(names, workdir, workers=int(target[-1]), threads=threads)
            envs = [read_env(workdir / "class" / f"{name}.env") for name in names]
        try:
            timings = Timings()
            before = load_average()
            cpu_before = server_cpu_seconds(proc.pid)
            results, wall = run_class_timed(envs, timings, shared_account=target == "moto_server")
            cpu_after = server_cpu_seconds(proc.pid)
            after = load_average()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    every = [x for v in timings.latencies.values() for x in v]
    row = {
        "n": n,
        "target": target,
        "done": len(results),
        "errors": len(timings.errors),
        "calls": len(every),
        "wall": wall,
        "rate": len(every) / wall,
        "p50": statistics.median(every),
        "p99": percentile(every, 99),
        "before": before,
        "after": after,
        "cpu": (cpu_after - cpu_before) / len(every) if cpu_before is not None and cpu_after is not None else None,
    }
    cpu = f"{row['cpu'] * 1000:5.1f} ms" if row["cpu"] is not None else "n/a"
    print(
        f"N={n:<3d} {target:11s} {row['rate']:7.1f} calls/s  p50 {row['p50'] * 1000:6.0f} ms  "
        f"p99 {row['p99'] * 1000:6.0f} ms  server CPU {cpu}/call  {row['errors']} errors  {row['done']}/{n} done  "
        f"{row['calls']} calls in {wall:.1f} s  ({before} before, {after} after)",
        flush=True,
    )
    if per_call:
        for name, values in timings.latencies.items():
            print(
                f"      {name:26s} n={len(values):4d}  p50 {statistics.median(values) * 1000:6.0f} ms  "
                f"p99 {percentile(values, 99) * 1000:6.0f} ms"
            )
    for text in timings.errors[:5]:
        print("      ERROR", text)
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,30,60")
    parser.add_argument("--targets", default=",".join(TARGETS), help=f"some of {', '.join(TARGETS)}")
    parser.add_argument("--per-call", action="store_true", help="p50/p99 of each operation too")
    parser.add_argument("--threads", type=int, default=None, help="serve's --threads (default: serve's own)")
    args = parser.parse_args()
    targets = [t for t in args.targets.split(",") if t]
    unknown = set(targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown target {', '.join(sorted(unknown))}: choose from {', '.join(TARGETS)}")
    from importlib import metadata

    sys.path.insert(0, str(ROOT))  # this tree's package, as the servers it starts use
    from workshop_helpers.serving import DEFAULT_THREADS

    print(
        f"class_bench on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, moto {metadata.version('moto')}, "
        f"waitress {metadata.version('waitress')}; sizes {args.sizes}; targets {', '.join(targets)}"
    )
    print(
        f"  serve: class mode, state folder on disk, {args.threads or DEFAULT_THREADS} threads per worker; moto_server: one "
        f"account in memory; clients: one thread per participant in this process, all clients made "
        f"before the clock starts; {load_average()} (1, 5, 15 min)"
    )
    rows: dict[tuple[int, str], dict] = {}
    for n in (int(x) for x in args.sizes.split(",")):
        for target in targets:
            rows[(n, target)] = bench(n, target, args.per_call, args.threads)
    print("\nratios (calls per second; in brackets p99 and server CPU per call, lower is better):")
    for n in sorted({n for n, _ in rows}):
        parts = []
        for top, bottom in (("workers2", "workers1"), ("workers2", "moto_server"), ("workers1", "moto_server")):
            if (n, top) in rows and (n, bottom) in rows:
                a, b = rows[(n, top)], rows[(n, bottom)]
                cpu = f", CPU/call {a['cpu'] / b['cpu']:.2f}x" if a["cpu"] and b["cpu"] else ""
                parts.append(f"{top}/{bottom} {a['rate'] / b['rate']:.2f}x (p99 {a['p99'] / b['p99']:.2f}x{cpu})")
        print(f"  N={n:<3d} " + "; ".join(parts))
    errors = sum(r["errors"] for r in rows.values())
    print(f"errors: {errors}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
