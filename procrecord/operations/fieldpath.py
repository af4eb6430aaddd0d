"""Field paths for ``diff --only/--ignore``: parsed, checked against the schema, and matched.

A path is written as the text output prints it (``python.packages[numpy].version``,
``disks[/].free_bytes``, ``invocation.config.seed``), dotted (``timing.duration_s``) or as a JSON
pointer (``/timing/duration_s``); ``*`` matches any one name, index or key. A key with dots in it
(``config["a.b"]``) is matched by the dotted names that spell it, as it is printed. A path that names
nothing the schema knows is an error, so a typo can never turn a diff into a false "same". Below an
open bag (``invocation.config``, ``extra``, ``extensions``) every name passes :func:`check`, and so does
any item of a list: the schema does not know what a job puts there, so :func:`needs_record` says such a
path must be found in a record instead.
"""

from __future__ import annotations

import difflib
import functools
import re
from typing import Any, Iterator, NamedTuple, Sequence

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
        if match["dot"] is not None and (not segments or pattern[match.end():match.end() + 1] in ("", ".")):
            break  # an empty name: a leading, doubled or trailing dot
        position = match.end()
        if match["key"] is not None:
            segments.append(Segment(match["key"], True))
        elif match["name"] is not None:
            segments.append(Segment(match["name"]))
    if position != len(pattern) or not segments:
        raise ValueError(f"cannot read {pattern!r} as a field path")
    return tuple(segments)


def fits(name: str, pattern: str) -> bool:
    """True when ``name`` is what ``pattern`` spells, ``*`` matching any run of characters; every other
    character is itself (``x[0]``, ``a?``: keys a job may use), unlike a shell glob's ``[...]`` and ``?``."""
    if "*" not in pattern:
        return name == pattern
    return _glob(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _spelled(segments: Sequence[Segment]) -> str:
    """The segments as the text output prints them (names joined by dots, item keys in brackets)."""
    return "".join(f"[{s.text}]" if s.bracketed else f".{s.text}" if i else s.text for i, s in enumerate(segments))


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
        names = [n for n in properties if fits(n, head.text)]
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


def needs_record(pattern: str, schema: dict[str, Any]) -> bool:
    """True when the schema alone cannot vouch for ``pattern`` (a path :func:`check` accepts): it names
    one item of a list (``[KEY]`` or an index) or a name inside an open bag, so only a record can show
    that it exists."""
    return _needs(parse(pattern), schema)


def _needs(segments: Sequence[Segment], schema: dict[str, Any]) -> bool:
    if not segments:
        return False
    head, rest = segments[0], segments[1:]
    if "items" in schema and isinstance(schema["items"], dict):
        return head.text != "*" or _needs(rest, schema["items"])
    properties = schema.get("properties")
    if isinstance(properties, dict):
        names = [n for n in properties if fits(n, head.text) and _check(rest, properties[n], []) is None]
        if names:
            return all(_needs(rest, properties[n]) for n in names)
    return True  # a name the schema leaves free (check has ruled out the rest)


def _matches(segment: Segment, step: Step) -> bool:
    key, identity = step
    if segment.bracketed:
        return identity is not None and (fits(identity, segment.text) or fits(key, segment.text))
    return fits(key, segment.text)


def _after(segments: Sequence[Segment], i: int, step: Step) -> Iterator[int]:
    """Where ``segments`` go on once ``segments[i:]`` matched ``step``: one segment, or, for a key with
    dots or brackets in it (``config["a.b"]``, ``config["x[0]"]``, printed ``config.a.b`` and
    ``config.x[0]``), the segments that spell it as printed."""
    if i >= len(segments):
        return
    if _matches(segments[i], step):
        yield i + 1
    key = step[0]
    if ("." in key or "[" in key) and not segments[i].bracketed:
        for j in range(i + 2, len(segments) + 1):
            if fits(key, _spelled(segments[i:j])):
                yield j


def covers(segments: Sequence[Segment], path: Sequence[Step]) -> bool:
    """True when the location ``path`` is the one ``segments`` names or lies below it."""
    positions = {0}
    for step in path:
        if len(segments) in positions:
            return True
        positions = {j for i in positions for j in _after(segments, i, step)}
        if not positions:
            return False
    return len(segments) in positions


def leads_to(segments: Sequence[Segment], path: Sequence[Step]) -> bool:
    """True when the location ``path`` is above what ``segments`` names (something there may match)."""
    positions = {0}
    for step in path:
        positions = {j for i in positions for j in _after(segments, i, step)}
        if not positions:
            return False
    return any(i < len(segments) for i in positions)


def contains(outer: Sequence[Segment], inner: Sequence[Segment]) -> bool:
    """True when every location ``inner`` names lies at or below one that ``outer`` names."""
    return len(outer) <= len(inner) and all(
        o.bracketed == i.bracketed and fits(i.text, o.text) or o.text == "*"
        for o, i in zip(outer, inner))
