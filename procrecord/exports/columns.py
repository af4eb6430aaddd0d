"""One flat row per record: the columns, their types and units, read from the schema.

Every property of the schema becomes a column named by its dotted path (``emissions.energy_kwh``),
typed from the schema (``integer``, ``number``, ``boolean``, ``string``, ``date-time``) with its
``x-unit``. Arrays and the open bags (``extra``, ``extensions``, ``invocation.environment``) are one
JSON text column each; ``invocation.config`` is flattened into one column per key under a prefix.
The schema's columns are the same for every record, so tables of different exports line up.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import attrs
import orjson

from procrecord.bulk.jsoncodec import dumps as jsoncodec_dumps

#: Kinds of column: the schema's scalar types, ``timestamp`` (format date-time) and ``json`` (text).
KINDS = ("int", "float", "bool", "string", "timestamp", "json")

CONFIG = ("invocation", "config")


class Column(NamedTuple):
    """One column of the flat table."""

    name: str
    kind: str
    unit: str | None = None
    volatile: bool = False


def _kind(node: dict[str, Any]) -> str:
    types = node.get("type")
    if isinstance(types, list):
        types = [t for t in types if t != "null"]
        types = types[0] if len(types) == 1 else None
    if types == "integer":
        return "int"
    if types == "number":
        return "float"
    if types == "boolean":
        return "bool"
    if types == "string":
        return "timestamp" if node.get("format") == "date-time" else "string"
    return "json"


def _walk(node: dict[str, Any], path: tuple[str, ...], volatile: bool, out: list[tuple[tuple[str, ...], Column]]) -> None:
    for name, sub in node.get("properties", {}).items():
        here = (*path, name)
        vol = volatile or bool(sub.get("x-volatile"))
        if here == CONFIG:
            continue  # flattened per key, see flatten()
        if "properties" in sub and sub.get("additionalProperties") is False:
            _walk(sub, here, vol, out)
        else:
            out.append((here, Column(".".join(here), _kind(sub), sub.get("x-unit"), vol)))


@functools.lru_cache(maxsize=None)
def schema_columns(version: str) -> tuple[tuple[tuple[str, ...], Column], ...]:
    """``(path, column)`` for every column the schema of ``version`` defines, in schema order."""
    from procrecord.record.schemas import load_schema

    out: list[tuple[tuple[str, ...], Column]] = []
    _walk(load_schema(version), (), False, out)
    return tuple(out)


@functools.lru_cache(maxsize=None)
def _plan(version: str) -> dict[str, Any]:
    """Nested dict mirroring the record: a leaf is the column's (name, kind)."""
    plan: dict[str, Any] = {}
    for path, column in schema_columns(version):
        node = plan
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = (column.name, column.kind)
    plan.setdefault("invocation", {})["config"] = "config"
    return plan


#: The integers a table's int column (Parquet's int64) holds: one outside is never made a float.
INT64 = (-2**63, 2**63)


def json_text(value: Any) -> str:
    """Compact JSON text of ``value``; integers beyond 64 bits (which orjson refuses) written exactly
    (:func:`procrecord.bulk.jsoncodec.dumps`: a record's values, string keys only)."""
    return jsoncodec_dumps(value).decode()


_dump = json_text


def _dumps(value: Any) -> bytes:
    """JSON text of a value the fast row's plain ``orjson.dumps`` refused (the generated rows' slow path):
    keys that are not strings (a record built in Python: ``{1: "a"}`` is written ``{"1":"a"}``, as
    ``orjson.OPT_NON_STR_KEYS`` writes it), else :func:`_dump` (integers beyond 64 bits, lone surrogates).

    The fast row leaves the option out: it costs every JSON-text value of every record (~0.3 µs a writer
    record), and only a record built in Python can hold such a key (a parsed one has string keys only).
    """
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return _dump(value).encode()


