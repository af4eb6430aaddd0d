"""The writer: lifecycle, crash safety with real processes, levels, and validity of every record."""

from __future__ import annotations

import itertools
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from procrecord.errors import ProcrecordError, RecorderStateError
from procrecord.operations.redaction import redact
from procrecord.record.validation import validate
from procrecord.writer.recorder import Recorder, resolve_level, truthy

from helpers import ROOT

QUIET = {"use_plugins": False, "handle_signals": False, "git_dirty": False}


def test_start_stop_in_memory():
    rec = Recorder("demo", config={"lr": 0.1}, argv=["train.py", "--lr", "0.1"], **QUIET).start()
    out = rec.stop()
    assert out["status"] == "completed" and out["outcome"]["exit_code"] == 0
    assert out["invocation"]["argv"] == ["train.py", "--lr", "0.1"]
    assert out["invocation"]["config"] == {"lr": 0.1}
    assert out["timing"]["duration_s"] >= 0 and out["timing"]["stop_time"] >= out["timing"]["start_time"]
    assert validate(out, all_errors=True) == []
    assert rec.stop() is out or rec.stop() == out, "stop() twice is harmless"


@pytest.mark.parametrize("argv", ["python fit.py", b"python fit.py", ""])
def test_a_command_line_string_as_argv_is_a_type_error(argv):
    """It was recorded one character at a time: ['p', 'y', 't', ...]."""
    with pytest.raises(TypeError, match=r"shlex\.split"):
        Recorder("x", argv=argv, **QUIET)


@pytest.mark.parametrize("name", [123, b"fit", pathlib.Path("fit")])
def test_a_name_that_is_no_text_is_a_type_error_before_anything_starts(name, monkeypatch):
    """It failed at start(), halfway through: the lineage variable stayed set, the Recorder unusable."""
    monkeypatch.delenv("PROCRECORD_PARENT", raising=False)
    with pytest.raises(TypeError, match="name="):
        Recorder(name, **QUIET).start()
    assert "PROCRECORD_PARENT" not in os.environ


def test_argv_as_a_tuple_is_a_list_of_arguments():
    out = Recorder("x", argv=("python", "fit.py"), collectors=["invocation"], **QUIET).start().stop()
    assert out["invocation"]["argv"] == ["python", "fit.py"]


def test_methods_out_of_order():
    rec = Recorder("x", **QUIET)
    with pytest.raises(RecorderStateError):
        rec.flush()
    with pytest.raises(RecorderStateError):
        rec.stop()
    rec.start()
    with pytest.raises(RecorderStateError, match="already"):
        rec.start()
    rec.stop()


def test_flush_writes_progress(tmp_path):
    path = tmp_path / "r.json"
    rec = Recorder("x", output=path, **QUIET).start()
    first = json.loads(path.read_text())
    assert first["status"] == "running" and "stop_time" not in first["timing"]
    time.sleep(0.01)
    rec.flush()
    second = json.loads(path.read_text())
    assert second["timing"]["duration_s"] > first["timing"]["duration_s"]
    assert second["resources"]["cpu_user_s"] >= 0
    rec.stop()
    assert json.loads(path.read_text())["status"] == "completed"


