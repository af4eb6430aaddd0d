"""Shared paths and helpers for the test suite (import them from here, never from conftest)."""

from __future__ import annotations

import json
import types
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


def scrub_by_every_rule(scrubber: Any, text: str) -> tuple[str, dict[str, int]]:
    """What a scrubber's rules give when every one runs on ``text``, in order, pass after pass until
    nothing changes: the reference its trigger index must agree with."""
    counts: dict[str, int] = {}
    for _ in range(scrubber.MAX_PASSES):
        changed = False
        for name, rule, _ in scrubber.rules:
            text, n = rule(text)
            if n:
                counts[name] = counts.get(name, 0) + n
                changed = True
        if not changed:
            break
    return text, counts


class FakeTracker:
    """A stand-in for codecarbon's tracker: what the emissions collector calls, and fixed figures."""

    shutdown_s = 0.0  # how long stop() takes (codecarbon's shutdown is not the job's time)

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.final_emissions_data: Any = None

    def start(self) -> None:
        pass

    def flush(self) -> float:
        return 0.1

    def stop(self) -> float:
        import time

        time.sleep(self.shutdown_s)
        self.final_emissions_data = types.SimpleNamespace(energy_consumed=0.5, cpu_energy=0.2, gpu_energy=0.25,
                                                         ram_energy=0.05, emissions=0.19, run_id="abc")
        return 0.19
