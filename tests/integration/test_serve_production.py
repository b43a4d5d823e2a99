"""`serve` as a production server (workshop_helpers/serving, docs/server.md).

Each test plays the client a shared endpoint must survive: one that connects and says
nothing, one that sends its request a byte at a time, one that opens more connections than
allowed, one that sends a body too large (announced, or chunked), an instructor stopping
the endpoint while a request is in progress, two worker processes changing one account at
once, and someone reading the --verbose log for secrets.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from fidelity_support import ServeProcess

REGION = "eu-west-1"
NO_RETRIES = Config(retries={"max_attempts": 1, "mode": "standard"})
IDLE = 2  # --idle-timeout of the module's endpoint
MiB = 1024 * 1024


def read_env(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def address(url: str) -> tuple[str, int]:
    host, port = url.split("//", 1)[1].rsplit(":", 1)
    return host, int(port)


def connect(url: str) -> socket.socket:
    sock = socket.create_connection(address(url), timeout=10)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> float | None:
    """Seconds until the server closed `sock` (EOF or reset), None if it stayed open."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if sock.recv(65536) == b"":
                return time.monotonic() - start
        except TimeoutError:
            continue
        except ConnectionResetError:
            return time.monotonic() - start
    return None


def read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response from `sock`: (status, headers with lower-case names, body)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise AssertionError(f"connection closed before a response; got {data!r}")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def authorization(access_key: str, service: str) -> str:
    """Well-formed SigV4 headers with the issued key (the class lets it past its first
    screen; the limit answers before anything checks the signature, which covers the body)."""
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    return (
        f"X-Amz-Date: {now}\r\n"
        f"Authorization: AWS4-HMAC-SHA256 Credential={access_key}/{now[:8]}/{REGION}/{service}/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )


def kms_headers(access_key: str, length: int | None, chunked: bool = False) -> bytes:
    lines = [
        "POST / HTTP/1.1",
        "Host: localhost",
        "X-Amz-Target: TrentService.Encrypt",
        "Content-Type: application/x-amz-json-1.1",
        authorization(access_key, "kms"),
    ]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@pytest.fixture(scope="module")
def klass(tmp_path_factory):
    """One class endpoint for the module: short idle timeout, verbose log, alice and bob."""
    tmp = tmp_path_factory.mktemp("serve-production")
    server = ServeProcess(
        "--state-dir",
        str(tmp / "state"),
        "--participants",
        "alice,bob",
        "--class-dir",
        str(tmp / "class"),
        "--idle-timeout",
        str(IDLE),
        "--verbose",
        stderr_path=str(tmp / "stderr"),
    )
    yield tmp, server
    assert server.stop() == 0


def access_key(tmp, name: str = "alice") -> str:
    return read_env(tmp / "class" / f"{name}.env")["AWS_ACCESS_KEY_ID"]


def seat_client(tmp, name: str, service: str, signature_version: str | None = None):
    env = read_env(tmp / "class" / f"{name}.env")
    config = NO_RETRIES.merge(Config(signature_version=signature_version)) if signature_version else NO_RETRIES
    return boto3.client(
        service,
        endpoint_url=env["KMS_WORKSHOP_ENDPOINT_URL"],
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        config=config,
    )


# --- timeouts ---------------------------------------------------------------------------------


def test_an_idle_connection_is_closed(klass):
    _tmp, server = klass
    sock = connect(server.url)
    with sock:
        after = closed_within(sock, IDLE + 6)
    assert after is not None, f"an idle connection stayed open {IDLE + 6} s (--idle-timeout {IDLE})"


def test_a_request_sent_a_byte_at_a_time_is_closed(klass):
    """A slow client that keeps sending keeps its connection only for the timeout."""
    _tmp, server = klass
    sock = connect(server.url)
    with sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < IDLE + 8:
            try:
                sock.sendall(b"X")  # a header that never ends
            except OSError:
                closed = True
                break
            if closed_within(sock, 0.5) is not None:
                closed = True
                break
    assert closed, f"a request still arriving after {IDLE + 8} s was kept open (--idle-timeout {IDLE})"


# --- body limits ------------------------------------------------------------------------------


def test_a_json_api_body_over_1_mib_is_refused_from_its_content_length(klass):
    """Headers only: the endpoint answers without waiting for the 2 MiB it announced."""
    tmp, server = klass
    with connect(server.url) as sock:
        sock.sendall(kms_headers(access_key(tmp), 2 * MiB))
        status, headers, body = read_response(sock, timeout=5)
    assert status == 413
    error = json.loads(body)
    assert error["__type"] == "RequestEntityTooLargeException", error
    assert "1048576" in error["message"]
    assert headers.get("connection") == "close"


def test_an_s3_object_over_64_mib_is_refused_as_s3_refuses_it(klass):
    tmp, server = klass
    request = (
        f"PUT /bucket/big HTTP/1.1\r\nHost: localhost\r\nContent-Length: {64 * MiB + 1}\r\n"
        f"{authorization(access_key(tmp), 's3')}\r\n\r\n"
    ).encode()
    with connect(server.url) as sock:
        sock.sendall(request)
        status, _headers, body = read_response(sock, timeout=5)
    assert status == 400
    assert b"<Code>EntityTooLarge</Code>" in body
    assert b"Your proposed upload exceeds the maximum allowed size" in body


def test_a_chunked_body_is_refused_once_it_passes_the_limit(klass):
    tmp, server = klass
    sent = {"bytes": 0}

    with connect(server.url) as sock:
        sock.sendall(kms_headers(access_key(tmp), None, chunked=True))

        def push():  # 4 MiB in 64 KiB chunks, as long as the server takes them
            chunk = b"%x\r\n" % (64 * 1024) + b"a" * (64 * 1024) + b"\r\n"
            try:
                for _ in range(64):
                    sock.sendall(chunk)
                    sent["bytes"] += 64 * 1024
                sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass

        pusher = threading.Thread(target=push, daemon=True)
        pusher.start()
        status, _headers, body = read_response(sock, timeout=20)
        pusher.join(10)
    assert status == 413, body
    assert json.loads(body)["__type"] == "RequestEntityTooLargeException"


def test_boto3_reads_the_error_for_a_body_too_large(klass):
    """A client that sends its whole body without waiting gets the error, not a reset."""
    tmp, _server = klass
    kms = seat_client(tmp, "alice", "kms")
    with pytest.raises(ClientError) as info:
        kms.encrypt(KeyId="alias/none", Plaintext=b"x" * (2 * MiB))
    assert info.value.response["Error"]["Code"] == "RequestEntityTooLargeException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413


def test_an_s3_object_over_1_mib_is_accepted(klass):
    tmp, _server = klass
    s3 = seat_client(tmp, "alice", "s3")
    s3.create_bucket(Bucket="alice-large", CreateBucketConfiguration={"LocationConstraint": REGION})
    body = os.urandom(3 * MiB)
    s3.put_object(Bucket="alice-large", Key="object", Body=body)
    assert s3.get_object(Bucket="alice-large", Key="object")["Body"].read() == body


def test_what_moto_s_own_server_gave_s3_is_kept():
    """Metadata names with '_' and keys with a literal '%' (the undecoded path), as moto's
    werkzeug handler passed them (on the in-process endpoint, out of class mode)."""
    from workshop_helpers.endpoint import start_endpoint

    url, stop = start_endpoint()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=NO_RETRIES,
        )
        _put_and_read_back(s3)
    finally:
        stop()


