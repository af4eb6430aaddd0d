"""Forms earlier red teams listed as ambiguous (the README promised neither way) that a user sharing
results would expect hidden:

* name/value pairs: ``{"name": "DB_PASSWORD", "value": X}`` (Kubernetes and ECS ``env`` lists, AWS
  ``Key``/``Value`` tags) hide X as a key named ``DB_PASSWORD`` would;
* a subscript assignment in code kept as text: ``os.environ["DB_PASSWORD"] = "X"`` (``python -c``);
* a password hash in the modular crypt format under a secret name, whole: its parameters hold commas
  (``$argon2id$v=19$m=65536,t=3,p=4$salt$hash``), where a bare value used to end."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}


def _record(config):
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = config
    return record


@pytest.mark.parametrize(("name_key", "value_key"), [("name", "value"), ("Name", "Value"), ("Key", "Value"),
                                                     ("key", "value"), ("NAME", "VALUE"),
                                                     ("ParameterKey", "ParameterValue"), ("OptionName", "Value")])
@pytest.mark.parametrize("name", ["DB_PASSWORD", "api_key", "GITHUB_TOKEN", "awsSecretAccessKey", "passPhrase"])
def test_the_value_of_a_pair_named_as_a_secret_is_hidden(name_key, value_key, name):
    out = redact(_record({"env": [{name_key: name, value_key: "Zq81xQ7"}, {name_key: "LR", value_key: "0.1"}]}), "most")
    env = out["invocation"]["config"]["env"]
    assert env[0][name_key] == name and env[0][value_key].startswith("<redacted:")
    assert env[1] == {name_key: "LR", value_key: "0.1"}
    assert {"path": f"/invocation/config/env/0/{value_key}", "rule": "secret-key", "count": 1} in out["redaction"]["scrubbed"]
    assert check_level(out, "most") == [] and redact(out, "most") == out


@pytest.mark.parametrize("pair", [
    {"name": "PASSWORD_MIN_LENGTH", "value": "12"},  # a setting under a secret-sounding name
    {"name": "USE_AUTH", "value": "yes"},
    {"name": "TOKEN_COUNT", "value": 512},
    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"key": "password"}}},  # no value: a reference
    {"name": "sort_key", "value": "created_at"},
    {"label": "password", "value": "x"},  # not a pair's name key
    {"name": 7, "value": "x"},
    {"ParameterKey": "InstanceType", "ParameterValue": "m5.large"},
    {"ParameterKey": "DBPassword", "UsePreviousValue": True},  # CloudFormation keeps the value it has
])
def test_pairs_that_hold_no_secret_keep_their_value(pair):
    out = redact(_record({"env": [pair]}), "most")
    kept = out["invocation"]["config"]["env"][0]
    assert kept.get("value") == pair.get("value")


def test_the_gate_refuses_a_pair_left_in_clear():
    out = redact(_record({"env": [{"name": "DB_PASSWORD", "value": "Zq81xQ7"}]}), "most")
    forged = copy.deepcopy(out)
    forged["invocation"]["config"]["env"][0]["value"] = "Zq81xQ7"
    leaks = check_level(forged, "most")
    assert [leak.path for leak in leaks] == ["$.invocation.config.env[0].value"]
    assert "DB_PASSWORD" in leaks[0].message


@settings(max_examples=60, deadline=None)
@given(st.lists(st.fixed_dictionaries({"name": st.sampled_from(["DB_PASSWORD", "LR", "api_token", "x"]),
                                        "value": st.one_of(st.text(max_size=12), st.integers(), st.booleans())}),
                max_size=4))
def test_pairs_keep_the_laws(env):
    out = redact(_record({"env": env}), "most")
    assert redact(out, "most") == out
    assert check_level(out, "most") == []


@pytest.mark.parametrize("text", [
    'import os; os.environ["DB_PASSWORD"]="Zq81xQ7"',
    "os.environ['GITHUB_TOKEN'] = 'Zq81xQ7'",
    'cfg["api_key"]=Zq81xQ7',
    '{\\"x\\": 1}; secrets[\'signing_key\'] = "Zq81xQ7"',
])
def test_a_subscript_assignment_hides_its_value(text):
    out = Scrubber(_OWN).scrub(text)[0]
    assert "Zq81xQ7" not in out and "<redacted:" in out, out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize("text", ['d["password_min_length"] = 12', 'x["token_count"]=512', 'a["name"] = "bob"',
                                  'cfg["use_auth"] = "yes"'])
def test_subscripts_of_settings_stay(text):
    assert Scrubber(_OWN).scrub(text)[0] == text


_HASHES = [
    "$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG",
    "$argon2i$m=4096,t=3,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A",
    "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
    "$6$rounds=5000$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1",
    "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/",
    "$y$j9T$F5Jx5fExrKuPp53xLKQ..1$X3DX6M94c7o.9agCG9G317fhZg9SqC.5i5rd.RhAtQ7",
    "$pbkdf2-sha256$29000$N2bMmVPK$3r6o2bGdO2Kb2Q5c0W8j1w",
]


@pytest.mark.parametrize("digest", _HASHES)
@pytest.mark.parametrize("form", ["password_hash: {} lr=0.1", "pwd={},user=bob", '{{"hashed_password": "{}"}}'])
def test_a_crypt_hash_under_a_secret_name_is_hidden_whole(digest, form):
    text = form.format(digest)
    out = Scrubber(_OWN).scrub(text)[0]
    salt_or_hash = digest.rsplit("$", 1)[1]
    assert salt_or_hash not in out and "<redacted:password>" in out, out
    assert out.endswith((" lr=0.1", ",user=bob", '"}')), out  # what follows the hash stays
    assert_scrub_laws(_OWN, text)


def test_dollar_values_that_are_no_hash_stay_or_end_as_before():
    scrub = Scrubber(_OWN).scrub
    assert scrub("cost=$5 price")[0] == "cost=$5 price"
    assert scrub("password=$DB_pw9!,user=bob")[0] == "password=<redacted:password>,user=bob"


@pytest.mark.parametrize("value", ["${DB_PASSWORD}", "$DB_PASSWORD", "%DB_PASSWORD%", "env:DB_PASSWORD",
                                   "os.environ/OPENAI_API_KEY", "env", "auto", "prompt", "ask", "keyring", "stdin"])
@pytest.mark.parametrize("form", ["password={}", "api_key: {}", '{{"hf_token": "{}"}}', "--db-password {}"])
def test_a_reference_to_where_the_secret_is_kept_stays(value, form):
    text = form.format(value)
    assert Scrubber(_OWN).scrub(text)[0] == text
    out = redact(_record({"password": value, "api_key": value}), "most")
    assert out["invocation"]["config"] == {"password": value, "api_key": value}
    assert check_level(out, "most") == []


@pytest.mark.parametrize("value", ["${DB_PASSWORD:-hunter2}", "$hunter-2", "env:", "%x y%", "prompt2", "autoZq81"])
def test_values_that_only_look_like_references_are_hidden(value):
    out = redact(_record({"password": value}), "most")
    assert out["invocation"]["config"]["password"] == "<redacted:password>"


# --- an argv flag written to be glued to its value: ``["--password=", X]`` ------------------------------------

@pytest.mark.parametrize("flag", ["--password=", "--db-pass=", "--api-key:", "--hf_token=", "-token="])
def test_the_value_after_a_flag_ending_in_its_separator_is_hidden(flag):
    out = redact(_record({}) | {"invocation": {**_record({})["invocation"],
                                               "argv": ["fit.py", flag, "Zq81xQ7v", "--lr", "0.1"]}}, "most")
    argv = out["invocation"]["argv"]
    assert argv[1] == flag and argv[2].startswith("<redacted:") and argv[3:] == ["--lr", "0.1"]
    assert redact(out, "most") == out and check_level(out, "most") == []
    forged = copy.deepcopy(out)
    forged["invocation"]["argv"][2] = "Zq81xQ7v"
    assert check_level(forged, "most"), "the gate must refuse the value left in clear"


@pytest.mark.parametrize(("argv", "kept"), [
    (["fit.py", "--lr=", "0.1"], ["fit.py", "--lr=", "0.1"]),                               # no secret flag
    (["fit.py", "--password=", "--lr", "0.1"], ["fit.py", "--password=", "--lr", "0.1"]),    # a flag, not its value
    (["fit.py", "--password=", "env"], ["fit.py", "--password=", "env"]),                   # where it is kept
    (["fit.py", "--cudnn-version=", "9.1.0.70"], ["fit.py", "--cudnn-version=", "9.1.0.70"]),  # a version
    (["fit.py", "--cudnn-version:", "9.1.0.70"], ["fit.py", "--cudnn-version:", "9.1.0.70"]),
])
def test_glued_flags_that_hide_nothing_keep_their_next_argument(argv, kept):
    assert Scrubber(_OWN).scrub_argv(argv)[0] == kept


def test_a_glued_naming_flag_names_the_next_argument():
    scrubber = Scrubber({"home": "/home/train", "user": "train", "host": "gpu-node05.lab"})
    assert scrubber.scrub_argv(["fit.py", "--user=", "train", "--split", "train"])[0] == \
        ["fit.py", "--user=", "<user>", "--split", "train"]
