"""Redaction under attack (issue 13): leak classes, laws with secret-looking keys, over-scrubbing,
the gate on duplicate keys and legacy records. Each test names a class, not one string."""

from __future__ import annotations

import copy
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import downgrade, upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import GENERIC_ACCOUNTS, Scrubber
from procrecord.operations.secretnames import secret_kind
from procrecord.record.policy import is_free_text, policy, removes
from procrecord.record.schemas import current_version, load_schema

from helpers import FIXTURES, load_json, scrub_by_every_rule


@pytest.mark.parametrize("name", [
    "passPhrase", "DB_PASS", "db-pass", "SMTP_PASS", "mysqlpass", "userPassword", "encryption_key", "signing_key",
    "AccountKey", "masterKey", "APIKey", "client_secret", "refresh_token", "storage_account_key", "WEBHOOK_SECRET",
])
def test_secret_names_of_every_form(name):
    assert secret_kind(name) is not None


@pytest.mark.parametrize("name", [
    "sort_key", "primary_key", "cache_key", "key_column", "keyframe", "auth_method", "token_count", "password_min_length",
    "credential_provider", "use_auth", "first_pass", "pass_at_k", "num_tokens", "max_token_len", "token_type",
    "author", "tokenizer", "bypass", "compass", "<redacted:github_token> (2)",
])
def test_ordinary_names_and_settings_stay(name):
    assert secret_kind(name) is None


_IDS = {"host": "trainbox", "user": "mkovacs", "home": "/home/mkovacs"}


@pytest.mark.parametrize("text, expected", [
    ("/mnt/nfs/home/mkovacs/data", "/mnt/nfs/home/<user>/data"),
    ("/srv/home/someone/x", "/srv/home/<user>/x"),
    ("/home/mkovacs/x", "~/x"),
    ("mkovacs/feature", "<user>/feature"),
    ("fit@trainbox", "fit@<host>"),
    ("trainbox_eval.py", "trainbox_eval.py"),
    ("/data/~1home~1mkovacs~1x", "/data/~1home~1<user>~1x"),
    ("C:\\Users\\Mara Kovacs\\runs", "~\\runs"),
    ("google-auth==2.23.0", "google-auth==2.23.0"),
    ("cudnn_version: 8.9.2.26", "cudnn_version: 8.9.2.26"),
    ("/opt/app/1.2.3.4/bin", "/opt/app/1.2.3.4/bin"),
    ("http://10.2.3.4/x", "http://<redacted:ipv4>/x"),
    ("Server=x;Password=two words;Encrypt=True", "Server=x;Password=<redacted:password>;Encrypt=True"),
])
def test_identifiers_paths_versions_connection_strings(text, expected):
    assert Scrubber(_IDS).scrub(text)[0] == expected


@pytest.mark.parametrize("host", ["train", "gpu", "node"])
def test_a_host_that_is_a_plain_word_is_replaced_only_where_it_names_a_host(host):
    scrubber = Scrubber({"host": host})
    for kept in (f"{host}.py", f"split: {host}", f"{host} loss", f"/data/{host}/x"):
        assert scrubber.scrub(kept)[0] == kept
    for hidden in (f"fit@{host}", f"ssh://{host}/x", f"{host}:8080", f"host={host}", f"--hostname {host}"):
        assert host not in scrubber.scrub(hidden)[0], hidden


@pytest.mark.parametrize("user", sorted(GENERIC_ACCOUNTS)[:12])
def test_generic_account_names_identify_nobody(user):
    scrubber = Scrubber({"user": user, "home": f"/home/{user}"})
    for kept in (f"{user}:22.04", f"/data/{user}/imgs", f"{user} mean square"):
        assert scrubber.scrub(kept)[0] == kept
    assert scrubber.scrub(f"/home/{user}/x")[0] == "~/x"


def _string_fields(schema, path=()):
    """(path, schema) of every string (or array of strings) field, and whether an ancestor is removed at most."""
    for name, sub in (schema.get("properties") or {}).items():
        here = (*path, name)
        if is_free_text(sub) or sub.get("type") == "string":
            yield here, sub
        yield from _string_fields(sub, here)
        if isinstance(sub.get("items"), dict):
            yield from _string_fields(sub["items"], (*here, "[]"))


