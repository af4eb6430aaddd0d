"""Redaction: golden cases with planted values, laws, pseudonyms, the CI gate."""

from __future__ import annotations

import copy
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.errors import ProcrecordError, RedactionKeyError
from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, fingerprint, load_key, redact
from procrecord.record import model as m
from procrecord.record import reader
from procrecord.record.policy import policy, removes
from procrecord.record.schemas import load_schema
from procrecord.record.validation import validate

from helpers import FIXTURES, load_json, scrub_by_every_rule
from strategies import legacy_records, records, redactions

CASES = sorted(p for p in (FIXTURES / "redact").iterdir() if p.is_dir())
KEY = b"k" * 40


def _strip_version(record: dict) -> dict:
    record = copy.deepcopy(record)
    record.get("redaction", {}).pop("tool_version", None)
    record.get("producer", {}).pop("version", None)
    record.get("provenance", {}).pop("upgraded_by", None)
    return record


def _text(record: dict) -> str:
    return json.dumps(record, indent=2)


def expected_output(case, level: str) -> dict:
    """The expected redaction of ``case``: the released ``expected-<level>.json``, with the corrections of a
    later issue applied from ``errata-<level>.json`` (an RFC 6902 patch) where there is one (released
    fixtures are never edited, only added)."""
    import jsonpatch

    expected = load_json(case / f"expected-{level}.json")
    errata = case / f"errata-{level}.json"
    if errata.exists():
        for correction in _corrections(load_json(errata)):
            expected = jsonpatch.apply_patch(expected, correction["patch"])
    return expected


def _corrections(errata: dict | list) -> list[dict]:
    """An errata file holds one correction, or a list of them in the order they were made."""
    return errata if isinstance(errata, list) else [errata]


ERRATA = sorted((FIXTURES / "redact").glob("*/errata-*.json"))


