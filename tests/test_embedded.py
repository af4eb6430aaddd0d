"""Records embedded in result files: only the record items change, every other byte is kept."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.bulk.embedded import DEFAULT_POINTERS, find_records
from procrecord.bulk.jsonspans import depth_change, layout_of, resolve
from procrecord.cli import cli
from procrecord.operations.redaction import check_level
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate_versioned

from helpers import FIXTURES, load_json

HOSTS = FIXTURES / "embedded"
JSON_HOSTS = sorted(p.name for p in HOSTS.glob("*.json"))
ALL_HOSTS = sorted(p.name for p in HOSTS.iterdir() if p.suffix in (".json", ".zip"))
COMMANDS = {
    "upgrade": ("upgrade",),
    "redact": ("redact", "--level", "most"),
    "downgrade": ("downgrade",),
}


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def _copy(tmp_path, name):
    target = tmp_path / name
    shutil.copyfile(HOSTS / name, target)
    return target


def _json_of(path: Path) -> bytes:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return archive.read(archive.infolist()[0])
    return path.read_bytes()


def _outside_records(data: bytes) -> bytes:
    """The document with each record item replaced by ``0``: what must not change."""
    found, _ = find_records(data, DEFAULT_POINTERS)
    pieces, pos = [], 0
    for item in sorted(found):
        pieces += [data[pos:item.start], b"0"]
        pos = item.end
    return b"".join(pieces) + data[pos:]


@pytest.mark.parametrize("name", ALL_HOSTS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_only_the_record_items_change(tmp_path, name, command):
    path = _copy(tmp_path, name)
    before = _json_of(path)
    result = invoke(*COMMANDS[command], "--embedded", "--in-place", path)
    assert result.exit_code == 0, result.output
    after = _json_of(path)
    assert after != before or command == "downgrade", "something was to change"
    assert _outside_records(after) == _outside_records(before)
    assert after.count(b"\n") == before.count(b"\n") or b"\n    " in before, "a one-line item stays on one line"
    assert len(find_records(after, DEFAULT_POINTERS)[0]) == len(find_records(before, DEFAULT_POINTERS)[0])


def test_a_compact_file_stays_compact_and_an_indented_one_keeps_its_indent(tmp_path):
    compact = _copy(tmp_path, "compact.kwcoco.json")
    indented = _copy(tmp_path, "indented.kwcoco.json")
    assert invoke("upgrade", "--embedded", "--in-place", compact, indented).exit_code == 0
    text = compact.read_bytes()
    assert text == orjson.dumps(json.loads(text))  # no whitespace anywhere, as before
    span = resolve(indented.read_bytes(), ["info", "1"])
    layout = layout_of(indented.read_bytes(), *span)
    assert layout.unit == b"    " and layout.base == b"        "
    item = json.loads(indented.read_bytes())["info"][1]
    assert item["schema_version"] == current_version()


def test_nan_and_infinity_in_the_host_are_kept(tmp_path):
    path = _copy(tmp_path, "pxl_eval.json")
    before = path.read_text()
    for command in (("validate",), ("redact", "--level", "most", "--in-place"), ("upgrade", "--in-place"),
                    ("downgrade", "--in-place")):
        result = invoke(*command, "--embedded", path)
        assert result.exit_code == 0, (command, result.output)
    after = path.read_text()
    for literal in ("NaN", "Infinity", "-Infinity"):
        assert after.count(literal) == before.count(literal)
    assert json.loads(after)["meta"]["info"][0]["type"] == "process"


def test_a_record_holding_nan_is_reported_and_left_alone(tmp_path):
    record = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    text = json.dumps({"info": [record]}).replace('"lr": 0.001', '"lr": NaN')
    path = tmp_path / "host.json"
    path.write_text(text)
    result = invoke("upgrade", "--embedded", "--in-place", path)
    assert result.exit_code == 1
    assert "$.info[0]" in result.output or "info[0]" in result.output
    assert "not strict JSON" in result.output and path.read_text() == text


def _zip_with_readme(path: Path, method: int) -> bytes:
    readme = b"kept byte for byte\n" * 20
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(zipfile.ZipInfo("README.txt", (2020, 1, 2, 3, 4, 6)), readme, zipfile.ZIP_STORED)
        archive.writestr(zipfile.ZipInfo("data.kwcoco.json", (2021, 1, 2, 3, 4, 6)),
                         (HOSTS / "compact.kwcoco.json").read_bytes(), method)
    return readme


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED, zipfile.ZIP_LZMA])
def test_a_zip_is_rewritten_with_its_compression_and_other_members(tmp_path, method):
    path = tmp_path / "results.kwcoco.zip"
    readme = _zip_with_readme(path, method)
    result = invoke("upgrade", "--embedded", "--in-place", path)
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(path) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        assert list(infos) == ["README.txt", "data.kwcoco.json"]
        assert archive.read("README.txt") == readme and infos["README.txt"].compress_type == zipfile.ZIP_STORED
        assert infos["data.kwcoco.json"].compress_type == method
        assert infos["data.kwcoco.json"].date_time == (2021, 1, 2, 3, 4, 6)
        doc = json.loads(archive.read("data.kwcoco.json"))
    assert doc["info"][1]["schema_version"] == current_version()


def test_a_folder_of_zips_is_found_with_embedded_and_hinted_without(tmp_path):
    shutil.copyfile(HOSTS / "results.kwcoco.zip", tmp_path / "a.kwcoco.zip")
    result = invoke("validate", tmp_path)
    assert result.exit_code == 1
    assert "a.kwcoco.zip:: error:" in result.output and "use --embedded" in result.output
    result = invoke("validate", "--embedded", tmp_path)
    assert result.exit_code == 1 and "1 document holding 3 embedded records from 1 source: 1 invalid" in result.output
    assert "a.kwcoco.zip::$.info[2]: 'type' is missing" in result.output  # the 1.0 item (see below)
    assert invoke("upgrade", "--embedded", "--in-place", tmp_path).exit_code == 0
    result = invoke("validate", "--embedded", tmp_path)
    assert result.exit_code == 0 and "1 document holding 3 embedded records from 1 source: 1 valid" in result.output


def test_a_result_file_without_embedded_gets_a_hint(tmp_path):
    result = invoke("validate", HOSTS / "default.kwcoco.json")
    assert result.exit_code == 1 and "use --embedded" in result.output


def test_records_at_named_pointers_are_found(tmp_path):
    record = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    path = tmp_path / "nested.json"
    path.write_text(json.dumps({"run": {"steps": [{"context": record}]}, "score": float("nan")}))
    result = invoke("upgrade", "--embedded", "--embedded-pointer", "/run/steps/0/context", "--in-place", path)
    assert result.exit_code == 0, result.output
    assert json.loads(path.read_text())["run"]["steps"][0]["context"]["schema_version"] == current_version()
    assert "NaN" in path.read_text()
    assert invoke("upgrade", "--embedded-pointer", "/a", path).exit_code == 2


@pytest.mark.parametrize("others", [True, False], ids=["with-a-record-in-info", "alone"])
@pytest.mark.parametrize("pointer, said", [
    ("/nope", "--embedded-pointer /nope names nothing in this file"),
    ("/runs/rec", "runs.rec: an object, not a process record (named by --embedded-pointer /runs/rec)"),
    ("/runs/list", "runs.list[1]: an object, not a process record (named by --embedded-pointer /runs/list); "
                   "runs.list[2]: a number, not a process record (named by --embedded-pointer /runs/list)"),
    ("/runs/name", "runs.name: a string, not a process record (named by --embedded-pointer /runs/name)"),
])
def test_what_a_named_pointer_names_is_a_record_or_a_finding(tmp_path, pointer, said, others):
    """A pointer that names nothing, or a value or list item that is no record, is a finding naming
    the file and the pointer (exit 1), whether or not the file has other records."""
    record = load_json(FIXTURES / "1.1" / "valid" / "minimal.json")
    host = {"runs": {"rec": {"not": "a record"}, "list": [record, {"x": 1}, 5], "name": "x"}}
    if others:
        host["info"] = [{"type": "note"}, record]  # an info list mixes kinds of items: the note is no finding
    path = tmp_path / "ptr.json"
    path.write_text(json.dumps(host))
    before = path.read_bytes()
    for args in (("validate",), ("redact", "--level", "most", "--in-place"), ("upgrade", "--in-place")):
        result = invoke(*args, "--embedded", "--embedded-pointer", pointer, path)
        assert result.exit_code == 1, (args, result.output)
        assert f"{path}:: error: {said}" in result.output.splitlines(), (args, result.output)
    assert path.read_bytes() == before  # a file with a finding is not rewritten
    # a record file is still a record file: the pointer is for host files
    plain = invoke("validate", "--embedded", "--embedded-pointer", pointer, FIXTURES / "1.1" / "valid" / "minimal.json")
    assert plain.exit_code == 0, plain.output


def test_meta_info_is_found():
    result = invoke("validate", "--embedded", HOSTS / "pxl_eval.json")
    assert result.exit_code == 0 and "holding 1 embedded record from" in result.output


def test_the_json_summary_counts_documents_and_the_records_they_hold():
    """--embedded: ``by_status`` counts documents; ``records`` is what they held, as the text line says."""
    result = CliRunner().invoke(cli, ["validate", "--embedded", "--format", "json", str(HOSTS)], catch_exceptions=False)
    summary = json.loads(result.stdout)["summary"]
    documents = len(ALL_HOSTS)
    assert summary["documents"] == sum(summary["by_status"].values()) == documents
    assert summary["records"] == summary["totals"]["embedded_records"] > documents
    assert f"{documents} documents holding {summary['records']} embedded records" in result.stderr


def test_redact_keeps_each_item_in_its_own_version(tmp_path):
    path = _copy(tmp_path, "default.kwcoco.json")
    result = invoke("redact", "--embedded", "--level", "most", "--in-place", path)
    assert result.exit_code == 0, result.output
    before, after = load_json(HOSTS / "default.kwcoco.json")["info"], load_json(path)["info"]
    assert after[0] == before[0]
    assert [validate_versioned(i)[0] for i in after[1:]] == [validate_versioned(i)[0] for i in before[1:]]
    assert after[1]["type"] == "process" and after[1]["properties"]["machine"].get("host") is None
    for item in after[1:]:
        assert validate_versioned(item)[1] == [] and check_level(item, "most", validate_versioned(item)[0]) == []
    # the gate finds no leak; the 1.0 item, kept in its version, still has no 'type' (a finding of its own)
    assert _gate_findings(path, "most") == {("$.info[2]", "kwcoco-info-type")}
    assert any(keyword != "kwcoco-info-type" for _, keyword in _gate_findings(path, "all"))


def test_redact_upgrade_asked_for(tmp_path):
    path = _copy(tmp_path, "default.kwcoco.json")
    assert invoke("redact", "--embedded", "--upgrade", "--level", "all", "--in-place", path).exit_code == 0
    assert {i.get("schema_version") for i in load_json(path)["info"][1:]} == {current_version()}


def test_size_refusals_name_max_bytes(tmp_path):
    result = invoke("validate", "--embedded", "--max-bytes", "100", HOSTS / "compact.kwcoco.json")
    assert result.exit_code == 1 and "--max-bytes" in result.output
    path = tmp_path / "big.kwcoco.zip"
    _zip_with_readme(path, zipfile.ZIP_DEFLATED)
    result = invoke("validate", "--embedded", "--max-bytes", str(path.stat().st_size + 1), path)
    assert result.exit_code == 1 and "unpacked" in result.output and "--max-bytes" in result.output


def test_embedded_jsonl_lines_stay_lines(tmp_path):
    record = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    path = tmp_path / "hosts.jsonl"
    path.write_text("".join(json.dumps({"info": [record], "n": i}) + "\n" for i in range(3)))
    result = invoke("upgrade", "--embedded", "--in-place", path)
    assert result.exit_code == 0, result.output
    lines = path.read_text().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(alphabet='ab"\\[]{}:, \n'),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(["a", "info", 'q"', "b\\"]), inner, max_size=4),
    max_leaves=25,
)


@settings(deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["info", "meta", "x", "info\\"]), _json_values, max_size=4),
       indent=st.sampled_from([None, 1, 4, "\t"]), chunk=st.integers(1, 9))
def test_spans_agree_with_a_parser(doc, indent, chunk):
    text = json.dumps(doc, indent=indent).encode()
    assert depth_change(text, 0, len(text), chunk) == 0
    for key in ("info", "meta", "x", "info\\"):
        span = resolve(text, [key])
        assert (span is None) == (key not in doc)
        if span is not None:
            assert json.loads(text[span[0]:span[1]]) == doc[key]


# --- the real client: kwcoco 0.9.1 in its own environment -------------------------------------------

KWCOCO_PYTHON = os.environ.get("PROCRECORD_TEST_KWCOCO_PYTHON")
needs_kwcoco = pytest.mark.skipif(not KWCOCO_PYTHON or not Path(KWCOCO_PYTHON).exists(),
                                  reason="set PROCRECORD_TEST_KWCOCO_PYTHON to a Python with kwcoco installed")
_LOAD = """
import sys, kwcoco
for path in sys.argv[1:]:
    dset = kwcoco.CocoDataset(path)
    assert dset.dataset.get('info') is not None or 'meta' in dset.dataset, path
