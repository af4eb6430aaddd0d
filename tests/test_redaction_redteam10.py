"""What the tenth held-out red-team corpus of issue 13 found: an e-mail address whose domain is an address
literal (``anna.berg@[10.1.2.3]``, RFC 5321) kept its local part. Of its ambiguous cases, the abbreviated
secret names ``priv_key``, ``privkey``, ``authkey`` (``TS_AUTHKEY``) and ``creds`` now name secrets."""

from __future__ import annotations

import copy

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}


def _scrub(text: str) -> str:
    return Scrubber(_OWN).scrub(text)[0]


@pytest.mark.parametrize("address", ["anna.berg@[10.1.2.3]", "anna@[IPv6:2001:db8::1]", "ops+x@[192.168.0.9]"])
@pytest.mark.parametrize("template", ["{}", "Author <{}>", '{{"by": "{}"}}', "mail {} now"])
def test_an_e_mail_address_with_an_address_literal_is_hidden_whole(address, template):
    text = template.format(address)
    out = _scrub(text)
    assert "<redacted:email>" in out and address.split("@")[0] not in out, out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["a@[x]", "list[0]@[1]", "keys@[]", "git@[10.0.0.1]"])
def test_brackets_after_an_at_that_are_no_address_stay_or_lose_only_the_address(text):
    assert "<redacted:email>" not in _scrub(text)


@pytest.mark.parametrize("name", ["priv_key", "privkey", "PRIV_KEY", "TS_AUTHKEY", "authKey", "auth_key", "creds", "DB_CREDS"])
@pytest.mark.parametrize("form", ["{}=Zq81xQ7", "{}: Zq81xQ7", '{{"{}": "Zq81xQ7"}}'])
def test_abbreviated_secret_names_hide_their_values(name, form):
    text = form.format(name)
    assert "Zq81xQ7" not in _scrub(text)
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["auth_key_length=32", "private_key_path=/etc/k.pem", "creds_file=/etc/creds.json"])
def test_settings_under_those_names_stay(text):
    assert _scrub(text) == text


def test_the_gate_refuses_them_and_accepts_their_redaction():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["extra"] = {"by": "Author <anna.berg@[10.1.2.3]>"}
    record["invocation"]["config"] = {"priv_key": "Zq81xQ7", "creds": "Zq81xQ8"}
    out = redact(record, "most")
    assert check_level(out, "most") == [] and redact(out, "most") == out
    assert "anna.berg" not in str(out) and "Zq81xQ" not in str(out)
    forged = copy.deepcopy(out)
    forged["extra"] = record["extra"]
    assert check_level(forged, "most")
