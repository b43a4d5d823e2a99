"""The workshop works for a participant of a class: notebooks 01 (which builds
the key), 02 and 07 run end to end as alice, with nothing but alice's env file, against
`serve --participants alice,bob --class-dir DIR`; bob's account has none of what alice made.

Runs the notebooks in a temporary copy (tests/notebook_sequence.py's `prepare`), each in a
kernel of its own, as a learner would; the committed notebooks are never written."""

from __future__ import annotations

import json

import boto3
import pytest
from botocore.config import Config
from fidelity_support import ServeProcess
from notebook_sequence import prepare, run_one, sequence_env

pytestmark = pytest.mark.endpoint

NOTEBOOKS = ("01-setup-imported-cmk.ipynb", "02-generate-data-key.ipynb", "07-direct-encryption.ipynb")
PROBE = """
import json as _json
_ws = workshop_helpers.connect()
print("CLASS-PROBE " + _json.dumps({"account": _ws.account_id,
                                    "keys": [k["KeyArn"] for k in _ws.client("kms").list_keys()["Keys"]]}))
"""


def read_env(path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)


def errors_of(nb) -> list[str]:
    return [
        f"{o.get('ename')}: {o.get('evalue')}"
        for cell in nb.cells
        if cell.cell_type == "code"
        for o in cell.get("outputs", [])
        if o.get("output_type") == "error"
    ]


def probe_of(nb) -> dict:
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in str(output.get("text", "")).splitlines():
                if line.startswith("CLASS-PROBE "):
                    return json.loads(line[len("CLASS-PROBE ") :])
    raise AssertionError("the probe cell printed nothing")


def test_notebooks_01_02_07_run_as_a_participant_in_their_own_account(tmp_path):
    server = ServeProcess(
        "--state-dir",
        str(tmp_path / "state"),
        "--participants",
        "alice,bob",
        "--class-dir",
        str(tmp_path / "class"),
        stderr_path=str(tmp_path / "serve.stderr"),
    )
    try:
        alice_env = read_env(tmp_path / "class" / "alice.env")
        bob_env = read_env(tmp_path / "class" / "bob.env")
        home, copy = prepare(tmp_path / "alice")
        env = sequence_env(home, "endpoint", **alice_env)
        seen = {}
        for name in NOTEBOOKS:
            nb = run_one(name, copy, env, probe="import workshop_helpers\n" + PROBE)  # raises on a cell error
            assert errors_of(nb) == [], f"{name}: {errors_of(nb)}"
            seen[name] = probe_of(nb)

        session = dict(
            endpoint_url=server.url,
            region_name=bob_env["AWS_DEFAULT_REGION"],
            config=Config(retries={"max_attempts": 1, "mode": "standard"}),
        )
        bob_kms = boto3.client(
            "kms",
            aws_access_key_id=bob_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=bob_env["AWS_SECRET_ACCESS_KEY"],
            **session,
        )
        bob_sts = boto3.client(
            "sts",
            aws_access_key_id=bob_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=bob_env["AWS_SECRET_ACCESS_KEY"],
            **session,
        )
        alice_sts = boto3.client(
            "sts",
            aws_access_key_id=alice_env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=alice_env["AWS_SECRET_ACCESS_KEY"],
            **session,
        )
        alice_account = alice_sts.get_caller_identity()["Account"]
        alice_keys = set(seen[NOTEBOOKS[-1]]["keys"])
        assert all(probe["account"] == alice_account for probe in seen.values()), seen
        assert alice_keys and all(arn.split(":")[4] == alice_account for arn in alice_keys)
        assert set(seen[NOTEBOOKS[0]]["keys"]) <= alice_keys  # 02 and 07 used the key 01 built
        bob_keys = {k["KeyArn"] for k in bob_kms.list_keys()["Keys"]}
        assert bob_sts.get_caller_identity()["Account"] != alice_account
        assert not bob_keys & alice_keys, "bob's account lists alice's keys"
        assert "alias/ImportedCMK" not in [a["AliasName"] for a in bob_kms.list_aliases()["Aliases"]]
    finally:
        assert server.stop() == 0