def _put_and_read_back(s3) -> None:
    s3.create_bucket(Bucket="alice-names", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="alice-names", Key="literal%41 and space", Body=b"x", Metadata={"my_key": "v", "other": "w"})
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="alice-names")["Contents"]] == ["literal%41 and space"]
    assert s3.head_object(Bucket="alice-names", Key="literal%41 and space")["Metadata"] == {"my_key": "v", "other": "w"}


# --- the log ------------------------------------------------------------------------------------


def test_the_verbose_log_masks_tokens_and_signatures(klass):
    tmp, server = klass
    s3 = seat_client(tmp, "bob", "s3", signature_version="s3v4")
    s3.create_bucket(Bucket="bob-log", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="bob-log", Key="note", Body=b"hello")
    presigned = s3.generate_presigned_url("get_object", Params={"Bucket": "bob-log", "Key": "note"}, ExpiresIn=300)
    assert urllib.request.urlopen(presigned, timeout=10).read() == b"hello"
    # a SigV2 presigned URL (the class refuses SigV2; its line is logged all the same)
    sigv2 = seat_client(tmp, "bob", "s3", signature_version="s3").generate_presigned_url(
        "get_object", Params={"Bucket": "bob-log", "Key": "note"}, ExpiresIn=300
    )
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(sigv2, timeout=10)
    token = json.loads((tmp / "class" / "class.json").read_text())["token"]
    status_url = f"{server.url}/_workshop/class/status"
    assert urllib.request.urlopen(f"{status_url}?token={token}", timeout=10).status == 200
    header_request = urllib.request.Request(status_url, headers={"X-Kms-Workshop-Token": token})
    assert urllib.request.urlopen(header_request, timeout=10).status == 200
    time.sleep(0.5)
    # the request lines (serve's start-up lines name the instructor's URL on purpose: it is theirs)
    log = "\n".join(line for line in (tmp / "stderr").read_text().splitlines() if '] 127.0.0.1 "' in line)

    query = dict(part.split("=", 1) for part in presigned.split("?", 1)[1].split("&"))
    query_v2 = dict(part.split("=", 1) for part in sigv2.split("?", 1)[1].split("&"))
    secrets = {
        "instructor token": token,
        "signature": query["X-Amz-Signature"],
        "SigV2 signature": query_v2["Signature"],
        "credential": query["X-Amz-Credential"],
        "access key id": access_key(tmp, "bob"),
    }
    for what, value in secrets.items():
        assert value not in log, f"the {what} is in the log"
    lines = [line for line in log.splitlines() if '"GET /bob-log/note?' in line]
    assert len(lines) == 2, lines
    assert "X-Amz-Signature=***" in lines[0] and "X-Amz-Credential=***" in lines[0], lines
    assert "AWSAccessKeyId=***" in lines[1] and "Signature=***" in lines[1], lines
    assert len([line for line in log.splitlines() if "/_workshop/class/status" in line]) == 2
    assert "token=***" in log


