"""``procrecord run``: the child's exit code, signals, resources and record."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from procrecord.record.validation import validate

from helpers import ROOT

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def _run(tmp_path, *command, timeout=60):
    out = tmp_path / "rec.json"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(out), "--", *command],
                          capture_output=True, text=True, env=ENV, timeout=timeout, cwd=tmp_path)
    return proc, out


def test_exit_code_and_child_resources(tmp_path):
    proc, out = _run(tmp_path, sys.executable, "-c", "import sys; x = bytearray(80_000_000); sys.exit(3)")
    assert proc.returncode == 3
    record = json.loads(out.read_text())
    assert record["status"] == "failed" and record["outcome"]["exit_code"] == 3
    assert record["resources"]["children_peak_rss_bytes"] > 80_000_000
    assert record["invocation"]["argv"][0] == sys.executable and record["invocation"]["pid"] != os.getpid()
    assert validate(record) == []


def test_success_and_output_passthrough(tmp_path):
    proc, out = _run(tmp_path, sys.executable, "-c", "print('hello from the child')")
    assert proc.returncode == 0 and "hello from the child" in proc.stdout
    assert json.loads(out.read_text())["status"] == "completed"


def test_missing_command(tmp_path):
    proc, out = _run(tmp_path, "/definitely/not/here")
    assert proc.returncode == 127
    assert "cannot run /definitely/not/here: No such file or directory" in proc.stderr
    record = json.loads(out.read_text())
    assert record["status"] == "failed" and record["outcome"]["error"]["type"] == "FileNotFoundError"


def test_child_killed_by_a_signal(tmp_path):
    proc, out = _run(tmp_path, "bash", "-c", "kill -KILL $$")
    assert proc.returncode == 128 + signal.SIGKILL
    record = json.loads(out.read_text())
    assert record["outcome"]["signal"] == "SIGKILL" and record["status"] == "failed"


def _default_int_and_quit() -> None:
    """In the child: SIGINT, SIGQUIT and SIGHUP as a terminal's foreground job has them. A test run started
    as a background job of a non-interactive shell ignores the first two, one started under nohup ignores
    SIGHUP, and procrecord rightly keeps what its starter ignored (tested apart); these tests start it as a
    terminal would."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start_ready(tmp_path, script):
    """``procrecord run`` of a Python ``script`` that prints ``ready`` once it can take a signal."""
    out = tmp_path / "rec.json"
    proc = subprocess.Popen([sys.executable, "-m", "procrecord", "run", "-o", str(out), "--", sys.executable, "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path,
                            preexec_fn=_default_int_and_quit)
    assert proc.stdout.readline().strip() == "ready"
    return proc, out


def test_signals_are_forwarded(tmp_path):
    script = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\nprint('ready', flush=True)\ntime.sleep(30)\n"
    proc, out = _start_ready(tmp_path, script)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 42, "the child handled the forwarded SIGTERM and we exit with its code"
    record = json.loads(out.read_text())
    assert record["outcome"]["exit_code"] == 42 and record["timing"]["duration_s"] > 0


def test_flushes_while_running(tmp_path):
    """The record is rewritten while the command runs (--flush-interval), not only at its end."""
    out, done = tmp_path / "rec.json", tmp_path / "done"
    # the command runs until the test has seen a flushed record (at most 60 s): no race with a busy machine
    script = ("import os, time\nend = time.time() + 60\n"
              f"while not os.path.exists({str(done)!r}) and time.time() < end: time.sleep(0.05)\n")
    proc = subprocess.Popen([sys.executable, "-m", "procrecord", "run", "--flush-interval", "0.2", "-o", str(out), "--",
                             sys.executable, "-c", script], env=ENV, cwd=tmp_path)
    deadline, running = time.monotonic() + 60, None
    while time.monotonic() < deadline:
        if out.exists():
            record = json.loads(out.read_text())
            if record["timing"].get("duration_s", 0) > 0.3:  # written again after the start
                running = record
                break
        time.sleep(0.05)
    done.write_text("")
    assert running is not None and running["status"] == "running"
    assert proc.wait(timeout=60) == 0
    assert json.loads(out.read_text())["status"] == "completed"


def test_a_record_that_cannot_be_written_at_the_start_stops_the_command(tmp_path):
    (tmp_path / "blocker").write_text("")  # a file where the output folder should be
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(tmp_path / "blocker" / "r.json"), "--",
                           sys.executable, "-c", "import time, pathlib; time.sleep(3); pathlib.Path('ran').write_text('')"],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert proc.returncode == 3 and "cannot write the record to" in proc.stderr
    time.sleep(max(0.0, 3.5 - (time.monotonic() - start)))  # long enough for the command to have finished
    assert not (tmp_path / "ran").exists(), "the command was stopped, not left running unrecorded"


