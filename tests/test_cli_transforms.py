"""``redact``, ``upgrade``, ``downgrade`` from the command line: outputs, atomicity, exit codes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from procrecord.cli import cli
from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate

from helpers import FIXTURES, ROOT, load_json

GPU = FIXTURES / "1.0" / "valid" / "gpu-training.json"
LEGACY = FIXTURES / "0" / "valid"


def invoke(*args, input=None, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], input=input, env=env, catch_exceptions=False)


def test_redact_one_file_to_stdout():
    result = invoke("redact", "--level", "most", GPU)
    assert result.exit_code == 0, result.stderr
    out = json.loads(result.stdout)
    assert check_level(out, "most") == [] and validate(out) == []
    assert "redacted 1 record" in result.stderr and "removed" in result.stderr


def test_redact_jsonl_line_by_line(tmp_path):
    src = tmp_path / "runs.jsonl"
    rec = load_json(GPU)
    src.write_text("\n".join(json.dumps(dict(rec, id=f"00000000-0000-4000-8000-00000000000{i}")) for i in range(3)) + "\n")
    result = invoke("redact", "--level", "all", src)
    lines = result.stdout.splitlines()
    assert result.exit_code == 0 and len(lines) == 3
    assert [json.loads(line)["id"][-1] for line in lines] == ["0", "1", "2"]


def test_redact_output_dir_mirrors_the_tree(tmp_path):
    src = tmp_path / "in"
    (src / "a" / "b").mkdir(parents=True)
    shutil.copy(GPU, src / "a" / "b" / "gpu.json")
    shutil.copy(LEGACY / "full-telemetry.json", src / "legacy.json")
    out = tmp_path / "out"
    result = invoke("redact", "--level", "most", "-o", out, src)
    assert result.exit_code == 0, result.output
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.json")) == ["a/b/gpu.json", "legacy.json"]
    legacy_out = load_json(out / "legacy.json")
    assert legacy_out["schema_version"] == current_version() and check_level(legacy_out, "most") == []
    assert (src / "a" / "b" / "gpu.json").read_bytes() == GPU.read_bytes(), "inputs are never touched"


def test_redact_in_place_and_a_bad_file_is_left_alone(tmp_path):
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    rec = json.dumps(load_json(GPU))
    good.write_text(rec + "\n" + rec + "\n")
    bad_bytes = (rec + "\n{broken\n").encode()
    bad.write_bytes(bad_bytes)
    result = invoke("redact", "--level", "most", "--in-place", tmp_path)
    assert result.exit_code == 1
    assert "bad.jsonl:2:: error" in result.stderr and "bad.jsonl:: not rewritten" in result.stderr
    assert bad.read_bytes() == bad_bytes
    assert all(check_level(json.loads(line), "most") == [] for line in good.read_text().splitlines())
    assert not list(tmp_path.glob(".*.tmp")), "no temp files left behind"


def test_several_inputs_need_a_destination(tmp_path):
    result = invoke("redact", "--level", "most", GPU, LEGACY / "full-telemetry.json")
    assert result.exit_code == 2 and "--output-dir or --in-place" in result.stderr
    both = invoke("redact", "--level", "most", "-o", tmp_path / "x", "--in-place", GPU)
    assert both.exit_code == 2 and "either --output-dir or --in-place" in both.stderr  # a usage error
    assert not (tmp_path / "x").exists()


def test_pseudonymize_needs_a_good_key(tmp_path):
    env = {"PROCRECORD_REDACT_KEY": ""}
    assert invoke("redact", "--level", "most", "--pseudonymize", GPU, env=env).exit_code == 2
    env = {"PROCRECORD_REDACT_KEY": "too-short"}
    result = invoke("redact", "--level", "most", "--pseudonymize", GPU, env=env)
    assert result.exit_code == 2 and "at least 32" in result.stderr
    key = "correct-horse-battery-staple-0123456789"
    result = invoke("redact", "--level", "most", "--pseudonymize", GPU, env={"PROCRECORD_REDACT_KEY": key})
    assert result.exit_code == 0 and key not in result.stdout
    assert json.loads(result.stdout)["host"]["hostname"].startswith("hmac:")


def test_interrupted_in_place_run_leaves_each_file_whole(tmp_path, monkeypatch):
    for i in range(3):
        shutil.copy(GPU, tmp_path / f"r{i}.json")
    original = GPU.read_bytes()
    from procrecord.operations import transforms

    real = transforms.RedactRecord.__call__

    def flaky(self, item):
        if item.source.endswith("r1.json"):
            raise KeyboardInterrupt
        return real(self, item)

    monkeypatch.setattr(transforms.RedactRecord, "__call__", flaky)
    result = CliRunner().invoke(cli, ["redact", "--level", "most", "--in-place", str(tmp_path)])
    assert result.exit_code == 130
    assert check_level(load_json(tmp_path / "r0.json"), "most") == []
    assert (tmp_path / "r1.json").read_bytes() == original
    assert (tmp_path / "r2.json").read_bytes() == original
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
def _running_on(path) -> list[int]:
    """The processes (Linux: from /proc) whose command line names ``path``."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if str(path).encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def test_killed_in_place_run_never_tears_a_file(tmp_path):
    rec = json.dumps(load_json(GPU))
    original = (rec + "\n") * 400
    for i in range(40):
        (tmp_path / f"r{i:02d}.jsonl").write_text(original)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "procrecord", "redact", "--level", "most", "--in-place", str(tmp_path)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    # Killed as soon as the first files have been replaced (outputs are committed in batches).
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.stat().st_size != len(original) for p in tmp_path.glob("r*.jsonl")):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    # The committing process forked by the run (Linux) dies with it, as a committing thread would.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running_on(tmp_path):
        time.sleep(0.05)
    assert not _running_on(tmp_path), "a process of the killed run is still running"
    redacted = 0
    for path in sorted(tmp_path.glob("r*.jsonl")):
        text = path.read_text()
        if text == original:
            continue
        lines = text.splitlines()
        assert len(lines) == 400
        assert all(check_level(json.loads(line), "most") == [] for line in lines[:5] + lines[-5:])
        redacted += 1
    assert 0 < redacted < 40 or redacted == 40, "the run should have been killed part way (or just finished)"


