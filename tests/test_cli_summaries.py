"""Bulk summaries say what was written (issue 15 item 7, as a new user found them after it): records whose
file was not written are counted as ``not written (...)``, with what they changed taken back from the
totals; paths a walk left alone are said apart, so the counts add up to the records; a record redacted
before is redacted again without counting what the earlier note removed."""

from __future__ import annotations

import json
import os
import re
import shutil

from click.testing import CliRunner

from procrecord.cli import cli

from helpers import FIXTURES

V11 = FIXTURES / "1.1" / "valid"
POD = V11 / "kubernetes-pod.json"
MINIMAL = V11 / "minimal.json"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_an_output_another_source_took_is_counted_as_not_written(tmp_path):
    for name, src in (("s1", MINIMAL), ("s2", POD)):
        (tmp_path / name).mkdir()
        shutil.copy(src, tmp_path / name / "r.json")
    result = invoke("redact", "--level", "most", "-o", tmp_path / "o", tmp_path / "s1", tmp_path / "s2")
    assert result.exit_code == 1
    assert "s2/r.json:: error: not written" in result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    assert "1 not written (output taken), 1 redacted" in summary and "2 redacted" not in summary
    # what the record of s2 would have changed is not in the totals: they are those of s1 alone
    alone = invoke("redact", "--level", "most", "-o", tmp_path / "o1", tmp_path / "s1")
    (tmp_path / "s3").mkdir()
    shutil.copy(POD, tmp_path / "s3" / "other.json")
    both = invoke("redact", "--level", "most", "-o", tmp_path / "o2", tmp_path / "s1", tmp_path / "s3")
    totals = re.compile(r"\(([^)]*)\)$")
    assert totals.search(both.stderr.strip().splitlines()[-1]).group(1) != totals.search(alone.stderr.strip()).group(1)
    assert totals.search(summary).group(1) == totals.search(alone.stderr.strip()).group(1)


def test_the_json_summary_lists_an_output_conflict_as_not_written(tmp_path):
    for name, src in (("s1", MINIMAL), ("s2", POD)):
        (tmp_path / name).mkdir()
        shutil.copy(src, tmp_path / name / "r.json")
    result = invoke("redact", "--level", "most", "--format", "json", "-o", tmp_path / "o", tmp_path / "s1", tmp_path / "s2")
    report = json.loads(result.stderr[:result.stderr.rindex("}") + 1])
    assert str(tmp_path / "s2" / "r.json") in report["summary"]["not_written"]
    assert report["summary"]["by_status"] == {"redacted": 1, "not written (output taken)": 1}


def test_an_explicit_symlink_left_alone_is_not_counted_as_upgraded(tmp_path):
    shutil.copy(FIXTURES / "0" / "valid" / "full-telemetry.json", tmp_path / "real.json")
    os.symlink("real.json", tmp_path / "link.json")
    result = invoke("upgrade", "--in-place", tmp_path / "link.json")
    assert result.exit_code == 1 and "a symlink: left as it is" in result.stderr
    summary = result.stderr.strip().splitlines()[-1]
    assert "1 not written (error)" in summary and "upgraded 1 record from 1 source: 1 upgraded" not in summary
    assert json.loads((tmp_path / "real.json").read_text())["type"] == "process"  # untouched


def test_skipped_paths_are_said_apart_so_the_counts_add_up(tmp_path):
    for name in ("a", "b", "d"):
        shutil.copy(MINIMAL, tmp_path / f"{name}.json")
    (tmp_path / "c.json").write_text("{bad")
    os.symlink("a.json", tmp_path / "l1.json")
    os.symlink("b.json", tmp_path / "l2.json")
    result = invoke("validate", tmp_path)
    assert result.stderr.strip().splitlines()[-1] == "validated 4 records from 4 sources: 1 error, 3 valid; 2 skipped"


def test_a_jsonl_file_left_unchanged_takes_back_its_totals(tmp_path):
    good = json.dumps(json.loads(POD.read_text()))
    (tmp_path / "runs.jsonl").write_text(good + "\n" + good + "\n{bad\n")
    before = (tmp_path / "runs.jsonl").read_bytes()
    result = invoke("redact", "--level", "most", "--in-place", tmp_path / "runs.jsonl")
    assert result.exit_code == 1 and (tmp_path / "runs.jsonl").read_bytes() == before
    summary = result.stderr.strip().splitlines()[-1]
    assert "2 not written (file has errors)" in summary
    assert "changed" not in summary and "removed" not in summary, summary


