"""The notebooks, run by nbval against their committed outputs: on moto, then over the
local endpoint. Also the rules every notebook follows (kernelspec, anatomy, no secrets).

nbval runs in a subprocess per backend, because each backend needs its own environment
for the kernels, and because connect() holds one backend per process.
"""

from __future__ import annotations

import json
import re
import time

import nbformat
import pytest
from notebook_support import NOTEBOOKS, WORKSHOP_NOTEBOOKS, Endpoint, all_notebooks, notebook_env, run_nbval


def _report(result) -> str:
    return (result.stdout[-6000:] + "\n" + result.stderr[-3000:]).strip()


def test_notebooks_pass_nbval_on_moto(tmp_path):
    started = time.monotonic()
    result = run_nbval(notebook_env(tmp_path, "moto"))
    took = time.monotonic() - started
    assert result.returncode == 0, _report(result)
    print(f"nbval on moto: {len(all_notebooks())} notebooks in {took:.1f}s")


@pytest.mark.endpoint
def test_notebooks_pass_nbval_over_the_local_endpoint(tmp_path):
    env = notebook_env(tmp_path, "endpoint")
    with Endpoint(env) as endpoint:
        env["KMS_WORKSHOP_ENDPOINT_URL"] = endpoint.url
        result = run_nbval(env)
    assert result.returncode == 0, _report(result)


# --- static rules ------------------------------------------------------------------------


def _load(name):
    return nbformat.read(NOTEBOOKS / name, as_version=4)


@pytest.mark.parametrize("name", WORKSHOP_NOTEBOOKS)
def test_notebook_anatomy(name):
    nb = _load(name)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    for heading in ("Prerequisites", "Time to learn", "Steps", "Summary", "What's next"):
        assert heading in text, f"{name} lacks '{heading}'"
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert "ws = workshop_helpers.connect()" in first_code.source
    if name != "01-setup-imported-cmk.ipynb":  # 01 builds the key step by step instead
        assert "fixtures.ensure_imported_cmk(ws)" in first_code.source
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "expect_error(" in code, f"{name} shows no expected failure"
    assert re.search(r"check_\w+\(", code), f"{name} has no self-checked exercise"
    assert "aws kms " in text, f"{name} shows no AWS CLI equivalent"


@pytest.mark.parametrize("name", WORKSHOP_NOTEBOOKS)
def test_notebook_has_a_picture_and_a_ciphertext_view(name):
    code = "\n".join(c.source for c in _load(name).cells if c.cell_type == "code")
    assert re.search(r"(envelope|direct|key_lifecycle|ebs|sdk_message)_diagram\(", code)
    assert "compare_bytes(" in code


@pytest.mark.parametrize("name", WORKSHOP_NOTEBOOKS)
def test_committed_outputs_are_clean(name):
    """Committed outputs: executed in order, no errors, no memory addresses, no masked-out
    secret printed whole, and every SVG has a title and a description."""
    nb = _load(name)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert all(counts), f"{name} has unexecuted cells"
    assert counts == sorted(counts), f"{name} was not run top to bottom"
    blob = json.dumps([c.get("outputs", []) for c in nb.cells if c.cell_type == "code"])
    assert '"output_type": "error"' not in blob
    assert " at 0x" not in blob
    assert "/work/" not in blob and "/tmp/" not in blob, f"{name} shows a local path"
    assert "Traceback" not in blob
    for svg in re.findall(r"<svg.*?</svg>", blob):
        assert "<title" in svg and "<desc" in svg


def test_the_sequence_is_complete_and_nothing_else_is_numbered():
    assert sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]-*.ipynb")) == list(WORKSHOP_NOTEBOOKS)


def test_decrypt_notebook_has_the_playground():
    code = "\n".join(c.source for c in _load("04-decrypt.ipynb").cells if c.cell_type == "code")
    assert "context_playground(" in code


def test_context_policy_is_shown():
    code = "\n".join(c.source for c in _load("07-direct-encryption.ipynb").cells if c.cell_type == "code")
    assert "kms:EncryptionContext:project" in code
    assert 'expect_error("AccessDeniedException")' in code