def flatten(record: dict[str, Any], version: str, prefix: str = "config.") -> tuple[dict[str, Any], list[str]]:
    """The record as one flat row ``{column: value}``, and the paths that have no column (normally none)."""
    row: dict[str, Any] = {}
    unknown: list[str] = []
    _fill(record, _plan(version), row, unknown, "", prefix)
    return row, unknown


def _fill(value: dict[str, Any], plan: dict[str, Any], row: dict[str, Any], unknown: list[str], where: str,
          prefix: str) -> None:
    for key, sub in value.items():
        target = plan.get(key)
        if target is None:
            unknown.append(where + key)
        elif target == "config":
            if isinstance(sub, dict):
                _config(sub, prefix, row)
            elif sub is not None:
                row[prefix.rstrip(".") or "config"] = _dump(sub)
        elif isinstance(target, dict):
            if isinstance(sub, dict):
                _fill(sub, target, row, unknown, f"{where}{key}.", prefix)
        elif sub is not None:
            name, kind = target
            row[name] = _dump(sub) if kind == "json" else sub


def _config(config: dict[str, Any], prefix: str, row: dict[str, Any], lost: list[str] | None = None) -> None:
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            _config(value, name + ".", row, lost)
            continue
        if name in row:  # two keys flatten to one name ({"a": {"b": 1}, "a.b": 2}): the first keeps it
            if lost is not None:
                lost.append(name)
            continue
        if isinstance(value, (list, dict)):
            row[name] = _dump(value)
        elif value is not None:
            row[name] = value


def collisions(config: Any, prefix: str = "config.", holder: str = "column") -> list[str]:
    """Notes on config values left out because an earlier key flattens to the same column (keys with dots).

    Each names both keys as JSON paths (``["model.depth"]`` and ``["model", "depth"]``), which the
    dotted column name cannot tell apart (``holder``: what the target calls a column, "param" for MLflow).
    """
    if not isinstance(config, dict):
        return []
    holders: dict[str, list[Any]] = {}
    notes: list[str] = []

    def walk(node: dict[str, Any], path: list[Any]) -> None:
        for key, value in node.items():
            here = [*path, key]
            if isinstance(value, dict) and value:
                walk(value, here)
                continue
            name = prefix + ".".join(str(k) for k in here)
            if value is None:
                continue  # no value, nothing lost (and no column taken)
            if name in holders:
                notes.append(f"config {_dump(here)} left out: its {holder} {name} holds config {_dump(holders[name])}")
            else:
                holders[name] = here

    walk(config, [])
    return notes


def prefix_clash(prefix: str, version: str) -> str | None:
    """A schema column that a config column under ``prefix`` could be named as, or None when none can.

    With ``--config-prefix ''`` the config ``{"name": "x"}`` would make a second column ``name``:
    a duplicate field in Parquet and CSV, a duplicate key in flat JSON lines (whose reader keeps the
    config's value instead of the record's name). A config that is not an object is one column named
    ``prefix`` without its trailing dot (``config`` for an empty prefix), so that name counts too.
    """
    whole = prefix.rstrip(".") or "config"
    for _, column in schema_columns(version):
        if column.name.startswith(prefix) or column.name == whole:
            return column.name
    return None


