"""What the fourth held-out red-team corpus of issue 13 found: text after a JSON-escaped line break or tab
(``"step 1\\nghp_..."``) was not scrubbed, Databricks tokens in detect-secrets' form, ``key:value`` with no
space in mixed spellings, four-part versions in the schema's own version fields, and the decisions taken on
its open questions (bare ``Bearer`` tokens, the shell's ``PWD``, vendors' default accounts, the compat
class's legacy record under a telemetry switch)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_FORMATS = load_json(FIXTURES / "redact" / "redteam2-formats" / "input.json")["invocation"]["config"]["formats"]
_BREAKS = ["\n", "\t", "\r\n", "\n\n", "\\\n"]  # as JSON writes them: \n, \t, \r\n, \n\n, and \\ then \n


def _bare(text: str) -> str:
    pieces = text.replace("`", " ").replace('"', " ").replace("=", " ").replace("&", " ").replace("(", " ").split()
    return max(pieces, key=len)


def _record(**sections: object) -> dict:
    record = upgrade(load_json(FIXTURES / "redact" / "redteam2-formats" / "input.json"))
    record.update(sections)
    return record


@pytest.mark.parametrize("name", sorted(_FORMATS))
@pytest.mark.parametrize("glue", _BREAKS)
def test_a_token_after_a_json_escaped_break_is_hidden(name, glue):
    token = _bare(_FORMATS[name])
    text = json.dumps(f"step 1{glue}{token}{glue}step 2")  # a JSON document kept as a string
    out, counts = Scrubber(_OWN).scrub(text)
    assert token not in out and counts
    # the escapes around it are kept: the string still holds the same JSON text, lines and all
    lines = json.loads(out).split(glue)
    assert lines[0] == "step 1" and lines[-1] == "step 2" and lines[1].startswith("<redacted:")


@pytest.mark.parametrize("line, secret", [
    ("api_key: Hx7SecretValue1", "Hx7SecretValue1"), ("--db-pass Hx7SecretValue2", "Hx7SecretValue2"),
    ("Authorization: Bearer Hx7SecretValue3", "Hx7SecretValue3"), ("secret => Hx7SecretValue4", "Hx7SecretValue4"),
    ("password=Hx7SecretValue5", "Hx7SecretValue5"), ("jdoe@example.org", "jdoe@example.org"),
    ("10.20.30.40", "10.20.30.40"), ("ssh jdoe@gpu-node05.lab", "gpu-node05.lab"), (r"C:\Users\jdoe\x", "jdoe"),
])
@pytest.mark.parametrize("glue", ["\n", "\t", "\r"])
def test_secrets_and_own_names_after_a_json_escaped_break_are_hidden(line, secret, glue):
    text = json.dumps(f"config{glue}{line}{glue}end")
    out, _ = Scrubber(_OWN).scrub(text)
    assert secret not in out
    assert json.loads(out).startswith(f"config{glue}") and json.loads(out).endswith(f"{glue}end")


def test_an_escaped_backslash_before_n_is_no_break_and_nothing_is_cut():
    # ``C:\\new``: a backslash written as JSON writes it, then the word "new"
    text = json.dumps("C:\\new\\tools\\run.py") + " " + json.dumps("C:\\\\nvidia\\\\tensorrt")
    assert Scrubber(_OWN).scrub(text) == (text, {})


def test_an_email_after_an_escaped_break_keeps_the_escape():
    text = json.dumps("mail\nalice@example.com\nbye")
    out, counts = Scrubber(_OWN).scrub(text)
    assert json.loads(out) == "mail\n<redacted:email>\nbye" and counts == {"email": 1}


_PIECES = ["\\n", "\\t", "\\r", "\\\\", "\\", "n", "t", "x", " ", "jdoe", "gpu-node05.lab", "/home/jdoe/a", "api_key: ",
           "password:", "=", "ghp_" + "A1b2" * 9, "glpat-" + "x9Y8" * 5, "10.1.2.3", "a@b.org", "Bearer ", "key", ":",
           '\\"', "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "MIIEow"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_text_with_escaped_breaks_scrubs_once_and_agrees_with_every_rule(text):
    assert_scrub_laws(_OWN, text)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=10).map("".join))
def test_records_with_escaped_breaks_redact_once_and_pass_the_gate(text):
    record = _record()
    record["invocation"]["config"] = {"notes": text, "json": json.dumps({"log": text})}
    once = redact(record, "most")
    assert redact(once, "most") == once and check_level(once, "most") == []


@pytest.mark.parametrize("token", ["dapi" + "0123456789abcdef" + "0123456789abcdgh", "dapi" + "h" * 32,
                                   "dapi" + "0123456789abcdef" * 2 + "-2"])
@pytest.mark.parametrize("context", ["{}", "token {} ok", "--host x --token={}", "/p/{}/q"])
def test_databricks_tokens_in_detect_secrets_form_are_hidden(token, context):
    out, counts = Scrubber(_OWN).scrub(context.format(token))
    assert token[4:] not in out and counts == {"databricks-token": 1}


@pytest.mark.parametrize("text", ["dapi" + "0123456789abcdef" * 2 + "i", "dapi" + "g" * 31, "xdapi" + "a" * 32])
def test_databricks_near_misses_stay(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


def _spellings(name: str) -> st.SearchStrategy[str]:
    """``name`` in any spelling: each letter of a one-word name in either case (``pAsSwOrD``); each word of
    a compound name lower, upper or capitalised (``DB_Pass``: inner capitals would split a word in two)."""
    if not any(c in name for c in "_-"):
        return st.lists(st.booleans(), min_size=len(name), max_size=len(name)).map(
            lambda upper: "".join(c.upper() if up else c for c, up in zip(name, upper)))
    sep = "_" if "_" in name else "-"
    words = name.split(sep)
    return st.tuples(*(st.sampled_from([w, w.upper(), w.capitalize()]) for w in words)).map(sep.join)


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["password", "passwd", "pwd", "secret", "token", "db_pass", "api_token", "api-key",
                        "client_secret", "signing-key"]).flatmap(_spellings), st.sampled_from(["", "--", "-"]))
def test_key_value_with_no_space_is_hidden_in_every_spelling(spelled, dash):
    text = f"{dash}{spelled}:Hx7Secret9"
    out, _ = Scrubber(_OWN).scrub(text)
    assert "Hx7Secret9" not in out and out.startswith(f"{dash}{spelled}:<redacted:")
    assert Scrubber(_OWN).scrub(out) == (out, {})


@pytest.mark.parametrize("text", ["org/auth:latest", "img:1.0", "gpu:0", "node:18-alpine", "monkey:business",
                                  "a/pAsSwOrD:latest", "http://x/y", "12:30:45"])
def test_key_value_with_no_space_stays_for_other_names(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


def test_the_schemas_own_version_fields_keep_four_part_versions_and_pass_the_gate():
    packages = [{"name": "nvidia-cudnn-cu12", "version": "9.1.0.70"}, {"name": "tensorrt", "version": "10.2.0.19"},
                {"name": "evil", "version": "10.2.0.19 from 10.9.8.7"}]
    record = _record(python={"version": "3.11.7", "implementation": "CPython", "packages": packages})
    record["emissions"] = {"tool": "codecarbon", "tool_version": "2.3.4.1"}
    out = redact(record, "most")
    assert [p["version"] for p in out["python"]["packages"]][:2] == ["9.1.0.70", "10.2.0.19"]
    # not a version as a whole: scrubbed as a config value of that name would be
    assert out["python"]["packages"][2]["version"] == "<redacted:ipv4> from <redacted:ipv4>"
    assert out["emissions"]["tool_version"] == "2.3.4.1"
    assert check_level(out, "most") == [] and redact(out, "most") == out
    # an address in a version field is caught by the gate, a version is not
    out["python"]["packages"][2]["version"] = "10.9.8.7 here"
    assert [v.path for v in check_level(out, "most")] == ["$.python.packages[2].version"]


@pytest.mark.parametrize("text, kept", [
    ("curl -H 'X: 1' then Bearer abcdefghijklmnop1234 again", "Bearer <redacted:auth> again"),
    ("bearer\tZm9vYmFyYmF6cXV4MTIzNA==", "bearer <redacted:auth>"),
])
def test_a_bearer_token_without_its_header_is_hidden(text, kept):
    out, counts = Scrubber(_OWN).scrub(text)
    assert out.endswith(kept) and counts == {"bearer-token": 1}
    assert Scrubber(_OWN).scrub(out) == (out, {})


@pytest.mark.parametrize("text", ["Bearer tokens expire after an hour", "the Bearer scheme", "Bearer <redacted:auth>",
                                  "Authorization: Bearer <redacted:auth>"])
def test_bearer_in_prose_and_markers_stays(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


def test_the_shells_working_folders_are_paths_not_passwords():
    env = {"PWD": "/home/jdoe/runs/x", "OLDPWD": "/data/y", "DB_PWD": "hunter2", "PWD_FILE": "/run/s"}
    record = _record()
    # (the record's own environment is removed at most; a config holding one is kept and scrubbed)
    record["invocation"]["config"] = {"env": env, "shell": "PWD=/home/jdoe/x OLDPWD=C:/temp pwd=hunter2 PWD=hunter3"}
    out = redact(record, "most")
    kept = out["invocation"]["config"]["env"]
    assert kept["PWD"] == "~/runs/x" and kept["OLDPWD"] == "/data/y" and kept["PWD_FILE"] == "/run/s"
    assert kept["DB_PWD"] == "<redacted:password>"
    assert out["invocation"]["config"]["shell"] == ("PWD=~/x OLDPWD=C:/temp pwd=<redacted:password> "
                                                    "PWD=<redacted:password>")
    assert check_level(out, "most") == [] and redact(out, "most") == out


@pytest.mark.parametrize("user, keeps", [
    ("nvidia", ["NVIDIA Jetson AGX Orin", "nvidia-cudnn-cu12", "nvcr.io/nvidia/pytorch:24.01-py3"]),
    ("conda", ["conda activate base", "conda-pack -n env"]),
])
def test_vendor_and_tool_default_accounts_are_generic(user, keeps):
    scrubber = Scrubber({"user": user, "home": f"/home/{user}", "host": "jetson-01"})
    for text in keeps:
        assert scrubber.scrub(text) == (text, {})
    assert scrubber.scrub(f"/home/{user}/data")[0] == "~/data"  # their homes still go


def test_an_email_like_file_name_stays():
    scrubber = Scrubber(_OWN)
    assert scrubber.scrub("icons/icon@2x.png and logo@3x.webp") == ("icons/icon@2x.png and logo@3x.webp", {})
    assert scrubber.scrub("mail alice@2xs.org")[0] == "mail <redacted:email>"


@pytest.mark.parametrize("switch", ["request_most_telemetry", "request_all_telemetry"])
def test_the_compat_legacy_record_under_a_telemetry_switch_passes_the_gate(monkeypatch, tmp_path, switch):
    from procrecord.compat import ProcessContext

    for name in ("PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY", "PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY", "PROCRECORD_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    ctx = ProcessContext(name="fit", args=["fit.py", "--out", "/home/jdoe/x"], config={"p": "/home/jdoe/x"},
                         **{switch: False})
    obj = ctx.start().stop()
    level = ctx.record["redaction"]["level"]
    assert obj["redaction"] == ctx.record["redaction"] and set(obj) == {"type", "properties", "redaction"}
    assert check_level(obj, level) == [] and check_level(ctx.record, level) == []
    # the gate as a pre-commit hook runs it, on the legacy file as dumped
    path = tmp_path / "fit.context"
    path.write_text(json.dumps(obj))
    gate = subprocess.run([sys.executable, "-m", "procrecord", "validate", "--require-level", level, str(path)],
                          capture_output=True, text=True)
    assert gate.returncode == 0, gate.stdout + gate.stderr
    # and the full telemetry record says nothing of a redaction
    full = ProcessContext(name="fit", args=["fit.py"]).start().stop()
    assert set(full) == {"type", "properties"}
