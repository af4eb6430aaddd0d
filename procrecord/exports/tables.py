"""Tables: one row per record as Parquet (pyarrow), CSV or flat JSON lines.

Each record becomes a list of values in the schema's column order (:class:`~.columns.RowMaker`, a
function generated once per schema; in a bulk run the workers make the rows) plus its flattened
config. Rows are gathered in batches of :data:`BATCH`; a full batch is typed column by column and
spilled to a temporary file (Arrow IPC for Parquet, pickled rows for the text formats), so memory
stays flat in the number of records. :meth:`TableExporter.close` then writes the table batch by
batch with the final union of config columns: a config column whose values differ in kind between
batches is widened there (ints to floats, anything else to text), and missing values are null.
"""

from __future__ import annotations

import itertools
import os
import pickle
import tempfile
from typing import IO, Any, Iterable, Iterator, Sequence

import attrs
import orjson

from procrecord.exports.columns import Column, RowMaker, as_kind, prefix_clash, unify
from procrecord.exports.interface import Exporter, ExportError, ExportOptions, Finding, require
from procrecord.exports.times import TimeError, normalized, plain

BATCH = 2048  # rows per batch: bounds memory whatever the record count
#: Bytes (about) of flat JSON lines joined for one write. A batch's lines at once are megabytes: a block
#: that size is mapped by malloc and faulted in again, batch after batch (measured with writer records:
#: up to 4 page faults and ~7 µs of system time a record); a block under malloc's 128 KiB threshold is not.
WRITE_BYTES = 64 << 10
#: Rows (at most) and Arrow bytes (about) of one Parquet row group: spilled batches are written
#: together up to these. A row group per batch of 2,048 rows cost twice the writing time, and a file
#: 1.8x larger, of many small column chunks (readers pay for each of them too).
ROW_GROUP_ROWS = 16384
ROW_GROUP_BYTES = 16 << 20
_ARROW = {"int": "int64", "float": "float64", "bool": "bool_", "string": "string", "json": "string",
          "timestamp": "string"}
_KINDS = {bool: "bool", int: "int", float: "float", str: "string"}
_INT64 = (-2**63, 2**63)

Row = tuple[list[Any], "dict[str, Any] | None", "list[str] | None"]


def batch_kind(values: list[Any]) -> tuple[str, bool]:
    """The kind of a config column holding ``values`` (None for missing), and whether they need converting.

    The same rule as :func:`~.columns.value_kind` / :func:`~.columns.unify` value by value, found
    from the set of the values' types (one pass in C) rather than value by value in Python.
    """
    types = set(map(type, values))
    types.discard(type(None))
    kinds = {_KINDS.get(t, "string") for t in types}
    if "int" in kinds:
        ints = [v for v in values if type(v) is int]
        if min(ints) < _INT64[0] or max(ints) >= _INT64[1]:
            kinds.discard("int")
            kinds.add("string")
    kind: str | None = None
    for one in sorted(kinds):
        kind = unify(kind, one)
    if kind is None:
        return "string", False
    return kind, len(types) > 1 or _KINDS.get(next(iter(types))) != kind


