"""Shared pytest fixtures. The pytest process itself connects to moto once (connect() is
once per process); anything that needs another backend runs in a subprocess."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def moto_workshop():
    import workshop_helpers

    return workshop_helpers.connect("moto")
