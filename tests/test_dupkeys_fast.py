"""The cheap checks behind ``validate``'s duplicate-key and depth findings are exact (issue 13)."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.bulk import dupkeys
from procrecord.bulk.dupkeys import compact, duplicate_keys, proven_unique
from procrecord.bulk.limits import MAX_DEPTH
from procrecord.bulk.loader import FileTask, Loaded, LoadError, Span, iter_task, parse, too_deep

# --- documents whose objects are lists of pairs, so a key can repeat --------------------------------

#: Keys that collide once decoded: "a" spelled plainly and as \u0061, a colon, a quote, a backslash.
KEYS = ["a", "b", ":", '"', "\\", "é", "a:b"]
SPACE = st.sampled_from(["", " ", "\n", "\t ", "\r\n"])


def _spell_key(key: str, escapes: list[bool]) -> str:
    if escapes.pop(0) if escapes else False:
        return '"' + "".join(f"\\u{ord(c):04x}" for c in key) + '"'
    return json.dumps(key, ensure_ascii=False)


def _spell_number(number: float, form: int) -> str:
    if form == 1:
        return f"{number:e}"  # 1.000000e-05: written back by orjson in another spelling
    if form == 2:  # a trailing zero in the fraction (not after an exponent: 1e+31 + "0" is 1e+310, no double)
        text = json.dumps(number)
        return text + "0" if "." in text and "e" not in text else text
    return json.dumps(number)


leaves = (st.none() | st.booleans() | st.integers(-10**6, 10**6)
          | st.floats(allow_nan=False, allow_infinity=False, width=32).map(lambda f: ("num", f))
          | st.text(alphabet=':"\\ué{}[]', max_size=4))
trees = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3)
    | st.lists(st.tuples(st.sampled_from(KEYS), inner), max_size=4).map(lambda pairs: ("obj", pairs)),
    max_leaves=12,
)


def _dump(node: Any, draw: Any) -> str:
    space = draw(SPACE)
    if isinstance(node, tuple) and node[0] == "obj":
        parts = [space + _spell_key(k, [draw(st.booleans())]) + draw(SPACE) + ":" + draw(SPACE) + _dump(v, draw)
                 for k, v in node[1]]
        return "{" + ",".join(parts) + space + "}"
    if isinstance(node, tuple) and node[0] == "num":
        return _spell_number(node[1], draw(st.integers(0, 2)))
    if isinstance(node, list):
        return "[" + ",".join(space + _dump(v, draw) for v in node) + "]"
    return json.dumps(node, ensure_ascii=draw(st.booleans()))


def _repeats(node: Any) -> bool:
    if isinstance(node, tuple) and node[0] == "obj":
        keys = [k for k, _ in node[1]]
        return len(set(keys)) != len(keys) or any(_repeats(v) for _, v in node[1])
    if isinstance(node, list):
        return any(_repeats(v) for v in node)
    return False


@st.composite
def documents(draw: Any) -> tuple[bytes, bool]:
    tree = draw(trees)
    top = draw(st.lists(st.tuples(st.sampled_from(KEYS), st.just(tree)), min_size=1, max_size=2))
    text = _dump(("obj", top), draw) + draw(SPACE)
    return text.encode(), _repeats(("obj", top))


@settings(max_examples=400, deadline=None)
@given(documents())
def test_the_fast_path_never_accepts_a_document_with_a_duplicate_key(document):
    """At any depth, with keys spelled plainly or as \\u escapes, with whitespace and numbers orjson
    writes back otherwise: the cheap test says "no duplicate" only when there is none, and the
    whole check finds one exactly when the text has one."""
    data, repeated = document
    value = orjson.loads(data)
    again = compact(value, MAX_DEPTH)
    assert again == orjson.dumps(value)
    if repeated:
        assert not proven_unique(data, again)
    assert bool(duplicate_keys(data, value, again)) == repeated
    assert bool(duplicate_keys(data, value)) == repeated


def test_a_key_and_its_escaped_spelling_are_a_duplicate():
    for data in (b'{"a":1,"\\u0061":2}', b'{"x":{"\\u0061":1,"a":2}}', b'{"x":[{"a":"\\u003a","\\u0061":2}]}'):
        value = orjson.loads(data)
        assert not proven_unique(data, compact(value, MAX_DEPTH))
        assert duplicate_keys(data, value)


def test_a_clean_document_is_proven_by_the_fast_path():
    """What makes the check cheap: orjson's own text (one memcmp) and text in another spelling
    (colons counted) are both settled without reading the document again."""
    value = {"a": [1, {"b": "c:d"}], "e": 1e-05}
    assert proven_unique(orjson.dumps(value) + b"\n", compact(value, MAX_DEPTH))
    spelled = json.dumps(value).encode()  # spaces and 1e-05
    assert proven_unique(spelled, compact(value, MAX_DEPTH))


# --- only the stretch where the texts differ is counted ---------------------------------------------

def _reference(data: bytes, again: bytes) -> bool:
    """What proven_unique must answer: the colons of both whole texts, counted (or orjson's own text)."""
    if data.startswith(again) and (len(data) == len(again) or data[len(again):].isspace()):
        return True
    return b"\\u" not in data and data.rstrip(b"\n").count(b":") == again.count(b":")


#: Pieces of text in which colons, commas and backslash-u sequences are common.
pieces = st.text(alphabet=':,a"\\u\n', max_size=6).map(str.encode)
guesses = st.tuples(st.integers(0, 5000), st.integers(0, 5000), st.integers(0, 40))


@st.composite
def text_pairs(draw: Any) -> tuple[bytes, bytes]:
    """Two texts that share long stretches (a piece repeated up to 400 times) and differ in between."""
    data, again = [], []
    for _ in range(draw(st.integers(1, 6))):
        shared = draw(pieces) * draw(st.sampled_from([1, 10, 100, 400]))
        data.append(shared + draw(pieces))
        again.append(shared + draw(pieces))
    return b"".join(data) + draw(st.sampled_from([b"", b"\n"])), b"".join(again)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(text_pairs(), guesses), min_size=1, max_size=3))
