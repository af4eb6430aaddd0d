"""Tables: one row per record as Parquet (pyarrow), CSV or flat JSON lines.

Rows are spooled to a temporary file as they come, with the union of their config columns and
types; :meth:`TableExporter.close` then writes the table in batches. Memory stays flat in the
number of records, and every record's row has every column (missing values are null).
"""

from __future__ import annotations

import csv
import io
import os
import tempfile
from typing import IO, Any, Iterator

import orjson

from procrecord.exports.columns import Column, as_kind, flatten, schema_columns, unify, value_kind
from procrecord.exports.interface import Exporter, ExportError, ExportOptions, Finding, record_id, require

BATCH = 2048  # rows per batch when writing: bounds memory whatever the record count
_ARROW = {"int": "int64", "float": "float64", "bool": "bool_", "string": "string", "json": "string"}


class TableExporter(Exporter):
    """Base of the three table formats: spooling, the column union, the final write."""

    fmt = ""

    def __init__(self, options: ExportOptions) -> None:
        super().__init__(options)
        if not options.output:
            raise ExportError(f"--to {self.name} needs -o FILE")
        self.output: str = options.output
        folder = os.path.dirname(os.path.abspath(options.output))
        if not os.path.isdir(folder):
            raise ExportError(f"cannot write {options.output}: no folder {folder}")
        from procrecord.record.schemas import current_version

        self.version = current_version()
        self.columns = [c for _, c in schema_columns(self.version)
                        if options.include_volatile or not c.volatile or c.name == "id"]
        self._keep = {c.name for c in self.columns}
        self.config: dict[str, str] = {}  # config column -> kind, in order of first appearance
        self.rows = 0
        handle, self._spool_path = tempfile.mkstemp(prefix="procrecord-rows-", suffix=".jsonl")
        self._spool: IO[bytes] | None = os.fdopen(handle, "wb")

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Flatten the record into a row and spool it."""
        row, unknown = flatten(record, self.version, self.options.config_prefix)
        prefix = self.options.config_prefix
        out = {}
        for name, value in row.items():
            if name in self._keep:
                out[name] = value
            elif name.startswith(prefix) or name == prefix.rstrip("."):
                self.config[name] = unify(self.config.get(name), value_kind(value))
                out[name] = value
        assert self._spool is not None
        self._spool.write(orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        self.rows += 1
        if unknown:
            return [Finding(record_id(record), "dropped", "no column for " + ", ".join(unknown))]
        return []

    def all_columns(self) -> list[Column]:
        """The schema's columns, then the config columns in order of first appearance."""
        return self.columns + [Column(name, kind) for name, kind in self.config.items()]

    def _batches(self) -> Iterator[list[dict[str, Any]]]:
        assert self._spool is not None
        self._spool.close()
        self._spool = None
        with open(self._spool_path, "rb") as handle:
            batch: list[dict[str, Any]] = []
            for line in handle:
                batch.append(orjson.loads(line))
                if len(batch) >= BATCH:
                    yield batch
                    batch = []
            if batch:
                yield batch

    def close(self) -> list[Finding]:
        """Write the table atomically (temporary file + rename) and drop the spool."""
        from procrecord.atomic import replacing

        try:
            with replacing(self.output) as handle:
                self.write(handle)
        finally:
            self.abort()
        return []

    def write(self, out: IO[bytes]) -> None:
        """Write every spooled row to ``out``."""
        raise NotImplementedError

    def abort(self) -> None:
        """Remove the spool."""
        if self._spool is not None:
            self._spool.close()
            self._spool = None
        if os.path.exists(self._spool_path):
            os.unlink(self._spool_path)


def _text_value(value: Any, kind: str) -> Any:
    value = as_kind(value, kind)
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class CsvExporter(TableExporter):
    """CSV with a header row; JSON text for arrays and bags, empty cells for missing values."""

    name = "csv"

    def write(self, out: IO[bytes]) -> None:
        columns = self.all_columns()
        names = [c.name for c in columns]
        kinds = {c.name: c.kind for c in columns}
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(names)
        for batch in self._batches():
            writer.writerows([[_text_value(row.get(n), kinds[n]) for n in names] for row in batch])
        text.flush()
        text.detach()  # the caller closes the binary handle


class FlatJsonlExporter(TableExporter):
    """One flat JSON object per line, every column present (null when missing)."""

    name = "jsonl-flat"

    def write(self, out: IO[bytes]) -> None:
        kinds = {c.name: c.kind for c in self.all_columns()}
        for batch in self._batches():
            out.write(b"".join(
                orjson.dumps({n: as_kind(row.get(n), k) for n, k in kinds.items()}) + b"\n" for row in batch))


