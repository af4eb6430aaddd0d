"""procrecord.jsonsafe: a config's objects are described the same in every run, and cheaply."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonsafe_child import build

from procrecord.jsonsafe import MAX_CHARS, MAX_ITEMS, to_json

#: What an address looks like in a repr (CPython's %p: 0x and up to 16 hex digits).
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")
CHILD = Path(__file__).with_name("jsonsafe_child.py")
ROOT = Path(__file__).resolve().parents[1]


class Cyc:
    def __init__(self) -> None:
        self.name = "c"
        self.me = self


class Key:
    pass


class Hex:
    def __init__(self, shape: str, **public: object) -> None:
        self._shape = shape
        self.__dict__.update(public)

    def __repr__(self) -> str:
        return self._shape.format(hex(id(self)))


class OwnRepr:
    def __repr__(self) -> str:
        return "OwnRepr(lr=0.1, mask=0xff)"


def test_a_self_referencing_object_is_a_cycle_marker_not_its_repr():
    safe, notes = to_json({"cyc": Cyc()})
    assert safe == {"cyc": {"__type__": f"{__name__}.Cyc", "name": "c",
                            "me": f"<cycle: back to the {__name__}.Cyc at /cyc>"}}
    assert notes == ["/cyc", "/cyc/me"]
    root = Cyc()
    assert to_json(root)[0]["me"] == f"<cycle: back to the {__name__}.Cyc at the root>"


def test_an_object_shared_without_a_cycle_is_described_each_time():
    import dataclasses

    @dataclasses.dataclass
    class D:
        a: int

    shared, d = Key(), D(1)
    safe, _ = to_json({"x": [shared, d], "y": [shared, d]})
    assert safe["x"] == safe["y"] == [f"<{__name__}.Key object>", {"a": 1}]


def test_an_object_as_a_key_has_no_address():
    safe, notes = to_json({Key(): 1, (Key(), 2): 2, Hex("K({})"): 3})
    assert list(safe) == [f"<{__name__}.Key object>", f"(<{__name__}.Key object>, 2)", "K(0x…)"]
    assert notes == [f"/{key}" for key in safe]
    two, _ = to_json({Key(): 1, Key(): 2})  # two keys with one text: both kept
    assert list(two) == [f"<{__name__}.Key object>", f"<{__name__}.Key object> ({__name__}.Key)"]


@pytest.mark.parametrize(("shape", "expected"), [
    ("Rep(at {})", "Rep(at 0x…)"), ("Foo(id={})", "Foo(id=0x…)"), ("<Foo {}>", "<Foo 0x…>"),
    ("<Foo {0}>, <Bar {0}>", "<Foo 0x…>, <Bar 0x…>"), ("Foo(id=0x000001F2A3B4C5D6)", "Foo(id=0x…)"),
    ("<Foo at {} size=3>", "<Foo size=3>"), ("Foo(base=0x1b2c3d4)", "Foo(base=0x…)")])
def test_an_address_in_an_own_repr_is_masked(shape, expected):
    safe, notes = to_json({"v": Hex(shape)})
    assert safe == {"v": expected} and notes == ["/v"]
    described, _ = to_json({"v": Hex(shape, lr=0.1)})
    assert described == {"v": {"__type__": f"{__name__}.Hex", "lr": 0.1}}, "public attributes before a masked repr"


def test_a_repr_without_an_address_is_kept_whole():
    assert to_json({"o": OwnRepr()})[0] == {"o": "OwnRepr(lr=0.1, mask=0xff)"}


def test_a_described_object_is_bounded_and_says_what_was_cut():
    class Big:
        def __init__(self) -> None:
            self.data = list(range(1_000_000))
            self.table = {i: i for i in range(1_000)}
            self.text = "x" * 1_000_000

    safe, notes = to_json({"big": Big()})
    big = safe["big"]
    assert big["data"][:MAX_ITEMS] == list(range(MAX_ITEMS))
    assert big["data"][MAX_ITEMS:] == [f"<{1_000_000 - MAX_ITEMS} more items left out>"]
    assert len(big["table"]) == MAX_ITEMS + 1 and big["table"]["__left_out__"] == 1_000 - MAX_ITEMS
    assert big["text"].endswith("more characters left out>")
    assert len(json.dumps(safe)) < MAX_CHARS + 1_000
    assert notes == ["/big"]


def test_many_attributes_keep_the_first_ones_and_count_the_rest():
    class Wide:
        pass

    wide = Wide()
    for i in range(MAX_ITEMS + 50):
        setattr(wide, f"a{i}", i)
    safe, _ = to_json(wide)
    assert safe["__type__"].endswith("Wide") and safe["a0"] == 0 and f"a{MAX_ITEMS}" not in safe
    assert safe["__left_out__"] == 50


def test_a_long_own_repr_and_a_numpy_array_in_a_description_are_bounded():
    np = pytest.importorskip("numpy")

    class Long:
        def __repr__(self) -> str:
            return "L" * 1_000_000

    class Holder:
        def __init__(self) -> None:
            self.weights = np.zeros(1_000_000)

    safe, _ = to_json({"long": Long(), "holder": Holder()})
    assert len(safe["long"]) < MAX_CHARS + 100 and safe["long"].endswith("more characters left out>")
    assert safe["holder"]["weights"][-1] == f"<{1_000_000 - MAX_ITEMS} more items left out>"


def test_plain_data_is_recorded_whole():
    """The limits are a description's: the job's own lists and dicts (and dataclasses) stay whole."""
    np = pytest.importorskip("numpy")
    data = {"ids": list(range(5_000)), "table": {str(i): i for i in range(5_000)}, "w": np.arange(5_000),
            "text": "x" * (MAX_CHARS * 2)}
    safe, notes = to_json(data)
    assert safe == {**data, "w": list(range(5_000))} and notes == []


class Endless(Sequence):
    """A lazy sequence (a million items here), as a job's own Sequence type may be."""

    def __len__(self) -> int:
        return 10**6

    def __getitem__(self, index):  # type: ignore[override]
        if not 0 <= index < 10**6:
            raise IndexError(index)
        return index


