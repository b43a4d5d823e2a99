"""Shared pytest fixtures and the test tiers. The pytest process itself connects to moto
once (connect() is once per process); anything that needs another backend runs in a
subprocess.

The folder a test lives in says what it costs, and gives it its marker:

    tests/unit/         in-process, seconds in all: `make test-unit`
    tests/integration/  endpoints, `serve` and CLI subprocesses, state folders on disk
    tests/notebooks/    whole notebooks in kernels (nbval, the 01-08 sequence, exercises)
    tests/system/       JupyterLab in headless Chromium, `make lab`, Binder, the book

A test that reaches the `serve` endpoint (the `endpoint` half of `kms_env`, or the
`fidelity_endpoint` fixture) is also marked `endpoint`, wherever it lives."""

from __future__ import annotations

import os

import pytest

# Tests never touch the user's own simulated account (~/.kms-workshop/account): everything
# here, and every subprocess it starts, keeps its account in memory unless a test gives it
# a temporary state folder of its own.
os.environ["KMS_WORKSHOP_STATE_DIR"] = "memory"


@pytest.fixture(scope="session")
def moto_workshop():
    import workshop_helpers

    return workshop_helpers.connect("moto")


# --- fidelity: the same KMS in-process and over the `serve` endpoint ---------------------


@pytest.fixture(scope="session")
def fidelity_endpoint():
    """`python -m workshop_helpers serve --port 0` for the whole session; must exit 0."""
    from fidelity_support import ServeProcess

    server = ServeProcess()
    yield server
    assert server.stop() == 0, "serve did not exit 0 on SIGTERM"


@pytest.fixture(scope="session")
def inprocess_kms_env(moto_workshop):
    from fidelity_support import KmsEnv

    return KmsEnv("inprocess", workshop=moto_workshop)


@pytest.fixture(scope="session")
def endpoint_kms_env(fidelity_endpoint):
    from fidelity_support import KmsEnv

    return KmsEnv("endpoint", endpoint_url=fidelity_endpoint.url)


@pytest.fixture(params=["inprocess", "endpoint"])
def kms_env(request):
    """A KmsEnv for in-process moto (connect("moto")) and for the local endpoint."""
    return request.getfixturevalue(f"{request.param}_kms_env")


TIERS = ("unit", "integration", "notebooks", "system")


def pytest_collection_modifyitems(config, items):
    for item in items:
        parts = item.path.parts
        tier = next((name for name in TIERS if name in parts[-3:-1]), None)
        if tier is not None:
            item.add_marker(tier)
        fixtures = getattr(item, "fixturenames", ())
        callspec = getattr(item, "callspec", None)
        via_env = "kms_env" in fixtures and callspec is not None and callspec.params.get("kms_env") == "endpoint"
        if via_env or "fidelity_endpoint" in fixtures or "endpoint_kms_env" in fixtures:
            item.add_marker("endpoint")
