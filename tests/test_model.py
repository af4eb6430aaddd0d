"""The generated attrs model: it is what the generator writes, round-trips, validates, and matches the schema."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
import typing

import attrs
import pytest
from hypothesis import given, settings

from procrecord.operations.migration import upgrade
from procrecord.record import _modelgen, reader
from procrecord.record import model as m
from procrecord.record.schemas import current_version, known_versions, load_schema
from procrecord.record.validation import validate

from helpers import FIXTURES, ROOT
from strategies import records

CONVERTER = reader.make_converter()


def test_committed_model_is_what_the_generator_writes():
    assert current_version() == m.SCHEMA_VERSION, "regenerate: python -m procrecord.record._modelgen"
    expected = _modelgen.generate(load_schema(m.SCHEMA_VERSION), m.SCHEMA_VERSION)
    assert _modelgen.model_path().read_text(encoding="utf-8") == expected


def test_generator_check_mode_reports_a_stale_model(tmp_path):
    stale = tmp_path / "model.py"
    stale.write_text("# hand edited\n", encoding="utf-8")
    assert _modelgen.main(["--check", "--output", str(stale)]) == 1
    assert _modelgen.main(["--output", str(stale)]) == 0
    assert _modelgen.main(["--check", "--output", str(stale)]) == 0


def _every_valid_fixture() -> list:
    return sorted(p for v in known_versions() for p in (FIXTURES / v / "valid").glob("*.json"))


@pytest.mark.parametrize("path", _every_valid_fixture(), ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_every_valid_fixture_round_trips(path):
    """Upgraded to the current version, a fixture converts to the model and back to the same dict,
    types included (an integer stays an integer, an explicit null stays null)."""
    data = upgrade(json.loads(path.read_text(encoding="utf-8")))
    back = reader.to_dict(reader.from_dict(data, CONVERTER), CONVERTER)
    assert back == data
    assert json.dumps(back, sort_keys=True) == json.dumps(data, sort_keys=True)


@settings(max_examples=150, deadline=None)
@given(records)
def test_any_record_serialises_to_a_valid_dict(record):
    data = reader.to_dict(record, CONVERTER)
    assert validate(data, all_errors=True) == []


@settings(max_examples=150, deadline=None)
@given(records)
def test_structure_unstructure_round_trip(record):
    assert reader.from_dict(reader.to_dict(record, CONVERTER), CONVERTER) == record


def test_a_hook_on_one_converter_does_not_leak_into_another():
    mine = reader.make_converter()
    mine.register_unstructure_hook(m.Producer, lambda p: "custom")
    record = m.Record(id="x", name=None, status="running", producer=m.Producer(name="a", version="1"))
    assert mine.unstructure(record)["producer"] == "custom"
    assert reader.make_converter().unstructure(record)["producer"] == {"name": "a", "version": "1"}


def test_unknown_keys_are_rejected_by_the_converter():
    from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

    with pytest.raises((ForbiddenExtraKeysError, ClassValidationError)):
        reader.from_dict({"id": "x", "name": None, "status": "running", "producer": {"name": "a", "version": "1"}, "hostnmae": "x"}, CONVERTER)


def test_absent_and_null_stay_apart():
    base = {"schema_version": m.SCHEMA_VERSION, "record_type": "procrecord.process", "id": "x", "name": None,
            "status": "failed", "producer": {"name": "a", "version": "1"}}
    left_out = reader.from_dict({**base, "outcome": {}}, CONVERTER)
    null = reader.from_dict({**base, "outcome": {"exit_code": None}}, CONVERTER)
    assert left_out.outcome.exit_code is m.ABSENT and null.outcome.exit_code is None
    assert reader.to_dict(left_out, CONVERTER)["outcome"] == {}
    assert reader.to_dict(null, CONVERTER)["outcome"] == {"exit_code": None}


def test_absent_is_falsy_like_none():
    """``if rec.outcome.exit_code:`` and ``rec.invocation.config or {}`` treat a left-out field as nothing."""
    record = reader.from_dict({"schema_version": m.SCHEMA_VERSION, "record_type": "procrecord.process", "id": "x",
                               "name": "job", "status": "completed", "producer": {"name": "a", "version": "1"},
                               "outcome": {}, "invocation": {"argv": ["job"]}}, CONVERTER)
    assert record.outcome.exit_code is m.ABSENT and record.invocation.config is m.ABSENT
    assert not record.outcome.exit_code and (record.invocation.config or {}) == {}
    assert bool(m.ABSENT) is False and m.ABSENT is not None  # still told apart from null with ``is``


def _future_schema() -> dict:
    """The current schema plus what a later minor version might add: a new section with a nested object,
    an array of objects, a local $ref, a nullable enum, an open bag and a property named by a keyword."""
    schema = json.loads(json.dumps(load_schema(current_version())))
    schema["$defs"] = {"Checkpoint": {"type": "object", "additionalProperties": False, "required": ["step"],
                                       "properties": {"step": {"type": "integer"}, "path": {"type": "string"}}}}
    schema["properties"]["training"] = {
        "type": "object", "additionalProperties": False,
        "properties": {
            "checkpoints": {"type": "array", "items": {"$ref": "#/$defs/Checkpoint"}},
            "optimizer": {"type": "object", "additionalProperties": False,
                          "properties": {"name": {"type": "string"}, "lr": {"type": "number"}}},
            "stage": {"enum": ["warmup", "main", None]},
            "class": {"type": "string"},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
        },
    }
    return schema


def test_the_generator_handles_a_future_schema(tmp_path):
    path = tmp_path / "future_model.py"
    path.write_text(_modelgen.generate(_future_schema(), "1.99"), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("future_model", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["future_model"] = module
    try:
        spec.loader.exec_module(module)
        assert {"Training", "Checkpoint", "Optimizer"} <= set(vars(module))
        converter = reader.make_converter(module)
        data = upgrade(json.loads((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text(encoding="utf-8")))
        data = copy.deepcopy(data)
        data["training"] = {"checkpoints": [{"step": 1, "path": "a.pt"}, {"step": 2}], "optimizer": {"lr": 1},
                            "stage": None, "class": "x", "labels": {"k": "v"}}
        record = converter.structure(data, module.Record)
        assert record.training.class_ == "x" and record.training.checkpoints[1].step == 2
        assert converter.unstructure(record) == data
    finally:
        del sys.modules["future_model"]


def _attrs_class(tp):
    """The attrs class inside Optional[X] / list[X], if any."""
    for arg in (tp, *typing.get_args(tp)):
        for inner in (arg, *typing.get_args(arg)):
            if isinstance(inner, type) and attrs.has(inner):
                return inner
    return None


def _compare(cls, schema, where, problems):
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in attrs.fields(cls)}
    props = set(schema.get("properties", {}))
    problems.extend(f"{where}/{n}: in model, not in schema" for n in sorted(fields - props))
    problems.extend(f"{where}/{n}: in schema, not in model" for n in sorted(props - fields))
    for name in fields & props:
        sub = schema["properties"][name]
        inner = _attrs_class(hints[name])
        target = sub.get("items", sub) if sub.get("type") == "array" else sub
        if inner is not None:
            _compare(inner, target, f"{where}/{name}", problems)
        elif "properties" in target:
            problems.append(f"{where}/{name}: schema object has no model class")


def test_model_fields_match_schema_properties():
    problems: list[str] = []
    _compare(m.Record, load_schema(m.SCHEMA_VERSION), "", problems)
    assert problems == []


def test_required_fields_match():
    schema = load_schema(m.SCHEMA_VERSION)
    no_default = {f.name for f in attrs.fields(m.Record) if f.default is attrs.NOTHING}
    assert no_default | {"schema_version", "record_type"} == set(schema["required"])


def test_the_writer_does_not_load_the_model():
    code = ("import sys, procrecord, procrecord.writer.recorder; "
            "print(sorted(m for m in ('procrecord.record.model', 'procrecord.record.reader', 'cattrs') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
