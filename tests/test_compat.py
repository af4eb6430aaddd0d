"""The drop-in ProcessContext: legacy calls, procrecord records, the legacy faults fixed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from procrecord.schemas import current_version
from procrecord.compat import ProcessContext, invocation_script
from procrecord.validation import validate


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY", "PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY", "PROCRECORD_LEVEL"):
        monkeypatch.delenv(name, raising=False)


def test_legacy_calls_give_a_valid_1_0_record(tmp_path):
    ctx = ProcessContext(name="demo", type="process", args=["fit.py", "--lr=0.1"], config={"lr": 0.1}, extra={"fit_config": {"a": 1}})
    ctx.add_disk_info(str(tmp_path))
    ctx.add_device_info("cpu")
    obj = ctx.start().stop()
    assert obj is ctx.obj or obj == ctx.obj
    assert obj["schema_version"] == current_version() and obj["name"] == "demo" and obj["extra"]["fit_config"] == {"a": 1}
    assert obj["invocation"]["argv"] == ["fit.py", "--lr=0.1"] and obj["disks"] and obj["devices"]
    assert validate(obj) == []
    flushed = ProcessContext(name="f", args=["x"]).start().flush()
    assert flushed["status"] == "running"


def test_telemetry_switches_work():
    most = ProcessContext(args=["x"], config={"p": "/home/u/x"}, request_most_telemetry=False).start().stop()
    assert "hostname" not in most["host"] and "user" not in most["host"] and "cwd" not in most["invocation"]
    assert most["host"]["cpu"]["logical_count"] > 0, "coarse machine facts stay"
    assert most["redaction"]["level"] == "most" and most["invocation"]["config"]["p"] == "~/x"
    nothing = ProcessContext(args=["x"], request_all_telemetry=False).start().stop()
    assert "invocation" not in nothing and "timing" not in nothing and nothing["redaction"]["level"] == "all"


@pytest.mark.parametrize("var, level", [("PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY", "most"),
                                        ("PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY", "all")])
def test_legacy_env_vars_no_longer_crash_and_mean_what_they_say(monkeypatch, var, level):
    monkeypatch.setenv(var, "1")
    ctx = ProcessContext(args=["x"])
    assert ctx.level == level
    assert validate(ctx.start().stop()) == []


def test_unknown_track_emissions_is_an_error():
    with pytest.raises(ValueError, match="track_emissions"):
        ProcessContext(track_emissions="sometimes")


def test_write_invocation_reruns_the_exact_command(tmp_path):
    work = tmp_path / "work dir"
    work.mkdir()
    out = tmp_path / "out.txt"
    ctx = ProcessContext(name="echo", args=[sys.executable, "-c", "import os,sys; open(sys.argv[1],'w').write(os.getcwd()+'|'+sys.argv[2]+'|'+os.environ.get('OMP_NUM_THREADS',''))", str(out), "it's \"quoted\" $HOME"])
    cwd = os.getcwd()
    os.chdir(work)
    try:
        os.environ["OMP_NUM_THREADS"] = "3"
        ctx.start().stop()
    finally:
        os.chdir(cwd)
        del os.environ["OMP_NUM_THREADS"]
    script = tmp_path / "rerun.sh"
    ctx.write_invocation(script)
    assert os.access(script, os.X_OK)
    subprocess.run([str(script)], check=True, cwd=tmp_path, env={k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"})
    assert out.read_text() == f"{work}|it's \"quoted\" $HOME|3"


def test_write_invocation_keeps_a_string_command_as_written(tmp_path):
    ctx = ProcessContext(args="echo one two | tr a-z A-Z > upper.txt")
    ctx.start().stop()
    script = tmp_path / "rerun.sh"
    ctx.write_invocation(script)
    assert script.read_text().rstrip().endswith("exec echo one two | tr a-z A-Z > upper.txt")
    assert ctx.obj["invocation"]["argv"][:3] == ["echo", "one", "two"]


def test_write_invocation_with_all_telemetry_off_is_a_clear_error(tmp_path):
    ctx = ProcessContext(args=["x"], request_all_telemetry=False)
    ctx.start().stop()
    with pytest.raises(ValueError, match="no command line"):
        ctx.write_invocation(tmp_path / "x.sh")


def test_output_file(tmp_path):
    path = tmp_path / "ctx.json"
    with ProcessContext(name="w", args=["x"], output=path):
        pass
    assert json.loads(path.read_text())["status"] == "completed"


def test_invocation_script_shape():
    text = invocation_script({"id": "i", "name": "n", "invocation": {"argv": ["a b", "c"], "cwd": "/x y", "environment": {"A": "1 2"}}})
    assert text.splitlines() == ["#!/usr/bin/env bash", "# Re-runs n (procrecord record i).", "set -e", "cd '/x y'",
                                 "export A='1 2'", "exec 'a b' c"]