print('loaded', len(sys.argv) - 1)
"""


@needs_kwcoco
def test_kwcoco_reads_every_file_the_commands_wrote(tmp_path):
    written = []
    steps = [("upgrade",), ("redact", "--level", "most"), ("downgrade",), ("redact", "--level", "all", "--upgrade")]
    for i, step in enumerate(steps):
        folder = tmp_path / f"step{i}"
        shutil.copytree(HOSTS if i == 0 else tmp_path / f"step{i - 1}", folder,
                        ignore=shutil.ignore_patterns("*.py"))  # each step on the output of the one before
        result = invoke(*step, "--embedded", "--in-place", folder)
        assert result.exit_code == 0, (step, result.output)
        result = invoke("validate", "--embedded", folder)
        assert result.exit_code == 0, (step, result.output)
        written += sorted(str(p) for p in folder.iterdir())
    proc = subprocess.run([KWCOCO_PYTHON, "-c", _LOAD, *written], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"loaded {len(written)}" in proc.stdout


def test_kwcoco_default_dump_keeps_its_spaced_separators(tmp_path):
    path = _copy(tmp_path, "default.kwcoco.json")
    assert invoke("upgrade", "--embedded", "--in-place", path).exit_code == 0
    text = path.read_text()
    assert text == json.dumps(json.loads(text), ensure_ascii=False)  # what kwcoco's dump writes


_LEGACY_RECORD = load_json(FIXTURES / "0" / "valid" / "with-emissions.json")


@settings(deadline=None)  # the first example loads the schemas
@given(others=st.dictionaries(st.sampled_from(["images", "meta", "info2", "z"]), _json_values, max_size=3),
       before=st.lists(_json_values, max_size=2), after=st.lists(_json_values, max_size=2),
       indent=st.sampled_from([None, 1, 2, 4, "\t"]), spaced=st.booleans(), crlf=st.booleans())
def test_upgrading_an_item_changes_that_item_only(others, before, after, indent, spaced, crlf):
    from procrecord.bulk.embedded import Embedded
    from procrecord.bulk.loader import Loaded
    from procrecord.operations.migration import upgrade
    from procrecord.operations.transforms import UpgradeRecord

    doc = {**others, "info": [*before, _LEGACY_RECORD, *after]}
    separators = None if spaced or indent is not None else (",", ":")
    text = json.dumps(doc, indent=indent, separators=separators).encode()
    if crlf:
        text = text.replace(b"\n", b"\r\n")  # JSON strings hold no raw newline: only the layout's change
    outcome = Embedded(UpgradeRecord())(Loaded("host.json", None, {}, False, text))
    assert outcome.status == "upgraded", outcome
    from procrecord.kwcoco import with_item_type

    expected = {**doc, "info": [*before, with_item_type(upgrade(_LEGACY_RECORD)), *after]}
    assert json.loads(outcome.output) == json.loads(json.dumps(expected))
    assert _outside_records(outcome.output) == _outside_records(text)
    if indent is None:
        assert b"\n" not in outcome.output
    assert outcome.output.count(b"\n") == outcome.output.count(b"\r\n") if crlf else b"\r" not in outcome.output


# --- geowatch 0.20.0's own readers (mlops), when an environment with geowatch is named -------------

GEOWATCH_PYTHON = os.environ.get("PROCRECORD_TEST_GEOWATCH_PYTHON")
needs_geowatch = pytest.mark.skipif(not GEOWATCH_PYTHON or not Path(GEOWATCH_PYTHON).exists(),
                                    reason="set PROCRECORD_TEST_GEOWATCH_PYTHON to a Python with geowatch installed")
_GEOWATCH_READ = """
import json, os, sys
os.environ['GEOWATCH_PREIMPORT'] = '0'
import kwcoco
from geowatch.mlops import smart_result_parser as srp
count = 0
for path in sys.argv[1:]:
    data = kwcoco.CocoDataset(path).dataset if 'kwcoco' in path else json.load(open(path))
    info = data['meta']['info'] if 'meta' in data else data['info']
    items = list(srp.find_info_items(info, {'process', 'process_context'}))
    assert items, path
    for item in items:
        srp._handle_process_item(item)
        resources = srp.parse_resource_item(item)
        assert isinstance(resources, dict), path
        count += 1
