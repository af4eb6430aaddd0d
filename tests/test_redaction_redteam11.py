"""What the eleventh held-out red-team corpus of issue 13 found (``/work/scratch/redteam11``): six
classes of promised values left in clear, and shared folders taken for homes.

* a token glued to JSON's ``\\f`` or ``\\b`` escape inside text (``page\\fghp_...``);
* an IPv4 address kept as a "version" under a name that only holds the letters ``version``
  (``conversion_host``, ``subversion_server``, ``version_host``);
* glued names ending in ``pwd`` (``mysqlpwd``), and ``OLDPWD`` holding no path, as ``PWD``;
* ``path/password:X``, a ``key:value`` with no space after a ``/`` (kept only for a tag, a word or a list);
* ``<vendor>_tokens`` names (``hf_tokens``, ``GH_TOKENS``) as ``api_tokens``;
* ``/Users/Shared``, ``C:\\Users\\Public``, ``Default`` and ``All Users`` are nobody's home: kept.
"""

from __future__ import annotations

import copy

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_TOKEN = "ghp_nmwWk3Lq8ZpR2vT5yX7cB9dF1gH4jK6mN0Es"


def _scrub(text: str) -> str:
    return Scrubber(_OWN).scrub(text)[0]


@pytest.mark.parametrize("escape", ["\\f", "\\b", "\\u000c", "\\u0008", "\\n"])
@pytest.mark.parametrize("template", ["page{}{}", "{{\\\"log\\\": \\\"x{}{}\\\"}}", "a{}{} b"])
def test_a_token_glued_to_a_json_control_escape_is_hidden(escape, template):
    text = template.format(escape, _TOKEN)
    out = _scrub(text)
    assert _TOKEN not in out and "<redacted:github_token>" in out, out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["C:\\builds\\foo\\bar", "x\\\\fghp_not_a_token", "password=ab\\fcd"])
def test_backslash_f_and_b_elsewhere_change_nothing_new(text):
    out = _scrub(text)
    assert "ab\\fcd" not in out if text.startswith("password") else out == text


@pytest.mark.parametrize("key", ["conversion_host", "subversion_server", "version_host", "versioning_server",
                                 "diversion_ip", "version_server_ip"])
def test_an_address_under_a_name_that_only_holds_version_is_hidden(key):
    text = f"{key}: 10.20.1.5"
    assert _scrub(text) == f"{key}: <redacted:ipv4>"
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = {key: "10.20.1.5", "conversions": {"db": "10.1.2.3"}}
    out = redact(record, "most")
    assert out["invocation"]["config"] == {key: "<redacted:ipv4>", "conversions": {"db": "<redacted:ipv4>"}}
    assert check_level(out, "most") == [] and redact(out, "most") == out


@pytest.mark.parametrize("text", ["cudnn_version: 8.9.2.26", "driverVersion=535.104.05.1",
                                  "versions: {cudnn: 9.1.0.70}", "libVersions={cudnn: 9.1.0.70}",
                                  "--cudnn-version 9.1.0.70"])
def test_versions_under_version_names_stay(text):
    assert _scrub(text) == text


def test_versions_in_a_mapping_under_version_names_stay():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    config = {"version_number": "9.1.0.70", "cudnnVersion": "8.9.2.26", "package_versions": {"db": "9.1.0.70"}}
    record["invocation"]["config"] = config
    out = redact(record, "most")
    assert out["invocation"]["config"] == config and check_level(out, "most") == []


@pytest.mark.parametrize(("text", "hidden"), [
    ("mysqlpwd=Nm2Val14q8Z", "Nm2Val14q8Z"), ('{"mysqlpwd": "Nm2Val14q8Z"}', "Nm2Val14q8Z"),
    ("OLDPWD=OldPwdPw6zz", "OldPwdPw6zz"), ("mysql/password:SlashPw4zz", "SlashPw4zz"),
    ("GH_TOKENS=GhToks3zz", "GhToks3zz"), ('{"hf_tokens": "HfToks1zz"}', "HfToks1zz"),
    ("--github-tokens GhToks3zz", "GhToks3zz"),
])
def test_promised_names_and_forms_hide_their_values(text, hidden):
    out = _scrub(text)
    assert hidden not in out and "<redacted:" in out, out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["OLDPWD=/opt/proj", "https://host/password:reset", "org/token:1.2-slim",
                                  "org/auth:latest", "org/password:[a]", 'stop_tokens=["a"]', "special_tokens=[PAD]",
                                  "max_new_tokens=512", "tokens=[1, 2]", "cwd=/tmp/x"])
def test_settings_paths_and_tokenizer_names_stay(text):
    assert _scrub(text) == text


@pytest.mark.parametrize("path", ["/Users/Shared/datasets/coco", "C:\\Users\\Public\\data\\x.csv", "c:\\users\\public\\x",
                                  "C:\\Users\\Default\\AppData\\x", "C:\\Documents and Settings\\All Users\\x",
                                  "/mnt/c/Users/Public/x", "~1Users~1Shared~1x", "\\/Users\\/Shared\\/x"])
def test_shared_folders_below_users_are_nobodys_home(path):
    assert _scrub(path) == path


@pytest.mark.parametrize(("path", "out"), [("/Users/Publicity/x", "~/x"), ("C:\\Users\\Shareduser\\x", "~\\x"),
                                           ("/Users/alice/x", "~/x")])
def test_homes_that_only_begin_like_a_shared_folder_are_still_homes(path, out):
    assert _scrub(path) == out


def test_the_gate_refuses_each_form_left_in_clear():
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = {"mysqlpwd": "Nm2Val14q8Z", "hf_tokens": "HfToks1zz", "conversion_host": "10.20.1.5",
                                      "log": "page\\f" + _TOKEN, "s": "mysql/password:SlashPw4zz"}
    out = redact(record, "most")
    assert check_level(out, "most") == [] and redact(out, "most") == out
    for key, value in record["invocation"]["config"].items():
        forged = copy.deepcopy(out)
        forged["invocation"]["config"][key] = value
        assert check_level(forged, "most"), key
