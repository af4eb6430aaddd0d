"""What the seventeenth held-out red-team corpus of issue 13 found (``/work/scratch/redteam17``):

* a service's key written in CamelCase with an acronym (``OpenAIKey``, ``GitHubKey``, ``HuggingFaceKey``,
  ``WandBKey``, ``azureOpenAIKey``) was kept: the case split the service's name in words;
* the last ``Name=value`` of a connection string (no ``;`` after it) took everything to the end of the
  text: the closing quote and the rest of a JSON text (which then no longer parsed), the next lines, a
  repr's closing, an XML closing tag;
* a colon-joined configuration key with the secret's word in an earlier part (``Storage:AccountKey:Rotation``,
  ``Auth:ClientSecret:ExpiresInDays``, ``--Jwt:SigningKey:Algorithm RS256``) had its last part taken for a
  glued value, and ``Auth__Token__Issuer`` / ``__Audience`` (who issues a token, for whom) were hidden;
* a string with a lone surrogate (an undecodable file name) crashed redaction, and so ``Recorder(level=...)``.
"""

from __future__ import annotations

import json

import pytest

from procrecord import Recorder
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.operations.secretnames import secret_kind

from helpers import assert_scrub_laws, config_record

_OWN = {"home": "/home/mkowalski", "user": "mkowalski", "host": "gpu-node-17b"}
_VALUE = "sk7Qx9hIhRP7Bz9w"


def _record(config: dict) -> dict:
    return config_record(config, {"hostname": "gpu-node-17b", "user": "mkowalski", "home": "/home/mkowalski"})


@pytest.mark.parametrize("name", ["OpenAIKey", "azureOpenAIKey", "AzureOpenAIKey", "openAIKey", "OpenAI_Key", "WandBKey",
                                  "GitHubKey", "HuggingFaceKey"])
def test_a_services_key_in_camel_case_with_an_acronym_is_hidden(name):
    assert secret_kind(name) is not None
    out, counts = Scrubber(_OWN).scrub(f"{name}={_VALUE}")
    assert _VALUE not in out and counts
    redacted = redact(_record({name: _VALUE}), "most")
    assert _VALUE not in json.dumps(redacted) and check_level(redacted, "most") == []


@pytest.mark.parametrize("name", ["HubKey", "FaceKey", "OpenKey", "AIKey", "CacheKey", "primaryKey", "GitHubKeyPath"])
def test_keys_that_name_no_service_stay(name):
    assert secret_kind(name) is None


@pytest.mark.parametrize("text, kept", [
    ('{"conn": "Server=sql;Database=f;Password=X9f2kq", "retries": 3}', '", "retries": 3}'),
    ("Server=sql;Password=X9f2kq\nnext line stays", "\nnext line stays"),
    ("Server=sql;PWD=X9f2kq\tcolumn two", "\tcolumn two"),
    ("conn = Conn('Server=sql;AccountKey=X9f2kq==')", "')"),
    ("<conn>Server=sql;Password=X9f2kq</conn>", "</conn>"),
])
def test_the_last_part_of_a_connection_string_ends_where_its_text_does(text, kept):
    out, counts = Scrubber(_OWN).scrub(text)
    assert "X9f2kq" not in out and out.endswith(kept) and counts
    assert_scrub_laws(_OWN, text)
    if text.startswith("{"):
        assert json.loads(out)["retries"] == 3


def test_a_password_with_spaces_before_the_next_part_is_still_hidden_whole():
    out = Scrubber(_OWN).scrub("Server=x;Password=two words;Encrypt=True")[0]
    assert out == "Server=x;Password=<redacted:password>;Encrypt=True"


@pytest.mark.parametrize("text", ["Storage:AccountKey:Rotation=monthly", "Auth:ClientSecret:ExpiresInDays=90",
                                  "Auth__Token__Issuer=https://issuer.example.org", "Auth__Token__Audience=api://ml",
                                  "--Jwt:SigningKey:Algorithm RS256", "github_token_scope=repo"])
def test_a_setting_named_after_a_secret_in_a_qualified_key_stays(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})


def test_a_dotnet_flag_whose_last_part_is_a_setting_keeps_its_value_in_argv():
    argv = ["dotnet", "run", "--Jwt:SigningKey:Algorithm", "RS256", "--Storage:AccountKey", _VALUE]
    out = Scrubber(_OWN).scrub_argv(argv)[0]
    assert out[:4] == argv[:4] and out[5].startswith("<redacted:")


@pytest.mark.parametrize("text", ["Storage:AccountKey=X9f2kq", "Auth:ClientSecret=X9f2kq", "password:Secret=X9f2kq",
                                  "api_key:Zm9vYmFy=", "db:password:Welcome1", "x:password:Hunter two"])
def test_a_secret_glued_to_its_name_or_ending_a_qualified_key_is_still_hidden(text):
    out, counts = Scrubber(_OWN).scrub(text)
    assert counts and ("X9f2kq" not in out and "Zm9vYmFy" not in out and "Welcome1" not in out and "Hunter" not in out)


def test_a_lone_surrogate_is_scrubbed_and_the_writer_starts(tmp_path):
    """An undecodable file name read with ``surrogateescape`` holds a lone surrogate: the fixed rules' scan
    (UTF-8 only) refused it, and ``Recorder(level="most")`` failed as its block began."""
    planted = "/home/mkowalski/caf\udce9 password=hunter2x gpu-node-17b"
    out = redact(_record({"path": "/data/caf\udce9.jpg", "note": planted}), "most")
    config = out["invocation"]["config"]
    assert config["path"] == "/data/caf\udce9.jpg"
    assert config["note"] == "~/caf\udce9 password=<redacted:password> <host>"
    assert redact(out, "most") == out
    with Recorder("x", config={"path": "/data/caf\udce9.jpg", "api_key": _VALUE}, level="most", use_plugins=False,
                  handle_signals=False, git_dirty=False) as rec:
        pass
    assert rec.record["invocation"]["config"]["path"] == "/data/caf\udce9.jpg"
    assert _VALUE not in str(rec.record)


@pytest.mark.parametrize("key, value", [("Auth:Jwt:SigningKey:Algorithm", "HS256"), ("Storage:AccountKey:Rotation", "monthly"),
                                        ("Vault:Token:Renewal", "hourly"), ("ApiKey:Header", "X-API-KEY"),
                                        ("Jwt:SigningKey:Issuer", "https://issuer.example.org")])
def test_a_colon_joined_key_ending_in_a_setting_keeps_its_name_and_value(key, value):
    redacted = redact(_record({key: value, "Storage:AccountKey": _VALUE}), "most")
    config = redacted["invocation"]["config"]
    assert config[key] == value and _VALUE not in json.dumps(redacted)
    assert check_level(redacted, "most") == [] and redact(redacted, "most") == redacted


@pytest.mark.parametrize("text", ["docker build --secret id=hf,env=HF_TOKEN .", "--secret id=npmrc,src=/run/secrets/npmrc"])
def test_a_container_secret_by_reference_stays(text):
    assert Scrubber(_OWN).scrub(text) == (text, {})
    assert Scrubber(_OWN).scrub_argv(text.split()) == (text.split(), {})