@pytest.mark.parametrize("errata", ERRATA, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_errata_name_their_issue_and_correct_the_released_file(errata):
    """Each correction of an errata file says why, names the issue, and its ``test`` operations hold on the
    released file as the corrections before it left it (a patch for another file, or for a file that already
    holds the correction, fails)."""
    import jsonpatch

    corrected = None
    for found in _corrections(load_json(errata)):
        assert found["fixture"] == errata.name.replace("errata-", "expected-")
        assert isinstance(found["issue"], int) and found["why"]
        released = corrected if corrected is not None else load_json(errata.parent / found["fixture"])
        ops = found["patch"]
        assert any(op["op"] == "test" for op in ops) and any(op["op"] in ("replace", "add") for op in ops)
        corrected = jsonpatch.apply_patch(released, ops)
        assert corrected != released


def test_the_released_must_not_scrub_expectation_is_the_released_text():
    """The file issue 13 once edited in place is the released one again (its correction is the errata)."""
    released = load_json(FIXTURES / "redact" / "must-not-scrub" / "expected-most.json")
    assert released["invocation"]["config"]["version"] == "<redacted:ipv4>"
    assert expected_output(FIXTURES / "redact" / "must-not-scrub", "most")["invocation"]["config"]["version"] == "2.1.0.4"


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
@pytest.mark.parametrize("level", ["most", "all"])
def test_golden_redaction(case, level):
    expected = expected_output(case, level)
    record = upgrade(load_json(case / "input.json"), expected["schema_version"])
    out = redact(record, level)
    assert validate(out, all_errors=True) == []
    assert _strip_version(out) == _strip_version(expected)


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
@pytest.mark.parametrize("level", ["most", "all"])
def test_no_planted_value_survives(case, level):
    text = _text(redact(upgrade(load_json(case / "input.json")), level))
    for planted in load_json(case / "planted.json"):
        assert planted not in text and json.dumps(planted)[1:-1] not in text, planted


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_must_not_scrub_values_stay(case):
    text = _text(redact(upgrade(load_json(case / "input.json")), "most"))
    for kept in load_json(case / "keep.json"):
        assert kept in text, kept


@pytest.mark.parametrize("case", CASES, ids=lambda p: p.name)
def test_redacted_output_passes_the_gate_and_input_does_not(case):
    record = upgrade(load_json(case / "input.json"))
    for level in ("most", "all"):
        assert check_level(redact(record, level), level) == []
    assert check_level(record, "most"), "an unredacted record must fail --require-level most"


def test_all_keeps_only_identity(gpu_record):
    out = redact(gpu_record, "all")
    assert set(out) == {"schema_version", "record_type", "id", "name", "status", "producer", "redaction"}


def test_note_says_what_was_done(gpu_record):
    note = redact(gpu_record, "most")["redaction"]
    assert note["level"] == "most" and note["tool"] == "procrecord"
    assert "/host/hostname" in note["removed"] and "/invocation/environment" in note["removed"]
    rules = {(e["path"], e["rule"]) for e in note["scrubbed"]}
    assert ("/invocation/config/logging/wandb_token", "secret-key") in rules
    assert ("/extra/contact", "email") in rules


def test_level_none_changes_nothing(gpu_record):
    assert redact(gpu_record, "none") == gpu_record


@pytest.mark.parametrize("version", [["1.0"], {"v": 1}, 3, "9.9"])
def test_a_record_with_a_bad_schema_version_gets_a_clear_error(gpu_record, version):
    from procrecord.errors import UnknownVersionError

    gpu_record["schema_version"] = version
    with pytest.raises(UnknownVersionError):
        redact(gpu_record, "most")
    with pytest.raises(UnknownVersionError):
        check_level(gpu_record, "most")


def test_unknown_level():
    with pytest.raises(ProcrecordError):
        redact({}, "some")


def test_gate_catches_a_lower_note_and_a_planted_secret(gpu_record):
    most = redact(gpu_record, "most")
    assert {v.keyword for v in check_level(most, "all")} >= {"require-level", "x-redact"}
    tampered = copy.deepcopy(most)
    tampered["invocation"]["config"]["note"] = "see /home/bob/x with ghp_" + "a" * 36
    found = check_level(tampered, "most")
    assert {v.path for v in found} == {"$.invocation.config.note"}
    tampered["invocation"]["config"]["api_token"] = "abc"
    assert any("secret-named key" in v.message for v in check_level(tampered, "most"))


def test_policy_comes_from_the_schema():
    """A property's fate is its x-redact annotation, nothing else."""
    schema = load_schema("1.0")
    node = policy("1.0")
    for name, sub in schema["properties"].items():
        assert node.children[name].redact == sub["x-redact"]
    assert removes("most", "most") and removes("most", "all") and not removes("all", "most")
    assert not removes("never", "all")


def test_adding_an_annotated_field_needs_no_code_change(monkeypatch, gpu_record):
    from procrecord.record import policy as policy_module

    schema = copy.deepcopy(load_schema("1.0"))
    schema["properties"]["host"]["properties"]["rack"] = {"type": "string", "x-redact": "most"}
    monkeypatch.setattr(policy_module, "load_schema", lambda v: schema)
    policy_module.policy.cache_clear()
    try:
        gpu_record["host"]["rack"] = "R17-U42"
        out = redact(gpu_record, "most")
        assert "rack" not in out["host"] and "/host/rack" in out["redaction"]["removed"]
    finally:
        policy_module.policy.cache_clear()


def test_a_scrubbed_object_with_annotated_children(monkeypatch, gpu_record):
    """An object marked x-scrub as a whole: its known children keep their own levels, every other
    value below it is scrubbed as free-form text, in objects and in arrays of objects."""
    from procrecord.record import policy as policy_module

    schema = copy.deepcopy(load_schema("1.0"))
    error = schema["properties"]["outcome"]["properties"]["error"]
    error["x-scrub"] = True
    error["properties"]["node"] = {"type": "string", "x-redact": "most"}
    error["properties"]["frames"] = {"type": "array", "x-redact": "all", "items": {
        "type": "object", "x-redact": "all", "properties": {"file": {"type": "string", "x-redact": "all"},
                                                            "host": {"type": "string", "x-redact": "most"}}}}
    monkeypatch.setattr(policy_module, "load_schema", lambda v: schema)
    policy_module.policy.cache_clear()
    try:
        gpu_record["outcome"] = {"exit_code": 1, "error": {
            "type": "ValueError", "message": "cannot read /home/jdoe/data.csv", "node": "gpu-node07",
            "details": {"path": "/home/jdoe/x", "api_token": "abc123", "sizes": [1, 2]},
            "frames": [{"file": "/home/bob/train.py", "host": "gpu-node07", "line": "at /root/y"}, "raw /home/ann/z"],
        }}
        out = redact(gpu_record, "most")
        assert out["outcome"]["error"] == {
            "type": "ValueError", "message": "cannot read ~/data.csv",
            "details": {"path": "~/x", "api_token": "<redacted:token>", "sizes": [1, 2]},
            "frames": [{"file": "~/train.py", "line": "at ~/y"}, "raw ~/z"],
        }
        note = out["redaction"]
        assert {"/outcome/error/node", "/outcome/error/frames/0/host"} <= set(note["removed"])
        scrubbed = {(e["path"], e["rule"]) for e in note["scrubbed"]}
        assert {("/outcome/error/message", "record-home"), ("/outcome/error/details/path", "record-home"),
                ("/outcome/error/details/api_token", "secret-key"), ("/outcome/error/frames/0/file", "home-path"),
                ("/outcome/error/frames/0/line", "home-path"), ("/outcome/error/frames/1", "home-path")} <= scrubbed
        assert redact(out, "most") == out
    finally:
        policy_module.policy.cache_clear()


# --- pseudonyms ---------------------------------------------------------------------------------

def test_pseudonyms_link_records_without_revealing(gpu_record):
    other = copy.deepcopy(gpu_record)
    other["id"] = "11111111-2222-4333-8444-555555555555"
    a, b = redact(gpu_record, "most", KEY), redact(other, "most", KEY)
    assert a["host"]["hostname"] == b["host"]["hostname"]
    assert re.fullmatch(r"hmac:[0-9a-f]{16}", a["host"]["hostname"])
    assert a["host"]["hostname"] != redact(gpu_record, "most", b"z" * 40)["host"]["hostname"]
    assert "/host/hostname" in a["redaction"]["pseudonymized"]
    assert a["redaction"]["key_fingerprint"] == fingerprint(KEY)
    text = _text(a)
    assert KEY.decode() not in text and "gpu-node07" not in text
    assert validate(a) == [] and check_level(a, "most") == []
    assert redact(a, "most", KEY) == a, "idempotent with a key too"


def test_key_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("PROCRECORD_REDACT_KEY", raising=False)
    assert load_key() is None
    monkeypatch.setenv("PROCRECORD_REDACT_KEY", "short")
    with pytest.raises(RedactionKeyError, match="at least 32"):
        load_key()
    path = tmp_path / "key"
    path.write_bytes(b"x" * 32 + b"\n")
    assert load_key(str(path)) == b"x" * 32
    with pytest.raises(RedactionKeyError, match="cannot read"):
        load_key(str(tmp_path / "missing"))


# --- laws ---------------------------------------------------------------------------------------

CONVERTER = reader.make_converter()


def _leaves(value, pointer="", out=None):
    out = {} if out is None else out
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _leaves(sub, f"{pointer}/{key}", out)
    elif isinstance(value, list) and value:
        for i, sub in enumerate(value):
            _leaves(sub, f"{pointer}/{i}", out)
    else:
        out[pointer] = value
    return out


def _policy_names(pointer: str) -> bool:
    """True when the schema marks ``pointer`` (or an ancestor) as removable or scrubbed."""
    node = policy(m.SCHEMA_VERSION)  # the version the model (and so the generated records) follows
    for part in pointer.split("/")[1:]:
        if node.children is not None:
            node = node.children.get(part)
            if node is None:
                return False
        elif node.items is not None and part.isdigit():
            node = node.items
        else:
            return False
        if node.redact != "never" or node.scrub:
            return True
    return False


@settings(max_examples=120, deadline=None)
@given(records)
def test_laws(record):
    data = reader.to_dict(record, CONVERTER)
    data.pop("redaction", None)
    most, all_ = redact(data, "most"), redact(data, "all")
    assert validate(most) == [] and validate(all_) == []
    # idempotent
    assert redact(most, "most") == most and redact(all_, "all") == all_
    # monotone: all reveals nothing that most hides
    most_leaves = _leaves({k: v for k, v in most.items() if k != "redaction"})
    for pointer, value in _leaves({k: v for k, v in all_.items() if k != "redaction"}).items():
        assert most_leaves.get(pointer) == value, pointer
    # values change only where the policy names them
    before = _leaves(data)
    after = _leaves({k: v for k, v in most.items() if k != "redaction"})
    for pointer, value in before.items():
        if after.get(pointer, KeyError) != value:
            assert _policy_names(pointer), pointer


def _without_note(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "redaction"}


@settings(max_examples=120, deadline=None)
@given(records, redactions, st.sampled_from(["most", "all"]))
def test_laws_hold_for_records_with_forged_or_stale_notes(record, note, level):
    """A record may come with any note (a level it does not meet, a lower one, pointers to nothing): the
    laws hold, the output's note claims no more than the output meets, and the gate trusts no note (a
    record it accepts at a level is one that redaction at that level leaves as it is)."""
    data = reader.to_dict(record, CONVERTER)
    data["redaction"] = reader.to_dict(note, CONVERTER)
    out = redact(data, level)
    assert validate(out) == []
    assert redact(out, level) == out
    assert check_level(out, level) == []
    assert check_level(out, out["redaction"]["level"]) == [], "the note claims a level the output does not meet"
    for claimed in ("most", "all"):
        if check_level(data, claimed) == []:
            assert _without_note(redact(data, claimed)) == _without_note(data), f"the gate accepted at {claimed} a record redaction changes"


def test_secret_assignment_trigger_covers_every_secret_name():
    """The cheap pre-check of the key=value rule must never skip a key that names a secret."""
    from procrecord.operations.scrub import Scrubber
    from procrecord.operations.secretnames import SECRET_PAIRS, SECRET_WORDS, may_name_secret, secret_kind

    for name in list(SECRET_WORDS) + ["_".join(pair) for pair in SECRET_PAIRS]:
        for key in (name, name.upper(), name.title().replace("_", "")):
            assert secret_kind(key) and may_name_secret(key), key
            text, counts = Scrubber().scrub(f"--{key}=s3cr3t-value")
            assert "s3cr3t-value" not in text, key


# Pieces that make the rules fire, overlap and nearly fire: needles, the identities of the scrubber
# below, separators and ordinary text.
_PIECES = [
    "/home/", "/home/jdoe", "/home/jdoe2", "jdoe", "jdoe.x", "/Users/", "C:\\Users\\", "\\", "/root", "/", "://",
    "file://", "https://", "user:pw@", "@", "git@", "example.org", "AKIA", "ABCDEFGHIJKLMNOP", "ghp_", "a" * 30,
    "xoxb-", "sk-", "hf_", "AIza", "eyJ", "abcdefgh", ".", "10.0.0.1", "1.2.3", "::1", "fe80::", ":", "=", ": ",
    "--", "-", "token", "Password", "api_key", "key", " ", "\t", "'", '"', "gpu-node05", "gpu-node05.lab", "x", "7",
    "-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----", "0", "255", "1:2:3:4:5:6:7:8", "::", "a:",
    "10.1.2.3", "node7", "\n", "Bearer ", "basic ", '":', "':", "'", "redis://:", "--token ", "--tokens ", "https://hooks.slack.com/services/",
    "hooks.slack.com/", "T01/B02/xyz",
]
_IDENTITIES = [
    {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"},
    {"home": "/root", "user": "r00t", "host": "10.1.2.3"},
    {"home": "C:\\Users\\jdoe", "user": "jdoe", "host": "node7.x"},
]


@settings(max_examples=600, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=8).map("".join), st.sampled_from(_IDENTITIES))
def test_triggers_never_skip_a_rule_that_would_change_the_text(text, identities):
    """Scrubbing with the trigger index gives what running every rule, in order, on every text gives,
    pass after pass until nothing changes; and scrubbing that again changes nothing."""
    from procrecord.operations.scrub import Scrubber

    scrubber = Scrubber(identities)
    expected, counts = scrub_by_every_rule(scrubber, text)
    assert scrubber.scrub(text) == (expected, counts)
    assert scrubber.scrub(expected) == (expected, {})


def test_a_needle_inside_a_longer_one_still_triggers_its_rule():
    """``/home/jdoe2`` starts with the record's home ``/home/jdoe`` but is another user's home."""
    from procrecord.operations.scrub import Scrubber

    scrubber = Scrubber({"home": "/home/jdoe", "user": "jdoe"})
    assert scrubber.scrub("/home/jdoe2/data") == ("~/data", {"home-path": 1})
    assert scrubber.scrub("see file:///home/bob/x") == ("see file:///home/<user>/x", {"home-path": 1})  # a URL keeps its shape


def test_config_mappings_seen_before_give_the_same_result(gpu_record):
    """Clean nested mappings are remembered by their text; dirty ones never are."""
    gpu_record["invocation"]["config"] = {"data": {"train": "/data/a.kwcoco.zip", "dims": [224, 224]},
                                          "paths": {"root": "/home/jdoe/runs/x", "token": "s3cr3t"}}
    first = redact(gpu_record, "most")
    second = redact(copy.deepcopy(gpu_record), "most")
    assert first == second
    assert second["invocation"]["config"] == {"data": {"train": "/data/a.kwcoco.zip", "dims": [224, 224]},
                                              "paths": {"root": "~/runs/x", "token": "<redacted:token>"}}
    scrubbed = {(e["path"], e["rule"]) for e in second["redaction"]["scrubbed"]}
    assert {("/invocation/config/paths/root", "record-home"), ("/invocation/config/paths/token", "secret-key")} <= scrubbed


def test_key_table_emptied_by_a_nested_mapping(monkeypatch, gpu_record):
    """The scrubber's tables are bounded and emptied when full, even while a mapping that was found
    to hold only known keys is being walked: its later keys must still get their pointers."""
    from procrecord.operations.scrub import Scrubber

    monkeypatch.setattr(Scrubber, "CACHE_ENTRIES", 8)
    gpu_record["invocation"]["config"] = {"a": 1, "b": "x"}
    redact(gpu_record, "most")  # the scrubber now knows keys a and b
    gpu_record["invocation"]["config"] = {"a": {f"k{i}": i for i in range(10)}, "b": "/home/jdoe/q"}
    out = redact(gpu_record, "most")
    assert out["invocation"]["config"] == {"a": {f"k{i}": i for i in range(10)}, "b": "~/q"}
    assert {"path": "/invocation/config/b", "rule": "record-home", "count": 1} in out["redaction"]["scrubbed"]


def test_keys_scrubbed_to_one_text_keep_both_values(gpu_record):
    gpu_record["invocation"]["config"] = {"/home/alice/data": 1, "/home/bob/data": 2, "~/data (2)": 3, "/home/carl/data": 4}
    out = redact(gpu_record, "most")
    assert out["invocation"]["config"] == {"~/data": 1, "~/data (3)": 2, "~/data (2)": 3, "~/data (4)": 4}
    assert redact(out, "most") == out


@pytest.mark.parametrize("name, kind", [
    ("PGPASSWORD", "password"), ("GITHUBTOKEN", "token"), ("myApiKey", "api_key"), ("topsecret", "secret"),
    ("CI_JOB_TOKEN", "token"), ("hf_token", "token"), ("pad_token", None), ("eos_token", None), ("mask_token", None),
    ("tokenizer", None), ("author", None), ("keyfile", None), ("secretary", None), ("tokens", None),
])
def test_secret_names_in_one_word_and_a_tokenizers_special_tokens(name, kind):
    from procrecord.operations.secretnames import may_name_secret, secret_kind

    assert secret_kind(name) == kind
    assert kind is None or may_name_secret(name)  # the cheap pre-check never misses one


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["pg", "PASSWORD", "pass", "word", "api", "Key", "token", "izer", "_", "-", "secret", "ary",
                                 "PAT", "gitlab", "h", "Service", "Provider", ".",
                                 "auth", "or", "github", "Token", "pad", "cookie", "sig", "ma", "x", "1"]), max_size=5).map("".join))
