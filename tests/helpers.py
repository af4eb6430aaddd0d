"""Shared paths and helpers for the test suite (import them from here, never from conftest)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SCHEMA_DIR = ROOT / "schema"


def load_json(path: Path) -> Any:
    """Read a JSON fixture."""
    return json.loads(path.read_text(encoding="utf-8"))


def valid_fixtures(version: str = "1.0") -> list[Path]:
    """Every valid fixture of a version, sorted."""
    return sorted((FIXTURES / version / "valid").glob("*.json"))
