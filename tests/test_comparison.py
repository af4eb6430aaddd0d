"""diff: golden cases, laws, patches, options, and the command line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.cli import cli
from procrecord.errors import ProcrecordError
from procrecord.operations.comparison import Options, apply_patch, diff, to_patch, verify_patch
from procrecord.operations.diffreport import Variation, describe, summary
from procrecord.record import reader

from helpers import FIXTURES, ROOT, load_json
from strategies import records

CASES = sorted(p for p in (FIXTURES / "diff").iterdir() if p.is_dir())
CONVERTER = reader.make_converter()


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_golden_diffs(case):
    changes = [c.to_dict() for c in diff(load_json(case / "a.json"), load_json(case / "b.json"))]
    assert changes == load_json(case / "expected.json")


def test_no_difference_cases_are_empty():
    for name in ("identical-run-new-ids", "reordered-packages", "legacy-vs-1.0-same-run"):
        assert load_json(FIXTURES / "diff" / name / "expected.json") == [], name


def test_volatile_fields_show_with_include_volatile():
    case = FIXTURES / "diff" / "identical-run-new-ids"
    changes = diff(load_json(case / "a.json"), load_json(case / "b.json"), Options(include_volatile=True))
    assert {"/id", "/timing/start_time", "/invocation/pid"} <= {c.pointer for c in changes}


def test_only_naming_a_volatile_field_compares_it():
    case = FIXTURES / "diff" / "identical-run-new-ids"
    a, b = load_json(case / "a.json"), load_json(case / "b.json")
    assert diff(a, b) == []
    for path, pointer in (("id", "/id"), ("timing.start_time", "/timing/start_time"), ("/invocation/pid", "/invocation/pid")):
        assert [c.pointer for c in diff(a, b, Options(only=(path,)))] == [pointer], path
    # a section named whole keeps its volatile fields out, as without --only, and so does a '*'
    assert "/timing/start_time" not in {c.pointer for c in diff(a, b, Options(only=("timing",)))}
    assert "/invocation/pid" not in {c.pointer for c in diff(a, b, Options(only=("invocation",)))}
    for pattern in ("*", "timing.*", "/timing/*", "invocation.*"):
        assert diff(a, b, Options(only=(pattern,))) == [], pattern
    # the field named by its own name, in any section
    assert [c.pointer for c in diff(a, b, Options(only=("*.start_time",)))] == ["/timing/start_time"]
    result = CliRunner().invoke(cli, ["diff", str(case / "a.json"), str(case / "b.json"), "--only", "id"])
    assert result.exit_code == 1 and "id: " in result.output, result.output


def test_diff_refuses_a_record_with_a_duplicate_key_or_one_that_breaks_its_schema(tmp_path):
    case = FIXTURES / "diff" / "identical-run-new-ids"
    a = case / "a.json"
    text = a.read_text(encoding="utf-8").rstrip()
    dup = tmp_path / "dup.json"
    dup.write_text(text[:-1] + ', "name": "other"}', encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(dict(load_json(a), status=5)), encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["diff", str(a), str(dup)])
    assert result.exit_code == 3 and f"{dup}:: error: duplicate key 'name' in the object at $" in result.output
    result = runner.invoke(cli, ["diff", str(a), str(bad)])
    assert result.exit_code == 3 and f"{bad}:: error: does not validate against schema" in result.output
    assert "$.status" in result.output
    runs = tmp_path / "runs"
    runs.mkdir()
    for path in (dup, bad, case / "b.json"):
        (runs / path.name).write_bytes(path.read_bytes())
    result = runner.invoke(cli, ["diff", "--baseline", str(a), str(runs)])
    assert result.exit_code == 3, result.output
    assert "1 differ" not in result.output and "2 could not be compared" in result.output
    with pytest.raises(ProcrecordError, match="does not validate"):
        diff(load_json(a), load_json(bad))


def test_paths_name_config_keys_holding_brackets_or_question_marks_as_printed():
    a = load_json(FIXTURES / "diff" / "identical-run-new-ids" / "a.json")
    a["invocation"]["config"] = {"x[0]": 1, "x0": 1, "a?": 1, "ab": 1, "a.b": 1}
    b = json.loads(json.dumps(a))
    b["invocation"]["config"] = {"x[0]": 2, "x0": 2, "a?": 2, "ab": 2, "a.b": 2}
    printed = {"x[0]": 'invocation.config["x[0]"]', "x0": "invocation.config.x0", "a?": "invocation.config.a?",
               "ab": "invocation.config.ab", "a.b": 'invocation.config["a.b"]'}
    assert {c.label for c in diff(a, b)} == set(printed.values())
    for path, key in (('invocation.config["x[0]"]', "x[0]"), ("/invocation/config/x[0]", "x[0]"), ("invocation.config.a?", "a?"),
                      ("/invocation/config/a?", "a?"), ('invocation.config["a.b"]', "a.b"), ("/invocation/config/a.b", "a.b")):
        assert [c.label for c in diff(a, b, Options(only=(path,)))] == [printed[key]], path
        assert printed[key] not in {c.label for c in diff(a, b, Options(ignore=(path,)))}, path
    assert {c.label for c in diff(a, b, Options(only=("invocation.config.x*",)))} == {printed["x[0]"], printed["x0"]}


def test_ignore_only_and_rtol():
    case = FIXTURES / "diff" / "gpu-swap"
    a, b = load_json(case / "a.json"), load_json(case / "b.json")
    assert len(diff(a, b)) == 11
    assert {c.pointer for c in diff(a, b, Options(ignore=("devices.*",)))} == {"/timing/duration_s"}
    assert {c.pointer for c in diff(a, b, Options(ignore=("/devices/0/uuid", "timing.duration_s")))} >= {"/devices/0/name"}
    assert all(c.section == "timing" for c in diff(a, b, Options(only=("timing",))))
    b["devices"][0] = dict(a["devices"][0], energy_kwh=a["devices"][0]["energy_kwh"] * 1.001)
    assert [c.pointer for c in diff(a, b, Options(only=("devices",)))] == ["/devices/0/energy_kwh"]
    assert diff(a, b, Options(only=("devices",), rtol=0.01)) == []


def test_human_lines():
    case = FIXTURES / "diff" / "package-upgrade"
    lines = [describe(c) for c in diff(load_json(case / "a.json"), load_json(case / "b.json"))]
    assert "upgraded numpy 2.1.0 -> 2.2.1" in lines and "downgraded torch 2.8.0 -> 2.7.1" in lines
    assert "added python.packages: polars 1.33.0" in lines and "removed python.packages: fire 0.7.1" in lines
    gpu = FIXTURES / "diff" / "gpu-swap"
    text = [describe(c) for c in diff(load_json(gpu / "a.json"), load_json(gpu / "b.json"))]
    assert "timing.duration_s 9337.490283 -> 12449.98 (+33.3%)" in text
    assert summary([]) == "no differences"


def test_variation_table_is_bounded():
    var = Variation()
    from procrecord.operations.comparison import Change

    for i in range(100):
        var.add([Change("/timing/duration_s", "changed", 1.0, float(i), "timing.duration_s")])
    ((label, count, values),) = var.rows()
    assert (label, count, values) == ("timing.duration_s", 100, "20+")
    assert len(var.values[label]) <= Variation.MAX_VALUES + 1


# --- laws ----------------------------------------------------------------------------------------

def _dict(record):
    return reader.to_dict(record, CONVERTER)


@settings(max_examples=120, deadline=None)
@given(records)
def test_diff_with_itself_is_empty(record):
    data = _dict(record)
    assert diff(data, data, Options(include_volatile=True)) == []


@settings(max_examples=120, deadline=None)
@given(records, records)
def test_patch_turns_a_into_b_and_counts_are_symmetric(ra, rb):
    a, b = _dict(ra), _dict(rb)
    opts = Options(include_volatile=True)
    forward, backward = diff(a, b, opts), diff(b, a, opts)
    assert len(forward) == len(backward)
    patch = to_patch(forward, a, b)
    assert verify_patch(patch, a, b, opts)
    assert diff(apply_patch(a, patch), b, opts) == []


# --- command line ---------------------------------------------------------------------------------

def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_exit_codes_and_formats(tmp_path):
    same = FIXTURES / "diff" / "reordered-packages"
    assert invoke("diff", same / "a.json", same / "b.json").exit_code == 0
    case = FIXTURES / "diff" / "package-upgrade"
    text = invoke("diff", case / "a.json", case / "b.json")
    assert text.exit_code == 1 and text.stdout.rstrip().endswith("4 differences: 4 software")
    body = json.loads(invoke("diff", "--format", "json", case / "a.json", case / "b.json").stdout)
    assert body["count"] == 4 and {c["kind"] for c in body["changes"]} == {"changed", "added", "removed"}
    patch = json.loads(invoke("diff", "--format", "patch", case / "a.json", case / "b.json").stdout)
    assert patch and all(op["op"] in ("add", "remove", "replace") for op in patch)
    assert invoke("diff", case / "a.json").exit_code == 2
    (tmp_path / "bad.json").write_text("{")
    broken = invoke("diff", case / "a.json", tmp_path / "bad.json")
    assert broken.exit_code == 3 and "bad.json:: error" in broken.stderr


def test_cli_baseline_over_a_folder(tmp_path):
    base = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    lines = []
    for i in range(30):
        rec = json.loads(json.dumps(base))
        rec["id"] = f"00000000-0000-4000-8000-{i:012d}"
        rec["timing"]["duration_s"] = 9000 + i
        if i % 10 == 0:
            rec["python"]["packages"][0]["version"] = "99.0"
        lines.append(json.dumps(rec))
    (tmp_path / "runs.jsonl").write_text("\n".join(lines) + "\n{broken\n")
    result = invoke("diff", "--baseline", FIXTURES / "1.0" / "valid" / "gpu-training.json", tmp_path)
    assert result.exit_code == 3, "one record could not be compared"
    assert "runs.jsonl:31:: error" in result.stderr
    assert "compared 30 records" in result.stderr
    table = result.stdout[result.stdout.index("fields that vary"):]
    assert "timing.duration_s" in table and "python.packages[attrs].version" in table
    json_result = invoke("diff", "--baseline", FIXTURES / "1.0" / "valid" / "gpu-training.json", "--format", "json", tmp_path / "runs.jsonl")
    body = json.loads(json_result.stdout)
    assert len(body["comparisons"]) == 30
    assert {row["path"]: row["records"] for row in body["varying"]}["python.packages[attrs].version"] == 3
    row = {r["path"]: r for r in body["varying"]}["python.packages[attrs].version"]
    assert row["values"] == 1 and row["more_values"] is False, "counts are numbers, not strings"


def _config_runs():
    case = FIXTURES / "diff" / "gpu-swap"
    a, b = load_json(case / "a.json"), load_json(case / "a.json")
    b["invocation"]["config"]["optimizer"]["lr"] = 0.0006
    b["disks"][0]["free_bytes"] = a["disks"][0]["free_bytes"] + 1
    return a, b


def test_only_takes_nested_paths_and_open_bag_fields():
    a, b = _config_runs()
    assert [c.pointer for c in diff(a, b, Options(only=("invocation.config",)))] == ["/invocation/config/optimizer/lr"]
    assert [c.pointer for c in diff(a, b, Options(only=("invocation.config.optimizer.lr",)))] == ["/invocation/config/optimizer/lr"]
    assert diff(a, b, Options(only=("invocation.config.data",))) == []
    assert [c.pointer for c in diff(a, b, Options(only=("/invocation/config/optimizer",)))] == ["/invocation/config/optimizer/lr"]
    # --only a field below something that was added: reported only if the added value holds it
    a.pop("extra", None)
    b["extra"] = {"score": 1}
    assert [c.pointer for c in diff(a, b, Options(only=("extra.score",)))] == ["/extra"]
    assert diff(a, b, Options(only=("extra.other",))) == []


def test_ignore_takes_the_paths_the_text_output_prints():
    a, b = _config_runs()
    labels = {c.label for c in diff(a, b)}
    assert "disks[/data/drop8].free_bytes" in labels
    assert {c.label for c in diff(a, b, Options(ignore=("disks[/data/drop8].free_bytes",)))} == labels - {"disks[/data/drop8].free_bytes"}
    assert {c.label for c in diff(a, b, Options(ignore=("disks[*].free_bytes",)))} == labels - {"disks[/data/drop8].free_bytes"}
    assert diff(a, b, Options(ignore=("disks[/other].free_bytes",))) != diff(a, b, Options(ignore=("disks[/data/drop8].free_bytes",)))


@pytest.mark.parametrize("pattern, ok", [
    ("invocation", True), ("invocation.config", True), ("invocation.config.seed", True), ("extra.anything.below", True),
    ("extensions.plugin.x", True), ("disks[/].free_bytes", True), ("python.packages[numpy].version", True),
    ("/timing/duration_s", True), ("devices.*", True), ("devices[0].name", True), ("*.duration_s", True),
    ("invocaton", False), ("timing.duraton_s", False), ("timing.duration_s.x", False), ("disks.free_bytes", False),
    ("timing[0]", False), ("a..b", False), ("python.packages[numpy", False),
])
def test_paths_are_checked_against_the_schema(pattern, ok):
    problems = Options(ignore=(pattern,)).problems()
    assert (problems == []) is ok, problems


def test_cli_rejects_paths_the_schema_does_not_know(tmp_path):
    a, b = _config_runs()
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    typo = invoke("diff", "--only", "invocaton", tmp_path / "a.json", tmp_path / "b.json")
    assert typo.exit_code == 2 and "did you mean 'invocation'" in typo.stderr
    nested = invoke("diff", "--only", "invocation.config", tmp_path / "a.json", tmp_path / "b.json")
    assert nested.exit_code == 1 and "invocation.config.optimizer.lr 0.0003 -> 0.0006" in nested.stdout
    ignored = invoke("diff", "--ignore", "disks[/data/drop8].free_bytes", "--only", "disks", tmp_path / "a.json", tmp_path / "b.json")
    assert ignored.exit_code == 0, ignored.stdout
    assert invoke("diff", "--ignore", "disks.free", tmp_path / "a.json", tmp_path / "b.json").exit_code == 2


@pytest.mark.parametrize(("old", "new", "verb"), [
    ("1.0rc1", "1.0", "upgraded"),          # a release candidate comes before its release (PEP 440)
    ("2.0.0", "2.0.0.post1", "upgraded"),
    ("1.10", "1.9", "downgraded"),
    ("2.1.0", "2.1", "changed"),            # the same version written two ways
    ("nightly", "1.0", "changed"),          # not a version: no order is claimed
])
def test_package_versions_are_ordered_by_pep_440(old, new, verb):
    from procrecord.operations.comparison import Change
    from procrecord.operations.diffreport import describe

    change = Change("/python/packages/0/version", "changed", old, new, "python.packages[numpy].version")
    assert describe(change) == f"{verb} numpy {old} -> {new}"


def _head(tmp_path, *args, lines=3):
    """``procrecord ARGS | head -LINES``: the exit code and stderr of procrecord."""
    proc = subprocess.Popen([sys.executable, "-m", "procrecord", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, PYTHONPATH=str(ROOT)), cwd=tmp_path)
    assert proc.stdout is not None and proc.stderr is not None
    for _ in range(lines):
        proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    return proc.wait(timeout=120), err


def _big_pair(tmp_path, keys=3000):
    a = load_json(FIXTURES / "diff" / "gpu-swap" / "a.json")
    b = json.loads(json.dumps(a))
    a["invocation"]["config"] = {f"k{i}": i for i in range(keys)}
    b["invocation"]["config"] = {f"k{i}": i + 1 for i in range(keys)}
    (tmp_path / "big_a.json").write_text(json.dumps(a))
    (tmp_path / "big_b.json").write_text(json.dumps(b))
    return tmp_path / "big_a.json", tmp_path / "big_b.json"


def test_a_closed_stdout_keeps_the_exit_code_and_prints_the_summary(tmp_path):
    a, b = _big_pair(tmp_path)  # far more text than a pipe holds
    code, err = _head(tmp_path, "diff", a, b)
    assert code == 1 and "3000 differences: 3000 invocation and config" in err, err
    assert "Traceback" not in err
    (tmp_path / "runs").mkdir()
    for i in range(20):
        (tmp_path / "runs" / f"r{i}.json").write_text(b.read_text())
    code, err = _head(tmp_path, "diff", "--baseline", a, tmp_path / "runs", lines=2)
    assert code == 1 and "compared" in err and "differ" in err, err
    assert "Traceback" not in err


def _bag_runs(tmp_path):
    a = load_json(FIXTURES / "1.1" / "valid" / "pipeline-step-artifacts.json")
    a["invocation"]["config"] = {"lr": 0.1, "a.b": 1}
    a["extra"] = {"val_loss": 0.5}
    b = json.loads(json.dumps(a))
    b["invocation"]["config"] = {"lr": 0.2, "a.b": 2}
    b["extra"] = {"val_loss": 0.4}
    b["python"]["packages"][0]["version"] = "26.0"
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    return a, b


def test_a_key_with_a_dot_is_matched_as_the_output_prints_it(tmp_path):
    a, b = _bag_runs(tmp_path)
    labels = {c.label for c in diff(a, b)}
    assert 'invocation.config["a.b"]' in labels
    for pattern in ('invocation.config["a.b"]', "/invocation/config/a.b", "invocation.config.a*", "invocation.config.*"):
        only = {c.label for c in diff(a, b, Options(only=(pattern,)))}
        assert 'invocation.config["a.b"]' in only and "extra.val_loss" not in only, pattern
        assert 'invocation.config["a.b"]' not in {c.label for c in diff(a, b, Options(ignore=(pattern,)))}, pattern
    result = invoke("diff", "--only", 'invocation.config["a.b"]', tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 1 and "1 difference" in result.stdout
    result = invoke("diff", "--ignore", 'invocation.config["a.b"]', tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 1 and '["a.b"]' not in result.stdout and "3 differences" in result.stdout
    # the dotted names are nested keys: config["a"]["b"], which these records do not have
    result = invoke("diff", "--ignore", "invocation.config.a.b", tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 2 and 'written quoted: invocation.config["a.b"]' in result.stderr


@pytest.mark.parametrize("args", [
    ("--only", "invocation.config.lrr"), ("--only", "extra.val_los"), ("--only", "python.packages[numpyy].version"),
    ("--ignore", "inputs[base-model/base/resnet50.pt]"), ("--only", "invocation.config.a"),
    ("--only", "extra.*.x"),
])
def test_a_path_in_an_open_bag_or_list_that_matches_nothing_is_a_usage_error(tmp_path, args):
    _bag_runs(tmp_path)
    result = invoke("diff", *args, tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 2 and f"{args[1]}: matches nothing in the records compared" in result.stderr
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "b.json").write_text((tmp_path / "b.json").read_text())
    result = invoke("diff", "--baseline", tmp_path / "a.json", *args, tmp_path / "runs")
    assert result.exit_code == 2 and f"{args[1]}: matches nothing in the records compared" in result.stderr
    assert "compared 1 records" in result.stderr, "the report of what was compared still stands"


@pytest.mark.parametrize(("args", "code"), [
    (("--only", "invocation.config.lr"), 1), (("--only", "extra.val_loss"), 1),
    (("--only", "python.packages[attrs].version"), 1), (("--only", "python.packages[cattrs].version"), 0),
    (("--ignore", "inputs[init-weights/s3://lab-models/base/resnet50.pt]"), 1),
    (("--only", "extra.*"), 1),
])
def test_a_path_in_an_open_bag_or_list_that_matches_is_accepted(tmp_path, args, code):
    _bag_runs(tmp_path)
    result = invoke("diff", *args, tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == code, result.stderr


def test_a_path_found_in_only_one_record_of_a_baseline_run_counts(tmp_path):
    a, b = _bag_runs(tmp_path)
    (tmp_path / "runs").mkdir()
    for i in range(3):
        b["extra"] = {"val_loss": 0.4} if i == 2 else {}
        (tmp_path / "runs" / f"r{i}.json").write_text(json.dumps(b))
    a["extra"] = {}
    (tmp_path / "a.json").write_text(json.dumps(a))
    result = invoke("diff", "--baseline", tmp_path / "a.json", "--only", "extra.val_loss", tmp_path / "runs")
    assert result.exit_code == 1 and "compared 3 records with" in result.stderr and "1 differ" in result.stderr


@pytest.mark.parametrize("args", [
    ("--only", "timing..duration_s"), ("--only", ".timing"), ("--only", "timing."), ("--ignore", "invocation.config..lr"),
    ("--only", "resources", "--ignore", "resources"), ("--only", "resources.cpu_user_s", "--ignore", "resources"),
    ("--only", "invocation.config.lr", "--ignore", "invocation.*"),
])
def test_empty_names_and_contradictions_are_usage_errors(tmp_path, args):
    _bag_runs(tmp_path)
    result = invoke("diff", *args, tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 2, result.stdout


_BAG_KEYS = st.from_regex(r"[a-z0-9_]{1,4}(\.[a-z0-9_]{1,4}){0,2}", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_BAG_KEYS, st.integers(0, 3), min_size=1, max_size=6),
       st.dictionaries(_BAG_KEYS, st.integers(0, 3), min_size=1, max_size=6))
def test_every_printed_label_selects_and_ignores_its_change(old, new):
    a = load_json(FIXTURES / "1.1" / "valid" / "minimal.json")
    b = json.loads(json.dumps(a))
    a.setdefault("invocation", {})["config"], b.setdefault("invocation", {})["config"] = old, new
    changes = diff(a, b)
    for change in changes:
        assert change in diff(a, b, Options(only=(change.label,))), change.label
        assert change not in diff(a, b, Options(ignore=(change.label,))), change.label


def test_a_baseline_run_that_finds_no_record_is_a_finding_unless_allowed(tmp_path):
    _bag_runs(tmp_path)
    (tmp_path / "empty").mkdir()
    empty = invoke("diff", "--baseline", tmp_path / "a.json", tmp_path / "empty")
    assert empty.exit_code == 1 and "compared 0 records" in empty.stderr and "no record found" in empty.stderr
    allowed = invoke("diff", "--baseline", tmp_path / "a.json", "--allow-empty", tmp_path / "empty")
    assert allowed.exit_code == 0 and "no record found" in allowed.stderr
    (tmp_path / "empty" / "same.json").write_text((tmp_path / "a.json").read_text())
    same = invoke("diff", "--baseline", tmp_path / "a.json", tmp_path / "empty")
    assert same.exit_code == 0 and "no record found" not in same.stderr
    pair = invoke("diff", "--allow-empty", tmp_path / "a.json", tmp_path / "b.json")
    assert pair.exit_code == 2 and "--allow-empty goes with --baseline" in pair.stderr


def _disks(*entries):
    record = load_json(FIXTURES / "1.1" / "valid" / "pipeline-step-artifacts.json")
    record["disks"] = [{"path": path, "mount_point": "/", "filesystem": "ext4", "total_bytes": 100, "free_bytes": free}
                       for path, free in entries]
    return record


def test_disks_are_matched_and_labelled_by_their_path(tmp_path):
    a = _disks(("/", 50), ("/tmp", 50))  # two paths on one mount point
    assert diff(a, _disks(("/tmp", 50), ("/", 50))) == [], "the same disks in another order are the same"
    b = _disks(("/tmp", 40), ("/", 30))
    assert {c.label for c in diff(a, b)} == {"disks[/].free_bytes", "disks[/tmp].free_bytes"}
    assert {c.label for c in diff(a, b, Options(ignore=("disks[/].free_bytes",)))} == {"disks[/tmp].free_bytes"}
    assert diff(a, b, Options(ignore=("disks[*].free_bytes",))) == []
    no_mount = _disks(("/data", 50))
    del no_mount["disks"][0]["mount_point"]
    moved = _disks(("/scratch", 50), ("/data", 50))
    del moved["disks"][1]["mount_point"]
    assert [(c.kind, c.label) for c in diff(no_mount, moved)] == [("added", "disks[/scratch]")]
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    result = invoke("diff", "--ignore", "disks[/].free_bytes", tmp_path / "a.json", tmp_path / "b.json")
    assert result.exit_code == 1 and "disks[/tmp].free_bytes 50 -> 40" in result.stdout and "disks[/]." not in result.stdout
    assert invoke("diff", "--ignore", "disks[/data].free_bytes", tmp_path / "a.json", tmp_path / "b.json").exit_code == 2
