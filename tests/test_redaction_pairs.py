"""Secrets in name/value pairs: ``{"name": "DB_PASSWORD", "value": X}`` (Kubernetes and ECS ``env``
lists, AWS ``Key``/``Value`` tags) hide X as a key named ``DB_PASSWORD`` would. Earlier red teams listed
the form as ambiguous: the README promised neither way, and a user sharing a job's config with its
container's environment would expect it hidden."""

from __future__ import annotations

import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.record.schemas import current_version

from helpers import FIXTURES, load_json


def _record(config):
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = config
    return record


@pytest.mark.parametrize(("name_key", "value_key"), [("name", "value"), ("Name", "Value"), ("Key", "Value"),
                                                     ("key", "value"), ("NAME", "VALUE")])
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