def value_kind(value: Any) -> str:
    """The column kind a config value needs on its own."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if INT64[0] <= value < INT64[1] else "string"  # Parquet's int64: never a float
    if isinstance(value, float):
        return "float"
    return "string"


def unify(old: str | None, new: str) -> str:
    """The kind of a config column holding values of kinds ``old`` and ``new`` (ints widen to floats; an int
    outside int64 is of kind ``string``, see :func:`value_kind`, so its column is text of its exact digits)."""
    if old is None or old == new:
        return new
    if {old, new} == {"int", "float"}:
        return "float"
    return "string"


def as_kind(value: Any, kind: str) -> Any:
    """``value`` converted for a column of ``kind`` (a config column that unified to text or float)."""
    if value is None:
        return None
    if kind == "string" and not isinstance(value, str):
        return _dump(value)
    if kind == "float" and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    return value


# --- Compiled rows: the flattening above, turned into one generated function per schema (fast path) ---

_EMPTY: dict[str, Any] = {}


def _config_fast(config: dict[Any, Any], prefix: str, out: dict[str, Any]) -> bool:
    """:func:`_config` with one class test per value (it runs for every key of every record); True when
    two keys flatten to one column (the first keeps it; :func:`collisions` says which)."""
    clash = False
    for key, value in config.items():
        cls = value.__class__
        if cls is dict and value:
            clash = _config_fast(value, f"{prefix}{key}.", out) or clash
            continue
        name = f"{prefix}{key}"
        if name in out:
            clash = True
        elif cls is dict:
            out[name] = "{}"
        elif cls is list:
            try:
                out[name] = orjson.dumps(value).decode()
            except TypeError:  # a key that is not a string, an integer beyond 64 bits
                out[name] = _dumps(value).decode()
        elif value is not None:
            out[name] = _dump(value) if cls not in _SCALARS else value
    return clash


_SCALARS = (str, int, float, bool)


def _config_of(config: Any, prefix: str) -> tuple[dict[str, Any] | None, list[str] | None]:
    """The flattened config (None when empty) and notes on values left out (None when none)."""
    if config.__class__ is dict:
        out: dict[str, Any] = {}
        clash = _config_fast(config, prefix, out)
        return out or None, (collisions(config, prefix) or None) if clash else None
    if config is None:
        return None, None
    return {prefix.rstrip(".") or "config": _dump(config)}, None


def _notes(unknown: list[str] | None, lost: list[str] | None) -> list[str]:
    """The dropped notes of a row: fields without a column, config values that lost their column."""
    return (["no column for " + ", ".join(unknown)] if unknown else []) + (lost or [])


@attrs.frozen
class RowMaker:
    """Turns a current-version record into ``(values, config, notes)``: a picklable, per-record step.

    ``values`` holds the kept schema columns in :meth:`columns` order (arrays and bags as JSON text),
    ``config`` the flattened ``invocation.config`` (``{column: value}`` or None) and ``notes`` what the
    row could not hold: paths that have no column (a valid record has none) and config values whose
    column an earlier key took (``{"a": {"b": 1}, "a.b": 2}``); None when there is nothing.
    """

    version: str
    prefix: str = "config."
    include_volatile: bool = True
    #: Records known valid for ``version`` (what a bulk run prepares): the check for keys without a
    #: column is left out, since the schema's closed sections allow no other key.
    valid: bool = False

    def columns(self) -> list[Column]:
        """The kept schema columns (volatile ones only when asked; the id always)."""
        return [c for _, c in _kept(self.version, self.include_volatile)]

    def __call__(self, record: dict[str, Any]) -> tuple[list[Any], dict[str, Any] | None, list[str] | None]:
        try:
            row: tuple[list[Any], dict[str, Any] | None, list[str] | None] = _compiled(
                self.version, self.prefix, self.include_volatile, self.valid)(record)
        except TypeError:  # a JSON-text value plain orjson refuses (an integer beyond 64 bits, a key that is not a
            # string): the row again with the writer of each such value (_dumps)
            row = _compiled(self.version, self.prefix, self.include_volatile, self.valid, True)(record)
        values = row[0]
        # One C pass screens the int columns for a value outside int64 (the sum of their sizes reaches 2**63).
        if sum(map(abs, filter(None, _int_columns(self.version, self.include_volatile)(values)))) >= INT64[1]:
            return values, row[1], (row[2] or []) + _outside_int64(values, self.columns())
        return row


@functools.lru_cache(maxsize=None)
def _int_columns(version: str, include_volatile: bool) -> Any:
    """A getter of a row's int columns' values (a tuple, even for one: ``itemgetter`` with a spare index)."""
    import operator

    kept = _kept(version, include_volatile)
    indices = [i for i, (_, c) in enumerate(kept) if c.kind == "int"]
    return operator.itemgetter(*indices, *indices[:1]) if indices else (lambda values: ())


def _outside_int64(values: list[Any], columns: list[Column]) -> list[str]:
    """Notes on (and nulls for) the values of int columns outside int64: the column's type is the schema's,
    so that tables line up, and a float or a text there would be a wrong or an odd value."""
    notes = []
    for i, column in enumerate(columns):
        value = values[i]
        if column.kind == "int" and isinstance(value, int) and not INT64[0] <= value < INT64[1]:
            values[i] = None
            notes.append(f"{column.name} left out: {value} is outside the 64-bit integers of its column")
    return notes


def _kept(version: str, include_volatile: bool) -> list[tuple[tuple[str, ...], Column]]:
    return [(p, c) for p, c in schema_columns(version) if include_volatile or not c.volatile or c.name == "id"]


@functools.lru_cache(maxsize=None)
def _compiled(version: str, prefix: str, include_volatile: bool, valid: bool = False, exact: bool = False) -> Any:
    """Generate the row function of a schema: one ``.get`` per column, no walk over the plan per record.

    Generated once per (version, prefix, volatility); object sections become locals, and each section's
    keys are checked against the schema's with one set comparison (the slow walk runs only on a miss).
    """
    sections: dict[tuple[str, ...], str] = {(): "r"}
    known: dict[tuple[str, ...], set[str]] = {(): set()}
    for path, _ in schema_columns(version):
        for depth in range(1, len(path)):
            known.setdefault(path[:depth], set())
        for depth in range(len(path)):
            known[path[:depth]].add(path[depth])
    known[CONFIG[:1]].add(CONFIG[1])
    body = ["def row(r):"]
    for path in sorted(known, key=len):
        if path:
            name = sections[path] = f"s{len(sections)}"
            body.append(f"    {name} = {sections[path[:-1]]}.get({path[-1]!r})")
            body.append(f"    if {name}.__class__ is not dict: {name} = E")
    if valid:
        body.append("    unknown = None")
    else:
        checks = " and ".join(f"{sections[p]}.keys() <= K[{i}]" for i, p in enumerate(known))
        body.append(f"    unknown = None if {checks} else U(r)")
    body.append(f"    config, lost = C({sections[CONFIG[:1]]}.get({CONFIG[1]!r}), P)")
    body.append("    notes = None if unknown is None and lost is None else N(unknown, lost)")
    values: list[str] = []
    groups: list[tuple[str, list[str]]] = []  # (section of the top level or "", its columns' expressions)
    for path, column in _kept(version, include_volatile):
        get = f"{sections[path[:-1]]}.get({path[-1]!r})"
        expr = f"(None if (v := {get}) is None else D(v).decode())" if column.kind == "json" else get
        top = sections[path[:1]] if len(path) > 1 else ""
        if not groups or groups[-1][0] != top:
            groups.append((top, []))
        groups[-1][1].append(expr)
    for top, exprs in groups:
        if top and len(exprs) > 1:  # a whole section the record lacks costs one test, not a .get per column
            values.append(f"*(({', '.join(exprs)}) if {top} is not E else ({'None, ' * len(exprs)}))")
        else:
            values.extend(exprs)
    body.append(f"    return [{', '.join(values)}], config, notes")
    scope: dict[str, Any] = {"E": _EMPTY, "D": _dumps if exact else orjson.dumps,
                             "C": _config_of, "N": _notes, "P": prefix,
                             "K": [frozenset(known[p]) for p in known], "U": functools.partial(_unknown, version)}
    exec(compile("\n".join(body), f"<procrecord row {version}>", "exec"), scope)  # our own generated code
    return scope["row"]


def _unknown(version: str, record: dict[str, Any]) -> list[str] | None:
    return flatten(record, version)[1] or None
