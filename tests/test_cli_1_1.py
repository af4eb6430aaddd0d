"""Schema 1.1 through the command line: upgrade, downgrade with its report, validate, diff of artifacts."""

from __future__ import annotations

import copy
import json

from click.testing import CliRunner

from procrecord.cli import cli
from procrecord.record.validation import validate

from helpers import FIXTURES, load_json

STEP = FIXTURES / "1.1" / "valid" / "pipeline-step-artifacts.json"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_upgrade_to_1_1_changes_only_the_version_and_adds_the_item_type(tmp_path):
    result = invoke("upgrade", "--to", "1.1", "--output-dir", tmp_path, FIXTURES / "1.0" / "valid")
    assert result.exit_code == 0, result.stderr
    written = sorted(tmp_path.rglob("*.json"))
    assert len(written) == len(list((FIXTURES / "1.0" / "valid").glob("*.json")))
    for path in written:
        out = load_json(path)
        source = load_json(FIXTURES / "1.0" / "valid" / path.name)
        assert out == dict(source, schema_version="1.1", type="procrecord") and validate(out) == []
        assert list(out).index("type") == list(out).index("record_type") + 1  # where the writer puts it


def test_downgrade_to_1_0_lists_what_it_dropped_on_stderr(tmp_path):
    result = invoke("downgrade", "--to", "1.0", STEP)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["schema_version"] == "1.0" and validate(out) == []
    line = next(t for t in result.stderr.splitlines() if "dropped" in t and "::" in t)
    dropped = set(line.split("dropped ", 1)[1].split(", "))
    assert {"/inputs", "/outputs", "/parent", "/root", "/distributed", "/host/scheduler/partition",
            "/host/container/image_name"} <= dropped
    assert "/type" not in dropped  # the item type holds no data: the upgrade puts it back
    # nothing 1.0 knows is dropped
    assert not any(p.startswith(("/timing", "/python", "/invocation", "/git")) for p in dropped)


def test_downgrade_of_a_1_1_record_reaches_the_legacy_shape():
    result = invoke("downgrade", "--to", "0", STEP)
    assert result.exit_code == 0
    legacy = json.loads(result.stdout)
    assert legacy["type"] == "process" and validate(legacy) == []


def test_validate_1_1_fixtures_and_latest(tmp_path):
    assert invoke("validate", FIXTURES / "1.1" / "valid").exit_code == 0
    assert invoke("validate", FIXTURES / "1.1" / "invalid").exit_code == 1
    newer = copy.deepcopy(load_json(STEP))
    newer["schema_version"] = "1.9"
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(newer))
    assert invoke("validate", path).exit_code == 1
    assert invoke("validate", "--schema-version", "latest", path).exit_code == 0  # checked against 1.1
    newer["inputs"][0]["sha512"] = "0" * 128  # a field 1.1 does not know
    path.write_text(json.dumps(newer))
    result = invoke("validate", "--schema-version", "latest", path)
    assert result.exit_code == 1 and "sha512" in result.stdout


def test_diff_of_the_same_code_on_different_data(tmp_path):
    a = load_json(STEP)
    b = copy.deepcopy(a)
    b["id"] = "99999999-2b3f-4c5d-8e9f-0a1b2c3d4e5f"
    b["inputs"][0]["sha256"] = "d" * 64
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    result = invoke("diff", tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 1
    assert "different data: inputs[train-data//scratch/jdoe/drop8/train.kwcoco.zip]" in result.stdout
    assert "1 difference: 1 data" in result.stdout + result.stderr


def test_a_downgrade_and_upgrade_round_trip_diffs_clean_against_the_original(tmp_path):
    """A 1.1 record with no field 1.0 lacks but the item type comes back as it was: diff finds nothing."""
    original = FIXTURES / "1.1" / "valid" / "minimal.json"
    down = invoke("downgrade", "--to", "1.0", original)
    assert down.exit_code == 0 and "dropped" not in down.stderr, down.stderr
    (tmp_path / "down.json").write_text(down.stdout)
    up = invoke("upgrade", tmp_path / "down.json")
    (tmp_path / "back.json").write_text(up.stdout)
    result = invoke("diff", original, tmp_path / "back.json")
    assert result.exit_code == 0, result.output
