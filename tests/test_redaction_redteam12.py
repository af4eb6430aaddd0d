"""What the twelfth held-out red-team corpus of issue 13 found (``/work/scratch/redteam12``):

* the record's own user or host name holding a ``.`` (``anna.nowak``, ``gpu.node.12``) was hidden only as
  written, not in capitals or capitalised; a name written with capitals (``Node-17b``) was not hidden in
  lower case. The README promises "lower, upper or capitalised form";
* ``bf16::add`` (a C++ or Rust name) was read as an IPv6 address: ``a::b`` with no digit after ``::``
  stays; ``fe80::1`` and any address of more groups are hidden;
* ``ssh://git@github.com/org/repo.git`` lost its service account to a credentials marker, while the scp
  form ``git@github.com:org/repo.git`` kept it: a repository host's ``git`` user with no password stays.
"""

from __future__ import annotations

import pytest

from procrecord.operations.scrub import Scrubber

from helpers import assert_scrub_laws

_DOTTED = {"home": "/home/anna.nowak", "user": "anna.nowak", "host": "gpu.node.12"}


@pytest.mark.parametrize(("text", "out"), [
    ("owner anna.nowak", "owner <user>"), ("owner ANNA.NOWAK", "owner <user>"), ("owner Anna.nowak", "owner <user>"),
    ("EXP_ANNA.NOWAK_3", "EXP_<user>_3"), ("on gpu.node.12", "on <host>"), ("on GPU.NODE.12", "on <host>"),
    ("on Gpu.node.12", "on <host>"),
])
def test_a_dotted_own_name_is_hidden_in_every_case(text, out):
    assert Scrubber(_DOTTED).scrub(text)[0] == out
    assert_scrub_laws(_DOTTED, text)


@pytest.mark.parametrize(("ids", "text", "out"), [
    ({"host": "Node-17b"}, "on node-17b", "on <host>"),
    ({"host": "Node-17b"}, "NODE-17B ok", "<host> ok"),
    ({"user": "o.brien-k"}, "by O.BRIEN-K", "by <user>"),
    ({"user": "MKowalski"}, "mkowalski-sweep-7", "<user>-sweep-7"),
])
def test_an_own_name_with_capitals_is_hidden_in_lower_case_too(ids, text, out):
    assert Scrubber(ids).scrub(text)[0] == out
    assert_scrub_laws(ids, text)


@pytest.mark.parametrize("text", ["anna.nowaks-x", "xanna.nowak", "gpu.node.123", "Node-17bx"])
def test_longer_words_that_hold_an_own_name_stay(text):
    ids = {"user": "anna.nowak", "host": "gpu.node.12"} if "node-17" not in text.lower() else {"host": "Node-17b"}
    assert Scrubber(ids).scrub(text)[0] == text


@pytest.mark.parametrize("url", ["ssh://git@github.com/org/repo.git", "git+ssh://git@github.com/org/pkg.git@v1.2",
                                 "ssh://git@gitlab.example.org:2222/group/repo"])
def test_a_repository_hosts_service_account_without_a_password_stays(url):
    assert Scrubber({"user": "jdoe"}).scrub(url)[0] == url


@pytest.mark.parametrize(("url", "out"), [
    ("https://git:tok3nZq81@github.com/x", "https://<redacted:credentials>@github.com/x"),
    ("ssh://alice@host/x", "ssh://<redacted:credentials>@host/x"),
])
def test_other_user_info_in_urls_is_still_hidden(url, out):
    assert Scrubber({"user": "jdoe"}).scrub(url)[0] == out


@pytest.mark.parametrize("text", ["bf16::add", "dead::beef", "torch::fa::dead", "at::Tensor", "cute::copy"])
def test_a_scoped_name_of_hex_letters_is_no_ipv6_address(text):
    assert Scrubber({"user": "jdoe"}).scrub(text)[0] == text


@pytest.mark.parametrize("text", ["fe80::1", "fd12::17", "2001:db8::cafe", "fe80::abcd:1", "ip:2001:db8::7"])
def test_ipv6_addresses_are_still_hidden(text):
    out = Scrubber({"user": "jdoe"}).scrub(text)[0]
    assert "<redacted:ipv6>" in out and text.split(":")[-1] not in out.split("<")[0]
