"""Field paths for ``diff --only/--ignore``: parsed, checked against the schema, and matched.

A path is written as the text output prints it (``python.packages[numpy].version``,
``disks[/].free_bytes``, ``invocation.config.seed``), dotted (``timing.duration_s``) or as a JSON
pointer (``/timing/duration_s``); ``*`` matches any one name, index or key. Each dotted name is one
key: ``invocation.config.a.b`` is ``config["a"]["b"]``. A key that could not be read back from a dotted
name (dots, brackets, quotes, ``*``, blanks at either end, an empty or unprintable key) is printed
quoted, as a JSON string in brackets (``invocation.config["a.b"]``), and a quoted key or a pointer token
is that key exactly (``*`` in it is a star, except a pointer token that is ``*`` alone). So one printed
path never names two different keys. A path that names nothing the schema knows is an error, so a typo
can never turn a diff into a false "same". Below an open bag (``invocation.config``, ``extra``,
``extensions``) every name passes :func:`check`, and so does any item of a list: the schema does not know
what a job puts there, so :func:`needs_record` says such a path must be found in a record instead.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from typing import Any, Iterator, NamedTuple, Sequence

from procrecord.pointer import unescape

_TOKEN = re.compile(r'\["(?P<quoted>(?:[^"\\]|\\.)*)"\]|\[(?P<key>[^\]]*)\]|(?P<dot>\.)(?P<name>[^.\[]*)')
_FIRST = re.compile(r"[^.\[]+")
_SCALARS = {"string", "number", "integer", "boolean", "null"}
_PLAIN_NAME = re.compile(r'[^.\[\]"*]+')
_PLAIN_ITEM = re.compile(r'[^\]"*]*')


class Segment(NamedTuple):
    """One step of a path: a name (object key or array index), a bracketed array-item key, or (``exact``)
    a quoted key or pointer token, matched as it is (``*`` in it is a star)."""

    text: str
    bracketed: bool = False
    exact: bool = False


#: One step of a location in a record: the object key or array index, and for array items the
#: identity shown in labels (the item's x-key value, else its index).
Step = tuple[str, str | None]


def parse(pattern: str) -> tuple[Segment, ...]:
    """The segments of a path written as a label, a dotted path or a JSON pointer."""
    if pattern.startswith("/"):
        return tuple(Segment(part, False, part != "*") for part in map(unescape, pattern[1:].split("/")))
    first = _FIRST.match(pattern)
    segments = [Segment(first.group())] if first else []
    position = first.end() if first else 0
    while position < len(pattern):
        match = _TOKEN.match(pattern, position)
        if match is None or match["dot"] is not None and (not segments or not match["name"]):
            break  # not a name, a bracket or a quoted key; or an empty name (a leading, doubled or trailing dot)
        if match["quoted"] is not None:
            try:
                segments.append(Segment(json.loads(f'"{match["quoted"]}"'), True, True))
            except ValueError:
                break
        elif match["key"] is not None:
            segments.append(Segment(match["key"], True))
        else:
            segments.append(Segment(match["name"]))
        position = match.end()
    if position != len(pattern) or not segments:
        raise ValueError(f"cannot read {pattern!r} as a field path")
    return tuple(segments)


def quote(text: str) -> str:
    """``text`` as a JSON string, with every character that does not print escaped."""
    return "".join(c if c.isprintable() else json.dumps(c)[1:-1] for c in json.dumps(text, ensure_ascii=False))


def child(label: str, key: str) -> str:
    """The printed path of object key ``key`` below the printed path ``label``: ``label.key``, or
    ``label["key"]`` for a key that a dotted name would not give back as it is."""
    if _PLAIN_NAME.fullmatch(key) and key.isprintable() and key == key.strip():
        return f"{label}.{key}" if label else key
    return f"{label}[{quote(key)}]"


def item(label: str, identity: object) -> str:
    """The printed path of the list item ``identity`` (its x-key value or index) below ``label``:
    ``label[identity]``, quoted like a key when brackets would not give it back as it is."""
    text = str(identity)
    return f"{label}[{text}]" if _PLAIN_ITEM.fullmatch(text) and text.isprintable() else f"{label}[{quote(text)}]"


def fits(name: str, pattern: str) -> bool:
    """True when ``name`` is what ``pattern`` spells, ``*`` matching any run of characters; every other
    character is itself (``x[0]``, ``a?``: keys a job may use), unlike a shell glob's ``[...]`` and ``?``."""
    if "*" not in pattern:
        return name == pattern
    return _glob(pattern).fullmatch(name) is not None


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)