def test_context_manager_records_failure_and_reraises(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(ZeroDivisionError), Recorder("x", output=path, **QUIET):
        _ = 1 / 0
    out = json.loads(path.read_text())
    assert out["status"] == "failed" and out["outcome"]["exit_code"] == 1
    assert out["outcome"]["error"]["type"] == "ZeroDivisionError"
    assert "division by zero" in out["outcome"]["error"]["message"]
    assert "Traceback" in out["outcome"]["error"]["traceback"]
    assert validate(out) == []


@pytest.mark.parametrize("code", [0, None])
def test_system_exit_zero_is_completed_with_no_error_block(tmp_path, code):
    path = tmp_path / "r.json"
    with pytest.raises(SystemExit), Recorder("x", output=path, **QUIET):
        sys.exit(code)
    out = json.loads(path.read_text())
    assert out["status"] == "completed" and out["outcome"] == {"exit_code": 0}, "a successful run carries no error"


def test_system_exit_nonzero_is_failed_with_its_error(tmp_path):
    path = tmp_path / "r.json"
    with pytest.raises(SystemExit), Recorder("x", output=path, **QUIET):
        sys.exit(4)
    out = json.loads(path.read_text())
    assert out["status"] == "failed" and out["outcome"]["exit_code"] == 4
    assert out["outcome"]["error"]["type"] == "SystemExit" and out["outcome"]["error"]["message"] == "4"


def test_an_output_under_home_is_written_there(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "home").mkdir()
    rec = Recorder("x", output="~/rec.json", **QUIET)
    assert rec.output == str(tmp_path / "home" / "rec.json")
    rec.start().stop()
    assert json.loads((tmp_path / "home" / "rec.json").read_text())["status"] == "completed"
    assert not (tmp_path / "~").exists(), "no folder literally named ~"


def test_decorator_records_each_call(tmp_path):
    path = tmp_path / "r.json"

    @Recorder(output=path, **QUIET)
    def job(n):
        return n * 2

    assert job(3) == 6
    first = json.loads(path.read_text())
    assert first["name"].endswith("job") and first["status"] == "completed"
    job(4)
    assert json.loads(path.read_text())["id"] != first["id"]


def test_config_is_made_json_safe():
    import datetime as dt
    import enum
    import pathlib

    class Mode(enum.Enum):
        FAST = "fast"

    config = {"path": pathlib.Path("/data/x"), "mode": Mode.FAST, "when": dt.datetime(2026, 1, 2, 3, 4, 5),
              "tags": {"b", "a"}, "shape": (3, 4), "fn": print, "nan": float("nan")}
    out = Recorder("x", config=config, **QUIET).start().stop()
    got = out["invocation"]["config"]
    assert got["path"] == "/data/x" and got["mode"] == "fast" and got["tags"] == ["a", "b"] and got["shape"] == [3, 4]
    assert got["when"] == "2026-01-02T03:04:05" and got["fn"].startswith("<built-in function print")
    assert set(out["invocation"]["config_notes"]) == {"/fn", "/nan"}


def test_config_keys_that_collide_as_json_keep_both_values():
    """{1: 'int', '1': 'str'} was recorded as {'1': 'str'}, with no note."""
    out = Recorder("x", config={1: "int", "1": "str", "nested": {True: "bool", "True": "text"}},
                   collectors=["invocation"], **QUIET).start().stop()
    config = out["invocation"]["config"]
    assert config["1"] == "str" and config["1 (int)"] == "int"
    assert config["nested"] == {"True": "text", "True (bool)": "bool"}
    assert out["invocation"]["config_notes"] == ["/1 (int)", "/nested/True (bool)"]
    assert validate(out) == []


@given(st.dictionaries(st.one_of(st.integers(-3, 3), st.sampled_from(["0", "1", "1 (int)", "1 (int) 2", "x"]),
                                 st.booleans(), st.none()), st.integers(), max_size=8))
def test_config_conversion_never_loses_a_value(config):
    from procrecord.jsonsafe import to_json

    safe, notes = to_json(config)
    assert sorted(safe.values()) == sorted(config.values()), "every value is kept, under a distinct key"
    assert all(safe[key] == value for key, value in config.items() if isinstance(key, str)), "string keys stay"
    renamed = {key for key in safe if key not in {str(k) for k in config}}
    assert {f"/{key}" for key in renamed} <= set(notes)


def test_a_failing_collector_never_fails_the_job():
    from procrecord.collectors import Collector

    class Broken(Collector):
        name = "broken"
        section = "git"

        def collect(self, state):
            raise RuntimeError("boom")

    out = Recorder("x", collectors=["host", Broken()], **QUIET).start().stop()
    entry = {c["name"]: c for c in out["collection"]["collectors"]}["broken"]
    assert entry["status"] == "failed" and "RuntimeError: boom" in entry["reason"]
    assert validate(out) == []


def test_duration_is_the_jobs_own_not_the_collectors_shutdown():
    from procrecord.collectors import Collector

    class SlowToStop(Collector):  # as codecarbon's shutdown is: ~1.5 s after the job ended
        name = "slow"
        section = None

        def collect(self, state):
            return {"ok": True}

        def update(self, state):
            if state.stopping:
                time.sleep(0.4)
            return {"ok": True}

    rec = Recorder("x", collectors=[SlowToStop()], **QUIET).start()
    out = rec.stop()
    assert out["timing"]["duration_s"] < 0.3, out["timing"]
    assert out["timing"]["stop_time"] <= out["timing"]["update_time"]


COMBOS = [c for n in range(6) for c in itertools.combinations(["invocation", "host", "python", "git", "resources"], n)]


@pytest.mark.parametrize("collectors", COMBOS, ids=lambda c: "+".join(c) or "none")
def test_every_collector_combination_validates(collectors, tmp_path):
    rec = Recorder("combo", collectors=list(collectors), config={"a": [1, 2]}, extra={"k": "v"}, **QUIET)
    rec.add_disk_info(tmp_path)
    rec.add_device_info("cpu")
    rec.start()
    rec.flush()
    out = rec.stop()
    assert validate(out, all_errors=True) == []


def test_disks_and_devices_added_after_start(tmp_path):
    rec = Recorder("x", collectors=[], **QUIET).start()
    rec.add_disk_info(tmp_path)
    rec.add_disk_info(tmp_path / "missing")
    rec.add_device_info("cpu")
    out = rec.stop()
    assert out["disks"][0]["path"] == str(tmp_path) and out["disks"][0]["total_bytes"] > 0
    assert [(d["index"], d["type"]) for d in out["devices"]] == [(0, "cpu")]
    disks = {c["name"]: c for c in out["collection"]["collectors"]}["disks"]
    assert "missing" in disks["reason"]
    assert validate(out) == []


def test_gpu_without_nvml_is_recorded_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    rec = Recorder("x", collectors=[], **QUIET)
    rec.add_device_info("cuda:0")
    out = rec.start().stop()
    devices = {c["name"]: c for c in out["collection"]["collectors"]}["devices"]
    assert "nvidia-ml-py" in devices["reason"]
    assert out["devices"] == [{"index": 0, "type": "gpu", "error": out["devices"][0]["error"]}]


# --- levels -------------------------------------------------------------------------------------

@pytest.mark.parametrize("level", ["most", "all"])
def test_writer_level_equals_redacting_the_full_record(level, tmp_path):
    settings = dict(config={"data": "/home/someone/x", "api_token": "abc"}, argv=["job", "--password=hunter2"],
                    extra={"note": "hi"}, **QUIET)
    full = Recorder("x", **settings)
    full.add_disk_info(tmp_path)
    full.add_device_info("cpu")
    full_record = full.start().stop()
    leveled = Recorder("x", level=level, **settings)
    leveled.add_disk_info(tmp_path)
    leveled.add_device_info("cpu")
    out = leveled.start().stop()

    def shape(value, pointer=""):
        if isinstance(value, dict):
            return {p for k, v in value.items() for p in shape(v, f"{pointer}/{k}")} | {pointer}
        if isinstance(value, list) and value and isinstance(value[0], dict):
            return {p for i, v in enumerate(value) for p in shape(v, f"{pointer}/{i}")} | {pointer}
        return {pointer}

    expected = redact(full_record, level)
    for record in (out, expected):
        record.pop("redaction")
        record.get("collection", {}).pop("collectors", None)
    assert shape(out) == shape(expected)
    assert validate(out) == []


@pytest.mark.parametrize("env, expected", [
    ({}, "none"), ({"PROCRECORD_LEVEL": "most"}, "most"),
    ({"PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY": "1"}, "most"), ({"PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY": "true"}, "all"),
    ({"PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY": "0"}, "none"), ({"PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY": "no"}, "none"),
    ({"PROCRECORD_LEVEL": "all", "PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY": "1"}, "all"),
])
def test_level_sources(env, expected):
    assert resolve_level(None, env) == expected


def test_level_argument_and_bad_values():
    assert resolve_level("most", {}) == "most"
    assert resolve_level("none", {"PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY": "yes"}) == "all", "the strictest wins"
    with pytest.raises(ProcrecordError):
        resolve_level("some", {})
    with pytest.raises(ProcrecordError, match="PROCRECORD_LEVEL"):
        resolve_level(None, {"PROCRECORD_LEVEL": "everything"})
    assert truthy("1") and truthy("TRUE") and not truthy("0") and not truthy("") and not truthy(None)


def test_env_is_read_when_the_recorder_is_created(monkeypatch):
    monkeypatch.setenv("PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY", "1")
    rec = Recorder("x", **QUIET)
    monkeypatch.delenv("PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY")
    out = rec.start().stop()
    assert rec.level == "all" and set(out) <= {"schema_version", "record_type", "type", "id", "name", "status", "producer", "redaction"}


def test_sections_removed_at_a_level_are_never_collected(monkeypatch):
    from procrecord.collectors import host

    def explode(*a, **k):
        raise AssertionError("host collector ran at level all")

    monkeypatch.setattr(host.HostCollector, "collect", explode)
    out = Recorder("x", level="all", **QUIET).start().stop()
    assert "host" not in out


# --- crash safety with real processes -----------------------------------------------------------

JOB = textwrap.dedent("""
    import os, sys, time
    sys.path.insert(0, {root!r})
    from procrecord import Recorder
    rec = Recorder("victim", output=sys.argv[1], use_plugins=False, git_dirty=False).start()
    mode = sys.argv[2]
    if mode == "exception":
        raise ValueError("planned failure")
    if mode == "exit-without-stop":
        sys.exit(0)
    if mode == "exit-5":
        sys.exit(5)
    if mode == "exit-message":
        sys.exit("giving up")
    if mode == "builtin-exit-3":
        exit(3)  # site's builtin, not sys.exit
    if mode == "builtin-quit-3":
        quit(3)
    if mode == "caught-exit-4":  # argparse's error in a try, click's standalone_mode=False: the job goes on
        try:
            sys.exit(4)
        except SystemExit:
            pass
    if mode == "caught-builtin-exit-4":
        def parse():
            try:
                exit(4)
            except SystemExit as error:
                print("usage error", error.code, file=sys.stderr)
        parse()
    if mode == "caught-exit-4-then-exit-5":
        try:
            sys.exit(4)
        except SystemExit:
            pass
        sys.exit(5)
    if mode == "exit-6-in-handler-of-caught-exit-4":
        try:
            sys.exit(4)
        except SystemExit:
            sys.exit(6)
    if mode == "own-excepthook":  # as rich.traceback.install() does: print, never call the hook before
        sys.excepthook = lambda kind, error, tb: print("job's hook:", error, file=sys.stderr)
        raise ValueError("planned failure")
    if mode == "loop":
        for i in range(10000):
            rec.flush()
            if i == 3:
                print("ready", flush=True)
            time.sleep(0.002)
""")


def _spawn(tmp_path, mode):
    script = tmp_path / "job.py"
    script.write_text(JOB.format(root=str(ROOT)))
    out = tmp_path / "victim.json"
    proc = subprocess.Popen([sys.executable, str(script), str(out), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return proc, out


def _wait_ready(proc):
    assert proc.stdout.readline().strip() == "ready"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_marks_interrupted(tmp_path, signum):
    proc, out = _spawn(tmp_path, "loop")
    _wait_ready(proc)
    proc.send_signal(signum)
    assert proc.wait(timeout=30) == -signum, "the default behaviour of the signal is kept after recording"
    record = json.loads(out.read_text())
    assert record["status"] == "interrupted" and record["outcome"]["signal"] == signal.Signals(signum).name
    assert record["outcome"]["exit_code"] == 128 + signum
    assert validate(record) == []


def test_sigkill_leaves_the_last_complete_record(tmp_path):
    proc, out = _spawn(tmp_path, "loop")
    _wait_ready(proc)
    time.sleep(0.05)
    proc.kill()
    proc.wait(timeout=30)
    record = json.loads(out.read_text())
    assert record["status"] == "running" and validate(record) == []
    assert record["timing"]["duration_s"] > 0, "at least one flush after start reached the file"


def test_uncaught_exception_marks_failed(tmp_path):
    proc, out = _spawn(tmp_path, "exception")
    assert proc.wait(timeout=30) == 1
    record = json.loads(out.read_text())
    assert record["status"] == "failed" and record["outcome"]["error"]["type"] == "ValueError"
    assert "planned failure" in proc.stderr.read(), "the exception is still printed"


def test_an_uncaught_exception_is_failed_when_the_jobs_own_excepthook_hides_it(tmp_path):
    """A hook installed after start() that does not call procrecord's (rich, loguru, many CLIs)."""
    proc, out = _spawn(tmp_path, "own-excepthook")
    assert proc.wait(timeout=30) == 1
    record = json.loads(out.read_text())
    assert record["status"] == "failed" and record["outcome"]["exit_code"] == 1
    assert record["outcome"]["error"]["type"] == "ValueError" and validate(record) == []
    assert "job's hook: planned failure" in proc.stderr.read(), "the job's hook still prints it"


LAST_ERROR_JOB = textwrap.dedent("""
    import sys
    sys.path.insert(0, {root!r})
    from procrecord import Recorder
    if sys.argv[2] == "before":  # an error an interactive session reported before the run
        sys.last_value = sys.last_exc = KeyError("earlier")
    rec = Recorder("job", output=sys.argv[1], use_plugins=False, git_dirty=False).start()
    if sys.argv[2] == "before":
        sys.excepthook = lambda *args: None
    else:  # IPython reports a cell's error so, without sys.excepthook, and the session goes on
        sys.last_value = sys.last_exc = KeyError("a cell's error")
""")


@pytest.mark.parametrize("mode", ["before", "shell"])
def test_an_error_reported_before_the_run_or_by_a_shell_is_no_failure(tmp_path, mode):
    script = tmp_path / "job.py"
    script.write_text(LAST_ERROR_JOB.format(root=str(ROOT)))
    out = tmp_path / "r.json"
    done = subprocess.run([sys.executable, str(script), str(out), mode], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    record = json.loads(out.read_text())
    assert record["status"] == "completed" and record["outcome"] == {"exit_code": 0}


@pytest.mark.parametrize("mode, code, status", [
    ("exit-without-stop", 0, "completed"), ("end", 0, "completed"), ("exit-5", 5, "failed"),
    ("exit-message", 1, "failed"), ("builtin-exit-3", 3, "failed"), ("builtin-quit-3", 3, "failed"),
    # an exit the job caught is no exit: it ends later, with the code of what really ends it
    ("caught-exit-4", 0, "completed"), ("caught-builtin-exit-4", 0, "completed"),
    ("caught-exit-4-then-exit-5", 5, "failed"), ("exit-6-in-handler-of-caught-exit-4", 6, "failed"),
])
def test_an_end_without_stop_is_recorded_by_its_exit_code(tmp_path, mode, code, status):
    """Without stop(): exit code 0 is completed, any other code failed with that code; never interrupted."""
    proc, out = _spawn(tmp_path, mode)
    assert proc.wait(timeout=30) == code
    record = json.loads(out.read_text())
    assert (record["status"], record["outcome"]["exit_code"]) == (status, code)
    assert validate(record) == []


THREAD_JOB = textwrap.dedent("""
    import os, signal, sys, threading, time
    sys.path.insert(0, {root!r})
    import procrecord
    from procrecord import Recorder
    mode = sys.argv[2]
    if mode in ("watch", "watch-then-main"):
        procrecord.watch_signals()
    if mode == "own-handler":  # the job's own handler ends it with exit code 0
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    main = Recorder("main", output=sys.argv[1] + ".main.json", use_plugins=False, git_dirty=False)
    if mode in ("main-recorder", "own-handler", "watch-then-main", "main-stops-first"):
        main.start()
    started = threading.Event()

    def job():
        Recorder("thread", output=sys.argv[1], use_plugins=False, git_dirty=False).start()
        started.set()
        time.sleep(60)

    threading.Thread(target=job, daemon=True).start()
    started.wait()
    if mode == "main-stops-first":  # the thread's Recorder goes on without the main one's handler
        main.stop()
    print("ready", flush=True)
    time.sleep(60)
""")


@pytest.mark.parametrize("mode", ["watch", "main-recorder", "own-handler", "alone", "watch-then-main",
                                  "main-stops-first"])
def test_a_recorder_of_another_thread_records_sigterm_or_warns_at_start(tmp_path, mode):
    """Python handles signals in the main thread only: its handler (watch_signals(), or a Recorder
    started there) finishes the thread's record; with neither, the start warns that it cannot."""
    script = tmp_path / "job.py"
    script.write_text(THREAD_JOB.format(root=str(ROOT)))
    out = tmp_path / "thread.json"
    proc = subprocess.Popen([sys.executable, str(script), str(out), mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _wait_ready(proc)
    proc.send_signal(signal.SIGTERM)
    if mode == "own-handler":
        # the records note the signal and end as the process does: exit code 0
        assert proc.wait(timeout=30) == 0
        for path in (out, tmp_path / "thread.json.main.json"):
            record = json.loads(path.read_text())
            assert record["status"] == "completed" and record["outcome"] == {"signal": "SIGTERM", "exit_code": 0}
        return
    assert proc.wait(timeout=30) == -signal.SIGTERM, "the default action still ends the job"
    record, stderr = json.loads(out.read_text()), proc.stderr.read()
    if mode == "alone":
        assert record["status"] == "running"
        assert "RuntimeWarning: procrecord: Recorder 'thread' started outside the main thread" in stderr
        assert "procrecord.watch_signals()" in stderr
        return
    assert "RuntimeWarning" not in stderr
    assert record["status"] == "interrupted" and record["outcome"] == {"signal": "SIGTERM", "exit_code": 143}
    assert validate(record) == []
    main = json.loads((tmp_path / "thread.json.main.json").read_text()) if mode != "watch" else None
    if mode in ("main-recorder", "watch-then-main"):  # the main thread's record too (a reviewer saw it 'running')
        assert main["status"] == "interrupted" and main["outcome"] == {"signal": "SIGTERM", "exit_code": 143}
    if mode == "main-stops-first":
        assert main["status"] == "completed"


def test_watch_signals_is_for_the_main_thread_only():
    import threading

    from procrecord import watch_signals

    errors: list[BaseException] = []

    def call() -> None:
        try:
            watch_signals()
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    assert len(errors) == 1 and "main thread" in str(errors[0])


def test_devices_that_cannot_be_read_or_do_not_exist(monkeypatch):
    from procrecord.errors import ProcrecordError

    monkeypatch.setitem(sys.modules, "pynvml", None)
    rec = Recorder("x", **QUIET)
    with pytest.raises(ProcrecordError, match="not a device"):
        rec.add_device_info("bogus")
    rec.add_device_info("cpu")
    rec.add_device_info("cuda:0")
    out = rec.start().stop()
    assert [(d["type"], "error" in d) for d in out["devices"]] == [("gpu", True), ("cpu", False)]
    (note,) = [c for c in out["collection"]["collectors"] if c["name"] == "devices"]
    assert "gpu 0" in note["reason"]
    assert validate(out) == []


def test_numpy_values_in_config():
    np = pytest.importorskip("numpy")
    out = Recorder("x", config={"w": np.arange(3), "s": np.float32(0.5), "n": np.int64(7)}, **QUIET).start().stop()
    assert out["invocation"]["config"] == {"w": [0, 1, 2], "s": 0.5, "n": 7}
    assert "config_notes" not in out["invocation"]


def test_attrs_dataclass_and_unrepresentable_values():
    import dataclasses

    import attrs

    @dataclasses.dataclass
    class D:
        a: int
        b: tuple

    @attrs.define
    class A:
        p: str

    cyclic: list = []
    cyclic.append(cyclic)
    out = Recorder("x", config={"d": D(1, (2, 3)), "a": A("q"), "c": cyclic, 3: "int key"}, **QUIET).start().stop()
    config = out["invocation"]["config"]
    assert config["d"] == {"a": 1, "b": [2, 3]} and config["a"] == {"p": "q"} and config["3"] == "int key"
    assert config["c"] == ["<cycle: back to the list at /c>"], "a cycle is cut and says where it leads"
    assert "/c/0" in out["invocation"]["config_notes"]
    assert validate(out) == []


def test_an_output_that_cannot_be_written_stops_the_start(tmp_path):
    from procrecord.errors import RecordWriteError

    blocker = tmp_path / "file"
    blocker.write_text("")
    recorder = Recorder("x", output=blocker / "run.json")  # a file where the folder should be
    with pytest.raises(RecordWriteError, match="cannot write the record to"):
        recorder.start()
    assert recorder.stop() == recorder.record  # finished: nothing is tried again at exit


@pytest.mark.parametrize("job_fails", [False, True])
def test_a_write_failing_at_the_end_never_changes_the_jobs_outcome(tmp_path, capsys, job_fails):
    folder = tmp_path / "out"
    ran_after = False
    try:
        with Recorder("x", output=folder / "run.json"):
            shutil.rmtree(folder)
            folder.write_text("")  # the folder is now a file: the last write fails
            if job_fails:
                raise ValueError("the job's own error")
        ran_after = True
    except ValueError as exc:
        assert job_fails and str(exc) == "the job's own error"  # not replaced by the write error
    assert ran_after != job_fails
    assert "procrecord: cannot write the record to" in capsys.readouterr().err


class _PlainConfig:
    def __init__(self, lr: float) -> None:
        self.lr = lr
        self.layers = [64, 32]
        self._cache = object()


def test_config_objects_are_described_the_same_in_every_run():
    """Two identical runs record identical configs: a type and public attributes, never an address."""
    import re

    first = Recorder("x", config={"opt": _PlainConfig(0.1), "fn": len, "bare": object(), "func": _PlainConfig.__init__}, **QUIET).start().stop()
    second = Recorder("x", config={"opt": _PlainConfig(0.1), "fn": len, "bare": object(), "func": _PlainConfig.__init__}, **QUIET).start().stop()
    config = first["invocation"]["config"]
    assert config == second["invocation"]["config"]
    assert not re.search(r"0x[0-9a-f]{6,}", json.dumps(config)), config
    assert config["opt"]["__type__"].endswith("test_recorder._PlainConfig")
    assert {k: v for k, v in config["opt"].items() if k != "__type__"} == {"lr": 0.1, "layers": [64, 32]}
    assert config["bare"] == "<object object>" and config["fn"] == "<built-in function len>"
    assert {"/opt", "/fn", "/bare"} <= set(first["invocation"]["config_notes"])
    assert validate(first) == []


def test_results_go_into_extra_while_the_job_runs(tmp_path):
    out = tmp_path / "run.json"
    rec = Recorder("x", output=out, **QUIET).start()
    assert rec.extra == {}, "extra is always a dict, even when none was given"
    rec.set_extra(epoch=1, loss=0.5)
    rec.flush()
    assert json.loads(out.read_text())["extra"] == {"epoch": 1, "loss": 0.5}
    rec.extra["best"] = {"path": pathlib.Path("/m/best.ckpt")}
    rec.set_extra({"epoch": 2})
    final = rec.stop()
    assert final["extra"] == {"epoch": 2, "loss": 0.5, "best": {"path": "/m/best.ckpt"}}
    assert json.loads(out.read_text())["extra"] == final["extra"] and validate(final) == []


def test_the_decorator_can_record_the_arguments_as_config(tmp_path):
    out = tmp_path / "fit.json"

    @Recorder(output=out, config={"source": "cli"}, record_args=True, **QUIET)
    def fit(lr, epochs=3, *, tag="a"):
        return lr * epochs

    assert fit(0.5, tag="b") == 1.5
    assert json.loads(out.read_text())["invocation"]["config"] == {"source": "cli", "lr": 0.5, "epochs": 3, "tag": "b"}

    @Recorder(output=out, **QUIET)
    def plain(lr):
        return lr

    plain(0.1)
    assert "config" not in json.loads(out.read_text()).get("invocation", {}), "arguments are recorded only when asked"


def test_the_decorator_leaves_a_methods_receiver_out_of_the_config(tmp_path):
    out = tmp_path / "fit.json"

    class Trainer:
        token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"

        @Recorder(output=out, record_args=True, **QUIET)
        def fit(self, lr, epochs=2):
            return lr * epochs

        @classmethod
        @Recorder(output=out, record_args=True, **QUIET)
        def build(cls, size):
            return size

    assert Trainer().fit(0.5) == 1.0
    assert json.loads(out.read_text())["invocation"]["config"] == {"lr": 0.5, "epochs": 2}
    assert Trainer.build(3) == 3
    assert json.loads(out.read_text())["invocation"]["config"] == {"size": 3}


class Model:
    """At module level, as most jobs' classes are (the receiver is told by the class's qualified name)."""

    def __init__(self, key="secret"):
        self.key = key

    @Recorder(output=None, record_args=True, collectors=[], use_plugins=False, handle_signals=False)
    def fit(this, lr):  # a receiver not named self
        return lr

    @classmethod
    @Recorder(output=None, record_args=True, collectors=[], use_plugins=False, handle_signals=False)
    def build(cls, size):
        return size

    @staticmethod
    @Recorder(output=None, record_args=True, collectors=[], use_plugins=False, handle_signals=False)
    def scale(self, a):  # a staticmethod's first parameter is an argument, whatever its name
        return a


class Small(Model):
    pass


def _fit_outside(self, lr=0.1):  # defined outside any class body, made a method afterwards
    return lr


def _make_outside(cls, size):
    return size


_ARGS = {"output": None, "record_args": True, "collectors": [], "use_plugins": False, "handle_signals": False}


class Attached:
    def __init__(self):
        self.api_key = "sk-SECRET"


Attached.fit = Recorder(**_ARGS)(_fit_outside)
Attached.make = classmethod(Recorder(**_ARGS)(_make_outside))
Attached.static = staticmethod(Recorder(**_ARGS)(_fit_outside))


@pytest.mark.parametrize("call, config", [
    (lambda: Model().fit(0.5), {"lr": 0.5}),
    (lambda: Small().fit(0.5), {"lr": 0.5}),  # a subclass's instance is a receiver too
    (lambda: Model.fit(Model(), 0.5), {"lr": 0.5}),  # the same call, through the class
    (lambda: Model.build(3), {"size": 3}),
    (lambda: Small.build(3), {"size": 3}),
    (lambda: Model().build(3), {"size": 3}),
    (lambda: Model.scale(10, 2), {"self": 10, "a": 2}),
    (lambda: Model().scale(10, 2), {"self": 10, "a": 2}),
    # a function made a method after its definition: its receiver (and the credentials it holds) is left
    # out all the same (its __qualname__ names no class)
    (lambda: Attached().fit(0.5), {"lr": 0.5}),
    (lambda: Attached.fit(Attached(), 0.5), {"lr": 0.5}),
    (lambda: Attached.make(3), {"size": 3}),
    (lambda: Attached().make(3), {"size": 3}),
    (lambda: Attached.static(7, 2), {"self": 7, "lr": 2}),
])
def test_record_args_leaves_out_only_a_real_receiver(call, config, monkeypatch):
    """The first argument is left out only of a method (or classmethod) called on its object (or
    class): a plain function's or a staticmethod's `self` or `cls` was dropped for its name."""
    seen = []
    real = Recorder.__init__

    def spy(self, *args, **kwargs):
        seen.append(kwargs.get("config"))
        real(self, *args, **kwargs)

    monkeypatch.setattr(Recorder, "__init__", spy)
    call()
    assert seen == [config]


def test_record_args_keeps_a_plain_functions_self_or_cls(tmp_path):
    out = tmp_path / "fit.json"

    @Recorder(output=out, record_args=True, **QUIET)
    def train(cls, epochs):
        return epochs

    assert train(10, 3) == 3
    assert json.loads(out.read_text())["invocation"]["config"] == {"cls": 10, "epochs": 3}

    @Recorder(output=out, record_args=True, **QUIET)
    def step(self, lr=0.1):
        return lr

    step(Model())  # an object as a plain function's argument: recorded (JSON-safe), not taken for a receiver
    assert json.loads(out.read_text())["invocation"]["config"]["self"] == {"__type__": "test_recorder.Model", "key": "secret"}



def test_an_output_that_is_no_record_is_refused_at_start(tmp_path):
    """Recorder(output="notes.txt") replaced an existing text file with no warning at all."""
    from procrecord.errors import OutputNotARecordError, ProcrecordError, RecordWriteError

    notes = tmp_path / "notes11.txt"
    notes.write_text("hello\n")
    with pytest.raises(OutputNotARecordError, match=r"notes11\.txt: it exists and is not a procrecord record"):
        Recorder("job", output=notes, **QUIET).start()
    assert issubclass(OutputNotARecordError, RecordWriteError) and issubclass(OutputNotARecordError, ProcrecordError)
    ran = []
    with pytest.raises(OutputNotARecordError), Recorder("job", output=notes, **QUIET):
        ran.append(True)
    assert not ran and notes.read_text() == "hello\n"


def test_an_output_that_is_a_symlink_is_written_through_and_stays_a_link(tmp_path):
    """`runs/latest.json -> 2024-06/fit.json`: the record lands in the target, the link stays (it was
    replaced by a regular file of its own, the target left stale)."""
    (tmp_path / "2024-06").mkdir()
    target = tmp_path / "2024-06" / "fit.json"
    Recorder("first", output=target, **QUIET).start().stop()
    link = tmp_path / "latest.json"
    link.symlink_to(pathlib.Path("2024-06") / "fit.json")
    rec = Recorder("second", output=link, **QUIET).start()
    rec.stop()
    assert link.is_symlink() and rec.output == str(target)
    assert json.loads(target.read_text())["name"] == "second"
    dangling = tmp_path / "next.json"
    dangling.symlink_to(pathlib.Path("2024-07") / "fit.json")
    Recorder("third", output=dangling, **QUIET).start().stop()
    assert dangling.is_symlink() and json.loads(dangling.read_text())["name"] == "third"


def test_an_output_that_is_no_record_is_never_written_at_exit(tmp_path):
    script = tmp_path / "job.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(ROOT)!r})
        from procrecord import Recorder
        from procrecord.errors import OutputNotARecordError
        try:
            Recorder("job", output="data.json", use_plugins=False).start()
        except OutputNotARecordError as exc:
            print("refused")
    """))
    data = tmp_path / "data.json"
    data.write_text('{"weights": [1, 2, 3]}')
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=30, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr
    assert data.read_text() == '{"weights": [1, 2, 3]}'


def test_a_record_of_any_version_or_size_is_replaced_and_nothing_else(tmp_path):
    from procrecord.writer import existing

    def refusal(name, text):
        path = tmp_path / name
        path.write_text(text)
        return existing.refusal(str(path))

    legacy = (ROOT / "fixtures" / "0" / "valid" / "full-telemetry.json").read_text()
    old = (ROOT / "fixtures" / "1.0" / "valid" / "gpu-training.json").read_text()
    big = "x" * (existing.PREFIX + 10)  # more than is read: the first members tell
    record = json.loads(old)
    assert refusal("old.json", old) is None and refusal("legacy.json", legacy) is None
    assert refusal("blank.json", "\n\n") is None and existing.refusal(str(tmp_path / "missing.json")) is None
    assert refusal("big.json", json.dumps({**record, "extra": {"pad": big}}, indent=2)) is None
    legacy_big = json.loads(legacy)
    legacy_big["properties"]["extra"] = {"pad": big}
    assert refusal("legacy-big.json", json.dumps(legacy_big)) is None
    assert refusal("one.jsonl", json.dumps(record) + "\n\n") is None
    assert refusal("big.jsonl", json.dumps({**record, "extra": {"pad": big}}) + "\n") is None
    # not records: a script, text, other JSON, a result file holding records, several records
    assert refusal("train.py", "print(1)\n") == existing.NOT_A_RECORD
    assert refusal("notes.txt", "hello") == existing.NOT_A_RECORD
    assert refusal("schema.json", '{"type": "object", "properties": {}}') == existing.NOT_A_RECORD
    assert refusal("other.json", json.dumps({"record_type": "mlflow.run", "schema_version": "1.0"})) is not None
    kwcoco = {"info": [json.loads(legacy), record], "images": [{"file_name": big}]}
    assert refusal("result.kwcoco.json", json.dumps(kwcoco)) == existing.NOT_A_RECORD
    assert refusal("big-other.json", json.dumps({"images": [{"file_name": big}], "type": "dataset"})) == existing.NOT_A_RECORD
    # a big record whose marks come after its first MiB is read whole, as a small one is: saved with its
    # keys sorted (`jq -S`), or a legacy record with its properties first
    assert refusal("sorted-big.json", json.dumps({**record, "extra": {"pad": big}}, sort_keys=True, indent=1)) is None
    assert refusal("legacy-properties-first.json",
                   json.dumps({"properties": legacy_big["properties"], "type": "process"})) is None
    assert refusal("sorted-big.jsonl", json.dumps({**record, "extra": {"pad": big}}, sort_keys=True) + "\n") is None
    assert refusal("list.json", json.dumps([record])) == existing.NOT_A_RECORD
    assert "more than one" in refusal("two.jsonl", (json.dumps(record) + "\n") * 2)
    assert "more than one" in refusal("two-big.jsonl", json.dumps({**record, "extra": {"pad": big[:1000]}}) + "\n"
                                      + json.dumps({**record, "extra": {"pad": big}}) + "\n")
    assert refusal("bad.jsonl", "hello\n") == existing.NOT_A_RECORD


def test_record_args_outside_a_decorator_warns_at_the_callers_line(tmp_path):
    """A `with` block or start() has no call whose arguments could be recorded: said, not silently None."""
    with (pytest.warns(RuntimeWarning, match=r"record_args=True .* only when the Recorder decorates it") as caught,
          Recorder("job", output=tmp_path / "a.json", record_args=True, **QUIET)):
        pass
    assert [w.filename for w in caught] == [__file__]
    with pytest.warns(RuntimeWarning, match="record_args") as caught:
        Recorder("job", output=tmp_path / "b.json", record_args=True, **QUIET).start().stop()
    assert [w.filename for w in caught] == [__file__]
    import warnings

    @Recorder(output=tmp_path / "c.json", record_args=True, **QUIET)
    def fit(lr):
        return lr

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the decorator's use: no warning
        assert fit(0.5) == 0.5


@pytest.mark.parametrize("options, error", [
    ({"usage_interval": 0}, ValueError), ({"usage_interval": -1}, ValueError),
    ({"usage_interval": float("nan")}, ValueError), ({"usage_interval": float("inf")}, ValueError),
    ({"usage_interval": "1"}, TypeError), ({"usage_interval": True}, TypeError),
    ({"max_digest_bytes": -5}, ValueError), ({"max_digest_bytes": float("nan")}, ValueError),
    ({"max_digest_bytes": "1G"}, TypeError), ({"max_digest_bytes": 1.5}, ValueError),
])
def test_bad_numeric_options_are_refused_at_construction(tmp_path, options, error):
    """Not accepted and then ignored (usage_interval=0 recorded no usage at all)."""
    name = next(iter(options))
    with pytest.raises(error, match=name):
        Recorder("job", output=tmp_path / "r.json", **options, **QUIET)


@pytest.mark.parametrize("option", [["--usage-interval", "0"], ["--usage-interval", "-1"], ["--max-digest-bytes", "-5"]])
def test_bad_numeric_options_of_run_are_usage_errors(tmp_path, option):
    from click.testing import CliRunner

    from procrecord.cli import cli

    result = CliRunner().invoke(cli, ["run", "-o", str(tmp_path / "r.json"), *option, "--", "true"])
    assert result.exit_code == 2 and option[0] in result.output
    assert not (tmp_path / "r.json").exists()


def test_good_numeric_options_are_taken(tmp_path):
    for options in ({"usage_interval": 0.5}, {"usage_interval": 2}, {"max_digest_bytes": 0},
                    {"max_digest_bytes": None}, {"max_digest_bytes": 10}, {"max_digest_bytes": 1e9}):
        Recorder("job", output=tmp_path / "r.json", **options, **QUIET)


def test_numeric_options_take_any_real_number_as_pythons_own(tmp_path):
    """NumPy's numbers, fractions: real numbers, taken (a reviewer saw ``np.int64`` refused) and kept as
    Python's int or float, which every writer of JSON takes."""
    import decimal
    import fractions

    class Size(int):  # an int subclass, as NumPy's integers are numbers.Integral
        pass

    recorder = Recorder("job", output=tmp_path / "r.json", usage_interval=fractions.Fraction(1, 2),
                        max_digest_bytes=Size(1 << 20), **QUIET)
    settings = recorder._settings
    assert type(settings["usage_interval"]) is float and settings["usage_interval"] == 0.5
    assert type(settings["max_digest_bytes"]) is int and settings["max_digest_bytes"] == 1 << 20
    with pytest.raises(TypeError, match="usage_interval"):
        Recorder("job", output=tmp_path / "r.json", usage_interval=decimal.Decimal("0.5"), **QUIET)


@pytest.mark.parametrize("name", ["r.jsonl", "r.ndjson"])
def test_a_json_lines_output_is_one_line_that_every_reader_accepts(tmp_path, name):
    from click.testing import CliRunner

    import procrecord
    from procrecord.cli import cli

    path = tmp_path / name
    rec = Recorder("lines", config={"lr": 0.1}, output=path, **QUIET).start()
    assert path.read_text().count("\n") == 1, "the first write too"
    rec.flush()
    rec.stop()
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 1, text[:200]
    (record,) = procrecord.read(path)
    assert record.id == rec.id and record.status == "completed"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output
    plain = tmp_path / "r.json"
    Recorder("plain", output=plain, **QUIET).start().stop()
    assert plain.read_text().count("\n") > 1, "a .json record stays indented for people to read"


def test_the_timing_starts_when_start_hands_the_job_control():
    """Collectors that take seconds to get ready (codecarbon probes the hardware) are not the job's time."""
    from procrecord.collectors import Collector

    class SlowToStart(Collector):
        name = "slow"
        section = None

        def collect(self, state):
            time.sleep(0.5)
            return {"ok": True}

    rec = Recorder("x", collectors=[SlowToStart()], **QUIET)
    before = time.monotonic()
    rec.start()
    setup_s = time.monotonic() - before
    job = time.monotonic()
    time.sleep(0.1)
    job_s = time.monotonic() - job
    out = rec.stop()
    assert job_s <= out["timing"]["duration_s"] < job_s + setup_s / 2, (out["timing"], setup_s)


def test_a_relative_output_stays_where_it_was_when_the_job_changes_folder(tmp_path, monkeypatch):
    import os

    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    with Recorder("cd", output="rel.json", **QUIET) as rec:
        os.chdir("sub")  # as Hydra and many training scripts do
        rec.flush()
    assert json.loads((tmp_path / "rel.json").read_text())["status"] == "completed"
    assert not (tmp_path / "sub" / "rel.json").exists()


def test_the_decorator_records_the_awaited_run_of_a_coroutine_function(tmp_path):
    import asyncio

    path = tmp_path / "r.json"

    @Recorder("async", output=path, **QUIET)
    async def job(n):
        await asyncio.sleep(0.2)
        if n < 0:
            raise ValueError("async boom")
        return n * 2

    assert asyncio.iscoroutinefunction(job) and job.__name__ == "job"
    assert asyncio.run(job(3)) == 6
    record = json.loads(path.read_text())
    assert record["status"] == "completed" and record["timing"]["duration_s"] >= 0.2
    with pytest.raises(ValueError, match="async boom"):
        asyncio.run(job(-1))
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and record["outcome"]["error"]["type"] == "ValueError"
    assert record["timing"]["duration_s"] >= 0.2
    assert validate(record) == []


def test_the_decorator_records_the_iteration_of_a_generator_function(tmp_path):
    path = tmp_path / "r.json"

    @Recorder("gen", output=path, **QUIET)
    def numbers(n):
        total = 0
        for i in range(n):
            total += yield i
        if total < 0:
            raise ValueError("gen boom")
        return total

    gen = numbers(3)
    assert not path.exists(), "nothing runs before the first item is asked for"
    assert next(gen) == 0
    assert json.loads(path.read_text())["status"] == "running"
    assert gen.send(1) == 1 and gen.send(2) == 2
    with pytest.raises(StopIteration) as stop:
        gen.send(3)
    assert stop.value.value == 6
    assert json.loads(path.read_text())["status"] == "completed"

    gen = numbers(2)
    next(gen)
    assert gen.send(-5) == 1
    with pytest.raises(ValueError, match="gen boom"):
        gen.send(-5)
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and record["outcome"]["error"]["type"] == "ValueError"

    gen = numbers(10)
    next(gen)
    gen.close()  # the consumer took what it needed: not a failure of the job
    assert json.loads(path.read_text())["status"] == "completed"

    gen = numbers(2)
    next(gen)
    with pytest.raises(KeyError):
        gen.throw(KeyError("thrown in"))
    assert json.loads(path.read_text())["outcome"]["error"]["type"] == "KeyError"


def test_the_decorator_records_the_iteration_of_an_async_generator_function(tmp_path):
    import asyncio
    import inspect

    path = tmp_path / "r.json"

    @Recorder("agen", output=path, **QUIET)
    async def ticks(n):
        for i in range(n):
            await asyncio.sleep(0.05)
            got = yield i
            if got == "stop":
                raise ValueError("agen boom")

    assert inspect.isasyncgenfunction(ticks)

    async def collect():
        return [i async for i in ticks(3)]

    assert asyncio.run(collect()) == [0, 1, 2]
    record = json.loads(path.read_text())
    assert record["status"] == "completed" and record["timing"]["duration_s"] >= 0.15

    async def send_stop():
        agen = ticks(3)
        assert await agen.asend(None) == 0
        await agen.asend("stop")

    with pytest.raises(ValueError, match="agen boom"):
        asyncio.run(send_stop())
    record = json.loads(path.read_text())
    assert record["status"] == "failed" and record["outcome"]["error"]["message"] == "agen boom"

    async def take_one():
        agen = ticks(5)
        first = await agen.__anext__()
        await agen.aclose()
        return first

    assert asyncio.run(take_one()) == 0
    assert json.loads(path.read_text())["status"] == "completed"


@pytest.mark.parametrize("spelling", ["runs/", "runs"])
def test_an_output_naming_a_folder_gets_a_record_file_of_its_own_in_it(tmp_path, monkeypatch, spelling):
    """As ``procrecord run -o DIR/``: a trailing slash (or a folder that exists) names a folder, and each
    run gets a new NAME-TIME-ID.procrecord.json there (a trailing slash used to write a file named runs)."""
    monkeypatch.chdir(tmp_path)
    if spelling == "runs":
        (tmp_path / "runs").mkdir()
    with Recorder("fit", output=spelling, argv=["fit"]) as first:
        pass
    with Recorder("fit", output=spelling, argv=["fit"]) as second:
        pass
    assert (tmp_path / "runs").is_dir()
    files = sorted((tmp_path / "runs").iterdir())
    assert len(files) == 2 and {first.output, second.output} == {str(f) for f in files}
    for path, recorder in ((first.output, first), (second.output, second)):
        name = os.path.basename(path)
        assert name.startswith("fit-") and name.endswith(f"-{recorder.id.replace('-', '')[:8]}.procrecord.json")
        record = json.loads(pathlib.Path(path).read_text())
        assert record["id"] == recorder.id and record["status"] == "completed" and validate(record) == []
