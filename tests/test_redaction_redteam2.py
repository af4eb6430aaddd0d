"""What the second held-out red-team corpus of issue 13 found: token formats of the named vendors that the
rules missed, four-part versions after a version flag or in a mapping of versions, an ``Authorization``
header with an auth parameter, and legacy ``args`` strings whose backslashes the upgrade dropped."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.legacy import join_args, split_args
from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber

from helpers import FIXTURES, load_json, scrub_by_every_rule

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_CASE = FIXTURES / "redact" / "redteam2-formats"
_FORMATS = load_json(_CASE / "input.json")["invocation"]["config"]["formats"]
_CONTEXTS = ["{}", "see {} now", "key={}", "/p/{}.txt", '{{"ref": "{}"}}', "`{}`", "a\n{}\nb"]


def _bare(text: str) -> str:
    """The token inside a fixture's context (``uploaded via TOKEN yesterday`` -> ``TOKEN``)."""
    pieces = text.replace("`", " ").replace('"', " ").replace("=", " ").replace("&", " ").replace("(", " ").split()
    return max(pieces, key=len)  # the tokens are longer than the URL around one


@pytest.mark.parametrize("name", sorted(_FORMATS))
@pytest.mark.parametrize("context", _CONTEXTS)
def test_each_named_vendors_token_is_hidden_in_any_context(name, context):
    token = _bare(_FORMATS[name])
    text, counts = Scrubber(_OWN).scrub(context.format(token))
    assert token not in text and counts
    assert "<redacted:" in text


@pytest.mark.parametrize("name", sorted(_FORMATS))
def test_the_needles_of_the_new_formats_never_skip_a_rule(name):
    """Each new rule runs only where its needle is: the trigger index gives what every rule gives."""
    scrubber = Scrubber(_OWN)
    text = f"x {_bare(_FORMATS[name])} y"
    assert scrubber.scrub(text) == scrub_by_every_rule(scrubber, text)


@pytest.mark.parametrize("text", load_json(_CASE / "input.json")["invocation"]["config"]["near_misses"])
def test_near_misses_of_the_new_formats_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


def test_a_version_after_a_version_flag_stays_and_an_address_after_another_flag_goes():
    argv = ["fit.py", "--cudnn-version", "9.1.0.70", "--tensorrt-version=10.0.1.6", "--peer", "9.1.0.70",
            "--cudnn-version", "10.1.2.3:80"]
    out, counts = Scrubber(_OWN).scrub_argv(argv)
    assert out[:5] == argv[:5] and out[5] == "<redacted:ipv4>"
    assert out[7] != argv[7], "only a bare version after the flag stays"
    assert counts["ipv4"] == 2


def _record(config: dict) -> dict:
    record = upgrade(load_json(_CASE / "input.json"))
    record["invocation"]["config"] = config
    return record


def test_a_mapping_of_versions_keeps_four_part_versions_and_the_gate_accepts_it():
    out = redact(_record({"versions": {"cudnn": "9.1.0.70"}, "peers": {"cudnn": "9.1.0.71"}}), "most")
    assert out["invocation"]["config"] == {"versions": {"cudnn": "9.1.0.70"}, "peers": {"cudnn": "<redacted:ipv4>"}}
    assert check_level(out, "most") == [] and redact(out, "most") == out


def test_a_mapping_kept_under_versions_is_not_remembered_as_clean_for_other_names():
    """Clean nested mappings are remembered by their text: the same text under another name is an address."""
    out = redact(_record({"versions": {"a": "9.1.0.70"}, "hosts": {"a": "9.1.0.70"}}), "most")
    assert out["invocation"]["config"]["hosts"] == {"a": "<redacted:ipv4>"}
    assert out["invocation"]["config"]["versions"] == {"a": "9.1.0.70"}


