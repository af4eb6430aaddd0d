"""What the fifth held-out red-team corpus of issue 13 found: Slack webhook URLs written without their scheme,
Telegram bot tokens whose secret part starts with a single ``A``, Artifactory reference tokens other than
``cmVmdGtu...``, four-part versions in a mapping of versions written as text taken for IPv4 addresses, and a
list or mapping under a secret name in text of which only the ``[`` was replaced (the items leaked, JSON broke)."""

from __future__ import annotations

import copy
import json
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json, scrub_by_every_rule

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_CASE = FIXTURES / "redact" / "redteam5-formats"
_BASE = upgrade(load_json(_CASE / "input.json"), current_version())

#: Each token form with the rule that hides it; the values are not the fixture's.
_TOKENS = [
    ("hooks.slack.com/services/TABCDEFGH/BABCDEFGH/aQIY4hnlnzxe9Sp9OJnnGSnj", "slack-webhook"),
    ("http://hooks.slack.com/services/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", "slack-webhook"),
    ("HTTPS://hooks.slack.com/workflows/T0AB12CD3/A0EF45GH6KL/412345678901234567/Xy7kLm9PqRsTuVwX1yZ2aB3c", "slack-webhook"),
    ("hooks.slack.com/triggers/T0AB12CD3/4123456789012/0123456789abcdef0123456789abcdef", "slack-webhook"),
    ("7534404648:AX3M7Bfhkb88xSmNCbf5Kp0cbLieKgWrM33", "telegram-bot-token"),
    ("81234567:Aq-_9bcdefghijklmnopqrstuvwxyzABCDE", "telegram-bot-token"),
    ("6012345678:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw8", "telegram-bot-token"),
    ("cmVmdU25bmzDig9ZMvpUnPrFwzBSehY8pN43n3dpL8dcdY7lc87R19NEzP14DE7q", "artifactory-reference-token"),
    ("cmVmd" + "0aZ" * 19 + "Q9", "artifactory-reference-token"),
]
#: Where a token stands: alone, in prose, as a value, as JSON text, in a path-like or a parenthesised place.
_CONTEXTS = ["{}", "notify via {} ok", "url={}", '{{"hook": "{}"}}', "`{}`", "(ref {})", "a\n{}\nb"]


def _secret(token: str) -> str:
    """The part of ``token`` that must not survive (a webhook's path; a Telegram token's secret half)."""
    if "hooks.slack.com/" in token:
        return token.split("hooks.slack.com/", 1)[1]
    return token.split(":", 1)[1] if ":" in token else token


def _record(**config: object) -> dict:
    record = copy.deepcopy(_BASE)
    record["invocation"]["config"] = dict(config)
    record["extra"] = {}
    return record


# --- 1-3: token formats ----------------------------------------------------------------------------------

@pytest.mark.parametrize("token, rule", _TOKENS)
@pytest.mark.parametrize("context", _CONTEXTS)
def test_token_forms_are_hidden_in_any_context(token, rule, context):
    scrubber = Scrubber(_OWN)
    text = context.format(token)
    out, counts = scrubber.scrub(text)
    assert _secret(token) not in out and counts == {rule: 1}
    assert scrubber.scrub(out) == (out, {})
    assert (out, counts) == scrub_by_every_rule(Scrubber(_OWN), text)  # the needles skip no rule


@pytest.mark.parametrize("token, rule", _TOKENS)
@pytest.mark.parametrize("glue", ["\n", "\t", "\r\n"])
def test_token_forms_after_a_json_escaped_break_are_hidden(token, rule, glue):
    text = json.dumps({"log": f"step 1{glue}{token}{glue}step 2"})  # JSON kept as a string
    out, counts = Scrubber(_OWN).scrub(text)
    assert _secret(token) not in out and rule in counts
    assert json.loads(out)["log"].split(glue)[0::2] == ["step 1", "step 2"]


@pytest.mark.parametrize("token, rule", _TOKENS)
def test_token_forms_are_hidden_in_a_records_fields_and_argv_and_the_gate_agrees(token, rule):
    record = _record(hook=token, note=f"posted with {token}", json=json.dumps({"ref": token}))
    record["invocation"]["argv"] = ["fit.py", "--hook", token, f"--ref={token}"]
    record["outcome"] = {"exit_code": 1, "error": {"type": "RuntimeError", "message": f"post to {token} failed",
                                                  "traceback": f"line 1\n  ref {token}"}}
    assert any(v.path.startswith("$.invocation.config") for v in check_level(record, "most"))
    out = redact(record, "most")
    assert _secret(token) not in json.dumps(out)
    assert check_level(out, "most") == [] and redact(out, "most") == out
    assert {e["rule"] for e in out["redaction"]["scrubbed"]} == {rule}


