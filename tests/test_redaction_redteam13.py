"""What the thirteenth held-out red-team corpus of issue 13 found (``/work/scratch/redteam13``), and the
ambiguous forms it listed that a user sharing results would expect handled:

* the Bot API's URL with a token shorter than the usual form (``api.telegram.org/bot7012345678:AAHq2m8/...``)
  was left: the README promises the token "whatever its length" there (file downloads, ``/file/bot...``, too);
* a legacy ``args`` string split as a shell splits it: ``password: X`` became ``["password:", "X"]`` and X
  stayed; ``DB_PASSWORD="a b"`` became the one argument ``DB_PASSWORD=a b`` and ``b`` stayed. An argument
  that is a secret's name and its separator hides the next one; one that assigns a value with spaces to a
  secret's name hides all of it (the shell kept it together), unless a command follows the assignment
  (``sh -c "PGPASSWORD=x psql -h db"``);
* a Windows home before a closing bracket lost the bracket (``[C:\\Users\\Anna Nowak]`` became ``[~``), and
  one followed by prose left the surname (``C:\\Users\\Maria Kowalska and then`` became ``~ Kowalska ...``);
* YAML block scalars: ``password: |`` hid the ``|`` and left the block's lines;
* settings and references kept: YAML's null ``~``, the ARN of where a secret is kept; a PIN with a leading
  zero (``004271``) is no count and is hidden;
* names: Java's ``-storepass``/``-keypass``, a service's key (``KAGGLE_KEY``, ``WANDB_KEY``), ``cred``.
"""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}


@pytest.mark.parametrize("url", [
    "https://api.telegram.org/bot7012345678:AAHq2m8Lw9Rx/sendMessage",
    "https://api.telegram.org/bot81234567:AAq2Lw9/getUpdates",
    "api.telegram.org/bot9123456789:AAHshort9x/sendPhoto",
    "https://api.telegram.org/bot123456789:AAHq2m8Lw9Rx-zz_zz/sendMessage",
    "https://api.telegram.org/file/bot7012345678:AAHq2m8/photos/file_1.jpg",
])
def test_the_bot_apis_url_hides_its_token_whatever_its_length(url):
    out, counts = Scrubber(_OWN).scrub(url)
    assert "bot<redacted:telegram_token>/" in out and counts == {"telegram-bot-token": 1}
    assert "AAH" not in out and "AAq" not in out
    assert_scrub_laws(_OWN, url)


@pytest.mark.parametrize("url", ["https://api.telegram.org/bot/getMe", "https://example.org/bot12:ab/x",
                                 "https://core.telegram.org/bots/api"])
def test_other_urls_stay(url):
    assert Scrubber(_OWN).scrub(url)[0] == url


# --- argv: a secret's name and its separator; an assignment of a value with spaces --------------------------

@pytest.mark.parametrize(("argv", "out"), [
    (["fit.py", "password:", "Ls1Qm2Lw9Rx", "--lr", "1"], ["fit.py", "password:", "<redacted:password>", "--lr", "1"]),
    (["fit.py", "api_token:", "Ls2Qm2Lw9Rx"], ["fit.py", "api_token:", "<redacted:token>"]),
    (["fit.py", "DB_PASSWORD=", "Zz9q"], ["fit.py", "DB_PASSWORD=", "<redacted:password>"]),
    (["fit.py", "DB_PASSWORD=Ls3Qm2 Ls4Lw9Rx"], ["fit.py", "DB_PASSWORD=<redacted:password>"]),
    (["fit.py", "--secret=Ls5Qm2 Ls6Lw9Rx"], ["fit.py", "--secret=<redacted:secret>"]),
    (["fit.py", "--password=correct horse battery"], ["fit.py", "--password=<redacted:password>"]),
    (["fit.py", "--password=a\tb"], ["fit.py", "--password=<redacted:password>"]),
    # a command after an environment assignment: the value ends at the space, the command stays
    (["sh", "-c", "PGPASSWORD=Zq81 psql -h db"], ["sh", "-c", "PGPASSWORD=<redacted:password> psql -h db"]),
    (["sh", "-c", "API_TOKEN=Zq81 ./run.sh > log"], ["sh", "-c", "API_TOKEN=<redacted:token> ./run.sh > log"]),
    (["keytool", "-storepass", "Zz9s", "-keypass", "Yy8s"],
     ["keytool", "-storepass", "<redacted:password>", "-keypass", "<redacted:password>"]),
])
def test_argv_forms_hide_the_whole_value(argv, out):
    scrubber = Scrubber(_OWN)
    assert scrubber.scrub_argv(argv)[0] == out
    assert Scrubber(_OWN).scrub_argv(out) == (out, {})  # twice is once


