"""Byte spans of values inside a JSON document, found without parsing the document.

Records embedded in a kwcoco file are a few kilobytes of a file that may hold hundreds of
megabytes of annotations. Parsing the whole file to change those kilobytes costs several times
its size in memory and writes the rest back in another layout. Here a value is located by its
JSON pointer with byte searches (``bytes.find``) and a nesting count done a chunk at a time in C
(``translate``/``replace``/``count``), so only the value itself is ever parsed and every other
byte of the file can be kept as it was, non-standard ``NaN`` included.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import NamedTuple

import orjson

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.S)
_BRACKET_OR_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)
_SCALAR = re.compile(rb"[^,\]}\s]+")
_WS = re.compile(rb"[ \t\r\n]*")
_COLON = re.compile(rb"[ \t\r\n]*:[ \t\r\n]*")
#: Every byte except quotes and brackets: what ``translate`` deletes before brackets are counted.
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'"[]{}')
_QUOTED = re.compile(rb'"[^"]*"')
#: Bytes counted at a time (bounds the extra memory of a nesting count).
CHUNK_BYTES = 8 << 20


class SpanError(ValueError):
    """The text is not JSON where a value was looked for."""


def skip_ws(data: bytes, pos: int) -> int:
    """The first position at or after ``pos`` that is not JSON whitespace."""
    return _WS.match(data, pos).end()  # type: ignore[union-attr]


def depth_change(data: bytes, start: int, end: int, chunk: int = CHUNK_BYTES) -> int:
    """How much deeper ``data[end]`` is nested than ``data[start]``; both must lie outside strings.

    Escapes are dropped (a run of backslashes is read pairwise, as JSON reads it), then everything
    but quotes and brackets; brackets between an odd and the next quote are inside a string.
    """
    depth, inside = 0, False
    pos = start
    while pos < end:
        stop = min(end, pos + chunk)
        while stop < end and data[stop - 1] == 0x5C:  # never cut a run of backslashes
            stop += 1
        part = data[pos:stop]
        if b"\\" in part:
            part = part.replace(b"\\\\", b"").replace(b'\\"', b"")
        # Removing two adjacent quotes keeps the parity of the quotes before every bracket.
        marks = part.translate(None, _NOT_STRUCTURAL).replace(b'""', b"")
        quotes = marks.count(b'"')
        if inside or quotes:
            if inside:
                marks = b'"' + marks
            marks = _QUOTED.sub(b"", marks)
            cut = marks.find(b'"')  # a string still open at the end of this chunk
            if cut >= 0:
                marks = marks[:cut]
        depth += marks.count(b"{") + marks.count(b"[") - marks.count(b"}") - marks.count(b"]")
        inside = inside != bool(quotes % 2)
        pos = stop
    return depth


def value_end(data: bytes, start: int) -> int:
    """The end of the JSON value that begins at ``start``."""
    if start >= len(data):
        raise SpanError("unexpected end of the document")
    first = data[start]
    if first == 0x22:  # '"'
        match = _STRING.match(data, start)
        if match is None:
            raise SpanError(f"unterminated string at byte {start}")
        return match.end()
    if first in b"[{":
        depth = 0
        for match in _BRACKET_OR_STRING.finditer(data, start):
            token = data[match.start()]
            if token in b"[{":
                depth += 1
            elif token in b"]}":
                depth -= 1
                if depth == 0:
                    return match.end()
        raise SpanError(f"unterminated {'array' if first == 0x5B else 'object'} starting at byte {start}")
    match = _SCALAR.match(data, start)
    if match is None:
        raise SpanError(f"no value at byte {start}")
    return match.end()


class DuplicateKeyError(SpanError):
    """A key on the way to a value occurs more than once in its object: a reader keeps one of the
    values, and what the other holds would be kept in the file unseen."""


def members_named(data: bytes, start: int, key: str, end: int | None = None) -> list[int]:
    """Where each value of ``key`` in the object beginning at ``start`` (and ending at ``end``, found
    when not given) begins, in document order: every spelling of the key counts (plain UTF-8, as Python's
    ``json`` writes a key beyond ASCII by default, or with escapes such as ``"\\u0069nfo"`` or ``"a\\/b"``)."""
    found = _member(data, start, orjson.dumps(key))
    if not key.isascii():
        import json

        found += _member(data, start, json.dumps(key).encode())
    found += _escaped_members(data, start, len(data) if end is None else end, key)
    if found and end is None:
        # a key of a later sibling object is as deep as one of this object: only what lies inside
        # counts (the end is looked for only then, as it costs a scan of the object)
        end = value_end(data, start)
    return sorted({pos for pos in found if end is None or pos < end})


def _member(data: bytes, start: int, needle: bytes) -> list[int]:
    found = []
    checked, depth = start, 0
    pos = data.find(needle, start + 1)
    while pos >= 0:
        slashes = 0
        while data[pos - 1 - slashes] == 0x5C:
            slashes += 1
        colon = _COLON.match(data, pos + len(needle)) if slashes % 2 == 0 else None
        if colon is not None:  # an unescaped quote followed by a colon: a key, outside any string
            depth += depth_change(data, checked, pos)
            checked = pos
            if depth == 1:
                found.append(colon.end())
            elif depth <= 0:
                break  # past the end of this object
        pos = data.find(needle, pos + 1)
    return found


@functools.lru_cache(maxsize=64)
def _escapes_of(key: str) -> tuple[bytes, ...]:
    """What any escaped spelling of ``key`` holds at least one of: a character of it written as
    ``\\uXXXX`` (hex digits in either case) or with a short escape (``\\/``, ``\\"``, ``\\\\``)."""
    needles: set[bytes] = set()
    for char in set(key):
        code = ord(char)
        if code >= 0x10000:  # written as a surrogate pair: its first half
            code = 0xD800 + ((code - 0x10000) >> 10)
        digits = f"{code:04x}"
        for variant in itertools.product(*({d, d.upper()} for d in digits)):
            needles.add(b"\\u" + "".join(variant).encode())
        short = {"/": b"\\/", '"': b'\\"', "\\": b"\\\\", "\b": b"\\b", "\f": b"\\f", "\n": b"\\n",
                 "\r": b"\\r", "\t": b"\\t"}.get(char)
        if short is not None:
            needles.add(short)
    return tuple(sorted(needles))


def _escaped_members(data: bytes, start: int, end: int, key: str) -> list[int]:
    """The values of keys spelled with escapes that read as ``key`` (an escape is only ever inside a
    string: the string around each one found is read whole). Byte searches in C do the scanning, so a
    file without such escapes costs a few ``find`` calls."""
    found: list[int] = []
    strings: set[int] = set()
    for needle in _escapes_of(key):
        pos = data.find(needle, start + 1, end)
        while pos >= 0:
            opening = pos
            while True:  # the string's opening quote: the nearest unescaped quote before the escape
                opening = data.rfind(b'"', start, opening)
                if opening < 0:
                    raise SpanError(f"an escape outside any string at byte {pos}")
                slashes = 0
                while data[opening - 1 - slashes] == 0x5C:
                    slashes += 1
                if slashes % 2 == 0:
                    break
            match = _STRING.match(data, opening)
            if match is None:
                raise SpanError(f"unterminated string at byte {opening}")
            if opening not in strings and match.start() <= pos < match.end():
                strings.add(opening)
                colon = _COLON.match(data, match.end())
                if (colon is not None and orjson.loads(match.group(0)) == key
                        and depth_change(data, start, opening) == 1):
                    found.append(colon.end())
            pos = data.find(needle, max(pos + 1, match.end()), end)
    return found


def elements(data: bytes, start: int) -> list[tuple[int, int]]:
    """The spans of the elements of the array beginning at ``start``."""
    spans: list[tuple[int, int]] = []
    pos = skip_ws(data, start + 1)
    if data[pos:pos + 1] == b"]":
        return spans
    while True:
        end = value_end(data, pos)
        spans.append((pos, end))
        pos = skip_ws(data, end)
        sep = data[pos:pos + 1]
        if sep == b"]":
            return spans
        if sep != b",":
            raise SpanError(f"expected ',' or ']' at byte {pos}")
        pos = skip_ws(data, pos + 1)


def resolve(data: bytes, tokens: list[str]) -> tuple[int, int] | None:
    """The span of the value at the JSON pointer made of ``tokens`` (None when it is not there)."""
    pos = skip_ws(data, 3 if data.startswith(b"\xef\xbb\xbf") else 0)
    root = pos
    for token in tokens:
        kind = data[pos:pos + 1]
        if kind == b"{":
            # the document's own object ends with the document (no scan of a big file to find its end)
            found = members_named(data, pos, token, len(data) if pos == root else None)
            if not found:
                return None
            if len(found) > 1:
                raise DuplicateKeyError(f"duplicate key {token!r} on the way to /{'/'.join(tokens)} "
                                        "(a reader keeps only one of its values)")
            pos = found[0]
        elif kind == b"[" and token.isdigit():
            items = elements(data, pos)
            if int(token) >= len(items):
                return None
            pos = items[int(token)][0]
        else:
            return None
    return pos, value_end(data, pos)


class Layout(NamedTuple):
    """How a value is written where it stands: indented (by ``unit`` under ``base``) or on one line."""

    unit: bytes | None
    base: bytes = b""
    spaced: bool = False
    newline: bytes = b"\n"


def layout_of(data: bytes, start: int, end: int) -> Layout:
    """The layout of the value at ``data[start:end]`` (a replacement is written the same way)."""
    text = data[start:end]
    spaced = text.count(b'": ') > text.count(b'":') // 2 or text.count(b", ") > text.count(b",") // 2
    newline = text.find(b"\n")
    line = data.rfind(b"\n", 0, start) + 1
    base = _WS.match(data, line).group()  # type: ignore[union-attr]
    if newline < 0:
        return Layout(None, base, spaced)
    inner = _WS.match(text, newline + 1).group()  # type: ignore[union-attr]
    unit = inner[len(base):] if inner.startswith(base) and len(inner) > len(base) else b"  "
    return Layout(unit.replace(b"\n", b"").replace(b"\r", b"") or b"  ", base.replace(b"\r", b""), spaced,
                  b"\r\n" if text[newline - 1:newline] == b"\r" else b"\n")


def encode(value: object, layout: Layout) -> bytes:
    """``value`` as JSON text in ``layout`` (strict JSON: no NaN; integers of any size kept exact)."""
    from procrecord.bulk.jsoncodec import dumps

    if layout.unit is None:
        if not layout.spaced:
            return dumps(value)
        import json

        from procrecord.bulk.jsoncodec import without_surrogates

        return json.dumps(without_surrogates(value), ensure_ascii=False, allow_nan=False,
                          separators=(", ", ": ")).encode()
    lines = dumps(value, indent=True).split(b"\n")
    if layout.unit == b"  " and not layout.base:
        return layout.newline.join(lines)
    out = [lines[0]]
    for line in lines[1:]:
        stripped = line.lstrip(b" ")
        out.append(layout.base + layout.unit * ((len(line) - len(stripped)) // 2) + stripped)
    return layout.newline.join(out)


def splice(data: bytes, replacements: list[tuple[int, int, bytes]]) -> bytes:
    """``data`` with each span ``[start, end)`` replaced (spans must not overlap)."""
    view = memoryview(data)  # slices of a view are not copies: the output is the only new copy
    pieces: list[bytes | memoryview] = []
    pos = 0
    for start, end, text in sorted(replacements):
        pieces.append(view[pos:start])
        pieces.append(text)
        pos = end
    pieces.append(view[pos:])
    return b"".join(pieces)
