"""Prototype (issue 18, tables, fifth pass): would DuckDB's own JSON reader make table exports reach 20k/s?

Not the package's code: a measured go/no-go. Each mode runs in a fresh process (``--mode``) so that a
whole-process instruction count (callgrind) at two record counts gives the cost per record, free of
start-up and imports; ``--cpu`` times every mode in this process instead (CPU time, best of ``--repeat``).

Modes (the writer-record JSONL input of ``bench_exports.py``):

* ``parse``: read the lines and ``orjson.loads`` each (the floor's first half);
* ``floor``: ``parse`` plus jsonschema-rs ``is_valid`` (what the contract needs for "invalid" findings);
* ``gate``: ``floor`` plus writing the valid lines to a spool file (what a DuckDB engine would need in Python);
* ``gate-config``: ``gate`` plus the config columns as today's exporters make them (``_config_of`` per record,
  kinds and ``pa.array`` per batch of 2,048: :func:`config_batch`);
* ``duck``: DuckDB ``read_json`` of the input with explicit columns for the schema's fields (one thread),
  the table's columns selected from it, Arrow batches of 2,048 rows, timestamps cast, written by pyarrow's
  Parquet writer with zstd (the writer that can keep the columns' metadata);
* ``duck-copy``: the same query written by DuckDB's ``COPY ... TO (FORMAT parquet)`` (no column metadata);
* ``whole``: ``gate`` then ``duck`` on the spool (the prototype engine's whole work, config as one JSON column);
* ``whole-config``: ``gate-config`` then ``duck`` without the config column (its columns come from the gate);
* ``whole-duckconfig``: ``gate``, then a first DuckDB pass over the spool for the config's merged structure
  (distinct ``json_structure``, merged here) and the main query with one ``json_extract`` per config leaf (a lower bound of
  a config done in DuckDB: the exporters' per-batch kinds and key collisions are not reproduced);
* ``json-text``: ``parse`` plus the 17 JSON-text columns dumped by orjson from the parsed record (what an
  engine would still do in Python to give today's JSON text: DuckDB writes it differently, see ``--identity``);
* ``export``: today's ``run_export`` with ``--to parquet`` and ``--jobs 1`` (in this process).

Results and the verdict (not built): benchmarks/README.md, "Tables, fifth pass".

Usage: python benchmarks/proto_duckdb_tables.py --cpu [--records 8000] [--repeat 3] [--modes ...]
       python benchmarks/proto_duckdb_tables.py --identity
       python benchmarks/proto_duckdb_tables.py --compare [--records 8000]
       python benchmarks/proto_duckdb_tables.py --callgrind [--records 1000 2000] [--modes ...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODES = ("parse", "floor", "gate", "gate-config", "duck", "duck-copy", "whole", "whole-config",
         "whole-duckconfig", "json-text", "export")


def inputs(count: int) -> list[str]:
    """The writer-record JSONL files of ``bench_exports.py`` (made once, kept under benchmarks/data)."""
    from bench_exports import writer_inputs

    return next(iter(writer_inputs(count, 1).values()))


def duck_type(kind: str) -> str:
    return {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR", "timestamp": "VARCHAR",
            "json": "JSON"}[kind]


def plan(version: str, config_columns: dict[str, tuple[tuple[str, ...], str]] | None = None) -> tuple[dict[str, str], list[str]]:
    """``read_json``'s ``columns=`` (nested STRUCTs of the schema's sections) and the SELECT list."""
    from procrecord.exports.columns import schema_columns

    tree: dict[str, object] = {}
    for path, column in schema_columns(version):
        node = tree
        for part in path[:-1]:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        node[path[-1]] = duck_type(column.kind)  # type: ignore[index]
    tree.setdefault("invocation", {})["config"] = "JSON"  # type: ignore[index]

    def render(node: object) -> str:
        if isinstance(node, str):
            return node
        return "STRUCT(" + ", ".join(f'"{k}" {render(v)}' for k, v in node.items()) + ")"  # type: ignore[union-attr]

    columns = {name: render(sub) for name, sub in tree.items()}
    select = []
    for path, column in schema_columns(version):
        expr = '"' + '"."'.join(path) + '"' if len(path) > 1 else f'"{path[0]}"'
        if len(path) > 1:
            expr = f'"{path[0]}"' + "".join(f"['{p}']" for p in path[1:])
        cast = "::VARCHAR" if column.kind == "json" else ""
        select.append(f'{expr}{cast} AS "{column.name}"')
    if config_columns is None:
        select.append("\"invocation\"['config']::VARCHAR AS \"config\"")
    else:
        for name, (keys, kind) in config_columns.items():
            path = "$" + "".join(f'."{k}"' for k in keys)
            cast = {"int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN", "string": "VARCHAR"}[kind]
            if kind == "string":
                select.append(f"json_extract_string(\"invocation\"['config'], '{path}') AS \"{name}\"")
            else:
                select.append(f"CAST(json_extract(\"invocation\"['config'], '{path}') AS {cast}) AS \"{name}\"")
    return columns, select


def run_duck(files: list[str], out: str, copy: bool = False, config_columns=None) -> int:
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from procrecord.exports.columns import schema_columns
    from procrecord.record.schemas import current_version

    version = current_version()
    columns, select = plan(version, config_columns)
    con = duckdb.connect()
    con.execute("SET threads=1")
    con.execute("SET enable_progress_bar=false")
    spec = "{" + ", ".join(f"'{k}': '{v}'" for k, v in columns.items()) + "}"
    sources = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    query = (f"SELECT {', '.join(select)} FROM read_json({sources}, columns={spec}, format='newline_delimited', "
             "maximum_object_size=67108864)")
    if copy:
        con.execute(f"COPY ({query}) TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 2048)")
        return 0
    reader = con.sql(query).to_arrow_reader(2048)
    stamp = pa.timestamp("us", tz="UTC")
    kinds = [c.kind for _, c in schema_columns(version)]
    rows = 0
    writer = None
    for batch in reader:
        arrays = [a.cast(stamp) if k == "timestamp" else a for a, k in zip(batch.columns, kinds)]
        arrays += batch.columns[len(kinds):]
        batch = pa.RecordBatch.from_arrays(arrays, names=batch.schema.names)
        if writer is None:
            writer = pq.ParquetWriter(out, batch.schema, compression="zstd")
        writer.write_batch(batch)
        rows += batch.num_rows
    if writer is not None:
        writer.close()
    return rows


def config_leaves(files: list[str]) -> dict[str, tuple[tuple[str, ...], str]]:
    """The config's leaves from the distinct ``json_structure`` of every record's config, merged here.

    (``read_json`` with a ``columns=`` naming only ``invocation`` ran at ~500 us per record with DuckDB
    2.0.1, and ``json_group_structure`` as slowly: both left out.)
    """
    import json

    import duckdb

    con = duckdb.connect()
    con.execute("SET threads=1")
    con.execute("SET enable_progress_bar=false")
    sources = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    shapes = con.sql(f"SELECT DISTINCT json_structure(json->'$.invocation.config') FROM read_ndjson_objects({sources})").fetchall()
    leaves: dict[str, tuple[tuple[str, ...], str]] = {}

    def walk(node, keys):
        if isinstance(node, dict) and node:
            for key, sub in node.items():
                walk(sub, (*keys, key))
        else:
            kind = {"DOUBLE": "float", "BIGINT": "int", "UBIGINT": "int", "BOOLEAN": "bool"}.get(node, "string") \
                if isinstance(node, str) else "string"
            name = "config." + ".".join(keys)
            old = leaves.get(name)
            leaves[name] = (keys, kind if old is None or old[1] == kind else "float" if {old[1], kind} == {"int", "float"} else "string")

    for (text,) in shapes:
        if text is not None:
            walk(json.loads(text), ())
    return leaves


def run_gate(files: list[str], spool: str | None, config: bool = False):
    import orjson

    from procrecord.exports.columns import _config_of
    from procrecord.record.schemas import current_version
    from procrecord.record.validation import _fast

    version = current_version()
    valid = _fast(version).is_valid
    loads = orjson.loads
    union: dict[str, tuple[tuple[str, ...], str]] = {}
    configs: list = []
    arrays: list = []
    out = open(spool, "wb") if spool else None  # noqa: SIM115
    n = 0
    for name in files:
        with open(name, "rb") as handle:
            keep = []
            for line in handle:
                record = loads(line)
                if valid(record):
                    n += 1
                    if out is not None:
                        keep.append(line)
                    if config:
                        configs.append(_config_of((record.get("invocation") or {}).get("config"), "config."))
                if out is not None and len(keep) >= 2048:
                    out.write(b"".join(keep))
                    keep = []
                    if config:
                        arrays.append(config_batch(configs, union))
                        configs = []
            if out is not None and keep:
                out.write(b"".join(keep))
                if config:
                    arrays.append(config_batch(configs, union))
                    configs = []
    if out is not None:
        out.close()
    return n, union


def config_batch(configs: list, union: dict) -> dict:
    """One batch's config columns typed as the exporters type them (TableExporter._flush's config part)."""
    import itertools

    import pyarrow as pa

    from procrecord.exports.columns import as_kind, unify
    from procrecord.exports.tables import _ARROW, batch_kind

    names = dict.fromkeys(itertools.chain.from_iterable(c for c in configs if c))
    out = {}
    for name in names:
        column = [c.get(name) if c else None for c in configs]
        kind, mixed = batch_kind(column)
        if mixed:
            column = [as_kind(v, kind) for v in column]
        union[name] = unify(union.get(name), kind)
        out[name] = pa.array(column, type=getattr(pa, _ARROW[kind])())
    return out


def json_text(files: list[str]) -> int:
    """Parse every line and dump its JSON-text columns with orjson, as today's row function does."""
    import orjson

    from procrecord.exports.columns import schema_columns
    from procrecord.record.schemas import current_version

    paths = [path for path, column in schema_columns(current_version()) if column.kind == "json"]
    dumps, option, n = orjson.dumps, orjson.OPT_NON_STR_KEYS, 0
    for name in files:
        with open(name, "rb") as handle:
            for line in handle:
                record = orjson.loads(line)
                texts = []
                for path in paths:
                    value = record
                    for key in path:
                        value = value.get(key) if value.__class__ is dict else None
                        if value is None:
                            break
                    texts.append(None if value is None else dumps(value, option=option).decode())
                n += 1
    return n