def test_upgrade_check_writes_nothing_and_exits_1(tmp_path):
    shutil.copy(LEGACY / "full-telemetry.json", tmp_path / "a.json")
    before = (tmp_path / "a.json").read_bytes()
    result = invoke("upgrade", "--check", tmp_path)
    assert result.exit_code == 1 and f"needs-upgrade: version 0 -> {current_version()}" in result.stdout
    assert (tmp_path / "a.json").read_bytes() == before


@pytest.mark.parametrize("source", [LEGACY / "full-telemetry.json", GPU, FIXTURES / "1.1" / "valid" / "minimal.json"])
@pytest.mark.parametrize("to", ["0", "1.0", "1.1"])
def test_upgrade_check_predicts_the_run(source, to):
    """What the run refuses (an older --to: use downgrade), --check reports as the same error and exit
    code; what it upgrades, --check calls needs-upgrade; what is current, both leave (exit 0)."""
    check, run = invoke("upgrade", "--check", "--to", to, source), invoke("upgrade", "--to", to, source)
    said = [line for line in check.output.splitlines() if ":: " in line]
    if run.exit_code:  # the run's findings go to stderr when its records go to stdout
        assert said == [line for line in run.stderr.splitlines() if ":: " in line] and "error: cannot" in said[0]
        assert check.exit_code == run.exit_code == 1
    elif load_json(source).get("schema_version", "0") != to:
        assert json.loads(run.stdout)["schema_version"] == to
        assert said == [f"{source}:: needs-upgrade: version {load_json(source).get('schema_version', '0')} -> {to}"]
        assert check.exit_code == 1
    else:
        assert said == [] and check.exit_code == 0


