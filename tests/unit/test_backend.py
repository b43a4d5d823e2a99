"""connect(): backend and region choice, the idempotent moto start, endpoint and aws errors.

connect() holds one Workshop per process, so every rule that needs a fresh process runs
in a subprocess (`run_python`).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import boto3
import pytest

import workshop_helpers
from workshop_helpers import backend, hooks
from workshop_helpers.errors import BackendError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def clean_env(**extra: str) -> dict[str, str]:
    """The test process's environment minus everything AWS or workshop, plus `extra`.

    AWS_EC2_METADATA_DISABLED keeps the credential chain from probing the instance
    metadata service: tests never send traffic beyond loopback.
    """
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_", "BINDER_"))}
    env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
    env.update(AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.update(extra)
    return env


def run_python(code: str, env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- choosing ---------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["local", "MOTO2", "localstack", ""])
def test_unknown_backend_is_a_one_line_error_listing_the_valid_ones(value, monkeypatch):
    monkeypatch.delenv("KMS_WORKSHOP_BACKEND", raising=False)
    if value == "":
        assert backend.choose_backend(None) == "moto"  # empty means the default
        return
    with pytest.raises(BackendError) as caught:
        backend.choose_backend(value)
    message = str(caught.value)
    assert "\n" not in message
    assert all(name in message for name in ("moto", "endpoint", "aws"))
    assert value.lower() in message


def test_backend_comes_from_argument_then_environment_then_moto(monkeypatch):
    monkeypatch.setenv("KMS_WORKSHOP_BACKEND", "endpoint")
    assert backend.choose_backend(None) == "endpoint"
    assert backend.choose_backend("aws") == "aws"
    monkeypatch.delenv("KMS_WORKSHOP_BACKEND")
    assert backend.choose_backend(None) == "moto"
    monkeypatch.setenv("KMS_WORKSHOP_BACKEND", "bogus")
    with pytest.raises(BackendError):
        backend.choose_backend(None)


def test_region_comes_from_argument_then_environment(monkeypatch):
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert backend.choose_region(None) is None
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-2")
    assert backend.choose_region(None) == "us-east-2"
    monkeypatch.setenv("AWS_REGION", "ap-south-1")
    assert backend.choose_region(None) == "ap-south-1"
    assert backend.choose_region("sa-east-1") == "sa-east-1"


def test_moto_region_defaults_to_eu_west_1_and_follows_the_environment():
    out = run_python("import workshop_helpers as w; print(w.connect().region)", clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "eu-west-1"
    out = run_python(
        "import workshop_helpers as w; print(w.connect('moto').region)", clean_env(AWS_DEFAULT_REGION="us-west-2")
    )
    assert out.stdout.strip() == "us-west-2", out.stderr
    out = run_python(
        "import workshop_helpers as w; print(w.connect(region='ca-central-1').region)",
        clean_env(AWS_REGION="us-west-2"),
    )
    assert out.stdout.strip() == "ca-central-1", out.stderr


# --- moto -------------------------------------------------------------------------------


def test_ec2_loads_on_its_first_request_with_the_volumes_the_account_holds(tmp_path):
    """A notebook's first cell does not pay for moto's EC2 (a second of imports): an
    account that holds a volume is opened and used for KMS without loading EC2, and the
    first EC2 request, in any thread, sees the volume."""
    env = clean_env(KMS_WORKSHOP_STATE_DIR=str(tmp_path / "account"))
    made = run_python(
        """
        import workshop_helpers
        ws = workshop_helpers.connect()
        key = ws.client("kms").create_key()["KeyMetadata"]["KeyId"]
        print(ws.client("ec2").create_volume(AvailabilityZone="eu-west-1a", Size=1, Encrypted=True,
                                             KmsKeyId=key)["VolumeId"])
        """,
        env,
    )
    assert made.returncode == 0, made.stderr
    volume_id = made.stdout.strip()
    used = run_python(
        """
        import sys, threading
        import workshop_helpers
        ws = workshop_helpers.connect()
        ws.client("kms").list_keys()
        print("moto.ec2.models" in sys.modules)
        seen = []
        def describe():
            seen.append(sorted(v["VolumeId"] for v in ws.client("ec2").describe_volumes()["Volumes"]))
        threads = [threading.Thread(target=describe) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        print(seen)
        """,
        env,
    )
    assert used.returncode == 0, used.stderr
    ec2_after_kms, seen = used.stdout.strip().splitlines()
    assert ec2_after_kms == "False"
    assert seen == str([[volume_id]] * 3)


def test_moto_start_is_idempotent_and_never_wipes_state():
    code = """
    import boto3, workshop_helpers as w
    ws = w.connect()
    key = ws.client("kms").create_key()["KeyMetadata"]["KeyId"]
    assert w.connect() is ws
    assert w.connect("moto") is ws
    ws2 = w.connect("moto", region=ws.region)
    assert ws2 is ws
    ids = [k["KeyId"] for k in boto3.client("kms").list_keys()["Keys"]]
    assert key in ids, ids
    print("ok")
    """
    out = run_python(code, clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_plain_boto3_client_made_after_connect_reaches_the_mock(moto_workshop):
    created = moto_workshop.client("kms").create_key(Description="made by the workshop client")
    key_id = created["KeyMetadata"]["KeyId"]
    plain = boto3.client("kms")  # no endpoint, no credentials given: the default chain
    described = plain.describe_key(KeyId=key_id)["KeyMetadata"]
    assert described["Description"] == "made by the workshop client"
    assert boto3.client("sts").get_caller_identity()["Account"] == "123456789012"


def test_moto_ignores_profile_session_token_and_endpoint_from_environment():
    env = clean_env(
        AWS_PROFILE="does-not-exist",
        AWS_SESSION_TOKEN="stale-token",
        AWS_ENDPOINT_URL="http://127.0.0.1:9",
        AWS_ENDPOINT_URL_KMS="http://127.0.0.1:9",
        AWS_ACCESS_KEY_ID="AKIDREALLOOKING",
    )
    code = """
    import boto3, workshop_helpers as w
    ws = w.connect("moto")
    ws.client("kms").create_key()
    boto3.client("kms").list_keys()
    import os
    assert "AWS_PROFILE" not in os.environ and "AWS_SESSION_TOKEN" not in os.environ
    assert not [k for k in os.environ if k.startswith("AWS_ENDPOINT_URL")]
    print(ws.account_id)
    """
    out = run_python(code, env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "123456789012"


def test_another_backend_later_in_the_same_process_asks_for_a_restart():
    code = """
    import workshop_helpers as w
    w.connect("moto")
    try:
        w.connect("endpoint")
    except w.BackendError as e:
        print(e)
    """
    out = run_python(code, clean_env())
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip()
    assert "\n" not in line and "restart the kernel" in line and "moto" in line


def test_clients_get_short_timeouts_and_few_retries(moto_workshop):
    config = moto_workshop.client("kms").meta.config
    assert config.connect_timeout <= 5
    assert config.retries["total_max_attempts"] <= 3


def test_hooks_see_calls_of_clients_made_after_connect(moto_workshop):
    seen = []

    def spy(event_name, **kwargs):
        seen.append(event_name)

    hooks.register("after-call.kms", spy)
    try:
        boto3.client("kms").list_keys()
    finally:
        hooks.unregister("after-call.kms", spy)
    assert "after-call.kms.ListKeys" in seen


# --- endpoint ---------------------------------------------------------------------------


def test_endpoint_without_url_names_the_variable():
    out = run_python("import workshop_helpers as w; w.connect('endpoint')", clean_env(KMS_WORKSHOP_BACKEND="endpoint"))
    assert out.returncode != 0
    last = out.stderr.strip().splitlines()[-1]
    assert "KMS_WORKSHOP_ENDPOINT_URL" in last


def test_unreachable_endpoint_fails_within_seconds_naming_the_variable():
    url = f"http://127.0.0.1:{free_port()}"
    start = time.monotonic()
    out = run_python(
        "import workshop_helpers as w; w.connect()",
        clean_env(KMS_WORKSHOP_BACKEND="endpoint", KMS_WORKSHOP_ENDPOINT_URL=url),
    )
    assert out.returncode != 0
    assert time.monotonic() - start < 20
    last = out.stderr.strip().splitlines()[-1]
    assert "KMS_WORKSHOP_ENDPOINT_URL" in last and url in last


@pytest.mark.parametrize("url", ["127.0.0.1:5000", "ftp://127.0.0.1:21"])
def test_endpoint_url_that_is_not_http_is_refused(url):
    with pytest.raises(BackendError, match="KMS_WORKSHOP_ENDPOINT_URL"):
        backend._check_reachable(url)


# --- aws --------------------------------------------------------------------------------


def test_aws_without_credentials_is_a_clear_message_not_a_traceback():
    out = run_python(
        "import workshop_helpers as w\ntry:\n    w.connect('aws')\nexcept w.BackendError as e:\n    print(e)",
        clean_env(),
    )
    assert out.returncode == 0, out.stderr
    assert "no AWS credentials found" in out.stdout
    assert "Traceback" not in out.stdout + out.stderr


def test_aws_is_refused_on_binder():
    out = run_python(
        "import workshop_helpers as w\ntry:\n    w.connect('aws')\nexcept w.BackendError as e:\n    print(e)",
        clean_env(BINDER_LAUNCH_HOST="https://mybinder.org/", AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y"),
    )
    assert "Binder" in out.stdout and "moto" in out.stdout


def test_aws_honours_the_profile_region_when_none_is_given(tmp_path, monkeypatch):
    config = tmp_path / "config"
    config.write_text("[profile workshop]\nregion = ap-northeast-1\n")
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(config))
    monkeypatch.setenv("AWS_PROFILE", "workshop")
    assert backend.aws_session().region_name == "ap-northeast-1"
    assert backend.aws_session("us-east-1").region_name == "us-east-1"
    monkeypatch.setenv("AWS_PROFILE", "default")
    config.write_text("[default]\n")
    assert backend.aws_session().region_name == "eu-west-1"


class _FailingSTS:
    def __init__(self, code):
        self.code = code

    def get_caller_identity(self):
        from botocore.exceptions import ClientError

        raise ClientError(
            {"Error": {"Code": self.code, "Message": "The security token included in the request is expired"}},
            "GetCallerIdentity",
        )


class _FakeWorkshop:
    def __init__(self, code):
        self.code = code

    def client(self, name):
        return _FailingSTS(self.code)


@pytest.mark.parametrize("code", ["ExpiredToken", "ExpiredTokenException"])
def test_expired_credentials_are_one_sentence(code):
    with pytest.raises(BackendError) as caught:
        backend._caller_identity(_FakeWorkshop(code), "your AWS credentials")
    assert "expired" in str(caught.value) and "\n" not in str(caught.value)


def test_invalid_credentials_are_one_sentence():
    with pytest.raises(BackendError, match="InvalidClientTokenId"):
        backend._caller_identity(_FakeWorkshop("InvalidClientTokenId"), "your AWS credentials")


# --- command line -----------------------------------------------------------------------


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "workshop_helpers", *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )


def test_doctor_on_moto_reports_and_exits_zero():
    out = run_cli("doctor", env=clean_env())
    assert out.returncode == 0, out.stderr
    for word in ("backend", "moto", "eu-west-1", "123456789012", "boto3", "aws-encryption-sdk", "kms"):
        assert word in out.stdout


def test_doctor_loads_neither_ec2_nor_the_server_nor_the_envelope_code():
    """A command imports what it uses: doctor needs KMS, not moto's EC2 (a second), the
    endpoint's server or the envelope format (a tenth of a second together)."""
    done = run_python(
        """
        import runpy, sys
        sys.argv = ["workshop_helpers", "doctor"]
        try:
            runpy.run_module("workshop_helpers", run_name="__main__")
        except SystemExit as exit:
            assert not exit.code, exit.code
        heavy = ("moto.ec2.models", "workshop_helpers.serving.server", "waitress", "workshop_helpers.envelope")
        print(sorted(name for name in heavy if name in sys.modules), file=sys.stderr)
        """,
        clean_env(),
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip().splitlines()[-1] == "[]", done.stderr


@pytest.mark.parametrize(
    "args,needle",
    [
        (["doctor", "--backend", "nope"], "unknown backend"),
        (["doctor", "--backend", "endpoint"], "KMS_WORKSHOP_ENDPOINT_URL"),
        (["doctor", "--backend", "aws"], "no AWS credentials"),
    ],
)
def test_doctor_problems_are_one_line_and_non_zero(args, needle):
    out = run_cli(*args, env=clean_env())
    assert out.returncode != 0
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], out.stderr
    assert "Traceback" not in out.stderr


def test_connect_is_exported_and_returns_a_workshop(moto_workshop):
    assert isinstance(moto_workshop, workshop_helpers.Workshop)
    assert moto_workshop.backend == "moto"
    assert moto_workshop.account_id == "123456789012"