def run_export(files: list[str], out: str) -> int:
    from procrecord.exports import ExportOptions, exporter
    from procrecord.exports.pipeline import PrepareRecord, run_export

    target = exporter("parquet", ExportOptions(output=out))
    return run_export(files, target, PrepareRecord(), 1, 1 << 30, lambda o: None, lambda w: None).exported


def setup() -> None:
    import duckdb  # noqa: F401
    import orjson  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import procrecord.exports.tables  # noqa: F401
    from procrecord.bulk.engine import tune_gc
    from procrecord.record.schemas import current_version
    from procrecord.record.validation import is_valid

    is_valid({}, current_version())
    tune_gc()


def one(mode: str, files: list[str], tmp: str) -> int:
    """Do ``mode`` once; return the records it handled."""
    out = os.path.join(tmp, "out.parquet")
    spool = os.path.join(tmp, "spool.jsonl")
    if mode == "parse":
        import orjson

        n = 0
        for name in files:
            with open(name, "rb") as handle:
                for line in handle:
                    orjson.loads(line)
                    n += 1
        return n
    if mode == "floor":
        return run_gate(files, None)[0]
    if mode == "gate":
        return run_gate(files, spool)[0]
    if mode == "gate-config":
        return run_gate(files, spool, config=True)[0]
    if mode == "duck":
        return run_duck(files, out)
    if mode == "duck-copy":
        return run_duck(files, out, copy=True)
    if mode == "whole":
        n, _ = run_gate(files, spool)
        run_duck([spool], out)
        return n
    if mode == "whole-config":
        n, union = run_gate(files, spool, config=True)
        run_duck([spool], out, config_columns={})  # config columns: made by the gate (typed batches), not read here
        return n
    if mode == "whole-duckconfig":
        n, _ = run_gate(files, spool)
        run_duck([spool], out, config_columns=config_leaves([spool]))
        return n
    if mode == "json-text":
        return json_text(files)
    if mode == "export":
        return run_export(files, out)
    raise SystemExit(f"unknown mode {mode}")