print('read', count)
"""


@needs_geowatch
def test_geowatch_reads_the_legacy_items_after_redact_and_downgrade(tmp_path):
    folder = tmp_path / "hosts"
    shutil.copytree(HOSTS, folder, ignore=shutil.ignore_patterns("*.py"))
    assert invoke("redact", "--embedded", "--level", "most", "--in-place", folder).exit_code == 0
    assert invoke("downgrade", "--embedded", "--in-place", folder).exit_code == 0  # the 1.0 items too
    files = sorted(str(p) for p in folder.iterdir())
    proc = subprocess.run([GEOWATCH_PYTHON, "-c", _GEOWATCH_READ, *files],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "read 16" in proc.stdout, proc.stdout  # 3 records in each of 4 kwcoco files and the zip, 1 in pxl_eval


@pytest.mark.parametrize("text, expected", [
    (b'{"a": "\\"info\\": [1]", "info": [2]}', [2]),  # the name inside a string is no key
    (b'{"a": {"info": [1]}, "b": "x\\\\", "info": [2]}', [2]),  # deeper, and after an escaped backslash
    (b'{"a": {"info": [1]}}', None),
    (b'\xef\xbb\xbf {"info" :\n [2]}', [2]),
])
def test_keys_are_found_where_a_parser_finds_them(text, expected):
    span = resolve(text, ["info"])
    assert (None if span is None else json.loads(text[span[0]:span[1]])) == expected


def _gate_findings(path: Path, level: str) -> set[tuple[str, str]]:
    """``validate --embedded --require-level LEVEL``'s findings: (path in the document, keyword)."""
    result = invoke("validate", "--embedded", "--require-level", level, "--format", "json", path)
    report = json.loads(result.stdout)
    assert result.exit_code == (1 if any(r["status"] != "valid" for r in report["records"]) else 0), result.output
    return {(v["path"], v["keyword"]) for r in report["records"] for v in r.get("violations", ())}