def test_the_bot_apis_url_keeps_its_shape():
    text = "https://api.telegram.org/bot9877048297:Al4yX3M7Bfhkb88xSmNCbf5Kp0cbLieKgWr/sendMessage?chat_id=1"
    out, counts = Scrubber(_OWN).scrub(text)
    assert out == "https://api.telegram.org/bot<redacted:telegram_token>/sendMessage?chat_id=1"
    assert counts == {"telegram-bot-token": 1}


@pytest.mark.parametrize("text", [
    "xhooks.slack.com/services/TABCDEFGH/BABCDEFGH/aQIY4hnlnzxe9Sp9OJnnGSnj",  # another host
    "my-hooks.slack.com/services/TABCDEFGH/BABCDEFGH/aQIY4hnlnzxe9Sp9OJnnGSnj",
    "see hooks.slack.com/apps for the list", "https://hooks.slack.com/",  # no webhook path
    "123456789012:A" + "b" * 34, "1234567:A" + "b" * 34,  # digits not 8 to 10
    "7534404648:A" + "b" * 33, "7534404648:A" + "b" * 35, "7534404648:B" + "b" * 34,  # secret part not A + 34
    "x7534404648:A" + "b" * 34, "ts 12:30:45 Asia/Tokyo", "C:Anaconda3",
    "cmVmd" + "a1" * 29, "cmVmd" + "a1" * 30 + "b",  # 58 and 60 after the prefix
    "xcmVmd" + "Z9" * 29 + "q", "cmVmd" + "Z9" * 29 + "q_x", "cmVmd" + "Z9" * 29 + "-x" + "y" * 3,
])
def test_near_misses_of_the_token_forms_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


@pytest.mark.parametrize("text", load_json(_CASE / "input.json")["invocation"]["config"]["near_misses"])
def test_the_fixtures_near_misses_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


_TOKEN_CHARS = string.ascii_letters + string.digits + "_-"


@settings(max_examples=150, deadline=None)
@given(st.integers(10_000_000, 9_999_999_999), st.text(_TOKEN_CHARS, min_size=34, max_size=34),
       st.text(string.ascii_letters + string.digits, min_size=59, max_size=59),
       st.sampled_from(["", "http://", "https://"]), st.text(string.ascii_letters + string.digits + "/_-", min_size=8, max_size=40),
       st.sampled_from(_CONTEXTS))
def test_every_token_of_the_three_forms_is_hidden(bot, secret, reference, scheme, path, context):
    for token in (f"{bot}:A{secret}", f"cmVmd{reference}", f"{scheme}hooks.slack.com/services/T0/{path}"):
        text = context.format(token)
        out, counts = Scrubber(_OWN).scrub(text)
        assert _secret(token) not in out and len(counts) == 1
        assert Scrubber(_OWN).scrub(out) == (out, {})


# --- 4: a mapping of versions written as text ------------------------------------------------------------

_VERSION_TEXTS = [
    "versions: {cudnn: 9.1.0.70}",
    "versions: {cudnn: 9.1.0.70, tensorrt: 10.0.1.6}",
    json.dumps({"versions": {"cudnn": "8.9.2.26", "nccl": "2.18.3.1"}}),
    json.dumps(json.dumps({"versions": {"cudnn": "8.9.2.26"}})),  # JSON escaped inside a string
    str({"package_versions": {"cudnn": "9.1.0.70"}}),  # a Python dict in a message
    "libVersions={cublas=12.1.3.1, cudnn='9.1.0.70'}",
    'VERSIONS = {cudnn = "9.1.0.70"}',
    "env ok\nversions: {cudnn: 9.1.0.70}\nbye",
]


@pytest.mark.parametrize("text", _VERSION_TEXTS)
def test_four_part_versions_in_a_mapping_of_versions_as_text_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})
    assert Scrubber(_OWN).scrub(json.dumps({"log": text})) == (json.dumps({"log": text}), {})  # and after an escaped \n