def test_counting_only_where_the_texts_differ_answers_as_counting_everything(pairs):
    """Whatever the texts and whatever the guess left by the documents before (see dupkeys._last)."""
    for (data, again), guess in pairs:
        dupkeys._last[:] = guess
        assert proven_unique(data, again) == _reference(data, again), (data, again, guess)
        assert proven_unique(data, again) == _reference(data, again), (data, again)  # its own guess now


@settings(max_examples=300, deadline=None)
@given(documents(), guesses, st.sampled_from([0, 1, 200, 3000]), st.sampled_from([0, 1, 200, 3000]))
def test_a_duplicate_key_between_long_shared_stretches_is_found(document, guess, before, after):
    """The law above on documents: a small document inside a big one (the shared start and end)."""
    inner, repeated = document
    data = b'{"pad":"' + b"a:" * before + b'","doc":' + inner.rstrip() + b',"z":["' + b"b:" * after + b'"]}\n'
    value = orjson.loads(data)
    again = compact(value, MAX_DEPTH)
    dupkeys._last[:] = guess
    if repeated:
        assert not proven_unique(data, again)
    dupkeys._last[:] = guess
    assert bool(duplicate_keys(data, value, again)) == repeated


class _Counted(bytes):
    """Bytes that remember how many bytes their ``count`` read."""

    read = 0

    def count(self, sub: Any, start: Any = None, end: Any = None) -> int:  # type: ignore[override]
        type(self).read += len(self[start:end])
        return super().count(sub, start, end)


