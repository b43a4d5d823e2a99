"""Benchmark workshop_helpers.envelope against `openssl enc` and the AWS Encryption SDK.

    python benchmarks/envelope_bench.py [--size 1G] [--rounds 5] [--dir PATH]

Makes a file of random bytes (1 GiB by default) in /dev/shm when it has room, else in the
temporary directory, and prints, in one run:

- encrypt and decrypt throughput (MB/s, 10**6 bytes per second of plaintext) of
  `envelope.encrypt_file`/`decrypt_file`, of `openssl enc -aes-256-ctr -K .. -iv ..`
  (a subprocess, the command `workshop_helpers.openssl.correct_command` builds, with a KMS
  data key), and of the AWS Encryption SDK's streaming API (EncryptionSDKClient with its
  default commitment policy, StrictAwsKmsMasterKeyProvider with the key ARN, the default
  algorithm suite and frame size, read in 64 KiB chunks);
- the ratios, each the median over the rounds of the ratio within a round. Rounds
  alternate the sides (and rotate which goes first), so a slow patch of a shared machine
  hits every side alike; every timed run writes a fresh output file (the previous one is
  deleted, untimed), for every side;
- the peak memory growth of envelope encrypt and decrypt, at two file sizes, each
  measured in a fresh Python process: its peak RSS (VmHWM, reset through
  /proc/self/clear_refs just before the call) minus its RSS just before. RSS counts
  everything, OpenSSL's and the writer threads' allocations included, which tracemalloc
  would miss; a fresh process keeps earlier runs' heap from hiding growth.

Everything runs against in-process moto (`connect("moto")`) with a plain create_key()
key; KMS is called once per message, so the backend does not matter for throughput.
A warm-up round (untimed) runs first for envelope and openssl: on a VM the first touch
of fresh memory pages is slow, and that would favour whichever side goes second. The
Encryption SDK is slow enough (tens of MB/s) that it needs no warm-up.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workshop_helpers import connect, envelope  # noqa: E402
from workshop_helpers import openssl as openssl_commands  # noqa: E402

CONTEXT = {"project": "workshop", "purpose": "benchmark"}
SDK_READ_SIZE = 64 * 1024
MiB = 1024 * 1024

TARGET_VS_OPENSSL = 1.3
TARGET_VS_SDK = 5.0
TARGET_MEMORY_MIB = 48


# --- set-up -----------------------------------------------------------------------------


def parse_size(text: str) -> int:
    match = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip(), re.IGNORECASE)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size like 1G, 256M or 1048576")
    number, unit = int(match.group(1)), match.group(2).upper()
    return number * {"": 1, "K": 1024, "M": MiB, "G": 1024 * MiB}[unit]


def choose_directory(size: int, wanted: str | None) -> Path:
    """/dev/shm when it holds source + three sides' outputs both ways, else the temp dir."""
    if wanted:
        return Path(wanted)
    needed = 8 * size + 256 * MiB
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > needed:
        return shm
    return Path(tempfile.gettempdir())


def make_source(path: Path, size: int) -> None:
    chunk = 64 * MiB
    with open(path, "wb") as out:
        for start in range(0, size, chunk):
            out.write(os.urandom(min(chunk, size - start)))


def same_content(a: Path, b: Path) -> bool:
    def digest(path: Path) -> bytes:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while block := f.read(8 * MiB):
                h.update(block)
        return h.digest()

    return a.stat().st_size == b.stat().st_size and digest(a) == digest(b)


# --- the three sides --------------------------------------------------------------------


class Envelope:
    name = "envelope (this)"

    def __init__(self, kms, key_arn):
        self.kms, self.key_arn = kms, key_arn

    def encrypt(self, src: Path, dst: Path) -> None:
        envelope.encrypt_file(src, dst, key_id=self.key_arn, encryption_context=CONTEXT, kms_client=self.kms)

    def decrypt(self, src: Path, dst: Path) -> None:
        envelope.decrypt_file(src, dst, encryption_context=CONTEXT, kms_client=self.kms)


class OpensslEnc:
    name = "openssl enc aes-256-ctr"

    def __init__(self, kms, key_arn):
        self.data_key = kms.generate_data_key(KeyId=key_arn, KeySpec="AES_256")["Plaintext"]
        self.iv = os.urandom(16)

    def _run(self, src: Path, dst: Path, decrypt: bool) -> None:
        command = openssl_commands.correct_command(self.data_key, src, dst, iv=self.iv, decrypt=decrypt)
        subprocess.run(command.argv, check=True, stdout=subprocess.DEVNULL)

    def encrypt(self, src: Path, dst: Path) -> None:
        self._run(src, dst, decrypt=False)

    def decrypt(self, src: Path, dst: Path) -> None:
        self._run(src, dst, decrypt=True)


