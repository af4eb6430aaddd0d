"""``procrecord export``: options, exit codes, bulk behaviour, and a light base install."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from exportdata import CHILD_ID, pipeline

from procrecord.cli import cli
from procrecord.cli.export import TARGETS
from procrecord.exports import TARGETS as LIBRARY_TARGETS

from helpers import FIXTURES, ROOT

VALID = FIXTURES / "1.0" / "valid"
LEGACY = FIXTURES / "0" / "valid"


def invoke(*args, env=None):
    return CliRunner().invoke(cli, [str(a) for a in args], env=env, catch_exceptions=False)


def test_the_cli_lists_every_library_target():
    assert tuple(LIBRARY_TARGETS) == TARGETS


@pytest.mark.parametrize(("args", "message"), [
    (["--to", "mlflow"], "needs --tracking-uri"),
    (["--to", "mlflow", "--tracking-uri", "file:///x", "-o", "x"], "not -o"),
    (["--to", "parquet"], "needs -o"),
    (["--to", "otel"], "nothing is sent unless"),
    (["--to", "csv", "-o", "x.csv", "--endpoint", "http://127.0.0.1:9"], "--endpoint does not apply"),
    (["--to", "otel", "-o", "x", "--endpoint", "http://127.0.0.1:9"], "not both"),
    (["--to", "openlineage", "-o", "x", "--experiment", "e"], "--experiment does not apply"),
    (["--to", "csv", "-o", "x.csv", "--timeout", "5"], "--timeout does not apply to --to csv writing a file"),
    (["--to", "parquet", "-o", "x", "--retries", "7"], "--retries does not apply to --to parquet writing a file"),
    (["--to", "otel", "-o", "x", "--retries", "1"], "--retries does not apply to --to otel writing a file"),
    # The SDK's OTLP exporter has no retry count of its own to give (it retries within its timeout): never ignored.
    (["--to", "otel", "--endpoint", "http://127.0.0.1:9/v1/traces", "--retries", "0"],
     "--retries does not apply to --to otel: the OpenTelemetry SDK's OTLP exporter retries on its own"),
    (["--to", "openlineage", "-o", "x", "--timeout", "1"], "--timeout does not apply"),
    # An endpoint that is no http(s) URL: one usage line (it was a traceback for openlineage, an error per record
    # for otel).
    (["--to", "openlineage", "--endpoint", "marquez:5000"], "--endpoint marquez:5000: give an http:// or https:// URL"),
    (["--to", "otel", "--endpoint", "http://[collector/v1/traces"], "--endpoint http://[collector/v1/traces: not a URL"),
    (["--to", "otel", "--endpoint", "ftp://collector/v1/traces"], "give an http:// or https:// URL"),
    (["--to", "ro-crate", "-o", "x", "--timeout", "1"], "--timeout does not apply"),
])
def test_options_a_target_cannot_use_are_usage_errors(args, message, tmp_path):
    result = invoke("export", *args, VALID, env={"MLFLOW_TRACKING_URI": ""})
    assert result.exit_code == 2 and message in result.output


def test_executors_are_taken_or_refused_never_ignored(tmp_path):
    out = tmp_path / "t.jsonl"
    dask = invoke("export", "--to", "jsonl-flat", "-o", out, "--executor", "dask", VALID)
    assert dask.exit_code == 2 and "not --executor dask" in dask.output and not out.exists()
    clash = invoke("export", "--to", "jsonl-flat", "-o", out, "--jobs", "3", "--executor", "local:2", VALID)
    assert clash.exit_code == 2 and "--jobs 3 and --executor local:2" in clash.output
    local = invoke("export", "--to", "jsonl-flat", "-o", out, "--executor", "local:2", VALID, LEGACY)
    assert local.exit_code == 0, local.output
    one = tmp_path / "one.jsonl"
    assert invoke("export", "--to", "jsonl-flat", "-o", one, VALID, LEGACY).exit_code == 0
    assert out.read_bytes() == one.read_bytes()


def test_bulk_export_of_every_version_with_jobs_keeps_input_order(tmp_path):
    one, two = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    assert invoke("export", "--to", "jsonl-flat", "-o", one, VALID, LEGACY).exit_code == 0
    result = invoke("export", "--to", "jsonl-flat", "-o", two, "--jobs", "2", VALID, LEGACY)
    assert result.exit_code == 0, result.output
    assert one.read_bytes() == two.read_bytes()
    rows = [json.loads(x) for x in one.read_text().splitlines()]
    assert len(rows) == 19 and {r["schema_version"] for r in rows} == {rows[0]["schema_version"]}
    assert "19 exported" in result.output


def test_a_bad_record_is_reported_and_the_others_are_exported(tmp_path):
    root, child = pipeline()
    src = tmp_path / "runs.jsonl"
    src.write_text(json.dumps(root) + "\n{not json\n" + json.dumps({**child, "status": "bogus"}) + "\n")
    out = tmp_path / "runs.csv"
    result = invoke("export", "--to", "csv", "-o", out, src)
    assert result.exit_code == 1
    assert f"{src}:2:: error:" in result.output and f"{src}:3::$.status" in result.output
    assert len(out.read_text().splitlines()) == 2  # header + the good record
    assert "2 not readable or invalid" in result.output


def test_dropped_fields_are_notes_unless_strict(tmp_path):
    pytest.importorskip("openlineage.client", reason="the openlineage extra is not installed")
    out = tmp_path / "events.jsonl"
    src = VALID / "minimal.json"
    result = invoke("export", "--to", "openlineage", "-o", out, src)
    assert result.exit_code == 0 and ":: dropped: [" in result.output
    assert invoke("export", "--to", "openlineage", "-o", out, "--strict", src).exit_code == 1


def test_the_summary_counts_records_with_dropped_fields_not_notes(tmp_path):
    noted = json.loads((VALID / "minimal.json").read_text())
    noted["id"] = "00000000-0000-4000-8000-000000000001"
    noted["invocation"] = {"argv": ["x"], "config": {"a": {"b": 1}, "a.b": 2, "c": {"d": 1}, "c.d": 2}}
    clean = {**json.loads((VALID / "minimal.json").read_text()), "id": "00000000-0000-4000-8000-000000000002"}
    src = tmp_path / "runs.jsonl"
    src.write_text(json.dumps(noted) + "\n" + json.dumps(clean) + "\n")
    result = invoke("export", "--to", "jsonl-flat", "-o", tmp_path / "flat.jsonl", src)
    assert result.exit_code == 0, result.output
    assert result.output.count(":: dropped: [") == 2  # two notes, one record
    assert "2 records: 2 exported, 1 with dropped fields" in result.output


@pytest.mark.parametrize("to", ["csv", "jsonl-flat", "parquet", "openlineage", "otel", "ro-crate"])
def test_no_record_found_is_exit_1_and_writes_or_replaces_nothing(tmp_path, to):
    module = {"parquet": "pyarrow", "openlineage": "openlineage.client", "otel": "opentelemetry.sdk",
              "ro-crate": "rocrate.rocrate"}.get(to)
    if module:
        pytest.importorskip(module)
    (tmp_path / "empty").mkdir()
    for name in ("new.out", "new.zip"):
        result = invoke("export", "--to", to, "-o", tmp_path / name, tmp_path / "empty")
        assert result.exit_code == 1 and "no record found" in result.output
        assert not (tmp_path / name).exists()
    out = tmp_path / "earlier.out"
    assert invoke("export", "--to", to, "-o", out, VALID / "minimal.json").exit_code == 0
    before = sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file())
    assert invoke("export", "--to", to, "-o", out, tmp_path / "empty").exit_code == 1
    assert sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()) == before
    # every record found failed: the earlier export is not replaced by an empty one either
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.json").write_text('{"schema_version": "1.1", "status": 5}')
    (tmp_path / "bad" / "y.json").write_text("{not json")
    failed = invoke("export", "--to", to, "-o", out, tmp_path / "bad")
    assert failed.exit_code == 1 and "2 not readable or invalid" in failed.output, failed.output
    assert sorted((p.relative_to(tmp_path), p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()
                  if "bad" not in p.parts) == before


def test_a_crate_zip_in_storage_is_left_alone_by_a_run_that_exports_nothing(tmp_path):
    pytest.importorskip("rocrate.rocrate")
    import fsspec

    mem = fsspec.filesystem("memory")
    url = f"memory://s13crate-{os.getpid()}/crate.zip"
    assert invoke("export", "--to", "ro-crate", "-o", url, VALID / "minimal.json").exit_code == 0
    before = mem.info(url)
    (tmp_path / "empty").mkdir()
    assert invoke("export", "--to", "ro-crate", "-o", url, tmp_path / "empty").exit_code == 1
    after = mem.info(url)
    assert after["created"] == before["created"] and mem.cat(url) == mem.cat(url)


@pytest.mark.parametrize("to", ["csv", "jsonl-flat", "parquet", "openlineage", "otel", "ro-crate"])
def test_allow_empty_makes_no_record_found_exit_0(tmp_path, to):
    if to in ("parquet", "openlineage", "otel", "ro-crate"):
        module = {"parquet": "pyarrow", "openlineage": "openlineage.client", "otel": "opentelemetry.sdk",
                  "ro-crate": "rocrate.rocrate"}[to]
        pytest.importorskip(module)
    (tmp_path / "empty").mkdir()
    result = invoke("export", "--to", to, "-o", tmp_path / "out", "--allow-empty", tmp_path / "empty")
    assert result.exit_code == 0, result.output
    assert "no record found" in result.output
    assert (tmp_path / "out").exists()  # the empty output is what was asked for


def test_allow_empty_makes_no_record_found_exit_0_for_mlflow_too(tmp_path):
    pytest.importorskip("mlflow")
    (tmp_path / "empty").mkdir()
    store = (tmp_path / "mlruns").as_uri()
    result = invoke("export", "--to", "mlflow", "--tracking-uri", store, "--allow-empty", tmp_path / "empty",
                    env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    assert result.exit_code == 0, result.output
    result = invoke("export", "--to", "mlflow", "--tracking-uri", store, tmp_path / "empty",
                    env={"MLFLOW_ALLOW_FILE_STORE": "true"})
    assert result.exit_code == 1


@pytest.mark.parametrize("to", ["csv", "jsonl-flat", "parquet", "openlineage", "otel"])
def test_an_output_that_is_one_of_the_inputs_is_a_usage_error(tmp_path, to):
    src = tmp_path / "R.json"
    src.write_bytes((VALID / "minimal.json").read_bytes())
    before = src.read_bytes()
    result = invoke("export", "--to", to, "-o", src, tmp_path / "R.json")
    assert result.exit_code == 2 and "is one of the inputs" in result.output
    assert src.read_bytes() == before
    folder = tmp_path / "runs"
    folder.mkdir()
    (folder / "R.json").write_bytes(before)
    result = invoke("export", "--to", to, "-o", folder / "R.json", folder)  # the input found in a folder
    assert result.exit_code == 2 and (folder / "R.json").read_bytes() == before


@pytest.mark.parametrize("args", [
    ["--key-file", "KEY", "--level", "most"],  # without --pseudonymize
    ["--key-file", "KEY", "--level", "all"],
    ["--key-file", "KEY"],
    ["--pseudonymize", "--level", "all"],
    ["--pseudonymize", "--level", "none"],
    ["--pseudonymize", "--key-file", "KEY", "--level", "all"],
])
def test_key_options_are_checked_as_in_redact_with_the_same_messages(tmp_path, args):
    key = tmp_path / "key.txt"
    key.write_text("k" * 40)
    args = [str(key) if a == "KEY" else a for a in args]
    out = tmp_path / "x.jsonl"
    result = invoke("export", "--to", "jsonl-flat", "-o", out, *args, VALID / "minimal.json")
    redacted = invoke("redact", *(args if "--level" in args else [*args, "--level", "none"]), VALID / "minimal.json")
    assert result.exit_code == redacted.exit_code == 2
    assert result.output.splitlines()[-1] == redacted.output.splitlines()[-1]
    assert not out.exists()


def test_pseudonymize_without_a_level_says_what_redact_says_of_level_none(tmp_path):
    result = invoke("export", "--to", "jsonl-flat", "-o", tmp_path / "x.jsonl", "--pseudonymize", VALID,
                    env={"PROCRECORD_REDACT_KEY": "k" * 40})
    assert result.exit_code == 2 and "--pseudonymize does nothing at --level none" in result.output


def test_pseudonymize_at_level_all_is_refused_as_in_redact(tmp_path):
    env = {"PROCRECORD_REDACT_KEY": "k" * 40}
    result = invoke("export", "--to", "csv", "-o", tmp_path / "x.csv", "--pseudonymize", "--level", "all", VALID,
                    env=env)
    assert result.exit_code == 2 and "--pseudonymize does nothing at --level all" in result.output
    assert not (tmp_path / "x.csv").exists()
    assert invoke("redact", "--level", "all", "--pseudonymize", VALID / "minimal.json", env=env).exit_code == 2


@pytest.mark.parametrize("to", ["csv", "jsonl-flat", "parquet", "openlineage", "otel"])
def test_stdout_and_a_folder_as_the_output_file_are_usage_errors(tmp_path, monkeypatch, to):
    monkeypatch.chdir(tmp_path)
    result = invoke("export", "--to", to, "-o", "-", VALID / "minimal.json")
    assert result.exit_code == 2 and "-o - (stdout) is not supported" in result.output
    assert not (tmp_path / "-").exists()
    (tmp_path / "p2").mkdir()
    result = invoke("export", "--to", to, "-o", "p2/", VALID / "minimal.json")
    assert result.exit_code == 2 and "-o p2/ is a folder" in result.output and "Errno" not in result.output
    assert list((tmp_path / "p2").iterdir()) == []


def test_a_missing_extra_is_a_clear_error_only_for_its_target(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    result = invoke("export", "--to", "parquet", "-o", tmp_path / "x.parquet", VALID)
    assert result.exit_code == 3 and "pip install 'procrecord[table]'" in result.output
    assert invoke("export", "--to", "csv", "-o", tmp_path / "x.csv", VALID).exit_code == 0


def test_an_output_that_cannot_be_written_is_exit_3_and_leaves_nothing(tmp_path):
    result = invoke("export", "--to", "csv", "-o", tmp_path / "missing" / "x.csv", VALID)
    assert result.exit_code == 3
    assert not (tmp_path / "missing").exists()


@pytest.mark.slow
def test_importing_procrecord_and_its_exports_loads_no_target_library():
    code = ("import sys, procrecord, procrecord.exports, procrecord.cli; "
            "heavy = [m for m in ('pyarrow', 'openlineage', 'opentelemetry', 'rocrate', 'mlflow', 'duckdb') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_the_library_reports_a_record_it_cannot_upgrade_and_goes_on(tmp_path):
    from procrecord.exports import ExportOptions, export

    root, child = pipeline()
    out = tmp_path / "rows.jsonl"
    findings = export([{"schema_version": "9.0", "id": "x"}, child], "jsonl-flat", ExportOptions(output=str(out)))
    assert [(f.record_id, f.kind) for f in findings] == [("x", "error")]
    assert len(out.read_text().splitlines()) == 1


@pytest.mark.parametrize("to", ["jsonl-flat", "otel"])
def test_a_record_with_a_duplicate_key_is_refused_as_in_validate_and_the_run_goes_on(tmp_path, to):
    if to == "otel":
        pytest.importorskip("opentelemetry.sdk")
    root, child = pipeline()
    src = tmp_path / "runs.jsonl"
    text = json.dumps({**root, "extra": {"x": 1}})
    src.write_text(text.replace('"x": 1', '"x": 1, "x": 2') + "\n" + json.dumps(child) + "\n")
    out = tmp_path / "out"
    result = invoke("export", "--to", to, "-o", out, src)
    assert result.exit_code == 1
    line = f"{src}:1:: error: duplicate key 'x' in the object at $.extra (a reader keeps only one of its values)"
    assert line in result.output and line in invoke("validate", src).output
    assert "2 records: 1 exported, 1 not readable or invalid" in result.output
    if to == "jsonl-flat":
        assert [json.loads(row)["id"] for row in out.read_text().splitlines()] == [CHILD_ID]


@pytest.mark.parametrize("to", ["parquet", "csv", "jsonl-flat"])
def test_a_config_prefix_that_could_repeat_a_schema_column_is_a_usage_error(tmp_path, to):
    record = pipeline()[0]
    record["invocation"]["config"] = {"name": "x", "status": "y", "id": "z"}
    source = tmp_path / "R.json"
    source.write_text(json.dumps(record))
    out = tmp_path / "out.table"
    result = invoke("export", "--to", to, "--config-prefix", "", "-o", str(out), str(source))
    assert result.exit_code == 2, result.output
    assert "--config-prefix '' could make a config column named as the schema's column" in result.output
    assert not out.exists()


FILE_OUTPUTS = ["parquet", "csv", "jsonl-flat", "openlineage", "otel"]


@pytest.mark.parametrize("to", FILE_OUTPUTS)
def test_the_library_refuses_an_output_it_must_not_replace_before_any_work(tmp_path, to):
    """A folder, a symbolic link or a pipe as the output file: OutputRefused (as the README says), raised
    before the first record is read (a folder was a NotRegularFileError, for tables only once all was done)."""
    from procrecord.exports import ExportOptions, OutputRefused, export

    read = []

    def records():
        read.append(1)
        yield pipeline()[0]

    folder = tmp_path / "adir"
    folder.mkdir()
    (tmp_path / "target").write_text("mine")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    os.mkfifo(tmp_path / "fifo")
    for name, kind in (("adir", "a folder"), ("link", "a symbolic link"), ("fifo", "a named pipe")):
        with pytest.raises(OutputRefused, match=f"is {kind}"):
            export(records(), to, ExportOptions(output=str(tmp_path / name)))
    assert read == [] and (tmp_path / "link").is_symlink() and (tmp_path / "target").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "fifo", "link", "target"] and not list(folder.iterdir())


@pytest.mark.parametrize("to", FILE_OUTPUTS)
def test_outputs_that_cannot_be_written_or_must_not_be_replaced_say_so_in_one_line(tmp_path, to):
    """Exit 2 (usage) for a path the export must not replace (a symbolic link is never silently replaced by a
    file, a pipe is not written to); exit 3 (the tool could not do its job) for an output it cannot write.
    Either way one line naming the path and the reason, without an ``[Errno N]``."""
    source = tmp_path / "R.json"
    source.write_text(json.dumps(pipeline()[0]))
    (tmp_path / "target.out").write_text("mine")
    (tmp_path / "link.out").symlink_to("target.out")
    os.mkfifo(tmp_path / "fifo.out")
    cases = [("link.out", 2, "is a symbolic link"), ("fifo.out", 2, "is a named pipe"),
             ("nodir/x.out", 3, "cannot write {path}: no folder")]
    if os.path.isdir("/proc/self"):  # Linux: a folder where no file can be made
        cases.append(("/proc/x.out", 3, "cannot write {path}: no such file or directory"))
    for name, code, says in cases:
        path = name if name.startswith("/") else str(tmp_path / name)
        result = invoke("export", "--to", to, "-o", path, str(source))
        assert result.exit_code == code, (name, result.output)
        assert says.format(path=path) in result.output and path in result.output, result.output
        assert "Errno" not in result.output and "Traceback" not in result.output
    assert (tmp_path / "link.out").is_symlink() and (tmp_path / "target.out").read_text() == "mine"
    assert not (tmp_path / "nodir").exists()


@pytest.mark.parametrize("to", ["parquet", "openlineage", "ro-crate"])
def test_the_library_refuses_an_unknown_level_before_it_replaces_the_output(tmp_path, to):
    """A level that is not a redaction level (a typo: ``"Most"``) is an ExportError raised before any record is
    read: the earlier output stays as it was (it was replaced by an empty one, each record an error finding)."""
    from procrecord.exports import ExportError, ExportOptions, export

    root, child = pipeline()
    out = tmp_path / ("out.zip" if to == "ro-crate" else "out")
    assert export([root, child], to, ExportOptions(output=str(out)), level="most") == []
    before = out.read_bytes()
    read = []

    def records():
        read.append(1)
        yield from (root, child)

    for level in ("Most", "some"):
        with pytest.raises(ExportError, match="unknown redaction level"):
            export(records(), to, ExportOptions(output=str(out)), level=level)
    assert read == [] and out.read_bytes() == before
