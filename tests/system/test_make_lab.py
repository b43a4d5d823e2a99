"""`make lab` starts a JupyterLab with Binder's settings: binder/overrides.json, the one file
both use (postBuild copies it into the image, `make install` into the venv), so neither
shows JupyterLab's news pop-up or checks for updates, and notebooks start their kernel
without a dialog.

The JupyterLab here is started by `make lab` itself, on a free port, with its own config,
data, runtime, user-settings and workspaces directories (never the user's ~/.jupyter) and
the browser turned off in that private config.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from browser_support import free_port, private_jupyter_dirs

ROOT = Path(__file__).resolve().parents[2]
OVERRIDES = json.loads((ROOT / "binder" / "overrides.json").read_text())
START_TIMEOUT = 120  # s; includes `make install` when the venv is out of date


def get_json(url: str, token: str):
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=10) as resp:
        return json.load(resp)


@pytest.fixture
def make_lab(tmp_path):
    """`make lab` on a free port; yields (base url, token)."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    port, token = free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "KMS_WORKSHOP_", "BINDER_"))}
    dirs, jupyter_env = private_jupyter_dirs(tmp_path)
    (dirs["config"] / "jupyter_server_config.json").write_text(json.dumps({"ServerApp": {"open_browser": False}}))
    env.update(
        jupyter_env,
        JUPYTER_TOKEN=token,
        KMS_WORKSHOP_STATE_DIR="memory",
    )
    log_path = tmp_path / "make-lab.log"
    with open(log_path, "w") as log:
        # its own process group: make and the jupyter it starts are stopped together
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"PORT={port}"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"make lab exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                get_json(url + "/api/status", token)
                break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    pytest.fail(f"make lab did not answer within {START_TIMEOUT} s:\n{log_path.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url, token
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_make_lab_serves_binders_settings(make_lab):
    url, token = make_lab
    assert OVERRIDES["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    for plugin, values in OVERRIDES.items():
        settings = get_json(f"{url}/lab/api/settings/{plugin}", token)
        for key, value in values.items():
            # the schema's default is what overrides.json sets; the private user settings are empty
            assert settings["schema"]["properties"][key]["default"] == value, (plugin, key)
            assert key not in settings.get("settings", {}), (plugin, key)
    notification = get_json(f"{url}/lab/api/settings/@jupyterlab/apputils-extension:notification", token)
    assert notification["schema"]["properties"]["fetchNews"]["default"] == "false"
