"""What the ninth held-out red-team corpus of issue 13 found: JSON written into a string with escapes other
than ``\\n``, ``\\t`` and ``\\"`` hid what the rules read (``\\u000a`` before a token, ``\\/`` in a Slack webhook, a
Telegram URL or URL credentials, ``\\u00fc`` in an e-mail address or a Windows home as ``json.dumps`` writes
them); a Windows program's ``/password:X`` flag was kept; two quotes left open in one command line
(``--password "X --lr 1 --token "Y``) were read as one quoted value, leaving ``Y``; and a Bot API URL whose
token was not of the usual length kept it. It also showed loopback and "any" addresses (``127.0.0.1``,
``0.0.0.0``, ``::1``) hidden, though they name no machine: they now stay."""

from __future__ import annotations

import copy
import json

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_GHP = "ghp_Zx85Qw7Ep0Lk3Mn5Bv2Cx9Za4Sd6Fg8Hj1Kl"
_WEBHOOK = "hooks.slack.com/services/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"


def _scrub(text: str) -> str:
    return Scrubber(_OWN).scrub(text)[0]


@pytest.mark.parametrize("escape", ["\\u000a", "\\u000A", "\\u0009", "\\u000d"])
@pytest.mark.parametrize("token", [_GHP, "glpat-Rt9aBcDeFgHiJkLmNoPq", "npm_Rt9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456"])
def test_a_token_after_a_unicode_escaped_line_break_is_hidden(escape, token):
    text = '{"log": "step 1' + escape + token + '"}'
    out = _scrub(text)
    assert token not in out and "<redacted:" in out, out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize(("value", "secret"), [
    (f"https://{_WEBHOOK}", "Rt9eBcDeFgHiJkLmNoPqRsTu"),
    (_WEBHOOK, "Rt9eBcDeFgHiJkLmNoPqRsTu"),
    ("https://api.telegram.org/bot7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1/sendMessage", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"),
    ("ftp://anon:Rt9s3cr3tZqFT@10.41.4.4/x", "Rt9s3cr3tZqFT"),
    ("https://u:Rt9s3cr3tZqFT@example.org/x", "Rt9s3cr3tZqFT"),
    ("/home/bjensen/x", "bjensen"),
    ("/mnt/c/Users/Jan Rt9wsl/x", "Rt9wsl"),
])
def test_json_text_with_escaped_slashes_is_read_as_with_plain_ones(value, secret):
    text = json.dumps({"v": value}).replace("/", "\\/")
    assert secret not in _scrub(json.dumps({"v": value}))  # the same value unescaped, for reference
    out = _scrub(text)
    assert secret not in out, out
    assert "/" not in out.replace("\\/", ""), "written back with its slashes escaped"
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize(("value", "gone"), [
    ("jürgen.rt9@exämple.de", "rt9"),
    ("C:\\Users\\Jürgen Müllerrt9\\proj", "Müllerrt9"),
    ("mail 😀 bob@example.org", "bob"),
    ("bob@example.org", "bob"),
])
def test_json_text_with_unicode_escapes_is_read_as_with_the_characters(value, gone):
    text = json.dumps({"v": value})  # ensure_ascii: ``\u00fc``, a pair for the emoji
    out = _scrub(text)
    assert gone not in json.loads(out)["v"] and "M\\u00fcller" not in out, out
    assert out.isascii(), "written back with the same escapes"
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", [json.dumps({"name": "Ünïcode ok 😀", "p": "/a/b"}), '{"a": "\\/x"}',
                                  "x\\\\u00fc", "\\\\/home\\\\/bob", "lone \\ud83d surrogate", "C:\\users\\alice\\x"])
def test_escapes_that_hide_nothing_leave_the_text_as_it_was(text):
    out = _scrub(text)
    assert out == text or out == "~\\x"


@pytest.mark.parametrize("text", ["/password:Rt9s3cr3tZqAV1", "/PASSWORD=Rt9s3cr3tZqAV1", 'run("/token:Rt9s3cr3tZqAV1")',
                                  "setup.exe /q /password:Rt9s3cr3tZqAV1"])
