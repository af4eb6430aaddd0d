"""The one loader of the bundled JSON Schemas, their versions and an offline registry."""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterator

import orjson

from procrecord.errors import SchemaError, UnknownVersionError

#: File names look like ``procrecord-1.0.schema.json`` (and ``procrecord-0.schema.json`` for legacy).
_NAME = re.compile(r"^procrecord-(?P<version>0|[1-9][0-9]*\.[0-9]+)\.schema\.json$")
ID_PREFIX = "https://procrecord.org/schema/"


def schema_dir() -> Path:
    """Return the folder holding the bundled schemas (inside the wheel, or the checkout's ``schema/``)."""
    here = Path(__file__).resolve().parents[1]  # the package folder (this module is in a subpackage)
    for candidate in (here / "schema", here.parent / "schema"):
        if candidate.is_dir() and any(candidate.glob("procrecord-*.schema.json")):
            return candidate
    raise SchemaError(f"no bundled schemas found next to {here}")


def version_key(version: str) -> tuple[int, int]:
    """Sort key of a schema version string: ``"0"`` < ``"1.0"`` < ``"1.10"``."""
    if version == "0":
        return (0, 0)
    major, _, minor = version.partition(".")
    return (int(major), int(minor))


@functools.lru_cache(maxsize=None)
def known_versions() -> tuple[str, ...]:
    """Every schema version this installation ships, oldest first."""
    found = []
    for path in schema_dir().iterdir():
        match = _NAME.match(path.name)
        if match:
            found.append(match["version"])
    if not found:
        raise SchemaError(f"no schema files in {schema_dir()}")
    return tuple(sorted(found, key=version_key))


def current_version() -> str:
    """The newest schema version, the one the writer produces."""
    return known_versions()[-1]


def schema_path(version: str) -> Path:
    """Path of the schema file of ``version``."""
    if version not in known_versions():
        raise UnknownVersionError(
            f"unknown schema version {version!r} (known: {', '.join(known_versions())})"
        )
    return schema_dir() / f"procrecord-{version}.schema.json"


def schema_id(version: str) -> str:
    """The ``$id`` a schema of ``version`` must carry."""
    return f"{ID_PREFIX}procrecord-{version}.schema.json"


@functools.lru_cache(maxsize=None)
def load_schema(version: str) -> dict[str, Any]:
    """Load the schema of ``version`` (cached; treat the result as read-only)."""
    path = schema_path(version)
    try:
        schema = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError) as exc:
        raise SchemaError(f"{path}: cannot load schema: {exc}") from exc
    if not isinstance(schema, dict) or schema.get("$id") != schema_id(version):
        raise SchemaError(f"{path}: $id does not match {schema_id(version)}")
    return schema


@functools.lru_cache(maxsize=None)
def registry() -> Any:
    """An offline ``referencing.Registry`` of every bundled schema: nothing is ever fetched."""
    from referencing import Registry, Resource

    resources = [
        (schema_id(v), Resource.from_contents(load_schema(v))) for v in known_versions()
    ]
    return Registry().with_resources(resources).crawl()


def iter_properties(
    schema: dict[str, Any], pointer: str = ""
) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """Yield ``(pointer, property_schema, parent_schema)`` for every named property, depth first.

    Array items are written ``*`` in the pointer (``/python/packages/*/name``).
    """
    for name, sub in schema.get("properties", {}).items():
        here = f"{pointer}/{name}"
        yield here, sub, schema
        yield from _iter_nested(sub, here)


def _iter_nested(sub: dict[str, Any], here: str) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    if "properties" in sub:
        yield from iter_properties(sub, here)
    items = sub.get("items")
    if isinstance(items, dict):
        yield from _iter_nested(items, f"{here}/*")
