"""diff --only/--ignore paths: one printed path names one key, and no --ignore path hides a change it does not name."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

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