@pytest.mark.parametrize("text", ['Authorization: Token token="s3cr3tValue"', "Authorization: Token token='s3cr3t Value'",
                                  "auth: Token token=s3cr3tValue, x=1", "Authorization: Bearer s3cr3tValue"])
def test_an_authorization_scheme_with_an_auth_parameter_hides_the_parameter_whole(text):
    out, counts = Scrubber(_OWN).scrub(text)
    assert "s3cr3t" not in out and counts == {"secret-assignment": 1}
    assert Scrubber(_OWN).scrub(out) == (out, {})


@pytest.mark.parametrize("text, together, argv", [
    ("python C:\\Users\\Ann Lee\\p\\fit.py --x 1", ("C:\\Users\\Ann Lee",), ["python", "C:\\Users\\Ann Lee\\p\\fit.py", "--x", "1"]),
    ("python C:\\Users\\Ann Lee\\p\\fit.py", ("C:\\Users\\Ann Lee", "C:\\Users\\Ann Lee\\p"), ["python", "C:\\Users\\Ann Lee\\p\\fit.py"]),
    ("fit --note Hwojcik\\exp7 --out D:\\share\\x", (), ["fit", "--note", "Hwojcik\\exp7", "--out", "D:\\share\\x"]),
    ("fit --name foo\\ bar --q 'a b'", (), ["fit", "--name", "foo bar", "--q", "a b"]),  # a shell's escapes still work
    ("fit \"C:\\Users\\Ann Lee\\x\"", ("C:\\Users\\Ann Lee",), ["fit", "C:\\Users\\Ann Lee\\x"]),  # quoted already
])
def test_legacy_args_strings_keep_backslashes_and_spaced_homes(text, together, argv):
    assert split_args(text, together) == argv


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="aZ09 \\:./'\"=-$~", max_size=8), max_size=6))
def test_joined_args_split_back_to_the_same_argv(argv):
    assert split_args(join_args(argv)) == argv


def test_a_legacy_string_args_upgrade_keeps_the_windows_home_whole_so_redaction_hides_the_name():
    legacy = load_json(FIXTURES / "redact" / "redteam2-legacy-args" / "input.json")
    record = upgrade(legacy)
    assert record["invocation"]["argv"][1] == "C:\\Users\\Marek Zawadzki\\proj\\fit.py"
    text = json.dumps(redact(record, "most"))
    assert "Marek" not in text and "Zawadzki" not in text


def test_a_redacted_legacy_item_keeps_its_args_a_string_and_passes_the_gate():
    legacy = load_json(FIXTURES / "redact" / "redteam2-legacy-args" / "input.json")
    out = redact(legacy, "most")
    args = out["properties"]["args"]
    assert isinstance(args, str) and "Marek" not in args and "Zawadzki" not in args
    assert args.startswith("python ~\\proj\\fit.py --note Mzawadzki\\exp7")
    assert check_level(out, "most") == [] and redact(out, "most") == out


# --- the third held-out corpus (h13q) ---------------------------------------------------------------------

@pytest.mark.parametrize("token", [
    "glrtr-u8jzPde0IgxLd6GncfBA", "glwt-lgLKOmxgJTeKdNnFRIBX",  # GitLab: routable runner, workspace tokens
    "s.uDL7DxtpYlSXpfKtHF4vUCsM", "s.6hv738f2qdmstqvti9abfjaq",  # Vault's older service tokens, any case
    "pubkey-23d5a4fd12aabfe228f219e9cb0eb53f",  # Mailgun public validation key
    "dp.st.dev.Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1X", "dp.ct.Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1Ab1X",
    "dckr_oat_a1B2a1B2a1B2a1B2a1B2a1B2a1B2a1B2",
])
@pytest.mark.parametrize("context", _CONTEXTS)
def test_the_third_corpus_token_forms_are_hidden(token, context):
    text = context.format(token)
    out, counts = Scrubber(_OWN).scrub(text)
    assert token not in out and counts
    assert Scrubber(_OWN).scrub(text) == scrub_by_every_rule(Scrubber(_OWN), text)


