"""The fidelity layer itself: applied once per process. The versions it is tested with and
the moto/botocore internals it relies on are checked first: tests/unit/test_moto_internals.py."""

from __future__ import annotations

from workshop_helpers import fidelity


def test_connect_applies_it_once(moto_workshop):
    assert fidelity.applied()
    from moto.kms.models import KmsBackend

    encrypt = KmsBackend.encrypt
    fidelity.apply()
    assert KmsBackend.encrypt is encrypt
