"""The secret scan: nothing in the repository, and it really catches each kind of secret.

`workshop_helpers.secret_scan` looks at every file git would commit and at every notebook
output. The first test is the build's gate; the others plant one example of each kind of
secret (and look-alikes that must pass) so that the gate is known to be able to fail.
"""

from __future__ import annotations

import base64
import json
import os
import pathlib
import subprocess
import sys

import pytest

from workshop_helpers import secret_scan
from workshop_helpers.display import mask

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Planted values, built at run time so that this file itself stays clean.
FAKE_KEY_ID = "AKIA" + "Q3VZ7RTX2LMN4PWD"
FAKE_SESSION_KEY_ID = "ASIA" + "Z2X7C4V6B8N5M3L9"
FAKE_SECRET = "wJalr" + "XUtnFEMI/K7MDENG/bPxRfiCY9z8Kq2Lm4T"  # 40 characters
OTHER_ACCOUNT = "98765" + "4321098"
DATA_KEY = bytes(range(7, 39))  # 32 bytes
assert len(FAKE_SECRET) == 40


def _notebook(outputs: list[dict], source: str = "x = 1") -> dict:
    return {
        "cells": [{"cell_type": "code", "execution_count": 1, "metadata": {}, "source": source, "outputs": outputs}],
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _display(mime: str, text: str) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {mime: text}}


def _kinds(findings) -> list[str]:
    return sorted(f.kind for f in findings)


# --- the gate ---------------------------------------------------------------------------


def test_repository_has_no_secrets():
    """Every file git would commit, and every output of every committed notebook."""
    files = secret_scan.repository_files(ROOT)
    assert any(p.suffix == ".ipynb" for p in files), "the scan must see the notebooks"
    assert any(p.name == "README.md" for p in files)
    findings = secret_scan.scan_repository(ROOT)
    assert not findings, "secrets found:\n" + "\n".join(map(str, findings))