def test_a_mailgun_signing_key_after_a_mailgun_name_is_hidden():
    text = "MAILGUN_WEBHOOK_SIGNING=16947ccf25ec84d8dbc74254770f5890-4dba41ec-ccc3fc16"
    assert Scrubber(_OWN).scrub(text) == ("MAILGUN_WEBHOOK_SIGNING=<redacted:mailgun_key>", {"mailgun-signing-key": 1})


@pytest.mark.parametrize("text", ["os.path.join", "records.json", "as.ABCDEFGHIJKLMNOPQRSTUVWX1", "pubkey-short",
                                  "mailgun_domain: mg.example.com", "dp.st.short", "dckr_oat_",
                                  "s.abcdefghijklmnopqrstuvwx"])
def test_near_misses_of_the_third_corpus_forms_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


@pytest.mark.parametrize("document, pointer", [
    (b'{"info": [1], "images": [], "info": [2]}', ["info"]),
    (b'{"meta": {"info": [1]}, "meta": {"info": [2]}}', ["meta", "info"]),
    (b'{"info": [1], "\\u0069nfo": [2]}', ["info"]),
    (b'{"\\u0069nfo": [1],\n "info": []}', ["info"]),
])
def test_a_key_repeated_on_the_way_to_the_records_is_an_error(document, pointer):
    from procrecord.bulk.jsonspans import DuplicateKeyError, resolve

    with pytest.raises(DuplicateKeyError, match="duplicate key"):
        resolve(document, pointer)


def test_a_key_of_a_later_sibling_object_is_not_taken_for_the_objects_own():
    """``/meta/info`` of ``{"meta": {...}, "images": {"info": ...}}`` is not there (it was taken from images)."""
    from procrecord.bulk.jsonspans import resolve

    assert resolve(b'{"meta": {"a": 1}, "images": {"info": [5]}}', ["meta", "info"]) is None
    document = b'{"meta":{"a":null,"info":null},"images":{"a":null,"info":null},"info":[1]}'
    span = resolve(document, ["meta", "info"])
    assert span is not None and document[span[0]:span[1]] == b"null"


@pytest.mark.parametrize("document, expected", [
    (b'{"x": "\\u0069nfo", "info": [3]}', b"[3]"),  # a string value, not a key
    (b'{"a": {"info": [9]}, "info": [4]}', b"[4]"),  # the same key deeper down
    (b'{"info": [5], "s": "\\"info\\": [6]"}', b"[5]"),  # the key's text inside a string
])
def test_the_key_text_elsewhere_is_no_duplicate(document, expected):
    from procrecord.bulk.jsonspans import resolve

    span = resolve(document, ["info"])
    assert span is not None and document[span[0]:span[1]] == expected


def _kwcoco_with_hidden_record(tmp_path):
    from click.testing import CliRunner

    from procrecord.cli import cli

    raw = upgrade(load_json(_CASE / "input.json"))
    clean = redact(raw, "most")
    path = tmp_path / "in" / "res.kwcoco.json"
    path.parent.mkdir()
    path.write_bytes(b'{"info": [' + json.dumps(raw).encode() + b'], "images": [], "info": ['
                     + json.dumps(clean).encode() + b"]}")
    return CliRunner(), cli, path


def test_a_result_file_hiding_a_record_behind_a_repeated_info_key_fails_the_gate(tmp_path):
    runner, cli, path = _kwcoco_with_hidden_record(tmp_path)
    result = runner.invoke(cli, ["validate", "--embedded", "--require-level", "most", str(path)])
    assert result.exit_code == 1 and "duplicate key 'info'" in result.output


def test_redact_never_writes_a_result_file_with_a_repeated_info_key(tmp_path):
    runner, cli, path = _kwcoco_with_hidden_record(tmp_path)
    out = tmp_path / "out"
    result = runner.invoke(cli, ["redact", "--embedded", "--level", "most", "-o", str(out), str(path)])
    assert result.exit_code == 1 and "duplicate key 'info'" in result.output
    assert not (out / "res.kwcoco.json").exists()