# --- connection limit, stopping ----------------------------------------------------------------


def test_connections_past_the_limit_wait_for_a_free_one(tmp_path):
    server = ServeProcess("--ephemeral", "--connection-limit", "2", stderr_path=str(tmp_path / "stderr"))
    try:
        held = [connect(server.url), connect(server.url)]
        time.sleep(1.5)  # both accepted
        extra = connect(server.url)  # the kernel queues it; the server does not take it yet
        extra.sendall(b"GET /moto-api/ HTTP/1.1\r\nHost: localhost\r\n\r\n")
        extra.settimeout(2)
        with pytest.raises(socket.timeout):
            extra.recv(1)
        held[0].close()
        status, _headers, _body = read_response(extra, timeout=10)
        assert status < 500
        for sock in [held[1], extra]:
            sock.close()
    finally:
        assert server.stop() == 0


def test_sigterm_lets_the_request_in_progress_finish(tmp_path):
    """The request holds up inside the endpoint (the test holds its account's lock); the
    endpoint, told to stop, answers it, refuses new connections, and exits 0."""
    from workshop_helpers.account.locks import LockFolder

    state = tmp_path / "state"
    server = ServeProcess("--state-dir", str(state), stderr_path=str(tmp_path / "stderr"))
    kms = boto3.client(
        "kms",
        endpoint_url=server.url,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=NO_RETRIES,
    )
    kms.list_keys()  # the account exists
    answer: dict = {}
    with LockFolder(state / "locks").everything():
        caller = threading.Thread(target=lambda: answer.update(kms.create_key(Description="in flight")))
        caller.start()
        time.sleep(1.5)
        assert caller.is_alive(), "the request did not wait for the account"
        server.proc.send_signal(signal.SIGTERM)
        time.sleep(1.5)
        assert server.proc.poll() is None, "serve exited with a request in progress"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address(server.url), timeout=5)
    caller.join(30)
    assert answer.get("KeyMetadata", {}).get("Description") == "in flight"
    assert server.proc.wait(timeout=30) == 0  # from the one SIGTERM
    server.stop()


