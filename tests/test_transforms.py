"""The bulk transforms skip validating an upgraded record that their output check covers."""

from __future__ import annotations

from typing import Any

import pytest

from procrecord.bulk.loader import Loaded
from procrecord.bulk.status import Status
from procrecord.errors import UpgradeError
from procrecord.operations import migration, transforms
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate

from helpers import FIXTURES, load_json

OLDER = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every schema validation the transforms and the migration make."""
    calls: list[str] = []
    real_versioned, real_valid = transforms.validate_versioned, migration.is_valid

    def versioned(record: dict[str, Any]) -> Any:
        calls.append(record.get("schema_version", "?"))
        return real_versioned(record)

    def valid(record: dict[str, Any], version: str) -> bool:
        calls.append(version)
        return real_valid(record, version)

    monkeypatch.setattr(transforms, "validate_versioned", versioned)
    monkeypatch.setattr(migration, "is_valid", valid)
    return calls


def _break_last_step(monkeypatch: pytest.MonkeyPatch, field: str, value: Any) -> None:
    """Make the last upgrade step towards the current version write ``value`` into ``field``."""
    step = migration.chain("1.0", current_version())[-1]
    real = migration._steps()[step]

    def broken(record: dict[str, Any]) -> dict[str, Any]:
        return {**real(record), field: value}

    monkeypatch.setitem(migration._steps(), step, broken)


def test_upgrade_without_result_check_validates_nothing_it_was_told_is_checked(monkeypatch):
    calls = _counting(monkeypatch)
    out = migration.upgrade(OLDER, checked=True, check_result=False)
    assert calls == [] and validate(out) == []
    calls.clear()
    migration.upgrade(OLDER, checked=True)
    assert calls == [current_version()] * len(migration.chain("1.0", current_version()))


def test_a_chain_validates_each_step_result_once(monkeypatch):
    legacy = load_json(sorted((FIXTURES / "0" / "valid").glob("*.json"))[0])
    steps = {key: step for key, step in migration._steps().items() if key[0] != "0" or key[1] == "1.0"}
    monkeypatch.setattr(migration, "_steps", lambda: steps)  # no direct step from 0: a chain through 1.0
    migration._chain.cache_clear()
    try:
        calls = _counting(monkeypatch)
        out = migration.upgrade(legacy)
        later = [b for _, b in migration.chain("1.0", current_version())]
        assert calls == ["0", "1.0", *later]  # the input, then each step's result, once
        assert validate(out) == []
    finally:
        migration._chain.cache_clear()


def test_redact_validates_an_older_record_twice_not_three_times(monkeypatch):
    calls = _counting(monkeypatch)
    outcome = transforms.RedactRecord("most")(Loaded("x.json", None, OLDER))
    assert outcome.status == Status.REDACTED and outcome.output is not None
    assert calls == ["1.0", current_version()]  # the input, then the output: not the upgraded record


def test_an_upgrade_step_gone_wrong_still_never_writes_an_invalid_record(monkeypatch):
    _break_last_step(monkeypatch, "status", "exploded")
    outcome = transforms.RedactRecord("most")(Loaded("x.json", None, OLDER))
    assert outcome.status == Status.ERROR and outcome.output is None
    assert "produced an invalid record: $.status" in outcome.message  # the step is named, as before
    with pytest.raises(UpgradeError, match=r"\$\.status"):
        migration.upgrade(OLDER)


def test_a_redaction_that_fails_on_a_bad_upgrade_names_the_step(monkeypatch):
    from procrecord.operations import redaction

    def failing(record: dict[str, Any], *args: Any) -> dict[str, Any]:
        raise KeyError("host")

    monkeypatch.setattr(redaction, "redact", failing)
    with pytest.raises(KeyError):  # a sound upgrade: the redaction's own failure (the engine reports it)
        transforms.RedactRecord("most")(Loaded("x.json", None, OLDER))
    _break_last_step(monkeypatch, "host", "not an object")
    outcome = transforms.RedactRecord("most")(Loaded("x.json", None, OLDER))
    assert outcome.status == Status.ERROR and outcome.output is None
    assert "produced an invalid record: $.host" in outcome.message


def test_keep_version_still_names_a_downgrade_step_gone_wrong(monkeypatch):
    step = migration.chain(current_version(), "1.0")[-1]
    real = migration._steps()[step]
    monkeypatch.setitem(migration._steps(), step, lambda record: {**real(record), "status": "exploded"})
    outcome = transforms.RedactRecord("most", keep_version=True)(Loaded("x.json", None, OLDER))
    assert outcome.status == Status.ERROR and outcome.output is None
    assert outcome.message.startswith("cannot keep version 1.0: ") and "$.status" in outcome.message
    monkeypatch.undo()
    good = transforms.RedactRecord("most", keep_version=True)(Loaded("x.json", None, OLDER))
    assert good.status == Status.REDACTED and good.version == "1.0"
