"""What the eighth held-out red-team corpus of issue 13 found: a bare value of a secret-named key ended at
the first quote, so the rest was kept (``password=b'X'``, ``password=ab'X``, ``--db-pass=pa"X``), and a value
opening a quote it never closes was kept whole (``password="X``, ``--password "X --lr 1``); a Windows home
whose name has five capitalised words lost only the first; the gate did not read the note's ``tool`` and
``tool_version``; an IPv4 address written with dashes in a cloud host name was kept
(``ip-172-31-9-88.ec2.internal``); and of a private key kept one line a list item (``f.readlines()``)
only the BEGIN line was hidden."""

from __future__ import annotations

import copy

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_SECRET = "Qz7Secret9"


def _scrub(text: str) -> str:
    return Scrubber(_OWN).scrub(text)[0]


@pytest.mark.parametrize("value", [f"b'{_SECRET}'", f'b"{_SECRET}"', f"u'{_SECRET}'", f'r"{_SECRET}"', f"f'{_SECRET}'",
                                   f"ab'{_SECRET}", f'pa"{_SECRET}', f"ab'{_SECRET}'", f"Qz7\\'{_SECRET}",
                                   f'"{_SECRET}', f"'{_SECRET}"])
@pytest.mark.parametrize("form", ["password={}", "DB_PASSWORD={}", "password: {}", "password:{}", "--db-pass={}",
                                  "--password {} --lr 1", "Conn(password={})", '{{"password": {}}}', ":password => {}",
                                  "fit.py --api-key {}"])
def test_a_quote_inside_or_opening_a_bare_value_does_not_end_it(form, value):
    text = form.format(value)
    out = _scrub(text)
    assert _SECRET not in out, out
    assert "<redacted:" in out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize(("text", "expected"), [
    ("Conn(password=b'Secret-A1')", "Conn(password=<redacted:password>')"),
    ('{"password": b"Secret-A3"}', '{"password": <redacted:password>"}'),
    ('password="Secret-B1', "password=<redacted:password>"),
    ('fit.py --password "Secret-B2 --lr 1', "fit.py --password <redacted:password> --lr 1"),
    # a quote that closes the text around the pair stays (nothing of the value follows it)
    ('"--password=abc" next', '"--password=<redacted:password>" next'),
    ("x = 'token=abc'", "x = 'token=<redacted:token>'"),
])
def test_what_stays_around_a_value_with_quotes(text, expected):
    assert _scrub(text) == expected


@pytest.mark.parametrize("text", ['cmd "auth_method=oauth" x', "use_auth='yes'", 'token_count=512"', "password=''",
                                  'password=""', "'password_min_length=12'", 'x "credential_provider=env"'])
def test_settings_next_to_quotes_stay(text):
    assert _scrub(text) == text


def test_argv_elements_with_quotes_in_the_value_are_hidden():
    argv = ['--password=ab"Secret-A5', '--password="Secret-B3', "--password=b'Secret-B4'", "--token", "ab'Secret-B5"]
    out, counts = Scrubber(_OWN).scrub_argv(argv)
    assert not any("Secret" in item for item in out), out
    assert counts


@pytest.mark.parametrize("home", ["C:\\Users\\Anna Maria De La Cruz", "C:/Users/Anna Maria De La Cruz",
                                  "/mnt/c/Users/Anna Maria De La Cruz", "/Users/Anna Maria De La Cruz Lopez Garcia"])
@pytest.mark.parametrize("template", ["{}", '"{}"', "{}, D:\\data", "({}); x", "{}{sep}data"])
def test_a_home_whose_name_has_more_than_four_words_loses_them_all(home, template):
    text = template.format(home, sep="\\" if "\\" in home else "/")
    out = _scrub(text)
    assert not any(word in out for word in ("Anna", "Maria", "Cruz", "Garcia")), out
    assert_scrub_laws(_OWN, text)


def test_the_gate_reads_the_notes_tool_and_version():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    out = redact(record, "most")
    assert check_level(out, "most") == []
    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    for name, value in (("tool_version", f"0.1.0 {token}"), ("tool", f"procrecord {token}"),
                        ("tool_version", "0.1.0 mail alice@example.org")):
        forged = copy.deepcopy(out)
        forged["redaction"][name] = value
        leaks = check_level(forged, "most")
        assert [leak.path for leak in leaks] == [f"$.redaction.{name}"], leaks
        again = redact(forged, "most")
        assert token not in str(again["redaction"]) and check_level(again, "most") == []
    kept = copy.deepcopy(out)
    kept["redaction"]["tool_version"] = "1.2.3.4"  # a four-part version is a version here, as elsewhere
    assert check_level(kept, "most") == []


def test_the_gate_refuses_the_new_forms_and_accepts_their_redaction():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = {"a": "Conn(password=b'Secret-A1')", "b": "password=abc'Secret-A2'",
                                      "c": 'password="Secret-B1', "d": "C:\\Users\\Anna Maria De La Cruz"}
    record["invocation"]["argv"] = ["fit.py", '--password=ab"Secret-A5', '--password="Secret-B3']
    out = redact(record, "most")
    assert check_level(out, "most") == [] and redact(out, "most") == out
    assert "Secret" not in str(out) and "Cruz" not in str(out)
    for key, value in record["invocation"]["config"].items():
        forged = copy.deepcopy(out)
        forged["invocation"]["config"][key] = value
        assert check_level(forged, "most"), key
    forged = copy.deepcopy(out)
    forged["invocation"]["argv"] = record["invocation"]["argv"]
    assert check_level(forged, "most")


