"""What the nineteenth held-out red-team corpus of issue 13 left ambiguous (``/work/scratch/redteam19``), now hidden:

* a listed service written with ``AI`` after its name (``TogetherAIKey``, ``TOGETHERAI_KEY``, ``MistralAIKey``):
  ``together`` and ``mistral`` are services, ``togetherai`` was not;
* a .NET configuration key whose last part is a bare ``Key`` (``AzureOpenAI:Key``), in text and as a flag: the
  key was judged by its last part alone, and a bare ``key`` names no secret; it is now judged with the part
  before it, as ``AzureOpenAI__Key`` and ``AzureOpenAI.Key`` already were;
* the keys of services not listed before (``lambdalabs_key``, ``SUPABASE_KEY``, ``StabilityAIKey``, ``XAI_KEY``).
"""

from __future__ import annotations

import pytest

from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.operations.secretnames import secret_kind

from helpers import assert_name_hides_its_value, assert_scrub_laws, config_record

_OWN = {"home": "/home/mkowalski", "user": "mkowalski", "host": "dgx-a100-n07"}
_VALUE = "kf34Qx7hIhRP7Bz9Yw2"
_FOUND = ["TogetherAIKey", "TOGETHERAI_KEY", "TOGETHER_AI_KEY", "together_ai_key", "togetheraikey", "MistralAIKey",
          "mistral_ai_key", "DeepSeekAIKey", "FireworksAIKey", "PerplexityAIKey", "StabilityAIKey", "XAI_KEY",
          "xAIKey", "lambdalabs_key", "SUPABASE_KEY"]
_SETTINGS = ["ai_key", "AIKey", "thai_key", "maize_key", "sort_key", "cache_key", "stability_weight"]


@pytest.mark.parametrize("name", _FOUND)
def test_a_service_written_with_ai_after_its_name_has_its_key_hidden(name):
    assert secret_kind(name) == "secret"
    assert_name_hides_its_value(_OWN, name, _VALUE, "export {}={}")


@pytest.mark.parametrize("name", _SETTINGS)
def test_names_that_only_hold_ai_or_key_stay(name):
    assert secret_kind(name) is None
    assert Scrubber(_OWN).scrub(f"{name}=users")[0] == f"{name}=users"


@pytest.mark.parametrize("text", [f"AzureOpenAI:Key={_VALUE}", f"Azure:OpenAI:Key: {_VALUE}",
                                  f"--AzureOpenAI:Key {_VALUE} --urls http://0.0.0.0:5000", f"Storage:Key={_VALUE}"])
def test_a_dotnet_key_ending_in_a_bare_key_is_judged_with_the_part_before_it(text):
    out, counts = Scrubber(_OWN).scrub(text)
    assert _VALUE not in out and counts
    assert_scrub_laws(_OWN, text)
    argv = Scrubber(_OWN).scrub_argv(text.split())[0]
    assert _VALUE not in str(argv)


@pytest.mark.parametrize("text", ["Cache:Key=users", "Sort:Key=name", "--Cache:Key users", "--Logging:Key Warning"])
def test_a_dotnet_key_ending_in_a_bare_key_of_no_secret_stays(text):
    assert Scrubber(_OWN).scrub(text)[0] == text
    assert Scrubber(_OWN).scrub_argv(text.split())[0] == text.split()


def test_the_names_in_a_record_are_hidden_and_the_gate_sees_them():
    config = {"llm": {name: f"{_VALUE}{i}" for i, name in enumerate(_FOUND)},
              "appsettings": f"AzureOpenAI:Key={_VALUE}\nAzureOpenAI:Endpoint=https://x.openai.azure.com/",
              "stability_weight": 0.5}
    record = config_record(config)
    assert [v for v in check_level(record, "most") if "llm" in v.path or "appsettings" in v.path]
    redacted = redact(record, "most")
    assert _VALUE not in str(redacted)
    assert "AzureOpenAI:Endpoint=https://x.openai.azure.com/" in redacted["invocation"]["config"]["appsettings"]
    assert redacted["invocation"]["config"]["stability_weight"] == 0.5
    assert check_level(redacted, "most") == []
    assert redact(redacted, "most") == redacted


_HOOK = "https://discord.com/api/webhooks/1234567890/OtVsHGdExm6quYvG2Z3WrJzwGswuvUxn3JjtEoUCopRm4oaf1FRzPHc"