@pytest.mark.parametrize("text", _VERSION_TEXTS)
def test_a_versions_mapping_as_text_passes_the_gate_in_every_field(text):
    record = _record(versions_text=text, json=json.dumps({"note": text}))
    record["invocation"]["argv"] = ["fit.py", "--versions", text]
    record["outcome"] = {"exit_code": 1, "error": {"type": "RuntimeError", "message": text}}
    out = redact(record, "most")
    assert out["invocation"]["config"] == record["invocation"]["config"]
    assert out["invocation"]["argv"] == record["invocation"]["argv"] and out["outcome"] == record["outcome"]
    assert check_level(out, "most") == [] and redact(out, "most") == out


@pytest.mark.parametrize("text, kept", [
    ("hosts: {db: 10.1.2.3}", "hosts: {db: <redacted:ipv4>}"),  # not a mapping of versions
    ("versions: {cudnn: 9.1.0.70} peer 10.1.2.3", "versions: {cudnn: 9.1.0.70} peer <redacted:ipv4>"),  # after it
    ("peer 10.1.2.3 versions: {cudnn: 9.1.0.70}", "peer <redacted:ipv4> versions: {cudnn: 9.1.0.70}"),  # before it
    ("versions: {cudnn 10.1.2.3}", "versions: {cudnn <redacted:ipv4>}"),  # not a value
    ("versions: {a: {b: 1}, cudnn: 10.1.2.3}", "versions: {a: {b: 1}, cudnn: <redacted:ipv4>}"),  # not flat
    ("versions: [10.1.2.3]", "versions: [<redacted:ipv4>]"),  # a list, not a mapping
    ('{"version_hosts": {"a": "10.1.2.3"}}', '{"version_hosts": {"a": "<redacted:ipv4>"}}'),
])
def test_an_address_outside_a_mapping_of_versions_is_hidden(text, kept):
    out, counts = Scrubber(_OWN).scrub(text)
    assert (out, counts) == (kept, {"ipv4": 1})
    out = redact(_record(note=text), "most")
    assert out["invocation"]["config"]["note"] == kept and check_level(out, "most") == []
    out["invocation"]["config"]["note"] = text
    assert [v.path for v in check_level(out, "most")] == ["$.invocation.config.note"], "the gate finds the address"


# --- 5: a list or mapping under a secret name in text ----------------------------------------------------

_CONTAINERS = [  # (text, what it becomes)
    ('{"password": ["s3cretAAA1","s3cretBBB2"]}', '{"password": "<redacted:password>"}'),
    ("{'password': ['s3cretAAA1', 's3cretBBB2']}", "{'password': '<redacted:password>'}"),
    ("password: [s3cretAAA1, s3cretBBB2]", "password: <redacted:password>"),
    ("password:[s3cretAAA1,s3cretBBB2]", "password:<redacted:password>"),
    ("--api-token [s3cretAAA1, s3cretBBB2] --lr 0.1", "--api-token <redacted:token> --lr 0.1"),
    ('{"api_key": {"primary": "s3cretAAA1", "backup": "s3cretBBB2"}, "lr": 0.1}', '{"api_key": "<redacted:api_key>", "lr": 0.1}'),
    ("secret: {a: s3cretAAA1, b: s3cretBBB2}", "secret: <redacted:secret>"),
    ('{"credentials": [{"user": "u", "pass": "s3cretAAA1"}, {"user": "v", "pass": "s3cretBBB2"}]}',
     '{"credentials": "<redacted:credential>"}'),
    ('{"password": ["s3cret]AAA1", "s3cretBBB2"]}', '{"password": "<redacted:password>"}'),  # a bracket in an item
    ("password: [don't s3cretAAA1, s3cretBBB2]", "password: <redacted:password>"),  # an apostrophe in one
    ("DB_PASS = ['s3cretAAA1',\n 's3cretBBB2']", "DB_PASS = <redacted:password>"),  # over two lines
]


@pytest.mark.parametrize("text, expected", _CONTAINERS)
def test_a_list_or_mapping_under_a_secret_name_in_text_is_replaced_whole(text, expected):
    out, counts = Scrubber(_OWN).scrub(text)
    assert (out, counts) == (expected, {"secret-assignment": 1})
    assert Scrubber(_OWN).scrub(out) == (out, {})


