"""Integers beyond 64 bits: read exactly by the rewriting commands, written by the writer."""

from __future__ import annotations

import json

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.bulk.jsoncodec import ExactnessError, dumps, loads_exact, may_hold_big_integer
from procrecord.cli import cli

from helpers import FIXTURES, load_json
from strategies import text

BIG = [2**64, 2**70 + 1, -(2**63) - 1, -(2**100), 123456789012345678901234567890]

big_ints = st.one_of(st.integers(2**64, 2**300), st.integers(-(2**300), -(2**63) - 1))
scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | big_ints \
    | st.floats(allow_nan=False, allow_infinity=False) | text
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4),
                      max_leaves=12)


def test_orjson_alone_loses_them():
    """Why the codec exists: orjson reads these as floats (if this starts failing, it no longer does)."""
    assert orjson.loads(b"[18446744073709551616]") == [1.8446744073709552e19]
    with pytest.raises(TypeError):
        orjson.dumps(2**64)


@pytest.mark.parametrize("number", BIG)
def test_big_integers_survive_a_round_trip(number):
    record = {"config": {"seed": number, "nested": [number, {"n": number}]}, "lr": 0.001}
    for indent in (False, True):
        text = dumps(record, indent=indent)
        assert str(number).encode() in text
        back = loads_exact(text)
        assert back == record and isinstance(back["config"]["seed"], int)


@settings(max_examples=300, deadline=None)
@given(values)
def test_loads_exact_inverts_dumps(value):
    for indent in (False, True):
        assert loads_exact(dumps(value, indent=indent)) == value


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(text, st.integers(-(2**63), 2**64 - 1) | text, max_size=6))
def test_without_big_integers_it_is_orjson(value):
    data = orjson.dumps(value)
    assert dumps(value) == data and loads_exact(data) == orjson.loads(data)


def test_the_pre_check():
    assert not may_hold_big_integer(b'{"a": 1234567890123456789 }'.replace(b"1234567890123456789", b"123456789012345678"))
    assert may_hold_big_integer(b'{"a": 1234567890123456789}')
    # digits in a string also trigger the second reading, which then gives the same value
    data = b'{"commit": "00000000000000000000000000000000000000ab", "n": 1}'
    assert may_hold_big_integer(data) and loads_exact(data) == orjson.loads(data)


def test_what_orjson_rejects_is_still_rejected():
    for bad in (b'{"a": NaN, "b": 12345678901234567890123}', b'{"a": 12345678901234567890123,}'):
        with pytest.raises(orjson.JSONDecodeError):
            loads_exact(bad)


def test_too_deep_to_read_exactly_is_an_error_not_a_silent_float():
    """orjson takes 1,000 levels; the standard library may not (3.10-3.12 stop there; 3.13 does not)."""
    data = b"[" * 1000 + b"123456789012345678901234567890" + b"]" * 1000
    try:
        value = loads_exact(data)
    except ExactnessError as exc:
        assert "nested too deeply" in str(exc)
    else:
        for _ in range(1000):
            (value,) = value
        assert value == 123456789012345678901234567890


def test_other_values_orjson_refuses_still_raise():
    with pytest.raises(TypeError):
        dumps({"a": object()})
    with pytest.raises(TypeError):
        dumps({"a": object(), "n": 2**70})


def _invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.mark.parametrize("command", [("redact", "--level", "most"), ("upgrade",), ("downgrade",),
                                     ("redact", "--level", "most", "--embedded")])
def test_rewriting_commands_keep_big_integers(tmp_path, command):
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    record["invocation"]["config"]["seed"] = 2**70 + 1
    record["extra"] = {"hash": -(2**100)}
    path = tmp_path / "big.json"
    path.write_text(json.dumps({"info": [record]} if "--embedded" in command else record))
    result = _invoke(*command, path)
    assert result.exit_code == 0, result.output
    assert str(2**70 + 1) in result.stdout and str(-(2**100)) in result.stdout
    assert "e+" not in result.stdout and "e21" not in result.stdout


def test_legacy_upgrade_keeps_big_integers(tmp_path):
    legacy = load_json(FIXTURES / "0" / "valid" / "full-telemetry.json")
    legacy["properties"]["config"]["seed"] = 2**65 + 1  # not a float: 2**65 would compare equal as one
    del legacy["properties"]["uuid"]  # the id is then derived from the content, big integer included
    path = tmp_path / "old.jsonl"
    path.write_text(json.dumps(legacy) + "\n")
    result = _invoke("upgrade", path)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["invocation"]["config"]["seed"] == 2**65 + 1


def test_a_record_too_deep_to_read_exactly_is_reported_and_left_alone(tmp_path):
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    text = json.dumps(record)[:-1] + ', "extra": {"deep": ' + "[" * 1000 + str(2**70) + "]" * 1000 + "}}"
    path = tmp_path / "deep.json"
    path.write_text(text)
    result = _invoke("redact", "--level", "most", "--in-place", path)
    # Python 3.10-3.12: the standard library cannot read it again; 3.13 reads it and the redaction
    # then finds it too deep. Either way one clear line, and the file is left as it was.
    assert result.exit_code == 1
    assert "nested too deeply" in result.stdout + result.stderr
    assert path.read_text() == text


def test_the_writer_writes_big_integers(tmp_path):
    from procrecord import Recorder

    output = tmp_path / "run.json"
    with Recorder("big", config={"seed": 2**70, "neg": -(2**65)}, output=output):
        pass
    config = json.loads(output.read_text())["invocation"]["config"]
    assert config == {"seed": 2**70, "neg": -(2**65)}
    assert _invoke("validate", output).exit_code == 0