#: Valid JSON lines that orjson (today's path) and DuckDB's reader (the prototype) read differently.
PROBES = (
    b'{"id": "a", "extra": {"big": 123456789012345678901.0, "ctl": "\\u001f"}}',
    b'{"id": "b", "extra": {"k": 1, "k": 2}}',
    b'{"id": "c", "id": "d"}',
)


def identity_probe() -> None:
    """Print how each :data:`PROBES` line's ``extra`` reads as JSON text: orjson's (today) against DuckDB's."""
    import duckdb
    import orjson

    for line in PROBES:
        fd, path = tempfile.mkstemp(suffix=".jsonl")
        with os.fdopen(fd, "wb") as handle:
            handle.write(line + b"\n")
        record = orjson.loads(line)
        ours = orjson.dumps(record.get("extra"), option=orjson.OPT_NON_STR_KEYS).decode() if "extra" in record else None
        try:
            con = duckdb.connect()
            (row,) = con.sql(f"SELECT id, extra::VARCHAR FROM read_json('{path}', columns={{'id': 'VARCHAR', "
                             "'extra': 'JSON'}, format='newline_delimited')").fetchall()
            theirs = f"id {row[0]!r}, extra {row[1]}"
        except duckdb.Error as exc:
            theirs = f"error: {str(exc).splitlines()[0]}"
        os.unlink(path)
        print(f"{line.decode()}\n  orjson: id {record['id']!r}, extra {ours}\n  duckdb: {theirs}")


