"""What the sixth held-out red-team corpus of issue 13 found: a quoted secret holding an escaped or doubled
quote leaked past it, JSON text with whitespace around the colon was not read, e-mail addresses in other
scripts than ASCII were kept, an earlier ``redaction`` note was merged unscrubbed (and the gate did not look
at it), a legacy ``args`` string's ``cudnn_version: 8.9.2.26`` became an IPv4 marker once split, and an
argv's ``=`` or ``Bearer`` between a secret flag and its value was hidden instead of the value."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_BASE = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
_SECRET = "Qw7ZtLk2Pv9Rm"


def _record(**config: object) -> dict:
    record = copy.deepcopy(_BASE)
    record["invocation"]["config"] = dict(config)
    record["extra"] = {}
    return record


def _scrub(text: str) -> str:
    return Scrubber(_OWN).scrub(text)[0]


def _in_json_string(text: str) -> str:
    """``text`` written into a JSON string (without the outer quotes): ``{\\"key\\": ...}``."""
    return json.dumps(text)[1:-1]


# --- A: a quoted value holding an escaped or doubled quote ---------------------------------------------

_QUOTES = ['ab"cd', 'a\\"b', '"', 'x\\', 'a""b']
_NAMES = ["password", "api_secret", "DB_PASSWORD", "client_secret"]


@pytest.mark.parametrize("inner", _QUOTES)
@pytest.mark.parametrize("name", _NAMES)
def test_a_json_value_holding_a_quote_is_hidden_whole_and_stays_json(inner, name):
    text = json.dumps({"user": "svc", name: inner + _SECRET, "lr": 0.1})
    out = _scrub(text)
    assert _SECRET not in out
    parsed = json.loads(out)
    assert parsed["user"] == "svc" and parsed["lr"] == 0.1 and parsed[name].startswith("<redacted:")


@pytest.mark.parametrize("inner", _QUOTES)
def test_json_written_into_a_string_holding_a_quote_is_hidden_whole(inner):
    text = "cfg=" + _in_json_string(json.dumps({"password": inner + _SECRET, "note": "kept"}))
    out = _scrub(text)
    assert _SECRET not in out
    assert json.loads(json.loads('"' + out[len("cfg="):] + '"')) == {"password": "<redacted:password>", "note": "kept"}


@pytest.mark.parametrize("template", [
    'password="a\\"b{}" next',              # key=value, shell quoting
    'mysql --password "a\\"b{}" db',          # --key value
    'export PGPASSWORD="a\\"b{}"; run',       # an environment line
    ':password => "a\\"b{}", :user => "x"',   # Ruby
    "{{'token': 'it''s{}'}}",                 # a doubled single quote (YAML, SQL)
    "{{'password' : 'x{}', 'n': 1}}",          # a Python dict's repr with a spaced colon
    'Server=db;Password="a""b{}";Encrypt=True',  # ADO.NET doubles the quote
    "Server=db;Pwd='a''b{}';Encrypt=True",
])
def test_quoted_values_past_an_escaped_or_doubled_quote_are_hidden(template):
    out = _scrub(template.format(_SECRET))
    assert _SECRET not in out
    assert "<redacted:" in out
    if "Encrypt=True" in template:
        assert out.endswith(";Encrypt=True")


@pytest.mark.parametrize("text", [
    'title: "a \\"quoted\\" word", password_min_length: 8',
    '{"note": "say \\"hi\\"", "passes": 2}',
    'Server=db;Application Name="my ""app""";Encrypt=True',
    "{'comment': 'it''s fine'}",
])
def test_quoted_text_without_a_secret_name_stays(text):
    assert _scrub(text) == text


_VALUE_CHARS = st.text(st.sampled_from('ab"\\\'; :=,{}[]xyz0'), min_size=1, max_size=12)


@settings(max_examples=150, deadline=None)
@given(_VALUE_CHARS, st.sampled_from(_NAMES), st.booleans(), st.sampled_from([None, 2]))
def test_any_json_secret_value_is_hidden_and_the_text_stays_json(value, name, nested, indent):
    value += _SECRET  # (never a setting such as ``true``)
    text = json.dumps({"a": "keep", name: value, "b": 1}, indent=indent)
    if nested:
        text = "cfg=" + _in_json_string(text)
    out = _scrub(text)
    assert _SECRET not in out
    parsed = json.loads(json.loads('"' + out[len("cfg="):] + '"') if nested else out)
    assert parsed == {"a": "keep", name: parsed[name], "b": 1} and parsed[name].startswith("<redacted:")
    assert_scrub_laws(_OWN, text)


# --- B: JSON text with whitespace around the colon ---------------------------------------------------