def test_upgrade_in_place_and_current_files_untouched(tmp_path):
    shutil.copy(LEGACY / "with-emissions.json", tmp_path / "old.json")
    current = json.dumps(upgrade(load_json(GPU)), indent=2).encode()
    (tmp_path / "new.json").write_bytes(current)
    stat_before = (tmp_path / "new.json").stat()
    result = invoke("upgrade", "--in-place", tmp_path)
    assert result.exit_code == 0, result.output
    upgraded = load_json(tmp_path / "old.json")
    assert upgraded["schema_version"] == current_version() and upgraded["provenance"]["upgraded_from"] == "0"
    assert (tmp_path / "new.json").read_bytes() == current
    assert (tmp_path / "new.json").stat().st_ino == stat_before.st_ino, "an already-current file is not rewritten"
    assert invoke("upgrade", "--check", tmp_path).exit_code == 0


def test_upgrade_to_unknown_version_exits_3():
    assert invoke("upgrade", "--to", "9.9", GPU).exit_code == 3


def test_newer_record_versions_are_errors_without_validate_only_hints(tmp_path):
    """Only validate has --schema-version: the other commands must not point to it."""
    path = tmp_path / "newer.json"
    path.write_text(json.dumps(dict(load_json(GPU), schema_version="1.7")))
    for args in (("upgrade",), ("redact", "--level", "most"), ("downgrade",)):
        result = invoke(*args, path)
        assert result.exit_code == 1, args
        assert "newer than this installation knows" in result.stderr and "--schema-version" not in result.output, args


def test_downgrade_reports_what_it_dropped():
    result = invoke("downgrade", GPU)
    assert result.exit_code == 0
    legacy = json.loads(result.stdout)
    assert legacy["type"] == "process" and legacy["properties"]["machine"]["cpu_brand"].startswith("AMD")
    assert "dropped" in result.stderr and "/python/packages" in result.stderr and "/git" in result.stderr


def _kwcoco(tmp_path):
    doc = {"info": [{"type": "other", "properties": {"x": 1}}, load_json(LEGACY / "full-telemetry.json")],
           "images": [{"id": 1, "file_name": "a.png"}], "annotations": [], "categories": [{"id": 1, "name": "car"}]}
    path = tmp_path / "data.kwcoco.json"
    path.write_text(json.dumps(doc))
    return path, doc


def test_embedded_records_are_upgraded_in_result_files(tmp_path):
    path, doc = _kwcoco(tmp_path)
    result = invoke("upgrade", "--embedded", "--in-place", path)
    assert result.exit_code == 0, result.output
    new = load_json(path)
    assert new["info"][0] == doc["info"][0]
    assert new["info"][1]["schema_version"] == current_version()
    assert {k: v for k, v in new.items() if k != "info"} == {k: v for k, v in doc.items() if k != "info"}


def test_embedded_validation_and_redaction(tmp_path):
    path, doc = _kwcoco(tmp_path)
    doc["info"][1]["properties"]["args"] = 5
    path.write_text(json.dumps(doc))
    result = invoke("validate", "--embedded", path)
    assert result.exit_code == 1 and "::$.info[1].properties.args" in result.stdout
    path, _ = _kwcoco(tmp_path)
    result = invoke("redact", "--embedded", "--level", "most", path)
    assert result.exit_code == 0
    redacted = json.loads(result.stdout)["info"][1]
    assert check_level(redacted, "most") == [] and redacted["redaction"]["level"] == "most"


def test_show_summarises_any_version():
    result = invoke("show", FIXTURES / "1.0" / "valid" / "gpu-training.json", LEGACY / "handmade-gpu-device-info.json")
    assert result.exit_code == 0
    header, first, second = result.stdout.splitlines()
    assert header.split()[:3] == ["RECORD", "NAME", "STATUS"]
    assert "geowatch.fit" in first and "completed" in first and "NVIDIA H100 80GB HBM3" in first and "2.41 kWh" in first
    assert "26h35m38s" in second
    assert header.index("STATUS") == first.index("completed") == second.index("completed"), "an aligned table"