def test_a_record_that_cannot_be_written_at_the_end_keeps_the_commands_exit_code(tmp_path):
    folder = tmp_path / "out"
    script = f"import shutil, time, pathlib; time.sleep(0.5); shutil.rmtree({str(folder)!r}); pathlib.Path({str(folder)!r}).write_text(''); raise SystemExit(4)"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(folder / "r.json"), "--", sys.executable, "-c", script],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert proc.returncode == 4
    assert "cannot write the record to" in proc.stderr and "record written" not in proc.stderr


def test_emissions_options_without_emissions_or_with_a_bad_country_are_usage_errors():
    from click.testing import CliRunner

    from procrecord.cli import cli

    alone = CliRunner().invoke(cli, ["run", "--country", "FRA", "--", "true"])
    assert alone.exit_code == 2 and "add --emissions" in alone.stderr
    pytest.importorskip("codecarbon", reason="the countries known come from codecarbon (emissions extra)")
    bad = CliRunner().invoke(cli, ["run", "--emissions", "--country", "XYZ", "--", "true"])
    assert bad.exit_code == 2 and "not a country" in bad.stderr


@pytest.mark.parametrize("args, message", [
    (["--country", "USA", "--region", "nowhere"], "--region 'nowhere': not a region codecarbon knows for USA"),
    (["--region", "california"], "--region 'california': a region needs a country"),
])
def test_a_region_codecarbon_would_not_use_is_a_usage_error(args, message, monkeypatch):
    """It printed codecarbon's traceback, then recorded the region, emissions_kg and status ok."""
    from click.testing import CliRunner

    from procrecord.cli import cli

    pytest.importorskip("codecarbon", reason="the regions known come from codecarbon (emissions extra)")
    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    result = CliRunner().invoke(cli, ["run", "--emissions", *args, "--", "true"])
    assert result.exit_code == 2 and message in result.stderr and "Traceback" not in result.stderr


def test_a_small_commands_peak_rss_is_never_procrecords_own(tmp_path):
    """`run -- sh -c true` used to record procrecord's ~18 MB as the command's peak RSS."""
    proc, out = _run(tmp_path, "sh", "-c", "true")
    assert proc.returncode == 0
    record = json.loads(out.read_text())
    peak = record["resources"].get("children_peak_rss_bytes")
    assert peak is None or peak < 8_000_000, peak
    if peak is None:
        (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "resources"]
        assert "peak RSS is not known" in note["reason"]
    assert record["resources"]["children_cpu_user_s"] >= 0 and validate(record) == []


def _exact_spawn_available():
    from procrecord.writer import spawn

    return sys.platform.startswith("linux") and spawn._env_program() is not None


exact_only = pytest.mark.skipif(not _exact_spawn_available(),
                                reason="the exact peak needs Linux and GNU env --default-signal")


