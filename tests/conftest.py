"""pytest fixtures shared by the suite (plain helpers live in tests/helpers.py)."""

from __future__ import annotations

import pytest

from helpers import FIXTURES, load_json


@pytest.fixture
def gpu_record() -> dict:
    """The full GPU training record."""
    return load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")


@pytest.fixture(autouse=True)
def _no_inherited_lineage(monkeypatch):
    """Each test starts outside any recorded job (a recorder another test left running sets PROCRECORD_PARENT)."""
    monkeypatch.delenv("PROCRECORD_PARENT", raising=False)
    monkeypatch.delenv("PROCRECORD_PARENT_NAME", raising=False)