@pytest.mark.parametrize("version", ["1.0", current_version()])
def test_every_free_text_field_is_scrubbed_or_removed(version):
    """Walks the schema: a string field whose form the schema does not fix is free text, and must be
    scrubbed or removed at ``most`` (the redaction note aside: the tool writes it)."""
    missed = []
    for path, sub in _string_fields(load_schema(version)):
        if not is_free_text(sub) or path[0] == "redaction":
            continue
        node, removed, scrubbed = policy(version), False, False
        for part in path:
            node = node.items if part == "[]" else node.children[part]
            removed = removed or removes(node.redact, "most")
            scrubbed = scrubbed or node.scrub
        if not (removed or scrubbed):
            missed.append("/".join(path))
    assert missed == []


def test_the_record_own_identifiers_leave_every_kept_text_field():
    """A host, user and home planted in every string field the record has: none survives ``most``."""
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record.pop("redaction", None)
    record["host"].update(hostname="zeta-7", user="qvance", home="/home/qvance")
    planted = "qvance@zeta-7 /home/qvance/x zeta-7"

    def plant(value, schema):
        if isinstance(value, dict):
            for key, sub in value.items():
                child = (schema.get("properties") or {}).get(key, {})
                if key not in ("host", "redaction") and isinstance(sub, str) and is_free_text(child):
                    value[key] = planted
                else:
                    plant(sub, child)
        elif isinstance(value, list) and isinstance(schema.get("items"), dict):
            for item in value:
                plant(item, schema["items"])

    plant(record, load_schema(record["schema_version"]))
    record["invocation"]["config_notes"] = [planted]
    text = json.dumps(redact(record, "most"))
    assert "qvance" not in text and "zeta-7" not in text


# --- laws on records with secret-looking keys ---------------------------------------------------------

_KEYS = st.sampled_from([
    "ghp_abcdefghijklmnopqrstuvwxyz0123456789", "password", "DB_PASS", "passPhrase", "AccountKey", "sort_key",
    "token_count", "glpat-Zx81Qm2Lp0Rt7Yv5Nw3K", "sk_live_abcdefghij1234", "/home/jdoe/x", "auth_method",
    "<redacted:github_token>", "<redacted:github_token> (2)", "api_key=abc", "x", "10.1.2.3",
]) | st.text("abcPASSkey_-=: ", max_size=10)
_VALUES = st.sampled_from(["repo-a", "yes", "512", "oauth", "hunter2", "ghp_zyxwvutsrqponmlkjihgfedcba9876543210",
                           "8.9.2.26", "Server=x;Password=a b;", "google-auth==2.23.0", ""]) | st.integers() | st.none()
_CONFIGS = st.recursive(_VALUES, lambda inner: st.dictionaries(_KEYS, inner, max_size=4) | st.lists(inner, max_size=3),
                        max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS, _CONFIGS, max_size=5))
def test_laws_hold_with_secret_looking_keys(config):
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record.pop("redaction", None)
    record["invocation"]["config"] = config
    record["extra"] = {"nested": config}
    for level in ("most", "all"):
        once = redact(record, level)
        assert redact(once, level) == once
        assert check_level(once, level) == []


# --- duplicate keys -------------------------------------------------------------------------------------

def _with_duplicate(text: str) -> str:
    # the host object written with a second "hostname" holding a secret-looking value first
    return text.replace('"hostname":', '"hostname": "10.9.8.7 ghp_abcdefghijklmnopqrstuvwxyz0123456789", "hostname":', 1)