def test_a_windows_flag_naming_a_secret_hides_its_value(text):
    out = _scrub(text)
    assert "Rt9s3cr3tZqAV1" not in out and "<redacted:" in out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["https://host/password:reset", "/api/password:change", "org/auth:latest", "/out:dir",
                                  "C:/data/token:x"])
def test_paths_ending_in_a_secret_name_stay(text):
    assert _scrub(text) == text


def test_argv_with_a_windows_flag_is_hidden():
    out, counts = Scrubber(_OWN).scrub_argv(["train.py", "/password:Rt9s3cr3tZqAV1", "/out:dir"])
    assert out == ["train.py", "/password:<redacted:password>", "/out:dir"] and counts


@pytest.mark.parametrize(("text", "expected"), [
    ('run --password "X1secret --lr 1 --token "X2secret', "run --password <redacted:password> --lr 1 --token <redacted:token>"),
    ('--password "my secret phrase" --lr 1', "--password <redacted:password> --lr 1"),
    ("--password 'a -b' --c", "--password <redacted:password> --c"),  # closed: a value that holds " -b"
])
def test_two_quotes_left_open_are_two_values(text, expected):
    assert _scrub(text) == expected
    assert_scrub_laws(_OWN, text)


def test_a_bot_api_url_hides_its_token_whatever_its_length():
    text = "https://api.telegram.org/bot7123456789:AAHRt9aBcDeFgHiJkLmNoPqRsTuVwXyZ0123/sendMessage"
    assert _scrub(text) == "https://api.telegram.org/bot<redacted:telegram_token>/sendMessage"
    assert_scrub_laws(_OWN, text)


def test_the_gate_refuses_the_new_forms_and_accepts_their_redaction():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["extra"] = {"a": '{"log": "step 1\\u000a' + _GHP + '"}',
                       "b": json.dumps({"hook": f"https://{_WEBHOOK}"}).replace("/", "\\/"),
                       "c": json.dumps({"owner": "jürgen.rt9@exämple.de"}),
                       "d": 'run --password "X1secret --lr 1 --token "X2secret'}
    record["invocation"]["argv"] = ["train.py", "/password:Rt9s3cr3tZqAV1"]
    out = redact(record, "most")
    assert check_level(out, "most") == [] and redact(out, "most") == out
    for secret in (_GHP, "Rt9eBcDeFgHiJkLmNoPqRsTu", "rt9@", "X2secret", "Rt9s3cr3tZqAV1"):
        assert secret not in json.dumps(out, ensure_ascii=False), secret
    for key, value in record["extra"].items():
        forged = copy.deepcopy(out)
        forged["extra"][key] = value
        assert check_level(forged, "most"), key
    forged = copy.deepcopy(out)
    forged["invocation"]["argv"] = record["invocation"]["argv"]
    assert check_level(forged, "most")


@pytest.mark.parametrize("text", ["http://127.0.0.1:8080/x", "bind 0.0.0.0:80", "[::1]:8080", "127.0.1.1 localhost",
                                  "MASTER_ADDR=127.0.0.1"])
def test_loopback_and_any_addresses_stay(text):
    assert _scrub(text) == text


@pytest.mark.parametrize("text", ["10.0.0.1", "0.0.0.1", "fe80::1", "2001:db8::7", "128.0.0.1"])
def test_other_addresses_are_still_hidden(text):
    assert _scrub(text).startswith("<redacted:ip")


@pytest.mark.parametrize("text", ["10-41-7-18.default.pod.cluster.local", "curl http://10-41-7-18.ml.pod.cluster.local:8080/x"])
def test_the_address_in_a_kubernetes_pod_name_is_hidden(text):
    out = _scrub(text)
    assert "10-41-7-18" not in out and ("<redacted:ipv4>.default.pod" in out or "<redacted:ipv4>.ml.pod" in out)
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["1-2-3-4.pod.x", "2024-01-02-03.default.pod.x", "v1-2-3-4.ns.pod.cluster.local",
                                  "10-41-7-18.default.svc"])
def test_dashed_numbers_outside_a_pod_name_stay(text):
    assert _scrub(text) == text
