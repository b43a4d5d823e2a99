"""The secret scan: nothing in the repository, and it really catches each kind of secret.

`workshop_helpers.secret_scan` runs detect-secrets (with the workshop's own plugins) over
every file git would commit and over every notebook output. The first test is the build's
gate; the others plant one example of each kind of secret in each place it can hide (and
look-alikes that must pass) so that the gate is known to be able to fail. They go through
the public functions and the command line only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import sqlite3
import subprocess
import sys

import pytest

from workshop_helpers import secret_scan
from workshop_helpers.display import mask

ROOT = pathlib.Path(__file__).resolve().parents[2]

# Planted values, built at run time so that this file itself stays clean.
FAKE_KEY_ID = "AKIA" + "Q3VZ7RTX2LMN4PWD"
FAKE_SESSION_KEY_ID = "ASIA" + "Z2X7C4V6B8N5M3L9"
FAKE_SECRET = "wJalr" + "XUtnFEMI/K7MDENG/bPxRfiCY9z8Kq2Lm4T"  # 40 characters
OTHER_ACCOUNT = "98765" + "4321098"
DATA_KEY = bytes(range(7, 39))  # 32 bytes
assert len(FAKE_SECRET) == 40


def _planted_key(n: int) -> bytes:
    """A fixed, random-looking 32-byte key (the same on every run)."""
    return hashlib.sha256(f"planted data key {n}".encode()).digest()


def _notebook(outputs: list[dict], source: str = "x = 1", metadata: dict | None = None) -> dict:
    return {
        "cells": [{"cell_type": "code", "execution_count": 1, "metadata": {}, "source": source, "outputs": outputs}],
        "metadata": {
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            **(metadata or {}),
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def _stream(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def _display(mime: str, value) -> dict:
    return {"output_type": "display_data", "metadata": {}, "data": {mime: value}}


def _widget_state(value: str) -> dict:
    state = {
        "model-1": {"model_name": "TextModel", "model_module": "@jupyter-widgets/controls", "state": {"value": value}}
    }
    return {
        "widgets": {
            "application/vnd.jupyter.widget-state+json": {"state": state, "version_major": 2, "version_minor": 0}
        }
    }


def _write_notebook(path: pathlib.Path, nb: dict) -> pathlib.Path:
    path.write_text(json.dumps(nb))  # one line, as a notebook written without indent is
    return path


def _kinds(findings) -> list[str]:
    return sorted(f.kind for f in findings)


def _assert_redacted(findings, *secrets: str) -> None:
    for finding in findings:
        for secret in secrets:
            assert secret not in str(finding), finding


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
    "name, text, kind",
    [
        ("planted.txt", f"aws_access_key_id = {FAKE_KEY_ID}\n", "access-key-id"),
        ("planted.txt", f'{{"AccessKeyId": "{FAKE_SESSION_KEY_ID}"}}', "access-key-id"),
        ("diagram.svg", f"<svg><text>{FAKE_KEY_ID}</text></svg>\n", "access-key-id"),
        ("planted.txt", f"aws_secret_access_key = {FAKE_SECRET}\n", "secret-access-key"),
        ("planted.txt", f'"SecretAccessKey": "{FAKE_SECRET}"', "secret-access-key"),
        (
            "credentials",
            f"[default]\naws_access_key_id = {FAKE_KEY_ID}\naws_secret_access_key = {FAKE_SECRET}\n",
            "secret-access-key",
        ),
        (".env", f"export AWS_SECRET_ACCESS_KEY={FAKE_SECRET}\n", "secret-access-key"),
        ("settings.py", f'client_secret = "{FAKE_SECRET}"\n', "secret-access-key"),
        ("deploy.py", f"upload(aws_key='{FAKE_SECRET}')\n", "secret-access-key"),
        ("config.yml", f"aws:\n  secret_access_key: {FAKE_SECRET}\n", "secret-access-key"),
        (
            "planted.txt",
            f"arn:aws:kms:eu-west-1:{OTHER_ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "account-id",
        ),
        ("planted.txt", f'{{"Account": "{OTHER_ACCOUNT}", "UserId": "AIDX"}}', "account-id"),
        ("planted.txt", f"account_id={OTHER_ACCOUNT}", "account-id"),
        ("config.yml", f"deploy:\n  account_id: '{OTHER_ACCOUNT}'\n", "account-id"),
    ],
)
def test_catches_each_kind_in_a_file(tmp_path, name, text, kind):
    path = tmp_path / name
    path.write_text("some harmless text\n" + text if not name.endswith((".yml", "credentials")) else text)
    findings = secret_scan.scan_file(path)
    assert kind in _kinds(findings), findings
    assert all(f.where.startswith(f"{path}:") for f in findings)
    _assert_redacted(findings, FAKE_SECRET, FAKE_KEY_ID, FAKE_SESSION_KEY_ID)


def test_a_finding_says_where_and_which_detector(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text(f"line one\nline two\nkey: {FAKE_KEY_ID}\n")
    [finding] = secret_scan.scan_file(path)
    assert finding.where == f"{path}:3"
    assert str(finding) == f"{path}:3: access-key-id: AKIA... (20 characters) [AWSKeyDetector]"


def _data_key_forms(key: bytes) -> dict[str, str]:
    forms = {
        "base64": base64.b64encode(key).decode(),
        "urlsafe": base64.urlsafe_b64encode(key).decode(),
        "unpadded": base64.b64encode(key).decode().rstrip("="),
        "hex": key.hex(),
        "HEX": key.hex().upper(),
    }
    assert forms["urlsafe"] != forms["base64"], "pick a key whose urlsafe form differs"
    return forms


def _data_key_output(where: str, shown: str) -> dict:
    """A notebook (as a dict) showing `shown` in one place an output can hold text."""
    if where == "stream":
        return _notebook([_stream(f"data key: {shown}\n")])
    if where == "error":
        return _notebook(
            [{"output_type": "error", "ename": "ValueError", "evalue": f"bad key {shown}", "traceback": []}]
        )
    if where == "widget state":
        return _notebook([], metadata=_widget_state(shown))
    value = {
        "text/plain": f"data key: {shown}",
        "text/html": f"<table><tr><th>Plaintext</th><td><code>{shown}</code></td></tr></table>",
        "image/svg+xml": f"<svg><title>t</title><desc>d</desc><text x='1' y='2'>{shown}</text></svg>",
        "text/markdown": f"The data key is `{shown}`.",
        "text/latex": f"\\texttt{{{shown}}}",
        "application/json": {"Plaintext": shown, "KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab"},
        "application/javascript": f'console.log("{shown}");',
    }[where]
    return _notebook([_display(where, value)])


@pytest.mark.parametrize("form", ["base64", "urlsafe", "unpadded", "hex", "HEX"])
@pytest.mark.parametrize("where", ["stream", "error", *secret_scan.TEXT_OUTPUT_TYPES, "widget state"])
def test_catches_an_unmasked_data_key_in_any_output(tmp_path, form, where):
    for n in (0, 1):
        shown = _data_key_forms(_planted_key(n))[form]
        path = _write_notebook(tmp_path / f"leaky-{n}.ipynb", _data_key_output(where, shown))
        findings = secret_scan.scan_file(path)
        assert _kinds(findings) == ["data-key"], findings
        label = "widget state" if where == "widget state" else "cell 1 output 1"
        assert findings[0].where.startswith(f"{path}: {label}"), findings[0]
        _assert_redacted(findings, shown)


def test_catches_a_key_in_the_source_and_in_an_error(tmp_path):
    nb = _notebook(
        [{"output_type": "error", "ename": "ValueError", "evalue": f"bad key {DATA_KEY.hex()}", "traceback": []}],
        source=f"creds = {{'AccessKeyId': '{FAKE_KEY_ID}'}}",
    )
    path = _write_notebook(tmp_path / "nb.ipynb", nb)
    findings = secret_scan.scan_file(path)
    assert _kinds(findings) == ["access-key-id", "data-key"]
    assert {f.where for f in findings} == {f"{path}: cell 1 source, line 1", f"{path}: cell 1 output 1 (error), line 1"}


@pytest.mark.parametrize(
    "text, kind",
    [
        (f"aws_access_key_id = {FAKE_KEY_ID}", "access-key-id"),
        (f'{{"SecretAccessKey": "{FAKE_SECRET}"}}', "secret-access-key"),
        (f"arn:aws:iam::{OTHER_ACCOUNT}:role/participant", "account-id"),
    ],
)
@pytest.mark.parametrize("where", ["source", "metadata", "output", "widget state"])
def test_catches_aws_secrets_anywhere_in_a_notebook(tmp_path, text, kind, where):
    nb = {
        "source": _notebook([], source=f"print({text!r})"),
        "metadata": _notebook([], metadata={"deploy": text}),
        "output": _notebook([_display("text/html", f"<pre>{text}</pre>")]),
        "widget state": _notebook([], metadata=_widget_state(text)),
    }[where]
    findings = secret_scan.scan_file(_write_notebook(tmp_path / "nb.ipynb", nb))
    assert _kinds(findings) == [kind], findings
    _assert_redacted(findings, FAKE_SECRET, FAKE_KEY_ID)


def test_a_data_key_counts_in_outputs_not_in_sources(tmp_path):
    """The data-key rule is for what a notebook shows (the docs and sources are full of
    digests and KeyMaterialIds); the AWS rules apply everywhere."""
    key = _planted_key(0)
    nb = _notebook([], source=f"expected = bytes.fromhex('{key.hex()}')")
    assert secret_scan.scan_file(_write_notebook(tmp_path / "nb.ipynb", nb)) == []
    doc = tmp_path / "notes.md"
    doc.write_text(f"The SHA-256 of the file is {key.hex()}\n")
    assert secret_scan.scan_file(doc) == []


def test_a_file_named_ipynb_that_is_not_json_gets_every_rule(tmp_path):
    path = tmp_path / "broken.ipynb"
    path.write_text("{ not json\n" + f"data key: {base64.b64encode(_planted_key(0)).decode()}\n")
    assert _kinds(secret_scan.scan_file(path)) == ["data-key"]


def test_catches_a_simulated_accounts_state(tmp_path):
    """The account's SQLite file and a kept key-material copy hold key material."""
    db = tmp_path / "copied-account.sqlite3"
    sqlite3.connect(db).execute("CREATE TABLE meta (key TEXT)").connection.close()
    material = tmp_path / "key-material" / "moto-123456789012-eu-west-1" / "1234abcd.bin"
    material.parent.mkdir(parents=True)
    material.write_bytes(bytes(32))
    kinds = [(f.where, f.kind) for f in secret_scan.scan_paths([db, material])[0]]
    assert kinds == [(str(db), "account-state"), (str(material), "account-state")]