# --- worker processes --------------------------------------------------------------------------


def test_workers_refuse_an_account_in_memory():
    import subprocess
    import sys

    from fidelity_support import ROOT

    done = subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "serve", "--port", "0", "--workers", "2", "--ephemeral"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "needs the account on disk" in lines[0], done.stderr


def _worker_pids(log: str) -> set[int]:
    return {int(pid) for pid in re.findall(r"\[(\d+)\] \S+ \"", log)}


def test_two_workers_lose_no_update_to_one_account(tmp_path):
    """8 clients at once, each on connections of its own (so both workers serve), create
    keys and aliases and tag one key in one account: every change is there after."""
    server = ServeProcess(
        "--state-dir", str(tmp_path / "state"), "--workers", "2", "--verbose", stderr_path=str(tmp_path / "stderr")
    )
    try:

        def kms():
            return boto3.client(
                "kms",
                endpoint_url=server.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=NO_RETRIES,
            )

        shared = kms().create_key(Description="tagged by everyone")["KeyMetadata"]["KeyId"]
        errors: list[str] = []

        def writer(i: int) -> None:
            client = kms()
            try:
                for j in range(5):
                    key = client.create_key(Description=f"w{i}-{j}")["KeyMetadata"]["KeyId"]
                    client.create_alias(AliasName=f"alias/w{i}-{j}", TargetKeyId=key)
                    client.tag_resource(KeyId=shared, Tags=[{"TagKey": f"w{i}-{j}", "TagValue": "x"}])
            except Exception as exc:  # noqa: BLE001 - any failure is reported, never raised
                errors.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(120)
        assert not errors, errors
        check = kms()
        aliases = {a["AliasName"] for a in check.list_aliases(Limit=1000)["Aliases"]}
        assert {f"alias/w{i}-{j}" for i in range(8) for j in range(5)} <= aliases
        tags = {t["TagKey"] for t in check.list_resource_tags(KeyId=shared, Limit=100)["Tags"]}
        assert tags == {f"w{i}-{j}" for i in range(8) for j in range(5)}
        assert len(check.list_keys(Limit=1000)["Keys"]) == 41
    finally:
        code = server.stop(timeout=60)
    log = (tmp_path / "stderr").read_text()
    pids = _worker_pids(log)
    assert len(pids) == 2, f"expected both workers to serve, the log shows {pids}"
    assert code == 0, log[-2000:]
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_worker_that_dies_stops_the_endpoint_with_one_line(tmp_path):
    server = ServeProcess(
        "--state-dir", str(tmp_path / "state"), "--workers", "2", "--verbose", stderr_path=str(tmp_path / "stderr")
    )
    try:
        for _ in range(20):  # until both workers have logged a request
            boto3.client(
                "kms",
                endpoint_url=server.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=NO_RETRIES,
            ).list_keys()
            if len(_worker_pids((tmp_path / "stderr").read_text())) == 2:
                break
        pids = _worker_pids((tmp_path / "stderr").read_text())
        assert pids, "no worker logged a request"
        os.kill(next(iter(pids)), signal.SIGKILL)
        assert server.proc.wait(timeout=60) != 0
    finally:
        server.stop()
    lines = [line for line in (tmp_path / "stderr").read_text().splitlines() if "worker" in line and "exited" in line]
    assert len(lines) == 1 and "-9" in lines[0], lines