class EncryptionSdk:
    name = "AWS Encryption SDK stream"

    def __init__(self, kms, key_arn):
        from aws_encryption_sdk import EncryptionSDKClient, StrictAwsKmsMasterKeyProvider

        self.client = EncryptionSDKClient()  # default: REQUIRE_ENCRYPT_REQUIRE_DECRYPT
        self.provider = StrictAwsKmsMasterKeyProvider(key_ids=[key_arn])

    def _run(self, src: Path, dst: Path, mode: str) -> None:
        with open(src, "rb") as source, open(dst, "wb") as out:
            with self.client.stream(mode=mode, source=source, key_provider=self.provider) as stream:
                while chunk := stream.read(SDK_READ_SIZE):
                    out.write(chunk)

    def encrypt(self, src: Path, dst: Path) -> None:
        self._run(src, dst, "e")

    def decrypt(self, src: Path, dst: Path) -> None:
        self._run(src, dst, "d")


# --- timing -----------------------------------------------------------------------------


def timed(action, src: Path, dst: Path) -> float:
    """Seconds for one run into a fresh file: the previous output is deleted first, untimed."""
    dst.unlink(missing_ok=True)
    start = time.perf_counter()
    action(src, dst)
    return time.perf_counter() - start


def run_rounds(
    sides, source: Path, workdir: Path, rounds: int, warm: set[str], load: list[float]
) -> dict[str, dict[str, list[float]]]:
    """{side name: {"encrypt": [MB/s per round], "decrypt": [...]}}; appends the load average per round."""
    size = source.stat().st_size
    results = {side.name: {"encrypt": [], "decrypt": []} for side in sides}
    sealed = {side.name: workdir / f"sealed-{index}" for index, side in enumerate(sides)}
    opened = {side.name: workdir / f"opened-{index}" for index, side in enumerate(sides)}
    for side in sides:
        if side.name in warm:
            side.encrypt(source, sealed[side.name])
            side.decrypt(sealed[side.name], opened[side.name])
    for round_number in range(rounds):
        shift = round_number % len(sides)
        order = sides[shift:] + sides[:shift]
        for side in order:
            seconds = timed(side.encrypt, source, sealed[side.name])
            results[side.name]["encrypt"].append(size / seconds / 1e6)
        for side in order:
            seconds = timed(side.decrypt, sealed[side.name], opened[side.name])
            results[side.name]["decrypt"].append(size / seconds / 1e6)
        load.append(os.getloadavg()[0])
        print(f"  round {round_number + 1}/{rounds}: " + "; ".join(
            f"{side.name.split()[0]} {results[side.name]['encrypt'][-1]:.0f}/{results[side.name]['decrypt'][-1]:.0f}"
            for side in sides), flush=True)
    for side in sides:
        if not same_content(source, opened[side.name]):
            raise SystemExit(f"{side.name}: the decrypted file differs from the source")
    return results


def median_ratio(ours: list[float], theirs: list[float]) -> float:
    return statistics.median(a / b for a, b in zip(ours, theirs))


# --- memory (in a fresh process) --------------------------------------------------------


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1))


def memory_probe(source: Path, workdir: Path) -> None:
    """Child process: print 'encrypt MiB decrypt MiB' of peak RSS growth."""
    workshop = connect("moto")
    kms = workshop.client("kms")
    key_arn = kms.create_key()["KeyMetadata"]["Arn"]
    side = Envelope(kms, key_arn)
    # A one-byte message first: imports, moto's first KMS calls and thread start-up are
    # not the cost of the file's size. It allocates no frame-sized buffers.
    tiny = envelope.encrypt_bytes(b"x", key_id=key_arn, encryption_context=CONTEXT, kms_client=kms)
    envelope.decrypt_bytes(tiny, encryption_context=CONTEXT, kms_client=kms)
    growth = []
    for action, src, dst in ((side.encrypt, source, workdir / "probe-sealed"),
                             (side.decrypt, workdir / "probe-sealed", workdir / "probe-opened")):
        _return_free_memory()  # so decrypt cannot reuse what encrypt freed and look free
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
        before = _status_kib("VmRSS")
        action(src, dst)
        growth.append((_status_kib("VmHWM") - before) / 1024)
    for name in ("probe-sealed", "probe-opened"):
        (workdir / name).unlink(missing_ok=True)
    print(f"{growth[0]:.2f} {growth[1]:.2f}")