@pytest.mark.parametrize("separator", [" : ", "\t: ", " :", ":\n    ", "\n: ", " :\t"])
@pytest.mark.parametrize("value", [_SECRET, [_SECRET, _SECRET + "b"]])
def test_json_with_whitespace_around_the_colon_is_read(separator, value):
    for name in ("password", "passwords", "api_key"):
        text = json.dumps({"user": "svc", name: value}, separators=(", ", separator), indent=None)
        for form in (text, "cfg=" + _in_json_string(text)):
            out = _scrub(form)
            assert _SECRET not in out, (form, out)
            assert "svc" in out


@settings(max_examples=100, deadline=None)
@given(st.sampled_from([" : ", " :", "\t:\t", ":\n  ", " \n: "]), st.sampled_from([None, 2, 4]),
       st.text(st.sampled_from("abcXYZ019-_"), min_size=1, max_size=10))
def test_pretty_printed_json_secrets_are_hidden_and_the_laws_hold(separator, indent, value):
    text = json.dumps({"host_count": 3, "client_secret": value + _SECRET}, separators=(",", separator), indent=indent)
    out = _scrub(text)
    assert _SECRET not in out and json.loads(out) == {"host_count": 3, "client_secret": "<redacted:secret>"}
    assert_scrub_laws(_OWN, text)


def test_the_gate_refuses_json_with_a_spaced_colon_and_accepts_its_redaction():
    record = _record(job=json.dumps({"password": _SECRET}, separators=(",", " : "), indent=2))
    out = redact(record, "most")
    assert _SECRET not in json.dumps(out) and check_level(out, "most") == []
    forged = copy.deepcopy(out)
    forged["invocation"]["config"]["job"] = record["invocation"]["config"]["job"]
    assert check_level(forged, "most")


# --- C: e-mail addresses in any script --------------------------------------------------------------

@pytest.mark.parametrize("address", ["jürgen.müller@example.de", "juergen@exämple.de", "ólafur@háskóli.is",
                                     "иван@пример.рф", "josé+ci@exemple.fr"])
@pytest.mark.parametrize("template", ["{}", "owner: {}", "mail {} now", '{{"owner": "{}"}}'])
def test_non_ascii_email_addresses_are_hidden(address, template):
    out = _scrub(template.format(address))
    assert address not in out and "<redacted:email>" in out
    assert_scrub_laws(_OWN, template.format(address))


@pytest.mark.parametrize("address", ["first_last@example.org", "ci_bot+jobs@lab.example.com", "_admin@example.net",
                                     "max_müller@example.de"])
@pytest.mark.parametrize("template", ["{}", "owner: {}", "mail {} now", '{{"owner": "{}"}}'])
def test_email_addresses_with_an_underscore_are_hidden(address, template):
    # RFC 5322 allows ``_`` in the local part, and it is common (``first_last@``); it was never matched
    out = _scrub(template.format(address))
    assert address not in out and "<redacted:email>" in out
    assert_scrub_laws(_OWN, template.format(address))


@pytest.mark.parametrize("text", ["größe@2x.png", "café_icon@3x.jpg", "résumé v2 @ 10:00", "git@github.com:ü/x.git"])
def test_near_misses_of_non_ascii_addresses_stay(text):
    assert _scrub(text) == text


def test_the_gate_refuses_a_non_ascii_address():
    out = redact(_record(owner="jürgen.müller@example.de"), "most")
    assert check_level(out, "most") == []
    forged = copy.deepcopy(out)
    forged["invocation"]["config"]["owner"] = "jürgen.müller@example.de"
    assert check_level(forged, "most")


# --- D: an earlier redaction note ---------------------------------------------------------------------

_GH = "ghp_" + "Q2w3E4r5T6y7U8i9O0pAsDfGhJkLzXcVbN12"
_NOTE_PLANTS = {
    "removed": ["/invocation/config/" + _GH, "/host/hostname"],
    "scrubbed": [{"path": "/extra/qz.note@lab.example.org", "rule": "email", "count": 1},
                 {"path": "/extra/x", "rule": "password=" + _SECRET, "count": 1},
                 {"path": "password=" + _SECRET, "rule": "email", "count": 1}],
    "pseudonymized": ["/extra/qz.note@lab.example.org", "token " + _GH],
}


def test_an_earlier_notes_strings_are_scrubbed_and_only_pointers_and_rule_names_kept():
    record = _record(lr=0.1)
    record["redaction"] = {"level": "none", "tool": "procrecord", "tool_version": "0.0.1", **_NOTE_PLANTS}
    out = redact(record, "most")
    text = json.dumps(out["redaction"])
    for planted in (_GH, _SECRET, "qz.note@lab.example.org"):
        assert planted not in text
    assert "/host/hostname" in out["redaction"]["removed"]
    assert {"path": "/extra/<redacted:email>", "rule": "email", "count": 1} in out["redaction"]["scrubbed"]
    assert check_level(out, "most") == []
    assert redact(out, "most") == out