def test_the_instructor_view_adds_up_with_two_workers(tmp_path):
    """Calls counted by both workers all appear on the instructor's status page."""
    server = ServeProcess(
        "--state-dir",
        str(tmp_path / "state"),
        "--participants",
        "alice,bob",
        "--class-dir",
        str(tmp_path / "class"),
        "--workers",
        "2",
        "--verbose",
        stderr_path=str(tmp_path / "stderr"),
    )
    try:
        calls = 0
        for name in ("alice", "bob"):
            for _ in range(6):  # a client each time: new connections, spread over the workers
                seat_client(tmp_path, name, "kms").list_keys()
                calls += 1
        token = json.loads((tmp_path / "class" / "class.json").read_text())["token"]
        time.sleep(1.5)  # the workers write their counts at most every second
        seen = None
        for _ in range(10):
            with urllib.request.urlopen(f"{server.url}/_workshop/class/status?token={token}", timeout=10) as reply:
                rows = json.loads(reply.read())["participants"]
            seen = {row["name"]: row["calls"] for row in rows}
            if seen == {"alice": 6, "bob": 6}:
                break
            time.sleep(0.5)
        assert len(_worker_pids((tmp_path / "stderr").read_text())) == 2
        assert seen == {"alice": 6, "bob": 6}
    finally:
        assert server.stop(timeout=60) == 0


def test_a_role_session_works_on_every_worker(tmp_path):
    """AssumeRole's session key lives in the account's IAM: the worker that did not issue
    it must know it too (the request would otherwise be refused as an unknown key)."""
    server = ServeProcess(
        "--state-dir",
        str(tmp_path / "state"),
        "--participants",
        "alice",
        "--class-dir",
        str(tmp_path / "class"),
        "--workers",
        "2",
        "--verbose",
        stderr_path=str(tmp_path / "stderr"),
    )
    try:
        iam, sts = seat_client(tmp_path, "alice", "iam"), seat_client(tmp_path, "alice", "sts")
        account = sts.get_caller_identity()["Account"]
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}}
            ],
        }
        iam.create_role(RoleName="reader", AssumeRolePolicyDocument=json.dumps(trust))
        for i in range(6):
            creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/reader", RoleSessionName=f"session-{i}")[
                "Credentials"
            ]
            for _ in range(3):  # fresh connections: either worker may take each
                role_sts = boto3.client(
                    "sts",
                    endpoint_url=server.url,
                    region_name=REGION,
                    aws_access_key_id=creds["AccessKeyId"],
                    aws_secret_access_key=creds["SecretAccessKey"],
                    aws_session_token=creds["SessionToken"],
                    config=NO_RETRIES,
                )
                assert ":assumed-role/reader/" in role_sts.get_caller_identity()["Arn"]
        assert len(_worker_pids((tmp_path / "stderr").read_text())) == 2
    finally:
        assert server.stop(timeout=60) == 0


def test_a_worker_that_dies_at_start_fails_serve_in_one_line(tmp_path):
    """The workers (never the parent) exit at once, by a sitecustomize that sees --listen-fd."""
    import subprocess
    import sys

    from fidelity_support import ROOT

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text("import os, sys\nif '--listen-fd' in sys.argv:\n    os._exit(3)\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
    env["PYTHONPATH"] = str(hook)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "workshop_helpers",
            "serve",
            "--port",
            "0",
            "--workers",
            "2",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "KMS_WORKSHOP_ENDPOINT_URL" not in done.stdout
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "worker 1 of 2 exited with code 3" in lines[0], done.stderr


def test_workers_stop_when_their_parent_is_killed(tmp_path):
    """SIGKILL leaves the parent no time to stop its workers: they notice and stop."""
    server = ServeProcess(
        "--state-dir", str(tmp_path / "state"), "--workers", "2", "--verbose", stderr_path=str(tmp_path / "stderr")
    )
    try:
        for _ in range(20):
            boto3.client(
                "kms",
                endpoint_url=server.url,
                region_name=REGION,
                aws_access_key_id="testing",
                aws_secret_access_key="testing",
                config=NO_RETRIES,
            ).list_keys()
            if len(_worker_pids((tmp_path / "stderr").read_text())) == 2:
                break
        pids = _worker_pids((tmp_path / "stderr").read_text())
        assert pids
        server.proc.kill()
        server.proc.wait(10)
        deadline = time.monotonic() + 20
        alive = set(pids)
        while alive and time.monotonic() < deadline:
            for pid in list(alive):
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    alive.discard(pid)
            time.sleep(0.2)
        assert not alive, f"workers {alive} outlived their parent"
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(address(server.url), timeout=5)
    finally:
        server.stop()
        for pid in _worker_pids((tmp_path / "stderr").read_text()):  # none is left behind, whatever failed
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