def test_show_hardware_counts_gpus_that_could_not_be_read_apart_and_names_the_cpu(tmp_path):
    record = _cpu_record_with_unread_gpus()
    path = tmp_path / "col.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    assert validate(record) == []
    table = invoke("show", path)
    assert table.exit_code == 0, table.output
    header, row = table.stdout.splitlines()
    assert row[header.index("HARDWARE"):].startswith("AMD EPYC, 2 GPUs not read  ")
    assert "gpu, gpu" not in row
    shown = json.loads(invoke("show", "--format", "json", path).stdout)["records"][0]["info"]
    assert shown["hardware"] == "AMD EPYC, 2 GPUs not read"


def _cpu_record_with_unread_gpus() -> dict:
    """A CPU-only job that asked for two GPUs (NVML missing), as the writer records it."""
    record = upgrade(load_json(GPU), current_version())
    record["devices"] = [{"index": 0, "type": "gpu", "error": "NVML unavailable: NVML Shared Library Not Found"},
                         {"index": 1, "type": "gpu", "error": "NVML unavailable: NVML Shared Library Not Found"},
                         {"index": 0, "type": "cpu", "name": "AMD EPYC"}]
    record["host"]["cpu"]["model"] = "AMD EPYC"
    return record


def test_show_start_times_are_in_utc_and_names_stay_on_their_row(tmp_path):
    india = load_json(LEGACY / "handmade-india-offset-cpu-device.json")
    assert india["properties"]["start_timestamp"] == "2024-12-31T235959+0530"
    named = upgrade(load_json(GPU), current_version())
    named["name"] = "fit\nsecond line\x1b[31m"
    wide = dict(named, name="学習", id="0b5e2d7c-9a1f-4e3b-8c6d-2f4a6b8c0d1e")
    for name, record in (("india.json", india), ("named.json", named), ("wide.json", wide)):
        (tmp_path / name).write_text(json.dumps(record), encoding="utf-8")
    table = invoke("show", tmp_path / "india.json", tmp_path / "named.json", tmp_path / "wide.json")
    header, india_row, named_row, wide_row = table.stdout.splitlines()  # one line per record
    assert "2024-12-31T18:29:59Z" in india_row, "23:59:59+05:30 in UTC"
    assert "fit\\nsecond line\\x1b[31m" in named_row and "\x1b" not in table.stdout
    # columns line up on a terminal: a wide character takes two columns
    status = header.index("STATUS")
    assert named_row[status:].startswith("completed") and wide_row[status - 2:].startswith("completed")
    shown = json.loads(invoke("show", "--format", "json", tmp_path / "india.json", tmp_path / "named.json").stdout)
    india_info, named_info = (entry["info"] for entry in shown["records"])
    assert india_info["name"] is None and india_info["start_time"] == "2024-12-31T23:59:59+05:30"
    assert india_info["duration_s"] == 3.0 and named_info["name"] == named["name"]


_MANY_ROWS = """
import os, sys
from procrecord.cli import cli
# stdout is a pipe whose reader went away (| head that had all it wanted)
read_end, write_end = os.pipe()
os.close(read_end)
os.dup2(write_end, 1)
sys.argv = ["procrecord", "show", sys.argv[1]]
cli()
"""


def test_show_counts_the_rows_that_reached_a_reader_who_went_away(tmp_path):
    record = json.dumps(load_json(GPU))
    (tmp_path / "many.jsonl").write_text((record + "\n") * 500, encoding="utf-8")
    done = subprocess.run([sys.executable, "-c", _MANY_ROWS, str(tmp_path / "many.jsonl")], capture_output=True,
                          text=True, cwd=tmp_path, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=120)
    assert done.returncode == 0, done.stderr
    # the reader left before the first row was written: none reached it (not "500 shown")
    assert done.stderr.splitlines()[-1] == "read 500 records from 1 source: 500 not shown (stdout closed), 0 shown"


def test_show_reports_a_key_written_twice_as_validate_does(tmp_path):
    text = GPU.read_text(encoding="utf-8").rstrip()
    path = tmp_path / "dup.json"
    path.write_text(text[:-1] + ', "name": "other"}', encoding="utf-8")
    shown, checked = invoke("show", path), invoke("validate", path)
    assert shown.exit_code == checked.exit_code == 1
    assert "other" not in shown.stdout
    assert f"{path}:: error: duplicate key 'name' in the object at $" in shown.stderr
    assert f"{path}:: error: duplicate key 'name' in the object at $" in checked.stdout  # validate's report


