"""What the seventh held-out red-team corpus of issue 13 found: a Telegram bot token or an IPv6 address glued
to a name by a colon (``bot:123456789:A...``, ``ip:2001:db8::7``) was kept, and a home whose user name has a
space lost only its first word where no separator followed it (``C:\\Users\\Jane Roe`` became ``~ Roe``)."""

from __future__ import annotations

import copy

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_TELEGRAM = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw1"


def _scrub(text: str) -> str:
    return Scrubber(_OWN).scrub(text)[0]


@pytest.mark.parametrize("name", ["x", "telegram", "bot", "TG", "a", "cfg:x", "TELEGRAM_TOKEN_ID"])
@pytest.mark.parametrize("template", ["{}", "note {} done", '{{"v": "{}"}}'])
def test_a_telegram_token_glued_to_a_name_by_a_colon_is_hidden(name, template):
    text = template.format(f"{name}:{_TELEGRAM}")
    out = _scrub(text)
    assert _TELEGRAM not in out and f"{name}:<redacted:telegram_token>" in out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("address", ["2001:db8:4:5::8a2e:370:7334", "fd12:3456:789a:1::17", "fe80::1"])
@pytest.mark.parametrize("name", ["ip", "MASTER_ADDR", "host", "addr", "listen", "x", "node"])
def test_an_ipv6_address_glued_to_a_name_by_a_colon_is_hidden(name, address):
    text = f"{name}:{address}"
    assert _scrub(text) == f"{name}:<redacted:ipv6>"
    assert_scrub_laws(_OWN, f"export {text}; run")


@pytest.mark.parametrize("text", ["12:30:45", "at 12:30:45.5", "aa:bb:cc:dd:ee:ff", "ab:cd:ef", "std::vector::size",
                                  "sha256:deadbeef", "fe:2001:db8"])
def test_colon_groups_that_are_no_address_stay(text):
    assert _scrub(text) == text


@pytest.mark.parametrize("home", ["C:\\Users\\Jane Roe", "C:/Users/Jane Roe", "c:\\users\\Jane Roe",
                                  "C:\\Documents and Settings\\Jane Roe", "/mnt/c/Users/Jane Roe", "/Users/Jane Roe",
                                  "C:\\Users\\Ana Maria Costa"])
@pytest.mark.parametrize("template", ["{}", '"{}"', "'{}'", "{}\nnext line", "{}, D:\\data", "({}); x", "[{}]"])
def test_a_home_with_spaces_at_the_end_of_a_text_loses_every_word_of_the_name(home, template):
    text = template.format(home)
    out = _scrub(text)
    assert "Roe" not in out and "Jane" not in out and "Costa" not in out, out
    assert_scrub_laws(_OWN, text)


def test_a_home_with_spaces_in_json_text_loses_every_word_of_the_name():
    text = '{"path": "C:\\\\Users\\\\Jane Roe"}'
    assert _scrub(text) == '{"path": "~"}'


@pytest.mark.parametrize(("text", "expected"), [("C:\\Users\\jane ran the job", "~ ran the job"),
                                              ("cd /home/alice then", "cd ~ then")])
def test_words_after_a_home_that_are_not_capitalised_stay(text, expected):
    assert _scrub(text) == expected


def test_the_gate_refuses_the_new_forms_and_accepts_their_redaction():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = {"a": f"bot:{_TELEGRAM}", "b": "ip:2001:db8:4:5::8a2e:370:7334",
                                      "c": "C:\\Users\\Jane Roe"}
    out = redact(record, "most")
    assert check_level(out, "most") == []
    for key, value in record["invocation"]["config"].items():
        forged = copy.deepcopy(out)
        forged["invocation"]["config"][key] = value
        assert check_level(forged, "most"), key
