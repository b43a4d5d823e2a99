"""One source of truth for dependencies: pyproject.toml. The conda and Binder
environment files must list exactly the same packages."""

from __future__ import annotations

import os
import re
try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def normalise(requirement: str) -> str:
    name, rest = re.match(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-") + rest.replace(" ", "")


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {normalise(r) for r in reqs}


def conda_pip_requirements(path: Path) -> set[str]:
    env = yaml.safe_load(path.read_text())
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    return {normalise(r) for r in pip_section if not r.startswith("-e")}


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_environment_files_list_the_same_packages_as_pyproject(path):
    assert conda_pip_requirements(ROOT / path) == pyproject_requirements()


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_environment_files_ask_for_the_same_python(path):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    env = yaml.safe_load((ROOT / path).read_text())
    pythons = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python")]
    assert pythons == ["python" + project["requires-python"]]


def test_moto_is_pinned_to_the_minor_version_the_fidelity_layer_is_tested_with():
    assert "moto[server]>=5.2.5,<5.3" in pyproject_requirements()


def test_binder_start_defaults_to_moto_and_execs():
    text = (ROOT / "binder/start").read_text()
    assert 'KMS_WORKSHOP_BACKEND="${KMS_WORKSHOP_BACKEND:-moto}"' in text
    assert text.rstrip().endswith('exec "$@"')
    assert os.access(ROOT / "binder/start", os.X_OK) and os.access(ROOT / "binder/postBuild", os.X_OK)


def test_binder_postbuild_stops_on_errors_and_installs_the_package():
    text = (ROOT / "binder/postBuild").read_text()
    assert "\nset -e\n" in text and "pip install" in text


def test_ci_runs_make_test_and_nothing_else():
    lines = [l for l in (ROOT / ".ci/run").read_text().splitlines() if l.strip() and not l.startswith("#")]
    assert lines[-1] == "make test"
    assert all(l.startswith(("set ", "cd ")) for l in lines[:-1])