def compare(count: int) -> None:
    """Export ``count`` writer records both ways (``whole`` and today's export) and count, per column the
    two tables share, the rows whose values differ."""
    import pyarrow.parquet as pq

    files = inputs(count)
    tmp = tempfile.mkdtemp(prefix="proto-duck-compare-")
    setup()
    one("whole", files, tmp)
    duck = pq.read_table(os.path.join(tmp, "out.parquet"))
    one("export", files, tmp)
    ours = pq.read_table(os.path.join(tmp, "out.parquet"))
    print(f"rows: duckdb {duck.num_rows}, today {ours.num_rows}")
    for name in duck.column_names:
        if name not in ours.column_names:
            continue
        theirs, mine = duck[name].to_pylist(), ours[name].to_pylist()
        differ = [i for i, (a, b) in enumerate(zip(theirs, mine)) if a != b]
        if differ:
            print(f"{name}: {len(differ)} of {len(mine)} rows differ, e.g. row {differ[0]}:\n"
                  f"  duckdb {theirs[differ[0]]}\n  today  {mine[differ[0]]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mode", choices=MODES, help="do one mode once (what --callgrind runs under valgrind)")
    parser.add_argument("--records", type=int, nargs="*", default=None)
    parser.add_argument("--cpu", action="store_true")
    parser.add_argument("--callgrind", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", nargs="*", default=list(MODES))
    parser.add_argument("--identity", action="store_true", help="print where DuckDB reads valid records differently")
    parser.add_argument("--compare", action="store_true", help="count the values of the writer records that differ")
    args = parser.parse_args()
    if args.identity:
        identity_probe()
    if args.compare:
        compare((args.records or [8000])[0])
    tmp = tempfile.mkdtemp(prefix="proto-duck-")
    if args.mode:
        files = inputs((args.records or [2000])[0])
        setup()
        n = one(args.mode, files, tmp)
        print(f"{args.mode}: {n} records", file=sys.stderr)
        return
    if args.cpu:
        count = (args.records or [8000])[0]
        files = inputs(count)
        setup()
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            for mode in args.modes:
                start = time.process_time()
                one(mode, files, tmp)
                seconds = time.process_time() - start
                best[mode] = min(best.get(mode, seconds), seconds)
        base = best.get("parse")
        print(f"# CPU time, best of {args.repeat}, {count} writer records (load average {os.getloadavg()[0]:.1f})")
        for mode, seconds in best.items():
            ratio = f"{seconds / base:5.2f}x the parse" if base else ""
            print(f"{mode:14s} {count / seconds:9,.0f} records/s per core  {ratio}")
    if args.callgrind:
        counts = args.records or [1000, 2000]
        for count in counts:
            inputs(count)  # made outside valgrind
        totals: dict[str, list[int]] = {}
        for mode in args.modes:
            for count in counts:
                out = os.path.join(tmp, f"cg.{mode}.{count}")
                subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, __file__,
                                "--mode", mode, "--records", str(count)], check=True, capture_output=True)
                with open(out) as handle:
                    total = next(int(line.split()[1]) for line in handle if line.startswith("totals:"))
                totals.setdefault(mode, []).append(total)
                print(f"{mode} {count}: {total:,} instructions", flush=True)
        span = counts[-1] - counts[0]
        per = {mode: (t[-1] - t[0]) / span for mode, t in totals.items()}
        base = per.get("parse")
        print(f"# instructions per record (whole process at {counts[-1]} minus at {counts[0]} records, / {span})")
        for mode, value in per.items():
            ratio = f"{value / base:5.2f}x the parse" if base else ""
            print(f"{mode:14s} {value:10,.0f}  {ratio}")


if __name__ == "__main__":
    main()
