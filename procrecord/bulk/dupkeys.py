"""Duplicate keys in a JSON document: a finding, since a parser keeps only one of the values.

JSON readers (orjson, the standard library) keep the last value of a key written twice in one
object, so whatever the first one held is invisible to validation and to the redaction gate. The
check is cheap for the common case: with no ``\\u`` escape in the bytes, every ``:`` of the document
is either a key's separator or a character of a string, so the document holds a duplicate exactly
when it has more colons than the parsed value serialised again (a dropped pair takes its colon with
it). Any other document is read once more with the standard library, which also says where.
"""

from __future__ import annotations

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


def duplicate_keys(data: bytes, value: Any) -> list[tuple[list[Any], str]]:
    """Where ``data`` (whose parsed value is ``value``) repeats a key: (path of the object, key) pairs."""
    try:
        again = orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        again = None
    if again is not None:
        # Compact records written by orjson (procrecord's own) come back byte for byte: one memcmp.
        if len(data) >= len(again) and data.startswith(again) and not data[len(again):].strip():
            return []
        # ``find`` of one byte is memchr; the two-byte search runs only where a backslash is.
        if (data.find(b"\\") < 0 or b"\\u" not in data) and data.count(b":") == again.count(b":"):
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