@pytest.mark.parametrize("argv", [
    ["fit.py", "note:", "hello"], ["fit.py", "--sort_key=a b"], ["fit.py", "--password=env"],
    ["fit.py", "DB_PASSWORD=${X}", "y"], ["fit.py", "password:", "--lr", "1"], ["fit.py", "--password=$DB_PW"],
])
def test_argv_forms_that_hold_no_secret_stay(argv):
    assert Scrubber(_OWN).scrub_argv(argv)[0] == argv


def _legacy(args: str) -> dict:
    record = copy.deepcopy(load_json(FIXTURES / "0" / "valid" / "full-telemetry.json"))
    record["properties"]["args"] = args
    return record


@pytest.mark.parametrize(("args", "planted"), [
    ("python fit.py password: Ls1Qm2Lw9Rx --lr 1", ["Ls1Qm2Lw9Rx"]),
    ("python fit.py api_token: Ls2Qm2Lw9Rx", ["Ls2Qm2Lw9Rx"]),
    ('python fit.py DB_PASSWORD="Ls3Qm2 Ls4Lw9Rx" --lr 1', ["Ls3Qm2", "Ls4Lw9Rx"]),
    ("python fit.py --secret='Ls5Qm2 Ls6Lw9Rx'", ["Ls5Qm2", "Ls6Lw9Rx"]),
])
def test_a_legacy_args_string_hides_what_its_split_separates(args, planted):
    for record in (upgrade(_legacy(args)), _legacy(args)):
        out = redact(record, "most")
        text = repr(out)
        assert not any(value in text for value in planted), text
        assert "--lr" in text or "--lr" not in args
        assert redact(out, "most") == out and check_level(out, "most") == []


# --- Windows homes -----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "out"), [
    ("[C:\\Users\\Anna Nowak]", "[~]"), ("(C:\\Users\\Anna Nowak)", "(~)"), ("{C:\\Users\\Anna Nowak}", "{~}"),
    ("C:\\Users\\Anna Nowak, ok", "~, ok"), ("C:\\Users\\Maria Kowalska and then zipped", "~ and then zipped"),
    ("/mnt/c/Users/Jane Roe]", "/mnt/c/Users/<user>]"), ("/home/Jane Roe and more", "~ and more"),
    ("C:\\Users\\Anna Nowak\\data", "~\\data"), ("C:\\Users\\Anna Nowak", "~"),
])
def test_a_windows_home_with_spaces_keeps_what_follows_it(text, out):
    assert Scrubber(_OWN).scrub(text)[0] == out
    assert_scrub_laws(_OWN, text)


# --- YAML block scalars ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "out"), [
    ("password: |\n    Xsecret9\n    Ysecret8\nlr: 0.1", "password: <redacted:password>\nlr: 0.1"),
    ("cfg:\n  client_secret: >-\n    Xs9\n\n    Ys8\n  lr: 0.1\n", "cfg:\n  client_secret: <redacted:secret>\n  lr: 0.1\n"),
    ("password: |\\n    Xsecret9\\nlr: 0.1", "password: <redacted:password>\\nlr: 0.1"),  # JSON written into a string
    ("password: |\r\n  Zz9\r\nx: 1", "password: <redacted:password>\r\nx: 1"),
    ("api_key: |2-\n    Zz9\n", "api_key: <redacted:api_key>\n"),
])
def test_a_yaml_block_under_a_secrets_name_is_hidden_whole(text, out):
    assert Scrubber(_OWN).scrub(text)[0] == out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ["note: |\n  keep me\n", "a | b", "password: ~", "secret: ~ # unset"])
def test_blocks_and_nulls_that_hold_no_secret_stay(text):
    assert Scrubber(_OWN).scrub(text)[0] == text


@settings(max_examples=80, deadline=None)
@given(indent=st.integers(0, 4), indicator=st.sampled_from(["|", ">", "|-", ">+", "|2"]),
       lines=st.lists(st.text(alphabet="abcXYZ019 :-", min_size=1, max_size=12), min_size=1, max_size=4),
       escaped=st.booleans())
def test_yaml_blocks_keep_the_laws(indent, indicator, lines, escaped):
    brk = "\\n" if escaped else "\n"
    pad = " " * indent
    text = f"{pad}password: {indicator}{brk}" + brk.join(pad + "  " + line for line in lines) + f"{brk}{pad}lr: 1"
    out = Scrubber(_OWN).scrub(text)[0]
    assert not any(line.strip() and line.strip() in out.replace("<redacted:password>", "") and line.strip() not in ("lr: 1",)
                   and len(line.strip()) > 4 for line in lines), out
    assert out.endswith(f"{pad}lr: 1")
    assert_scrub_laws(_OWN, text)


