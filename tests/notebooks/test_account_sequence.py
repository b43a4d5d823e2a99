"""Notebooks 01 to 08, each in its own kernel, in order, share one key;
04 decrypts the very files 03 wrote, and nothing is remade on that path.

The kernels share nothing but the account on disk (a temporary home folder's default
state folder) and the notebooks' folder, as in JupyterLab.
"""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from notebook_sequence import prepare, run_one, sequence_env
from notebook_support import CLEANUP_NOTEBOOK, WORKSHOP_NOTEBOOKS

_KEY_LINE = re.compile(r"alias/ImportedCMK -> key ([0-9a-f-]{36})")
_PROBE = """
import json as _json
_meta = ws.client("kms").describe_key(KeyId="alias/ImportedCMK")["KeyMetadata"]
print("SEQUENCE-PROBE", _json.dumps({"key": _meta["KeyId"], "state": _meta["KeyState"]}))
"""
_FILES_03 = ("encryptedSecret.bin", "datakeyEncrypted.bin", "samplesecret.txt.envelope")


def _texts(nb) -> list[str]:
    found = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            found.append(output.get("text") or output.get("data", {}).get("text/plain", ""))
    return found


def _first_output(nb) -> str:
    first = next(c for c in nb.cells if c.cell_type == "code")
    return "".join(o.get("text") or o.get("data", {}).get("text/plain", "") for o in first.outputs)


def _probe(nb) -> dict:
    cell = next(c for c in nb.cells if "sequence-probe" in c.metadata.get("tags", []))
    text = "".join(o.get("text", "") for o in cell.outputs)  # a stream may arrive in pieces
    return json.loads(text.split("SEQUENCE-PROBE", 1)[1])


def _hashes(folder) -> dict[str, str]:
    return {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in _FILES_03}


@pytest.fixture(scope="module")
def sequence(tmp_path_factory):
    work = tmp_path_factory.mktemp("sequence")
    home, copy = prepare(work)
    env = sequence_env(home)
    runs, files = {}, {}
    for name in WORKSHOP_NOTEBOOKS:
        probe = None if name == CLEANUP_NOTEBOOK else _PROBE  # the cleanup deletes the alias
        runs[name] = run_one(name, copy, env, probe=probe)
        if name.startswith(("03", "04")):
            files[name[:2]] = _hashes(copy / "workshop-data")
    return runs, files, home


def test_every_notebook_uses_the_key_notebook_01_built(sequence):
    runs, _, _ = sequence
    built = _probe(runs["01-setup-imported-cmk.ipynb"])["key"]
    for name in WORKSHOP_NOTEBOOKS[1:]:
        first = _first_output(runs[name])
        match = _KEY_LINE.search(first)
        assert match, f"{name} does not say which key it uses: {first!r}"
        assert match.group(1) == built, f"{name} uses another key"
        assert "Where it comes from: found in your account" in first, f"{name}: {first!r}"
        if name != CLEANUP_NOTEBOOK:
            assert _probe(runs[name]) == {"key": built, "state": "Enabled"}


def test_notebook_04_decrypts_the_very_files_notebook_03_wrote(sequence):
    runs, files, _ = sequence
    first = _first_output(runs["04-decrypt.ipynb"])
    assert "the very files you encrypted in notebook 03" in first
    assert "made just now" not in first
    assert files["04"] == files["03"], "notebook 04 remade notebook 03's files"


def test_the_account_lives_in_the_home_folder_and_nowhere_else(sequence):
    _, _, home = sequence
    account = home / ".kms-workshop" / "account"
    assert (account / "account.sqlite3").is_file()
    assert oct(account.stat().st_mode & 0o777) == oct(0o700)
