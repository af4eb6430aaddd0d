"""Shared paths and helpers for the test suite (import them from here, never from conftest)."""

from __future__ import annotations

import contextlib
import json
import os
import types
from pathlib import Path
from typing import Any, Iterator

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures"
SCHEMA_DIR = ROOT / "schema"


def load_json(path: Path) -> Any:
    """Read a JSON fixture."""
    return json.loads(path.read_text(encoding="utf-8"))


def config_record(config: dict[str, Any], host: dict[str, str] | None = None) -> dict[str, Any]:
    """The smallest valid current record holding ``config`` (and ``host``, the record's own names, if given)."""
    record: dict[str, Any] = {"schema_version": "1.1", "record_type": "procrecord.process", "type": "procrecord",
                              "id": "e3e70682-c209-4cac-629f-6fbed82c07cd", "name": "job", "status": "completed",
                              "producer": {"name": "x", "version": "1"}, "invocation": {"config": config}}
    if host is not None:
        record["host"] = host
    return record


def valid_fixtures(version: str = "1.0") -> list[Path]:
    """Every valid fixture of a version, sorted."""
    return sorted((FIXTURES / version / "valid").glob("*.json"))


def scrub_by_every_rule(scrubber: Any, text: str) -> tuple[str, dict[str, int]]:
    """What a scrubber's rules give when every one runs on ``text``, in order, pass after pass until
    nothing changes, then on each line between JSON-escaped breaks the same way (and the whole again
    when a line changed), over text with ``\\/`` and ``\\uXXXX`` escapes read, as the scrubber reads it: the
    reference its trigger index must agree with."""
    from procrecord.operations.scrub import _ESCAPED_BREAK, _json_decoded, _json_encoded

    decoded = _json_decoded(text) if "\\" in text else None
    if decoded is not None:
        new, found = scrub_by_every_rule(scrubber, decoded[0])
        return (_json_encoded(new, decoded[1], decoded[2]), found) if found else (text, found)
    counts: dict[str, int] = {}
    text = _every_rule(scrubber, text, counts)
    for _ in range(scrubber.MAX_PASSES):
        if _ESCAPED_BREAK.search(text) is None:
            break
        parts = _ESCAPED_BREAK.split(text)
        lines: dict[str, int] = {}
        parts[::2] = [_every_rule(scrubber, part, lines) for part in parts[::2]]
        if not lines:
            break
        for name, n in lines.items():
            counts[name] = counts.get(name, 0) + n
        text = _every_rule(scrubber, "".join(parts), counts)
    return text, counts


def assert_name_hides_its_value(identifiers: dict[str, str], name: str, value: str, *more_forms: str) -> None:
    """``value`` after the secret's ``name`` is hidden in text (``name=V``, ``name: V``, JSON, a flag, and
    ``more_forms``, where ``{}`` stands for the name and the value, in that order) and in a command line,
    whose next flag stays; every text form keeps the scrubbing laws."""
    from procrecord.operations.scrub import Scrubber

    forms = [f"{name}={value}", f"{name}: {value}", f'{{"{name}": "{value}"}}', f"--{name} {value}",
             *(form.format(name, value) for form in more_forms)]
    for form in forms:
        out, counts = Scrubber(identifiers).scrub(form)
        assert value not in out and counts, form
        assert_scrub_laws(identifiers, form)
    out = Scrubber(identifiers).scrub_argv(["serve.py", f"--{name}", value, f"--{name}={value}", "--port", "8888"])[0]
    assert value not in str(out) and out[-2:] == ["--port", "8888"]


def assert_scrub_laws(identifiers: dict[str, str], text: str) -> None:
    """Scrubbing ``text`` twice changes nothing, and the trigger index agrees with running every rule."""
    from procrecord.operations.scrub import Scrubber

    once, counts = Scrubber(identifiers).scrub(text)
    assert Scrubber(identifiers).scrub(once) == (once, {})
    assert (once, counts) == scrub_by_every_rule(Scrubber(identifiers), text)


def _every_rule(scrubber: Any, text: str, counts: dict[str, int]) -> str:
    for _ in range(scrubber.MAX_PASSES):
        changed = False
        for name, rule, _ in scrubber.rules:
            text, n = rule(text)
            if n:
                counts[name] = counts.get(name, 0) + n
                changed = True
        if not changed:
            break
    return text


def spy_stat(monkeypatch: Any, module: Any) -> list[str]:
    """The paths ``module``'s ``os.stat`` is asked about from now on (the real stat still answers)."""
    seen: list[str] = []
    real = os.stat

    def spy(path: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(os.fspath(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(module.os, "stat", spy)
    return seen


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


def forking(monkeypatch) -> None:
    """Let a sink fork its committing process although earlier tests left threads in this one (idle
    ones: the child never needs their locks). Linux only, as in a run."""
    import sys

    import pytest

    from procrecord.bulk import forking

    if not sys.platform.startswith("linux"):
        pytest.skip("the committing process is forked on Linux only")
    monkeypatch.setattr(forking, "forkable", lambda: True)


@contextlib.contextmanager
def moto_s3() -> Iterator[str]:
    """A moto S3 server on 127.0.0.1 (a random free port) in a thread of this process: its endpoint URL."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