def test_json_for_show_upgrade_check_and_redact_summaries(tmp_path):
    shown = json.loads(invoke("show", "--format", "json", GPU).stdout)
    (entry,) = shown["records"]
    assert entry["info"]["name"] == "geowatch.fit" and entry["info"]["energy_kwh"] == 2.4113
    # the facts unformatted for machines (no text made for people): the full time with its zone, numbers as numbers
    assert not {"start", "duration", "energy", "co2"} & entry["info"].keys()
    assert entry["info"]["python"] == "3.11.9" and entry["info"]["packages"] == 59
    assert shown["summary"]["totals"] == {}, "a record's package count is no total of the run"
    record = load_json(GPU)
    assert entry["info"]["start_time"] == record["timing"]["start_time"] and entry["info"]["start_time"].endswith("+00:00")
    assert entry["info"]["duration_s"] == record["timing"]["duration_s"]
    assert entry["info"]["energy_kwh"] == record["emissions"]["energy_kwh"]
    check = invoke("upgrade", "--check", "--format", "json", LEGACY / "handmade-gpu-device-info.json")
    assert check.exit_code == 1 and json.loads(check.stdout)["summary"]["by_status"] == {"needs-upgrade": 1}
    redacted = invoke("redact", "--level", "most", "--format", "json", "-o", tmp_path / "out", GPU)
    summary = json.loads(redacted.stderr)["summary"]
    assert summary["by_status"] == {"redacted": 1} and summary["totals"]["changed"] == 1 and summary["not_written"] == []


def test_deeply_nested_record_is_reported_not_fatal(tmp_path):
    text = json.dumps(load_json(GPU))
    deep = '{"x": ' * 1000 + "{}" + "}" * 1000  # parseable (orjson allows 1024 levels), too deep to walk
    path = tmp_path / "deep.jsonl"
    path.write_text(text.replace('"config": {', '"config": {"deep": ' + deep + ", ", 1) + "\n" + text + "\n")
    result = invoke("redact", "--level", "most", path)
    assert result.exit_code == 1
    assert "deep.jsonl:1:: error" in result.stderr
    assert "nested too deeply" in result.stderr
    assert len(result.stdout.splitlines()) == 1, "the next record was still redacted"


def test_jobs_give_the_same_files_and_leave_no_temporary_blocks(tmp_path, monkeypatch):
    """With --jobs 2, workers hand large blocks of outputs over through temporary files (see
    bulk.SPILL_BYTES): the outputs are byte for byte those of one process, and no file is left."""
    import tempfile

    from procrecord.bulk import engine as bulk

    spill_root = tmp_path / "tmp"
    spill_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spill_root))
    src = tmp_path / "in"
    src.mkdir()
    rec = load_json(GPU)
    lines = [json.dumps(dict(rec, id=f"00000000-0000-4000-8000-{i:012d}")) for i in range(150)]
    (src / "runs.jsonl").write_text("\n".join(lines) + "\n")
    shutil.copy(GPU, src / "one.json")
    assert (src / "runs.jsonl").stat().st_size > 2 * bulk.SPILL_BYTES  # the big block is spilled
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        result = invoke("redact", "--level", "most", "-j", jobs, "-o", out, src)
        assert result.exit_code == 0, result.stderr
        outputs[jobs] = {p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert outputs["1"] == outputs["2"]
    assert sorted(p.name for p in outputs["2"]) == ["one.json", "runs.jsonl"]
    redacted = next(data for p, data in outputs["2"].items() if p.name == "runs.jsonl").splitlines()
    assert len(redacted) == 150 and check_level(json.loads(redacted[-1]), "most") == []
    assert [p for p in spill_root.iterdir() if p.name.startswith("procrecord-")] == []  # pymp-*: multiprocessing's own


def test_a_spilled_block_comes_back_whole(tmp_path):
    from procrecord.bulk import engine as bulk
    from procrecord.bulk.loader import plan
    from procrecord.operations.transforms import RedactRecord

    rec = load_json(GPU)
    src = tmp_path / "runs.jsonl"
    src.write_text("\n".join(json.dumps(dict(rec, id=f"00000000-0000-4000-8000-{i:012d}")) for i in range(100)) + "\n")
    (task,) = plan([str(src)])
    direct, lines = bulk._run_task((RedactRecord("most"), task))
    spilled, spilled_lines = bulk._run_task_spilling((RedactRecord("most"), task, str(tmp_path)))
    block = spilled[-1]
    assert isinstance(block, bulk.Block) and block.data == b"" and os.path.exists(block.spill)
    assert [bulk._unspill(item) for item in spilled] == direct and spilled_lines == lines == 100
    assert not os.path.exists(block.spill)


def test_standard_input_to_an_output_folder(tmp_path):
    """Records read from stdin get stdin.json (or stdin.jsonl) in the folder, current ones too."""
    out = tmp_path / "out"
    current = json.dumps(upgrade(load_json(GPU)), indent=2)
    result = invoke("upgrade", "-o", out, "-", input=current)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["stdin.json"]
    assert json.loads((out / "stdin.json").read_text()) == json.loads(current)
    legacy = json.dumps(load_json(LEGACY / "full-telemetry.json"))
    result = invoke("upgrade", "-o", out, "-", input=legacy + "\n" + legacy + "\n")
    assert result.exit_code == 0, result.output
    lines = (out / "stdin.jsonl").read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(line)["schema_version"] == current_version() for line in lines)