@pytest.mark.parametrize("value", [["s3cretAAA1", "s3cretBBB2"], {"a": "s3cretAAA1", "b": "s3cretBBB2"}])
@pytest.mark.parametrize("key", ["password", "api_key", "clientSecret"])
def test_json_text_stays_json_with_the_marker_as_its_value(key, value):
    text = json.dumps({key: value, "lr": 0.1})
    out, _ = Scrubber(_OWN).scrub(text)
    assert json.loads(out)[key].startswith("<redacted:") and json.loads(out)["lr"] == 0.1
    escaped = json.dumps(text)  # and written into a string once more
    out, _ = Scrubber(_OWN).scrub(escaped)
    assert json.loads(json.loads(out))[key].startswith("<redacted:")


@pytest.mark.parametrize("text", [text for text, _ in _CONTAINERS])
def test_a_list_under_a_secret_name_is_hidden_in_every_field_and_the_gate_agrees(text):
    record = _record(cfg=text, json=json.dumps({"log": f"step 1\n{text}\nstep 2"}))
    record["invocation"]["argv"] = ["fit.py", text, "--cfg", text]
    record["outcome"] = {"exit_code": 1, "error": {"type": "RuntimeError", "message": f"bad config: {text}"}}
    assert check_level(record, "most")
    out = redact(record, "most")
    dumped = json.dumps(out)
    assert "s3cretAAA1" not in dumped and "s3cretBBB2" not in dumped
    assert check_level(out, "most") == [] and redact(out, "most") == out
    if text.startswith("{") and '"' in text:
        json.loads(out["invocation"]["config"]["cfg"])  # JSON text is still JSON


def test_a_key_after_a_json_escaped_break_is_judged_as_on_a_line_of_its_own():
    """``\\nDB_PASS`` glues the escape's ``n`` to the key (``nDB_PASS`` reads as a count, ``n_db_pass``): the
    list that runs over the next escaped break is judged whole, as the key on its own line names it."""
    text = json.dumps({"log": "step 1\nDB_PASS = ['s3cretAAA1',\n 's3cretBBB2']\nstep 2"})
    out, counts = Scrubber(_OWN).scrub(text)
    assert json.loads(out)["log"] == "step 1\nDB_PASS = <redacted:password>\nstep 2"
    assert counts == {"secret-assignment": 1} and (out, counts) == scrub_by_every_rule(Scrubber(_OWN), text)
    # an escaped backslash before the ``n`` is no break: the key is ``nDB_PASS`` there
    kept = json.dumps({"path": "C:\\nDB_PASS = [a1, b2]"})
    assert Scrubber(_OWN).scrub(kept) == (kept, {})


@pytest.mark.parametrize("text", [
    "auth_methods: [oauth, basic]",  # a setting's name
    "tokens: [BOS, EOS]", "special_tokens: ['<pad>', '<s>']",  # a tokenizer's
    "password: [true, false]", "token={}", "password: []", "secret: {min: 8, max: 12}",  # settings only
    '{"password": ["<redacted:password>"]}',  # markers
    "auth:[oauth]", "org/password:[a]",  # no space after the colon: only for the glued names
])
def test_lists_and_mappings_that_hold_settings_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


# --- laws over records holding these forms ---------------------------------------------------------------

_PIECES = ["versions: {", "hosts: {", "cudnn: ", '"cudnn": "', "9.1.0.70", "10.1.2.3", '"', "}", "{", ", ", "\\n",
           "password: [", '{"password": [', '"s3cretAAA1"', "s3cretBBB2", "]", ",", " ", "auth_methods: [", "oauth",
           "true", "hooks.slack.com/services/T0/B0/abcdefgh12", "https://", "x", "7534404648:A", "b" * 34, "b",
           "cmVmd", "Z9" * 29 + "q", ":", "=", "\\\"", "/bot", "api_key: {", "a: "]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_text_with_these_forms_scrubs_once_and_agrees_with_every_rule(text):
    assert_scrub_laws(_OWN, text)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=10).map("".join), min_size=1, max_size=3))
def test_records_with_these_forms_redact_once_and_pass_the_gate(texts):
    record = _record(notes=texts[0], json=json.dumps({"log": texts}), **{f"k{i}": t for i, t in enumerate(texts)})
    record["invocation"]["argv"] = ["fit.py", *texts]
    record["outcome"] = {"exit_code": 1, "error": {"type": "E", "message": texts[-1]}}
    once = redact(record, "most")
    assert redact(once, "most") == once
    assert check_level(once, "most") == []