@pytest.mark.parametrize("level", ["most", "all"])
def test_kept_versions_pass_the_gate_of_their_level(tmp_path, level):
    folder = tmp_path / "hosts"
    shutil.copytree(HOSTS, folder, ignore=shutil.ignore_patterns("*.py"))
    assert invoke("redact", "--embedded", "--level", level, "--in-place", folder).exit_code == 0
    # no leak: the one finding left is the 1.0 item kept without the 'type' its info list needs
    assert _gate_findings(folder, level) == {("$.info[2]", "kwcoco-info-type")}
    info = load_json(folder / "newlines.kwcoco.json")["info"]
    assert [item.get("type") for item in info] == ["note", "process", None, "process"]  # 0, 1.0, 0 as before


@pytest.mark.parametrize("ensure_ascii", [True, False])
def test_a_pointer_beyond_ascii_is_found_however_the_key_was_written(ensure_ascii):
    text = json.dumps({"résultats": {"info": [7]}}, ensure_ascii=ensure_ascii).encode()
    span = resolve(text, ["résultats", "info"])
    assert span is not None and json.loads(text[span[0]:span[1]]) == [7]


def test_items_written_from_now_on_carry_the_kwcoco_type(tmp_path):
    """Upgraded items get ``"type": "procrecord"`` after ``record_type`` (readers that dispatch on
    ``type`` skip them); a 1.0 item left in its version stays without it; legacy items keep theirs."""
    path = _copy(tmp_path, "indented.kwcoco.json")
    assert invoke("redact", "--level", "most", "--embedded", "--in-place", path).exit_code == 0
    kept = json.loads(path.read_text())["info"]
    assert [item.get("type") for item in kept] == ["note", "process", None, "process"]
    assert invoke("upgrade", "--embedded", "--in-place", path).exit_code == 0
    items = json.loads(path.read_text())["info"]
    assert [item.get("type") for item in items] == ["note", "procrecord", "procrecord", "procrecord"]
    for item in items[1:]:
        keys = list(item)
        assert keys[keys.index("record_type") + 1] == "type"
        assert validate_versioned(item)[1] == []