def _return_free_memory() -> None:
    """glibc's malloc_trim: hand freed heap pages back to the kernel (no-op elsewhere)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def measure_memory(source: Path, workdir: Path) -> tuple[float, float] | None:
    if not Path("/proc/self/clear_refs").exists():
        return None
    result = subprocess.run(
        [sys.executable, __file__, "--memory-probe", str(source), "--dir", str(workdir)],
        capture_output=True, text=True, timeout=3600,
    )
    if result.returncode != 0:
        print(f"memory probe failed: {result.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    encrypt, decrypt = map(float, result.stdout.split()[-2:])
    return encrypt, decrypt


# --- report -----------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(results, ratios, memory, size: int, directory: Path, rounds: int, load: list[float]) -> None:
    print()
    print(f"{size / MiB:.0f} MiB file in {directory}, {rounds} timed rounds, {os.cpu_count()} CPUs, "
          f"envelope frame {envelope.DEFAULT_FRAME_SIZE // 1024} KiB; medians in MB/s (10**6 B/s)")
    # Other work on the machine competes for the cores the writer threads would use.
    print(f"1-minute load average during the rounds: {min(load):.1f} .. {max(load):.1f}")
    print(f"{'':28}{'encrypt':>10}{'decrypt':>10}")
    for name, runs in results.items():
        print(f"{name:28}{statistics.median(runs['encrypt']):>10.0f}{statistics.median(runs['decrypt']):>10.0f}")
    print()
    print("ratios (median of per-round ratios)")
    for other, target in ((OpensslEnc.name, TARGET_VS_OPENSSL), (EncryptionSdk.name, TARGET_VS_SDK)):
        enc, dec = ratios[other]
        print(f"  vs {other:26} encrypt {enc:5.2f}x  decrypt {dec:5.2f}x   target >= {target}x   "
              f"{verdict(min(enc, dec) >= target)}")
    print()
    print(f"peak RSS growth, envelope, fresh process (target < {TARGET_MEMORY_MIB} MiB)")
    for label, figures in memory.items():
        if figures is None:
            print(f"  {label:10} not measured (needs Linux /proc/self/clear_refs)")
            continue
        enc, dec = figures
        print(f"  {label:10} encrypt {enc:6.1f} MiB  decrypt {dec:6.1f} MiB   "
              f"{verdict(max(enc, dec) < TARGET_MEMORY_MIB)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=parse_size, default=1024 * MiB, help="file size, e.g. 1G (default), 256M")
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds, at least 5 for the record (default 5)")
    parser.add_argument("--dir", default=None, help="where to put the files (default /dev/shm if it has room)")
    parser.add_argument("--memory-probe", metavar="SRC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_probe:
        memory_probe(Path(args.memory_probe), Path(args.dir))
        return 0

    directory = choose_directory(args.size, args.dir)
    workdir = Path(tempfile.mkdtemp(prefix="envelope-bench-", dir=directory))
    try:
        source = workdir / "source"
        print(f"making {args.size / MiB:.0f} MiB of random data in {workdir}", flush=True)
        make_source(source, args.size)
        kms = connect("moto").client("kms")
        key_arn = kms.create_key(Description="envelope benchmark")["KeyMetadata"]["Arn"]
        sides = [Envelope(kms, key_arn), OpensslEnc(kms, key_arn), EncryptionSdk(kms, key_arn)]
        load = [os.getloadavg()[0]]
        results = run_rounds(sides, source, workdir, args.rounds, warm={Envelope.name, OpensslEnc.name}, load=load)
        ours = results[Envelope.name]
        ratios = {
            other.name: tuple(median_ratio(ours[d], results[other.name][d]) for d in ("encrypt", "decrypt"))
            for other in sides[1:]
        }
        for leftover in workdir.glob("sealed-*"):
            leftover.unlink()
        for leftover in workdir.glob("opened-*"):
            leftover.unlink()
        memory = {f"{args.size / MiB:.0f} MiB": measure_memory(source, workdir)}
        small = workdir / "small"
        with open(source, "rb") as full, open(small, "wb") as out:
            out.write(full.read(max(args.size // 16, 1)))
        memory[f"{small.stat().st_size / MiB:.0f} MiB"] = measure_memory(small, workdir)
        report(results, ratios, memory, args.size, directory, args.rounds, load)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
