"""The drop-in ProcessContext: legacy calls, procrecord records, the legacy faults fixed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import types

import pytest

from procrecord.compat import ProcessContext, invocation_script
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate

from helpers import FIXTURES, FakeTracker, load_json


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in ("PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY", "PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY", "PROCRECORD_LEVEL",
                 "PROCRECORD_EMISSIONS_COUNTRY"):
        monkeypatch.delenv(name, raising=False)


#: Every public name of kwutil 0.3.8's ProcessContext (dir() of an instance, read from the package).
KWUTIL_PUBLIC = {"add_device_info", "add_disk_info", "dump", "emissions_tracker", "enable_all_telemetry",
                 "enable_most_telemetry", "flush", "is_running", "is_started", "obj", "output_dpath", "output_fpath",
                 "properties", "start", "stop", "track_emissions", "write_invocation"}
LEGACY_FIXTURES = FIXTURES / "0" / "valid"


def _types(value):
    """The JSON type of each key, one level down into objects (what geowatch's readers index)."""
    if isinstance(value, dict):
        return {k: _types(v) if isinstance(v, dict) else type(v).__name__ for k, v in value.items()}
    return type(value).__name__


def test_every_public_name_of_kwutils_class_is_here():
    ctx = ProcessContext(name="x", args=["x"])
    assert {n for n in dir(ctx) if not n.startswith("_")} >= KWUTIL_PUBLIC


def test_obj_is_the_legacy_shape_and_the_1x_record_is_beside_it(tmp_path):
    ctx = ProcessContext(name="demo", type="process", args=["fit.py", "--lr=0.1"], config={"lr": 0.1},
                         extra={"fit_config": {"a": 1}})
    assert ctx.obj["properties"]["machine"] is None and ctx.obj["properties"]["args"] == ["fit.py", "--lr=0.1"]
    assert ctx.start() is ctx and ctx.is_running and ctx.is_started
    obj = ctx.stop()
    assert obj is ctx.obj and obj["properties"] is ctx.properties and not ctx.is_running
    assert obj["type"] == "process" and validate(obj, "0") == []
    props = obj["properties"]
    assert props["name"] == "demo" and props["extra"] == {"fit_config": {"a": 1}} and props["uuid"] == ctx.record["id"]
    assert ctx.record["schema_version"] == current_version() and validate(ctx.record) == []
    ctx.add_disk_info(str(tmp_path))  # after stop, as kwutil's own example does: the same obj grows
    assert obj["properties"]["disk_info"]["path"] == str(tmp_path)
    flushed = ProcessContext(name="f", args=["x"]).start().flush()
    assert flushed["properties"]["stop_timestamp"] and ProcessContext(args=["x"]).start().record["status"] == "running"


@pytest.mark.parametrize("fixture, switches", [("full-telemetry", {}), ("most-disabled", {"request_most_telemetry": False}),
                                               ("all-disabled", {"request_all_telemetry": False})])
def test_obj_has_every_key_kwutil_wrote_with_its_type(fixture, switches, tmp_path):
    kwutil_record = load_json(LEGACY_FIXTURES / f"{fixture}.json")  # made by kwutil 0.3.8 itself
    expected = _types(kwutil_record["properties"])
    ctx = ProcessContext(name="demo.fit", args=["fit.py", "--lr=0.001"], config={"lr": 0.001}, **switches)
    ctx.start()
    ctx.add_disk_info(str(tmp_path))
    got = _types(ctx.stop()["properties"])
    for key, kind in expected.items():
        assert key in got, key
        if isinstance(kind, dict):
            for sub, sub_kind in kind.items() if key != "config" else ():  # config is the job's own
                if sub not in ("telemetry_disabled", "hwtype") and kwutil_record["properties"][key].get(sub) is not None:
                    assert got[key].get(sub) == sub_kind, f"{key}.{sub}"
        else:
            assert got[key] == kind or kind == "NoneType", key
    if fixture == "all-disabled":
        assert got == expected, "all telemetry off: exactly kwutil's keys"
    machine = ctx.obj["properties"]["machine"]
    if machine is not None:
        assert isinstance(machine["cpu_brand"], str), "geowatch passes it to re.sub"
    stamp = ctx.obj["properties"]["start_timestamp"]
    assert stamp is None or re.fullmatch(r"\d{4}-\d\d-\d\dT\d{6}[+-]\d+", stamp), "kwutil's compact form, 1 s resolution"


def test_string_args_and_non_dict_extra_are_kept_as_given():
    props = ProcessContext(args="fit.py --lr 0.1", extra=["a", 1]).start().stop()["properties"]
    assert props["args"] == "fit.py --lr 0.1" and props["extra"] == ["a", 1]


class _FakeTracker(FakeTracker):
    shutdown_s = 0.3  # codecarbon's shutdown: not the job's time


@pytest.fixture
def fake_codecarbon(monkeypatch):
    """The emissions collector as it is, with codecarbon's tracker faked and no energy counters."""
    from procrecord.collectors import emissions

    made = []

    class Collector(emissions.EmissionsCollector):
        def __init__(self, **options):
            super().__init__(**options, tracker_factory=lambda **kw: made.append(_FakeTracker(**kw)) or made[-1],
                             rapl_root="/nonexistent", nvml=types.SimpleNamespace(nvmlDeviceGetCount=lambda: 0))

    monkeypatch.setattr(emissions, "EmissionsCollector", Collector)
    return made


def test_offline_emissions_without_a_country_assume_kwutils_and_say_so(fake_codecarbon, monkeypatch, tmp_path):
    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    monkeypatch.chdir(tmp_path)
    ctx = ProcessContext(name="e", args=["x"], track_emissions="offline")
    obj = ctx.start().stop()
    emissions = obj["properties"]["emissions"]
    assert emissions["co2_kg"] == pytest.approx(0.19) and emissions["total_kWH"] == pytest.approx(0.5) and emissions["run_id"] == "abc"
    assert emissions["co2_ton"] == pytest.approx(0.19e-3) and emissions["est_dollar_to_offset"] == pytest.approx(15 * 0.19e-3)
    assert fake_codecarbon[0].kwargs["country_iso_code"] == "USA"
    assert ctx.record["emissions"]["country_iso_code"] == "USA" and ctx.record["emissions"]["country_assumed"] is True
    note = {c["name"]: c for c in ctx.record["collection"]["collectors"]}["emissions"]
    assert "USA assumed" in note["reason"] and "PROCRECORD_EMISSIONS_COUNTRY" in note["reason"]
    assert ctx.record["timing"]["duration_s"] < 0.25, "the tracker's shutdown is not the job's duration"
    assert list(tmp_path.iterdir()) == [], "nothing written into the job's folder"


class _SlowToStartTracker(FakeTracker):
    startup_s = 0.5  # codecarbon probes the hardware for seconds: not the job's time either

    def start(self):
        import time

        time.sleep(self.startup_s)


def test_the_legacy_duration_leaves_out_the_trackers_start_up(fake_codecarbon, monkeypatch, tmp_path):
    from procrecord.operations.legacy import parse_duration

    monkeypatch.setattr(sys.modules[__name__], "_FakeTracker", _SlowToStartTracker)
    monkeypatch.chdir(tmp_path)
    ctx = ProcessContext(name="e", args=["x"], track_emissions="offline")
    obj = ctx.start().stop()
    assert fake_codecarbon, "the slow tracker was used"
    duration = parse_duration(obj["properties"]["duration"])
    assert duration is not None and duration < _SlowToStartTracker.startup_s / 2, obj["properties"]["duration"]
    assert ctx.record["timing"]["duration_s"] < _SlowToStartTracker.startup_s / 2, ctx.record["timing"]


def test_a_country_from_the_environment_is_not_assumed(fake_codecarbon, monkeypatch):
    monkeypatch.setenv("PROCRECORD_EMISSIONS_COUNTRY", "FRA")
    ctx = ProcessContext(args=["x"], track_emissions=True)
    ctx.start().stop()
    assert ctx.record["emissions"]["country_iso_code"] == "FRA" and "country_assumed" not in ctx.record["emissions"]
    note = {c["name"]: c for c in ctx.record["collection"]["collectors"]}["emissions"]
    assert "assumed" not in (note.get("reason") or "")


def test_telemetry_switches_work():
    most = ProcessContext(args=["x"], config={"p": "/home/u/x"}, request_most_telemetry=False)
    assert (most.enable_all_telemetry, most.enable_most_telemetry) == (True, False)
    legacy_most = most.start().stop()["properties"]
    record = most.record
    assert "hostname" not in record["host"] and "user" not in record["host"] and "cwd" not in record["invocation"]
    assert record["host"]["cpu"]["logical_count"] > 0, "coarse machine facts stay"
    assert record["redaction"]["level"] == "most" and record["invocation"]["config"]["p"] == "~/x"
    assert legacy_most["machine"]["telemetry_disabled"] is True and legacy_most["machine"]["host"] is None
    assert legacy_most["config"] == {"p": "~/x"}
    nothing = ProcessContext(args=["x"], request_all_telemetry=False)
    assert (nothing.enable_all_telemetry, nothing.enable_most_telemetry) == (False, False)
    legacy_nothing = nothing.start().stop()["properties"]
    assert "invocation" not in nothing.record and "timing" not in nothing.record
    assert nothing.record["redaction"]["level"] == "all" and not nothing.is_running
    assert legacy_nothing["machine"] is None and "args" not in legacy_nothing and "config" not in legacy_nothing


@pytest.mark.parametrize("var, level", [("PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY", "most"),
                                        ("PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY", "all")])
def test_legacy_env_vars_no_longer_crash_and_mean_what_they_say(monkeypatch, var, level):
    monkeypatch.setenv(var, "1")
    ctx = ProcessContext(args=["x"])
    assert ctx.level == level
    ctx.start().stop()
    assert validate(ctx.record) == [] and validate(ctx.obj, "0") == []


def test_unknown_track_emissions_is_an_error():
    with pytest.raises(ValueError, match="track_emissions"):
        ProcessContext(track_emissions="sometimes")


def test_dump_writes_obj_and_never_into_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ctx = ProcessContext(name="d", args=["x"])
    ctx.start().stop()
    with pytest.raises(ValueError, match="output_fpath"):
        ctx.dump()
    ctx.output_dpath = tmp_path / "out"
    ctx.dump()
    written = tmp_path / "out" / f"d-{ctx.record['id']}.context"
    assert json.loads(written.read_text()) == ctx.obj
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_decorator_records_each_call_and_dumps_only_when_told(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    @ProcessContext()
    def job(lr=0.1):
        return lr * 2

    assert job(lr=0.5) == 1.0
    props = job.context.obj["properties"]
    assert props["name"].endswith(".job") and props["config"] == {"lr": 0.5} and props["duration"]
    assert list(tmp_path.iterdir()) == []
    told = ProcessContext(output_dpath=tmp_path / "ctx")(lambda: None)
    told()
    assert len(list((tmp_path / "ctx").iterdir())) == 1


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
    assert ctx.record["invocation"]["argv"][:3] == ["echo", "one", "two"]


@pytest.mark.parametrize("switch", ["request_most_telemetry", "request_all_telemetry"])
def test_write_invocation_with_telemetry_off_re_runs_the_command_as_given(tmp_path, monkeypatch, switch):
    """kwutil raised with all telemetry off (a fault upstream-behaviour.md lists); with most off the
    record's argv is scrubbed (a home path becomes '~/...', which a quoted word never expands)."""
    monkeypatch.setenv("HOME", str(tmp_path))
    out = tmp_path / "out.txt"
    ctx = ProcessContext(args=[sys.executable, "-c", "import sys; open(sys.argv[1], 'w').write('ran')", str(out)],
                         **{switch: False})
    ctx.start().stop()
    assert str(out) not in json.dumps(ctx.record)  # the record still holds no (or a scrubbed) command line
    script = tmp_path / "x.sh"
    ctx.write_invocation(script)
    assert "was not recorded (telemetry off)" in script.read_text()
    subprocess.run([str(script)], check=True, cwd=tmp_path)
    assert out.read_text() == "ran"


def test_add_disk_info_of_a_missing_path_is_kwutils_error_string(tmp_path, monkeypatch):
    """kwutil wrote ``disk_info`` as an error string (fixture disk-info-missing-path.json), for the last path asked."""
    kwutil = load_json(LEGACY_FIXTURES / "disk-info-missing-path.json")["properties"]["disk_info"]
    ctx = ProcessContext(name="demo.eval", args=["eval.py"]).start()
    ctx.add_disk_info(tmp_path / "does" / "not" / "exist")
    obj = ctx.stop()
    assert isinstance(kwutil, str) and isinstance(obj["properties"]["disk_info"], str)
    assert obj["properties"]["disk_info"] == f"{tmp_path}/does/not/exist: No such file or directory"
    assert validate(obj, "0") == []
    ctx.add_disk_info(tmp_path)  # the last path's, as kwutil's
    assert obj["properties"]["disk_info"]["path"] == str(tmp_path)
    ctx.add_disk_info("/nonexistent")
    assert obj["properties"]["disk_info"] == "/nonexistent: No such file or directory"
    monkeypatch.setenv("HOME", str(tmp_path))  # with most telemetry off the string is scrubbed as the record is
    most = ProcessContext(args=["x"], request_most_telemetry=False).start()
    most.add_disk_info(tmp_path / "gone")
    assert most.stop()["properties"]["disk_info"] == "~/gone: No such file or directory"
    none = ProcessContext(args=["x"], request_all_telemetry=False).start()
    none.add_disk_info(tmp_path / "gone")
    assert "disk_info" not in none.stop()["properties"]


def test_output_file(tmp_path):
    path = tmp_path / "ctx.json"
    with ProcessContext(name="w", args=["x"], output=path):
        pass
    assert json.loads(path.read_text())["status"] == "completed"  # the 1.x record, beside the legacy obj


def test_invocation_script_shape():
    text = invocation_script({"id": "i", "name": "n", "invocation": {"argv": ["a b", "c"], "cwd": "/x y", "environment": {"A": "1 2"}}})
    assert text.splitlines() == ["#!/usr/bin/env bash", "# Re-runs n (procrecord record i).", "set -e", "cd '/x y'",
                                 "export A='1 2'", "exec 'a b' c"]