# --- settings, references and names ------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "secret: ~", "secret_arn=arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf",
    "x arn:aws:secretsmanager:us-east-1:1:secret:prod/db ok", "kms_key_id=arn:aws:kms:us-east-1:123:key/1234abcd-12ab",
    "password_param=arn:aws:ssm:eu-west-1:123456789012:parameter/prod/db/password", "token_count: 512", "password=0.5",
])
def test_references_and_settings_stay(text):
    assert Scrubber(_OWN).scrub(text)[0] == text


@pytest.mark.parametrize(("text", "out"), [
    ("pin_password=004271", "pin_password=<redacted:password>"), ("KAGGLE_KEY=abc123def", "KAGGLE_KEY=<redacted:secret>"),
    ("WANDB_KEY: abc123def", "WANDB_KEY: <redacted:secret>"), ("cred=abc123", "cred=<redacted:credential>"),
    ("db_password=arn:aws:iam::123:user/x", "db_password=<redacted:password>"),
    ("see x:secret:Zz9abc", "see x:secret:<redacted:secret>"),
    # an ARN kept after a hidden value: the text between them stays (a first version of this rule lost it)
    ("kms_key=Zz9q secret_arn=arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbC lr=1",
     "kms_key=<redacted:secret> secret_arn=arn:aws:secretsmanager:us-east-1:1:secret:prod/db-AbC lr=1"),
    ("secret_arn=arn:aws:ssm:x:1:parameter/p password=Zz9 end", "secret_arn=arn:aws:ssm:x:1:parameter/p password=<redacted:password> end"),
])
def test_names_and_values_now_hidden(text, out):
    assert Scrubber(_OWN).scrub(text)[0] == out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("name", ["sort_key", "kaggle_key_path", "cred_file", "credit", "wandb_project", "keyframe"])
def test_ordinary_names_stay(name):
    text = f"{name}=abc123def"
    assert Scrubber(_OWN).scrub(text)[0] == text


# --- the gate's findings for a legacy item name the item's own fields (a new user's report) -----------------

def test_the_gate_names_a_legacy_items_own_fields():
    from procrecord.operations.legacy import MACHINE_PATHS

    legacy = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    paths = {v.path for v in check_level(legacy, "most")}
    assert "$.properties.machine.host" in paths and "$.properties.machine.user" in paths
    assert "$.properties.machine.userhome" in paths and "$.properties.disk_info.source" in paths
    assert any(p.startswith("$.properties.args") for p in paths)
    assert not any(p.startswith(("$.host", "$.invocation", "$.disks")) for p in paths), paths
    for path in paths - {"$.redaction"}:  # every finding is at a place the legacy item has
        node: object = legacy
        for part in path[2:].replace("[", ".").replace("]", "").split("."):
            assert isinstance(node, dict) and part in node, (path, part)
            node = node[part]
    assert set(MACHINE_PATHS) >= {"host", "user", "userhome"}


def test_an_embedded_legacy_items_findings_are_under_its_pointer(tmp_path):
    from click.testing import CliRunner

    from procrecord.cli import cli

    legacy = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    (tmp_path / "data.kwcoco.json").write_text(json.dumps({"info": [{"type": "other"}, legacy], "images": []}))
    result = CliRunner().invoke(cli, ["validate", "--embedded", "--require-level", "most", str(tmp_path / "data.kwcoco.json")])
    assert result.exit_code == 1
    assert "$.info[1].properties.machine.host" in result.output and "$.info[1].host.hostname" not in result.output


def test_an_upgraded_redacted_compat_record_still_passes_the_gate(tmp_path, monkeypatch):
    """compat's "most telemetry off" record passes the gate; its upgrade keeps ``disk_info.names: []`` in the
    legacy bag, which held no text: the upgraded record passes too. Text in the bag, or a removed field's
    value, is still refused."""
    from procrecord.compat import ProcessContext
    from procrecord.operations.migration import upgrade as upgrade_record

    monkeypatch.chdir(tmp_path)
    context = ProcessContext(name="fit", config={"lr": 0.1}, request_most_telemetry=False)
    context.start()
    context.add_disk_info(".")
    context.stop()
    legacy = json.loads(json.dumps(context.obj))
    assert check_level(legacy, "most") == []
    upgraded = upgrade_record(legacy)
    assert upgraded["provenance"].get("legacy"), "the case needs a legacy bag"
    assert check_level(upgraded, "most") == []
    forged = copy.deepcopy(upgraded)
    forged["provenance"]["legacy"]["/properties/machine/host"] = "gpu-node07"
    forged["provenance"]["legacy"]["/properties/notes"] = "see me"
    paths = {v.path for v in check_level(forged, "most")}
    assert paths == {"$.provenance.legacy['/properties/machine/host']", "$.provenance.legacy['/properties/notes']"}
