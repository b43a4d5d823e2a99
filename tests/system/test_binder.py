"""Binder (repo2docker): binder/start, binder/postBuild, binder/overrides.json, the badge.

repo2docker conventions checked here: with a binder/ directory the root's configuration
files are ignored; environment.yml must not install the repository itself (its -c line
pointing at the lock makes repo2docker copy the repository in first, but installing the
package is postBuild's job), postBuild does that, with `set -e`, without root; start runs at every launch and ends with `exec "$@"`.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BINDER = ROOT / "binder"
FIRST_NOTEBOOK = "notebooks/01-setup-imported-cmk.ipynb"
BADGE_URLPATH = "?urlpath=lab/tree/" + FIRST_NOTEBOOK


def clean_env(**extra) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KMS_WORKSHOP_", "BINDER_", "AWS_", "JUPYTERHUB_"))}
    env["KMS_WORKSHOP_STATE_DIR"] = "memory"  # never the user's own account
    env.update(extra)
    return env


def run_start(*command: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["bash", str(BINDER / "start"), *command],
        cwd=ROOT,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- binder/start -------------------------------------------------------------------------


def test_start_sets_the_moto_backend_and_runs_the_command():
    out = run_start("sh", "-c", 'echo "backend=$KMS_WORKSHOP_BACKEND"')
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "backend=moto"


def test_start_keeps_a_backend_already_chosen():
    out = run_start("sh", "-c", 'echo "backend=$KMS_WORKSHOP_BACKEND"', KMS_WORKSHOP_BACKEND="endpoint")
    assert out.stdout.strip() == "backend=endpoint"


def test_start_execs_the_command_with_its_arguments_and_exit_status():
    out = run_start("sh", "-c", 'printf "%s|" "$@"; exit 7', "sh", "two words", "")
    assert out.returncode == 7
    assert out.stdout == "two words||"
    # exec: the command replaces the script (same PID), so signals reach the server directly
    out = run_start("sh", "-c", 'echo "$PPID"')
    assert int(out.stdout) == os.getpid()
    assert (BINDER / "start").read_text().rstrip().endswith('exec "$@"')


def test_on_binder_the_notebooks_connect_to_moto_and_aws_is_refused():
    code = textwrap.dedent(
        """
        import workshop_helpers
        from workshop_helpers.backend import on_binder
        assert on_binder()
        try:
            workshop_helpers.connect("aws")
        except workshop_helpers.BackendError as exc:
            print("refused:", exc)
        ws = workshop_helpers.connect()
        print("connected:", ws.backend)
        """
    )
    out = run_start(
        sys.executable,
        "-c",
        code,
        BINDER_LAUNCH_HOST="https://mybinder.org/",
        BINDER_REPO_URL="https://github.com/o/r",
        AWS_ACCESS_KEY_ID="binder-test",
        AWS_SECRET_ACCESS_KEY="binder-test",
    )
    assert out.returncode == 0, out.stderr
    refused = next(l for l in out.stdout.splitlines() if l.startswith("refused:"))
    assert "Binder" in refused and "credentials" in refused and "moto" in refused
    assert "connected: moto" in out.stdout


# --- binder/postBuild ---------------------------------------------------------------------


def fake_python(tmp_path: Path, pip_exit: int) -> Path:
    """A `python` first on PATH: logs `-m pip` calls (exiting with `pip_exit`) and reports
    tmp_path/prefix as sys.prefix, so postBuild runs without touching the real environment."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "fakeprefix.py").write_text(f"import sys\nsys.prefix = {str(tmp_path / 'prefix')!r}\n")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "python"
    shim.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "{tmp_path}/pip.log"; exit {pip_exit}; fi\n'
        f'if [ "$1" = "-c" ]; then PYTHONPATH="{site}" exec "{sys.executable}" -c "import fakeprefix; $2"; fi\n'
        f'exec "{sys.executable}" "$@"\n'
    )
    shim.chmod(0o755)
    return bindir


