"""Key hygiene: no plaintext data key is ever written anywhere, shown unmasked, or logged in
the audit trail.

The notebooks run (tests/workshop_run.py) in temporary copies of notebooks/, with a
test-only spy prepended that records every data key handed out during the run into a folder
outside everything scanned:

- `fresh`: each notebook in a fresh kernel on moto (the fidelity layer's recording,
  `fidelity.start_recording`, plus every 32-byte Decrypt plaintext and the kept key material);
- `whole-moto` and `whole-aws`: the whole workshop in one kernel, cleanup included;
- `whole-endpoint`: the whole workshop over `serve --record-data-keys FILE`.

Then every file the run left (notebook folders, workshop-data and a snapshot of it taken
before cleanup, IPython's folder, the executed notebooks) is searched for every recorded key
as raw bytes, base64, urlsafe base64, hex (both cases), spaced hex and Python's bytes repr.
The last cell of each run checks the audit trail (`ws.trail()`) for the same keys.
"""

from __future__ import annotations

import base64
import json

import pytest
import workshop_run

from workshop_helpers import secret_scan

RUNS = [
    pytest.param("fresh", id="fresh-kernel-per-notebook"),
    pytest.param("whole-moto", id="whole-workshop-moto"),
    pytest.param("whole-aws", id="whole-workshop-aws-on-moto"),
    pytest.param("whole-endpoint", id="whole-workshop-endpoint", marks=pytest.mark.endpoint),
]


def _get(name: str) -> workshop_run.Run:
    if name == "fresh":
        return workshop_run.fresh_runs()
    return workshop_run.whole_workshop(name.split("-", 1)[1])


@pytest.fixture(params=RUNS)
def run(request) -> workshop_run.Run:
    return _get(request.param)


def test_the_spy_saw_the_data_keys(run):
    """Not a vacuous test: the run really handed out data keys, and the spy caught them."""
    keys = run.keys(material=False)
    assert len(keys) >= 10, f"only {len(keys)} data keys recorded"
    assert all(len(k) == 32 for k in keys)
    generated = [p for p in run.spy.glob("*.keys") if p.name.endswith((".generated.keys", ".server.keys"))]
    assert any(p.stat().st_size for p in generated), "the fidelity layer's recording saw no GenerateDataKey"
    for folder in run.scanned:
        assert run.spy not in folder.parents and folder not in run.spy.parents, "the spy must sit outside the scan"


def test_no_data_key_in_any_file_the_run_left(run):
    files = workshop_run.files_under(run.scanned)
    names = {p.name for p in files}
    assert any(n.endswith(".executed.ipynb") for n in names)
    assert "samplesecret.txt.envelope" in names and "datakeyEncrypted.bin" in names, "workshop-data was not scanned"
    leaks = workshop_run.find_secrets(run.scanned, run.keys())
    assert leaks == [], "plaintext keys on disk:\n" + "\n".join(leaks[:20])


def test_no_data_key_in_the_accounts_state_folder():
    """The whole workshop ran on an account kept on disk (its state folder holds key
    material, as KMS's HSMs do): no plaintext data key is ever part of it."""
    run = _get("whole-moto")
    state = run.notes["state_dir"]
    files = workshop_run.files_under([state])
    assert any(p.name == "account.sqlite3" for p in files), "the account was not kept on disk"
    leaks = workshop_run.find_secrets([state], run.keys(material=False))
    assert leaks == [], "plaintext data keys in the state folder:\n" + "\n".join(leaks[:20])


def test_no_unmasked_key_in_any_output(run):
    """The generic detector too (any 32-byte value in base64 or hex), over every output."""
    findings = [f for path in run.executed for f in secret_scan.scan_file(path) if f.kind == "data-key"]
    assert findings == [], "\n".join(map(str, findings))


def test_the_trail_holds_no_plaintext(run):
    """The last cell of every kernel checked ws.trail() against the recorded keys."""
    checked = 0
    for path in run.executed:
        nb = json.loads(path.read_text())
        last = nb["cells"][-1]
        text = "".join("".join(o.get("text", "")) for o in last.get("outputs", []) if o.get("output_type") == "stream")
        assert "keys checked against the trail:" in text, f"{path.name}: the trail check did not run"
        checked += int(text.rsplit(":", 1)[1])
    assert checked >= 10


@pytest.mark.endpoint
def test_the_endpoint_recording_and_the_client_spy_agree():
    """Every key the server recorded was also seen by the client-side spy: the spy in the
    kernel is complete, so the in-kernel runs on moto check every key too."""
    run = _get("whole-endpoint")
    server = workshop_run.recorded_keys(run.spy, run.label, "server")
    client = workshop_run.recorded_keys(run.spy, run.label, "seen")
    assert server and set(server) <= set(client)
    assert "TEST MODE" in run.notes["server_stderr"]
    assert run.notes["server_exit"] == 0