def test_a_record_redacted_before_counts_nothing_removed_again(tmp_path):
    path = tmp_path / "r.json"
    shutil.copy(POD, path)
    first = invoke("redact", "--level", "most", "--in-place", path)
    assert "changed 1" in first.stderr and "removed" in first.stderr
    once = path.read_bytes()
    again = invoke("redact", "--level", "most", "--in-place", path)
    assert again.exit_code == 0
    assert again.stderr.strip().splitlines()[-1] == "redacted 1 record from 1 source: 1 redacted (unchanged 1)"
    assert path.read_bytes() == once
    level_none = invoke("redact", "--level", "none", "-o", tmp_path / "out", path)
    assert level_none.stderr.strip().splitlines()[-1] == "redacted 1 record from 1 source: 1 redacted (unchanged 1)"
    assert (tmp_path / "out" / "r.json").read_bytes() == once


def test_options_that_would_be_ignored_are_usage_errors(tmp_path):
    legacy = FIXTURES / "0" / "valid" / "full-telemetry.json"
    result = CliRunner().invoke(cli, ["redact", "--level", "most", "--in-place", "-"], input=MINIMAL.read_text())
    assert result.exit_code == 2 and "stdin" in result.output
    assert result.stdout.count("schema_version") == 0  # no record printed as if it had been rewritten
    for extra in (["--in-place"], ["-o", str(tmp_path / "zz")]):
        copy = tmp_path / "old.json"
        shutil.copy(legacy, copy)
        result = invoke("upgrade", "--check", *extra, copy)
        assert result.exit_code == 2 and "--check writes nothing" in result.output
        assert copy.read_bytes() == legacy.read_bytes() and not (tmp_path / "zz").exists()


def test_a_file_not_written_takes_back_its_own_records_counts_not_another_files(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(FIXTURES / "0" / "valid" / "flushed-running.json", src / "a.json")  # upgraded and written
    current = json.dumps(json.loads(MINIMAL.read_text()))
    older = json.dumps(json.loads((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text()))
    (src / "b.jsonl").write_text(f"{current}\n{current}\n{older}\n{{bad\n")  # an error: not written at all
    result = invoke("upgrade", "-o", tmp_path / "out", src)
    assert result.exit_code == 1
    summary = result.stderr.strip().splitlines()[-1]
    assert summary == ("upgraded 5 records from 2 sources: 1 error, 3 not written (file has errors), 1 upgraded "
                       "(changed 1)"), summary
    assert (tmp_path / "out" / "a.json").exists() and not (tmp_path / "out" / "b.jsonl").exists()
    report = json.loads(invoke("upgrade", "-o", tmp_path / "out2", "--format", "json", src).stderr)
    assert report["summary"]["by_status"] == {"error": 1, "not written (file has errors)": 3, "upgraded": 1}


def test_upgrade_check_counts_a_file_the_run_would_leave_unchanged_as_the_run_does(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    shutil.copy(FIXTURES / "0" / "valid" / "flushed-running.json", src / "a.json")
    current = json.dumps(json.loads(MINIMAL.read_text()))
    older = json.dumps(json.loads((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text()))
    (src / "b.jsonl").write_text(f"{current}\n{older}\n{{bad\n")
    check = invoke("upgrade", "--check", src)
    run = invoke("upgrade", "-o", tmp_path / "out", src)
    assert check.exit_code == run.exit_code == 1
    assert f"{src / 'b.jsonl'}:: would not be rewritten (see its error above)" in check.stdout
    checked = check.stderr.strip().splitlines()[-1]
    done = run.stderr.strip().splitlines()[-1]
    assert checked == "checked 4 records from 2 sources: 1 error, 1 needs-upgrade, 2 not written (file has errors)"
    assert done == "upgraded 4 records from 2 sources: 1 error, 2 not written (file has errors), 1 upgraded (changed 1)"
