"""One source of truth for dependencies: pyproject.toml. The conda and Binder
environment files must list exactly the same packages. The lock, constraints.txt (made
from pyproject's ranges by `make lock`), pins every one of them inside its range, and
every install (make install, so CI; conda; Binder) uses it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "constraints.txt"


def normalise(requirement: str) -> str:
    name, rest = re.match(r"^\s*([A-Za-z0-9_.\-]+(?:\[[^\]]*\])?)\s*(.*)$", requirement).groups()
    return name.lower().replace("_", "-") + rest.replace(" ", "")


def pyproject_requirements() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return {normalise(r) for r in reqs}


def pyproject_direct_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        reqs += extra
    return [Requirement(r) for r in reqs]


def conda_pip_section(path: Path) -> list[str]:
    env = yaml.safe_load(path.read_text())
    return next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)


def conda_pip_requirements(path: Path) -> set[str]:
    # options (-c the lock, -e the package) are not packages
    return {normalise(r) for r in conda_pip_section(path) if not r.startswith("-")}


def lock_requirements() -> list[Requirement]:
    lines = (l.split("#", 1)[0].strip() for l in LOCK.read_text().splitlines())
    return [Requirement(l) for l in lines if l]


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


def test_boto3_and_botocore_are_capped_at_the_minor_version_tested():
    # workshop_helpers uses botocore internals (handlers, service model); the two release in lock-step
    reqs = pyproject_requirements()
    assert "boto3>=1.44.8,<1.45" in reqs and "botocore>=1.44.8,<1.45" in reqs


def test_detect_secrets_is_a_test_dependency():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(
        canonicalize_name(Requirement(r).name) == "detect-secrets" for r in project["optional-dependencies"]["test"]
    )


def test_lock_says_how_it_was_made_and_for_which_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    header = [l for l in LOCK.read_text().splitlines() if l.startswith("#")][:8]
    text = "\n".join(header)
    assert "make lock" in text and "Made on Python" in text
    floor = re.fullmatch(r">=(\d+\.\d+)", project["requires-python"]).group(1)
    assert f"--universal --python-version {floor}" in text


def test_lock_pins_exact_versions_only():
    # pip constraints: a name, ==version and an optional marker; no extras, no ranges
    reqs = lock_requirements()
    assert len(reqs) > 50
    for req in reqs:
        assert not req.extras and not req.url, req
        assert [s.operator for s in req.specifier] == ["=="], req


def test_lock_pins_every_direct_dependency_inside_pyprojects_range():
    locked: dict[str, list[str]] = {}
    for req in lock_requirements():
        locked.setdefault(canonicalize_name(req.name), []).append(next(iter(req.specifier)).version)
    for req in pyproject_direct_requirements():
        versions = locked.get(canonicalize_name(req.name))
        assert versions, f"{req.name} is in pyproject.toml but not in constraints.txt: run make lock"
        for version in versions:
            assert req.specifier.contains(version, prereleases=True), (
                f"constraints.txt pins {req.name}=={version}, outside pyproject's {req}: run make lock"
            )


def test_lock_covers_python_3_10():
    # a universal lock: the packages only Python 3.10 needs are pinned too
    names = {canonicalize_name(r.name) for r in lock_requirements() if r.marker and "3.11" in str(r.marker)}
    assert {"tomli", "exceptiongroup"} <= names


@pytest.mark.parametrize("path", ["environment.yml", "binder/environment.yml"])
def test_environment_files_install_with_the_lock(path):
    env_file = ROOT / path
    constraints = [r.split(None, 1)[1] for r in conda_pip_section(env_file) if r.startswith("-c ")]
    # conda and mamba run pip in the environment file's directory
    assert [(env_file.parent / c).resolve() for c in constraints] == [LOCK]


def test_binder_postbuild_installs_with_the_lock():
    # repo2docker runs postBuild from the repository's root
    text = (ROOT / "binder/postBuild").read_text()
    assert re.search(r"^python -m pip install -c constraints\.txt -e \.$", text, re.M)


def _make_dry_run(*args: str) -> str:
    # -n: what make would run (nothing is run); -W: as if that file had just changed
    out = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_install_takes_only_what_the_workshop_needs_from_the_lock():
    out = _make_dry_run("-W", "constraints.txt", "install")
    assert "-c constraints.txt -e .;" in out, out
    assert "[test" not in out, "make lab's install must not bring the test tools"


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_test_adds_the_test_and_lint_tools_from_the_same_lock():
    out = _make_dry_run("-W", "constraints.txt", "install-test")
    assert "-c constraints.txt -e '.[test,lint]'" in out, out


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_the_installer_is_uv_where_it_can_be_had_else_pip_both_with_the_lock():
    out = _make_dry_run("-W", "constraints.txt", "install")
    line = next(l for l in out.splitlines() if "-c constraints.txt" in l)
    assert "command -v uv" in line and "pip install --quiet 'uv==" in line
    assert '"$UV" pip install --quiet --python .venv/bin/python -c constraints.txt -e .' in line
    assert "else .venv/bin/python -m pip install --quiet -c constraints.txt -e ." in line


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_lock_refreshes_the_lock_with_uv_installed_into_the_venv():
    out = subprocess.run(["make", "-n", "lock"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert re.search(r"\.venv/bin/python -m pip install --quiet 'uv==[\d.]+'", out.stdout), out.stdout
    assert ".venv/bin/uv pip compile pyproject.toml --extra test --extra lint --universal" in out.stdout
    assert "--output-file constraints.txt" in out.stdout


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