def run_postbuild(tmp_path: Path, pip_exit: int = 0) -> subprocess.CompletedProcess:
    bindir = fake_python(tmp_path, pip_exit)
    env = clean_env(PATH=f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return subprocess.run(
        ["bash", str(BINDER / "postBuild")], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_postbuild_installs_the_package_and_the_lab_settings(tmp_path):
    out = run_postbuild(tmp_path)
    assert out.returncode == 0, out.stderr
    pip_calls = (tmp_path / "pip.log").read_text().splitlines()
    assert any(re.search(r"\binstall\b.*(-e \.|\.$)", call) for call in pip_calls), pip_calls
    installed = tmp_path / "prefix/share/jupyter/lab/settings/overrides.json"
    assert json.loads(installed.read_text()) == json.loads((BINDER / "overrides.json").read_text())


def test_postbuild_stops_at_the_first_failure(tmp_path):
    out = run_postbuild(tmp_path, pip_exit=3)
    assert out.returncode != 0
    assert not (tmp_path / "prefix/share/jupyter/lab/settings/overrides.json").exists()
    first_command = next(
        l.strip() for l in (BINDER / "postBuild").read_text().splitlines()[1:] if l.strip() and not l.startswith("#")
    )
    assert first_command in ("set -e", "set -euo pipefail", "set -eu")


def test_binder_scripts_are_executable_with_a_shebang():
    for name in ("start", "postBuild"):
        path = BINDER / name
        assert os.access(path, os.X_OK), f"binder/{name} must be executable"
        assert path.read_text().startswith("#!/usr/bin/env bash\n") or path.read_text().startswith("#!/bin/bash\n")


# --- binder/environment.yml and repo2docker conventions -----------------------------------


def test_binder_environment_does_not_install_the_repository_itself():
    env = yaml.safe_load((BINDER / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    assert not [r for r in pip if r.startswith("-e") or r.strip() in (".", "./")]


def test_binder_directory_has_only_files_repo2docker_uses():
    allowed = {"environment.yml", "postBuild", "start", "overrides.json"}
    present = {p.name for p in BINDER.iterdir() if not p.name.startswith(".")}
    assert present <= allowed, f"unexpected files in binder/: {present - allowed}"
    # a requirements.txt beside environment.yml would be silently ignored
    assert not (BINDER / "requirements.txt").exists()


# --- binder/overrides.json ----------------------------------------------------------------


def lab_schema(plugin_id: str) -> dict:
    package, plugin = plugin_id.split(":")
    import jupyterlab

    candidates = [
        Path(sys.prefix) / "share/jupyter/lab/schemas" / package / f"{plugin}.json",
        Path(jupyterlab.__file__).parent / "schemas" / package / f"{plugin}.json",
    ]
    for path in candidates:
        if path.exists():
            return json.loads(path.read_text())
    pytest.skip(f"JupyterLab's schema for {plugin_id} is not installed here")


def test_overrides_silence_news_and_the_kernel_dialog():
    overrides = json.loads((BINDER / "overrides.json").read_text())
    assert overrides["@jupyterlab/apputils-extension:notification"]["fetchNews"] == "false"
    assert overrides["@jupyterlab/apputils-extension:notification"]["checkForUpdates"] is False
    assert overrides["@jupyterlab/notebook-extension:tracker"]["autoStartDefaultKernel"] is True


@pytest.mark.parametrize("plugin_id", sorted(json.loads((BINDER / "overrides.json").read_text())))
def test_overrides_are_valid_against_jupyterlabs_schemas(plugin_id):
    jsonschema = pytest.importorskip("jsonschema")
    values = json.loads((BINDER / "overrides.json").read_text())[plugin_id]
    schema = lab_schema(plugin_id)
    for key, value in values.items():
        assert key in schema["properties"], f"{plugin_id} has no setting {key!r}"
        jsonschema.validate(value, schema["properties"][key])


# --- the badge ----------------------------------------------------------------------------


def test_readme_badge_opens_the_first_notebook():
    readme = (ROOT / "README.md").read_text()
    badges = re.findall(r"\[!\[[^\]]*\]\((https://mybinder\.org/badge[^)]*)\)\]\(([^)]+)\)", readme)
    assert badges, "README.md has no Binder badge"
    for _image, link in badges:
        assert re.fullmatch(r"https://mybinder\.org/v2/gh/[^/]+/[^/]+/[^?]+" + re.escape(BADGE_URLPATH), link), link
    assert (ROOT / FIRST_NOTEBOOK).exists(), f"the badge opens {FIRST_NOTEBOOK}, which does not exist"


def test_readme_first_screen_is_unchanged_by_the_binder_section():
    readme = (ROOT / "README.md").read_text()
    assert readme.index("## Binder") > readme.index("make test")


def test_make_lab_and_binder_open_the_same_first_notebook():
    import subprocess

    lab = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "lab"], cwd=ROOT, capture_output=True, text=True, timeout=60
    ).stdout  # what `make lab` would run
    default_url = re.search(r"--LabApp\.default_url=(\S+)", lab).group(1)
    root_dir = re.search(r"--ServerApp\.root_dir=(\S+)", lab).group(1)
    assert default_url == "/lab/tree/" + str(Path(FIRST_NOTEBOOK).relative_to(root_dir))
    assert (ROOT / root_dir / Path(default_url).name).exists()


def test_jupyterlab_applies_the_overrides_where_postbuild_puts_them(tmp_path):
    """postBuild copies overrides.json to <sys.prefix>/share/jupyter/lab/settings, JupyterLab's
    app settings directory: a real JupyterLab with that directory (and no user settings)
    serves the overridden defaults."""
    from browser_support import LabServer

    settings = tmp_path / "app-settings"
    settings.mkdir()
    (settings / "overrides.json").write_text((BINDER / "overrides.json").read_text())
    notebooks = tmp_path / "nb"
    notebooks.mkdir()
    server = LabServer(
        notebooks, tmp_path / "lab", user_settings={}, extra_args=(f"--LabApp.app_settings_dir={settings}",)
    ).start()
    try:

        def default(plugin, key):
            return server.get_json(f"/lab/api/settings/{plugin}")["schema"]["properties"][key]["default"]

        assert default("@jupyterlab/notebook-extension:tracker", "autoStartDefaultKernel") is True
        assert default("@jupyterlab/apputils-extension:notification", "fetchNews") == "false"
        assert default("@jupyterlab/apputils-extension:notification", "checkForUpdates") is False
    finally:
        server.stop()
    # and where postBuild puts them is that directory for the environment's JupyterLab
    from jupyterlab.commands import get_app_dir

    if not os.environ.get("JUPYTERLAB_DIR"):
        assert Path(get_app_dir()) == Path(sys.prefix) / "share/jupyter/lab"
    assert (
        "settings_dir=\"$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings\""
        in (BINDER / "postBuild").read_text()
    )