def test_a_result_file_with_nan_checked_without_embedded_gets_the_hint(tmp_path):
    """Python's json writes NaN into kwcoco files; such a file is no JSON for a plain ``validate``, whose
    error now says what to do, as it does for a result file that parses."""
    path = tmp_path / "data.kwcoco.json"
    legacy = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    path.write_text('{"info": [' + json.dumps(legacy) + '], "images": [{"id": 1, "score": NaN}]}')
    for command in ("validate", "show"):  # the message a result file without NaN gets, and where the NaN is
        result = CliRunner().invoke(cli, [command, str(path)])
        assert result.exit_code == 1
        assert "a result file (kwcoco or geowatch) with an info list" in result.output, result.output
        assert "use --embedded" in result.output and "NaN at line 1, column" in result.output
    embedded = CliRunner().invoke(cli, ["validate", "--embedded", str(path)])
    assert embedded.exit_code == 0, embedded.output
    (tmp_path / "other.json").write_text('{"lr": NaN}')  # not a result file: the plain error, naming the NaN
    plain = CliRunner().invoke(cli, ["validate", str(tmp_path / "other.json")])
    assert plain.exit_code == 1 and "use --embedded" not in plain.output
    assert "invalid JSON at line 1, column 8: NaN (JSON has no NaN or Infinity" in plain.output