def test_command_line_passes_on_the_repository():
    result = subprocess.run(
        [sys.executable, "-m", "workshop_helpers.secret_scan"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "nothing found" in result.stdout


# --- it can fail: one planted example of each kind ---------------------------------------


@pytest.mark.parametrize(
    "text, kind",
    [
        (f"aws_access_key_id = {FAKE_KEY_ID}\n", "access-key-id"),
        (f'{{"AccessKeyId": "{FAKE_SESSION_KEY_ID}"}}', "access-key-id"),
        (f"aws_secret_access_key = {FAKE_SECRET}\n", "secret-access-key"),
        (f'"SecretAccessKey": "{FAKE_SECRET}"', "secret-access-key"),
        (f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab", "account-id"),
        (f'{{"Account": "{OTHER_ACCOUNT}", "UserId": "AIDX"}}', "account-id"),
        (f"account_id={OTHER_ACCOUNT}", "account-id"),
    ],
)
def test_catches_each_kind_in_a_file(tmp_path, text, kind):
    path = tmp_path / "planted.txt"
    path.write_text("some harmless text\n" + text)
    findings = secret_scan.scan_file(path)
    assert kind in _kinds(findings), findings
    # a finding never prints the secret itself
    for finding in findings:
        assert FAKE_SECRET not in str(finding) and FAKE_KEY_ID not in str(finding)


@pytest.mark.parametrize(
    "form",
    ["base64", "urlsafe", "unpadded", "hex", "HEX"],
)
@pytest.mark.parametrize("mime", ["stream", "text/plain", "text/html", "image/svg+xml"])
def test_catches_an_unmasked_data_key_in_any_output(tmp_path, form, mime):
    key = os.urandom(32)
    while not (b"\xfb" in key or b"\xff" in key):  # make the urlsafe form differ from base64
        key = os.urandom(32)
    shown = {
        "base64": base64.b64encode(key).decode(),
        "urlsafe": base64.urlsafe_b64encode(key).decode(),
        "unpadded": base64.b64encode(key).decode().rstrip("="),
        "hex": key.hex(),
        "HEX": key.hex().upper(),
    }[form]
    text = f"data key: {shown}"
    if mime == "text/html":
        text = f"<table><tr><th>Plaintext</th><td><code>{shown}</code></td></tr></table>"
    elif mime == "image/svg+xml":
        text = f"<svg><title>t</title><desc>d</desc><text x='1' y='2'>{shown}</text></svg>"
    output = _stream(text + "\n") if mime == "stream" else _display(mime, text)
    path = tmp_path / "leaky.ipynb"
    path.write_text(json.dumps(_notebook([output])))
    findings = secret_scan.scan_file(path)
    if form == "unpadded" and not secret_scan._looks_random(shown):
        pytest.skip("this random key happens to look like a word; the padded form is caught")
    assert _kinds(findings) == ["data-key"], findings
    assert shown not in str(findings[0])


def test_catches_a_key_in_the_source_and_in_an_error(tmp_path):
    nb = _notebook(
        [{"output_type": "error", "ename": "ValueError", "evalue": f"bad key {DATA_KEY.hex()}", "traceback": []}],
        source=f"creds = {{'AccessKeyId': '{FAKE_KEY_ID}'}}",
    )
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    assert _kinds(secret_scan.scan_file(path)) == ["access-key-id", "data-key"]


def test_catches_a_simulated_accounts_state(tmp_path):
    """The account's SQLite file and a kept key-material copy hold key material."""
    import sqlite3

    db = tmp_path / "copied-account.sqlite3"
    sqlite3.connect(db).execute("CREATE TABLE meta (key TEXT)").connection.close()
    material = tmp_path / "key-material" / "moto-123456789012-eu-west-1" / "1234abcd.bin"
    material.parent.mkdir(parents=True)
    material.write_bytes(bytes(32))
    kinds = [(f.where, f.kind) for f in secret_scan.scan_paths([db, material])[0]]
    assert kinds == [(str(db), "account-state"), (str(material), "account-state")]


def test_command_line_fails_on_a_planted_secret(tmp_path):
    (tmp_path / "config.ini").write_text(f"[default]\naws_access_key_id = {FAKE_KEY_ID}\n")
    result = subprocess.run(
        [sys.executable, "-m", "workshop_helpers.secret_scan", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "access-key-id" in result.stdout and FAKE_KEY_ID not in result.stdout


def test_scans_what_git_would_commit_not_what_it_ignores(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "creds").write_text(f"aws_access_key_id = {FAKE_KEY_ID}\n")
    (tmp_path / "untracked.md").write_text(f"arn:aws:iam::{OTHER_ACCOUNT}:role/x\n")
    findings, count = secret_scan.scan_paths([tmp_path])
    assert count == 2  # .gitignore and untracked.md: new files count, ignored ones do not
    assert _kinds(findings) == ["account-id"]


# --- and it stays quiet on what the workshop legitimately shows ---------------------------


def test_allows_what_the_notebooks_show(tmp_path):
    key = os.urandom(32)
    material_id = "3e2b6e656222181f25d0508bab412778869f49df9f2b3c42923c6f692720de1d"
    outputs = [
        _stream(f"data key:           {mask(key)}\n"),
        _stream("openssl enc -aes-256-ctr -K 0" + "*" * 62 + "f -iv 00112233445566778899aabbccddeeff\n"),
        _display("text/html", f"<th>KeyMaterialId</th><td><code>{material_id}</code></td>"),
        _display("text/plain", f"KeyMaterialId | {material_id}"),
        _stream("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n"),
        _stream('{"Account": "123456789012", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}\n'),
        _stream("aws_access_key_id=testing aws_secret_access_key=testing\n"),
        _stream("CiphertextBlob: " + base64.b64encode(os.urandom(184)).decode() + "\n"),
        _stream("commit 3f786850e387550fdab836ed7e6dc881de23001b  secret sauce\n"),
        _stream("KMSWorkshop-AdditionalPermissions-participant\n"),
    ]
    path = tmp_path / "clean.ipynb"
    path.write_text(json.dumps(_notebook(outputs)))
    assert secret_scan.scan_file(path) == []
