"""The schema files themselves: well-formed, annotated as DESIGN.md requires, pinned."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
from jsonschema import Draft202012Validator

from procrecord.record.schemas import (
    ID_PREFIX,
    iter_properties,
    known_versions,
    load_schema,
    registry,
    schema_dir,
    schema_id,
)

from helpers import SCHEMA_DIR

VERSIONS = known_versions()
CURRENT = [v for v in VERSIONS if v != "0"]
REDACT_RANK = {"most": 1, "all": 2, "never": 3}


@pytest.mark.parametrize("version", VERSIONS)
def test_schema_is_valid_2020_12(version):
    schema = load_schema(version)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("version", VERSIONS)
def test_id_matches_file_name_and_version(version):
    schema = load_schema(version)
    assert schema["$id"] == f"{ID_PREFIX}procrecord-{version}.schema.json" == schema_id(version)
    assert (SCHEMA_DIR / f"procrecord-{version}.schema.json").is_file()


def test_loader_uses_the_single_checkout_copy():
    assert schema_dir().resolve() == SCHEMA_DIR.resolve() or (schema_dir() / "SHA256SUMS").is_file()


def test_released_schemas_are_pinned_by_checksum():
    pinned = {}
    for line in (SCHEMA_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split()
        pinned[name] = digest
    files = sorted(p.name for p in SCHEMA_DIR.glob("procrecord-*.schema.json"))
    assert sorted(pinned) == files, "every schema file must be pinned in schema/SHA256SUMS"
    for name, digest in pinned.items():
        actual = hashlib.sha256((SCHEMA_DIR / name).read_bytes()).hexdigest()
        assert actual == digest, f"{name} changed: released schemas are immutable, add a new version instead"


def test_registry_resolves_every_bundled_id_offline():
    reg = registry()
    for version in VERSIONS:
        assert reg.contents(schema_id(version))["$id"] == schema_id(version)


@pytest.mark.parametrize("version", CURRENT)
def test_every_property_declares_redaction(version):
    missing = [p for p, sub, _ in iter_properties(load_schema(version)) if sub.get("x-redact") not in REDACT_RANK]
    assert missing == []


@pytest.mark.parametrize("version", CURRENT)
def test_required_properties_are_never_removed_alone(version):
    """A required property is ``never`` redacted, or shares its object's level (it goes with it)."""
    schema = load_schema(version)
    assert all(load_schema(version)["properties"][name]["x-redact"] == "never" for name in schema["required"])
    for pointer, sub, _ in iter_properties(schema):
        for name in sub.get("required", []) + (sub.get("items", {}) or {}).get("required", []):
            holder = sub if name in sub.get("properties", {}) else sub["items"]
            assert holder["properties"][name]["x-redact"] in ("never", sub["x-redact"]), f"{pointer}/{name}"


@pytest.mark.parametrize("version", CURRENT)
def test_children_are_never_looser_than_their_parent(version):
    """A field must not survive a level that removes the object holding it."""
    for pointer, sub, _ in iter_properties(load_schema(version)):
        for child_ptr, child, _ in iter_properties(sub if "properties" in sub else sub.get("items", {}), pointer):
            assert REDACT_RANK[child["x-redact"]] <= REDACT_RANK[sub["x-redact"]], child_ptr


@pytest.mark.parametrize("version", CURRENT)
def test_names_are_snake_case_with_units(version):
    unit_suffix = {"_bytes": "bytes", "_s": "s", "_kwh": "kWh", "_kg": "kg"}
    for pointer, sub, _ in iter_properties(load_schema(version)):
        name = pointer.rsplit("/", 1)[-1]
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), pointer
        for suffix, unit in unit_suffix.items():
            if name.endswith(suffix):
                assert sub.get("x-unit") == unit, pointer


@pytest.mark.parametrize("version", CURRENT)
def test_objects_are_closed_except_the_open_bags(version):
    open_bags = {"/invocation/config", "/invocation/environment", "/extensions", "/extra", "/provenance/legacy"}
    for pointer, sub, _ in iter_properties(load_schema(version)):
        if sub.get("type") == "object":
            if pointer in open_bags:
                assert sub.get("additionalProperties") is not False, pointer
            else:
                assert sub.get("additionalProperties") is False, pointer


@pytest.mark.parametrize("version", CURRENT)
def test_identity_keys_name_a_property_of_the_items(version):
    keyed = [(p, s) for p, s, _ in iter_properties(load_schema(version)) if "x-key" in s]
    assert {p for p, _ in keyed} >= {"/python/packages", "/devices", "/disks"}
    for pointer, sub in keyed:
        names = sub["x-key"] if isinstance(sub["x-key"], list) else [sub["x-key"]]
        assert names and all(name in sub["items"]["properties"] for name in names), pointer


@pytest.mark.parametrize("version", CURRENT)
def test_annotation_values_are_well_formed(version):
    for pointer, sub, _ in iter_properties(load_schema(version)):
        assert isinstance(sub.get("x-volatile", False), bool), pointer
        assert isinstance(sub.get("x-scrub", False), bool), pointer
        assert sub.get("x-identifier") in (None, "host", "user", "home"), pointer
        if sub.get("x-pseudonymize"):
            assert sub["x-redact"] != "never", pointer


def test_schema_files_are_plain_json():
    """Every schema file is strict JSON (no NaN/Infinity, no duplicate keys): any JSON tool can read it."""
    def no_duplicates(pairs):
        keys = [k for k, _ in pairs]
        assert len(keys) == len(set(keys)), f"duplicate keys {keys}"
        return dict(pairs)

    def refuse(name):
        raise AssertionError(f"non-standard JSON constant {name}")

    paths = sorted(SCHEMA_DIR.glob("*.schema.json"))
    assert [p.name for p in paths] == sorted(f"procrecord-{v}.schema.json" for v in known_versions())
    for path in paths:
        schema = json.loads(path.read_text(encoding="utf-8"), object_pairs_hook=no_duplicates, parse_constant=refuse)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path.name
