"""The attrs model of 1.0: it round-trips, always validates, and stays in step with the schema."""

from __future__ import annotations

import typing

import attrs
import pytest
from hypothesis import given, settings

from procrecord import model as m
from procrecord.schemas import load_schema
from procrecord.validation import validate
from strategies import records

CONVERTER = m.make_converter()


@settings(max_examples=150, deadline=None)
@given(records)
def test_any_record_serialises_to_a_valid_dict(record):
    data = m.to_dict(record, CONVERTER)
    assert validate(data, all_errors=True) == []


@settings(max_examples=150, deadline=None)
@given(records)
def test_structure_unstructure_round_trip(record):
    assert m.from_dict(m.to_dict(record, CONVERTER), CONVERTER) == record


def test_converters_are_independent():
    assert m.make_converter() is not m.make_converter()


def test_unknown_keys_are_rejected_by_the_converter():
    from cattrs.errors import ClassValidationError, ForbiddenExtraKeysError

    with pytest.raises((ForbiddenExtraKeysError, ClassValidationError)):
        m.from_dict({"id": "x", "name": None, "status": "running", "producer": {"name": "a", "version": "1"}, "hostnmae": "x"}, CONVERTER)


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