def _fits(name: str, segment: Segment) -> bool:
    """True when ``name`` is what ``segment`` names (a quoted key or pointer token: exactly that)."""
    return name == segment.text if segment.exact else fits(name, segment.text)


def spelled(segments: Sequence[Segment]) -> str:
    """The segments as the text output prints them."""
    label = ""
    for segment in segments:
        if segment.bracketed and not segment.exact:
            label += f"[{segment.text}]"
        elif segment.exact:
            label = child(label, segment.text) if not segment.bracketed else f"{label}[{quote(segment.text)}]"
        else:
            label = f"{label}.{segment.text}" if label else segment.text
    return label


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
    if head.bracketed and not head.exact:
        return f"{here} is not a list: [{head.text}] names nothing"
    properties = schema.get("properties")
    if isinstance(properties, dict):
        names = [n for n in properties if _fits(n, head)]
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
        if head.exact and "*" in head.text and any(fits(n, head.text) for n in properties):
            # a pointer token (or a quoted key) names a key exactly: its * is a star, not a pattern
            dotted = "".join(w if w.startswith("[") or i == 0 else "." + w for i, w in enumerate([*where, head.text]))
            hint = f" (a JSON pointer names keys exactly, its * is a plain star: for a pattern write the path dotted, {dotted})"
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
        return head.exact or head.text != "*" or _needs(rest, schema["items"])
    properties = schema.get("properties")
    if isinstance(properties, dict):
        names = [n for n in properties if _fits(n, head) and _check(rest, properties[n], []) is None]
        if names:
            return all(_needs(rest, properties[n]) for n in names)
    return True  # a name the schema leaves free (check has ruled out the rest)


def _matches(segment: Segment, step: Step) -> bool:
    key, identity = step
    if identity is None:  # an object's key: a name, a quoted key or a pointer token, not an [ITEM]
        return (not segment.bracketed or segment.exact) and _fits(key, segment)
    return _fits(key, segment) or segment.bracketed and _fits(identity, segment)


def covers(segments: Sequence[Segment], path: Sequence[Step]) -> bool:
    """True when the location ``path`` is the one ``segments`` names or lies below it."""
    return len(path) >= len(segments) and all(map(_matches, segments, path))


def leads_to(segments: Sequence[Segment], path: Sequence[Step]) -> bool:
    """True when the location ``path`` is above what ``segments`` names (something there may match)."""
    return len(path) < len(segments) and all(map(_matches, segments, path))


def contains(outer: Sequence[Segment], inner: Sequence[Segment]) -> bool:
    """True when every location ``inner`` names lies at or below one that ``outer`` names (an item's
    x-key value and its index taken as one: in doubt, yes)."""
    return len(outer) <= len(inner) and all(map(_within, inner, outer))


def _within(inner: Segment, outer: Segment) -> bool:
    """True when every step ``inner`` matches, ``outer`` matches too."""
    if not outer.exact and outer.text == "*":
        return not outer.bracketed or inner.bracketed and not inner.exact
    if (not inner.bracketed or inner.exact) and outer.bracketed and not outer.exact:
        return False  # inner may name an object's key, which an [ITEM] never names
    if outer.exact or "*" not in outer.text:
        return inner.text == outer.text and (inner.exact or "*" not in inner.text)
    return fits(inner.text, outer.text)


def respellings(segments: Sequence[Segment]) -> Iterator[tuple[Segment, ...]]:
    """``segments`` with a run of plain names and items read as one key with dots or brackets in it
    (``invocation.config.a.b`` as ``invocation.config["a.b"]``): what a path may have meant."""
    for i in range(1, len(segments)):
        for j in range(i + 2, len(segments) + 1):
            run = segments[i:j]
            if any(s.exact or "*" in s.text for s in run) or run[0].bracketed:
                continue
            key = spelled(run)
            yield (*segments[:i], Segment(key, True, True), *segments[j:])
