"""Where the simulated account lives, and keeping that folder private.

The folder holds imported key material (what real KMS keeps in its HSMs), so it is made
with mode 0700 and its files with 0600, and it is refused inside the repository or inside
a workshop-data folder (which learners zip and share).
"""

from __future__ import annotations

import os
import pathlib
import stat

from ..errors import WorkshopError

STATE_DIR_ENV = "KMS_WORKSHOP_STATE_DIR"
MEMORY = "memory"  # the value that keeps the account in the process only

_REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


def default_state_dir() -> pathlib.Path:
    return pathlib.Path.home() / ".kms-workshop" / "account"


def state_dir(value: str | os.PathLike | None = None) -> pathlib.Path | None:
    """The state folder chosen by `value`, else $KMS_WORKSHOP_STATE_DIR, else the default;
    None for ``memory``. Not created here."""
    raw = os.fspath(value) if value is not None else os.environ.get(STATE_DIR_ENV, "")
    raw = raw.strip()
    if raw.lower() == MEMORY:
        return None
    path = pathlib.Path(raw).expanduser() if raw else default_state_dir()
    return path.absolute()


def _inside(path: pathlib.Path, folder: pathlib.Path) -> bool:
    try:
        path.resolve().relative_to(folder.resolve())
        return True
    except ValueError:
        return False


def check_allowed(path: pathlib.Path) -> None:
    """Refuse a state folder where key material would be shared or committed."""
    if (_REPO_ROOT / "pyproject.toml").exists() and _inside(path, _REPO_ROOT):
        raise WorkshopError(
            f"{STATE_DIR_ENV}={path} is inside the workshop's repository, where key material "
            "could be committed; choose a folder outside it (the default is ~/.kms-workshop/account)."
        )
    if any(part == "workshop-data" for part in path.resolve().parts):
        raise WorkshopError(
            f"{STATE_DIR_ENV}={path} is inside a workshop-data folder, which learners share; "
            "choose a private folder outside it (the default is ~/.kms-workshop/account)."
        )


def make_private(path: pathlib.Path) -> pathlib.Path:
    """Create `path` (mode 0700) if needed and make sure nobody else can read it."""
    check_allowed(path)
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = path.stat()
        if info.st_uid != os.getuid():
            raise WorkshopError(
                f"the account folder {path} belongs to another user; set {STATE_DIR_ENV} to a folder of your own."
            )
        if stat.S_IMODE(info.st_mode) != 0o700:
            os.chmod(path, 0o700)
    except OSError as exc:
        raise WorkshopError(
            f"cannot use {path} for the simulated account ({exc.strerror or exc}); "
            f"set {STATE_DIR_ENV} to a private writable folder, or to 'memory'."
        ) from None
    return path


def private_file(path: pathlib.Path) -> None:
    """Create `path` empty with mode 0600 if it does not exist (before SQLite opens it,
    so that it is never readable by others, not even for a moment)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)
