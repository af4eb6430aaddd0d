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
from typing import IO, Any

import orjson

from procrecord.exports.columns import Column, as_kind, flatten, schema_columns, unify, value_kind
from procrecord.exports.interface import ExportError, Exporter, ExportOptions, Finding, record_id, require

BATCH = 8192
_ARROW = {"int": "int64", "float": "float64", "bool": "bool_", "string": "string", "json": "string"}


class TableExporter(Exporter):
    """Base of the three table formats: spooling, the column union, the final write."""

    fmt = ""

    def __init__(self, options: ExportOptions) -> None:
        super().__init__(options)
        if not options.output:
            raise ExportError(f"--to {self.name} needs -o FILE")
        folder = os.path.dirname(os.path.abspath(options.output))
        if not os.path.isdir(folder):
            raise ExportError(f"cannot write {options.output}: no folder {folder}")
        from procrecord.schemas import current_version

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

    def _batches(self):
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
            with replacing(self.options.output) as handle:
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

    def write(self, out: IO[bytes]) -> None:
        pa = self.pa
        schema = self.arrow_schema()
        # Timestamps are read as text, then cast by Arrow (RFC 3339 with any offset -> UTC).
        staged = pa.schema([f.with_type(pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema])
        convert = {c.name: c.kind for c in self.all_columns() if c.name in self.config and c.kind in ("string", "float")}
        stamps = [i for i, f in enumerate(schema) if pa.types.is_timestamp(f.type)]
        with self.pq.ParquetWriter(out, schema, compression="zstd") as writer:
            wrote = False
            for batch in self._batches():
                if convert:
                    for row in batch:
                        for name, kind in convert.items():
                            if name in row:
                                row[name] = as_kind(row[name], kind)
                table = pa.Table.from_pylist(batch, schema=staged)
                for index in stamps:
                    table = table.set_column(index, schema.field(index), table.column(index).cast(schema.field(index).type))
                writer.write_table(table)
                wrote = True
            if not wrote:
                writer.write_table(schema.empty_table())