def test_a_result_file_holding_no_record_is_a_run_that_found_none(tmp_path):
    from click.testing import CliRunner

    from procrecord.cli import cli

    path = tmp_path / "empty.kwcoco.json"
    path.write_text('{"info": [], "images": []}')
    result = CliRunner().invoke(cli, ["validate", "--embedded", str(path)])
    assert result.exit_code == 1 and "no record found" in result.output
    assert CliRunner().invoke(cli, ["validate", "--embedded", "--allow-empty", str(path)]).exit_code == 0


# --- what a review of the fixes above found --------------------------------------------------------------

def test_a_key_spelled_with_a_short_escape_is_a_duplicate_too():
    from procrecord.bulk.jsonspans import DuplicateKeyError, resolve

    with pytest.raises(DuplicateKeyError):
        resolve(b'{"a/b": [1], "a\\/b": [2]}', ["a/b"])


def test_many_escapes_in_a_string_before_the_records_are_read_through():
    """Strings full of ``\\u`` escapes (non-ASCII captions as ``json.dump`` writes them) are no key."""
    from procrecord.bulk.jsonspans import resolve

    document = b'{"caption": "' + b"\\u00e9" * 20000 + b'", "info": [1]}'
    span = resolve(document, ["info"])
    assert span is not None and document[span[0]:span[1]] == b"[1]"


@pytest.mark.parametrize("text", [r'python -c "print(\"hi\\n\")" --x 1', r'echo "a\\b" c\ d', "fit --lr 0.1 'a b'"])
def test_strings_written_for_a_shell_split_as_a_shell_does(text):
    import shlex

    assert split_args(text) == shlex.split(text)


def test_a_spaced_home_stays_whole_also_when_other_arguments_are_quoted():
    text = r'python fit.py --name "a b" --out C:\Users\Marek Zawadzki\out'
    assert split_args(text, ("C:\\Users\\Marek Zawadzki",))[-1] == "C:\\Users\\Marek Zawadzki\\out"


def test_the_compat_class_splits_a_string_when_the_working_folder_is_gone(tmp_path):
    import os

    from procrecord.compat import ProcessContext

    gone = tmp_path / "gone"
    gone.mkdir()
    here = os.getcwd()
    try:
        os.chdir(gone)
        gone.rmdir()
        context = ProcessContext(name="x", args="python fit.py --lr 1")
    finally:
        os.chdir(here)
    context.start()
    try:
        assert context.recorder.record["invocation"]["argv"] == ["python", "fit.py", "--lr", "1"]
    finally:
        context.stop()


def test_addresses_under_build_or_release_and_after_other_flags_are_scrubbed():
    record = _record({"build": {"host": "10.1.2.3"}, "release": {"db": "192.168.7.9"}, "package_versions": {"x": "1.2.3.4"}})
    record["invocation"]["argv"] = ["fit.py", "--release", "10.1.2.3", "--no-version-check", "10.1.2.4", "--ver", "1.2.3.4"]
    out = redact(record, "most")
    assert out["invocation"]["config"] == {"build": {"host": "<redacted:ipv4>"}, "release": {"db": "<redacted:ipv4>"},
                                           "package_versions": {"x": "1.2.3.4"}}
    assert out["invocation"]["argv"] == ["fit.py", "--release", "<redacted:ipv4>", "--no-version-check", "<redacted:ipv4>",
                                         "--ver", "1.2.3.4"]
    assert check_level(out, "most") == []


@pytest.mark.parametrize("text", ["guide_rna: ACCAGTTGCAGTCAGTCAGT", "run id s.5f1b2c3d4e5f6a7b8c9d0e1f"])
def test_dna_and_object_ids_are_no_tokens(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})