def test_every_secret_name_holds_a_hint(name):
    """:data:`SECRET_HINTS` is the cheap pre-check of the key=value rule: it must hold for every secret name."""
    from procrecord.operations.secretnames import may_name_secret, secret_kind

    if secret_kind(name) is not None:
        assert may_name_secret(name), name


_SECRET_BODY = st.text("abcdefghijkmnpqrstuvwxyz23456789", min_size=10, max_size=12).map(lambda s: "Q" + s)
_PLANTED_FORMS = [
    "--password={}", "--api-key {}", "API_KEY={}", "password: {}", "https://u:{}@h.example.com/x",
    "https://h.example.com/x?token={}&a=1", "{}@corp.example.com", "/home/{}/data", "/Users/{}/x", "C:\\Users\\{}\\x",
    "Authorization: Bearer {}", '{{"password": "{}"}}', "{{'token': '{}'}}", "redis://:{}@cache:6379",
]
_CONTEXT = st.lists(st.sampled_from([" ", "\n", "\t", ", ", "; ", "(", ")", "[", "]", "'", '"', "=", ": ", "/", "|", "> ",
                                     "`", "run ", "failed ", "error: ", "url=", "ok: ", "x "]), max_size=3).map("".join)


@settings(max_examples=300, deadline=None)
@given(_SECRET_BODY, st.sampled_from(_PLANTED_FORMS), _CONTEXT, _CONTEXT,
       st.sampled_from(["config", "key", "argv", "message", "extra"]))