def test_diff_tells_big_integers_apart(tmp_path):
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    paths = []
    for n, seed in enumerate((2**70, 2**70 + 1)):
        record["invocation"]["config"]["seed"] = seed
        paths.append(tmp_path / f"{n}.json")
        paths[-1].write_text(json.dumps(record))
    result = _invoke("diff", *paths)
    assert result.exit_code == 1 and str(2**70 + 1) in result.stdout
    assert _invoke("diff", "--baseline", paths[0], paths[1]).exit_code == 1


def test_diff_json_reports_hold_big_integers(tmp_path):
    record = load_json(FIXTURES / "1.0" / "valid" / "gpu-training.json")
    paths = []
    for n, seed in enumerate((2**70, 2**70 + 1, 2**70 + 2)):
        record["invocation"]["config"]["seed"] = seed
        paths.append(tmp_path / f"{n}.json")
        paths[-1].write_text(json.dumps(record))
    pair = _invoke("diff", "--format", "json", paths[0], paths[1])
    assert pair.exit_code == 1 and str(2**70 + 1) in pair.stdout
    many = _invoke("diff", "--format", "json", "--baseline", paths[0], paths[1], paths[2])
    report = json.loads(many.stdout)
    assert many.exit_code == 1 and {"path": "invocation.config.seed", "records": 2, "values": 2, "more_values": False} in report["varying"]
    assert str(2**70 + 2) in many.stdout


def test_text_that_is_not_unicode_is_written_escaped():
    """Python decodes a command line argument or path that is not UTF-8 to lone surrogates."""
    record = {"argv": ["file-\udcff.txt"], "config": {"odd\udc80key": "a\ud800b"}}
    assert json.loads(dumps(record)) == {"argv": ["file-\\xff.txt"], "config": {"odd\\x80key": "a\\ud800b"}}
    assert json.loads(dumps({"n": 2**70, "s": "\udcff"}, indent=True)) == {"n": 2**70, "s": "\\xff"}


def test_the_writer_survives_any_config_and_argv(tmp_path, monkeypatch):
    from procrecord import Recorder

    class BadRepr:
        def __repr__(self):
            raise RuntimeError("no repr")

    class BadIter(list):
        def __iter__(self):
            raise RuntimeError("no iter")

    monkeypatch.setattr("sys.argv", ["train.py", "--data", "set-\udcff"])
    output = tmp_path / "run.json"
    with Recorder("odd", config={"bad_repr": BadRepr(), "bad_iter": BadIter([1]), "text": "a\ud800b"}, output=output):
        pass
    record = json.loads(output.read_text())
    config = record["invocation"]["config"]
    assert config["bad_repr"] == "<BadRepr object: repr failed: RuntimeError>"
    assert config["bad_iter"].startswith("<BadIter object: conversion failed: RuntimeError")
    assert config["text"] == "a\\ud800b" and record["invocation"]["argv"][-1] == "set-\\xff"
    assert _invoke("validate", output).exit_code == 0


@pytest.mark.parametrize("text, expected", [
    (b'{"score": 0.0016622953670337726}', False),  # a long fraction is no integer (kwcoco scores)
    (b'{"x": 1.5e-0000000000000000000001}', False),  # nor a long exponent
    (b'{"x": 2.5E+0000000000000000000001}', False),
    (b'{"x": "12345678901234567890123"}', True),  # digits in a string: a harmless re-read
    (b'{"seed": 1180591620717411303425}', True),
    (b'{"seed":-1180591620717411303425}', True),
    (b'[1180591620717411303425]', True),
    (b'1180591620717411303425', True),
    (b'-1180591620717411303425', True),
    (b'{"n": 123456789012345678}', False),  # 18 digits always fit
])
def test_big_integer_detection_ignores_fractions_and_exponents(text, expected):
    assert may_hold_big_integer(text) is expected


@given(st.recursive(st.integers(-(2**80), 2**80) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
                    max_leaves=20))
def test_every_big_integer_is_noticed(value):
    text = json.dumps(value).encode()
    has_big = any(not (-(2**63) <= n < 2**64) for n in _integers(value))
    if has_big:
        assert may_hold_big_integer(text)
    assert loads_exact(text) == json.loads(text)


def _integers(value):
    if isinstance(value, bool):
        return
    if isinstance(value, int):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _integers(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _integers(item)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=3), st.recursive(
    st.integers(-(2**80), 2**80) | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=3), inner, max_size=4),
    max_leaves=20), max_size=4), st.booleans())
def test_the_loader_reads_every_integer_exactly_with_the_duplicate_key_check(value, indent):
    """The rewriting commands read with the duplicate-key check, whose orjson text of the parsed value
    (no float exponent in it) stands for the byte scan of the input: the same values as the standard library."""
    from procrecord.bulk.loader import Loaded, parse

    data = json.dumps(value, indent=2 if indent else None).encode()
    item = parse(data, "s.json", None, exact=True, unique=True)
    assert isinstance(item, Loaded)
    assert item.record == json.loads(data)
    assert [type(n) for n in _integers(item.record)] == [int for _ in _integers(item.record)]


@pytest.mark.parametrize("number", [2**64, -(2**63) - 1, 2**64 - 1, -(2**63), 10**40])
def test_a_big_integer_beside_float_exponents_and_look_alike_strings(number):
    from procrecord.bulk.loader import Loaded, parse

    record = {"note": "x e+ y", "big": 1e300, "small": 1e-7, "seed": number, "list": [number, {"n": number}]}
    for data in (json.dumps(record).encode(), json.dumps(record, indent=2).encode(), dumps(record)):
        item = parse(data, "s.json", None, exact=True, unique=True)
        assert isinstance(item, Loaded) and item.record == record and item.record["seed"].__class__ is int
