"""N participants at once on one class endpoint, through the workshop's calls.

    .venv/bin/python benchmarks/class_bench.py [--sizes 1,10,30,60]

For each N it starts `serve --participants p001,...,pNNN --class-dir DIR` (a fresh state
folder on disk, as in a real class), then runs every participant in a thread of its own,
with their own issued credentials, through notebook 01 to 08's calls: key creation and
import of key material, a least-privilege role denied then allowed, GenerateDataKey with
an encryption context, Decrypt without the context (refused) and with it, envelope
encryption of a file, direct Encrypt/Decrypt, and cleanup. It prints the wall time, the
throughput (calls per second) and p50/p99 latency per call; any error is counted and
printed. The aim on a 2-core machine: 30 participants, no error, p99 under 1 s.

`run_participant` is also what tests/test_classroom_load.py runs for 5 participants.
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


def run_participant(env: dict[str, str], timings: Timings) -> dict:
    """One participant through the workshop. Returns what it made (for the checks)."""
    import boto3
    from botocore.config import Config
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    config = Config(retries={"max_attempts": 1, "mode": "standard"}, max_pool_connections=4)
    kw = dict(endpoint_url=env["KMS_WORKSHOP_ENDPOINT_URL"], region_name=env["AWS_DEFAULT_REGION"], config=config)
    session = boto3.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"])
    kms, iam, sts = (session.client(s, **kw) for s in ("kms", "iam", "sts"))
    t = timings.timed
    name = env["KMS_WORKSHOP_PARTICIPANT"]
    context = {**CONTEXT, "participant": name}
    account = t("GetCallerIdentity", sts.get_caller_identity)["Account"]

    # 01: a key with imported material, and its alias
    key_id = t("CreateKey", lambda: kms.create_key(Origin="EXTERNAL", Description=f"{name}'s ImportedCMK"))["KeyMetadata"]["KeyId"]
    params = t("GetParametersForImport", lambda: kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"))
    wrapped = _wrap(params["PublicKey"], os.urandom(32))
    t("ImportKeyMaterial", lambda: kms.import_key_material(
        KeyId=key_id, ImportToken=params["ImportToken"], EncryptedKeyMaterial=wrapped,
        ExpirationModel="KEY_MATERIAL_DOES_NOT_EXPIRE"))
    t("CreateAlias", lambda: kms.create_alias(AliasName="alias/ImportedCMK", TargetKeyId=key_id))

    # least privilege: a role that may not use the key, then may; it trusts the account,
    # as the workshop's participant role does
    t("GetCallerIdentity", sts.get_caller_identity)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}]}
    t("CreateRole", lambda: iam.create_role(RoleName="kms-workshop-participant", AssumeRolePolicyDocument=json.dumps(trust)))
    creds = t("AssumeRole", lambda: sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/kms-workshop-participant",
                                                    RoleSessionName=name))["Credentials"]
    role_kms = boto3.client("kms", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                            aws_session_token=creds["SessionToken"], **kw)
    t("GenerateDataKey(denied)", lambda: _expect_error("AccessDeniedException", lambda: role_kms.generate_data_key(
        KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)))
    allow = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
                                                      "Resource": f"arn:aws:kms:{REGION}:{account}:key/{key_id}"}]}
    t("PutRolePolicy", lambda: iam.put_role_policy(RoleName="kms-workshop-participant", PolicyName="use-the-key",
                                                   PolicyDocument=json.dumps(allow)))
    t("GenerateDataKey(role)", lambda: role_kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context))

    # 02-04: a data key with a context, decrypt without it (refused) and with it
    data_key = t("GenerateDataKey", lambda: kms.generate_data_key(KeyId="alias/ImportedCMK", KeySpec="AES_256",
                                                                  EncryptionContext=context))
    blob = data_key["CiphertextBlob"]
    t("Decrypt(no context)", lambda: _expect_error("InvalidCiphertextException", lambda: kms.decrypt(CiphertextBlob=blob)))
    plain = t("Decrypt", lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=context))["Plaintext"]
    assert plain == data_key["Plaintext"], "Decrypt gave another data key"

    # envelope files: the data key encrypts a file locally; only the wrapped key is kept
    document = os.urandom(64 * 1024)
    nonce = os.urandom(12)
    sealed = AESGCM(plain).encrypt(nonce, document, None)
    reopened_key = t("Decrypt(envelope)", lambda: kms.decrypt(CiphertextBlob=blob, EncryptionContext=context))["Plaintext"]
    assert AESGCM(reopened_key).decrypt(nonce, sealed, None) == document

    # 07: direct encryption
    secret = f"{name}'s secret".encode()
    direct = t("Encrypt", lambda: kms.encrypt(KeyId=key_id, Plaintext=secret, EncryptionContext=context))["CiphertextBlob"]
    assert t("Decrypt(direct)", lambda: kms.decrypt(CiphertextBlob=direct, EncryptionContext=context))["Plaintext"] == secret

    keys = [k["KeyId"] for k in t("ListKeys", kms.list_keys)["Keys"]]
    aliases = [a["AliasName"] for a in t("ListAliases", kms.list_aliases)["Aliases"] if not a["AliasName"].startswith("alias/aws/")]

    # 08: cleanup
    t("DeleteRolePolicy", lambda: iam.delete_role_policy(RoleName="kms-workshop-participant", PolicyName="use-the-key"))
    t("DeleteRole", lambda: iam.delete_role(RoleName="kms-workshop-participant"))
    t("DeleteAlias", lambda: kms.delete_alias(AliasName="alias/ImportedCMK"))
    state = t("ScheduleKeyDeletion", lambda: kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7))["KeyState"]
    return {"name": name, "account": account, "key_id": key_id, "keys": keys, "aliases": aliases,
            "state_after_cleanup": state, "direct_blob": direct}


def run_class(envs: list[dict[str, str]], timings: Timings) -> list[dict]:
    results: list[dict | None] = [None] * len(envs)
    barrier = threading.Barrier(len(envs))

    def one(i: int) -> None:
        barrier.wait()
        try:
            results[i] = run_participant(envs[i], timings)
        except Exception as exc:  # noqa: BLE001 - counted and printed
            timings.error(f"{envs[i]['KMS_WORKSHOP_PARTICIPANT']}: {type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(envs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def start_class(names: list[str], workdir: pathlib.Path) -> tuple[subprocess.Popen, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
    proc = subprocess.Popen([sys.executable, "-m", "workshop_helpers", "serve", "--port", "0",
                             "--state-dir", str(workdir / "state"), "--participants", ",".join(names),
                             "--class-dir", str(workdir / "class")],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    if not line.startswith("KMS_WORKSHOP_ENDPOINT_URL="):
        proc.kill()
        raise SystemExit(f"serve did not start: {line!r}")
    return proc, line.strip().split("=", 1)[1]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def load_average() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bench(n: int) -> dict:
    names = [f"p{i:03d}" for i in range(1, n + 1)]
    before = load_average()
    with tempfile.TemporaryDirectory(prefix="class-bench-") as tmp:
        workdir = pathlib.Path(tmp)
        started = time.perf_counter()
        proc, _url = start_class(names, workdir)
        startup = time.perf_counter() - started
        try:
            envs = [read_env(workdir / "class" / f"{name}.env") for name in names]
            timings = Timings()
            start = time.perf_counter()
            results = run_class(envs, timings)
            wall = time.perf_counter() - start
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    calls = sum(len(v) for v in timings.latencies.values())
    every = [x for v in timings.latencies.values() for x in v]
    print(f"\nN={n}: {len(results)}/{n} participants done, {len(timings.errors)} errors, {calls} calls in {wall:.1f} s "
          f"= {calls / wall:.0f} calls/s (serve started with {n} participants in {startup:.1f} s)")
    print(f"  all calls: p50 {statistics.median(every) * 1000:.0f} ms, p99 {percentile(every, 99) * 1000:.0f} ms")
    print(f"  {before} before, {load_average()} after (1, 5, 15 min; other work on the machine adds latency)")
    for name, values in timings.latencies.items():
        print(f"  {name:26s} n={len(values):4d}  p50 {statistics.median(values) * 1000:6.0f} ms  "
              f"p99 {percentile(values, 99) * 1000:6.0f} ms")
    for text in timings.errors[:10]:
        print("  ERROR", text)
    return {"n": n, "errors": len(timings.errors), "wall": wall, "p99": percentile(every, 99)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,10,30,60")
    args = parser.parse_args()
    from importlib import metadata

    print(f"class_bench on {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, moto {metadata.version('moto')}, "
          f"sizes {args.sizes}, endpoint state on disk (--state-dir), clients and endpoint on this machine; "
          f"{load_average()}")
    summary = [bench(int(n)) for n in args.sizes.split(",")]
    print("\nsummary:", ", ".join(f"N={s['n']}: {s['errors']} errors, p99 {s['p99'] * 1000:.0f} ms" for s in summary))
    return 1 if any(s["errors"] for s in summary) else 0


if __name__ == "__main__":
    sys.exit(main())
