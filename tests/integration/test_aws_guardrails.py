"""Guardrails for the real-AWS backend, checked without an AWS account.

- It needs an explicit opt-in: never chosen by default, even with AWS credentials, a profile
  and a region in the environment.
- It shows the account and region before creating anything.
- It tags everything it creates with the workshop's tag (names.TAG_KEY).
- It states the cost of what it creates.

The last three are checked on the whole workshop run in one kernel against an "aws" Workshop
whose boto3 session is moto-backed (tests/workshop_run.py, `whole_workshop("aws")`): the
notebooks take the aws code paths (tag-only cleanup, IAM questions answered by
KMS_WORKSHOP_IAM=yes, no simulated EBS/S3 calls), while every request lands in moto.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import workshop_run
from workshop_run import ROOT, kernel_env

from workshop_helpers import backend, fixtures, names

# Credentials that look real, built at run time so the secret scan does not flag this file.
LOOKS_REAL = {
    "AWS_ACCESS_KEY_ID": "AKIA" + "Q3VZ7RTX2LMN4PWD",
    "AWS_SECRET_ACCESS_KEY": "wJalr" + "XUtnFEMI/K7MDENG/bPxRfiCY9z8Kq2Lm4T",
    "AWS_PROFILE": "production",
    "AWS_DEFAULT_REGION": "us-east-2",
}


# --- explicit opt-in ----------------------------------------------------------------------


def test_credentials_in_the_environment_never_choose_aws(monkeypatch):
    for name, value in LOOKS_REAL.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("KMS_WORKSHOP_BACKEND", raising=False)
    assert backend.choose_backend() == "moto"
    monkeypatch.setenv("KMS_WORKSHOP_BACKEND", "")
    assert backend.choose_backend() == "moto"


def test_a_fresh_process_with_credentials_connects_to_moto(tmp_path):
    env = kernel_env(tmp_path, "moto")
    env.pop("KMS_WORKSHOP_BACKEND")
    env.update(LOOKS_REAL)
    code = (
        "import os, workshop_helpers; ws = workshop_helpers.connect(); "
        "print(ws.backend, ws.account_id, os.environ['AWS_ACCESS_KEY_ID'], os.environ.get('AWS_PROFILE'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    backend_name, account, access_key, profile = result.stdout.split()
    assert (backend_name, account, profile) == ("moto", "123456789012", "None")
    assert access_key != LOOKS_REAL["AWS_ACCESS_KEY_ID"], "the real-looking credentials were kept"
    doctor = subprocess.run(
        [sys.executable, "-m", "workshop_helpers", "doctor"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert doctor.returncode == 0 and doctor.stdout.split()[:2] == ["backend", "moto"], doctor.stdout


def test_every_entry_point_defaults_to_a_simulation():
    """What `make lab` would run, and what Binder's start script sets, with no backend chosen."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KMS_WORKSHOP_")}
    lab = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", "lab"], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=60
    )
    launch = [line for line in lab.stdout.splitlines() if "jupyter lab" in line]
    assert launch and launch[-1].startswith("KMS_WORKSHOP_BACKEND=moto "), lab.stdout
    started = subprocess.run(
        [str(ROOT / "binder" / "start"), "sh", "-c", "echo $KMS_WORKSHOP_BACKEND"],
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.stdout.strip() == "moto"
    for name in workshop_run.notebook_names():
        nb = json.loads((workshop_run.NOTEBOOKS / name).read_text())
        code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
        assert 'connect("aws")' not in code and "connect('aws')" not in code, name


# --- account and region first ----------------------------------------------------------------


def test_the_aws_workshop_shows_account_and_region():
    ws = backend.Workshop("aws", "eu-west-3", "123456789012", "arn:aws:iam::123456789012:user/me", None, None)
    html = ws._repr_html_()
    assert "123456789012" in html and "eu-west-3" in html and "REAL AWS" in html and "cost money" in html
    assert "account=123456789012" in str(ws) and "region=eu-west-3" in str(ws)


def _segments(log: list[str]) -> dict[str, list[str]]:
    """The calls log cut at each notebook's start (the marks of the concatenated run)."""
    segments: dict[str, list[str]] = {}
    current = None
    for line in log:
        if line.startswith("mark "):
            current = line[5:]
            segments[current] = []
        elif current is not None:
            segments[current].append(line)
    return segments


def _mutating(line: str) -> bool:
    if not line.startswith("call "):
        return False
    operation = line.split(".", 1)[1]
    return not operation.startswith(workshop_run.READ_ONLY_PREFIXES)


def test_account_and_region_are_shown_before_anything_is_created():
    run = workshop_run.whole_workshop("aws")
    segments = _segments(run.calls_log())
    assert len(segments) == len(workshop_run.notebook_names()) + 1  # notebook 08 runs twice
    for notebook, lines in segments.items():
        announced = [i for i, line in enumerate(lines) if line == "announce aws 123456789012 eu-west-1"]
        changes = [i for i, line in enumerate(lines) if _mutating(line)]
        assert announced, f"{notebook}: no announcement"
        assert not changes or announced[0] < changes[0], f"{notebook}: {lines[changes[0]]} before the announcement"
    nb = json.loads(run.executed[0].read_text())
    cells = nb["cells"]
    marks = [i for i, c in enumerate(cells) if "".join(c["source"]).startswith("_workshop_run.mark(")]
    firsts = [next(c for c in cells[i + 1 :] if c["cell_type"] == "code") for i in marks]
    assert len(firsts) == len(segments)
    for cell in firsts:
        shown = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
        assert "REAL AWS: account 123456789012, region eu-west-1" in shown, "".join(cell["source"])[:200]


def test_announce_is_silent_on_the_simulations(moto_workshop, capsys):
    fixtures.announce(moto_workshop)
    assert capsys.readouterr().out == ""


# --- tags ------------------------------------------------------------------------------------


def test_everything_created_on_aws_carries_the_workshop_tag():
    run = workshop_run.whole_workshop("aws")
    strangers = json.loads((run.spy / f"{run.label}.strangers.json").read_text())
    inventory = run.inventory("before-cleanup")
    created = {
        "KMS key": [k for k in inventory["keys"] if k["id"] not in strangers["keys"]],
        "IAM role": [r for r in inventory["roles"] if r["name"] not in strangers["roles"]],
        "IAM policy": [p for p in inventory["policies"] if p["name"] not in strangers["policies"]],
        "S3 bucket": [b for b in inventory["buckets"] if b["name"] not in strangers["buckets"]],
        "EBS volume": [v for v in inventory["volumes"] if v["id"] not in strangers["volumes"]],
    }
    for kind, items in created.items():
        assert items, f"the workshop created no {kind} on aws: the check would be vacuous"
        for item in items:
            assert item["tags"].get(names.TAG_KEY) == "true", f"{kind} {item.get('id') or item.get('name')} is untagged"
    calls = {line.split(" ", 1)[1] for line in run.calls_log() if line.startswith("call ")}
    assert "ec2.RunInstances" not in calls, "the workshop must never launch an instance in a real account"


# --- costs -------------------------------------------------------------------------------------


def test_the_cost_of_what_is_created_is_stated():
    run = workshop_run.whole_workshop("aws")
    nb = json.loads(run.executed[0].read_text())
    shown = "\n".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    strangers = json.loads((run.spy / f"{run.label}.strangers.json").read_text())
    keys_created = len([k for k in run.inventory("before-cleanup")["keys"] if k["id"] not in strangers["keys"]])
    assert keys_created == 2 and "up to two KMS keys (about 1 USD a month each" in shown
    assert "an IAM role and policies (free)" in shown and "KMS requests (a few cents at most)" in shown
    assert "1 GiB EBS volume and an S3 bucket (cents a month)" in shown
    assert "no charge once pending deletion" in shown  # what cleanup leaves costs nothing