def test_a_secret_planted_in_free_text_never_survives(body, form, left, right, where):
    """Every promised form, in any surrounding text and any scrubbed place: gone after ``most``, the
    output passes the gate, and redacting again changes nothing."""
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    text = left + form.format(body) + right
    if where == "config":
        record["invocation"]["config"]["k"] = text
    elif where == "key":
        record["invocation"]["config"][text] = 1
    elif where == "argv":
        record["invocation"]["argv"] = [*record["invocation"]["argv"], text]
    elif where == "message":
        record["outcome"] = {"exit_code": 1, "error": {"type": "E", "message": text}}
    else:
        record["extra"] = {"notes": text}
    out = redact(record, "most")
    blob = json.dumps(out)
    assert body not in blob and body.lower() not in blob, (text, where)
    assert check_level(out, "most") == []
    assert redact(out, "most") == out


def test_a_forged_higher_note_is_not_carried_over(gpu_record):
    """A note claiming ``all`` on a record that is not: redacting at ``most`` writes ``most``, and the gate
    refuses the forged input at ``all`` (a genuine ``all`` note is kept: the output meets it)."""
    forged = copy.deepcopy(gpu_record)
    forged["redaction"] = {"level": "all", "tool": "procrecord", "tool_version": "0", "removed": [], "scrubbed": []}
    assert check_level(forged, "all")
    out = redact(forged, "most")
    assert out["redaction"]["level"] == "most"
    assert check_level(out, "most") == [] and check_level(out, "all")
    genuine = redact(gpu_record, "all")
    assert redact(genuine, "most")["redaction"]["level"] == "all"


