"""What the eighteenth held-out red-team corpus of issue 13 found (``/work/scratch/redteam18``): no leak it
could call clear and no broken law; one clear over-scrub: a Kubernetes ``valueFrom.secretKeyRef`` (and
``envFrom.secretRef``) reference was hidden whole, because ``secretKeyRef`` was taken for a secret's name,
though the README keeps "references without a value (``valueFrom``)". A ``ref`` after a secret's word now
names a reference (a setting), as ``_file`` and ``_path`` name where a secret is kept.
"""

from __future__ import annotations

import json

import pytest

from procrecord.operations.redaction import check_level, redact
from procrecord.operations.secretnames import secret_kind

from helpers import config_record


def test_a_kubernetes_secret_reference_stays_and_a_value_beside_it_is_hidden():
    env = [{"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}},
           {"name": "HF_TOKEN", "value": "hf_abcdefghijklmnopqrstuvwxyzABCDEFGH"}]
    config = {"env": env, "envFrom": [{"secretRef": {"name": "wandb-env-ref"}}]}
    out = redact(config_record(json.loads(json.dumps(config))), "most")
    kept = out["invocation"]["config"]
    assert kept["env"][0] == env[0] and kept["envFrom"] == config["envFrom"]
    assert kept["env"][1]["value"].startswith("<redacted:")
    assert check_level(out, "most") == [] and redact(out, "most") == out


@pytest.mark.parametrize("name", ["secretKeyRef", "secretRef", "secret_ref", "api_key_ref", "password_reference"])
def test_a_reference_to_a_secret_is_no_secret_name(name):
    assert secret_kind(name) is None


@pytest.mark.parametrize("name", ["refresh_token", "ref_token", "password", "secret_key"])
def test_secret_names_around_the_word_ref_stay_secret(name):
    assert secret_kind(name) is not None