def test_a_lazy_sequence_is_never_copied_out_whole():
    """range(10**9) in a config hung the Recorder (it was listed item by item): a long range is its own
    text, another long lazy sequence its first MAX_ITEMS items and a marker; short ones stay lists."""
    safe, notes = to_json({"r": range(10**6), "short": range(3), "lazy": Endless()})
    assert safe["r"] == "range(0, 1000000)" and safe["short"] == [0, 1, 2]
    assert safe["lazy"] == [*range(MAX_ITEMS), f"<{10**6 - MAX_ITEMS} more items left out>"]
    assert sorted(notes) == ["/lazy", "/r"]


def test_a_set_of_objects_has_the_same_order_in_every_run():
    class Named:
        def __init__(self, name: str) -> None:
            self.name = name

    first = to_json({Named("b"), Named("a"), Named("c"), "s"})[0]
    second = to_json({Named("c"), Named("a"), Named("b"), "s"})[0]
    assert first == second and [item["name"] for item in first if isinstance(item, dict)] == ["a", "b", "c"]


_names = st.sampled_from(["a", "b", "c", "d", "_hidden"])


@st.composite
def _graphs(draw):
    size = draw(st.integers(1, 5))
    nodes = st.integers(0, size - 1)
    scalar = st.tuples(st.just("int"), st.integers(-5, 5)) | st.tuples(st.just("str"), st.text("ab0x7f", max_size=6))
    ref = (st.tuples(st.just("node"), nodes) | scalar | st.tuples(st.just("key"), nodes)
           | st.tuples(st.just("set"), st.lists(nodes, max_size=3))
           | st.tuples(st.just("list"), st.lists(st.tuples(st.just("node"), nodes) | scalar, max_size=3)))
    return [{"cls": draw(st.sampled_from(["Plain", "Slotted", "HexRepr", "AtRepr", "NoRepr"])),
             "attrs": draw(st.dictionaries(_names, ref.map(list), max_size=4))} for _ in range(size)]


@given(_graphs())
@settings(max_examples=60, deadline=None)
def test_any_object_graph_is_described_the_same_twice_in_one_process(spec):
    first, second = to_json(build(spec)), to_json(build(spec))
    assert first == second
    assert not ADDRESS.search(json.dumps(first)), first


@pytest.fixture(scope="module")
def children():
    """Two fresh interpreters (other addresses, other string hashes) that convert graphs."""
    procs = []
    for seed in ("1", "2"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": os.pathsep.join([str(ROOT), str(CHILD.parent)])}
        procs.append(subprocess.Popen([sys.executable, str(CHILD)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      text=True, env=env))
    yield procs
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=30)


@given(spec=_graphs())
@settings(max_examples=40, deadline=None)
def test_any_object_graph_is_described_the_same_in_two_processes(children, spec):
    answers = []
    for proc in children:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(json.dumps(spec) + "\n")
        proc.stdin.flush()
        answers.append(proc.stdout.readline())
    assert answers[0] == answers[1], spec
    assert not ADDRESS.search(answers[0]), answers[0]
