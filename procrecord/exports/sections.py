"""Typed table columns of a batch of records, made by pyarrow (C++) from the records' sections.

The row path (:class:`~.columns.RowMaker`) reads every schema column of every record in Python and
pyarrow then types each column from a list of values. Here a batch of records goes to pyarrow a
section at a time: ``pa.array(sections, type=struct)`` reads the scalar fields of every record in C++
and the struct is flattened into the schema's columns. Only the JSON-text columns (arrays and open
bags, a handful per record) are dumped in Python. The result equals the row path's (a test compares
them); a batch pyarrow cannot convert (a record that does not follow the schema) raises, and the
caller then takes the row path for that batch, which gives today's values or today's error.
"""

from __future__ import annotations

import functools
from typing import Any

import attrs
import orjson

from procrecord.exports.columns import CONFIG, Column, _config_of, _kept, _unknown, schema_columns

_ARROW = {"int": "int64", "float": "float64", "bool": "bool_", "string": "string", "timestamp": "string"}
_EMPTY: dict[str, Any] = {}


class SectionColumns:
    """The kept schema columns of a batch of current-version records as Arrow arrays, in column order."""

    def __init__(self, pa: Any, version: str, include_volatile: bool, typed_time: bool) -> None:
        self.pa = pa
        self.kept = _kept(version, include_volatile)
        self.typed_time = typed_time
        self.tops: list[tuple[str, Any]] = []  # (top-level name, Arrow type of its scalar leaves) in schema order
        self.json: list[tuple[str, ...]] = []  # paths of the JSON-text columns
        tree: dict[str, Any] = {}
        for path, column in self.kept:
            if column.kind == "json":
                self.json.append(path)
                continue
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = column
        for name, node in tree.items():
            self.tops.append((name, self._type(node)))

    def _type(self, node: dict[str, Any] | Column) -> Any:
        pa = self.pa
        if isinstance(node, Column):
            return getattr(pa, _ARROW[node.kind])()
        return pa.struct([pa.field(name, self._type(sub)) for name, sub in node.items()])

    def arrays(self, records: list[dict[str, Any]]) -> list[Any]:
        """One array per kept column (timestamps cast to UTC microseconds when ``typed_time``); raises
        pyarrow's or orjson's error for a batch that does not follow the schema."""
        pa = self.pa
        found: dict[tuple[str, ...], Any] = {}
        parents: dict[tuple[str, ...], list[Any]] = {}
        for name, kind in self.tops:
            cells = [r.get(name) for r in records]
            if pa.types.is_struct(kind):
                # A section that is not an object has no values (the row path's rule): null here.
                cells = [c if c.__class__ is dict else None for c in cells]
                parents[(name,)] = cells
                _leaves(pa, pa.array(cells, type=kind), (name,), found)
            else:
                found[(name,)] = pa.array(cells, type=kind)
        dumps, option = orjson.dumps, orjson.OPT_NON_STR_KEYS
        for path in self.json:
            objects = self._parent(records, parents, path[:-1])
            key = path[-1]
            found[path] = pa.array([None if (v := c.get(key)) is None else dumps(v, option=option).decode()
                                    for c in objects], type=pa.string())
        out = []
        stamp = pa.timestamp("us", tz="UTC")
        for path, column in self.kept:
            array = found[path]
            out.append(array.cast(stamp) if column.kind == "timestamp" and self.typed_time else array)
        return out

    def _parent(self, records: list[dict[str, Any]], parents: dict[tuple[str, ...], list[Any]],
                path: tuple[str, ...]) -> list[dict[str, Any]]:
        """The objects at ``path`` of every record (an empty dict where there is none)."""
        if not path:
            return records
        cells = parents.get(path)
        if cells is None:
            above = self._parent(records, parents, path[:-1])
            cells = parents[path] = [c.get(path[-1]) for c in above]
        return [c if c.__class__ is dict else _EMPTY for c in cells]


def _leaves(pa: Any, array: Any, path: tuple[str, ...], out: dict[tuple[str, ...], Any]) -> None:
    if not pa.types.is_struct(array.type):
        out[path] = array
        return
    for field, child in zip(array.type, array.flatten()):  # flatten() folds the parent's nulls in
        _leaves(pa, child, (*path, field.name), out)


@functools.lru_cache(maxsize=None)
def checker(version: str) -> Any:
    """A generated function: None for a record whose objects hold only the schema's keys, else the paths
    that have no column (the row path's "no column for ..." findings, without making the row)."""
    sections: dict[tuple[str, ...], str] = {(): "r"}
    known: dict[tuple[str, ...], set[str]] = {(): set()}
    for path, _ in schema_columns(version):
        for depth in range(1, len(path)):
            known.setdefault(path[:depth], set())
        for depth in range(len(path)):
            known[path[:depth]].add(path[depth])
    known[CONFIG[:1]].add(CONFIG[1])
    body = ["def check(r):"]
    for path in sorted(known, key=len):
        if path:
            name = sections[path] = f"s{len(sections)}"
            body.append(f"    {name} = {sections[path[:-1]]}.get({path[-1]!r})")
            body.append(f"    if {name}.__class__ is not dict: {name} = E")
    checks = " and ".join(f"{sections[p]}.keys() <= K[{i}]" for i, p in enumerate(known))
    body.append(f"    return None if {checks} else U(r)")
    scope: dict[str, Any] = {"E": _EMPTY, "K": [frozenset(known[p]) for p in known],
                             "U": functools.partial(_unknown, version)}
    exec(compile("\n".join(body), f"<procrecord check {version}>", "exec"), scope)  # our own generated code
    return scope["check"]


def stage_record(version: str, prefix: str, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None,
                                                                              list[str] | None]:
    """``(record, flattened config, paths without a column)``: what the section engine needs of one record."""
    invocation = record.get("invocation")
    config = _config_of(invocation.get("config") if invocation.__class__ is dict else None, prefix)
    return record, config, checker(version)(record)


@attrs.frozen
class SectionStage:
    """The per-record step of the section engine (picklable: bulk workers run it): see :func:`stage_record`."""

    version: str
    prefix: str = "config."

    def __call__(self, record: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None, list[str] | None]:
        return stage_record(self.version, self.prefix, record)
