"""Make a job's config JSON-safe without losing information.

Paths, enums, datetimes, sets, tuples, numpy scalars and arrays, attrs and dataclass instances and
nested mappings become their natural JSON form. Any other object is described in a form that is the
same in every run: its own ``repr`` when its class wrote one without a memory address, else
``{"__type__": "module.Class", <public attributes>}``, else its repr with the address removed
(``<module.Class object>``); its JSON pointer is noted, so nothing is dropped silently.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import math
import os
import re
import sys
import uuid
from collections.abc import Mapping
from typing import Any

from procrecord.pointer import escape

_MAX_DEPTH = 100
#: ``<Obj object at 0x7f6b...>``: an address differs in every run, so two identical runs would differ.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
#: More public attributes than this and an object is described by its type only (cheap, bounded).
_MAX_ATTRIBUTES = 64


def to_json(value: Any) -> tuple[Any, list[str]]:
    """Return a JSON-safe copy of ``value`` and the pointers of values kept only as their repr.

    Never raises for the job's sake: a value whose conversion fails (its ``repr``, iteration or
    attributes raise) is kept as a description of the failure, and its pointer noted.
    """
    notes: list[str] = []
    return _convert(value, "", notes, 0, set()), notes


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a job's object may do anything in __repr__
        return f"<{type(value).__name__} object: repr failed: {type(exc).__name__}>"


def _convert(value: Any, pointer: str, notes: list[str], depth: int, active: set[int]) -> Any:
    try:
        return _convert_value(value, pointer, notes, depth, active)
    except RecursionError:
        raise
    except Exception as exc:  # noqa: BLE001 - see to_json
        notes.append(pointer)
        return f"<{type(value).__name__} object: conversion failed: {type(exc).__name__}: {exc}>"[:500]


def _convert_value(value: Any, pointer: str, notes: list[str], depth: int, active: set[int]) -> Any:
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        notes.append(pointer)
        return repr(value)
    if depth > _MAX_DEPTH or id(value) in active:
        notes.append(pointer)
        return _safe_repr(value) if depth <= _MAX_DEPTH else "<nested too deeply>"
    if isinstance(value, enum.Enum):
        return _convert(value.value, pointer, notes, depth + 1, active)
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (os.PathLike,)):
        return os.fspath(value)
    decimal = sys.modules.get("decimal")  # no Decimal can exist unless the job imported decimal
    if isinstance(value, uuid.UUID) or (decimal is not None and isinstance(value, decimal.Decimal)):
        return str(value)
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            notes.append(pointer)
            return _safe_repr(value)
    numpy_value = _numpy(value)
    if numpy_value is not _NOT_NUMPY:
        return _convert(numpy_value, pointer, notes, depth + 1, active)
    active.add(id(value))
    try:
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
        elif hasattr(type(value), "__attrs_attrs__"):
            value = {a.name: getattr(value, a.name) for a in type(value).__attrs_attrs__}
        if isinstance(value, Mapping):
            out = {}
            items = list(value.items())
            taken = {key for key, _ in items if isinstance(key, str)}
            for key, sub in items:
                if isinstance(key, str):
                    name = key
                else:
                    name = _key(key)
                    if name in taken:
                        # 1 and "1" are both "1" in JSON: the value is kept beside the other one,
                        # under its key and type (`1 (int)`), and noted; never dropped.
                        name = base = f"{name} ({_type_name(type(key))})"
                        number = 2
                        while name in taken:
                            name, number = f"{base} {number}", number + 1
                        notes.append(f"{pointer}/{escape(name)}")
                    elif not isinstance(key, (int, float, bool, enum.Enum)) and name == _safe_repr(key):
                        notes.append(f"{pointer}/{escape(name)}")
                    taken.add(name)
                out[name] = _convert(sub, f"{pointer}/{escape(name)}", notes, depth + 1, active)
            return out
        if isinstance(value, (set, frozenset)):
            items = list(value)
            try:
                items.sort()
            except TypeError:
                items.sort(key=repr)
            return [_convert(v, f"{pointer}/{i}", notes, depth + 1, active) for i, v in enumerate(items)]
        if isinstance(value, (list, tuple)) or _iterable_sequence(value):
            return [_convert(v, f"{pointer}/{i}", notes, depth + 1, active) for i, v in enumerate(value)]
        notes.append(pointer)
        return _describe(value, pointer, notes, depth, active)
    finally:
        active.discard(id(value))


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")


def _describe(value: Any, pointer: str, notes: list[str], depth: int, active: set[int]) -> Any:
    """A description of an object with no JSON form that is stable across runs (never an address)."""
    kind = type(value)
    # mypy reads kind.__repr__ as bound to the class (no argument); here it is the unbound function
    own_repr = kind.__repr__ is not object.__repr__  # type: ignore[comparison-overlap]
    if own_repr:
        text = _safe_repr(value)
        if not _ADDRESS.search(text):
            return text
    if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__module__"):
        return f"<{kind.__name__} {value.__module__}.{value.__qualname__}>"
    public = _public_attributes(value)
    if public:
        out: dict[str, Any] = {"__type__": _type_name(kind)}
        for name, sub in public.items():
            out[name] = _convert(sub, f"{pointer}/{escape(name)}", notes, depth + 1, active)
        return out
    text = _ADDRESS.sub("", _safe_repr(value)) if own_repr else f"<{_type_name(kind)} object>"
    return text


def _public_attributes(value: Any) -> dict[str, Any] | None:
    """The object's public instance attributes (``__dict__`` or ``__slots__``), if few enough."""
    try:
        names = [n for n in vars(value) if isinstance(n, str) and not n.startswith("_")]
    except TypeError:
        names = [n for cls in type(value).__mro__ for n in getattr(cls, "__slots__", ())
                 if isinstance(n, str) and not n.startswith("_") and hasattr(value, n)]
    if not names or len(names) > _MAX_ATTRIBUTES:
        return None
    return {n: getattr(value, n) for n in names}


def _key(key: Any) -> str:
    if isinstance(key, enum.Enum):
        return str(key.value)
    if isinstance(key, (int, float, bool)) or key is None:
        return str(key)
    if isinstance(key, (os.PathLike, uuid.UUID)):
        return str(key)
    return _safe_repr(key)


_NOT_NUMPY = object()


def _numpy(value: Any) -> Any:
    module = type(value).__module__
    if not module.startswith("numpy"):
        return _NOT_NUMPY
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return _NOT_NUMPY


def _iterable_sequence(value: Any) -> bool:
    from collections.abc import Sequence

    return isinstance(value, Sequence) and not isinstance(value, (str, bytes, bytearray))


def json_copy(value: Any) -> Any:
    """A deep copy of JSON data (an orjson round trip: several times faster than copy.deepcopy)."""
    import orjson

    try:
        return orjson.loads(orjson.dumps(value))
    except (TypeError, orjson.JSONEncodeError):
        import copy

        return copy.deepcopy(value)
