"""Make a job's config JSON-safe without losing information.

Paths, enums, datetimes, sets, tuples, numpy scalars and arrays, attrs and dataclass instances and
nested mappings become their natural JSON form, whole. Any other object is described in a form that
is the same in every run, never with a memory address: its own ``repr`` when its class wrote one
without an address, else ``{"__type__": "module.Class", <public attributes>}``, else its repr with
the address removed (``<module.Class object>``, ``Foo(id=0x…)``); its JSON pointer is noted, so
nothing is dropped silently. A description is kept cheap: in it each container keeps at most
:data:`MAX_ITEMS` items and the whole description about :data:`MAX_CHARS` characters, and what is
cut is said where it was cut (``"__left_out__": 936`` in an object, ``"<936 more items left out>"``
ending a list, ``"…<1200 more characters left out>"`` ending a string). A cycle back to an object
being converted is ``"<cycle: back to the module.Class at /pointer>"``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import itertools
import json
import math
import os
import re
import sys
import uuid
from collections.abc import Mapping
from typing import Any

from procrecord.pointer import escape

_MAX_DEPTH = 100
#: The most items a container keeps inside a description (an object's public attributes included).
MAX_ITEMS = 100
#: About the most characters (of its JSON) one description keeps, nested descriptions included.
MAX_CHARS = 20_000
#: ``<Obj object at 0x7f6b...>``: an address differs in every run, so two identical runs would differ.
_AT_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+\b")
#: Any other number that looks like an address (``Foo(id=0x7f6b...)``, ``<Foo 0x55d1...>``): 0x and
#: 6 to 16 hex digits (a 64-bit address has at most 16; a heap in a non-PIE binary can have 6 or 7).
_HEX_ADDRESS = re.compile(r"(?<![0-9A-Za-z_])0x[0-9a-fA-F]{6,16}(?![0-9A-Za-z_])")
_LEFT_OUT_KEY = "__left_out__"


def to_json(value: Any) -> tuple[Any, list[str]]:
    """Return a JSON-safe copy of ``value`` and the pointers of values kept only as their repr.

    Never raises for the job's sake: a value whose conversion fails (its ``repr``, iteration or
    attributes raise) is kept as a description of the failure, and its pointer noted.
    """
    converter = _Converter()
    return converter.convert(value, "", 0), converter.notes


def has_address(text: str) -> bool:
    """Whether ``text`` holds something that looks like a memory address."""
    return bool(_AT_ADDRESS.search(text) or _HEX_ADDRESS.search(text))


def mask_addresses(text: str) -> str:
    """``text`` without memory addresses: `` at 0x7f...`` removed, any other ``0x7f...`` made ``0x…``."""
    return _HEX_ADDRESS.sub("0x…", _AT_ADDRESS.sub("", text))


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:  # noqa: BLE001 - a job's object may do anything in __repr__
        return f"<{type(value).__name__} object: repr failed: {type(exc).__name__}>"


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")


class _Converter:
    def __init__(self) -> None:
        self.notes: list[str] = []
        #: id -> pointer of each container or object being converted (a cycle points back to it).
        self.active: dict[int, str] = {}
        #: Characters a description may still take; None outside descriptions (plain data: whole).
        self.budget: int | None = None

    def convert(self, value: Any, pointer: str, depth: int) -> Any:
        try:
            return self._convert_value(value, pointer, depth)
        except RecursionError:
            raise
        except Exception as exc:  # noqa: BLE001 - see to_json
            self.notes.append(pointer)
            text = f"<{type(value).__name__} object: conversion failed: {type(exc).__name__}: {exc}>"[:500]
            return self._spend(mask_addresses(text))

    def _spend(self, value: Any) -> Any:
        """Count a scalar against the description's budget; a string over it is cut, saying so."""
        if self.budget is None:
            return value
        if isinstance(value, str):
            if len(value) + 2 > self.budget:
                keep = max(self.budget - 2, 0)
                value = f"{value[:keep]}…<{len(value) - keep} more characters left out>"
            self.budget -= len(value) + 2
        else:
            self.budget -= len(str(value))
        return value

    def _full(self) -> bool:
        return self.budget is not None and self.budget <= 0

    def _convert_value(self, value: Any, pointer: str, depth: int) -> Any:
        if value is None or isinstance(value, bool):
            return self._spend(value)
        if isinstance(value, str):
            return self._spend(value)
        if isinstance(value, int):
            return self._spend(int(value))
        if isinstance(value, float):
            if math.isfinite(value):
                return self._spend(value)
            self.notes.append(pointer)
            return self._spend(repr(value))
        if depth > _MAX_DEPTH:
            self.notes.append(pointer)
            return self._spend("<nested too deeply>")
        if id(value) in self.active:
            self.notes.append(pointer)
            target = self.active[id(value)]
            return self._spend(f"<cycle: back to the {_type_name(type(value))} at {target or 'the root'}>")
        if isinstance(value, enum.Enum):
            return self.convert(value.value, pointer, depth + 1)
        if isinstance(value, (dt.datetime, dt.date, dt.time)):
            return self._spend(value.isoformat())
        if isinstance(value, dt.timedelta):
            return self._spend(value.total_seconds())
        if isinstance(value, (os.PathLike,)):
            return self._spend(os.fspath(value))
        decimal = sys.modules.get("decimal")  # no Decimal can exist unless the job imported decimal
        if isinstance(value, uuid.UUID) or (decimal is not None and isinstance(value, decimal.Decimal)):
            return self._spend(str(value))
        if isinstance(value, bytes):
            try:
                return self._spend(value.decode("utf-8"))
            except UnicodeDecodeError:
                self.notes.append(pointer)
                return self._spend(_safe_repr(value))
        if self.budget is not None and _numpy_longer_than(value, MAX_ITEMS):
            # in a description: only the items kept are copied out of the array
            return self._sequence(value[:MAX_ITEMS].tolist(), pointer, depth, total=len(value))
        numpy_value = _numpy(value)
        if numpy_value is not _NOT_NUMPY:
            return self.convert(numpy_value, pointer, depth + 1)
        original = value
        self.active[id(original)] = pointer
        try:
            if dataclasses.is_dataclass(value) and not isinstance(value, type):
                value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            elif hasattr(type(value), "__attrs_attrs__"):
                value = {a.name: getattr(value, a.name) for a in type(value).__attrs_attrs__}
            if isinstance(value, Mapping):
                return self._mapping(value, pointer, depth)
            if isinstance(value, (set, frozenset)):
                return self._set(value, pointer, depth)
            if isinstance(value, (list, tuple)):
                return self._sequence(value, pointer, depth)
            if _iterable_sequence(value):
                # A sequence that is no list or tuple may be lazy and huge (range(10**9)): its items are
                # copied only up to MAX_ITEMS; a long range is its own exact, short text.
                size = len(value)
                if size <= MAX_ITEMS:
                    return self._sequence(value, pointer, depth)
                self.notes.append(pointer)
                if isinstance(value, range):
                    return self._spend(repr(value))
                return self._sequence(list(itertools.islice(value, MAX_ITEMS)), pointer, depth, total=size)
            self.notes.append(pointer)
            if self.budget is not None:
                return self._describe(value, pointer, depth)
            self.budget = MAX_CHARS  # a description, and all it holds, is bounded
            try:
                return self._describe(value, pointer, depth)
            finally:
                self.budget = None
        finally:
            del self.active[id(original)]

    def _cap(self) -> int | None:
        return MAX_ITEMS if self.budget is not None else None

    def _mapping(self, value: Mapping[Any, Any], pointer: str, depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        total = len(value)
        items = list(itertools.islice(value.items(), self._cap()))
        taken = {key for key, _ in items if isinstance(key, str)}
        for done, (key, sub) in enumerate(items):
            if self._full():
                out[_LEFT_OUT_KEY] = total - done
                return out
            if isinstance(key, str):
                name = key
            else:
                name, described = _key(key)
                if name in taken:
                    # 1 and "1" are both "1" in JSON: the value is kept beside the other one,
                    # under its key and type (`1 (int)`), and noted; never dropped.
                    name = base = f"{name} ({_type_name(type(key))})"
                    number = 2
                    while name in taken:
                        name, number = f"{base} {number}", number + 1
                    self.notes.append(f"{pointer}/{escape(name)}")
                elif described:
                    self.notes.append(f"{pointer}/{escape(name)}")
                taken.add(name)
            if self.budget is not None:
                self.budget -= len(name) + 4
            out[name] = self.convert(sub, f"{pointer}/{escape(name)}", depth + 1)
        if total > len(items):
            out[_LEFT_OUT_KEY] = total - len(items)
        return out

    def _set(self, value: set[Any] | frozenset[Any], pointer: str, depth: int) -> list[Any]:
        items = list(value)
        try:
            items.sort()
        except TypeError:
            # An order that is the same in every run: by what each becomes (never by a repr
            # with an address, nor by hash: a str's differs in every process).
            items.sort(key=lambda item: self._trial(item, f"{pointer}/-", depth + 1))
        return self._sequence(items, pointer, depth)

    def _trial(self, value: Any, pointer: str, depth: int) -> str:
        notes, budget = self.notes, self.budget
        self.notes = []
        try:
            return json.dumps(self.convert(value, pointer, depth), sort_keys=True, ensure_ascii=False)
        finally:
            self.notes, self.budget = notes, budget

    def _sequence(self, value: Any, pointer: str, depth: int, total: int | None = None) -> list[Any]:
        cap = self._cap()
        out: list[Any] = []
        for i, sub in enumerate(value):
            if (cap is not None and i >= cap) or self._full():
                out.append(f"<{(len(value) if total is None else total) - i} more items left out>")
                return out
            out.append(self.convert(sub, f"{pointer}/{i}", depth + 1))
        if total is not None and total > len(out):
            out.append(f"<{total - len(out)} more items left out>")
        return out

    def _describe(self, value: Any, pointer: str, depth: int) -> Any:
        """A description of an object with no JSON form that is stable across runs (never an address)."""
        kind = type(value)
        # mypy reads kind.__repr__ as bound to the class (no argument); here it is the unbound function
        own_repr = kind.__repr__ is not object.__repr__  # type: ignore[comparison-overlap]
        if own_repr:
            text = _safe_repr(value)
            if not has_address(text):
                return self._spend(text)
        if isinstance(value, type) or callable(value) and hasattr(value, "__qualname__") and hasattr(value, "__module__"):
            return self._spend(f"<{kind.__name__} {value.__module__}.{value.__qualname__}>")
        names, total = _public_names(value)
        if names:
            out: dict[str, Any] = {"__type__": self._spend(_type_name(kind))}
            for done, name in enumerate(names):
                if self._full():
                    out[_LEFT_OUT_KEY] = total - done
                    return out
                assert self.budget is not None
                self.budget -= len(name) + 4
                out[name] = self.convert(getattr(value, name), f"{pointer}/{escape(name)}", depth + 1)
            if total > len(names):
                out[_LEFT_OUT_KEY] = total - len(names)
            return out
        return self._spend(mask_addresses(text) if own_repr else f"<{_type_name(kind)} object>")


def _public_names(value: Any) -> tuple[list[str], int]:
    """The first :data:`MAX_ITEMS` of the object's public instance attributes (``__dict__`` or
    ``__slots__``), and how many it has."""
    try:
        names = [n for n in vars(value) if isinstance(n, str) and not n.startswith("_")]
    except TypeError:
        names = [n for cls in type(value).__mro__ for n in getattr(cls, "__slots__", ())
                 if isinstance(n, str) and not n.startswith("_") and hasattr(value, n)]
    return names[:MAX_ITEMS], len(names)


def _key(key: Any) -> tuple[str, bool]:
    """The text of a key that is not a string, and whether it is a description (noted)."""
    if isinstance(key, enum.Enum):
        return str(key.value), False
    if isinstance(key, (int, float, bool)):
        return str(key), False
    if isinstance(key, (os.PathLike, uuid.UUID)):
        return str(key), False
    text = _safe_repr(key)
    if type(key).__repr__ is object.__repr__:  # type: ignore[comparison-overlap]
        text = f"<{_type_name(type(key))} object>"
    text = mask_addresses(text)
    if len(text) > 200:
        text = f"{text[:200]}…<{len(text) - 200} more characters left out>"
    return text, True


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


def _numpy_longer_than(value: Any, count: int) -> bool:
    """Whether ``value`` is a numpy array of more than ``count`` items along its first axis."""
    return (type(value).__module__.startswith("numpy") and hasattr(value, "tolist")
            and bool(getattr(value, "ndim", 0)) and len(value) > count)


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
