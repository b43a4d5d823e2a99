"""The class folder: one `<name>.env` per participant, and `class.json` for the instructor.

The folder is 0700 and every file in it 0600 (they hold credentials and the instructor
token), whatever the umask; a folder opened again has what is already in it tightened to
those modes (account/location.py's `private_folder`, shared with the state folder). Files
are written whole (a temporary file, then renamed), so a participant never reads half a file.
"""

from __future__ import annotations

import json
import os
import pathlib
import secrets

from ..account.location import private_folder
from .roster import Participant

CLASS_FILE = "class.json"


def prepare(directory: str | os.PathLike) -> pathlib.Path:
    """The class folder, made (parents too) or tightened: 0700, its files 0600."""
    return private_folder(pathlib.Path(directory).expanduser().absolute())


def write_private(path: pathlib.Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)


def env_text(participant: Participant, url: str, region: str) -> str:
    values = {
        "KMS_WORKSHOP_BACKEND": "endpoint",
        "KMS_WORKSHOP_ENDPOINT_URL": url,
        "KMS_WORKSHOP_PARTICIPANT": participant.name,
        "AWS_ACCESS_KEY_ID": participant.access_key_id,
        "AWS_SECRET_ACCESS_KEY": participant.secret_access_key,
        "AWS_DEFAULT_REGION": region,
    }
    return "".join(f"{name}={value}\n" for name, value in values.items())


def write_env(directory: pathlib.Path, participant: Participant, url: str, region: str) -> pathlib.Path:
    path = directory / f"{participant.name}.env"
    write_private(path, env_text(participant, url, region))
    return path


def read_env(path: str | os.PathLike) -> dict[str, str]:
    values = {}
    for line in pathlib.Path(path).read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, value = line.split("=", 1)
            values[name.strip()] = value.strip()
    return values


def load_class(directory: pathlib.Path) -> dict:
    path = directory / CLASS_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}


def save_class(directory: pathlib.Path, data: dict) -> None:
    write_private(directory / CLASS_FILE, json.dumps(data, indent=2) + "\n")