def test_records_from_another_writer_are_counted_only_where_they_differ():
    """A JSONL file written by the standard library: orjson spells 1e-05 as 0.00001, nothing else differs.
    After the first record, each costs a few comparisons and counts under 200 bytes, not ~2 x 6 KB."""
    dupkeys._last[:] = [0, 0, 0]
    for index in range(3):
        record = {"id": index, "items": [{"name": f"p{n}", "version": f"{n}.0:{index}"} for n in range(150)],
                  "config": {"lr": 1e-05 * (index + 1), "url": "https://h:1/x"}, "more": ["a:b"] * 200}
        data = _Counted(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        again = _Counted(compact(orjson.loads(bytes(data)), MAX_DEPTH) or b"")
        assert len(data) > 6000 and data.rstrip() != again
        _Counted.read = 0
        assert proven_unique(data, again)
        if index:
            assert _Counted.read < 400, _Counted.read
        spoiled = _Counted(data.replace(b'"lr"', b'"url":"a:b","lr"', 1))  # a duplicate key in the stretch
        assert not proven_unique(spoiled, again)


# --- depth ------------------------------------------------------------------------------------------

def _nest(depth: int, kinds: str, inner: Any) -> Any:
    value = inner
    for level in range(depth):
        value = {"k": value} if kinds[level % len(kinds)] == "o" else [value]
    return value


@pytest.mark.parametrize("kinds", ["o", "l", "ol", "lo"])
@pytest.mark.parametrize("inner", [0, "x", None])
def test_compact_writes_exactly_the_values_within_the_depth_limit(kinds, inner):
    for depth in (1, 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 2, 300):
        value = _nest(depth, kinds, inner)
        text = json.dumps(value).encode()
        assert (compact(value, MAX_DEPTH) is None) == too_deep(text, value) == (depth > MAX_DEPTH), depth
    for depth in (MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1):  # an empty container innermost is a level
        for empty in ({}, []):
            value = _nest(depth - 1, kinds, empty)
            assert (compact(value, MAX_DEPTH) is None) == (depth > MAX_DEPTH), (depth, empty)


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.integers(0, 1) | st.just({}) | st.just([]),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner, max_size=2),
                    max_leaves=20),
       st.integers(1, 8))
def test_compact_agrees_with_the_walk_at_any_limit(value, limit):
    text = orjson.dumps(value)
    assert (compact(value, limit) is None) == too_deep(text, value, limit)


@pytest.mark.parametrize("unique", [False, True])
def test_parse_finds_the_depth_limit_with_and_without_the_duplicate_check(unique):
    for depth in (MAX_DEPTH, MAX_DEPTH + 1):
        text = ('{"k":' * depth + "1" + "}" * depth).encode()
        item = parse(text, "s", 1, True, unique=unique)
        assert isinstance(item, LoadError if depth > MAX_DEPTH else Loaded), depth
        if depth > MAX_DEPTH:
            assert "nested too deeply" in item.message


def test_without_a_measured_edge_parse_walks_instead(monkeypatch):
    """An orjson without a fixed write limit (or another one) must not change a finding."""
    monkeypatch.setattr(dupkeys, "_padding", lambda limit: None)
    deep = ('{"k":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1)).encode()
    assert "nested too deeply" in parse(deep, "s", 1, True, unique=True).message
    assert "duplicate key 'a'" in parse(b'{"x":{"a":1,"\\u0061":2}}', "s", 1, True, unique=True).message
    assert isinstance(parse(b'{"a":1}', "s", 1, True, unique=True), Loaded)


def test_a_value_orjson_cannot_write_is_checked_the_slow_way():
    """Integers beyond 64 bits (read exactly for rewrites) stop orjson; the check still runs."""
    data = b'{"n":123456789012345678901234567890,"a":1,"a":2}'
    item = parse(data, "s", 1, True, exact=True, unique=True)
    assert isinstance(item, LoadError) and "duplicate key 'a'" in item.message


# --- reading --------------------------------------------------------------------------------------

def test_lines_longer_than_the_read_buffer_and_the_limit(tmp_path):
    """Lines that span the read buffer are read whole; one over --max-bytes is reported, not read."""
    from procrecord.bulk import loader

    big = {"x": "y" * (3 * loader._LINE_BUFFER)}
    lines = [orjson.dumps({"a": i}) for i in range(3)] + [orjson.dumps(big), b"", b"  ", b'{"a":1,"a":2}']
    path = tmp_path / "r.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    span = Span()
    items = list(iter_task(FileTask(str(path), True), span, unique=True))
    assert [getattr(i, "line", None) for i in items] == [1, 2, 3, 4, 7]
    assert items[3].record == big
    assert isinstance(items[4], LoadError) and "duplicate key" in items[4].message
    assert span.lines == 7
    limited = list(iter_task(FileTask(str(path), True, max_bytes=loader._LINE_BUFFER), Span(), unique=True))
    assert isinstance(limited[3], LoadError) and "over the limit" in limited[3].message
    assert [i.line for i in limited] == [1, 2, 3, 4, 7]
