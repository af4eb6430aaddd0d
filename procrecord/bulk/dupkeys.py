"""Duplicate keys in a JSON document: a finding, since a parser keeps only one of the values.

JSON readers (orjson, the standard library) keep the last value of a key written twice in one
object, so whatever the first one held is invisible to validation and to the redaction gate. The
check is cheap for the common case: with no ``\\u`` escape in the bytes, every ``:`` of the document
is either a key's separator or a character of a string, so the document holds a duplicate exactly
when it has more colons than the parsed value serialised again (a dropped pair takes its colon with
it). Any other document is read once more with the standard library, which also says where.
Colons are counted only where the two texts differ (see :func:`differences`): a record written by
another writer usually differs from orjson's text in a few numbers (``1e-05`` and ``0.00001``).

The serialisation also bounds the nesting for free: orjson refuses to write more than a fixed
number of levels, so the value written inside just enough empty lists to fill the rest of that
budget is written exactly when it nests no deeper than the limit (see :func:`compact`).
"""

from __future__ import annotations

import functools
import json
from typing import Any

import orjson


class _Object(dict[str, Any]):
    """A parsed object that remembers the keys it was given more than once."""

    __slots__ = ("repeated",)
    repeated: list[str]


def _pairs(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    obj.repeated = []
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and key not in obj.repeated:
                obj.repeated.append(key)
            seen.add(key)
    return obj


def _nested(depth: int, kinds: str = "ol", inner: Any = 0) -> Any:
    """``inner`` inside ``depth`` containers, objects (``o``) and lists (``l``) in turn by ``kinds``."""
    value = inner
    for level in range(depth):
        value = {"k": value} if kinds[level % len(kinds)] == "o" else [value]
    return value


def _writes(value: Any) -> bool:
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError:
        return False
    return True


@functools.lru_cache(maxsize=None)
def _padding(limit: int) -> int | None:
    """How many list levels to wrap a value in so that orjson writes it exactly when it nests at most
    ``limit`` levels; None when this orjson has no such edge (then the caller walks the value).

    Measured, not assumed: orjson's limit (255 levels today) is an implementation detail.
    """
    low, high = limit, 4096
    if not _writes(_nested(low)) or _writes(_nested(high)):
        return None
    while high - low > 1:  # the deepest value written lies in [low, high)
        middle = (low + high) // 2
        if _writes(_nested(middle)):
            low = middle
        else:
            high = middle
    padding = low - limit
    holder: list[Any] = []
    outer = _wrap(holder, padding)
    for depth in (limit - 1, limit, limit + 1):  # both sides of the edge, objects and lists alike
        # An empty container innermost is a level of its own, as in too_deep.
        for kinds, inner, levels in (("ol", 0, depth), ("lo", "x", depth), ("o", {}, depth - 1), ("l", [], depth - 1)):
            holder.append(_nested(levels, kinds, inner))
            written = _writes(outer)
            holder.clear()
            if written != (depth <= limit):
                return None
    return padding


def _wrap(holder: list[Any], padding: int) -> list[Any]:
    """``holder`` inside ``padding - 1`` more lists (``padding`` levels in all, holder included)."""
    outer = holder
    for _ in range(padding - 1):
        outer = [outer]
    return outer


#: Wrappers ready for use, by limit: (outermost list, the innermost one that holds the value). One
#: is taken from the pool for each call (list.pop and append are atomic), so threads never share one.
_wrappers: dict[int, list[tuple[list[Any], list[Any]]]] = {}


def compact(value: Any, limit: int) -> bytes | None:
    """orjson's compact text of ``value`` when it nests at most ``limit`` levels, else None (nested
    deeper, or a value orjson cannot write such as an integer beyond 64 bits: decide another way)."""
    padding = _padding(limit)
    if padding is None or padding < 1:
        return None
    pool = _wrappers.setdefault(limit, [])
    try:
        outer, holder = pool.pop()
    except IndexError:
        holder = []
        outer = _wrap(holder, padding)
    holder.append(value)
    try:
        text = orjson.dumps(outer)
    except orjson.JSONEncodeError:
        return None
    finally:
        holder.clear()
        pool.append((outer, holder))
    return text[padding:len(text) - padding]


def proven_unique(data: bytes, again: bytes) -> bool:
    """True only when ``data`` has no object with a key twice, given ``again``, orjson's compact text
    of the value parsed from ``data``; False when this cheap test cannot tell (never a wrong True)."""
    # Compact records written by orjson (procrecord's own) come back byte for byte: one memcmp.
    if data.startswith(again) and (len(data) == len(again) or data[len(again):].isspace()):
        return True
    # ``find`` of one byte is memchr; the two-byte search runs only where a backslash is.
    if data.find(b"\\") >= 0 and b"\\u" in data:
        return False
    # The bytes both texts share hold as many colons on either side, so only the stretch between
    # their shared start and shared end is counted (``bytes.count`` reads every byte, ~5 instructions
    # each; memcmp finds the shared parts, see _shared).
    end = len(data) - 1 if data.endswith(b"\n") else len(data)
    size = len(again)
    view = memoryview(again)
    head, tail, left = _last
    if (head + tail > end or head + tail > size or (head and not data.startswith(view[:head]))
            or (tail and not data.endswith(view[size - tail:], 0, end))):
        left = 0  # the guess does not hold for this document
    elif end - tail - head > _WIDE and left > 0:
        _last[2] = left - 1  # a guess too short costs counting: looked for anew now and then
    if left == 0:
        head = _shared(data, end, view, min(end, size), False)
        tail = _shared(data, end, view, min(end, size) - head, True)
        _last[:] = head, tail, _AGAIN
    return data.count(b":", head, end - tail) == again.count(b":", head, size - tail)


#: The shared start and end (in bytes) last found by :func:`_shared`, which the next document most
#: likely shares too (a JSONL file's records come from one writer): a guess, always checked; and how
#: many more documents whose stretch in between is wide may take the guess before it is looked for
#: anew (a guess may be too short: it holds, but more than needed is counted).
_last = [0, 0, 0]
_AGAIN = 32
#: How close to the longest shared start (end) :func:`_shared` comes: counting 64 bytes costs less
#: than one more comparison made from Python.
_GRAIN = 64
#: A stretch in between longer than this is wide (see _last).
_WIDE = 512


def _shared(data: bytes, end: int, view: memoryview, limit: int, from_end: bool) -> int:
    """How many bytes ``data[:end]`` and ``view`` share at their start (at their end: ``from_end``), at
    most ``limit``, to within ``_GRAIN`` below the longest: comparisons of growing, then halving length."""
    size = len(view)
    low, high, step = 0, limit + 1, _GRAIN  # low bytes are shared; high are not (or over the limit)
    while high - low > _GRAIN:
        probe = step if step < high else (low + high) // 2
        if data.endswith(view[size - probe:], 0, end) if from_end else data.startswith(view[:probe]):
            low, step = probe, step * 8
        else:
            high = step = probe  # from now on halving
    return low


def duplicate_keys(data: bytes, value: Any, again: bytes | None = None) -> list[tuple[list[Any], str]]:
    """Where ``data`` (whose parsed value is ``value``) repeats a key: (path of the object, key) pairs.

    ``again``: orjson's compact text of ``value`` when the caller has it (see :func:`compact`).
    """
    if again is None:
        try:
            again = orjson.dumps(value)
        except (TypeError, orjson.JSONEncodeError):
            again = None
    if again is not None and proven_unique(data, again):
        return []
    try:
        parsed = json.loads(data, object_pairs_hook=_pairs)
    except ValueError:
        return []  # the caller's parser accepted it; nothing more to say here
    found: list[tuple[list[Any], str]] = []
    _walk(parsed, [], found)
    return found


def _walk(value: Any, path: list[Any], found: list[tuple[list[Any], str]]) -> None:
    if isinstance(value, _Object):
        found.extend((list(path), key) for key in value.repeated)
        for key, sub in value.items():
            _walk(sub, [*path, key], found)
    elif isinstance(value, list):
        for index, sub in enumerate(value):
            _walk(sub, [*path, index], found)
