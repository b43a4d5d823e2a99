"""Where the simulated account lives, and keeping that folder private.

The folder holds imported key material (what real KMS keeps in its HSMs), so it is made
with mode 0700 and its files with 0600, and it is refused inside the repository or inside
a workshop-data folder (which learners zip and share). Modes are set explicitly, not left
to the umask (under umask 000 a plain mkdir is world-writable), and a folder opened again
has what is already in it tightened: a file copied in, or left by an older version, with
mode 0644 is 0600 from then on. The class folder (classroom/files.py) is kept the same
way, by `private_folder`.
"""

from __future__ import annotations

import contextlib
import errno
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


def _make_folders(path: pathlib.Path) -> None:
    """`path` and its missing parents, each 0700 whatever the umask (parents made for it
    are the user's own, like ~/.kms-workshop, and must not be writable by others)."""
    wanted, missing = path, []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:  # made meanwhile by a racing process: still ours to tighten
            pass
        os.chmod(folder, 0o700)
    if not wanted.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "it is not a folder", str(wanted))


def tighten(path: pathlib.Path) -> None:
    """`path` 0700, and everything in it of this user's: folders 0700, files 0600 (links
    are left alone: their targets are not the folder's)."""
    os.chmod(path, 0o700)
    uid = os.getuid()
    for root, folders, files in os.walk(path):
        for name in folders + files:
            entry = os.path.join(root, name)
            try:
                info = os.lstat(entry)
            except FileNotFoundError:  # removed meanwhile (a temporary file)
                continue
            if stat.S_ISLNK(info.st_mode) or info.st_uid != uid:
                continue
            wanted = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            if stat.S_IMODE(info.st_mode) != wanted:
                with contextlib.suppress(FileNotFoundError):
                    os.chmod(entry, wanted)


def private_folder(path: pathlib.Path) -> pathlib.Path:
    """Create `path` (and its parents) 0700 if needed, and tighten what is in it."""
    _make_folders(path)
    tighten(path)
    return path


def make_private(path: pathlib.Path) -> pathlib.Path:
    """Create `path` (mode 0700) if needed and make sure nobody else can read it or
    anything in it."""
    check_allowed(path)
    try:
        _make_folders(path)
        info = path.stat()
        if info.st_uid != os.getuid():
            raise WorkshopError(
                f"the account folder {path} belongs to another user; set {STATE_DIR_ENV} to a folder of your own."
            )
        tighten(path)
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
