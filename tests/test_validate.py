"""Validation: fixtures drive the cases, both engines agree, violations say where and why."""

from __future__ import annotations

import json

import pytest
from jsonschema import Draft202012Validator

from procrecord.errors import UnknownVersionError
from procrecord.record.schemas import known_versions, load_schema, registry
from procrecord.record.validation import _fast, json_path, validate

from helpers import FIXTURES, load_json

ALL_FIXTURES = sorted(p for p in FIXTURES.rglob("*.json") if "invalid" in p.parts or "valid" in p.parts)
INVALID = sorted(p for d in sorted(FIXTURES.iterdir()) for p in (d / "invalid").glob("*.json"))


def _version_dirs():
    return [d for d in sorted(FIXTURES.iterdir()) if (d / "valid").is_dir()]


@pytest.mark.parametrize("path", [p for d in _version_dirs() for p in sorted((d / "valid").glob("*.json"))], ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_valid_fixtures_validate(path):
    assert validate(load_json(path), all_errors=True) == []


@pytest.mark.parametrize("path", INVALID, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_invalid_fixtures_fail_where_the_sidecar_says(path):
    expected = json.loads(path.with_suffix(".expect").read_text())
    violations = validate(load_json(path))
    assert len(violations) == 1
    assert violations[0].path == expected["path"]
    assert violations[0].keyword == expected["keyword"]
    assert violations[0].schema_path.startswith("/")


def test_every_invalid_fixture_has_a_sidecar():
    assert INVALID, "no invalid fixtures found"
    for path in INVALID:
        assert path.with_suffix(".expect").is_file(), path


@pytest.mark.parametrize("path", ALL_FIXTURES, ids=lambda p: "/".join(p.parts[-3:]))
def test_engines_agree_on_every_fixture(path):
    record = load_json(path)
    try:
        version = record.get("schema_version") or "0"
        load_schema(version)
    except UnknownVersionError:
        pytest.skip("fixture of a version this installation does not ship")
    slow = Draft202012Validator(load_schema(version), registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    assert _fast(version).is_valid(record) == slow.is_valid(record)


def test_all_errors_lists_more_than_best_match(gpu_record):
    gpu_record["status"] = "done"
    gpu_record["host"]["cpu"]["logical_count"] = 0
    gpu_record["timing"]["duration_s"] = "long"
    assert len(validate(gpu_record)) == 1
    paths = {v.path for v in validate(gpu_record, all_errors=True)}
    assert paths == {"$.status", "$.host.cpu.logical_count", "$.timing.duration_s"}


def test_json_path_rendering():
    assert json_path(["a", 0, "b c", "d"]) == "$.a[0]['b c'].d"
    assert json_path([]) == "$"


@pytest.mark.parametrize(
    "record, message",
    [
        ({"schema_version": "9.0"}, "newer than this installation knows"),
        ({"schema_version": 1.0}, "expected a string"),
        ({"schema_version": "one"}, "not MAJOR.MINOR"),
        ({"hello": "world"}, "not a procrecord record"),
    ],
)
def test_unknown_versions_are_clear_errors(record, message):
    with pytest.raises(UnknownVersionError, match=message):
        validate(record)


def test_latest_accepts_a_newer_minor_version(gpu_record):
    newer = dict(gpu_record, schema_version="1.7")
    with pytest.raises(UnknownVersionError):
        validate(newer)
    assert validate(newer, version="latest") == []


def test_forced_version_must_exist(gpu_record):
    with pytest.raises(UnknownVersionError):
        validate(gpu_record, version="7.3")


def test_known_versions_sorted():
    versions = known_versions()
    assert versions[-1] == "1.0" or versions[-1] > "1.0"


@pytest.mark.parametrize(
    "change, path, message",
    [
        ({1: "one"}, "$", "key 1 is not a string"),
        ({"name": {"a", "b"}}, "$.name", "set value is not JSON"),
        ({"host": {"os": {2: "x"}}}, "$.host.os", "key 2 is not a string"),
        ({"timing": {"duration_s": float("inf")}}, "$.timing.duration_s", "inf is not a JSON number"),
    ],
)
def test_a_record_built_in_python_that_is_not_json_gets_a_violation_not_an_exception(change, path, message):
    record = load_json(FIXTURES / "1.0" / "valid" / "minimal.json")
    record.update(change)
    found = validate(record)
    assert [(v.path, v.keyword) for v in found] == [(path, "json")] and message in found[0].message


def test_upgrading_a_legacy_record_that_is_not_json_names_the_place():
    from procrecord.errors import UpgradeError
    from procrecord.operations.migration import upgrade

    record = load_json(sorted((FIXTURES / "0" / "valid").glob("full-telemetry.json"))[0])
    record["properties"]["machine"][7] = "seven"
    with pytest.raises(UpgradeError, match=r"\$\.properties\.machine: key 7 is not a string"):
        upgrade(record)
