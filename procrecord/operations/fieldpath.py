"""Field paths for ``diff --only/--ignore``: parsed, checked against the schema, and matched.

A path is written as the text output prints it (``python.packages[numpy].version``,
``disks[/].free_bytes``, ``invocation.config.seed``), dotted (``timing.duration_s``) or as a JSON
pointer (``/timing/duration_s``); ``*`` matches any one name, index or key. A path that names
nothing the schema knows is an error, so a typo can never turn a diff into a false "same". Below an
open bag (``invocation.config``, ``extra``, ``extensions``) every name is allowed: the schema does
not know what a job puts there.
"""

from __future__ import annotations

import difflib
import fnmatch
import re
from typing import Any, NamedTuple, Sequence

from procrecord.pointer import unescape

_TOKEN = re.compile(r"\[(?P<key>[^\]]*)\]|(?P<dot>\.)|(?P<name>[^.\[]+)")
_SCALARS = {"string", "number", "integer", "boolean", "null"}


class Segment(NamedTuple):
    """One step of a path: a name (object key or array index) or a bracketed array-item key."""

    text: str
    bracketed: bool = False


#: One step of a location in a record: the object key or array index, and for array items the
#: identity shown in labels (the item's x-key value, else its index).
Step = tuple[str, str | None]


def parse(pattern: str) -> tuple[Segment, ...]:
    """The segments of a path written as a label, a dotted path or a JSON pointer."""
    if pattern.startswith("/"):
        return tuple(Segment(unescape(part)) for part in pattern[1:].split("/"))
    segments: list[Segment] = []
    position = 0
    for match in _TOKEN.finditer(pattern):
        if match.start() != position:
            break
        position = match.end()
        if match["key"] is not None:
            segments.append(Segment(match["key"], True))
        elif match["name"] is not None:
            segments.append(Segment(match["name"]))
    if position != len(pattern) or not segments:
        raise ValueError(f"cannot read {pattern!r} as a field path")
    return tuple(segments)


def _open(schema: dict[str, Any]) -> bool:
    """True below a location whose content the schema leaves free (an open bag or an untyped value)."""
    if "properties" in schema or "items" in schema:
        return False
    kind = schema.get("type")
    kinds = set(kind) if isinstance(kind, list) else {kind} if kind else set()
    return not kinds or not kinds <= _SCALARS and (schema.get("additionalProperties", True) is not False)


def check(pattern: str, schema: dict[str, Any]) -> str | None:
    """Why ``pattern`` names nothing in ``schema`` (a message), or None when it may match."""
    try:
        segments = parse(pattern)
    except ValueError as exc:
        return str(exc)
    return _check(segments, schema, [])


def _check(segments: Sequence[Segment], schema: dict[str, Any], where: list[str]) -> str | None:
    if not segments:
        return None
    head, rest = segments[0], segments[1:]
    here = ".".join(where) or "the top level"
    if "items" in schema and isinstance(schema["items"], dict):
        if head.bracketed or head.text.isdigit() or head.text == "*":
            return _check(rest, schema["items"], where + [f"[{head.text}]"])
        return f"{here} is a list: give an item as [KEY] or an index, not {head.text!r}"
    if head.bracketed:
        return f"{here} is not a list: [{head.text}] names nothing"
    properties = schema.get("properties")
    if isinstance(properties, dict):
        names = [n for n in properties if fnmatch.fnmatchcase(n, head.text)]
        if names:
            messages = [_check(rest, properties[n], where + [n]) for n in names]
            return None if any(m is None for m in messages) else messages[0]
        extra = schema.get("additionalProperties", False)
        if isinstance(extra, dict):
            return _check(rest, extra, where + [head.text])
        if extra is True:
            return None
        close = difflib.get_close_matches(head.text, list(properties), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return f"the schema has no field {head.text!r} {'in ' + here if where else 'at the top level'}{hint}"
    if _open(schema):
        return None
    return f"{here} is a single value: it has no field {head.text!r}"


def _matches(segment: Segment, step: Step) -> bool:
    key, identity = step
    if segment.bracketed:
        return identity is not None and fnmatch.fnmatchcase(identity, segment.text) or \
            identity is not None and fnmatch.fnmatchcase(key, segment.text)
    return fnmatch.fnmatchcase(key, segment.text)


def covers(segments: Sequence[Segment], path: Sequence[Step]) -> bool:
    """True when the location ``path`` is the one ``segments`` names or lies below it."""
    return len(path) >= len(segments) and all(_matches(s, p) for s, p in zip(segments, path))


def leads_to(segments: Sequence[Segment], path: Sequence[Step]) -> bool:
    """True when the location ``path`` is above what ``segments`` names (something there may match)."""
    return len(path) < len(segments) and all(_matches(s, p) for s, p in zip(segments, path))