def test_sources_without_output_leave_nothing_and_say_so_once(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    (src / "deep").mkdir(parents=True)
    (src / "deep" / "broken.json").write_text("{")
    shutil.copy(LEGACY / "full-telemetry.json", src / "ok.json")
    result = invoke("upgrade", "-o", out, src, tmp_path / "missing.json")
    assert result.exit_code == 1
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == ["ok.json"], "no folder for a file with no output"
    assert "broken.json:: no output written for it" in result.stderr
    assert "missing.json:: error: no such file" in result.stderr
    assert "missing.json:: no output" not in result.stderr, "a missing file has its error line only"


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_in_place_keeps_the_owner_and_mode_of_each_file(tmp_path):
    """Root rewriting a user's results must not leave them owned by root (as sed -i keeps them)."""
    path = tmp_path / "old.json"
    shutil.copy(LEGACY / "full-telemetry.json", path)
    os.chown(path, 1234, 2345)
    os.chmod(path, 0o640)
    assert invoke("upgrade", "--in-place", path).exit_code == 0
    st = path.stat()
    assert (st.st_uid, st.st_gid, st.st_mode & 0o777) == (1234, 2345, 0o640)
    assert load_json(path)["schema_version"] == current_version()


def test_an_output_folder_inside_the_input_folder_is_never_read(tmp_path):
    (tmp_path / "runs").mkdir()
    for i in range(2):
        shutil.copy(GPU, tmp_path / "runs" / f"r{i}.json")
    out = tmp_path / "runs" / "shared"
    for _ in range(2):  # the second run finds the first one's outputs in the folder it reads
        result = invoke("redact", "--level", "most", "-o", out, tmp_path / "runs")
        assert result.exit_code == 0 and "2 records" in result.stderr, result.stderr
    result = invoke("redact", "--level", "most", "-o", out, f"{tmp_path}/runs/**/*.json")
    assert result.exit_code == 0 and "2 records" in result.stderr, result.stderr
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.json")) == [
        "runs/r0.json", "runs/r1.json", "runs/shared/r0.json", "runs/shared/r1.json"]
    named = invoke("redact", "--level", "most", "-o", out, out / "r0.json")
    assert named.exit_code == 1 and "inside the output folder of this run" in named.stderr