def test_a_result_file_with_nan_in_meta_info_gets_the_hint_too(tmp_path):
    """geowatch's pxl_eval.json keeps its records in ``meta.info`` and its scores may be NaN."""
    path = tmp_path / "pxl_eval.json"
    legacy = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    path.write_text(json.dumps({"meta": {"info": [legacy]}, "nocls_measures": {"ap": float("nan")}}))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 1 and "with an info list, and NaN at line 1" in result.output, result.output


def test_an_embedded_file_with_infinity_and_no_info_says_where_records_were_looked_for(tmp_path):
    """No ``info`` list: the file is read as a record, and the message says both things that are true."""
    record = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    path = tmp_path / "custom.json"
    path.write_text(json.dumps({"runs": [record], "v": float("inf")}))
    result = invoke("validate", "--embedded", path)
    assert result.exit_code == 1
    assert "no process records at /info, /meta/info (name where they are with --embedded-pointer)" in result.output
    assert "Infinity" in result.output, result.output
    assert invoke("validate", "--embedded", "--embedded-pointer", "/runs", path).exit_code == 0


def test_a_zip_with_no_json_member_says_so(tmp_path):
    """Its one member is tried as the document; when that is no JSON, the message names the member."""
    path = tmp_path / "none.kwcoco.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "x")
    result = invoke("validate", "--embedded", path)
    assert result.exit_code == 1
    assert "zip archive holds no .json member, and its one member, readme.txt, is no JSON document" in result.output


# --- items that claim to be records, and the 'type' every info item needs --------------------------

_GEOWATCH_ITEMS = """
import json, os, sys
os.environ['GEOWATCH_PREIMPORT'] = '0'
from geowatch.mlops import smart_result_parser as srp
out = []
for item in json.load(sys.stdin):
    try:
        out.append('taken' if list(srp.find_info_items([item], {'process', 'process_context'})) else 'skipped')
    except (KeyError, TypeError) as exc:
        out.append(type(exc).__name__)
print(json.dumps(out))
"""


