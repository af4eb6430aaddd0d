"""What the fourteenth held-out red-team corpus of issue 13 found (``/work/scratch/redteam14``):

* a list item ``"token: 3600"`` (``OmegaConf.to_yaml(cfg).splitlines()``) lost its number and its space: an
  argument holding a name, its separator and one word is judged by the text rules (a number is a setting);
  only a value of several words is hidden whole, with the space after the separator kept;
* Jupyter's hashed password ``argon2:$argon2id$v=19$m=...,t=...,p=...$salt$hash`` was cut at the first comma;
* the README's example ``pin: 004271`` named no secret (``pin`` alone is a package pin or ``pin_memory``):
  the example is ``pin_password: 004271``;
* OmegaConf's ``${oc.env:DB_PASSWORD}`` as a value of its own is a reference, as ``${DB_PASSWORD}`` is.
"""

from __future__ import annotations

import pytest

from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import check_level, redact
from procrecord.operations.scrub import Scrubber
from procrecord.record.schemas import current_version

from helpers import FIXTURES, assert_scrub_laws, load_json

_OWN = {"home": "/home/jdoe", "user": "jdoe", "host": "gpu-node05.lab"}


def test_yaml_lines_of_settings_in_a_list_stay():
    lines = ["token: 3600", "password: 12", "secret: 7", "api_key: 0", "password: 'true'", "lr: 0.1"]
    assert Scrubber(_OWN).scrub_argv(lines) == (lines, {})


def test_a_yaml_line_with_a_secret_of_several_words_keeps_its_shape():
    out, counts = Scrubber(_OWN).scrub_argv(["password: correct horse", "token:  Zq81 x"])
    assert out == ["password: <redacted:password>", "token:  <redacted:token>"] and counts
    assert Scrubber(_OWN).scrub_argv(out) == (out, {})


@pytest.mark.parametrize("text", [
    "--NotebookApp.password=argon2:$argon2id$v=19$m=10240,t=10,p=8$0ZrGBkmDPLNXOS1Z$abcdefghij",
    "password: argon2:$argon2id$v=19$m=10240,t=10,p=8$0ZrGBkmDPLNXOS1Z$abcdefghij",
])
def test_jupyters_hashed_password_is_hidden_whole(text):
    out = Scrubber(_OWN).scrub(text)[0]
    assert out.endswith("<redacted:password>") and "0ZrGBkmDPLNXOS1Z" not in out and "t=10" not in out
    assert_scrub_laws(_OWN, text)


@pytest.mark.parametrize(("config", "kept"), [
    ({"pin_password": "004271"}, False), ({"sim_pin_password": "0042"}, False),
    ({"pin_memory": True}, True), ({"pin": "numpy==1.26"}, True), ({"db_password": "${oc.env:DB_PASSWORD}"}, True),
    ({"db_password": "${oc.env:DB_PASSWORD,hunter2}"}, False),
])
def test_pins_and_references(config, kept):
    record = upgrade(load_json(FIXTURES / "redact" / "redteam5-formats" / "input.json"), current_version())
    record["invocation"]["config"] = config
    out = redact(record, "most")
    assert (out["invocation"]["config"] == config) is kept
    assert check_level(out, "most") == [] and redact(out, "most") == out
