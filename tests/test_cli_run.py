"""``procrecord run``: the child's exit code, signals, resources and record."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

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


def test_signals_are_forwarded(tmp_path):
    out = tmp_path / "rec.json"
    script = "import signal, sys, time\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(42))\nprint('ready', flush=True)\ntime.sleep(30)\n"
    proc = subprocess.Popen([sys.executable, "-m", "procrecord", "run", "-o", str(out), "--", sys.executable, "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=tmp_path)
    assert proc.stdout.readline().strip() == "ready"
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


def test_output_folder_and_replacing_a_record(tmp_path):
    folder = tmp_path / "runs"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", f"{folder}/", "--", "true"],
                          capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    (made,) = folder.iterdir()
    assert made.name.startswith("true-") and made.name.endswith(".procrecord.json")
    again = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(made), "--", "true"],
                           capture_output=True, text=True, env=ENV, timeout=60, cwd=tmp_path)
    assert again.returncode == 0 and f"{made} exists: it will be replaced" in again.stderr
