"""``procrecord validate`` end to end: exit codes, text and JSON output, jobs, stdin."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from procrecord.cli import cli
from procrecord.record.schemas import current_version

from helpers import FIXTURES, ROOT

VALID = str(FIXTURES / "1.0" / "valid")
INVALID = str(FIXTURES / "1.0" / "invalid")


def invoke(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_valid_folder_exits_0():
    result = invoke("validate", VALID)
    assert result.exit_code == 0, result.output
    assert "8 valid" in result.stderr or "valid" in result.stderr


def test_invalid_folder_exits_1_with_one_line_per_violation():
    result = invoke("validate", INVALID)
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(list((FIXTURES / "1.0" / "invalid").glob("*.json")))
    for line in lines:
        assert "::$" in line and line.rstrip().endswith(")")
    assert "invalid" in result.stderr


def test_text_line_format():
    path = os.path.join(INVALID, "negative-bytes.json")
    result = invoke("validate", path)
    assert result.stdout == f"{path}::$.resources.peak_rss_bytes: -1 is less than the minimum of 0 (minimum)\n"


def test_json_format_lists_every_record(tmp_path):
    jsonl = tmp_path / "mix.jsonl"
    good = json.loads((FIXTURES / "1.0" / "valid" / "minimal.json").read_text())
    jsonl.write_text(json.dumps(good) + "\n" + "{broken\n" + json.dumps({**good, "status": "?"}) + "\n")
    result = invoke("validate", "--format", "json", str(jsonl))
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert [(r["line"], r["status"]) for r in report["records"]] == [(1, "valid"), (2, "error"), (3, "invalid")]
    assert report["records"][2]["violations"][0]["keyword"] == "enum"
    assert report["summary"]["by_status"] == {"valid": 1, "error": 1, "invalid": 1}


def test_bad_inputs_do_not_stop_the_run(tmp_path):
    (tmp_path / "a.json").write_text("{")
    (tmp_path / "b.json").write_bytes(b"\xff")
    shutil.copy(FIXTURES / "1.0" / "valid" / "minimal.json", tmp_path / "c.json")
    result = invoke("validate", str(tmp_path), str(tmp_path / "missing.json"))
    assert result.exit_code == 1
    assert result.stdout.count("error:") == 3
    assert "1 valid" in result.stderr


def test_unknown_version_is_reported_per_record(tmp_path):
    path = tmp_path / "new.json"
    path.write_text(json.dumps({"schema_version": "3.1"}))
    result = invoke("validate", str(path))
    assert result.exit_code == 1 and "newer than this installation knows" in result.stdout
    # --schema-version latest accepts only newer minors of the current major: no hint for 3.1
    assert "--schema-version" not in result.stdout


def test_newer_minor_version_points_to_schema_version_latest(tmp_path):
    path = tmp_path / "newer.json"
    record = json.loads((FIXTURES / "1.0" / "valid" / "minimal.json").read_text())
    path.write_text(json.dumps(dict(record, schema_version="1.7")))
    result = invoke("validate", str(path))
    assert result.exit_code == 1 and "--schema-version latest" in result.stdout
    assert invoke("validate", "--schema-version", "latest", str(path)).exit_code == 0



def test_latest_says_why_a_newer_minor_records_unknown_key_is_a_finding(tmp_path):
    """Checked against the newest known schema, whose objects are closed: the key may be new in 1.2 or a
    typo, which this installation cannot tell apart; the record's line says so."""
    path = tmp_path / "newer.json"
    record = json.loads((FIXTURES / "1.1" / "valid" / "minimal.json").read_text())
    path.write_text(json.dumps(dict(record, schema_version="1.2", newfield=1)))
    result = invoke("validate", "--schema-version", "latest", str(path))
    assert result.exit_code == 1 and "$.newfield: unexpected key 'newfield'" in result.stdout
    assert "invalid: version 1.2 checked against 1.1, the newest this installation knows" in result.stdout
    assert "(new in 1.2, or mistyped)" in result.stdout
    path.write_text(json.dumps(dict(record, newfield=1)))  # a 1.1 record: a plain finding, no such note
    own = invoke("validate", "--schema-version", "latest", str(path))
    assert own.exit_code == 1 and "newest this installation knows" not in own.stdout