def _legacy_reader(info: list) -> list[str]:
    """What geowatch's ``find_info_items`` makes of each item of an info list: ``taken``, ``skipped``
    or the error it raises (which fails the whole lookup). geowatch's own code when
    PROCRECORD_TEST_GEOWATCH_PYTHON names it, else the reference's documented behaviour
    (shared/reference/upstream-behaviour.md: ``item['type']`` on every item, then ``properties.name``)."""
    if GEOWATCH_PYTHON and Path(GEOWATCH_PYTHON).exists():
        proc = subprocess.run([GEOWATCH_PYTHON, "-c", _GEOWATCH_ITEMS], input=json.dumps(info), capture_output=True,
                              text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return list(json.loads(proc.stdout))
    out = []
    for item in info:
        try:
            taken = item["type"] in ("process", "process_context")
            if taken:
                item["properties"]["name"]
        except (KeyError, TypeError) as exc:
            out.append(type(exc).__name__)
            continue
        out.append("taken" if taken else "skipped")
    return out


def _claiming_items() -> dict[str, dict]:
    minimal = load_json(FIXTURES / "1.1" / "valid" / "minimal.json")
    return {
        # the audit's gate case: a mistyped discriminator, with the host's and the user's names in it
        "record-type-typo": {**minimal, "record_type": "procrecord.proces",
                             "host": {"hostname": "gpu-node-17.lab.example.org", "user": "alice"}},
        "procrecord-type-only": {"type": "procrecord", "schema_version": "1.1"},
        "procrecord-no-version": {"type": "procrecord", "record_type": "procrecord.process", "name": "x"},
        "legacy-type-only": {"type": "process"},
        "legacy-context-null-properties": {"type": "process_context", "properties": None},
        "no-type-with-version": {"schema_version": "1.1", "name": "x"},
        "other-type-our-record-type": {**minimal, "type": "note", "record_type": "procrecord.proces"},
    }


CLAIMING = _claiming_items()


@pytest.mark.parametrize("alone", [False, True], ids=["beside-others", "alone"])
@pytest.mark.parametrize("name", sorted(CLAIMING))
def test_an_item_that_claims_to_be_a_record_is_checked_as_one(tmp_path, name, alone):
    """An info item that says it is a record by any of its marks (type procrecord/process/process_context,
    our record_type, a schema_version or the legacy properties on an item without type) is a record:
    malformed, it is a finding with its place in every --embedded command (the gate fails), and the
    file is not rewritten. Before, it was skipped and the gate passed."""
    legacy = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    info = [CLAIMING[name]] if alone else [{"type": "note", "text": "x"}, legacy, CLAIMING[name]]
    where = "$.info[0]" if alone else "$.info[2]"
    path = tmp_path / "results.kwcoco.json"
    path.write_text(json.dumps({"images": [], "info": info}))
    before = path.read_bytes()
    for args in (("validate",), ("validate", "--require-level", "most"), ("redact", "--level", "most", "--in-place"),
                 ("upgrade", "--in-place"), ("downgrade", "--in-place"), ("downgrade", "--to", "1.0", "--in-place")):
        result = invoke(*args, "--embedded", path)
        assert result.exit_code == 1, (args, result.output)
        assert f"::{where}" in result.output or f" {where[2:]}: " in result.output, (args, result.output)
        assert "no process records" not in result.output
    assert path.read_bytes() == before
    plain = tmp_path / "plain.json"  # the same item as a record file: the same verdict
    plain.write_text(json.dumps(CLAIMING[name]))
    assert invoke("validate", plain).exit_code == 1


def test_the_legacy_reader_takes_or_fails_on_the_legacy_typed_items_we_now_check():
    """geowatch's reader does not skip an item typed process/process_context, properties or not."""
    items = [CLAIMING["legacy-type-only"], CLAIMING["legacy-context-null-properties"]]
    assert all(answer != "skipped" for answer in _legacy_reader(items))
    found, _ = find_records(json.dumps({"info": items}).encode(), DEFAULT_POINTERS)
    assert [f.path for f in found] == ["$.info[0]", "$.info[1]"]


@pytest.mark.parametrize("item", [
    {"type": "note", "text": "kept as it is"},
    {"type": "measure", "schema_version": "1.0", "properties": {"f1": 0.5}},  # another kind, whatever its keys
    {"type": None, "name": "x"},
    {"description": "a COCO-style info entry", "year": 2024},
    [1, 2],
    "text",
], ids=["note", "measure", "null-type", "coco-info", "list", "string"])
def test_items_of_other_kinds_stay_untouched(tmp_path, item):
    record = load_json(FIXTURES / "1.1" / "valid" / "minimal.json")
    path = tmp_path / "results.kwcoco.json"
    path.write_text(json.dumps({"info": [item, record]}))
    result = invoke("validate", "--embedded", path)
    assert result.exit_code == 0 and "holding 1 embedded record from" in result.output, result.output
    assert invoke("downgrade", "--embedded", "--in-place", path).exit_code == 0
    assert json.loads(path.read_text())["info"][0] == item


def test_validate_reports_a_1_x_info_item_without_type():
    """A released host file holds a 1.0 record without 'type' in its info list: geowatch's reader
    fails on the whole list, so validate --embedded says so at the item (before: valid)."""
    info = load_json(HOSTS / "default.kwcoco.json")["info"]
    assert "schema_version" in info[2] and "type" not in info[2]
    assert "KeyError" in _legacy_reader(info)
    result = invoke("validate", "--embedded", HOSTS / "default.kwcoco.json")
    assert result.exit_code == 1
    line = [x for x in result.output.splitlines() if "::$.info[2]:" in x]
    assert len(line) == 1 and "'type' is missing" in line[0] and "legacy readers fail" in line[0], result.output
    assert "procrecord upgrade --embedded" in line[0] and line[0].endswith("(kwcoco-info-type)")


def test_a_downgrade_to_1_0_never_removes_an_info_items_type(tmp_path):
    """1.0 has no 'type' (and its schema is closed): an info item written as 1.0 would lose it and break
    geowatch's reader, so the item is an error and the file is not written (before: written, type
    silently dropped). Elsewhere than in an info list the downgrade goes on; to 0 the item keeps a type."""
    path = _copy(tmp_path, "compact.kwcoco.json")
    assert invoke("upgrade", "--embedded", "--in-place", path).exit_code == 0
    upgraded = path.read_bytes()
    assert _legacy_reader(json.loads(upgraded)["info"]) == ["skipped", "skipped", "skipped", "skipped"]
    result = invoke("downgrade", "--to", "1.0", "--embedded", "--in-place", path)
    assert result.exit_code == 1, result.output
    for index in (1, 2, 3):
        assert f"info[{index}]: not written as version 1.0: that version has no 'type'" in result.output
    assert "legacy readers fail" in result.output and "downgrade to 0" in result.output
    assert path.read_bytes() == upgraded
    # a legacy item upgraded to 1.0 would lose its type too
    legacy = _copy(tmp_path, "pxl_eval.json")
    before = legacy.read_bytes()
    result = invoke("upgrade", "--to", "1.0", "--embedded", "--in-place", legacy)
    assert result.exit_code == 1 and "meta.info[0]: not written as version 1.0" in result.output, result.output
    assert legacy.read_bytes() == before
    # to 0 the items are legacy items, with their type, as geowatch reads them
    assert invoke("downgrade", "--embedded", "--in-place", path).exit_code == 0
    assert _legacy_reader(json.loads(path.read_text())["info"]) == ["skipped", "taken", "taken", "taken"]
    # a list that is no info list (named with --embedded-pointer) is downgraded as a record file is
    other = tmp_path / "runs.json"
    other.write_text(json.dumps({"runs": [load_json(FIXTURES / "1.1" / "valid" / "minimal.json")]}))
    result = invoke("downgrade", "--to", "1.0", "--embedded", "--embedded-pointer", "/runs", "--in-place", other)
    assert result.exit_code == 0, result.output
    assert json.loads(other.read_text())["runs"][0]["schema_version"] == "1.0"