@exact_only
def test_a_small_commands_peak_rss_is_its_own(tmp_path):
    """`run -- sh -c true`: the command's own ~1.5 MB (as /usr/bin/time says), not procrecord's ~20 MB."""
    proc, out = _run(tmp_path, "sh", "-c", "true")
    assert proc.returncode == 0
    record = json.loads(out.read_text())
    assert 0 < record["resources"]["children_peak_rss_bytes"] < 8_000_000
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "resources"]
    assert "reason" not in note and validate(record) == []


@exact_only
def test_a_big_commands_peak_rss_is_its_own(tmp_path):
    script = "x = bytearray(200_000_000)\nfor i in range(0, len(x), 4096): x[i] = 1"
    proc, out = _run(tmp_path, sys.executable, "-c", script)
    assert proc.returncode == 0
    peak = json.loads(out.read_text())["resources"]["children_peak_rss_bytes"]
    assert 200_000_000 < peak < 260_000_000, peak  # the 200 MB and one interpreter, nothing of procrecord's


def test_the_command_shares_stdin_process_group_and_no_other_descriptor(tmp_path):
    """However the command is started, it reads our stdin, sits in our process group (a terminal's
    Ctrl-C reaches it) and inherits no descriptor beyond 0-2, as with Popen."""
    script = ("import json, os, sys, signal\n"
              "def inheritable(fd):\n"
              "    try:\n        return os.get_inheritable(fd)\n    except OSError:\n        return False\n"
              "print(json.dumps([sys.stdin.read(), os.getpgrp() == os.getppid(),"
              " [f for f in map(int, os.listdir('/proc/self/fd')) if f > 2 and inheritable(f)],"
              " signal.getsignal(signal.SIGINT) is signal.default_int_handler,"
              " signal.getsignal(signal.SIGQUIT) is signal.SIG_DFL]))")
    read_end, write_end = os.pipe()
    os.set_inheritable(write_end, True)
    try:
        proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(tmp_path / "r.json"), "--",
                               sys.executable, "-c", script], input="from stdin", capture_output=True, text=True,
                              env=ENV, timeout=60, cwd=tmp_path, pass_fds=(write_end,), start_new_session=True,
                              preexec_fn=_default_int_and_quit)
    finally:
        os.close(read_end)
        os.close(write_end)
    assert proc.returncode == 0, proc.stderr
    said, same_group, fds, default_int, default_quit = json.loads(proc.stdout)
    assert said == "from stdin" and fds == []
    assert same_group, "start_new_session: procrecord leads its group, and the command must be in it"
    assert default_int and default_quit, "SIGINT and SIGQUIT as a foreground command has them"


def test_a_forwarded_sigint_interrupts_the_command(tmp_path):
    """The command does not inherit the SIGINT-ignoring of a shell's background job."""
    proc, out = _start_ready(tmp_path, "import time\nprint('ready', flush=True)\ntime.sleep(30)\n")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 128 + signal.SIGINT  # Python's KeyboardInterrupt ends it by SIGINT
    record = json.loads(out.read_text())
    assert record["status"] == "interrupted" and record["outcome"]["signal"] == "SIGINT"


def test_a_sigint_ignored_by_whoever_started_procrecord_stays_ignored_in_the_command(tmp_path):
    """As with a direct spawn (`nohup`-style starters, a shell's background job): only the ignoring a
    background job of our own shell would add is undone."""
    script = "import signal; print(signal.getsignal(signal.SIGINT) is signal.SIG_IGN)"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(tmp_path / "r.json"), "--",
                           sys.executable, "-c", script], capture_output=True, text=True, env=ENV, timeout=60,
                          cwd=tmp_path, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr


def test_without_the_small_shell_a_small_peak_is_left_out_with_the_reason(tmp_path, monkeypatch):
    """Where the command cannot be forked by a small shell (not Linux, no GNU env), it is spawned
    directly, and a peak no higher than procrecord's own is not called the command's."""
    from procrecord.writer import runner, spawn

    monkeypatch.setattr(spawn, "_ENV", [None])
    code = runner.run_command(["sh", "-c", "exit 5"], str(tmp_path / "r.json"), flush_interval=0, collectors=[])
    assert code == 5
    record = json.loads((tmp_path / "r.json").read_text())
    assert "children_peak_rss_bytes" not in record["resources"] and record["outcome"]["exit_code"] == 5
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "resources"]
    assert "peak RSS is not known" in note["reason"]