def test_a_legacy_args_string_with_an_unclosed_quote_is_hidden():
    legacy = {"type": "process", "properties": {
        "name": "fit", "args": 'fit.py --password "Secret-E1 --lr 1', "config": {},
        "uuid": "6f1c2e3d-4b5a-4c6d-8e7f-0a1b2c3d4e5f", "extra": {}, "machine": None,
        "start_timestamp": "2026-11-26T143634+0", "stop_timestamp": "2026-11-26T143636+0", "duration": "0:00:02"}}
    assert check_level(legacy, "most")
    out = redact(upgrade(legacy, current_version()), "most")
    assert "Secret-E1" not in str(out) and check_level(out, "most") == []


@pytest.mark.parametrize("text", ["ip-172-31-9-88.ec2.internal", "ip-10-0-0-1", "IP-192-168-1-20", "host ip-10-1-2-3 down",
                                  '{"node": "ip-172-31-9-88.us-west-2.compute.internal"}', "ssh ubuntu@ip-10-0-0-1"])
def test_an_ipv4_address_with_dashes_in_a_cloud_host_name_is_hidden(text):
    out = _scrub(text)
    assert "<redacted:ipv4>" in out and not any(part in out for part in ("172-31", "10-0-0", "168-1", "10-1-2")), out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["ip-10-0-0", "ip-300-1-1-1", "ip-1-2-3-4-5", "skip-1-2-3-4", "vip-10-0-0-1",
                                  "ip-address", "strip-10-0-0-1", "ip-10-0-0-1a"])
def test_dashed_numbers_that_are_no_cloud_address_stay(text):
    assert _scrub(text) == text


_KEY_LINES = ["-----BEGIN RSA PRIVATE KEY-----", "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9OiJjRazXBZ1BjP5CE/Wm",
              "RTnqWWwVvWzsyLjZCuy7aDwXcbZCDtEs/1HlNqoAlFktSN71wTlzArEJYdQxktEe", "", "-----END RSA PRIVATE KEY-----"]


@pytest.mark.parametrize("lines", [_KEY_LINES, [line + "\n" for line in _KEY_LINES],
                                   [s.replace("RSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK") for s in _KEY_LINES]])
def test_a_private_key_kept_one_line_an_item_is_hidden_whole(lines):
    argv = ["before", *lines, "after", "--lr", "0.1"]
    out, counts = Scrubber(_OWN).scrub_argv(argv)
    assert out[0] == "before" and out[-3:] == ["after", "--lr", "0.1"]
    assert all(item.startswith("<redacted:private_key>") for item in out[1:-3]), out
    assert counts == {"private-key-block": len(lines)}
    assert Scrubber(_OWN).scrub_argv(out) == (out, {})


def test_a_private_key_cut_short_hides_every_item_after_its_begin_line():
    out, _ = Scrubber(_OWN).scrub_argv(["before", *_KEY_LINES[:3], "after"])
    assert out == ["before", *["<redacted:private_key>"] * 4]


def test_a_private_key_whole_in_one_item_hides_only_that_item():
    argv = ["-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXk -----END OPENSSH PRIVATE KEY-----", "keep", "me"]
    assert Scrubber(_OWN).scrub_argv(argv)[0] == ["<redacted:private_key>", "keep", "me"]


def test_the_gate_refuses_key_lines_and_accepts_their_redaction():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = {"key_lines": list(_KEY_LINES), "notes": ["a", "b"]}
    out = redact(record, "most")
    assert out["invocation"]["config"]["key_lines"] == ["<redacted:private_key>"] * len(_KEY_LINES)
    assert check_level(out, "most") == [] and redact(out, "most") == out
    forged = copy.deepcopy(out)
    forged["invocation"]["config"]["key_lines"] = list(_KEY_LINES)
    assert check_level(forged, "most")


@pytest.mark.parametrize("name", ["passcode", "pass_code", "passCode", "DB_PASSCODE", "--pass-code", "Passwort",
                                  "dbpasscode"])
@pytest.mark.parametrize("form", ["{}=Zq81xQ7", "{}: Zq81xQ7", '{{"{}": "Zq81xQ7"}}'])
def test_a_passcode_is_a_password(name, form):
    text = form.format(name) if not name.startswith("--") else f"{name} Zq81xQ7"
    assert "Zq81xQ7" not in _scrub(text)
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["passcode_length=6", "min_passcode_len: 4", "bypass_code=B12"])
def test_passcode_settings_stay(text):
    assert _scrub(text) == text


@pytest.mark.parametrize(("text", "expected"), [
    # read as the same text with ``/`` (a home at the start of a path is ``~``), written back escaped
    ('{"p": "\\/home\\/bjensen\\/x"}', '{"p": "~\\/x"}'),
    ("\\/Users\\/Ana\\/data", "~\\/data"),
    ("\\/mnt\\/nfs\\/home\\/bob\\/d", "\\/mnt\\/nfs\\/home\\/<user>\\/d"),
    ("\\/root\\/x", "~\\/x"),
    # where ``/`` is also written unescaped, the escaped home keeps its shape
    ('{"a": "/data", "p": "\\/home\\/bjensen\\/x"}', '{"a": "/data", "p": "\\/home\\/<user>\\/x"}'),
    ("/opt \\/Users\\/Ana\\/data", "/opt \\/Users\\/<user>\\/data"),
])
def test_a_home_in_json_with_escaped_slashes_loses_its_name(text, expected):
    assert _scrub(text) == expected
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["x\\/rooted", "a\\/root\\/b", "\\/homes\\/x", "\\/data\\/home"])
def test_escaped_paths_that_are_no_home_stay(text):
    assert _scrub(text) == text