def test_two_inputs_with_one_output_name_never_overwrite_each_other(tmp_path):
    for folder, fixture in (("d1", GPU), ("d2", FIXTURES / "1.0" / "valid" / "minimal.json")):
        (tmp_path / folder).mkdir()
        shutil.copy(fixture, tmp_path / folder / "x.json")
    out = tmp_path / "out"
    result = invoke("redact", "--level", "most", "-o", out, tmp_path / "d1" / "x.json", tmp_path / "d2" / "x.json")
    assert result.exit_code == 1
    assert "d2/x.json:: error: not written: its output" in result.stderr and "is that of" in result.stderr
    assert load_json(out / "x.json")["id"] == load_json(GPU)["id"], "the first output is kept, not overwritten"
    whole = invoke("redact", "--level", "most", "-o", tmp_path / "out2", tmp_path / "d1", tmp_path / "d2")
    assert whole.exit_code == 1  # two folders mirrored into one: the same names again
    assert invoke("redact", "--level", "most", "-o", tmp_path / "out3", tmp_path).exit_code == 0


def test_options_that_another_option_makes_meaningless_are_usage_errors(tmp_path):
    key = tmp_path / "key"
    key.write_bytes(b"k" * 40)
    no_pseudo = invoke("redact", "--level", "most", "--key-file", key, GPU)
    assert no_pseudo.exit_code == 2 and "--key-file is read only with --pseudonymize" in no_pseudo.stderr
    for level in ("all", "none"):
        result = invoke("redact", "--level", level, "--pseudonymize", "--key-file", key, GPU)
        assert result.exit_code == 2 and "--pseudonymize does nothing" in result.stderr


def test_summaries_count_what_was_done(tmp_path):
    path, doc = _kwcoco(tmp_path)
    doc["info"].append(load_json(LEGACY / "full-telemetry.json"))
    path.write_text(json.dumps(doc))
    embedded = invoke("validate", "--embedded", path)
    assert "validated 1 document holding 2 embedded records" in embedded.stderr and "records 2" not in embedded.stderr
    plain = invoke("validate", path)
    assert plain.exit_code == 1 and "use --embedded" in plain.stdout
    current = tmp_path / "current.json"
    current.write_text(invoke("upgrade", GPU).stdout)
    none = invoke("redact", "--level", "none", current)
    assert none.stdout.strip() and " changed" not in none.stderr and "(unchanged 1)" in none.stderr, \
        "nothing changed: nothing counted as changed"
    lines = [json.dumps(load_json(GPU))] * 5 + ["{broken"]
    jsonl = tmp_path / "runs.jsonl"
    jsonl.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    result = invoke("redact", "--level", "most", "-o", out, jsonl)
    assert result.exit_code == 1 and "5 redacted" not in result.stderr
    assert "5 not written (file has errors)" in result.stderr and not (out / "runs.jsonl").exists()


@pytest.mark.parametrize("command", [("upgrade",), ("redact", "--level", "most"), ("downgrade", "--to", "0")])
@pytest.mark.parametrize("jobs", ["1", "2"])
def test_in_place_jsonl_keeps_its_blank_lines(tmp_path, command, jobs):
    """Findings printed before the rewrite name line numbers: the rewritten file keeps them."""
    line = json.dumps(load_json(GPU))
    path = tmp_path / "runs.jsonl"
    path.write_text(f"\n{line}\n\n{line}\n\n\n{line}\n\n")
    result = invoke(*command, "-j", jobs, "--in-place", path)
    assert result.exit_code == 0, result.output
    lines = path.read_text().split("\n")
    assert [i + 1 for i, text in enumerate(lines) if text.strip()] == [2, 4, 7] and len(lines) == 9


def test_show_says_exit_0_and_leaves_an_unrecorded_code_out(tmp_path):
    record = upgrade(load_json(GPU), current_version())
    record["outcome"] = {"exit_code": 0}
    done = tmp_path / "done.json"
    done.write_text(json.dumps(record), encoding="utf-8")
    running = dict(record, status="running")
    del running["outcome"]
    running["timing"] = {k: v for k, v in record["timing"].items() if k in ("start_time", "update_time")}
    (tmp_path / "running.json").write_text(json.dumps(running), encoding="utf-8")
    assert validate(record) == [] and validate(running) == []
    table = invoke("show", done, tmp_path / "running.json")
    assert table.exit_code == 0, table.output
    header, first, second = table.stdout.splitlines()
    assert first[header.index("EXIT"):].startswith("0 ") and second[header.index("EXIT"):].startswith("  ")
    shown = json.loads(invoke("show", "--format", "json", done, tmp_path / "running.json").stdout)["records"]
    assert shown[0]["info"]["exit"] == 0 and "exit" not in shown[1]["info"]