def test_output_folder_and_replacing_a_record(tmp_path):
    folder = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", f"{folder}/", "--", "true"],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (made,) = folder.iterdir()
    record = json.loads(made.read_text())
    assert re.fullmatch(r"true-\d{8}T\d{6}-[0-9a-f]{8}\.procrecord\.json", made.name)
    assert made.name.split("-")[2].split(".")[0] == record["id"].replace("-", "")[:8]
    again = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(made), "--", "true"],
                           capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert again.returncode == 0 and f"{made} exists: it will be replaced" in again.stderr


def test_an_existing_file_that_is_no_record_is_not_replaced_and_the_command_not_run(tmp_path):
    """`-o train.py` replaced the job's own script with its record (rc 0, "it will be replaced")."""
    marker = tmp_path / "ran"
    script = tmp_path / "train11.py"
    script.write_text("print(1)\n")
    several = tmp_path / "runs.jsonl"
    proc, one = _run(tmp_path, "true")
    line = json.dumps(json.loads(one.read_text())) + "\n"
    several.write_text(line + line)
    for target, why in ((script, "is not a procrecord record"), (several, "more than one line")):
        before = target.read_bytes()
        proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", target.name, "--", "touch", str(marker)],
                              capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
        assert proc.returncode == 3, proc.stderr
        (said,) = proc.stderr.splitlines()
        assert target.name in said and why in said and "the command was not run" in said, said
        assert target.read_bytes() == before and not marker.exists()


@pytest.mark.parametrize("name, content", [
    ("empty.json", ""),
    ("one.jsonl", "RECORD_LINE"),  # a JSON Lines output holds one record: replaced as a record is
    ("legacy.json", "LEGACY"),
])
def test_an_empty_file_or_an_earlier_record_is_replaced_and_said(tmp_path, name, content):
    proc, first = _run(tmp_path, "true")
    record = json.loads(first.read_text())
    legacy = (ROOT / "fixtures" / "0" / "valid" / "full-telemetry.json").read_text()
    target = tmp_path / name
    target.write_text(content.replace("RECORD_LINE", json.dumps(record) + "\n").replace("LEGACY", legacy))
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", name, "--", "true"],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert f"{name} exists: it will be replaced" in proc.stderr
    (new,) = [json.loads(line) for line in target.read_text().splitlines()] if name.endswith(".jsonl") else \
        [json.loads(target.read_text())]
    assert new["status"] == "completed" and new["id"] != record["id"]


def _run_into(folder, *command, cwd):
    return subprocess.Popen([sys.executable, "-m", "procrecord", "run", "-o", f"{folder}/", "--", *command],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=cwd)


def test_runs_into_one_folder_one_after_another_each_keep_their_record(tmp_path):
    """Quick runs in the same second used to get the same name, each replacing the last."""
    for _ in range(3):
        proc = _run_into(tmp_path / "loop", "true", cwd=tmp_path)
        assert proc.wait(timeout=60) == 0
    assert len(list((tmp_path / "loop").iterdir())) == 3


def test_concurrent_runs_into_one_folder_each_get_a_file_of_their_own(tmp_path):
    procs = [_run_into(tmp_path / "par", "sh", "-c", f"sleep 0.5; exit {code}", cwd=tmp_path) for code in range(1, 5)]
    said = []
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        said.append(re.search(r"record written to (\S+)", err).group(1))
    assert sorted(proc.returncode for proc in procs) == [1, 2, 3, 4]
    assert len(set(said)) == 4, said
    records = [json.loads(path.read_text()) for path in (tmp_path / "par").iterdir()]
    assert sorted(r["outcome"]["exit_code"] for r in records) == [1, 2, 3, 4]
    assert all(validate(r) == [] for r in records)