def test_usage_errors_exit_2():
    assert invoke("validate").exit_code == 2
    assert invoke("validate", "--jobs", "0", VALID).exit_code == 2
    assert invoke("validate", "--format", "xml", VALID).exit_code == 2


def test_unknown_schema_version_option_exits_3():
    result = invoke("validate", "--schema-version", "42.0", VALID)
    assert result.exit_code == 3 and "unknown schema version" in result.stderr


def test_broken_schema_exits_3(tmp_path, monkeypatch):
    from procrecord.record import schemas

    bad = tmp_path / "schema"
    bad.mkdir()
    (bad / "procrecord-1.0.schema.json").write_text("{ not json")
    monkeypatch.setattr(schemas, "schema_dir", lambda: bad)
    for fn in (schemas.known_versions, schemas.load_schema):
        fn.cache_clear()
    from procrecord.record import validation as v

    v._fast.cache_clear()
    try:
        result = invoke("validate", VALID)
        assert result.exit_code == 3 and "cannot load schema" in result.stderr
    finally:
        monkeypatch.undo()
        for fn in (schemas.known_versions, schemas.load_schema, v._fast):
            fn.cache_clear()


def test_stdin(tmp_path):
    data = (FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text()
    result = invoke("validate", "-", input=data)
    assert result.exit_code == 0


def test_stdin_jsonl_with_a_bad_or_blank_first_line_is_checked_line_by_line(tmp_path):
    """The same bytes by name and on stdin give the same findings: every good line is checked."""
    line = json.dumps(json.loads((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text()))
    for first, expected in (("{bad", "1 error, 2 valid"), ("", "2 valid")):
        data = f"{first}\n{line}\n{line}\n"
        (tmp_path / "f.jsonl").write_text(data)
        by_name = invoke("validate", str(tmp_path / "f.jsonl"))
        result = invoke("validate", "-", input=data)
        assert expected in result.stderr and expected in by_name.stderr, result.output
        assert result.stdout == by_name.stdout.replace(str(tmp_path / "f.jsonl"), "-")
        assert result.exit_code == by_name.exit_code


def _reports_with_jobs(source: Path, jobs: tuple[str, ...]) -> list[dict]:
    """The JSON reports of ``validate --format json SOURCE`` with each ``--jobs`` (each run finds an invalid record)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    outs = []
    for n in jobs:
        proc = subprocess.run([sys.executable, "-m", "procrecord", "validate", "-j", n, "--format", "json", str(source)],
                              capture_output=True, text=True, env=env, timeout=120)
        assert proc.returncode == 1, proc.stderr
        outs.append(json.loads(proc.stdout))
    return outs


@pytest.mark.slow
def test_jobs_2_gives_the_same_report(tmp_path):
    path = tmp_path / "big.jsonl"
    good = json.loads((FIXTURES / "1.0" / "valid" / "cpu-batch.json").read_text())
    lines = []
    for i in range(3000):
        rec = dict(good, status="bogus") if i % 997 == 0 else good
        lines.append(json.dumps(rec))
    path.write_text("\n".join(lines) + "\n")
    outs = _reports_with_jobs(path, ("1", "2"))
    assert outs[0] == outs[1]
    bad = [r["line"] for r in outs[0]["records"] if r["status"] == "invalid"]
    assert bad == [1, 998, 1995, 2992]


def test_console_script_help_runs():
    exe = shutil.which("procrecord")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "procrecord", "--help"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "validate" in proc.stdout


def test_import_is_lazy():
    code = "import sys, procrecord; print(any(m in sys.modules for m in ('jsonschema', 'jsonschema_rs', 'cattrs', 'psutil')))"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.stdout.strip() == "False"


def test_schema_command():
    assert invoke("schema", "--list").stdout.split()[-1] == current_version()
    assert json.loads(invoke("schema", "1.0").stdout)["$id"].endswith("procrecord-1.0.schema.json")
    assert invoke("schema", "--path").stdout.strip().endswith(".schema.json")
    assert invoke("schema", "5.5").exit_code == 3
    assert invoke("schema", "latest").stdout == invoke("schema").stdout, "'latest' as --schema-version takes it"


@pytest.mark.parametrize("args", [("--list", "1.0"), ("--list", "latest"), ("--list", "--path")])
def test_schema_list_with_a_version_or_path_is_a_usage_error(args):
    """--list prints every version: a VERSION or --path with it would be ignored, so it is refused."""
    result = invoke("schema", *args)
    assert result.exit_code == 2 and "--list lists every version" in result.output


def test_the_package_exposes_only_public_names():
    import procrecord

    assert [n for n in dir(procrecord) if not n.startswith("_")] == sorted(n for n in procrecord.__all__ if not n.startswith("_"))
    for leaked in ("Any", "annotations"):
        assert not hasattr(procrecord, leaked), leaked


def test_cli_levels_are_the_policy_levels():
    from procrecord.cli.commands import LEVELS
    from procrecord.record.policy import LEVELS as POLICY_LEVELS

    assert LEVELS == POLICY_LEVELS


def test_a_folder_without_records_says_so(tmp_path):
    result = invoke("validate", str(tmp_path))
    assert result.exit_code == 1 and "validated 0 records from 0 sources: no record found" in result.stderr
    assert invoke("validate", "--allow-empty", str(tmp_path)).exit_code == 0
    for command in (["redact", "--level", "most", "--in-place"], ["upgrade", "--in-place"], ["show"]):
        assert invoke(*command, str(tmp_path)).exit_code == 1, command
        assert invoke(*command, "--allow-empty", str(tmp_path)).exit_code == 0, command


def test_jobs_2_over_many_small_files_gives_the_same_report_in_order(tmp_path):
    """Pool workers get small files in groups (more than one group here, and a short one at the end):
    the report is the same as one process's, in planned order, with the broken and invalid files named."""
    good = json.loads((FIXTURES / "1.0" / "valid" / "cpu-batch.json").read_text())
    for i in range(150):
        folder = tmp_path / f"d{i // 40}"
        folder.mkdir(exist_ok=True)
        path = folder / f"r{i:03d}.json"
        if i == 70:
            path.write_text("{broken")
        else:
            path.write_text(json.dumps(dict(good, status="bogus") if i % 61 == 0 else good))
    (tmp_path / "d1" / "lines.jsonl").write_text("\n".join(json.dumps(good) for _ in range(30)) + "\n")
    outs = _reports_with_jobs(tmp_path, ("1", "2"))
    assert outs[0] == outs[1]
    records = outs[0]["records"]
    assert len(records) == 150 + 30
    assert [r["source"] for r in records] == sorted((r["source"] for r in records), key=lambda s: s.split("/")[-2:])
    assert {os.path.basename(r["source"]) for r in records if r["status"] == "invalid"} == {"r000.json", "r061.json", "r122.json"}
    assert [os.path.basename(r["source"]) for r in records if r["status"] == "error"] == ["r070.json"]


@pytest.mark.parametrize("command", [["validate"], ["redact", "--level", "most", "-o", "{out}"]])
def test_a_file_name_with_a_line_break_or_terminal_escape_stays_on_its_finding_line(tmp_path, command):
    """One line per finding: a name holding a line break (or an escape sequence that would rewrite the
    terminal) is written escaped, as show writes it, so it can neither split nor forge a line."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a\nb.json").write_text("{bad")
    (folder / "c\x1b[2Kd.json").write_text("{bad")
    args = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    result = invoke(*args, str(folder))
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if "::" in line]
    assert f"{folder}/a\\nb.json:: error: invalid JSON at line 1, column 2: unexpected character, expected a string key" in lines
    assert f"{folder}/c\\x1b[2Kd.json:: error: invalid JSON at line 1, column 2: unexpected character, expected a string key" in lines
    assert "\x1b" not in result.output
    assert all(line.startswith(str(folder)) for line in lines)


def test_stdin_named_twice_is_read_once_as_a_file_named_twice_is():
    record = (FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text()
    result = invoke("validate", "-", "-", input=record)
    assert result.exit_code == 0, result.output
    assert "empty file" not in result.output and "validated 1 record from 1 source: 1 valid" in result.output
