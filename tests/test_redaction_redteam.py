"""Redaction against a held-out red-team corpus (issue 13, second round): each test names a form that
leaked or was over-scrubbed, with cases other than the fixtures' (``fixtures/redact/redteam-*``)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.cli import cli as main
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.operations.secretnames import secret_kind

from helpers import FIXTURES, load_json

_ROOT = {"user": "root", "home": "/root", "host": "blackbox9"}
_OWN = {"user": "qzhang", "home": "/home/qzhang", "host": "hpc-gpu-12.cluster.example.org"}
_PLAIN = {"user": "model", "home": "/home/model", "host": "train"}


@pytest.mark.parametrize("text, expected", [
    # URL credentials come before the record's home: user root, home /root
    ("mysql://root:Sq1pw@db:3306/a", "mysql://<redacted:credentials>@db:3306/a"),
    ("amqp://root:Sq1pw@mq/vh", "amqp://<redacted:credentials>@mq/vh"),
    ("https://root:Sq1pw@git.example.com/r.git", "https://<redacted:credentials>@git.example.com/r.git"),
    ("http://root/x", "http://root/x"),
    ("file:///root/ckpt", "file:///~/ckpt"),
    ("pkg @ file:///root/src/pkg", "pkg @ file:///~/src/pkg"),
    ("/root/ckpt", "~/ckpt"),
    # root's home in JSON pointers
    ("/cfg~1root~1a.yaml: <function>", "/cfg~0~1a.yaml: <function>"),
    ("/~1root~1cache~1shard-02", "/~0~1cache~1shard-02"),
    ("/~1rootfs~1x", "/~1rootfs~1x"),
])
def test_the_home_root_leaves_urls_and_pointers_well_formed(text, expected):
    assert Scrubber(_ROOT).scrub(text)[0] == expected


def test_a_home_that_is_no_home_folder_goes_in_pointers_and_urls_too():
    scrubber = Scrubber({"user": "svc", "home": "/var/lib/svc"})
    assert scrubber.scrub("file:///var/lib/svc/m.pt")[0] == "file:///~/m.pt"
    assert scrubber.scrub("/config~1var~1lib~1svc~1cfg.yaml")[0] == "/config~0~1cfg.yaml"
    assert scrubber.scrub("/config~1var~1lib~1svcs~1x")[0] == "/config~1var~1lib~1svcs~1x"


@pytest.mark.parametrize("text, gone, kept", [
    ("GET https://api.telegram.org/bot123456789:AAbcdefghijklmnopqrstuvwxyz01234567/getMe", "AAbcdefg",
     "https://api.telegram.org/bot<redacted:telegram_token>/getMe"),
    ("token:Sq1pw-abc", "Sq1pw", "token:<redacted:token>"),
    ("DB_PASSWORD:Sq1pw", "Sq1pw", "DB_PASSWORD:<redacted:password>"),
    ("--client-secret:Sq1pw", "Sq1pw", "--client-secret:<redacted:secret>"),
    ("{'token' => \"Sq1pw\"}", "Sq1pw", "{'token' => \"<redacted:token>\"}"),
    ("secret => Sq1pw", "Sq1pw", "secret => <redacted:secret>"),
    ("<config><apiKey>Sq1pw</apiKey></config>", "Sq1pw", "<apiKey><redacted:api_key></apiKey>"),
    ('body={\\"password\\":\\"Sq1pw\\"}', "Sq1pw", '{\\"password\\":\\"<redacted:password>\\"}'),
])
def test_secret_forms_inside_text(text, gone, kept):
    out = Scrubber(_OWN).scrub(text)[0]
    assert gone not in out and kept in out, out


@pytest.mark.parametrize("text", [
    "AuthorizationError: not allowed", "TokenExpiredError: renew", "org/auth:latest", "registry/secret:v2",
    "--password-file /run/secrets/db", "password_file=/run/secrets/db", "ssh_key_path: /etc/ssh/id", "token_dir=/var/tok",
    "monkey:banana", "key:value", "cuda:0", "<name>model</name>", "<password></password>",
    "pk_live_S6pX3AI98ODhYLAO05xD5lzT",  # Stripe publishable keys are public by design
])
def test_values_that_are_no_secrets_stay(text):
    assert Scrubber(_OWN).scrub(text)[0] == text


@pytest.mark.parametrize("name", ["pAsSwOrD", "PaSsWd", "pswd", "DB_PSWD", "api_keys", "secrets", "access_tokens",
                                  "private_keys", "sEcReT_kEy"])
def test_secret_names_in_odd_case_abbreviated_and_plural(name):
    assert secret_kind(name) is not None


@pytest.mark.parametrize("name", ["tokens", "num_tokens", "special_tokens", "sort_keys", "keys", "password_file",
                                  "tokenPath", "secret_dir", "AuthorizationError", "compass_words", "pAsSwOrD_file"])
def test_names_that_stay_ordinary(name):
    assert secret_kind(name) is None


@pytest.mark.parametrize("text, expected", [
    ("/mnt/d/Users/Li Wei Chen/data/x.csv", "/mnt/d/Users/<user>/data/x.csv"),
    ("D:/Users/Li Wei/x", "~/x"),
    ("d:\\users\\Li Wei\\x", "~\\x"),
    ("C:\\USERS\\liwei\\x", "~\\x"),
    ("C:\\Documents and Settings\\Li Wei\\Desktop", "~\\Desktop"),
    ("see /Users/x and then /tmp/y", "see ~ and then /tmp/y"),
])
def test_windows_homes_in_every_spelling(text, expected):
    assert Scrubber(_OWN).scrub(text)[0] == expected


@pytest.mark.parametrize("text, expected", [
    ("qzhang-sweep-3", "<user>-sweep-3"), ("qzhang.log", "<user>.log"), ("run_qzhang_7", "run_<user>_7"),
    ("QZHANG approved", "<user> approved"), ("Qzhang ran it", "<user> ran it"), ("qzhang2", "qzhang2"),
    ("sweep-hpc-gpu-12-B", "sweep-<host>-B"), ("hpc-gpu-12.log", "<host>.log"), ("hpc-gpu-123", "hpc-gpu-123"),
    ("hpc-gpu-12.cluster.example.org:29500", "<host>:29500"),
])
def test_distinctive_names_are_replaced_when_glued_by_punctuation(text, expected):
    assert Scrubber(_OWN).scrub(text)[0] == expected


@pytest.mark.parametrize("text, expected", [
    ("/model/ckpt", "/model/ckpt"), ("model loader", "model loader"), ("model", "model"), ("model.pt", "model.pt"),
    ("owner=model", "owner=<user>"), ("model@train", "<user>@<host>"), ("~model/x", "~<user>/x"),
    ("train:0", "train:0"), ("train:7", "train:7"), ("train:18-alpine", "train:18-alpine"), ("train:70000", "train:70000"),
    ("train:29500", "<host>:29500"), ("MASTER_ADDR=train", "MASTER_ADDR=<host>"), ("master_address: train", "master_address: <host>"),
    ("train.py", "train.py"), ("split: train", "split: train"),
])
def test_plain_word_names_only_where_they_name_a_host_or_user(text, expected):
    assert Scrubber(_PLAIN).scrub(text)[0] == expected


@pytest.mark.parametrize("text", ["build: 2.1.0.1", "release=1.10.2.3", "TRT_BUILD 8.6.1.6"])
def test_four_part_versions_under_build_and_release_stay(text):
    assert Scrubber(_OWN).scrub(text)[0] == text


def test_four_part_versions_under_build_and_release_keys_stay():
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record["invocation"]["config"] = {"build": "2.1.0.1", "release": "1.10.2.3", "server": "10.1.2.3"}
    config = redact(record, "most")["invocation"]["config"]
    assert config == {"build": "2.1.0.1", "release": "1.10.2.3", "server": "<redacted:ipv4>"}


def test_a_naming_flag_makes_its_next_argument_a_name():
    scrubber = Scrubber(_PLAIN)
    out, counts = scrubber.scrub_argv(["train.py", "--host", "train", "--split", "train", "--user", "model", "--model", "model"])
    assert out == ["train.py", "--host", "<host>", "--split", "train", "--user", "<user>", "--model", "model"]
    assert counts == {"record-host": 1, "record-user": 1}


def test_redact_replaces_a_plain_host_after_its_flag():
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record["host"]["hostname"] = "train"
    record["invocation"]["argv"] = ["fit.py", "--hostname", "train"]
    once = redact(record, "most")
    assert once["invocation"]["argv"] == ["fit.py", "--hostname", "<host>"]
    assert check_level(once, "most") == []


# --- laws on the new forms ------------------------------------------------------------------------------

_FRAGMENTS = st.sampled_from([
    "password:Sq1pw", "api_key:Sq1pw", "--api-key:Sq1pw", "token => 'Sq1pw'", "<password>Sq1pw</password>",
    '{\\"api_key\\": \\"Sq1pw\\"}', "https://api.telegram.org/bot123456789:AAbcdefghijklmnopqrstuvwxyz01234567/x",
    "mysql://root:Sq1pw@db/a", "file:///root/x", "file:///home/qzhang/x", "/~1root~1x", "~1home~1qzhang~1x",
    "C:/Users/Li Wei/x", "c:\\users\\Li Wei\\x", "/mnt/c/Users/Li Wei/x", "qzhang-sweep", "QZHANG", "sweep-hpc-gpu-12-A",
    "MASTER_ADDR=train", "train:8080", "train.py", "model@train", "AuthorizationError: no", "--password-file /x",
    " ", ":", "/", "=", "\\", "~1", "root", "<user>", "<redacted:password>",
])


@settings(max_examples=300, deadline=None)
@given(st.lists(_FRAGMENTS, min_size=1, max_size=5).map("".join))
def test_scrubbing_the_new_forms_settles_and_satisfies_the_gate(text):
    for ids in (_ROOT, _OWN, _PLAIN):
        scrubber = Scrubber(ids)
        once = scrubber.scrub(text)[0]
        assert scrubber.scrub(once)[0] == once
        assert scrubber.detect(once) == []


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["pAsSwOrD", "api_keys", "secrets", "note", "password_file", "pswd", "x"]),
                       st.lists(_FRAGMENTS, min_size=1, max_size=3).map("".join), max_size=4))
def test_laws_hold_on_records_with_the_new_forms(config):
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record.pop("redaction", None)
    record["host"].update(hostname="train", user="model", home="/root")
    record["invocation"]["config"] = config
    record["invocation"]["argv"] = ["fit.py", "--host", "train", *config.values()]
    for level in ("most", "all"):
        once = redact(record, level)
        assert redact(once, level) == once
        assert check_level(once, level) == []


# --- duplicate keys: redact never writes one, embedded records are checked -------------------------------

_TOKEN = "ghp_abcdefghijklmnopqrstuvwxyz0123456789"


def _redacted_text() -> str:
    record = redact(load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json"), "most")
    record.pop("extra", None)  # the cases write their own
    return json.dumps(record, indent=2)


@pytest.mark.parametrize("where, key", [
    ('"extra": {"note": "pushed ' + _TOKEN + '", "note": "ok"}', "note"),
    ('"extra": {"\\u006eote": "pushed ' + _TOKEN + '", "note": "ok"}', "note"),
    ('"extra": {"a": {"b": [{"k": "x@example.org", "k": 1}]}}', "k"),
])
def test_redact_refuses_a_record_with_a_duplicate_key(tmp_path, where, key):
    text = _redacted_text()
    source = tmp_path / "in" / "dup.json"
    source.parent.mkdir()
    source.write_text(text.rstrip()[:-1].rstrip() + ",\n  " + where + "\n}\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["redact", "--level", "most", "-o", str(out), str(source)])
    assert result.exit_code != 0
    assert f"duplicate key {key!r}" in result.output and "$.extra" in result.output
    assert not (out / "dup.json").exists()
    assert _TOKEN not in "".join(p.read_text() for p in out.rglob("*") if p.is_file()) if out.exists() else True


def test_embedded_records_with_a_duplicate_key_are_findings(tmp_path):
    item = json.dumps(json.loads(_redacted_text()))
    item = item[:-1] + ', "extra": {"k": "' + _TOKEN + '", "k": "fine"}}'
    document = tmp_path / "res.kwcoco.json"
    document.write_text('{"info": [' + item + '], "images": [], "annotations": [], "categories": []}')
    runner = CliRunner()
    result = runner.invoke(main, ["validate", "--embedded", "--require-level", "most", str(document)])
    assert result.exit_code != 0
    assert "duplicate key 'k'" in result.output and "$.info[0].extra" in result.output
    out = tmp_path / "out"
    result = runner.invoke(main, ["redact", "--embedded", "--level", "most", "-o", str(out), str(document)])
    assert result.exit_code != 0 and "duplicate key 'k'" in result.output
    assert not (out / document.name).exists()
