"""What the fifteenth held-out red-team corpus of issue 13 found (``/work/scratch/redteam15``):

* a service's key under a service's name the list did not have (``SERPAPI_KEY``, ``tavily_key``,
  ``github_key``, ``slack_key``, ``azure_key``, ``minio_key``, ...) was kept, in mappings, ``.env`` text and
  records redacted at collection time, and the gate passed it: the services are now one list
  (:data:`~procrecord.operations.secretnames.SERVICES`: the services of ML jobs and their tools, and those a
  maintained scanner, gitleaks, has rules for), named in the README.
"""

from __future__ import annotations

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.operations.secretnames import SERVICES, secret_kind

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}
_FOUND = ["SERPAPI_KEY", "tavily_key", "deepl_key", "roboflow_key", "CLEARML_KEY", "runpod_key", "FIREWORKS_KEY",
          "voyage_key", "ELEVENLABS_KEY", "together_key", "azure_key", "minio_key", "b2_key", "r2_key", "github_key",
          "slack_key"]


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_every_listed_services_key_is_a_secret_in_every_spelling(service):
    camel = service + "Key"
    for name in (f"{service}_key", f"{service.upper()}_KEY", f"{service}-key", camel, f"{service}key"):
        assert secret_kind(name) is not None, name
    assert secret_kind(f"{service}_key_path") is None  # where it is kept is a path, not the key


@pytest.mark.parametrize("name", _FOUND)
def test_the_names_the_red_team_found_are_hidden_in_text_and_mappings(name):
    value = "b69e0afd17206db640392e5673e34f12"
    out, counts = Scrubber(_OWN).scrub(f"{name}={value}\nMAPBOX_KEY={value}")
    assert value not in out and counts
    assert_scrub_laws(_OWN, f"{name}={value}")
    record = upgrade(load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json"))
    record["invocation"]["config"] = {"services": {name: value}, "sort_key": "loss"}
    redacted = redact(record, "most")
    assert value not in str(redacted) and redacted["invocation"]["config"]["sort_key"] == "loss"
    assert check_level(redacted, "most") == []
    assert [v.path for v in check_level(record, "most") if "services" in v.path]  # the gate sees it too


@pytest.mark.parametrize("name", ["sort_key", "primary_key", "cache_key", "s3_key", "jira_key", "linear_key",
                                  "label_key", "image_key", "key_column", "keyframe", "monitor_key"])
def test_ordinary_keys_stay(name):
    assert secret_kind(name) is None
    text = f"{name}=abc123def"
    assert Scrubber(_OWN).scrub(text)[0] == text


@pytest.mark.parametrize("text", ["authMechanism=SCRAM-SHA-256", 'split_token: "<|split|>"',
                                  "mongodb://db/?authSource=admin&authMechanism=SCRAM-SHA-256"])
def test_settings_beside_secret_words_stay(text):
    """A connection's auth mechanism and a tokenizer's split token are settings (over-scrubbed before)."""
    assert Scrubber(_OWN).scrub(text)[0] == text


@pytest.mark.parametrize("text", ["NODE_AUTH_TOKEN=${{ secrets.NPM_TOKEN }}", "password: {{ vault_db_password }}",
                                  "api_key: ${{ secrets['OPENAI'] }}", "password: {{vault_db_password}} x",
                                  'env:\n  NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}\n  HF_HOME: /mnt/cache/hf\n'])
def test_a_templates_variable_is_a_reference_not_the_secret(text):
    """GitHub Actions' ``${{ secrets.X }}`` and Jinja/Ansible/Helm's ``{{ name }}`` say where the secret is kept
    (before, the value ended at the space: ``<redacted:auth> secrets.NPM_TOKEN }}``)."""
    assert Scrubber(_OWN).scrub(text)[0] == text
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize(("text", "out"), [
    ('password: {{ "hunter2" }}', "password: <redacted:password>"),  # a literal, not a variable
    ("token: ${{ secrets.X }} password=Zx9q", "token: ${{ secrets.X }} password=<redacted:password>"),
])
def test_a_template_with_a_literal_or_a_secret_after_it_is_still_hidden(text, out):
    assert Scrubber(_OWN).scrub(text)[0] == out
    assert_scrub_laws(_OWN, text)


def test_the_gate_and_redact_agree_on_template_references():
    record = upgrade(load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json"))
    record["invocation"]["config"] = {"token": "${{ secrets.NPM_TOKEN }}", "ci": "password: {{ vault_pw }}",
                                      "password": "{{ vault_db_password }}"}
    redacted = redact(record, "most")
    assert redacted["invocation"]["config"] == record["invocation"]["config"]
    assert not [v.path for v in check_level(record, "most") if "config" in v.path]
