"""Shared paths and helpers for the test suite."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SCHEMA_DIR = ROOT / "schema"


def load_json(path: Path) -> dict:
    """Read a JSON fixture."""
    return json.loads(path.read_text(encoding="utf-8"))


def valid_fixtures(version: str = "1.0") -> list[Path]:
    """Every valid fixture of a version, sorted."""
    return sorted((FIXTURES / version / "valid").glob("*.json"))


@pytest.fixture
def gpu_record() -> dict:
    """The full GPU training record."""
    return load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")


@pytest.fixture(autouse=True)
def _no_inherited_lineage(monkeypatch):
    """Each test starts outside any recorded job (a recorder another test left running sets PROCRECORD_PARENT)."""
    monkeypatch.delenv("PROCRECORD_PARENT", raising=False)
    monkeypatch.delenv("PROCRECORD_PARENT_NAME", raising=False)
