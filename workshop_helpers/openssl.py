"""The openssl commands the workshop teaches: the correct one, and the original mistake.

The original workshop encrypted a file with
``openssl enc -e -aes256 -k fileb://datakeyPlainText.txt``. `-k` takes a *password*, so
openssl used the literal string ``fileb://datakeyPlainText.txt`` as the password and
never read the data key file; the command works even when that file does not exist.
`correct_command()` builds the command that really uses a data key (`-K` hex key, `-iv`
hex IV), and `original_mistake()` explains what went wrong.

Everything here returns data (dataclasses and strings) and prints nothing: the notebooks
choose how to display it, with the key masked.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass

from .display.explanation import explanation_html
from .display.masking import mask
from .errors import WorkshopError

__all__ = [
    "CIPHERS",
    "NO_AUTHENTICATION",
    "correct_command",
    "mistaken_command",
    "original_mistake",
]

# Ciphers `openssl enc` offers for a 32-byte data key; both take a 16-byte IV.
CIPHERS = ("aes-256-ctr", "aes-256-cbc")
KEY_BYTES = 32
IV_BYTES = 16

NO_AUTHENTICATION = (
    "`openssl enc` has no authenticated mode (it refuses AES-GCM and AES-CCM): nothing it "
    "writes can detect a modified ciphertext. Use it to see the data key at work; protect "
    "real data with AES-GCM, as workshop_helpers.envelope does."
)

KEY_ON_COMMAND_LINE = (
    "The hex key is on the command line, where `ps` and the shell history can see it: "
    "acceptable for a throwaway workshop key, never for a real one."
)

ORIGINAL_PASSWORD = "fileb://datakeyPlainText.txt"
ORIGINAL_COMMAND = f"openssl enc -e -aes256 -k {ORIGINAL_PASSWORD}"


@dataclass(frozen=True)
class OpensslCommand:
    """An `openssl enc` command that uses a data key as the key.

    `argv` holds the real key: run it with subprocess. `display()` and `str()` mask the
    key, so printing the object by accident does not reveal it.
    """

    argv: tuple[str, ...]
    cipher: str
    key_hex: str
    iv_hex: str
    decrypt: bool
    notes: tuple[str, ...] = (NO_AUTHENTICATION, KEY_ON_COMMAND_LINE)

    def display(self, *, mask_key: bool = True) -> str:
        """The command as one shell line, the key masked unless asked otherwise."""
        # The masked key is for reading, not for running: leave it unquoted.
        return " ".join(
            mask(arg, visible=1) if mask_key and arg == self.key_hex else shlex.quote(arg) for arg in self.argv
        )

    def __str__(self) -> str:
        return self.display(mask_key=True)

    def __repr__(self) -> str:
        return f"OpensslCommand({self.display(mask_key=True)!r})"


def _check_key(data_key: bytes) -> bytes:
    if not isinstance(data_key, (bytes, bytearray, memoryview)):
        raise WorkshopError(f"the data key must be bytes, not {type(data_key).__name__}")
    if len(data_key) != KEY_BYTES:
        raise WorkshopError(f"the data key has {len(data_key)} bytes; aes-256 needs {KEY_BYTES}")
    return bytes(data_key)


def correct_command(
    data_key: bytes,
    src: str | os.PathLike,
    dst: str | os.PathLike,
    *,
    iv: bytes | None = None,
    cipher: str = "aes-256-ctr",
    decrypt: bool = False,
    openssl: str = "openssl",
) -> OpensslCommand:
    """The `openssl enc` command that encrypts (or decrypts) `src` into `dst` with `data_key`.

    Encrypting without `iv` picks a random one: keep `command.iv_hex`, decrypting needs it.
    In CTR mode an IV must never repeat under the same key; a fresh data key per file
    makes a random IV more than enough.
    """
    key = _check_key(data_key)
    if cipher not in CIPHERS:
        raise WorkshopError(f"cipher {cipher!r} is not one of {', '.join(CIPHERS)}")
    if iv is None:
        if decrypt:
            raise WorkshopError("decrypting needs the IV the file was encrypted with (iv=...)")
        iv = os.urandom(IV_BYTES)
    if len(iv) != IV_BYTES:
        raise WorkshopError(f"the IV has {len(iv)} bytes; {cipher} needs {IV_BYTES}")
    key_hex, iv_hex = key.hex(), bytes(iv).hex()
    argv = (
        openssl,
        "enc",
        "-d" if decrypt else "-e",
        f"-{cipher}",
        "-K",
        key_hex,
        "-iv",
        iv_hex,
        "-in",
        os.fspath(src),
        "-out",
        os.fspath(dst),
    )
    return OpensslCommand(argv, cipher, key_hex, iv_hex, decrypt)


def mistaken_command(
    src: str | os.PathLike, dst: str | os.PathLike, *, decrypt: bool = False, openssl: str = "openssl"
) -> tuple[str, ...]:
    """The original workshop's command, to run in a demonstration or a test."""
    return (
        openssl,
        "enc",
        "-d" if decrypt else "-e",
        "-aes256",
        "-k",
        ORIGINAL_PASSWORD,
        "-in",
        os.fspath(src),
        "-out",
        os.fspath(dst),
    )


@dataclass(frozen=True)
class Mistake:
    """What the original command did, why, and the fix."""

    command: str
    password: str
    summary: str
    reasons: tuple[str, ...]
    fix: str

    def __str__(self) -> str:
        lines = [self.command, "", self.summary, ""]
        lines += [f"- {reason}" for reason in self.reasons]
        lines += ["", self.fix]
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return explanation_html(self.command, self.summary, self.reasons, self.fix)


def original_mistake() -> Mistake:
    """Why `openssl enc -e -aes256 -k fileb://datakeyPlainText.txt` never used the data key."""
    return Mistake(
        command=ORIGINAL_COMMAND,
        password=ORIGINAL_PASSWORD,
        summary=(
            f"The file was encrypted under the password `{ORIGINAL_PASSWORD}`, "
            "not under the data key: the data key file was never read."
        ),
        reasons=(
            "`-k` takes a password, not a file name; openssl uses the text after it as the password.",
            "`fileb://` is AWS CLI syntax for reading a binary file into a parameter; openssl does not know it.",
            "So the command works even when datakeyPlainText.txt does not exist.",
            "Anyone who has read the workshop knows that password and can decrypt the file: KMS protected nothing.",
            "openssl turns the password into a key with a single round of hashing, and warns "
            "'deprecated key derivation used'.",
        ),
        fix=(
            "Give openssl the key itself: `-K` with the data key in hex and `-iv` with a fresh IV "
            "(correct_command() builds it). Better still, use AES-GCM, which detects tampering, "
            "as workshop_helpers.envelope does: `openssl enc` has no authenticated mode."
        ),
    )