@pytest.mark.parametrize("command", [["validate"], ["show"], ["redact", "--level", "most", "-o", "{out}"], ["upgrade", "--check"]])
def test_jobs_and_an_executor_that_disagree_are_a_usage_error(command, tmp_path):
    command = [part.format(out=tmp_path / "out") for part in command]
    conflicting = invoke(*command, "--jobs", "4", "--executor", "local:2", GPU)
    assert conflicting.exit_code == 2 and "--jobs 4 and --executor local:2" in conflicting.stderr
    remote = invoke(*command, "--jobs", "2", "--executor", "dask:tcp://127.0.0.1:9", GPU)
    assert remote.exit_code == 2 and "--jobs sizes the LocalCluster" in remote.stderr
    agreeing = invoke(*command, "--jobs", "2", "--executor", "local:2", GPU)
    assert agreeing.exit_code in (0, 1) and "Usage" not in agreeing.stderr, agreeing.stderr


def test_an_invalid_record_is_said_left_unchanged_only_by_commands_that_write(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(load_json(GPU), status=5)), encoding="utf-8")
    shown = invoke("show", bad)
    assert shown.exit_code == 1 and f"{bad}:: invalid: input does not validate\n" in shown.stderr + shown.stdout
    assert "left unchanged" not in shown.output
    redacted = invoke("redact", "--level", "most", "-o", tmp_path / "out", bad)
    assert redacted.exit_code == 1 and "input does not validate; left unchanged" in redacted.output


@pytest.mark.parametrize("command", [["upgrade"], ["upgrade", "--check"], ["downgrade", "--to", "0"]])
def test_upgrade_and_downgrade_refuse_a_key_written_twice_and_keep_the_file(tmp_path, command):
    """The parser keeps one of the values: rewriting the record would lose the other silently (as
    redact, show, diff and export refuse it, and validate reports it)."""
    text = GPU.read_text(encoding="utf-8").rstrip()
    path = tmp_path / "dup.json"
    path.write_text(text[:-1] + ', "status": "failed"}', encoding="utf-8")
    before = path.read_bytes()
    in_place = [] if "--check" in command else ["--in-place"]
    result = invoke(*command, *in_place, path)
    assert result.exit_code == 1
    assert f"{path}:: error: duplicate key 'status' in the object at $" in result.output
    assert path.read_bytes() == before


@pytest.mark.parametrize("command, stream", [
    (["validate", "--format", "json"], "stdout"),
    (["upgrade", "--check", "--format", "json"], "stdout"),
    (["show", "--format", "json"], "stdout"),
    (["redact", "--level", "most", "--format", "json", "-o", "{out}"], "stderr"),
])
def test_an_interrupted_json_report_is_still_one_json_document(tmp_path, monkeypatch, command, stream):
    """Ctrl-C after two of four files: the machine-readable report ends with the summary of what was
    done, marked interrupted, instead of stopping in the middle of its list (exit 130 all the same)."""
    from procrecord.bulk import engine

    folder = tmp_path / "in"
    folder.mkdir()
    for i in range(4):
        shutil.copy(GPU, folder / f"r{i}.json")
    real, seen = engine.apply, []

    def interrupted_at_the_third(operation, item):
        seen.append(item)
        if len(seen) == 3:
            raise KeyboardInterrupt
        return real(operation, item)

    monkeypatch.setattr(engine, "apply", interrupted_at_the_third)
    args = [a.replace("{out}", str(tmp_path / "out")) for a in command]
    result = invoke(*args, folder)
    assert result.exit_code == 130
    report = json.loads(getattr(result, stream).split("procrecord: interrupted")[0])
    assert len(report["records"]) == 2
    assert report["summary"]["interrupted"] is True and report["summary"]["records"] == 2
