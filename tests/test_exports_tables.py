"""Tables (parquet, csv, jsonl-flat): read back with DuckDB, pyarrow and the csv module."""

from __future__ import annotations

import csv
import datetime as dt
import json

import pytest
from exportdata import CHILD_ID, ROOT_ID, current, failed, pipeline, with_config
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.exports import ExportOptions, export
from procrecord.exports.columns import schema_columns
from procrecord.record.schemas import current_version

duckdb = pytest.importorskip("duckdb")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def _records():
    root, child = pipeline()
    return [root, child, failed(), current("minimal.json")]


def test_readme_energy_query_ranks_runs_by_energy(tmp_path):
    out = tmp_path / "runs.parquet"
    assert export(_records(), "parquet", ExportOptions(output=str(out))) == []
    # The README's two lines, as written there.
    rows = duckdb.sql(f'SELECT name, "emissions.energy_kwh" FROM \'{out}\' ORDER BY 2 DESC NULLS LAST LIMIT 10').fetchall()
    energies = [e for _, e in rows]
    assert rows[0] == ("fit", 2.4113)
    assert energies == sorted(energies, key=lambda e: (e is None, -(e or 0)))
    assert len(rows) == 4


def test_parquet_columns_are_typed_from_the_schema_with_units(tmp_path):
    out = tmp_path / "runs.parquet"
    export(_records(), "parquet", ExportOptions(output=str(out)))
    types = dict(duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{out}')").fetchall())
    assert types["timing.start_time"] == "TIMESTAMP WITH TIME ZONE"
    assert types["timing.duration_s"] == "DOUBLE"
    assert types["resources.peak_rss_bytes"] == "BIGINT"
    assert types["git.dirty"] == "BOOLEAN"
    assert types["distributed.world_size"] == "BIGINT"
    schema = pq.read_schema(out)
    assert schema.field("emissions.energy_kwh").metadata == {b"unit": b"kWh"}
    assert schema.field("inputs").metadata[b"encoding"] == b"json"
    inputs = duckdb.sql(f"SELECT inputs FROM '{out}' WHERE id = '{CHILD_ID}'").fetchall()[0][0]
    assert json.loads(inputs)[1]["uri"] == "s3://bucket/weights/base.pt"
    start = duckdb.sql(f"""SELECT epoch_us("timing.start_time") FROM '{out}' WHERE id = '{CHILD_ID}'""").fetchall()[0][0]
    when = dt.datetime.fromisoformat("2026-11-20T09:14:03.512844+00:00")
    assert start == (when - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)


def test_config_columns_form_a_stable_union_with_widened_types(tmp_path):
    base = current("gpu-training.json")
    records = [
        with_config(base, {"lr": 1, "name": "a", "opt": {"beta": 2}}, ROOT_ID),
        with_config(base, {"lr": 0.5, "name": 3, "only_here": True}, CHILD_ID),
    ]
    out = tmp_path / "runs.parquet"
    export(records, "parquet", ExportOptions(output=str(out)))
    types = dict(duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{out}')").fetchall())
    assert types["config.lr"] == "DOUBLE"  # int and float -> float
    assert types["config.name"] == "VARCHAR"  # text and number -> text
    assert types["config.only_here"] == "BOOLEAN"
    assert types["config.opt.beta"] == "BIGINT"
    rows = duckdb.sql(f'SELECT "config.lr", "config.name", "config.only_here", "config.opt.beta" FROM \'{out}\' ORDER BY id').fetchall()
    assert rows == [(1.0, "a", None, 2), (0.5, "3", True, None)]
    # Every schema column is there even when no record has a value for it: exports line up.
    names = [f.name for f in pq.read_schema(out)]
    assert names[: len(schema_columns(current_version()))] == [c.name for _, c in schema_columns(current_version())]


@pytest.mark.parametrize("fmt", ["csv", "jsonl-flat"])
def test_text_tables_have_one_row_per_record_and_every_column(tmp_path, fmt):
    out = tmp_path / f"runs.{fmt}"
    records = _records()
    export(records, fmt, ExportOptions(output=str(out)))
    if fmt == "csv":
        with open(out, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
        assert rows[1]["git.dirty"] == "true" and rows[1]["resources.peak_rss_bytes"] == "23488102400"
        assert rows[3]["emissions.energy_kwh"] == ""
    else:
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert rows[1]["git.dirty"] is True and rows[3]["emissions.energy_kwh"] is None
    assert [r["id"] for r in rows] == [r["id"] for r in records]
    assert len({tuple(r) for r in rows}) == 1  # same columns in every row
    assert "config.data.batch_size" in rows[0]


def test_volatile_fields_are_optional_but_the_id_stays(tmp_path):
    out = tmp_path / "runs.parquet"
    export(_records(), "parquet", ExportOptions(output=str(out), include_volatile=False))
    names = {f.name for f in pq.read_schema(out)}
    assert "id" in names and "timing.duration_s" in names
    assert "timing.start_time" not in names and "invocation.pid" not in names and "producer.version" not in names


def test_level_redacts_by_the_schema_before_the_table_is_written(tmp_path):
    out = tmp_path / "runs.parquet"
    export(_records(), "parquet", ExportOptions(output=str(out)), level="most")
    hosts = duckdb.sql(f"""SELECT "host.hostname", "invocation.cwd", "host.cpu.model" FROM '{out}' WHERE id = '{CHILD_ID}'""").fetchall()[0]
    assert hosts[:2] == (None, None) and hosts[2] == "AMD EPYC 9454 48-Core Processor"
    level = duckdb.sql(f"""SELECT DISTINCT "redaction.level" FROM '{out}'""").fetchall()
    assert level == [("most",)]


def _sweep():
    """Records whose config keys and kinds change from one batch of two rows to the next."""
    base = current("gpu-training.json")
    configs = [{"lr": 1, "name": "a", "flag": True}, {"lr": 2, "name": "b"},  # batch 1: lr int, name text
               {"lr": 0.5, "name": 3}, {"lr": 0.25, "name": 4, "late": [1, 2]},  # batch 2: lr float, name int
               {"name": None, "flag": 1}]  # batch 3: flag int (bool elsewhere), lr missing
    return [with_config(base, config, f"{i:08d}-0000-4000-8000-000000000000") for i, config in enumerate(configs)]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl-flat"])
def test_batches_that_type_config_columns_differently_give_the_table_of_one_batch(tmp_path, monkeypatch, fmt):
    from procrecord.exports import tables

    one, many = tmp_path / f"one.{fmt}", tmp_path / f"many.{fmt}"
    assert export(_sweep(), fmt, ExportOptions(output=str(one))) == []
    monkeypatch.setattr(tables, "BATCH", 2)
    assert export(_sweep(), fmt, ExportOptions(output=str(many))) == []
    if fmt == "parquet":
        assert pq.read_table(many).equals(pq.read_table(one))
        # batches of 2, 2 and 1 rows are written together, up to the row group's bounds
        assert [pq.read_metadata(many).row_group(i).num_rows for i in range(pq.read_metadata(many).num_row_groups)] == [5]
        for rows, size, groups in ((4, 1 << 30, [4, 1]), (3, 1 << 30, [2, 3]), (1 << 20, 1, [2, 2, 1])):
            monkeypatch.setattr(tables, "ROW_GROUP_ROWS", rows)
            monkeypatch.setattr(tables, "ROW_GROUP_BYTES", size)
            assert export(_sweep(), fmt, ExportOptions(output=str(many))) == []
            meta = pq.read_metadata(many)
            assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == groups
            assert pq.read_table(many).equals(pq.read_table(one))
        types = dict(duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{many}')").fetchall())
        assert (types["config.lr"], types["config.name"], types["config.flag"]) == ("DOUBLE", "VARCHAR", "VARCHAR")
        rows = duckdb.sql(f"""SELECT "config.lr", "config.name", "config.flag", "config.late" FROM '{many}'""").fetchall()
        assert rows == [(1.0, "a", "true", None), (2.0, "b", None, None), (0.5, "3", None, None),
                        (0.25, "4", None, "[1,2]"), (None, None, "1", None)]
    else:
        assert many.read_bytes() == one.read_bytes()


SEED = 302196688505940393327012328349340327281


def _big_integers():
    """Records with integers outside int64: in the config (alone, among small ones, among floats), in a
    schema int column and in a bag (JSON text)."""
    base = current("gpu-training.json")
    configs = [{"seed": SEED, "big": 2**70, "u": 2**64 - 1, "mix": 0.5, "small": 1},
               {"big": 3, "mix": -2**63 - 5, "small": 2}, {"big": 4, "small": 3}]
    records = [with_config(base, config, f"{i:08d}-0000-4000-8000-000000000000") for i, config in enumerate(configs)]
    records[0]["resources"]["io_read_bytes"] = 2**70
    records[1]["extra"] = {"x": -2**63 - 5}
    return records


@pytest.mark.parametrize("batch", [2048, 1])
def test_integers_outside_int64_are_exact_text_never_floats_in_every_format_and_batch(tmp_path, monkeypatch, batch):
    from click.testing import CliRunner

    from procrecord.cli import cli
    from procrecord.exports import tables

    monkeypatch.setattr(tables, "BATCH", batch)
    records = _big_integers()
    src = tmp_path / "runs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    expected = [(str(SEED), str(2**70), str(2**64 - 1), "0.5", 1), (None, "3", None, str(-2**63 - 5), 2),
                (None, "4", None, None, 3)]
    names = ("config.seed", "config.big", "config.u", "config.mix", "config.small")
    for fmt in ("parquet", "csv", "jsonl-flat"):
        out = tmp_path / f"runs.{fmt}"
        result = CliRunner().invoke(cli, ["export", "--to", fmt, "-o", str(out), str(src)], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        assert f"{src}:1:: dropped: [{records[0]['id']}] resources.io_read_bytes left out: {2**70} is outside" \
               in result.output
        if fmt == "parquet":
            table = pq.read_table(out)
            assert all(pa.types.is_string(table.schema.field(n).type) for n in names[:4])
            rows = [tuple(r[n] for n in names) for r in table.to_pylist()]
            assert [r["resources.io_read_bytes"] for r in table.to_pylist()] == [None, 913287213056, 913287213056]
            assert json.loads(table.to_pylist()[1]["extra"]) == {"x": -2**63 - 5}
        elif fmt == "csv":
            with open(out, newline="", encoding="utf-8") as handle:
                read = list(csv.DictReader(handle))
            rows = [tuple((int(r[n]) if n == "config.small" else r[n]) or None for n in names) for r in read]
            assert json.loads(read[1]["extra"]) == {"x": -2**63 - 5}
        else:
            read = [json.loads(line) for line in out.read_text().splitlines()]
            rows = [tuple(r[n] for n in names) for r in read]
            assert json.loads(read[1]["extra"]) == {"x": -2**63 - 5}
        assert rows == expected, fmt


def test_compiled_rows_equal_the_flattening_walk():
    from procrecord.exports.columns import RowMaker, flatten

    version = current_version()
    for record in [*_records(), *_sweep()]:
        for volatile in (True, False):
            values, config, unknown = RowMaker(version, "cfg/", volatile)(record)
            row, missing = flatten(record, version, "cfg/")
            columns = RowMaker(version, "cfg/", volatile).columns()
            assert {c.name: v for c, v in zip(columns, values) if v is not None} == {
                k: v for k, v in row.items() if k in {c.name for c in columns}}
            assert (config or {}) == {k: v for k, v in row.items() if k.startswith("cfg/")}
            assert unknown is None and missing == []


def test_the_bulk_stage_skips_the_key_check_and_makes_the_same_rows_of_every_valid_record(tmp_path):
    """A bulk run stages only valid records (validated, upgraded, redacted), whose keys the schema's closed
    sections all have columns for: its row maker leaves the check out and makes the same rows."""
    import attrs

    from procrecord.exports.columns import RowMaker
    from procrecord.exports.tables import ParquetExporter
    from procrecord.operations.migration import upgrade
    from procrecord.operations.redaction import redact
    from procrecord.record.validation import validate

    from helpers import valid_fixtures

    version = current_version()
    staged = ParquetExporter(ExportOptions(output=str(tmp_path / "t.parquet"))).stage()
    assert staged.valid and not RowMaker(version).valid
    records = [upgrade(json.loads(path.read_text())) for v in ("0", "1.0", version) for path in valid_fixtures(v)]
    records += [redact(r, level) for r in records for level in ("most", "all")] + [*_records(), *_sweep()]
    assert len(records) > 50
    for record in records:
        assert validate(record) == []
        checked = RowMaker(version, "config.", True)(record)
        assert checked[2] is None  # a valid record has no key without a column: the check could only pass
        # Parquet's stage also makes timestamps ready for Arrow (TimedRows): the same step over the checked rows.
        assert staged(record) == attrs.evolve(staged, maker=RowMaker(version, "config.", True))(record)


def test_fields_without_a_column_are_a_dropped_finding(tmp_path):
    record = current("gpu-training.json")
    record["timing"]["made_up"] = 1
    record["also_made_up"] = {"x": 1}
    findings = export([record, current("minimal.json")], "jsonl-flat", ExportOptions(output=str(tmp_path / "t.jsonl")))
    assert [(f.kind, f.message) for f in findings] == [("dropped", "no column for timing.made_up, also_made_up")]


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl-flat"])
def test_config_keys_that_flatten_to_one_column_keep_the_first_value_and_say_what_was_left_out(tmp_path, fmt):
    root, _ = pipeline()
    record = with_config(root, {"model": {"depth": 3}, "model.depth": 7, "lr": 0.1}, ROOT_ID)
    out = tmp_path / f"t.{fmt}"
    findings = export([record], fmt, ExportOptions(output=str(out)))
    assert [(f.kind, f.message) for f in findings] == [
        ("dropped", 'config ["model.depth"] left out: its column config.model.depth holds config ["model","depth"]')]
    rows = duckdb.sql(f"SELECT \"config.model.depth\" AS d, \"config.lr\" AS lr FROM '{out}'").fetchall() \
        if fmt != "jsonl-flat" else [(r["config.model.depth"], r["config.lr"]) for r in map(json.loads, out.open())]
    assert [(int(d), float(lr)) for d, lr in rows] == [(3, 0.1)]


_KEYS = st.sampled_from(["a", "b", "a.b", "b.a", "a.a", "b.b"])
_CONFIGS = st.recursive(st.one_of(st.none(), st.integers(-5, 5), st.booleans()),
                        lambda inner: st.dictionaries(_KEYS, inner, max_size=3), max_leaves=12)


def _leaves(node, path=()):
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _leaves(value, (*path, key))
        elif value is not None:
            yield (*path, key), value


@settings(max_examples=200, deadline=None)
@given(config=_CONFIGS.filter(lambda c: isinstance(c, dict)))
def test_every_config_value_has_its_column_or_a_dropped_note(config):
    from procrecord.exports.columns import RowMaker, flatten

    root, _ = pipeline()
    record = with_config(root, config, ROOT_ID)
    _, columns, notes = RowMaker(current_version())(record)
    columns, notes = columns or {}, notes or []
    taken: dict[str, tuple] = {}
    for path, value in _leaves(config):
        name = "config." + ".".join(path)
        if name not in taken:  # the first value of a name has the column, as the record has it
            taken[name] = path
            assert columns[name] == ("{}" if value == {} else value)
        else:  # every later one is named in a note, with the path that holds the column
            assert f'config {json.dumps(list(path), separators=(",", ":"))} left out: its column {name} holds ' \
                   f'config {json.dumps(list(taken[name]), separators=(",", ":"))}' in notes
    assert set(columns) == set(taken) and len(notes) == sum(1 for _ in _leaves(config)) - len(taken)
    assert {k: v for k, v in flatten(record, current_version())[0].items() if k.startswith("config.")} == columns


def test_bulk_rows_made_in_workers_equal_the_library_export(tmp_path):
    from click.testing import CliRunner

    from procrecord.cli import cli

    def invoke(*args):
        return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)

    records = [*_records(), *_sweep()]
    src = tmp_path / "runs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    for fmt in ("parquet", "csv", "jsonl-flat"):
        lib, one, two = (tmp_path / f"{name}.{fmt}" for name in ("lib", "one", "two"))
        export(records, fmt, ExportOptions(output=str(lib)))
        assert invoke("export", "--to", fmt, "-o", one, src).exit_code == 0
        result = invoke("export", "--to", fmt, "-o", two, "--jobs", "2", "--max-bytes", "20000", src)
        assert result.exit_code == 0, result.output
        if fmt == "parquet":
            assert pq.read_table(one).equals(pq.read_table(lib)) and pq.read_table(two).equals(pq.read_table(lib))
        else:
            assert one.read_bytes() == lib.read_bytes() == two.read_bytes()


_CHILD = """
import sys
from procrecord.cli import main
sys.argv = ["procrecord", "export", "--to", sys.argv[1], "-o", sys.argv[2], sys.argv[3]]
try:
    main()
except SystemExit as exc:
    assert not exc.code, exc.code
imported = "pandas" in sys.modules
import pyarrow
frame = pyarrow.table({"a": [1, 2]}).to_pandas()  # pandas still works in this process, when asked for
print(imported, type(frame).__name__, list(frame["a"]))
"""


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_a_command_line_table_export_does_not_import_pandas(tmp_path, fmt):
    import importlib.util
    import subprocess
    import sys

    if importlib.util.find_spec("pandas") is None:
        pytest.skip("pandas is not installed: nothing to spare")
    records = _records()
    src = tmp_path / "runs.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records))
    out, lib = tmp_path / f"cli.{fmt}", tmp_path / f"lib.{fmt}"
    done = subprocess.run([sys.executable, "-c", _CHILD, fmt, str(out), str(src)], capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(None, 2) == ["False", "DataFrame", "[1, 2]\n"]  # the export never imported pandas
    export(records, fmt, ExportOptions(output=str(lib)))
    if fmt == "parquet":
        assert pq.read_table(out).equals(pq.read_table(lib)) and pq.read_schema(out).equals(pq.read_schema(lib), check_metadata=True)
    else:
        assert out.read_bytes() == lib.read_bytes()


@pytest.mark.parametrize("fmt", ["parquet", "csv", "jsonl-flat"])
def test_a_config_prefix_that_could_repeat_a_schema_column_is_refused_before_any_work(tmp_path, fmt):
    """``--config-prefix ''`` with the config {"name", "status", "id"}: never a duplicate column (Parquet and
    CSV ended in a KeyError, flat JSON lines had duplicate keys whose reader took the config's values)."""
    from procrecord.exports import ExportError

    record = with_config(pipeline()[0], {"name": "cfg-name", "status": "cfg-status", "id": "cfg-id"}, ROOT_ID)
    out = tmp_path / f"runs.{fmt}"
    for prefix in ("", "host.", "id", "timing"):
        with pytest.raises(ExportError, match=f"config prefix {prefix!r} could make a config column named as"):
            export([record], fmt, ExportOptions(output=str(out), config_prefix=prefix))
        assert not out.exists()
    assert export([record], fmt, ExportOptions(output=str(out), config_prefix="cfg_")) == []
    if fmt == "parquet":
        [row] = pq.read_table(out).to_pylist()
    elif fmt == "csv":
        [row] = list(csv.DictReader(out.open()))
    else:
        [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert (row["id"], row["name"], row["cfg_name"], row["cfg_id"]) == (ROOT_ID, "prepare", "cfg-name", "cfg-id")


_TEXT = st.text(alphabet=st.sampled_from(',}{"\\\n\t: ae\u00e9\u2603\U0001F600\x00'), max_size=8)
_CELLS = st.one_of(st.none(), st.booleans(), st.integers(-2**63, 2**63 - 1), st.floats(allow_nan=False, allow_infinity=False),
                   _TEXT, st.dictionaries(st.one_of(_TEXT, st.integers(-3, 3)), st.one_of(st.none(), _TEXT, st.integers(-2**63, 2**63 - 1)),
                                          max_size=3))


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_flat_lines_are_the_plain_dumps_of_each_rows_own_dict(data):
    """jsonl-flat's fast path (one dict for every row, orjson's OPT_NON_STR_KEYS only for a row that needs it)
    writes what a dict per row written with the option writes: also a cell holding an object whose keys are
    not strings (a record built in Python), and rows after such a one."""
    import orjson

    from procrecord.exports.tables import flat_lines

    names = data.draw(st.lists(_TEXT, unique=True, max_size=6))
    rows = data.draw(st.lists(st.lists(_CELLS, min_size=len(names), max_size=len(names)), max_size=5))
    assert flat_lines(names, rows) == [orjson.dumps(dict(zip(names, row)), option=orjson.OPT_NON_STR_KEYS)
                                       for row in rows]


_ODD = 'a,}{"\\\n\t\u00e9\u2603\U0001F600'


def _flat_records():
    """Records whose config keys appear batch by batch (of two), with values holding what a line's text must
    escape, JSON-text columns with keys that are not strings, and a string column holding such an object
    (records built in Python: the library's export does not validate)."""
    base = current("gpu-training.json")
    configs = [None, {"lr": 1, "note": _ODD}, {"lr": 0.5, "late": [{3: 4}]}, {"late": [1]}, {}]
    records = [with_config(base, config, f"{i:08d}-0000-4000-8000-000000000000") for i, config in enumerate(configs)]
    records[2]["extra"] = {1: "one", "b": _ODD}
    records[3]["name"] = _ODD
    records[4]["name"] = {1: 2}
    return records


def test_flat_json_lines_hold_every_column_in_order_then_the_config_union(tmp_path, monkeypatch):
    """Each line is the compact JSON object of its row: the schema's columns in order, then every config column
    of the export in order of first appearance, null where the record has none (also in batches spilled before
    the column first appeared); the same file whatever the batch size and the size of each write."""
    import orjson

    from procrecord.exports import tables

    one, many = tmp_path / "one.jsonl", tmp_path / "many.jsonl"
    assert export(_flat_records(), "jsonl-flat", ExportOptions(output=str(one))) == []
    monkeypatch.setattr(tables, "BATCH", 2)
    monkeypatch.setattr(tables, "WRITE_BYTES", 1)  # a write per line
    assert export(_flat_records(), "jsonl-flat", ExportOptions(output=str(many))) == []
    assert many.read_bytes() == one.read_bytes()
    text = one.read_bytes()
    assert text.endswith(b"}\n") and text.count(b"\n") == 5
    lines = text.splitlines()
    schema = [c.name for _, c in schema_columns(current_version())]
    config = ["config.lr", "config.note", "config.late"]
    rows = [orjson.loads(line) for line in lines]
    for line, row in zip(lines, rows):
        assert orjson.dumps(row) == line  # compact, nothing around or between the two parts
        assert list(row) == schema + config
    assert [[r[c] for c in config] for r in rows] == [[None, None, None], [1.0, _ODD, None], [0.5, None, '[{"3":4}]'],
                                                      [None, None, "[1]"], [None, None, None]]
    assert json.loads(rows[2]["extra"]) == {"1": "one", "b": _ODD}
    assert [r["name"] for r in rows] == ["geowatch.fit"] * 3 + [_ODD, {"1": 2}]
    # No config column at all: each line is the schema columns' object alone.
    none = tmp_path / "none.jsonl"
    assert export(_flat_records()[:1], "jsonl-flat", ExportOptions(output=str(none))) == []
    [line] = none.read_bytes().splitlines()
    assert list(orjson.loads(line)) == schema and orjson.dumps(orjson.loads(line)) == line


def test_json_text_columns_write_keys_that_are_not_strings_also_beside_an_integer_beyond_64_bits():
    """A record built in Python: a JSON-text column with an int key is written with the key as text (as
    ``orjson.OPT_NON_STR_KEYS`` does), also in a record whose other column needs the exact writer."""
    from procrecord.exports.columns import RowMaker

    maker = RowMaker(current_version())
    names = [c.name for c in maker.columns()]
    record = with_config(failed(), {"a": [{3: 4}], "big": [2**70]}, ROOT_ID)
    record["extra"] = {1: "one"}
    values, config, _ = maker(record)
    assert values[names.index("extra")] == '{"1":"one"}' and config == {"config.a": '[{"3":4}]', "config.big": f"[{2**70}]"}
    record["extensions"] = {"x": 2**70}
    values, _, _ = maker(record)
    assert values[names.index("extra")] == '{"1":"one"}' and values[names.index("extensions")] == f'{{"x":{2**70}}}'
