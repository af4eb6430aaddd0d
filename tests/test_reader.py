"""procrecord.read / iter_read: typed records of the current version from files, JSONL and folders."""

from __future__ import annotations

import json

import pytest

import procrecord
from procrecord.errors import ProcrecordError, RecordReadError
from procrecord.record import model as m
from procrecord.record.schemas import current_version

from helpers import FIXTURES, load_json

GPU = FIXTURES / "1.0" / "valid" / "gpu-training.json"
LEGACY = FIXTURES / "0" / "valid"


def test_a_file_gives_one_typed_record():
    (record,) = procrecord.read(GPU)
    assert isinstance(record, m.Record) and isinstance(record.host, m.Host)
    assert record.schema_version == current_version()
    assert record.name == "geowatch.fit" and record.devices[0].type == "gpu"


def test_legacy_records_are_upgraded_first():
    records = procrecord.read(LEGACY)
    assert len(records) == len(list(LEGACY.glob("*.json")))
    assert {r.schema_version for r in records} == {current_version()}
    assert {r.provenance.upgraded_from for r in records} == {"0"}


def test_jsonl_and_folders_keep_their_order(tmp_path):
    lines = [load_json(GPU), load_json(next(LEGACY.glob("*.json"))), {**load_json(GPU), "name": "third"}]
    (tmp_path / "a.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps({**load_json(GPU), "name": "fourth"}), encoding="utf-8")
    names = [r.name for r in procrecord.read(tmp_path)]
    assert names == ["geowatch.fit", lines[1]["properties"]["name"], "third", "fourth"]
    assert [r.name for r in procrecord.read([tmp_path / "b.json", tmp_path / "a.jsonl"])][:2] == ["fourth", "geowatch.fit"]


def test_a_bad_record_names_file_line_and_problem(tmp_path):
    bad = load_json(GPU)
    bad["invocation"]["argv"] = "python train.py"
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(load_json(GPU)) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    with pytest.raises(RecordReadError) as caught:
        procrecord.read(path)
    assert isinstance(caught.value, ProcrecordError)
    assert (caught.value.source, caught.value.line) == (str(path), 2)
    assert str(caught.value).startswith(f"{path}:2: $.invocation.argv: ") and "is not of type 'array'" in str(caught.value)


@pytest.mark.parametrize(("text", "problem"), [
    ("{not json", "invalid JSON"),
    ('{"schema_version": "9.0"}', "newer than this installation knows"),
    ('{"hello": 1}', "not a procrecord record"),
])
def test_unreadable_documents_are_errors_with_their_place(tmp_path, text, problem):
    path = tmp_path / "x.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(RecordReadError, match=problem) as caught:
        procrecord.read(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_a_missing_source_is_an_error(tmp_path):
    with pytest.raises(RecordReadError, match="missing.json"):
        procrecord.read(tmp_path / "missing.json")


def test_iter_read_yields_before_reading_further(tmp_path):
    path = tmp_path / "runs.jsonl"
    path.write_text(json.dumps(load_json(GPU)) + "\n{broken\n", encoding="utf-8")
    records = procrecord.iter_read(path)
    assert next(records).name == "geowatch.fit"
    with pytest.raises(RecordReadError, match=r":2: invalid JSON"):
        next(records)


def test_a_symlink_a_walk_leaves_alone_is_not_read_as_a_record(tmp_path):
    (tmp_path / "b.json").write_text(json.dumps(load_json(GPU)), encoding="utf-8")
    (tmp_path / "link.json").symlink_to(tmp_path / "b.json")
    assert [r.name for r in procrecord.read(tmp_path)] == ["geowatch.fit"]


def test_an_empty_source_is_an_error_not_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "here.json").write_text(GPU.read_text())
    for source in ("", [GPU, ""]):
        with pytest.raises(ValueError, match="an empty source names nothing"):
            procrecord.read(source)
    assert [r.name for r in procrecord.read(".")] == ["geowatch.fit"]  # the current folder, when asked for


def _result_files(folder):
    """A geowatch result folder: a record, a kwcoco file with records in its info list (one with NaN),
    and a .kwcoco.zip."""
    import zipfile

    folder.mkdir()
    (folder / "a.json").write_text(GPU.read_text())
    host = json.dumps({"info": [load_json(GPU)], "images": []})
    (folder / "data.kwcoco.json").write_text(host)
    (folder / "nan.kwcoco.json").write_text(host.replace('"images": []', '"images": [{"score": NaN}]'))
    with zipfile.ZipFile(folder / "data.kwcoco.zip", "w") as archive:
        archive.writestr("data.kwcoco.json", host)
    return folder


def test_a_result_folder_is_read_past_its_result_files_with_a_warning_each(tmp_path):
    """As the CLI does: the other records are read, and each result file is said (not a failure of the whole)."""
    folder = _result_files(tmp_path / "results")
    with pytest.warns(RuntimeWarning) as caught:
        records = procrecord.read(folder)
    assert [r.name for r in records] == ["geowatch.fit"]
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 3 and all("skipped" in m and "read() reads record files" in m for m in messages)
    assert all("--embedded reads them too" in m and "use --embedded" not in m for m in messages)
    assert [w.filename for w in caught] == [__file__] * 3
    with pytest.warns(RuntimeWarning):
        assert [r.name for r in procrecord.iter_read(str(folder / "*"))] == ["geowatch.fit"]


@pytest.mark.parametrize("name", ["data.kwcoco.json", "nan.kwcoco.json", "data.kwcoco.zip"])
def test_a_named_result_file_raises_in_reads_own_terms(tmp_path, name):
    folder = _result_files(tmp_path / "results")
    with pytest.raises(RecordReadError, match="read\\(\\) reads record files") as caught:
        procrecord.read(folder / name)
    assert "use --embedded" not in str(caught.value)


def test_a_size_refusal_names_reads_own_argument(tmp_path):
    with pytest.raises(RecordReadError, match=r"over the limit of 100 \(raise it with read\(\.\.\., max_bytes=N\)\)") as caught:
        procrecord.read(GPU, max_bytes=100)
    assert "--max-bytes" not in str(caught.value)
    assert [r.name for r in procrecord.read(GPU, max_bytes=10**6)] == ["geowatch.fit"]


def test_a_key_written_twice_is_an_error_as_validate_says(tmp_path):
    """The parser keeps the last value of a repeated key: read() says so, as ``procrecord validate`` does."""
    text = json.dumps(load_json(GPU))
    path = tmp_path / "dup.json"
    path.write_text(text[:-1] + ', "name": "other"}', encoding="utf-8")
    with pytest.raises(RecordReadError, match=r"duplicate key 'name' in the object at \$") as caught:
        procrecord.read(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_integers_beyond_64_bits_are_read_exactly(tmp_path):
    """As the commands read them: a 128-bit seed in a config is not made a float (and writes back equal)."""
    from procrecord.record.reader import to_dict

    record = {"schema_version": "1.1", "record_type": "procrecord.process", "id": "0b5e2d7c-9a1f-4e3b-8c6d-2f4a6b8c0d1e",
              "name": "n", "status": "completed", "producer": {"name": "procrecord", "version": "0.1.0"},
              "invocation": {"config": {"seed": 2**64 + 1, "big": -(10**30), "list": [2**70]}}}
    path = tmp_path / "r.procrecord.json"
    path.write_text(json.dumps(record))
    (read,) = procrecord.read(str(path))
    assert read.invocation.config == record["invocation"]["config"]
    assert type(read.invocation.config["seed"]) is int and to_dict(read) == record
    (again,) = list(procrecord.iter_read(str(path)))
    assert again.invocation.config["list"] == [2**70]
