"""Find a Chromium for the browser tests, and install Debian's when it is missing.

    python tests/ensure_browser.py            # report what is found; install if root + apt
    python tests/ensure_browser.py --check    # report only, never install

`make test` runs this before pytest. It always exits 0: whether a missing browser is an
error is for the browser tests to decide (they fail when CI=true and skip otherwise, with
the message below). The tests import `find_chromium()` and `MISSING_MESSAGE` from here.

Where a Chromium is looked for, in order:
1. $KMS_WORKSHOP_CHROMIUM (a path to a Chromium or Chrome executable);
2. the browser `playwright install chromium` downloads, if it was ever installed;
3. a system Chromium on PATH (Debian's `chromium`, `chromium-browser`, Google Chrome).
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys

ENV_VAR = "KMS_WORKSHOP_CHROMIUM"
SYSTEM_NAMES = ("chromium", "chromium-browser", "google-chrome-stable", "google-chrome")

MISSING_MESSAGE = (
    "no Chromium found for the browser tests (pytest -m browser). Install one, then rerun "
    "`make test`:\n"
    "  - Debian/Ubuntu: sudo apt-get update && sudo apt-get install -y chromium\n"
    "    (`make test` does this itself when it runs as root with apt-get)\n"
    "  - anywhere with access to Playwright's download servers: "
    ".venv/bin/python -m playwright install chromium\n"
    f"  - or point {ENV_VAR} at an existing Chromium/Chrome executable.\n"
    "To run everything else: make test-fast, or pytest -m 'not browser'."
)


def _playwright_browser() -> str | None:
    """The executable of a Chromium that `playwright install` put in its cache, if any."""
    roots = []
    if os.environ.get("PLAYWRIGHT_BROWSERS_PATH") not in (None, "", "0"):
        roots.append(os.environ["PLAYWRIGHT_BROWSERS_PATH"])
    roots += [
        os.path.expanduser("~/.cache/ms-playwright"),  # Linux
        os.path.expanduser("~/Library/Caches/ms-playwright"),  # macOS
    ]
    if os.environ.get("LOCALAPPDATA"):
        roots.append(os.path.join(os.environ["LOCALAPPDATA"], "ms-playwright"))  # Windows
    patterns = (
        "chromium-*/chrome-linux*/chrome",
        "chromium-*/chrome-mac*/Chromium.app/Contents/MacOS/Chromium",
        "chromium-*/chrome-mac*/Google Chrome for Testing.app/Contents/MacOS/Google Chrome for Testing",
        "chromium-*/chrome-win*/chrome.exe",
        "chromium_headless_shell-*/chrome-*/chrome-headless-shell",
        "chromium_headless_shell-*/chrome-*/chrome-headless-shell.exe",
    )
    for root in roots:
        for pattern in patterns:
            found = sorted(glob.glob(os.path.join(root, pattern)), reverse=True)  # newest revision first
            for path in found:
                if os.access(path, os.X_OK):
                    return path
    return None


def find_chromium() -> str | None:
    """The path of a usable Chromium executable, or None."""
    explicit = os.environ.get(ENV_VAR, "").strip()
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    found = _playwright_browser()
    if found:
        return found
    for name in SYSTEM_NAMES:
        path = shutil.which(name)
        if path and _runs(path):
            return path
    return None


def _runs(path: str) -> bool:
    """True if `path --version` works (Ubuntu's chromium-browser can be a snap stub)."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0 and any(w in out.stdout for w in ("Chromium", "Chrome"))


def _can_install() -> tuple[bool, str]:
    if not sys.platform.startswith("linux"):
        return False, "not Linux"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return False, "not running as root"
    if not shutil.which("apt-get"):
        return False, "no apt-get"
    if os.environ.get("KMS_WORKSHOP_NO_BROWSER_INSTALL"):
        return False, "KMS_WORKSHOP_NO_BROWSER_INSTALL is set"
    return True, ""


def install_with_apt() -> bool:
    """apt-get update && apt-get install -y chromium. True if it worked."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "chromium"]):
        print("ensure_browser: " + " ".join(cmd), flush=True)
        try:
            done = subprocess.run(
                cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, timeout=900
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            print(f"ensure_browser: {' '.join(cmd)} failed: {exc}", flush=True)
            return False
        if done.returncode != 0:
            tail = "\n".join(done.stderr.strip().splitlines()[-5:])
            print(f"ensure_browser: {' '.join(cmd)} failed (exit {done.returncode}):\n{tail}", flush=True)
            return False
    return True


def main(argv: list[str]) -> int:
    check_only = "--check" in argv
    path = find_chromium()
    if path:
        print(f"ensure_browser: browser tests will use {path}")
        return 0
    if os.environ.get(ENV_VAR, "").strip():
        print(f"ensure_browser: {ENV_VAR}={os.environ[ENV_VAR]} is not an executable file.")
        return 0
    ok, why = _can_install()
    if not check_only and ok:
        print("ensure_browser: no Chromium found; installing Debian's chromium (about 40 s)")
        if install_with_apt():
            path = find_chromium()
            if path:
                print(f"ensure_browser: installed; browser tests will use {path}")
                return 0
        print("ensure_browser: the installation did not give a working Chromium.")
    elif not check_only:
        print(f"ensure_browser: no Chromium found, and cannot install one ({why}).")
    print("ensure_browser: " + MISSING_MESSAGE)
    print("ensure_browser: the browser tests will be skipped (or fail when CI=true).")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except Exception as exc:  # noqa: BLE001 - never fail `make test` here; the tests decide
        print(f"ensure_browser: could not check for a browser ({type(exc).__name__}: {exc}).")
        sys.exit(0)