def test_trail_never_records_plaintext_in_process(moto_workshop, tmp_path):
    """The same guarantee at unit level: every kind of call that handles a data key."""
    import aws_encryption_sdk
    from aws_encryption_sdk.identifiers import CommitmentPolicy

    from workshop_helpers import ebs, envelope, fidelity, fixtures, s3_sse

    ws = moto_workshop
    mark = ws.trail_mark()
    record = tmp_path / "keys.txt"
    seen: list[bytes] = []

    def spy(*, parsed=None, **_):
        value = (parsed or {}).get("Plaintext")
        if isinstance(value, bytes) and len(value) in (32, 64):  # 64: EBS's two XTS keys
            seen.append(value)

    from workshop_helpers import hooks

    hooks.register("after-call.kms", spy)
    fidelity.start_recording(record)
    try:
        key = fixtures.ensure_imported_cmk(ws)
        kms = ws.client("kms")
        gdk = kms.generate_data_key(KeyId=key.alias, KeySpec="AES_256", EncryptionContext={"a": "b"})
        kms.decrypt(CiphertextBlob=gdk["CiphertextBlob"], EncryptionContext={"a": "b"})
        kms.generate_data_key(KeyId=key.alias, NumberOfBytes=32)
        kms.generate_data_key_without_plaintext(KeyId=key.alias, KeySpec="AES_256")
        blob = envelope.encrypt_bytes(b"m", key_id=key.alias, encryption_context={"a": "b"})
        envelope.decrypt_bytes(blob, encryption_context={"a": "b"}, key_id=key.alias)
        sdk = aws_encryption_sdk.EncryptionSDKClient(commitment_policy=CommitmentPolicy.REQUIRE_ENCRYPT_REQUIRE_DECRYPT)
        provider = aws_encryption_sdk.StrictAwsKmsMasterKeyProvider(key_ids=[key.arn])
        message, _ = sdk.encrypt(source=b"m", key_provider=provider, encryption_context={"a": "b"})
        sdk.decrypt(source=message, key_provider=provider)
        volume = ebs.create_encrypted_volume(ws, key.alias)
        instance = ebs.workshop_instance(ws)
        ws.client("ec2").attach_volume(VolumeId=volume.volume_id, InstanceId=instance, Device="/dev/sdf")
        ebs.after_attach_volume(ws, volume.volume_id, instance)
        bucket = s3_sse.ensure_bucket(ws)
        put = ws.client("s3").put_object(
            Bucket=bucket, Key="k", Body=b"o", ServerSideEncryption="aws:kms", SSEKMSKeyId=key.arn
        )
        s3_sse.after_put_object(ws, bucket, "k", put)
        s3_sse.after_get_object(ws, bucket, "k")
    finally:
        fidelity.stop_recording()
        hooks.unregister("after-call.kms", spy)
    keys = set(fidelity.recorded_keys(record)) | set(seen)
    assert len(keys) >= 6  # GenerateDataKey x2, envelope, SDK, EBS (via Decrypt), S3
    trail = ws.trail(since=mark)
    names = {r["eventName"] for r in trail}
    assert {"GenerateDataKey", "GenerateDataKeyWithoutPlaintext", "Decrypt", "CreateGrant"} <= names
    text = json.dumps(trail, default=str).encode()
    for key_bytes in keys:
        for encoding, form in workshop_run.encodings(key_bytes).items():
            if encoding != "raw bytes":
                assert form not in text, f"the trail holds a data key as {encoding}"
    for record_ in trail:
        assert "plaintext" not in json.dumps(record_.get("requestParameters") or {}).lower()
        assert "plaintext" not in json.dumps(record_.get("responseElements") or {}).lower()
    assert base64.b64encode(gdk["Plaintext"]) not in text


def test_the_search_finds_a_planted_key(tmp_path):
    """The search can fail: one recorded-style key planted in each encoding is found."""
    import os

    key = os.urandom(32)
    forms = workshop_run.encodings(key)
    for name, form in forms.items():
        (tmp_path / f"{name.replace(' ', '_').replace(',', '')}.out").write_bytes(b"prefix " + form + b" suffix")
    nb = {
        "cells": [
            {
                "cell_type": "code",
                "source": "",
                "metadata": {},
                "execution_count": 1,
                "outputs": [{"output_type": "stream", "name": "stdout", "text": key.hex() + "\n"}],
            }
        ]
    }
    (tmp_path / "leaky.ipynb").write_text(json.dumps(nb))
    found = workshop_run.find_secrets([tmp_path], [key])
    assert {line.split(" as ", 1)[1] for line in found} >= set(forms) - {"base64, JSON-escaped"}
    assert any(line.startswith(str(tmp_path / "leaky.ipynb")) for line in found)