@pytest.mark.parametrize("field, bad", [
    ("removed", "/invocation/config/" + _GH),
    ("removed", "password=" + _SECRET),
    ("pseudonymized", "/extra/qz.note@lab.example.org"),
    ("scrubbed", {"path": "/extra/x", "rule": "password=" + _SECRET, "count": 1}),
    ("scrubbed", {"path": "/extra/jürgen@exämple.de", "rule": "email", "count": 1}),
])
def test_the_gate_refuses_a_secret_in_the_note(field, bad):
    out = redact(_record(lr=0.1), "most")
    assert check_level(out, "most") == []
    forged = copy.deepcopy(out)
    forged["redaction"].setdefault(field, []).append(bad)
    assert check_level(forged, "most")


@pytest.mark.parametrize("bad", ["/a~2b", "/x~", "/~3"])
def test_a_note_pointer_with_a_broken_escape_is_dropped_by_redact_and_refused_by_the_gate(bad):
    # (RFC 6901 knows only ~0 and ~1: such a string is no pointer; it must not stop redact or the gate)
    record = _record(lr=0.1)
    record["redaction"] = {"level": "most", "tool": "procrecord", "tool_version": "0.0.1", "removed": [bad],
                           "scrubbed": [{"path": bad, "rule": "email", "count": 1}], "pseudonymized": [bad]}
    out = redact(record, "most")
    assert bad not in json.dumps(out["redaction"]) and check_level(out, "most") == []
    assert {v.message for v in check_level(record, "most")} >= {"not a JSON pointer"}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.sampled_from(["/a/b", "/x/" + _GH, "nope", "/extra/a@b.example.org", "/home/jdoe/x", "", "/a~2"]),
                max_size=4),
       st.lists(st.sampled_from(["email", "ipv4", "x y", "password=" + _SECRET]), max_size=3))
def test_redacting_a_record_with_any_earlier_note_twice_changes_nothing(pointers, rules):
    record = _record(lr=0.1)
    record["redaction"] = {"level": "none", "tool": "procrecord", "tool_version": "0.0.1", "removed": pointers,
                           "scrubbed": [{"path": p, "rule": r, "count": 1} for p, r in zip(pointers, rules)],
                           "pseudonymized": pointers}
    once = redact(record, "most")
    assert redact(once, "most") == once
    assert check_level(once, "most") == []


# --- E: a legacy args string's versions ---------------------------------------------------------------

def _legacy(args: str) -> dict:
    legacy = load_json(FIXTURES / "redact" / "redteam2-legacy-args" / "input.json")
    legacy["properties"]["args"] = args
    return legacy


@pytest.mark.parametrize("version", ["cudnn_version: 8.9.2.26", "CUDNN_VER: 9.1.0.70", "trt-version: 10.0.1.6"])
def test_a_version_under_its_name_in_a_legacy_args_string_stays(version):
    legacy = _legacy(f"python fit.py {version} --host-ip 10.1.2.3")
    out = redact(legacy, "most")
    assert version in out["properties"]["args"]
    assert "10.1.2.3" not in out["properties"]["args"]
    assert check_level(out, "most") == []


@pytest.mark.parametrize("text", ["host: 10.1.2.3", "ip_version: 4 10.1.2.3", "--version 2 10.1.2.3"])
def test_an_address_after_other_words_in_a_legacy_args_string_is_hidden(text):
    out = redact(_legacy(f"python fit.py {text}"), "most")
    assert "10.1.2.3" not in out["properties"]["args"]


# --- 6: an argv's ``=`` or scheme between a secret flag and its value ---------------------------------

@pytest.mark.parametrize("between", ["=", "Bearer", "token", ":"])
def test_the_value_after_a_separator_or_scheme_argument_is_hidden(between):
    argv = ["deploy.py", "--api-token", between, _SECRET, "--lr", "0.1"]
    out, counts = Scrubber(_OWN).scrub_argv(argv)
    assert out == ["deploy.py", "--api-token", between, "<redacted:token>", "--lr", "0.1"]
    assert Scrubber(_OWN).scrub_argv(out) == (out, {})
    record = _record(lr=0.1)
    record["invocation"]["argv"] = argv
    redacted = redact(record, "most")
    assert redacted["invocation"]["argv"] == out and check_level(redacted, "most") == []
    forged = copy.deepcopy(redacted)
    forged["invocation"]["argv"] = argv
    assert check_level(forged, "most")