class _NoPandas:
    """A meta path finder that refuses ``import pandas`` (see :func:`pyarrow_without_pandas`)."""

    @staticmethod
    def find_spec(name: str, path: Any = None, target: Any = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("pandas is not needed by a table export", name="pandas")


def pyarrow_without_pandas() -> None:
    """Spare a command-line table export pyarrow's import of pandas (~0.25 s, half the start-up).

    pyarrow imports pandas, when it is installed, on its first conversion of a Python sequence
    (to ask whether it is a pandas object) and remembers what it found. The exports hand pyarrow only
    lists, so the command makes that first conversion with pandas refused: pyarrow then treats
    sequences as plain ones, and imports pandas later only for what really needs it (``to_pandas``).
    Only for a process of our own (the CLI): a library caller's process keeps pyarrow's pandas
    handling. Nothing changes where pandas is already imported, not installed, or pyarrow differs.
    """
    import sys

    if "pandas" in sys.modules:
        return
    try:
        import pyarrow
    except ImportError:
        return  # the exporter says which extra is missing
    sys.meta_path.insert(0, _NoPandas)
    try:
        pyarrow.array([], type=pyarrow.null())
    except Exception:  # noqa: BLE001 - a pyarrow that does this differently: pandas is imported as before
        pass
    finally:
        sys.meta_path.remove(_NoPandas)


class TableExporter(Exporter):
    """Base of the three table formats: rows in batches, the config union, spilling, the final write."""

    extra: str | None = None

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
        clash = prefix_clash(options.config_prefix, self.version)
        if clash is not None:
            raise ExportError(f"config prefix {options.config_prefix!r} could make a config column named as the "
                              f"schema's column {clash!r}: give a prefix no schema column starts with "
                              "(default: 'config.')")
        self.maker = RowMaker(self.version, options.config_prefix, options.include_volatile)
        self.columns = self.maker.columns()
        self._id = [c.name for c in self.columns].index("id")
        #: Config column -> kind over every batch so far, in order of first appearance.
        self.config: dict[str, str] = {}
        #: Config column -> the kinds batches held it as (a column seen as more than its final kind is converted).
        self.seen: dict[str, set[str]] = {}
        self.rows = 0
        self._values: list[list[Any]] = []
        self._configs: list[dict[str, Any] | None] = []
        handle, self._spool_path = tempfile.mkstemp(prefix="procrecord-rows-", suffix=".spool")
        os.close(handle)
        self._spans: list[tuple[int, int, dict[str, str]]] = []  # (offset, length, batch's config kinds)
        self._open = True

    def stage(self) -> RowMaker:
        """Rows are made where records are prepared (bulk workers), only values come to the exporter; the
        records a stage gets are valid (see :meth:`~.interface.Exporter.stage`), so it skips the key check."""
        return attrs.evolve(self.maker, valid=True)

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Flatten the record into a row and add it."""
        return self.add_staged(self.maker(record))

    def add_staged(self, staged: Row) -> list[Finding]:
        """Add a row made by :attr:`maker`; a full batch is typed and spilled."""
        values, config, notes = staged
        self._values.append(values)
        self._configs.append(config)
        if len(self._values) >= BATCH:
            self._flush()
        if notes:
            return [Finding(str(values[self._id] or "?"), "dropped", note) for note in notes]
        return []

    def _flush(self) -> None:
        values, configs = self._values, self._configs
        if not values:
            return
        self._values, self._configs = [], []
        self.rows += len(values)
        names = dict.fromkeys(itertools.chain.from_iterable(c for c in configs if c))
        config: dict[str, tuple[str, list[Any]]] = {}
        for name in names:
            column = [c.get(name) if c else None for c in configs]
            kind, mixed = batch_kind(column)
            if mixed:
                column = [as_kind(v, kind) for v in column]
            self.config[name] = unify(self.config.get(name), kind)
            self.seen.setdefault(name, set()).add(kind)
            config[name] = (kind, column)
        start = os.path.getsize(self._spool_path)
        with open(self._spool_path, "ab") as spool:
            self.spill(values, config, spool)
            end = spool.tell()
        self._spans.append((start, end - start, {name: kind for name, (kind, _) in config.items()}))

    def spill(self, values: list[list[Any]], config: dict[str, tuple[str, list[Any]]], spool: IO[bytes]) -> None:
        """Write one batch (rows of schema values, config columns with their kinds) to the spool."""
        pickle.dump((values, {name: column for name, (_, column) in config.items()}), spool, pickle.HIGHEST_PROTOCOL)

    def spilled(self) -> Iterator[tuple[Any, dict[str, str]]]:
        """The spilled batches, in order, with their config kinds."""
        with open(self._spool_path, "rb") as spool:
            for start, _, kinds in self._spans:
                spool.seek(start)
                yield pickle.load(spool), kinds  # our own spool, written by this process

    def all_columns(self) -> list[Column]:
        """The schema's columns, then the config columns in order of first appearance."""
        return self.columns + [Column(name, kind) for name, kind in self.config.items()]

    def config_columns(self, config: dict[str, list[Any]], rows: int) -> list[list[Any]]:
        """A spilled batch's config columns as the table has them: every one, each of its final kind."""
        columns = []
        for name, kind in self.config.items():
            column = config.get(name)
            if column is None:
                column = [None] * rows
            elif self.seen[name] != {kind}:
                column = [as_kind(v, kind) for v in column]
            columns.append(column)
        return columns

    def text_rows(self) -> Iterator[list[list[Any]]]:
        """Batches of full rows (schema values, then every config column converted to its final kind)."""
        for (values, config), _ in self.spilled():
            columns = self.config_columns(config, len(values))
            yield [row + list(extra) for row, extra in zip(values, zip(*columns))] if columns else values

    def close(self) -> list[Finding]:
        """Write the table atomically (temporary file + rename) and drop the spool."""
        from procrecord.atomic import replacing

        try:
            self._flush()
            with replacing(self.output) as handle:
                self.write(handle)
        finally:
            self.abort()
        return []

    def write(self, out: IO[bytes]) -> None:
        """Write every spilled batch to ``out``."""
        raise NotImplementedError

    def abort(self) -> None:
        """Remove the spool."""
        self._values, self._configs = [], []
        if os.path.exists(self._spool_path):
            os.unlink(self._spool_path)


class FlatJsonlExporter(TableExporter):
    """One flat JSON object per line, every column present (null when missing).

    A batch's schema columns are made into the start of each line (its object up to the closing brace) when
    the batch is spilled; at the end, each line is that start, then the config columns of the final union
    (their object after its opening brace), or just the brace when there are none.
    """

    name = "jsonl-flat"

    def spill(self, values: list[list[Any]], config: dict[str, tuple[str, list[Any]]], spool: IO[bytes]) -> None:
        """Spill the start of each row's line (its schema columns), then the batch's config columns."""
        heads = flat_lines([c.name for c in self.columns], values, _BEFORE_BRACE)
        pickle.dump((heads, {name: column for name, (_, column) in config.items()}), spool, pickle.HIGHEST_PROTOCOL)

    def write(self, out: IO[bytes]) -> None:
        names = list(self.config)
        for (heads, config), _ in self.spilled():
            if names:
                tails = flat_lines(names, zip(*self.config_columns(config, len(heads))), _AFTER_BRACE)
                # Each line: its schema columns, a comma, the config columns, a newline.
                pieces = list(itertools.chain.from_iterable(
                    zip(heads, itertools.repeat(b","), tails, itertools.repeat(b"\n"))))
            else:
                pieces = list(itertools.chain.from_iterable(zip(heads, itertools.repeat(b"}\n"))))
            # Joined a few dozen kilobytes at a time, never the batch's megabytes at once (see WRITE_BYTES).
            lines = max(1, WRITE_BYTES * len(heads) // max(1, sum(map(len, heads))))
            step = max(1, lines * len(pieces) // max(1, len(heads)))
            for start in range(0, len(pieces), step):
                out.write(b"".join(pieces[start:start + step]))


_BEFORE_BRACE = slice(None, -1)
_AFTER_BRACE = slice(1, None)
_WHOLE = slice(None)


def flat_lines(names: list[str], rows: Iterable[Sequence[Any]], part: slice = _WHOLE) -> list[bytes]:
    """``orjson.dumps(dict(zip(names, row)), option=orjson.OPT_NON_STR_KEYS)[part]`` of each row, made faster.

    One dict serves every row (its values replaced in place, its keys staying in ``names`` order), and the
    option is left out (it costs every key of every row): a row holding a key that is not a string (only a
    record built in Python can have one, in a column the schema gives another type) is written again with it.
    Each row must have a value for every name (a shorter row would keep the previous row's last values).
    """
    line = dict.fromkeys(names)
    fill, dumps = line.update, orjson.dumps
    out = []
    for row in rows:
        fill(zip(names, row))
        try:
            out.append(dumps(line)[part])  # cut here: the whole text is freed at once (one copy per row held)
        except TypeError:
            out.append(dumps(line, option=orjson.OPT_NON_STR_KEYS)[part])
    return out


@attrs.frozen
class TimedRows:
    """A :class:`RowMaker` whose timestamp cells are ready for Arrow's cast to UTC microseconds: a cell in
    another RFC 3339 form (``t``/``z``, more than 6 fraction digits, a leap second) becomes the same instant
    in UTC (:func:`~.times.normalized`, fraction cut to microseconds); one with no such form (not a time, a
    year outside 0000-9999 in UTC) is left out (null) with a note. Picklable: a bulk run's workers use it."""

    maker: RowMaker
    #: Indexes of the timestamp columns in a row, and their names.
    index: tuple[tuple[int, str], ...]

    @property
    def valid(self) -> bool:
        """Whether its row maker leaves the key check out (see :meth:`TableExporter.stage`)."""
        return bool(self.maker.valid)

    def __call__(self, record: dict[str, Any]) -> Row:
        values, config, notes = self.maker(record)
        for i, name in self.index:
            value = values[i]
            if value is not None and not (isinstance(value, str) and plain(value)):
                try:
                    values[i] = normalized(value)
                except (TimeError, TypeError) as exc:
                    values[i] = None
                    notes = [*(notes or ()), f"{name} left out: {exc}"]
        return values, config, notes


class ArrowTable(TableExporter):
    """Parquet and CSV: batches typed by pyarrow from the rows' columns, spilled as Arrow IPC, written by
    pyarrow (C++) batch by batch; config columns whose kind widened in a later batch are cast there."""

    extra: str | None = "table"
    #: Timestamps as Arrow timestamps (UTC microseconds); False keeps the record's text (CSV).
    typed_time = True

    def __init__(self, options: ExportOptions) -> None:
        self.pa = require("pyarrow", "table", self.name)
        super().__init__(options)
        self.timed = TimedRows(self.maker, tuple((i, c.name) for i, c in enumerate(self.columns) if c.kind == "timestamp"))

    def stage(self) -> Any:
        """Rows made as :meth:`TableExporter.stage` makes them, timestamps made ready for Arrow (Parquet)."""
        maker = super().stage()
        return attrs.evolve(self.timed, maker=maker) if self.typed_time else maker

    def add(self, record: dict[str, Any]) -> list[Finding]:
        return self.add_staged(self.timed(record) if self.typed_time else self.maker(record))

    def _type(self, kind: str) -> Any:
        if kind == "timestamp" and self.typed_time:
            return self.pa.timestamp("us", tz="UTC")
        return getattr(self.pa, _ARROW[kind])()

    def arrow_schema(self) -> Any:
        """The Arrow schema of the table (timestamps as they are written: UTC microseconds or text)."""
        pa = self.pa
        fields = []
        for column in self.all_columns():
            metadata = {"unit": column.unit} if column.unit else {}
            if column.kind == "json":
                metadata["encoding"] = "json"
            fields.append(pa.field(column.name, self._type(column.kind), nullable=True, metadata=metadata or None))
        return pa.schema(fields, metadata={"procrecord.schema_version": self.version})

    def spill(self, values: list[list[Any]], config: dict[str, tuple[str, list[Any]]], spool: IO[bytes]) -> None:
        pa = self.pa
        arrays = []
        for column, cells in zip(self.columns, zip(*values)):
            array = pa.array(cells, type=getattr(pa, _ARROW[column.kind])())
            arrays.append(array.cast(self._type("timestamp")) if column.kind == "timestamp" and self.typed_time else array)
        arrays += [pa.array(cells, type=self._type(kind)) for kind, cells in config.values()]
        batch = pa.RecordBatch.from_arrays(arrays, names=[c.name for c in self.columns] + list(config))
        with pa.ipc.new_stream(spool, batch.schema) as writer:
            writer.write_batch(batch)

    def spilled(self) -> Iterator[tuple[Any, dict[str, str]]]:
        pa = self.pa
        # Plain reads, not a memory map: the pages of a mapped spool would count in RSS as it is read.
        with pa.OSFile(self._spool_path, "rb") as source:
            for start, length, kinds in self._spans:
                yield pa.ipc.open_stream(source.read_at(length, start)).read_next_batch(), kinds

    def _widen(self, array: Any, kind: str) -> Any:
        """A config column of one batch as the column's final kind (int to float, anything to text)."""
        if kind == "string":  # as the text formats write it (JSON text of the value), not Arrow's cast
            return self.pa.array([as_kind(v, kind) for v in array.to_pylist()], type=self.pa.string())
        return array.cast(self._type(kind))

    def batches(self, schema: Any) -> Iterator[Any]:
        """The spilled batches with every column of ``schema`` (missing config columns null)."""
        pa = self.pa
        fixed = len(self.columns)
        for batch, kinds in self.spilled():
            arrays = batch.columns[:fixed]
            for name, kind in self.config.items():
                if name not in kinds:
                    arrays.append(pa.nulls(batch.num_rows, self._type(kind)))
                elif kinds[name] != kind:
                    arrays.append(self._widen(batch.column(name), kind))
                else:
                    arrays.append(batch.column(name))
            yield pa.RecordBatch.from_arrays(arrays, schema=schema)


class ParquetExporter(ArrowTable):
    """Parquet written with pyarrow: typed columns, timestamps in UTC, ``unit`` in each field's metadata."""

    name = "parquet"

    def write(self, out: IO[bytes]) -> None:
        pq = require("pyarrow.parquet", "table", "parquet")
        schema = self.arrow_schema()
        # No min/max statistics for the JSON text columns: they would be whole documents, kept for every
        # row group in the footer (memory growing with the record count) and useless for filtering.
        stats = [c.name for c in self.all_columns() if c.kind != "json"]
        with pq.ParquetWriter(out, schema, compression="zstd", write_statistics=stats) as writer:
            group: list[Any] = []
            rows = size = 0
            for batch in self.batches(schema):
                if group and (rows + batch.num_rows > ROW_GROUP_ROWS or size + batch.nbytes > ROW_GROUP_BYTES):
                    writer.write_table(self.pa.Table.from_batches(group, schema), row_group_size=rows)
                    group, rows, size = [], 0, 0
                group.append(batch)
                rows += batch.num_rows
                size += batch.nbytes
            if group or not self._spans:
                writer.write_table(self.pa.Table.from_batches(group, schema), row_group_size=max(rows, 1))


class CsvExporter(ArrowTable):
    """CSV: a header row, JSON text for arrays and bags, empty cells for missing values, ``true``/``false``,
    timestamps as the records have them. Written by pyarrow; with no pyarrow installed, by the standard
    library's ``csv`` (several times slower; numbers as Python writes them, ``1.0`` where Arrow writes ``1``)."""

    name = "csv"
    extra = None
    typed_time = False

    def __init__(self, options: ExportOptions) -> None:
        try:
            import pyarrow.csv  # noqa: F401 - only whether it is there
        except ImportError:
            self.pa = None
            TableExporter.__init__(self, options)
        else:
            super().__init__(options)

    def spill(self, values: list[list[Any]], config: dict[str, tuple[str, list[Any]]], spool: IO[bytes]) -> None:
        if self.pa is None:
            TableExporter.spill(self, values, config, spool)
        else:
            ArrowTable.spill(self, values, config, spool)

    def spilled(self) -> Iterator[tuple[Any, dict[str, str]]]:
        return TableExporter.spilled(self) if self.pa is None else ArrowTable.spilled(self)

    def write(self, out: IO[bytes]) -> None:
        if self.pa is None:
            self._write_stdlib(out)
            return
        pc = require("pyarrow.csv", "table", "csv")
        schema = self.arrow_schema()
        with pc.CSVWriter(out, schema, write_options=pc.WriteOptions(quoting_style="needed")) as writer:
            for batch in self.batches(schema):
                writer.write_batch(batch)

    def _write_stdlib(self, out: IO[bytes]) -> None:
        import csv
        import io

        columns = self.all_columns()
        flags = [i for i, c in enumerate(columns) if c.kind == "bool"]
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow([c.name for c in columns])
        for rows in self.text_rows():
            for row in rows:
                for i in flags:
                    if row[i] is not None:
                        row[i] = "true" if row[i] else "false"
            writer.writerows(rows)
        text.flush()
        text.detach()  # the caller closes the binary handle


__all__ = ["BATCH", "ArrowTable", "TimedRows", "CsvExporter", "FlatJsonlExporter", "ParquetExporter", "TableExporter", "batch_kind",
           "flat_lines"]