def test_catches_a_simulated_accounts_state_in_a_checkout(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    state = tmp_path / "state" / "account.sqlite3"
    state.parent.mkdir()
    sqlite3.connect(state).execute("CREATE TABLE meta (key TEXT)").connection.close()
    findings, count = secret_scan.scan_paths([tmp_path])
    assert count == 1 and [(f.where, f.kind) for f in findings] == [("state/account.sqlite3", "account-state")]


def test_command_line_fails_on_a_planted_secret(tmp_path):
    (tmp_path / "config.ini").write_text(f"[default]\naws_access_key_id = {FAKE_KEY_ID}\n")
    result = subprocess.run(
        [sys.executable, "-m", "workshop_helpers.secret_scan", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "config.ini:2: access-key-id" in result.stdout and FAKE_KEY_ID not in result.stdout
    assert "1 finding(s)" in result.stderr


def test_command_line_usage_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "workshop_helpers.secret_scan", str(tmp_path / "missing")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "no such file or directory" in result.stderr


def test_scans_what_git_would_commit_not_what_it_ignores(tmp_path):
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    (tmp_path / ".gitignore").write_text("ignored/\n")
    (tmp_path / "ignored").mkdir()
    (tmp_path / "ignored" / "creds").write_text(f"aws_access_key_id = {FAKE_KEY_ID}\n")
    (tmp_path / "untracked.md").write_text(f"arn:aws:iam::{OTHER_ACCOUNT}:role/x\n")
    findings, count = secret_scan.scan_paths([tmp_path])
    assert count == 2  # .gitignore and untracked.md: new files count, ignored ones do not
    assert _kinds(findings) == ["account-id"]
    assert findings[0].where == "untracked.md:1"


def test_an_allowlist_comment_counts_in_test_files_only(tmp_path):
    """detect-secrets' inline allow-list comment can mark a deliberate fake in a test; it
    never silences a secret in the package, the notebooks or anywhere else."""
    line = f'FAKE = "{FAKE_KEY_ID}"  # pragma: allowlist secret\n'
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "helpers.py").write_text(line)
    (tmp_path / "test_module.py").write_text(line)
    (tmp_path / "module.py").write_text(line)
    _write_notebook(tmp_path / "nb.ipynb", _notebook([], source=line))
    findings, count = secret_scan.scan_paths(
        [tmp_path / name for name in ("tests", "test_module.py", "module.py", "nb.ipynb")]
    )
    assert count == 4
    assert [(f.where, f.kind) for f in findings] == [
        (f"{tmp_path / 'module.py'}:1", "access-key-id"),
        (f"{tmp_path / 'nb.ipynb'}: cell 1 source, line 1", "access-key-id"),
    ]


# --- and it stays quiet on what the workshop legitimately shows ---------------------------


def test_allows_documentation_values_and_the_tests_made_up_ids(tmp_path):
    path = tmp_path / "examples.md"
    path.write_text(
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n"
        "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n"
        '"SecretAccessKey": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"\n'
        + "".join(f"key {key_id}\n" for key_id in secret_scan.ALLOWED_ACCESS_KEY_IDS)
        + "".join(f"arn:aws:iam::{account}:root, account_id={account}\n" for account in secret_scan.ALLOWED_ACCOUNTS)
    )
    assert secret_scan.scan_file(path) == []


def test_allows_what_the_code_and_tests_hold(tmp_path):
    path = tmp_path / "code.py"
    path.write_text(
        'TEST_SECRET_ACCESS_KEY = "testing"\n'  # moto's credentials
        'creds = {"AccessKeyId": "testing", "SecretAccessKey": "testing"}\n'
        'SAMPLE_SECRET_TEXT = "Meet me at the lighthouse at midnight. Bring the blue notebook."\n'
        'ORIGINAL_PASSWORD = "fileb://datakeyPlainText.txt"\n'
        'made_up = {"SecretAccessKey": "x" * 40}\n'
        'secret = os.environ["AWS_SECRET_ACCESS_KEY"]\n'
        "commit = '3f786850e387550fdab836ed7e6dc881de23001b'  # the secret sauce\n"
    )
    assert secret_scan.scan_file(path) == []


def test_allows_what_the_notebooks_show(tmp_path):
    key = os.urandom(32)
    material_id = "3e2b6e656222181f25d0508bab412778869f49df9f2b3c42923c6f692720de1d"
    outputs = [
        _stream(f"data key:           {mask(key)}\n"),
        _stream("openssl enc -aes-256-ctr -K 0" + "*" * 62 + "f -iv 00112233445566778899aabbccddeeff\n"),
        _display("text/html", f"<th>KeyMaterialId</th><td><code>{material_id}</code></td>"),
        _display("text/html", ["<tr><th>KeyMaterialId</th>\n", f"<td><code>{material_id}</code></td></tr>\n"]),
        _display("text/plain", f"KeyMaterialId | {material_id}"),
        _display("application/json", {"KeyMaterialId": material_id, "Account": "123456789012"}),
        _stream("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab\n"),
        _stream('{"Account": "123456789012", "AccessKeyId": "AKIAIOSFODNN7EXAMPLE"}\n'),
        _stream("aws_access_key_id=testing aws_secret_access_key=testing\n"),
        _stream("CiphertextBlob: " + base64.b64encode(os.urandom(184)).decode() + "\n"),
        _stream(f"SHA-256: {hashlib.sha256(key).hexdigest()}\n"),
        _stream("commit 3f786850e387550fdab836ed7e6dc881de23001b  secret sauce\n"),
        _stream("KMSWorkshop-AdditionalPermissions-participant\n"),
    ]
    public_key = base64.b64encode(b"\x02" + os.urandom(48)).decode()  # the Encryption SDK's signing key
    outputs.append(_display("text/plain", f"{{'aws-crypto-public-key': '{public_key}'}}"))
    path = _write_notebook(tmp_path / "clean.ipynb", _notebook(outputs, metadata=_widget_state(mask(key))))
    assert secret_scan.scan_file(path) == []
