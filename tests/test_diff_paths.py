"""diff --only/--ignore paths: one printed path names one key, and no --ignore path hides a change it does not name."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.cli import cli
from procrecord.operations import fieldpath
from procrecord.operations.comparison import Options, diff, prepare
from procrecord.pointer import escape

from helpers import FIXTURES, load_json

BASE = prepare(load_json(FIXTURES / "1.1" / "valid" / "pipeline-step-artifacts.json"))


def _pair(old_config, new_config, **invocation):
    a, b = json.loads(json.dumps(BASE)), json.loads(json.dumps(BASE))
    a["invocation"]["config"], b["invocation"]["config"] = old_config, new_config
    for key, (old, new) in invocation.items():
        a["invocation"][key], b["invocation"][key] = old, new
    return a, b


def _cli(tmp_path, a, b, *args):
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    return CliRunner().invoke(cli, ["diff", *args, str(tmp_path / "a.json"), str(tmp_path / "b.json")])


def test_a_pointer_or_dotted_path_never_matches_a_key_with_a_dot(tmp_path):
    a, b = _pair({"a": {"b": 1}, "a.b": 2}, {"a": {"b": 1}, "a.b": 3})  # only the key "a.b" changed
    assert [c.label for c in diff(a, b)] == ['invocation.config["a.b"]']
    for nested in ("/invocation/config/a/b", "invocation.config.a.b", "invocation.config.a.*", "invocation.config.a"):
        assert [c.pointer for c in diff(a, b, Options(ignore=(nested,)), upgrade=False)] == ["/invocation/config/a.b"], nested
        assert diff(a, b, Options(only=(nested,)), upgrade=False) == [], nested
    for dotted_key in ('invocation.config["a.b"]', "/invocation/config/a.b", "invocation.config.*"):
        assert diff(a, b, Options(ignore=(dotted_key,)), upgrade=False) == [], dotted_key
        assert [c.pointer for c in diff(a, b, Options(only=(dotted_key,)), upgrade=False)] == ["/invocation/config/a.b"]
    result = _cli(tmp_path, a, b, "--ignore", "/invocation/config/a/b")
    assert result.exit_code == 1 and 'invocation.config["a.b"] 2 -> 3' in result.output, result.output
    result = _cli(tmp_path, a, b, "--ignore", 'invocation.config["a.b"]')
    assert result.exit_code == 0 and "no differences" in result.output, result.output


def test_a_dotted_path_that_only_spells_a_key_with_dots_is_a_usage_error_that_says_how_to_write_it(tmp_path):
    a, b = _pair({"a.b": 2, "x[0]": 1}, {"a.b": 3, "x[0]": 2})
    for path, printed in (("invocation.config.a.b", 'invocation.config["a.b"]'),
                          ("invocation.config.x[0]", 'invocation.config["x[0]"]')):
        result = _cli(tmp_path, a, b, "--ignore", path)
        assert result.exit_code == 2, result.output
        assert f"--ignore {path}: matches nothing in the records compared" in result.output
        assert f"written quoted: {printed}" in result.output


def test_a_star_in_a_pointer_is_a_plain_star_and_the_error_says_how_to_write_the_pattern(tmp_path):
    """`--ignore /resources/io_*` (a pattern in a pointer token, as 0.1 read it) is a usage error that says
    how to write it; the dotted form is a pattern."""
    a, b = _pair({"lr": 0.1}, {"lr": 0.1})
    b["resources"] = {**a.get("resources", {}), "io_read_bytes": 5}
    result = _cli(tmp_path, a, b, "--ignore", "/resources/io_*")
    assert result.exit_code == 2, result.output
    assert "a JSON pointer names keys exactly" in result.output and "write the path dotted, resources.io_*" in result.output
    assert _cli(tmp_path, a, b, "--ignore", "resources.io_*").exit_code == 0


#: Keys a job may put in its config that a dotted name could not give back as they are, and their look-alikes.
TRICKY = ["a", "b", "a.b", "x", "x[0]", "[0]", "*", "s*", "sx", "0", "", 'q"', "q\\", " a", "a ", "~1/", "tab\there",
          "line\nbreak", "\u2028", "ü", "a]", "[", "]"]


@pytest.mark.parametrize("key", TRICKY)
def test_each_printed_path_reads_back_as_its_own_key(key):
    label = fieldpath.child("invocation.config", key)
    assert "\n" not in label and "\u2028" not in label and "\t" not in label
    assert fieldpath.parse(label) == (fieldpath.Segment("invocation"), fieldpath.Segment("config"),
                                      fieldpath.Segment(key, True, True) if label.endswith('"]') else fieldpath.Segment(key))
    old = dict.fromkeys(TRICKY, 1)
    new = dict(old, **{key: 2})
    a, b = _pair(old, new)
    assert [c.label for c in diff(a, b, upgrade=False)] == [label]
    changed = dict.fromkeys(TRICKY, 2)
    a, b = _pair(old, changed)
    for pattern in (label, "/invocation/config/" + escape(key)):
        if pattern.endswith("/*"):
            continue  # a pointer token '*' is the wildcard: the key '*' is written invocation.config["*"]
        assert [c.label for c in diff(a, b, Options(only=(pattern,)), upgrade=False)] == [label], pattern
        assert label not in {c.label for c in diff(a, b, Options(ignore=(pattern,)), upgrade=False)}, pattern
        assert len(diff(a, b, Options(ignore=(pattern,)), upgrade=False)) == len(TRICKY) - 1, pattern


def test_a_list_item_key_is_quoted_when_brackets_would_not_give_it_back():
    assert fieldpath.item("inputs", "train/s3://b/x.csv") == "inputs[train/s3://b/x.csv]"
    assert fieldpath.item("inputs", "train/s3://b/*.csv") == 'inputs["train/s3://b/*.csv"]'
    assert fieldpath.item("inputs", "train/http://[::1]/x") == 'inputs["train/http://[::1]/x"]'
    assert fieldpath.parse('inputs["train/http://[::1]/x"].sha256')[1] == fieldpath.Segment("train/http://[::1]/x", True, True)


@pytest.mark.parametrize("pattern", ['a["b', 'a["\\x"]', "a[0]b", 'a["b"]c', "a.", ".a", "a..b", "/"])
def test_unreadable_paths_are_refused(pattern):
    if pattern == "/":
        assert fieldpath.parse(pattern) == (fieldpath.Segment("", False, True),)  # the key "" at the top
        return
    with pytest.raises(ValueError):
        fieldpath.parse(pattern)


# The law: an --ignore path hides exactly the locations it names. A reference reads each record's config as
# {location: leaf or container kind}, drops the locations the path names, and compares what is left; the diff
# must find a difference exactly when that does, and each change it reports must sit on one of them.

_KEYS = st.sampled_from(["a", "b", "a.b", "x[0]", "*", "0", "", 'q"'])
_LEAVES = st.one_of(st.integers(0, 2), st.booleans(), st.none(), st.sampled_from(["s", "t"]))
_VALUES = st.recursive(_LEAVES, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(_KEYS, inner, max_size=3)), max_leaves=8)


def _flat(value, path=()):
    if isinstance(value, dict):
        out = {path: "dict"}
        for key, item in value.items():
            out.update(_flat(item, path + (("key", key),)))
        return out
    if isinstance(value, list):
        out = {path: "list"}
        for index, item in enumerate(value):
            out.update(_flat(item, path + (("index", index),)))
        return out
    return {path: (type(value) is bool, type(value) is str, value)}  # 1 and 1.0 are equal, True and 1 are not


def _named(spec, path):
    """True when ``path`` (a location in the config) is at or below what ``spec`` names."""
    def one(part, step):
        kind, text = part
        if kind == "any":  # a name '*': any key or index
            return True
        if kind == "any-item":  # [*]
            return step[0] == "index"
        if kind == "item":  # [N]: the item at index N
            return step == ("index", text)
        return step == ("key", text) or text.isdigit() and step == ("index", int(text))  # a name: key or index
    return len(path) >= len(spec) and all(map(one, spec, path))


def _written(spec, as_pointer):
    if as_pointer:
        return "/invocation/config" + "".join("/*" if kind == "any" else f"/{escape(str(text))}" for kind, text in spec)
    label = "invocation.config"
    for kind, text in spec:
        label = (f"{label}.*" if kind == "any" else f"{label}[*]" if kind == "any-item"
                 else fieldpath.item(label, text) if kind == "item" else fieldpath.child(label, text))
    return label


def _pointer(path):
    return "/invocation/config" + "".join(f"/{escape(str(text))}" for _, text in path)


def _related(p, q):
    return p == q or p.startswith(q + "/") or q.startswith(p + "/")


def _mutated(value, data):
    """``value`` with some parts replaced, added or removed."""
    if data.draw(st.integers(0, 5)) == 0:
        return data.draw(_VALUES)
    if isinstance(value, dict):
        out = {k: _mutated(v, data) for k, v in value.items() if data.draw(st.integers(0, 5))}
        out.update(data.draw(st.dictionaries(_KEYS, _VALUES, max_size=1)))
        return out
    if isinstance(value, list):
        out = [_mutated(v, data) for v in value]
        return out + data.draw(st.lists(_VALUES, max_size=1)) if data.draw(st.booleans()) else out[:-1]
    return value


@settings(max_examples=250, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=4), st.data())
def test_no_ignore_path_hides_a_change_at_a_location_it_does_not_name(old, data):
    new = _mutated(old, data)
    a, b = _pair(old, new)
    fa, fb = _flat(old), _flat(new)
    locations = sorted((fa.keys() | fb.keys()) - {()}, key=repr)
    if not locations:
        return
    location = data.draw(st.sampled_from(locations))
    spec = [("item", text) if kind == "index" and data.draw(st.booleans()) else ("name", str(text)) for kind, text in location]
    if data.draw(st.booleans()):
        where = data.draw(st.integers(0, len(spec) - 1))
        spec[where] = ("any-item", None) if spec[where][0] == "item" else ("any", None)
    as_pointer = data.draw(st.booleans()) and all(kind in ("name", "any") for kind, _ in spec) \
        and not any(kind == "name" and text == "*" for kind, text in spec)  # a pointer token '*' is the wildcard
    pattern = _written(spec, as_pointer)
    left = {p: v for p, v in fa.items() if not _named(spec, p)}
    right = {p: v for p, v in fb.items() if not _named(spec, p)}
    differing = [_pointer(p) for p in left.keys() | right.keys() if left.get(p, "absent") != right.get(p, "absent")]
    changes = [c.pointer for c in diff(a, b, Options(ignore=(pattern,)), upgrade=False)]
    assert bool(changes) == bool(differing), (pattern, changes, differing)
    for pointer in differing:
        assert any(_related(pointer, c) for c in changes), (pattern, pointer, changes)
    for change in changes:
        assert any(_related(change, p) for p in differing), (pattern, change, differing)


@pytest.mark.parametrize("path", ["invocation.config.list[0]", "/invocation/config/list/0", "invocation.config.list[*]",
                                  "invocation.config.list.0", "invocation.config.list.*", "invocation.argv[2]"])
def test_ignoring_an_item_of_a_list_compares_the_list_without_it(tmp_path, path):
    argv = (["train", "--lr", "0.1"], ["train", "--lr", "0.5"])
    if path.startswith("invocation.argv"):
        a, b = _pair({"list": [0.1, 2, {"z": 1}]}, {"list": [0.1, 2, {"z": 1}]}, argv=argv)
    else:
        a, b = _pair({"list": [0.1, 2, {"z": 1}]}, {"list": [0.5, 2, {"z": 1}]})
    assert len(diff(a, b, upgrade=False)) == 1
    assert diff(a, b, Options(ignore=(path,)), upgrade=False) == [], path
    result = _cli(tmp_path, a, b, "--only", "invocation", "--ignore", path)
    assert result.exit_code == 0 and "no differences" in result.output, result.output


def test_ignoring_part_of_a_list_still_shows_every_other_change_in_it(tmp_path):
    a, b = _pair({"list": [0.1, 2, {"z": 1}]}, {"list": [0.5, 3, {"z": 2}, 4]}, argv=(["a", "b"], ["a", "c"]))
    unfiltered = {c.label: (c.old, c.new) for c in diff(a, b, upgrade=False)}
    assert set(unfiltered) == {"invocation.argv", "invocation.config.list"}, "a changed list is shown whole"
    ignored = {c.label: (c.old, c.new) for c in diff(a, b, Options(ignore=("invocation.config.list[2].z",)), upgrade=False)}
    assert ignored == {"invocation.argv": (["a", "b"], ["a", "c"]), "invocation.config.list[0]": (0.1, 0.5),
                       "invocation.config.list[1]": (2, 3), "invocation.config.list[3]": (None, 4)}
    assert {c.label for c in diff(a, b, Options(ignore=("invocation.argv[0]",)), upgrade=False)} == {
        "invocation.argv[1]", "invocation.config.list"}
    result = _cli(tmp_path, a, b, "--ignore", "invocation.config.list[0]")
    assert result.exit_code == 1 and "invocation.config.list[1] 2 -> 3" in result.output, result.output
    assert "list[0]" not in result.output and "list[2].z 1 -> 2" in result.output


@pytest.mark.parametrize(("old", "new", "only"), [
    ({"x": {"y": 1}}, {"x": 5}, "invocation.config.x.y"), ({"x": 5}, {"x": {"y": 1}}, "invocation.config.x.y"),
    ({"x": [1, 2]}, {"x": 5}, "invocation.config.x[0]"), ({"x": {"y": 1}}, {"x": [1]}, "invocation.config.x.y"),
])
def test_only_a_field_of_a_value_that_changed_kind_reports_the_change(old, new, only):
    a, b = _pair(old, new)
    assert [(c.label, c.old, c.new) for c in diff(a, b, Options(only=(only,)), upgrade=False)] == [
        ("invocation.config.x", old["x"], new["x"])]
    a, b = _pair(dict(old, z=5), dict(old, z={"y": 1}))
    assert diff(a, b, Options(only=(only,)), upgrade=False) == [], "a value that is not the one named stays out"


@pytest.mark.parametrize(("only", "ignore", "contradicts"), [
    ('invocation.config["lr"]', "invocation.config.lr", True), ("/invocation/config/lr", "invocation.config.*", True),
    ("invocation.config.list[0]", "invocation.config.list.0", True), ("invocation.config.lr", "/invocation/config/lr", True),
    ('invocation.config["a*"]', "invocation.config.a*", True), ("invocation.config.ab", "/invocation/config/a*", False),
    ('invocation.config["a.b"]', "invocation.config.a", False), ("invocation.config.a.b", 'invocation.config["a.b"]', False),
])
def test_an_only_path_that_an_ignore_path_covers_whatever_its_spelling_is_a_usage_error(only, ignore, contradicts):
    problems = Options(ignore=(ignore,), only=(only,)).problems()
    assert problems == ([f"--only {only}: --ignore {ignore} leaves nothing of it to compare"] if contradicts else [])
