"""Support for the fidelity tests: the two KMS environments (in-process moto and the
`serve` endpoint in a subprocess) behind one interface, and small helpers."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
REGION = "eu-west-1"
ACCOUNT = "123456789012"
URL_PREFIX = "KMS_WORKSHOP_ENDPOINT_URL="


@dataclass
class KmsEnv:
    """Clients for one backend: `kind` is "inprocess" or "endpoint".

    Clients come from one boto3 session per environment and are reused per credentials:
    a new session per client would reload botocore's service models every time (slow).
    The in-process session is made after connect("moto") started the mock: a session
    copies botocore's handlers when it is made, so an earlier one would not be mocked.
    """

    kind: str
    endpoint_url: str | None = None
    workshop: Any = None
    _clients: dict = field(default_factory=dict, repr=False)
    _session: Any = field(default=None, repr=False)

    def client(self, service: str, credentials: dict | None = None, region: str = REGION):
        creds = credentials or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
        cache_key = (service, region, creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken"))
        if cache_key not in self._clients:
            from workshop_helpers.backend import client_config

            if self._session is None:
                self._session = boto3.Session(region_name=REGION)
            self._clients[cache_key] = self._session.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint_url,
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds.get("SessionToken"),
                config=client_config(),
            )
        return self._clients[cache_key]

    @property
    def kms(self):
        return self.client("kms")


class ServeProcess:
    """`python -m workshop_helpers serve --port 0 [args]` as a subprocess."""

    def __init__(self, *args: str, stderr_path: str | None = None):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "KMS_WORKSHOP_"))}
        env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
        self._stderr = open(stderr_path or os.devnull, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "workshop_helpers", "serve", "--port", "0", *args],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
        )
        self.url = self._read_url()

    def _read_url(self) -> str:
        line = self.proc.stdout.readline()  # the first stdout line names the endpoint
        if not line.startswith(URL_PREFIX):
            self.proc.kill()
            raise RuntimeError(f"serve did not print its URL; it printed {line!r}")
        return line.strip()[len(URL_PREFIX) :]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        finally:
            self._stderr.close()


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@contextlib.contextmanager
def kms_error(code: str):
    """Expect a ClientError with exactly this error code; yields the ExceptionInfo."""
    with pytest.raises(ClientError) as info:
        yield info
    assert info.value.response["Error"]["Code"] == code, info.value.response["Error"]


def wrap(public_key_der: bytes, material: bytes, algorithm: str = "RSAES_OAEP_SHA_256") -> bytes:
    """Wrap key material the way a learner does before ImportKeyMaterial."""
    hash_cls = hashes.SHA256 if algorithm.endswith("256") else hashes.SHA1
    public_key = serialization.load_der_public_key(public_key_der)
    oaep = padding.OAEP(mgf=padding.MGF1(algorithm=hash_cls()), algorithm=hash_cls(), label=None)
    if algorithm.startswith("RSA_AES_KEY_WRAP"):
        from cryptography.hazmat.primitives.keywrap import aes_key_wrap_with_padding

        aes_key = os.urandom(32)
        return public_key.encrypt(aes_key, oaep) + aes_key_wrap_with_padding(aes_key, material)
    return public_key.encrypt(material, oaep)


def import_into(kms, key_id: str, material: bytes, **import_args) -> dict:
    """GetParametersForImport, wrap, ImportKeyMaterial (as notebook 01 does)."""
    params = kms.get_parameters_for_import(
        KeyId=key_id, WrappingAlgorithm="RSAES_OAEP_SHA_256", WrappingKeySpec="RSA_2048"
    )
    import_args.setdefault("ExpirationModel", "KEY_MATERIAL_DOES_NOT_EXPIRE")
    return kms.import_key_material(
        KeyId=key_id,
        ImportToken=params["ImportToken"],
        EncryptedKeyMaterial=wrap(params["PublicKey"], material),
        **import_args,
    )


def trust_account_root() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, "Action": "sts:AssumeRole"}
            ],
        }
    )


def policy(*statements: dict) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(actions, resource="*", condition: dict | None = None, effect: str = "Allow") -> dict:
    statement = {"Effect": effect, "Action": actions, "Resource": resource}
    if condition:
        statement["Condition"] = condition
    return statement


def sign_chunks(secret_key: str, timestamp: str, region: str, seed_signature: str, chunks: list[bytes]):
    """An S3 body streamed in signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD), signed here
    from AWS's description, independently of the code under test: each chunk's signature
    chains from the one before, starting at the request's own. Returns (body up to and
    including the final zero-length chunk's header, without its closing CRLF, signing key,
    credential scope, last signature), so a caller can close the body or add a trailer."""
    import hashlib
    import hmac

    key = ("AWS4" + secret_key).encode()
    for part in (timestamp[:8], region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    scope = f"{timestamp[:8]}/{region}/s3/aws4_request"
    previous, body = seed_signature, b""
    for chunk in [*chunks, b""]:
        to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                timestamp,
                scope,
                previous,
                hashlib.sha256(b"").hexdigest(),
                hashlib.sha256(chunk).hexdigest(),
            ]
        )
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        body += f"{len(chunk):x};chunk-signature={previous}\r\n".encode() + chunk + (b"\r\n" if chunk else b"")
    return body, key, scope, previous