def test_a_new_record_file_never_takes_an_existing_name(tmp_path):
    from procrecord import Recorder
    from procrecord.writer import runner

    first = Recorder("job", collectors=[], use_plugins=False, handle_signals=False).start()
    taken = tmp_path / runner.record_name("job", first.id)
    taken.write_text("someone else's record")
    path = first._write_new(runner.record_paths(str(tmp_path), "job", first.id))
    assert path != str(taken) and taken.read_text() == "someone else's record"
    assert json.loads(Path(path).read_text())["id"] == first.id and first.output == path
    first.stop()
    assert json.loads(Path(path).read_text())["status"] == "completed"


def test_an_output_folder_that_is_a_file_is_said_in_one_line(tmp_path):
    (tmp_path / "a.json").write_text("{}")
    for target in ("a.json/", "a.json/sub/r.json"):
        proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", target, "--", "true"],
                              capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
        assert proc.returncode == 3
        (line,) = proc.stderr.splitlines()
        assert "a.json is a file, not a folder" in line and "File exists" not in line
    assert (tmp_path / "a.json").read_text() == "{}"


def _interval(start, stop):
    import datetime as dt

    return dt.datetime.fromisoformat(start).timestamp(), dt.datetime.fromisoformat(stop).timestamp()


def test_the_energy_of_a_run_covers_the_command_from_start_to_end(tmp_path):
    """The estimator probes the hardware for seconds; it used to start while the command ran and
    measure only after it ended (0 kWh of CPU, said `ok`). Now the command waits for it."""
    pytest.importorskip("codecarbon")
    out = tmp_path / "em.json"
    busy = "import time\nend = time.perf_counter() + 1.5\nwhile time.perf_counter() < end: pass"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "--emissions", "--country", "FRA", "-o", str(out),
                           "--", sys.executable, "-c", busy], capture_output=True, text=True, env=ENV, timeout=120,
                          cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "emissions"]
    assert note["status"] == "ok", note
    start, stop = _interval(record["timing"]["start_time"], record["timing"]["stop_time"])
    assert stop - start >= 1.5
    cpu = next(m for m in record["emissions"]["measurements"] if m["component"] == "cpu")
    first, last = _interval(cpu["start_time"], cpu["stop_time"])
    assert max(0.0, min(stop, last) - max(start, first)) >= 0.9 * (stop - start), (record["timing"], cpu)
    assert record["emissions"]["cpu_energy_kwh"] > 0 and cpu["energy_kwh"] > 0
    assert validate(record) == []


@exact_only
def test_a_held_command_runs_only_when_released(tmp_path):
    from procrecord.writer.spawn import spawn

    script = [sys.executable, "-c", "import pathlib, sys; pathlib.Path(sys.argv[1]).write_text('ran')"]
    killed = spawn([*script, str(tmp_path / "killed")], dict(os.environ), hold=True)
    assert killed.pid is not None and killed.exact_peak
    killed.kill()
    held = spawn([*script, str(tmp_path / "released")], dict(os.environ), hold=True)
    pid = held.pid
    held.release()
    held.wait_ended()
    with open(f"/proc/{pid}/stat") as handle:  # ended, not reaped: its CPU times can still be read
        assert handle.read().rsplit(")", 1)[1].split()[0] == "Z"
    status, rusage = held.wait()
    assert os.waitstatus_to_exitcode(status) == 0 and rusage is not None
    assert (tmp_path / "released").read_text() == "ran"
    assert not (tmp_path / "killed").exists(), "a held command that is killed never runs"


