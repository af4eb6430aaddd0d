"""What the sixteenth held-out red-team corpus of issue 13 found (``/work/scratch/redteam16``):

* a secret's name after a qualifier that starts with a secret's word and goes on with a setting's word
  (``PasswordIdentityProvider.hashed_password``, ``TokenService.api_key``, ``SecretManagerOptions__ApiKey``,
  ``AuthProvider-api_key``) was kept, in text, mapping keys and argv, and the gate passed it: the first
  secret word, judged a setting by the word after it (``provider``, ``service``), ended the search. Each
  secret word is now judged in turn, and a setting's word before one counts only inside its own part of a
  qualified name;
* a .NET configuration key as a flag (``--Authentication:Google:ClientSecret X``) kept its value;
* ambiguous in its report, now hidden: ``GITLAB_PAT``/``AZDO_PAT``, ``fernet_key``, ``sentry_dsn_key``.
"""

from __future__ import annotations

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.operations.secretnames import secret_kind

from helpers import FIXTURES, assert_name_hides_its_value, assert_scrub_laws, load_json

_OWN = {"home": "/home/mkowalski", "user": "mkowalski", "host": "dgx-a100-n07"}
_VALUE = "kf34Qx7hIhRP7Bz9"
_FOUND = ["PasswordIdentityProvider.hashed_password", "ApiKeyStore.password", "PasswordResetService.smtp_password",
          "SecretsManager.aws_secret_access_key", "PasswordManager.master_password", "TokenService.api_key",
          "SecretManagerOptions__ApiKey", "TokenProvider__SigningKey", "CredentialStore.token", "credentialStore.token",
          "TokenStore.api_key", "TokenService_api_key", "AuthProvider-api_key", "CredentialsProvider.password",
          "TokenManager.api_key", "PASSWORDService.x_password", "AuthProvider.client_secret",
          "GITLAB_PAT", "AZDO_PAT", "AIRFLOW__CORE__FERNET_KEY", "fernet_key", "sentry_dsn_key", "sentryDsnKey"]
_SETTINGS = ["token_count", "password_min_length", "auth_method", "credential_provider", "use_auth", "auth.method",
             "TokenService", "PasswordIdentityProvider", "token_service_url", "auth_token_type", "use_auth_token",
             "TokenService.url", "PasswordPolicy.min_length", "pat_count", "GITLAB_PAT_FILE", "sort_key"]


@pytest.mark.parametrize("name", _FOUND)
def test_a_secret_name_after_a_qualifier_that_starts_with_a_secret_word_is_hidden(name):
    assert secret_kind(name) is not None
    assert_name_hides_its_value(_OWN, name, _VALUE, "c.{} = '{}'")


@pytest.mark.parametrize("name", _SETTINGS)
def test_settings_and_qualifiers_alone_stay(name):
    assert secret_kind(name) is None
    text = f"{name}=512"
    assert Scrubber(_OWN).scrub(text)[0] == text
    text = f"{name}=env-file"
    assert Scrubber(_OWN).scrub(text)[0] == text


def test_the_names_in_a_record_are_hidden_and_the_gate_sees_them():
    record = upgrade(load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json"))
    record["invocation"]["config"] = {"jupyter": {name: f"{_VALUE}{i}" for i, name in enumerate(_FOUND)},
                                      "TokenService": {"url": "https://tokens.example.org", "timeout": 30}}
    assert [v for v in check_level(record, "most") if "jupyter" in v.path]
    redacted = redact(record, "most")
    assert _VALUE not in str(redacted)
    assert redacted["invocation"]["config"]["TokenService"] == {"url": "https://tokens.example.org", "timeout": 30}
    assert check_level(redacted, "most") == []
    assert redact(redacted, "most") == redacted


@pytest.mark.parametrize("text, kept", [
    ("dotnet run --Authentication:Google:ClientSecret AbQx66666608", "dotnet run --Authentication:Google:ClientSecret "),
    ("--Kestrel:Certificates:Default:Password hunter2x --urls http://0.0.0.0:5000",
     "--Kestrel:Certificates:Default:Password "),
])
def test_a_dotnet_configuration_key_as_a_flag_hides_its_value(text, kept):
    out, counts = Scrubber(_OWN).scrub(text)
    assert out.startswith(kept + "<redacted:") and counts
    assert_scrub_laws(_OWN, text)
    argv = text.split()
    out = Scrubber(_OWN).scrub_argv(argv)[0]
    assert out[argv.index(kept.split()[-1]) + 1].startswith("<redacted:")


@pytest.mark.parametrize("text", ["dotnet run --Logging:LogLevel:Default Warning", "--Auth:ClientSecret env",
                                  "--password:Xyz12345 more"])
def test_a_dotnet_key_that_names_no_secret_and_a_glued_value_keep_the_next_word(text):
    out = Scrubber(_OWN).scrub(text)[0]
    assert out.split()[-1] == text.split()[-1]
    argv = Scrubber(_OWN).scrub_argv(text.split())[0]
    assert argv[-1] == text.split()[-1]
