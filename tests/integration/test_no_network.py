"""The moto backend opens no network socket to anything.

A fresh interpreter installs an audit hook (PEP 578) before importing anything, then runs
the whole workshop flow on `connect("moto")`: the key-import fixture, GenerateDataKey, the
envelope (bytes and files), the AWS Encryption SDK, the EBS simulation with an attached
volume, S3 SSE-KMS, IAM and STS, and cleanup. Every socket.connect, socket.bind,
socket.getaddrinfo, socket.gethostbyname, socket.sendto and socket.sendmsg event is recorded
(Unix-domain sockets excepted, should any appear), with the code that made it: there must be
none. The one exception is urllib3's import-time probe for IPv6, a bind to ::1 port 0 that is
closed at once. A control in the same harness proves the hook sees a real connection attempt.
"""

from __future__ import annotations

import json
import subprocess
import sys

from workshop_run import kernel_env

HARNESS = (
    r"""
import json, os, socket, sys
EVENTS = []
WATCHED = {"socket.connect", "socket.bind", "socket.getaddrinfo", "socket.gethostbyname",
           "socket.gethostbyname_ex", "socket.gethostbyaddr", "socket.sendto", "socket.sendmsg"}

def hook(event, args):
    if event not in WATCHED:
        return
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
        sock = args[0]
        if getattr(sock, "family", None) == getattr(socket, "AF_UNIX", object()):
            return
        where = args[1] if len(args) > 1 else None
    else:
        where = args[0] if args else None
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == "<string>":
        frame = frame.f_back
    origin = f"{frame.f_code.co_filename}:{frame.f_code.co_name}" if frame is not None else "?"
    # urllib3 probes, once at import, whether IPv6 exists by binding a socket to ::1, port 0,
    # and closes it at once: no address outside the process is ever contacted.
    if event == "socket.bind" and where == ("::1", 0) and origin.endswith("urllib3/util/connection.py:_has_ipv6"):
        return
    EVENTS.append([event, repr(where)[:200], origin])

sys.addaudithook(hook)

def flow():
"""
    + "\n".join(
        "    " + line
        for line in r"""
import workshop_helpers
from workshop_helpers import cleanup, ebs, envelope, fixtures, names, s3_sse

ws = workshop_helpers.connect("moto")
key = fixtures.ensure_imported_cmk(ws)
fixtures.ensure_other_key(ws)
kms = ws.client("kms")
response = kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext={"project": "workshop"})
kms.decrypt(CiphertextBlob=response["CiphertextBlob"], EncryptionContext={"project": "workshop"})
kms.encrypt(KeyId=key.alias, Plaintext=b"x" * 4096)

role = fixtures.ensure_participant_role(ws)
kms_as_role = ws.client("kms", credentials=fixtures.assume_participant_role(ws))
kms_as_role.describe_key(KeyId=key.alias)

blob = envelope.encrypt_bytes(b"secret" * 1000, key_id=key.alias, encryption_context={"project": "workshop"})
assert envelope.decrypt_bytes(blob, encryption_context={"project": "workshop"}, key_id=key.alias) == b"secret" * 1000
data = fixtures.workshop_data_dir()
plain = fixtures.ensure_sample_secret()
envelope.encrypt_file(plain, data / "s.env", key_id=key.alias, encryption_context={"project": "workshop"})
envelope.decrypt_file(data / "s.env", data / "s.txt", encryption_context={"project": "workshop"}, key_id=key.alias)
fixtures.ensure_encrypted_sample(ws, key)

import aws_encryption_sdk
from aws_encryption_sdk.identifiers import CommitmentPolicy
client = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key.arn])
message, _ = client.encrypt(source=b"hello sdk", key_provider=provider, encryption_context={"project": "workshop"})
assert client.decrypt(source=message, key_provider=provider)[0] == b"hello sdk"

volume = ebs.create_encrypted_volume(ws, key.alias)
instance = ebs.workshop_instance(ws)
ws.client("ec2").attach_volume(VolumeId=volume.volume_id, InstanceId=instance, Device="/dev/sdf")
ebs.after_attach_volume(ws, volume.volume_id, instance)
ebs.write_block(volume.volume_id, 0, b"block zero")
assert ebs.read_block(volume.volume_id, 0).rstrip(b"\0") == b"block zero"

bucket = s3_sse.ensure_bucket(ws)
s3 = ws.client("s3")
put = s3.put_object(Bucket=bucket, Key="k", Body=b"object", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.arn)
s3_sse.after_put_object(ws, bucket, "k", put)
assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"object"
s3_sse.after_get_object(ws, bucket, "k")

assert len(ws.trail()) > 20
report = cleanup.cleanup(ws)
assert not report.errors, report.text()
""".strip().splitlines()
    )
    + r"""

flow()
main_events = list(EVENTS)
# control: the hook does see a real attempt (to a port nobody listens on)
EVENTS.clear()
try:
    socket.create_connection(("127.0.0.1", 9), timeout=1).close()
except OSError:
    pass
print(json.dumps({"events": main_events, "control": EVENTS}))
"""
)


def test_moto_backend_opens_no_network_socket(tmp_path):
    env = kernel_env(tmp_path, "moto")
    result = subprocess.run(
        [sys.executable, "-c", HARNESS], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["control"], "the audit hook saw nothing even for a deliberate connection: the test is blind"
    assert seen["events"] == [], f"network activity on the moto backend: {seen['events'][:10]}"
