"""The section engine of the Parquet/CSV exports (``exports/sections.py``) gives the row engine's tables."""

from __future__ import annotations

import copy
import json

import pytest
from exportdata import current, failed, pipeline
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procrecord.exports import ExportOptions, export
from procrecord.record.schemas import current_version

from helpers import FIXTURES, load_json

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

FORMATS = ("parquet", "csv", "jsonl-flat")


def _bases() -> list[dict]:
    root, child = pipeline()
    names = [p.name for p in (FIXTURES / current_version() / "valid").glob("*.json")]
    return [root, child, failed(), current("minimal.json"), current("cpu-batch.json"),
            *(load_json(FIXTURES / current_version() / "valid" / name) for name in sorted(names))]


BASES = _bases()
SECTIONS = sorted({key for record in BASES for key, value in record.items() if isinstance(value, dict)})

_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=False, allow_infinity=False),
                     st.text(max_size=5))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=2),
                                                         st.dictionaries(st.sampled_from("abc"), inner, max_size=3)),
                       max_leaves=6)
_configs = st.one_of(st.none(), st.dictionaries(st.sampled_from(["lr", "seed", "model", "data", "x.y"]), _values, max_size=4))


@st.composite
def _records(draw) -> list[dict]:
    out = []
    for index in range(draw(st.integers(1, 6))):
        record = copy.deepcopy(draw(st.sampled_from(BASES)))
        record["id"] = f"{index:08d}-0000-4000-8000-000000000000"
        for section in draw(st.lists(st.sampled_from(SECTIONS), max_size=3)):
            record.pop(section, None)  # sections a record lacks
        config = draw(_configs)
        if "invocation" in record:
            if config is None:
                record["invocation"].pop("config", None)
            else:
                record["invocation"]["config"] = config
        out.append(record)
    return out


def _row_engine(monkeypatch) -> None:
    from procrecord.exports.sections import SectionColumns

    def refuse(self, records):
        raise TypeError("row engine asked for")

    monkeypatch.setattr(SectionColumns, "arrays", refuse)


def _both(records, fmt, tmp_path, monkeypatch, **kwargs):
    """The same export by the section engine and by the row engine: (findings, output) of each."""
    new, old = tmp_path / f"new.{fmt}", tmp_path / f"old.{fmt}"
    options = kwargs.pop("options", {})
    found_new = export(records, fmt, ExportOptions(output=str(new), **options), **kwargs)
    with monkeypatch.context() as patch:
        _row_engine(patch)
        found_old = export(records, fmt, ExportOptions(output=str(old), **options), **kwargs)
    return (found_new, new), (found_old, old)


def _same(fmt, new, old) -> None:
    if fmt == "parquet":
        assert pq.read_table(new).equals(pq.read_table(old), check_metadata=True)
        assert pq.read_schema(new).equals(pq.read_schema(old), check_metadata=True)
    else:
        assert new.read_bytes() == old.read_bytes()


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(records=_records(), volatile=st.booleans(), fmt=st.sampled_from(FORMATS))
def test_section_engine_equals_the_row_engine(tmp_path, monkeypatch, records, volatile, fmt):
    try:
        (found_new, new), (found_old, old) = _both(records, fmt, tmp_path, monkeypatch,
                                                   options={"include_volatile": volatile})
    except Exception as exc:
        with monkeypatch.context() as patch:
            _row_engine(patch)
            with pytest.raises(type(exc)):
                export(records, fmt, ExportOptions(output=str(tmp_path / f"x.{fmt}"), include_volatile=volatile))
        return
    assert found_new == found_old
    _same(fmt, new, old)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("level", [None, "most", "all"])
def test_levels_and_legacy_inputs_give_the_row_engines_table(tmp_path, monkeypatch, fmt, level):
    legacy = [load_json(path) for path in sorted((FIXTURES / "1.0" / "valid").glob("*.json"))]
    (found_new, new), (found_old, old) = _both([*legacy, *BASES], fmt, tmp_path, monkeypatch, level=level)
    assert found_new == found_old == []
    _same(fmt, new, old)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_unknown_fields_and_odd_sections_are_found_as_before(tmp_path, monkeypatch, fmt):
    record = current("gpu-training.json")
    record["timing"]["made_up"] = 1
    record["host"]["cpu"]["made_up"] = True
    odd = current("minimal.json")
    odd["git"] = "not an object"  # no values from it, no finding (the row engine's rule)
    (found_new, new), (found_old, old) = _both([record, odd], fmt, tmp_path, monkeypatch)
    assert [f.message for f in found_new] == ["no column for timing.made_up, host.cpu.made_up"]
    assert found_new == found_old
    _same(fmt, new, old)


def test_a_batch_pyarrow_cannot_convert_takes_the_row_path(tmp_path):
    record = current("gpu-training.json")
    record["host"]["cpu"] = "not an object"  # nested: pyarrow refuses the section, the row engine reads None
    out = tmp_path / "t.parquet"
    assert export([record, current("minimal.json")], "parquet", ExportOptions(output=str(out))) == []
    assert pq.read_table(out).column("host.cpu.model").to_pylist() == [None, None]


def test_the_bulk_export_uses_the_section_engine(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from procrecord.cli import cli
    from procrecord.exports import tables

    def no_rows(self, values):
        raise AssertionError("row path taken")

    monkeypatch.setattr(tables.ArrowTable, "_typed", no_rows)
    src = tmp_path / "runs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in BASES))
    for jobs in ("1", "2"):
        result = CliRunner().invoke(cli, ["export", "--to", "parquet", "-o", str(tmp_path / "t.parquet"), "--jobs", jobs,
                                          str(src)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert pq.read_table(tmp_path / "t.parquet").num_rows == len(BASES)