def test_a_held_command_spawned_directly_starts_at_the_release(tmp_path, monkeypatch):
    from procrecord.writer import spawn as module

    monkeypatch.setattr(module, "_can_fork_small", lambda argv, env: False)
    child = module.spawn([sys.executable, "-c", "raise SystemExit(7)"], dict(os.environ), hold=True)
    assert child.pid is None
    child.release()
    assert child.pid is not None and os.waitstatus_to_exitcode(child.wait()[0]) == 7
    missing = module.spawn(["procrecord-no-such-command"], dict(os.environ), hold=True)
    with pytest.raises(FileNotFoundError):
        missing.release()


def test_an_output_that_is_a_pipe_is_not_replaced_and_the_command_not_run(tmp_path):
    """A named pipe (or a device: ``-o /dev/null`` as root) at ``-o`` stays what it is."""
    import stat

    fifo = tmp_path / "record.pipe"
    os.mkfifo(fifo)
    marker = tmp_path / "ran"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(fifo), "--", "touch", str(marker)],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert proc.returncode == 3 and "not a regular file (a named pipe)" in proc.stderr
    assert "will be replaced" not in proc.stderr
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and not marker.exists()


def test_a_json_lines_output_gets_one_line_that_validate_and_read_accept(tmp_path):
    from click.testing import CliRunner

    import procrecord
    from procrecord.cli import cli
    from procrecord.writer import runner

    path = tmp_path / "r.jsonl"
    assert runner.run_command(["true"], str(path), flush_interval=0) == 0
    text = path.read_text()
    assert text.endswith("\n") and text.count("\n") == 1, text[:200]
    (record,) = procrecord.read(path)
    assert record.status == "completed"
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_a_sigint_while_the_record_notes_the_commands_start_is_forwarded_to_it(tmp_path, monkeypatch):
    """The forwarding handlers are in place before the held command is released: a Ctrl-C that comes while
    procrecord notes the command's start (a write, slow on a busy disk) reaches the command. It used to
    stop procrecord instead (seen once in CI as a timeout of the SIGINT test)."""
    from procrecord.writer import runner
    from procrecord.writer.recorder import Recorder

    begin = Recorder._begin_job

    def begin_then_interrupt(self, pid):
        begin(self, pid)
        time.sleep(1.0)  # the command is running Python, with its own SIGINT handler
        os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(Recorder, "_begin_job", begin_then_interrupt)
    out = tmp_path / "r.json"
    code = runner.run_command([sys.executable, "-c", "import time; time.sleep(30)"], str(out), flush_interval=0,
                              collectors=[])
    assert code == 128 + signal.SIGINT
    record = json.loads(out.read_text())
    assert record["status"] == "interrupted" and record["outcome"]["signal"] == "SIGINT"


def _counting(signame, counted):
    """A command that counts the ``signame`` signals it gets from the first one until 3 s after it,
    writes the count to ``counted`` and then ends by that signal (so procrecord records it). Each
    delivery writes a byte to Python's wakeup fd, even two that its handler would see as one."""
    return ("import os, signal, time\n"
            f"sig = signal.{signame}\n"
            "read_end, write_end = os.pipe()\n"
            "os.set_blocking(read_end, False)\n"
            "os.set_blocking(write_end, False)\n"
            "signal.set_wakeup_fd(write_end)\n"
            "seen = []\n"
            "signal.signal(sig, lambda *a: seen.append(time.monotonic()))\n"
            "print('ready', flush=True)\n"
            "end = time.monotonic() + 30\n"
            "while time.monotonic() < end and (not seen or time.monotonic() < seen[0] + 3):\n"
            "    time.sleep(0.05)\n"
            "got = b''\n"
            "while True:\n"
            "    try:\n"
            "        got += os.read(read_end, 64)\n"
            "    except BlockingIOError:\n"
            "        break\n"
            f"open({str(counted)!r}, 'w').write(str(got.count(bytes([sig]))))\n"
            "signal.signal(sig, signal.SIG_DFL)\n"
            "os.kill(os.getpid(), sig)\n")