@settings(max_examples=80, deadline=None)
@given(legacy_records(), st.none() | redactions, st.sampled_from(["most", "all"]))
def test_laws_hold_for_legacy_records_given_as_they_are(record, note, level):
    """Legacy items (with or without a forged note beside ``type``) redacted without an upgrade first:
    the output is a legacy item the gate accepts, and redacting it again changes nothing."""
    if note is not None:
        record["redaction"] = reader.to_dict(note, CONVERTER)
    out = redact(record, level)
    assert validate(out, version="0") == []
    assert check_level(out, level) == []
    assert redact(out, level) == out


@pytest.mark.parametrize("bag", [{}, {"/properties/disk_info/names": []}, {"/properties/extra": None}])
def test_a_redacted_legacy_item_upgraded_with_a_bag_the_gate_passes_is_not_changed_by_redaction(bag):
    """Found by Hypothesis: the gate let an upgraded, redacted legacy record keep a bag without text, and
    ``redact`` then removed the bag, so redacting a record the gate accepts changed it."""
    record = {"schema_version": "1.1", "record_type": "procrecord.process", "id": "e3e70682-c209-4cac-629f-6fbed82c07cd",
              "status": "running", "producer": {"name": "0", "version": "0"},
              "provenance": {"upgraded_from": "0", "legacy": bag},
              "redaction": {"level": "most", "tool": "0", "tool_version": "0", "removed": [], "scrubbed": []}}
    assert check_level(record, "most") == []
    out = redact(record, "most")
    assert out["provenance"] == record["provenance"]
    assert "/provenance/legacy" not in out["redaction"]["removed"]
    assert redact(out, "most") == out
    # a bag holding text is still removed, as is the bag of a record never redacted
    assert "legacy" not in redact({**record, "provenance": {"upgraded_from": "0", "legacy": {"/x": "text"}}}, "most")["provenance"]
    fresh = {k: v for k, v in record.items() if k != "redaction"}
    assert "legacy" not in redact(fresh, "most")["provenance"]