class ParquetExporter(TableExporter):
    """Parquet written with pyarrow: typed columns, timestamps in UTC, ``unit`` in each field's metadata."""

    name = "parquet"
    extra = "table"

    def __init__(self, options: ExportOptions) -> None:
        self.pa = require("pyarrow", "table", "parquet")
        self.pq = require("pyarrow.parquet", "table", "parquet")
        super().__init__(options)

    def arrow_schema(self) -> Any:
        """The Arrow schema of the table (timestamps as they are written, UTC microseconds)."""
        pa = self.pa
        fields = []
        for column in self.all_columns():
            if column.kind == "timestamp":
                kind = pa.timestamp("us", tz="UTC")
            else:
                kind = getattr(pa, _ARROW[column.kind])()
            metadata = {"unit": column.unit} if column.unit else {}
            if column.kind == "json":
                metadata["encoding"] = "json"
            fields.append(pa.field(column.name, kind, nullable=True, metadata=metadata or None))
        return pa.schema(fields, metadata={"procrecord.schema_version": self.version})

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Spool the record nearly as it is: Arrow's JSON reader does the flattening at the end.

        Only the JSON-text columns (arrays, bags) are encoded here and the config is flattened;
        parsing and flattening in Arrow (C++) is several times faster than a row built in Python.
        """
        out = dict(record)
        for path in self._json_paths:
            _encode_at(out, path)
        invocation = out.get("invocation")
        config: dict[str, Any] = {}
        if isinstance(invocation, dict) and "config" in invocation:
            invocation = out["invocation"] = dict(invocation)
            _config_into(invocation.pop("config"), self.options.config_prefix, config)
        for name, value in config.items():
            self.config[name] = unify(self.config.get(name), value_kind(value))
        out["\x00config"] = orjson.dumps(config, option=orjson.OPT_NON_STR_KEYS).decode() if config else None
        assert self._spool is not None
        self._spool.write(orjson.dumps(out, option=orjson.OPT_NON_STR_KEYS) + b"\n")
        self.rows += 1
        return []

    @property
    def _json_paths(self) -> list[tuple[str, ...]]:
        if not hasattr(self, "_paths"):
            self._paths = [path for path, column in schema_columns(self.version) if column.kind == "json"]
        return self._paths

    def _read_schema(self) -> Any:
        """The nested shape Arrow's JSON reader reads the spool with (timestamps as text, cast later)."""
        pa = self.pa
        tree: dict[str, Any] = {}
        for path, column in schema_columns(self.version):
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = pa.string() if column.kind == "timestamp" else getattr(pa, _ARROW[column.kind])()

        def fields(node: dict[str, Any]) -> list[Any]:
            return [pa.field(k, pa.struct(fields(v)) if isinstance(v, dict) else v) for k, v in node.items()]

        return pa.schema([*fields(tree), pa.field("\x00config", pa.string())])

    def write(self, out: IO[bytes]) -> None:
        pa = self.pa
        import pyarrow.json as pj

        assert self._spool is not None
        self._spool.close()
        self._spool = None
        schema = self.arrow_schema()
        names = [c.name for c in self.columns]
        config = [(name, kind) for name, kind in self.config.items()]
        options = pj.ParseOptions(explicit_schema=self._read_schema(), unexpected_field_behavior="ignore")
        with self.pq.ParquetWriter(out, schema, compression="zstd") as writer:
            wrote = False
            if self.rows:
                reader = pj.open_json(self._spool_path, parse_options=options,
                                      read_options=pj.ReadOptions(block_size=1 << 22, use_threads=False))
                for batch in reader:
                    table = pa.Table.from_batches([batch])
                    while any(pa.types.is_struct(f.type) for f in table.schema):
                        table = table.flatten()
                    texts = table.column("\x00config").to_pylist()
                    table = table.select(names)
                    if config:
                        rows = [orjson.loads(t) if t else {} for t in texts]
                        for name, kind in config:
                            values = [as_kind(r.get(name), kind) for r in rows]
                            table = table.append_column(name, pa.array(values, type=getattr(pa, _ARROW[kind])()))
                    writer.write_table(table.cast(schema))
                    wrote = True
            if not wrote:
                writer.write_table(schema.empty_table())


def _encode_at(record: dict[str, Any], path: tuple[str, ...]) -> None:
    """Replace the value at ``path`` by its JSON text, copying the dicts on the way (the input is kept)."""
    parent = record
    for part in path[:-1]:
        sub = parent.get(part)
        if not isinstance(sub, dict):
            return
        parent[part] = sub = dict(sub)
        parent = sub
    value = parent.get(path[-1])
    if value is not None:
        parent[path[-1]] = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def _config_into(config: Any, prefix: str, out: dict[str, Any]) -> None:
    from procrecord.exports.columns import _config

    if isinstance(config, dict):
        _config(config, prefix, out)
    elif config is not None:
        out[prefix.rstrip(".") or "config"] = orjson.dumps(config).decode()
