"""workshop_helpers.openssl: the correct `openssl enc` command really uses the data key,
and the original `-k fileb://...` command never did.

The tests that run openssl are skipped when there is no `openssl` binary.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from workshop_helpers import openssl
from workshop_helpers.errors import WorkshopError

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="no openssl binary")

PLAINTEXT = b"The quick brown fox jumps over the lazy dog.\n" * 37 + b"odd tail"


def run(argv, cwd=None) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), cwd=cwd, capture_output=True, timeout=60)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return result


def python_decrypt(cipher: str, key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    if cipher == "aes-256-ctr":
        decryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).decryptor()
        return decryptor.update(ciphertext) + decryptor.finalize()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    return unpadder.update(padded) + unpadder.finalize()


def python_encrypt(cipher: str, key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    if cipher == "aes-256-ctr":
        encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
        return encryptor.update(plaintext) + encryptor.finalize()
    padder = padding.PKCS7(128).padder()
    padded = padder.update(plaintext) + padder.finalize()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(padded) + encryptor.finalize()


# --- the correct command ----------------------------------------------------------------


@needs_openssl
@pytest.mark.parametrize("cipher", openssl.CIPHERS)
def test_file_encrypted_by_the_command_decrypts_in_python_with_the_data_key(tmp_path, cipher):
    data_key = os.urandom(32)
    (tmp_path / "plain.txt").write_bytes(PLAINTEXT)
    command = openssl.correct_command(data_key, tmp_path / "plain.txt", tmp_path / "plain.enc", cipher=cipher)
    run(command.argv)
    ciphertext = (tmp_path / "plain.enc").read_bytes()
    assert ciphertext != PLAINTEXT
    assert python_decrypt(cipher, data_key, bytes.fromhex(command.iv_hex), ciphertext) == PLAINTEXT
    try:  # another key does not give the plaintext back
        wrong = python_decrypt(cipher, os.urandom(32), bytes.fromhex(command.iv_hex), ciphertext)
    except ValueError:  # CBC: the padding check fails
        wrong = None
    assert wrong != PLAINTEXT


@needs_openssl
@pytest.mark.parametrize("cipher", openssl.CIPHERS)
def test_file_encrypted_in_python_decrypts_with_the_command(tmp_path, cipher):
    data_key, iv = os.urandom(32), os.urandom(16)
    (tmp_path / "plain.enc").write_bytes(python_encrypt(cipher, data_key, iv, PLAINTEXT))
    command = openssl.correct_command(
        data_key, tmp_path / "plain.enc", tmp_path / "plain.out", iv=iv, cipher=cipher, decrypt=True
    )
    run(command.argv)
    assert (tmp_path / "plain.out").read_bytes() == PLAINTEXT


@needs_openssl
def test_openssl_enc_really_has_no_authenticated_mode(tmp_path):
    (tmp_path / "plain").write_bytes(b"x")
    result = subprocess.run(
        [
            OPENSSL,
            "enc",
            "-aes-256-gcm",
            "-K",
            "00" * 32,
            "-iv",
            "00" * 12,
            "-in",
            str(tmp_path / "plain"),
            "-out",
            str(tmp_path / "out"),
        ],
        capture_output=True,
        timeout=30,
    )
    assert result.returncode != 0


def test_command_uses_the_key_and_iv_in_hex():
    data_key, iv = bytes(range(32)), bytes(range(16))
    command = openssl.correct_command(data_key, "in.txt", "out.enc", iv=iv)
    assert command.argv == (
        "openssl",
        "enc",
        "-e",
        "-aes-256-ctr",
        "-K",
        data_key.hex(),
        "-iv",
        iv.hex(),
        "-in",
        "in.txt",
        "-out",
        "out.enc",
    )
    assert "-k" not in command.argv and "-pass" not in command.argv
    assert openssl.NO_AUTHENTICATION in command.notes
    assert "no authenticated mode" in openssl.NO_AUTHENTICATION


def test_display_masks_the_key_by_default():
    data_key = bytes(range(32))
    command = openssl.correct_command(data_key, "in.txt", "out.enc")
    shown = command.display()
    assert data_key.hex() not in shown and data_key.hex() not in str(command) and data_key.hex() not in repr(command)
    masked = next(word for word in shown.split() if "*" in word)
    assert len(masked) == 64
    assert masked[0] == data_key.hex()[0] and masked[-1] == data_key.hex()[-1] and set(masked[1:-1]) == {"*"}
    assert command.iv_hex in shown  # an IV is not secret
    assert data_key.hex() in command.display(mask_key=False)


def test_random_iv_differs_between_commands_and_decrypting_needs_one():
    data_key = os.urandom(32)
    first = openssl.correct_command(data_key, "a", "b")
    second = openssl.correct_command(data_key, "a", "b")
    assert first.iv_hex != second.iv_hex and len(bytes.fromhex(first.iv_hex)) == 16
    with pytest.raises(WorkshopError, match="IV"):
        openssl.correct_command(data_key, "a", "b", decrypt=True)


@pytest.mark.parametrize(
    "key, cipher, iv",
    [
        (b"short", "aes-256-ctr", None),
        (bytes(32), "aes-256-gcm", None),
        (bytes(32), "aes-256-ctr", b"short"),
        ("text", "aes-256-ctr", None),
    ],
)
def test_bad_arguments_are_one_line_errors(key, cipher, iv):
    with pytest.raises(WorkshopError) as caught:
        openssl.correct_command(key, "a", "b", cipher=cipher, iv=iv)
    assert "\n" not in str(caught.value)


# --- the original mistake ---------------------------------------------------------------


@needs_openssl
def test_original_command_works_without_any_key_file(tmp_path):
    """`-k fileb://datakeyPlainText.txt` is a password: the key file is never read."""
    assert not (tmp_path / "datakeyPlainText.txt").exists()
    (tmp_path / "plain.txt").write_bytes(PLAINTEXT)
    run(openssl.mistaken_command("plain.txt", "plain.enc"), cwd=tmp_path)
    run(openssl.mistaken_command("plain.enc", "plain.out", decrypt=True), cwd=tmp_path)
    assert (tmp_path / "plain.out").read_bytes() == PLAINTEXT
    assert not (tmp_path / "datakeyPlainText.txt").exists()


@needs_openssl
def test_anyone_with_the_literal_password_decrypts_the_original_output(tmp_path):
    (tmp_path / "plain.txt").write_bytes(PLAINTEXT)
    run(openssl.mistaken_command("plain.txt", "plain.enc"), cwd=tmp_path)
    (tmp_path / "datakeyPlainText.txt").write_bytes(os.urandom(32))  # a real key file changes nothing
    run(
        [
            OPENSSL,
            "enc",
            "-d",
            "-aes256",
            "-pass",
            f"pass:{openssl.ORIGINAL_PASSWORD}",
            "-in",
            "plain.enc",
            "-out",
            "plain.out",
        ],
        cwd=tmp_path,
    )
    assert (tmp_path / "plain.out").read_bytes() == PLAINTEXT


def test_mistaken_command_is_the_original_one():
    argv = openssl.mistaken_command("in", "out")
    assert " ".join(argv[:6]) == "openssl enc -e -aes256 -k fileb://datakeyPlainText.txt"
    assert openssl.original_mistake().command == " ".join(argv[:6])


def test_original_mistake_explains_password_and_fix():
    mistake = openssl.original_mistake()
    assert mistake.password == "fileb://datakeyPlainText.txt"
    text = str(mistake)
    assert "password" in mistake.summary and "never read" in mistake.summary
    assert any("does not exist" in reason for reason in mistake.reasons)
    assert "-K" in mistake.fix and "-iv" in mistake.fix and "no authenticated mode" in mistake.fix
    assert mistake.command in text and all(reason in text for reason in mistake.reasons)


def test_original_mistake_renders_urls_as_code_not_links():
    # JupyterLab links URL-like plain text (fileb://...) with colour alone: the HTML view
    # must carry every fileb:// inside <code>, and say everything the text says.
    import re

    mistake = openssl.original_mistake()
    html = mistake._repr_html_()
    outside_code = re.sub(r"<code>.*?</code>", "", html, flags=re.S)
    assert "fileb://" in html and "fileb://" not in outside_code
    assert "<a " not in html
    plain = re.sub(r"<[^>]+>", "", html).replace("&#x27;", "'")
    assert mistake.summary.replace("`", "") in plain and all(
        reason.replace("`", "") in plain for reason in mistake.reasons
    )
    assert "var(--jp-content-font-color1" in html
