"""`python -m workshop_helpers serve`: the URL line, the services, clean stops, the
test-only data key recording, and the endpoint backend of connect()."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import textwrap
from urllib.parse import urlparse

from fidelity_support import ROOT, KmsEnv, ServeProcess, kms_error


def test_url_line_names_a_loopback_port(fidelity_endpoint):
    url = urlparse(fidelity_endpoint.url)
    assert (url.scheme, url.hostname) == ("http", "127.0.0.1")
    assert url.port and url.port > 0


def test_serves_iam_sts_ec2_s3_too(endpoint_kms_env):
    assert endpoint_kms_env.client("sts").get_caller_identity()["Account"] == "123456789012"
    assert endpoint_kms_env.client("ec2").describe_regions()["Regions"]
    s3 = endpoint_kms_env.client("s3")
    bucket = f"fidelity-{os.urandom(4).hex()}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    assert bucket in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    endpoint_kms_env.client("iam").list_roles()


def test_ctrl_c_stops_cleanly(tmp_path):
    server = ServeProcess(stderr_path=str(tmp_path / "stderr"))
    assert server.stop(signal.SIGINT) == 0
    assert "endpoint stopped" in (tmp_path / "stderr").read_text()


def test_port_in_use_is_one_clear_line(fidelity_endpoint):
    port = str(urlparse(fidelity_endpoint.url).port)
    done = subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "serve", "--port", port],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith(f"error: cannot listen on 127.0.0.1:{port}")


def test_recording_data_keys_is_loud_and_complete(tmp_path):
    record = tmp_path / "data-keys.txt"
    server = ServeProcess("--record-data-keys", str(record), stderr_path=str(tmp_path / "stderr"))
    try:
        kms = KmsEnv("endpoint", endpoint_url=server.url).kms
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        handed_out = [kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"] for _ in range(2)]
        kms.generate_data_key_without_plaintext(KeyId=key_id, KeySpec="AES_256")  # no plaintext handed out
    finally:
        assert server.stop() == 0
    lines = record.read_text().split()
    assert [base64.b64decode(line) for line in lines] == handed_out
    assert "WARNING: TEST MODE" in (tmp_path / "stderr").read_text()


def test_recording_is_off_by_default():
    from workshop_helpers import fidelity

    assert fidelity.recording_path() is None


def test_recording_in_process(inprocess_kms_env, tmp_path):
    from workshop_helpers import fidelity

    kms = inprocess_kms_env.kms
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    fidelity.start_recording(tmp_path / "keys")
    try:
        plaintext = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")["Plaintext"]
    finally:
        fidelity.stop_recording()
    kms.generate_data_key(KeyId=key_id, KeySpec="AES_256")  # after stop: not recorded
    assert fidelity.recorded_keys(tmp_path / "keys") == [plaintext]


def test_start_endpoint_in_process(inprocess_kms_env):
    import boto3

    from workshop_helpers.endpoint import start_endpoint

    url, stop = start_endpoint()
    try:
        client = boto3.Session().client(
            "kms",
            endpoint_url=url,
            region_name="eu-west-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        with kms_error("KMSInvalidStateException"):
            client.encrypt(KeyId=client.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"], Plaintext=b"x")
    finally:
        stop()


def test_connect_endpoint_backend_sees_the_same_kms(fidelity_endpoint):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
    env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
    env.update(
        KMS_WORKSHOP_BACKEND="endpoint",
        KMS_WORKSHOP_ENDPOINT_URL=fidelity_endpoint.url,
        AWS_EC2_METADATA_DISABLED="true",
    )
    code = textwrap.dedent("""
        import workshop_helpers
        from botocore.exceptions import ClientError
        kms = workshop_helpers.connect().client("kms")
        key_id = kms.create_key(Origin="EXTERNAL")["KeyMetadata"]["KeyId"]
        try:
            kms.encrypt(KeyId=key_id, Plaintext=b"x")
        except ClientError as exc:
            print(exc.response["Error"]["Code"])
    """)
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "KMSInvalidStateException", done.stderr