LEGACY_ITEMS = sorted((FIXTURES / "0" / "valid").glob("*.json"))


@pytest.mark.parametrize("path", LEGACY_ITEMS, ids=lambda p: p.stem)
@pytest.mark.parametrize("level", ["most", "all"])
def test_a_redacted_legacy_item_upgraded_still_meets_its_level(path, level):
    """Found by an audit: a legacy item redacted at ``most`` (kept legacy, as ``redact --embedded`` writes it)
    passed the gate, and its plain upgrade, whose note still said ``most``, failed it (the torch device type
    ``cuda`` went to the legacy bag). The upgrade meets the level, and gives the item back as it was."""
    from procrecord.operations.migration import downgrade

    item = redact(load_json(path), level, version="0")
    assert check_level(item, level) == []
    upgraded = upgrade(item)
    assert upgraded["redaction"]["level"] == level
    assert check_level(upgraded, level) == []
    assert downgrade(upgraded)[0] == item


def test_the_upgrade_of_a_redacted_legacy_item_leaves_out_what_its_level_hides_and_says_so():
    """A value its level hides (text with no 1.x home) is left out of the legacy bag and named in the note;
    a number that passes the gate stays; the gate of the legacy item still sees what the upgrade leaves out."""
    item = {"type": "process", "properties": {"name": "fit", "machine": {"arch": "sparc64", "cpu_count": 0},
                                              "uuid": "b6a1f2e3-d4c5-4b6a-8f7e-0d1c2b3a4f5e"},
            "redaction": {"level": "most", "tool": "procrecord", "tool_version": "0", "removed": ["/host/hostname"],
                          "scrubbed": []}}
    assert check_level(item, "most") == []
    upgraded = upgrade(item)
    assert upgraded["provenance"]["legacy"] == {"/properties/machine/cpu_count": 0}
    assert upgraded["redaction"]["removed"] == ["/host/hostname", "/provenance/legacy/~1properties~1machine~1arch"]
    assert check_level(upgraded, "most") == []
    leaking = copy.deepcopy(item)
    leaking["properties"]["machine"]["arch"] = "/home/jdoe/arch"
    assert [v.keyword for v in check_level(leaking, "most")] == ["x-scrub"]