@pytest.mark.parametrize("indent", [None, 2])
@pytest.mark.parametrize("escape", [False, True])
def test_a_duplicate_key_is_a_validate_finding_and_never_passes_the_gate(tmp_path, indent, escape):
    from click.testing import CliRunner

    from procrecord.cli import cli as main

    record = redact(load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json"), "most")
    record["host"] = {"hostname": "<host>", "os": {"name": "Linux"}}
    record["name"] = "caf\u00e9" if escape else "cafe"
    text = json.dumps(record, indent=indent, ensure_ascii=True)
    assert ("\\u" in text) == escape
    clean, dup = tmp_path / "clean.json", tmp_path / "dup.json"
    clean.write_text(text)
    dup.write_text(_with_duplicate(text))
    assert json.loads(dup.read_text()) == json.loads(text)  # a parser sees no difference
    runner = CliRunner()
    ok = runner.invoke(main, ["validate", str(clean)])
    assert ok.exit_code == 0, ok.output
    for args in (["validate", str(dup)], ["validate", "--require-level", "most", str(dup)]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1
        assert "duplicate key 'hostname'" in result.output and "$.host" in result.output


@settings(max_examples=200, deadline=None)
@given(st.recursive(st.none() | st.integers() | st.text(":\\\"ué", max_size=4),
                    lambda inner: st.lists(st.tuples(st.sampled_from(["a", "b", ":", "\u00e9"]), inner), max_size=4),
                    max_leaves=10))
def test_the_fast_duplicate_check_agrees_with_the_standard_library(tree):
    """Objects as lists of pairs (so keys may repeat), written out as JSON text: the check finds a
    duplicate exactly when one object has a key twice."""
    import orjson

    from procrecord.bulk.dupkeys import duplicate_keys

    def dump(node):
        if isinstance(node, list):
            return "{" + ",".join(json.dumps(k, ensure_ascii=bool(len(k) % 2)) + ":" + dump(v) for k, v in node) + "}"
        return json.dumps(node)

    def repeats(node):
        if not isinstance(node, list):
            return False
        keys = [k for k, _ in node]
        return len(set(keys)) != len(keys) or any(repeats(v) for _, v in node)

    text = ("{\"r\":" + dump(tree) + "}").encode()
    assert bool(duplicate_keys(text, orjson.loads(text))) == repeats(tree)


def test_redact_never_writes_a_duplicate_key(tmp_path):
    from click.testing import CliRunner

    from procrecord.bulk.dupkeys import duplicate_keys
    from procrecord.cli import cli as main

    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record["invocation"]["config"] = {"~/data": 1, "/home/jdoe/data": 2, "ghp_abcdefghijklmnopqrstuvwxyz0123456789": 3,
                                      "<redacted:github_token>": 4}
    source = tmp_path / "r.json"
    source.write_text(json.dumps(record))
    result = CliRunner().invoke(main, ["redact", "--level", "most", str(source)])
    assert result.exit_code == 0, result.output
    out = result.stdout_bytes if hasattr(result, "stdout_bytes") else result.output.encode()
    import orjson

    assert duplicate_keys(out.strip(), orjson.loads(out)) == []


# --- legacy records -------------------------------------------------------------------------------------

@pytest.mark.parametrize("case", sorted((FIXTURES / "0" / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_the_gate_works_on_legacy_records(case):
    """A legacy item redacted as ``redact --embedded`` keeps it (upgrade, redact, downgrade, the note at
    ``properties.redaction``) passes the gate; the unredacted one does not."""
    legacy = load_json(case)
    assert check_level(legacy, "most")
    redacted = redact(upgrade(copy.deepcopy(legacy)), "most")
    back, _ = downgrade(redacted, "0")
    back["properties"]["redaction"] = redacted["redaction"]
    assert check_level(back, "most") == []
    back["properties"]["args"] = [*(back["properties"].get("args") or []), "--password=hunter2"]
    assert check_level(back, "most")


def test_a_second_corpus_of_the_same_classes():
    """Strings written after the rules, not used to tune them: no planted value left, no kept value changed."""
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record.pop("redaction", None)
    record["host"].update(hostname="lab-ws12", user="tnakamura", home="/home/tnakamura")
    record["name"], record["git"]["branch"] = "eval@lab-ws12", "tnakamura/hotfix"
    planted = {
        "MasterPassword": "Zq1-a", "smtpPass": "Zq1-b", "--redis-pass": "Zq1-c", "kms_key": "Zq1-d", "clientSecretValue": "Zq1-e",
        "conn": "Data Source=srv;Initial Catalog=x;Pwd=Zq1 f g;", "odbc": "Driver={X};Uid=a;Password={Zq1;h};",
        "note": "token npm_Zq1iAAAAbbbbCCCCddddEEEEffffGGGGhhhh1 and", "gl": "gldt-Zq1jAAAAbbbbCCCCdddd",
        "st": "rk_test_Zq1kAAAAbbbb", "pgp": "-----BEGIN PGP PRIVATE KEY BLOCK-----\nZq1l\n-----END PGP PRIVATE KEY BLOCK-----",
        "mnt": "/scratch/home/tnakamura/ckpt", "ptr": "/x/~1home~1tnakamura~1y", "win": "D:\\Users\\Taro Nakamura\\data",
        json.dumps({"hf_Zq1mAAAAbbbbCCCCddddEEEEffffGGGG": 1}): "x", "glpat-Zq1nAAAAbbbbCCCCdddd": "repo",
    }
    kept = {
        "a": "oauth2-client==1.0.0", "nccl_version": "2.18.3.1", "b": "nccl_version=2.18.3.1", "c": "/srv/pkg/10.2.0.1/lib",
        "d": "lab-ws12x.py", "sort_by_key": "time", "jwt_algorithm": "HS256", "password_policy": "strict",
        "tokens_per_batch": "4096", "auth_enabled": "false", "sessionTimeout": "30m", "image": "debian:12",
    }
    record["invocation"]["config"] = {**planted, **kept}
    out = redact(record, "most")
    text = json.dumps(out)
    assert [s for s in ("Zq1", "tnakamura", "lab-ws12\"", "Nakamura") if s in text] == []
    assert {k: out["invocation"]["config"][k] for k in kept} == kept
    assert out["invocation"]["config"]["mnt"] == "/scratch/home/<user>/ckpt"
    assert check_level(out, "most") == [] and redact(out, "most") == out


# --- legacy data given to redact() as it is -------------------------------------------------------------

_LEGACY_PLANTED = {"mystery_field": "token=ghp_abcdefghijklmnopqrstuvwxyz0123456789 in /home/qvance/x",
                   "weird_bag": {"password": "Zq1-hunter", "note": "mail qvance@example.org"}}


@pytest.mark.parametrize("case", sorted((FIXTURES / "0" / "valid").glob("*.json")), ids=lambda p: p.stem)
@pytest.mark.parametrize("level", ["most", "all"])
def test_redact_of_a_legacy_record_applies_the_rules_in_its_own_shape(case, level):
    """``redact()`` given a legacy item (not upgraded first) used to read it as a current record: no field
    the walk knows, so nothing removed or scrubbed, and a note claiming the level. Its unknown keys (the
    upgrade's ``provenance.legacy`` bag) and known fields now get the current schema's rules."""
    from procrecord.record.validation import validate

    legacy = load_json(case)
    legacy["properties"].update(copy.deepcopy(_LEGACY_PLANTED))
    out = redact(copy.deepcopy(legacy), level)
    assert out["type"] in ("process", "process_context") and "schema_version" not in out
    assert validate(out, version="0") == []
    text = json.dumps(out)
    for planted in ("ghp_abcdefghij", "qvance", "Zq1-hunter"):
        assert planted not in text
    assert out["redaction"]["level"] == level and check_level(out, level) == []
    assert redact(out, level) == out
    assert out["properties"].get("name") == legacy["properties"].get("name")  # what every level keeps stays


def test_the_legacy_bag_of_a_current_record_is_removed_at_most():
    """Unknown legacy values ride in ``provenance.legacy`` (``x-redact: most``): gone at ``most`` (only the
    named values that identify nobody and that legacy readers use stay), and a record still holding them
    fails the gate even with a note claiming the level."""
    from procrecord.operations.redaction import _LEGACY_KEPT

    record = upgrade({"type": "process", "properties": {**load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")["properties"],
                                                        **copy.deepcopy(_LEGACY_PLANTED)}})
    assert "/properties/mystery_field" in record["provenance"]["legacy"]
    out = redact(record, "most")
    assert set(out["provenance"].get("legacy", {})) <= set(_LEGACY_KEPT) and "qvance" not in json.dumps(out)
    assert "legacy" not in redact(record, "all").get("provenance", {})
    forged = {**record, "redaction": out["redaction"]}
    assert any(v.path.startswith("$.provenance.legacy") for v in check_level(forged, "most"))



# --- token formats: the needles that trigger their rules ------------------------------------------------

@pytest.mark.parametrize("planted", [*load_json(FIXTURES / "redact" / "token-formats" / "planted.json"),
                                     *load_json(FIXTURES / "redact" / "token-formats-2" / "planted.json")])
@pytest.mark.parametrize("context", ["{}", "see {} now", "key={}", "/p/{}.txt", "x:{},{}"])
def test_token_needles_never_skip_a_rule_that_would_change_the_text(planted, context):
    """Token rules are triggered by a part of their prefix (``key-`` by ``ey-``): scrubbing with the
    trigger index gives what running every rule to a fixpoint gives, for every planted token format."""
    scrubber = Scrubber({"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"})
    text = context.format(planted, planted)
    expected, counts = scrub_by_every_rule(scrubber, text)
    assert scrubber.scrub(text) == (expected, counts)
