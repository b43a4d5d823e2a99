"""tests/ensure_browser.py: finding a Chromium, never failing `make test` itself, and the
browser tests' fail-on-CI / skip-elsewhere rule. No browser is started here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import browser_support
import ensure_browser
import pytest

SCRIPT = Path(ensure_browser.__file__)


def fake_executable(path: Path, output: str = "Chromium 1.0") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(0o755)
    return path


def test_an_explicit_chromium_wins(tmp_path, monkeypatch):
    exe = fake_executable(tmp_path / "my-chrome")
    monkeypatch.setenv(ensure_browser.ENV_VAR, str(exe))
    assert ensure_browser.find_chromium() == str(exe)
    monkeypatch.setenv(ensure_browser.ENV_VAR, str(tmp_path / "missing"))
    assert ensure_browser.find_chromium() is None


def test_playwrights_own_browser_is_found(tmp_path, monkeypatch):
    exe = fake_executable(tmp_path / "chromium-1234/chrome-linux/chrome")
    monkeypatch.delenv(ensure_browser.ENV_VAR, raising=False)
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(tmp_path))
    assert ensure_browser._playwright_browser() == str(exe)


def test_a_system_chromium_on_path_is_found_only_if_it_runs(tmp_path, monkeypatch):
    monkeypatch.delenv(ensure_browser.ENV_VAR, raising=False)
    monkeypatch.setattr(ensure_browser, "_playwright_browser", lambda: None)
    fake_executable(tmp_path / "chromium", output="Chromium 156.0 built on Debian")
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ensure_browser.find_chromium() == str(tmp_path / "chromium")
    fake_executable(tmp_path / "chromium", output="please install the snap")  # a stub
    assert ensure_browser.find_chromium() is None


def test_the_script_exits_0_and_explains_when_it_cannot_get_a_browser(tmp_path):
    env = dict(
        os.environ,
        KMS_WORKSHOP_CHROMIUM="",
        KMS_WORKSHOP_NO_BROWSER_INSTALL="1",
        PATH=str(tmp_path),
        PLAYWRIGHT_BROWSERS_PATH=str(tmp_path),
        HOME=str(tmp_path),
    )
    out = subprocess.run([sys.executable, str(SCRIPT)], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "apt-get install -y chromium" in out.stdout and "playwright install chromium" in out.stdout


@pytest.mark.parametrize("ci, outcome", [("true", "failed"), ("", "skipped")])
def test_without_chromium_browser_tests_fail_on_ci_and_skip_elsewhere(monkeypatch, ci, outcome):
    monkeypatch.setattr(browser_support, "find_chromium", lambda: None)
    monkeypatch.setenv("CI", ci)
    with pytest.raises(BaseException) as info:
        browser_support.chromium_or_skip()
    expected = pytest.fail.Exception if outcome == "failed" else pytest.skip.Exception
    assert isinstance(info.value, expected)
    assert "apt-get install -y chromium" in str(info.value)
