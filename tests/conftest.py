"""Shared pytest fixtures. The pytest process itself connects to moto once (connect() is
once per process); anything that needs another backend runs in a subprocess."""

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