@pytest.mark.parametrize("text", [f"notify {_HOOK} on failure", _HOOK.replace("https://", ""),
                                  _HOOK.replace("discord.com", "discordapp.com"),
                                  _HOOK.replace("discord.com/api/", "canary.discord.com/api/v10/")])
def test_a_discord_webhook_url_is_hidden(text):
    out, counts = Scrubber(_OWN).scrub(text)
    assert "OtVsHGdExm6quYvG2Z3WrJzwGswuvUxn3JjtEoUCopRm4oaf1FRzPHc" not in out
    assert counts == {"discord-webhook": 1}
    assert_scrub_laws(_OWN, text)


def test_other_discord_urls_stay_and_the_gate_sees_a_webhook():
    text = "docs: https://discord.com/api/v10/channels/123 and https://discord.com/invite/abc"
    assert Scrubber(_OWN).scrub(text)[0] == text
    record = config_record({"alerts": {"hook": _HOOK}})
    assert check_level(record, "most")
    redacted = redact(record, "most")
    assert "OtVsHGdExm6quY" not in str(redacted) and check_level(redacted, "most") == []


def test_found_by_review_a_service_role_key_and_webhook_hosts_in_any_case():
    assert secret_kind("SUPABASE_SERVICE_ROLE_KEY") == "secret" and secret_kind("role_key") is None
    assert_name_hides_its_value(_OWN, "SUPABASE_SERVICE_ROLE_KEY", "sb_secret_N7UND0UgjKTVK-Uodkm0Hg_xSvEMPvz")
    for text in (_HOOK.replace("discord.com", "Discord.com"), _HOOK.upper().replace("/API/WEBHOOKS/", "/api/webhooks/"),
                 "see HOOKS.SLACK.COM/services/T0AAAAAAA/B0BBBBBBB/xXxXxXxXxXxXxXxXxXxXxXxX"):
        out, counts = Scrubber(_OWN).scrub(text)
        assert out.endswith(("<redacted:discord_webhook>", "<redacted:slack_webhook>")) and counts, text
        assert_scrub_laws(_OWN, text)
    assert Scrubber(_OWN).scrub("my /services/ and /webhooks/ folders")[0] == "my /services/ and /webhooks/ folders"


def test_an_array_index_after_a_bare_key_is_no_value():
    text = f"AzureOpenAI:Key:0: {_VALUE}"
    assert Scrubber(_OWN).scrub(text)[0].startswith("AzureOpenAI:Key:0: ")  # not ``Key:<redacted> VALUE``


@pytest.mark.parametrize("argv, kept", [
    (["--tag=nightly-version", "10.0.0.1"], False),  # a glued value says nothing of the next argument
    (["--cuda-version=", "12.1.0.1"], True),
    (["--cudnn-version", "9.1.0.70"], True),
    (["--version=1.2", "10.0.0.1"], False),
])
def test_only_a_version_flag_keeps_the_dotted_number_after_it(argv, kept):
    out = Scrubber(_OWN).scrub_argv(argv)[0]
    assert (out[-1] == argv[-1]) is kept


@pytest.mark.parametrize("section", ["AzureOpenAI", "Jwt", "Stripe", "Signing"])
def test_a_bare_key_is_judged_with_the_mapping_holding_it(section):
    """``{"Jwt": {"Key": X}}`` is how ``appsettings.json`` writes ``Jwt:Key``: hidden by redaction and seen
    by the gate, also after the same mapping was seen clean under another name (its text is the same)."""
    config = {"Cache": {"Key": "users"}, section: {"Key": _VALUE, "Issuer": "me"}, "Sort": {"key": "name"},
              "items": [{"Key": "a"}]}
    record = config_record(config)
    assert [v for v in check_level(record, "most") if v.path.endswith(f"{section}.Key")]
    redacted = redact(record, "most")
    out = redacted["invocation"]["config"]
    assert _VALUE not in str(redacted) and out[section] == {"Key": "<redacted:secret>", "Issuer": "me"}
    assert out["Cache"] == {"Key": "users"} and out["Sort"] == {"key": "name"} and out["items"] == [{"Key": "a"}]
    assert check_level(redacted, "most") == [] and redact(redacted, "most") == redacted
    # the same scrubber, the clean text first, then the same text under a service's name
    record = config_record({"Cache": {"Key": _VALUE}, "extra": {section: {"Key": _VALUE}}})
    redacted = redact(record, "most")
    assert redacted["invocation"]["config"]["Cache"] == {"Key": _VALUE}
    assert redacted["invocation"]["config"]["extra"][section] == {"Key": "<redacted:secret>"}