@pytest.mark.parametrize("level", ["most", "all"])
def test_legacy_readers_numbers_survive_redaction_at_most(level):
    """Found by an audit: redacting a legacy item at ``most`` removed the numbers geowatch's parse_resource_item
    reads (``iters_per_second``, ``device_info.allocated_vram``) and their neighbours, which identify nobody
    (they lived in the legacy bag on the way). ``all`` removes them, with the sections they belong to."""
    gpu = redact(load_json(FIXTURES / "0" / "valid" / "handmade-gpu-device-info.json"), level, version="0")
    oldest = redact(load_json(FIXTURES / "0" / "valid" / "handmade-oldest-end-timestamp.json"), level, version="0")
    props = gpu["properties"]
    if level == "most":
        assert props["device_info"]["allocated_vram"] == 58000000000
        assert props["device_info"]["reserved_vram"] == 60129542144
        assert props["emissions"]["co2_ton"] == 0.0009163 and props["disk_info"]["hwtype"] == "hdd"
        assert "names" not in props["disk_info"]  # block device names identify the machine's disks
        assert isinstance(oldest["properties"]["iters_per_second"], float)
        assert "/provenance/legacy" not in gpu["redaction"]["removed"]
    else:
        assert "device_info" not in props and "emissions" not in props
        assert "iters_per_second" not in oldest["properties"]
    for item in (gpu, oldest):
        assert check_level(item, level) == [] and check_level(upgrade(item), level) == []
        assert redact(item, level) == item