#: ``procrecord run`` that passes a signal on 1 s late: a second copy cannot merge with the command's own
#: while that is still pending (two SIGINTs that come together are one), so one passed on is seen.
SLOW_TO_PASS_ON = [sys.executable, "-c", "import time\nfrom procrecord.writer.spawn import Child\n"
                   "send = Child.send_signal\n"
                   "Child.send_signal = lambda self, signum: (time.sleep(1), send(self, signum))[1]\n"
                   "from procrecord.cli import main\nmain()", "run"]


def test_ctrl_c_at_a_terminal_reaches_the_command_once(tmp_path):
    """The terminal sends Ctrl-C's SIGINT to its foreground process group, the command included:
    procrecord, which gets it too, must not pass on a second one (it used to: a job's clean-up on
    KeyboardInterrupt was itself interrupted)."""
    import fcntl
    import termios

    master, slave = os.openpty()

    def on_the_terminal():  # procrecord leads a session whose controlling terminal is the pty
        _default_int_and_quit()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    out, counted = tmp_path / "rec.json", tmp_path / "counted"
    try:
        proc = subprocess.Popen([*SLOW_TO_PASS_ON, "-o", str(out), "--", sys.executable, "-c",
                                 _counting("SIGINT", counted)], stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path, start_new_session=True,
                                preexec_fn=on_the_terminal)
        os.close(slave)
        slave = -1
        assert proc.stdout.readline().strip() == "ready"
        os.write(master, b"\x03")  # Ctrl-C typed at the terminal
        _, err = proc.communicate(timeout=30)
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)
    assert counted.read_text() == "1", "the command got one SIGINT, not the terminal's and a forwarded one"
    assert proc.returncode == 128 + signal.SIGINT, err
    record = json.loads(out.read_text())
    assert record["status"] == "interrupted" and record["outcome"]["signal"] == "SIGINT"


def test_a_terminal_hangup_reaches_the_command_once(tmp_path):
    """A hangup: the kernel signals the session leader (here a shell that runs procrecord), which ends,
    and then the terminal's foreground group, procrecord and its command: not passed on again."""
    import fcntl
    import shlex
    import termios

    master, slave = os.openpty()

    def on_the_terminal():
        _default_int_and_quit()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    out, counted = tmp_path / "rec.json", tmp_path / "counted"
    run = [*SLOW_TO_PASS_ON, "-o", str(out), "--", sys.executable, "-c", _counting("SIGHUP", counted)]
    try:  # `; exit`: the shell waits for procrecord rather than becoming it
        shell = subprocess.Popen(["/bin/sh", "-c", f"{shlex.join(run)}; exit $?"], stdin=slave,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path,
                                 start_new_session=True, preexec_fn=on_the_terminal)
        os.close(slave)
        slave = -1
        assert shell.stdout.readline().strip() == "ready"
    finally:
        os.close(master)  # the terminal goes away
        if slave >= 0:
            os.close(slave)
    _, err = shell.communicate(timeout=30)  # until procrecord and its command, which hold the pipes, end
    assert counted.read_text() == "1", "the command got one SIGHUP, not the kernel's and a forwarded one"
    record = json.loads(out.read_text())
    assert record["status"] == "interrupted" and record["outcome"]["signal"] == "SIGHUP", err


