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


SECRETS = ["ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hunter2hunter2", "AKIAIOSFODNN7EXAMPLE"]


@pytest.mark.parametrize("change, path", [
    (lambda r: r["invocation"].__setitem__("argv", f"python train.py --password {SECRETS[1]} --token {SECRETS[0]}"),
     "$.invocation.argv"),
    (lambda r: r["host"].__setitem__("user", ["alice", SECRETS[2]]), "$.host.user"),
    (lambda r: r.__setitem__("status", SECRETS[0]), "$.status"),  # an enum: not shown, since it looks like a token
    (lambda r: r["timing"].__setitem__("start_time", f"{SECRETS[1]} 2026"), "$.timing.start_time"),
    (lambda r: r.__setitem__("name", {"token": SECRETS[0]}), "$.name"),
])
def test_a_finding_never_quotes_the_record_s_text(gpu_record, change, path):
    """Findings land in CI logs: a value in the wrong place (a command line as one string) is described,
    never printed (it is where a secret sits when a record is malformed)."""
    record = json.loads(json.dumps(gpu_record))
    change(record)
    violations = validate(record, all_errors=True)
    assert violations and violations[0].path == path
    for violation in violations:
        for secret in SECRETS:
            assert secret not in violation.message
        assert len(violation.message) <= 300


def test_a_short_harmless_value_of_an_enum_is_still_shown(gpu_record):
    record = json.loads(json.dumps(gpu_record))
    record["status"] = "complete"  # a typo the user wants to see
    (violation,) = validate(record)
    assert violation.path == "$.status" and "'complete' is not one of" in violation.message


def test_the_cli_prints_no_value_of_a_malformed_record(tmp_path, gpu_record):
    from click.testing import CliRunner

    from procrecord.cli import cli

    record = json.loads(json.dumps(gpu_record))
    record["invocation"]["argv"] = f"train --token {SECRETS[0]}"
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    for args in (["validate", str(path)], ["validate", "--format", "json", str(path)],
                 ["validate", "--require-level", "most", str(path)], ["redact", "--level", "most", str(path)]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 1, (args, result.output)
        assert "a string of" in result.output and SECRETS[0] not in result.output, (args, result.output)