def test_a_sigint_from_the_terminal_is_passed_on_to_a_command_that_left_the_group(tmp_path, monkeypatch):
    """Only a signal the command got too is kept back: one made by the kernel for procrecord's group
    (the terminal's), while the command is in that group; a kill() is always passed on."""
    from procrecord.writer import forwarding

    proc = subprocess.Popen([sys.executable, "-c", "import os, time; os.setpgid(0, 0); time.sleep(30)"])
    try:
        deadline = time.monotonic() + 30
        while os.getpgid(proc.pid) != proc.pid and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not forwarding.reached_command(signal.SIGINT, forwarding.SI_KERNEL, proc.pid)
    finally:
        proc.kill()
        proc.wait()
    me = os.getpid()  # (procrecord itself stands for a command in its group here)
    assert forwarding.reached_command(signal.SIGINT, forwarding.SI_KERNEL, me)
    assert forwarding.reached_command(signal.SIGWINCH, forwarding.SI_KERNEL, me)
    assert not forwarding.reached_command(signal.SIGINT, 0, me)  # SI_USER: kill(pid) and kill(-pgid) look alike
    assert not forwarding.reached_command(signal.SIGTERM, forwarding.SI_KERNEL, me)
    monkeypatch.setattr(os, "getsid", lambda pid: me)  # the session leader alone gets a hangup
    assert not forwarding.reached_command(signal.SIGHUP, forwarding.SI_KERNEL, me)
    monkeypatch.setattr(os, "getsid", lambda pid: me + 1)  # else the kernel's SIGHUP went to the group
    assert forwarding.reached_command(signal.SIGHUP, forwarding.SI_KERNEL, me)


def _interrupt_while_getting_ready(monkeypatch):
    from procrecord.writer.recorder import Recorder

    def start(self):  # as Python's SIGINT handler, for a Ctrl-C while the energy estimator probes the hardware
        raise KeyboardInterrupt

    monkeypatch.setattr(Recorder, "start", start)


def test_ctrl_c_while_getting_ready_exits_130_and_the_command_never_runs(tmp_path, monkeypatch, capsys):
    """It used to end in click's `Aborted!` and exit 1, which means "findings"."""
    from procrecord.writer import runner

    _interrupt_while_getting_ready(monkeypatch)
    marker, out = tmp_path / "ran", tmp_path / "rec.json"
    try:
        code = runner.run_command(["touch", str(marker)], str(out), flush_interval=0, collectors=[])
    except KeyboardInterrupt:
        pytest.fail("the KeyboardInterrupt escaped run_command")
    assert code == 128 + signal.SIGINT
    (line,) = capsys.readouterr().err.splitlines()
    assert line == "procrecord: interrupted before touch started; it was not run"
    time.sleep(0.5)
    assert not marker.exists() and not out.exists()


def test_ctrl_c_while_getting_ready_is_exit_130_at_the_command_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from procrecord.cli import cli

    _interrupt_while_getting_ready(monkeypatch)
    result = CliRunner().invoke(cli, ["run", "-o", str(tmp_path / "rec.json"), "--", "true"])
    assert result.exit_code == 128 + signal.SIGINT, result.output
    assert "Aborted" not in result.output and "interrupted before true started" in result.output


def test_ctrl_c_while_the_country_is_checked_is_exit_130(tmp_path, monkeypatch):
    """Checking --country imports codecarbon (seconds), before run_command."""
    from click.testing import CliRunner

    from procrecord.cli import cli
    from procrecord.collectors import emissions

    def check_options(options):
        raise KeyboardInterrupt

    monkeypatch.setattr(emissions, "check_options", check_options)
    result = CliRunner().invoke(cli, ["run", "--emissions", "--country", "FRA", "-o", str(tmp_path / "r.json"), "--",
                                      "touch", str(tmp_path / "ran")])
    assert result.exit_code == 128 + signal.SIGINT, result.output
    assert "procrecord: interrupted before touch started; it was not run" in result.output
    assert not (tmp_path / "ran").exists()


def test_an_empty_command_name_is_not_found(tmp_path):
    """As a shell says it (127), not "Permission denied" (126) from trying every folder of PATH."""
    proc, out = _run(tmp_path, "")
    assert proc.returncode == 127, proc.stderr
    assert "procrecord: cannot run '': command not found" in proc.stderr
    record = json.loads(out.read_text())
    assert record["status"] == "failed" and record["outcome"]["error"]["type"] == "FileNotFoundError"
    assert validate(record) == []
