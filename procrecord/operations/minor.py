"""Steps between minor versions of one major version (1.0 <-> 1.1), derived from the schemas.

A minor version only adds optional fields (and enum values), so upgrading changes ``schema_version``
and fills in the top-level fields the newer version adds with a fixed value (``const``: 1.1's
``"type": "procrecord"``), as the writer writes them; downgrading removes what the older schema does not
know — properties it does not list in its closed objects, values outside its enums — and reports each
by JSON pointer (but those fixed-value fields, which hold no data). Nothing here names a field: adding a 1.2 needs a schema file, not code.
"""

from __future__ import annotations

from typing import Any

from procrecord.pointer import escape
from procrecord.record.schemas import known_versions, load_schema


def later_minors() -> list[str]:
    """The versions of major 1 after 1.0 (those the legacy shape reaches through 1.0)."""
    return [v for v in known_versions() if v != "0" and v != "1.0" and v.split(".")[0] == "1"]


def minor_pairs() -> list[tuple[str, str]]:
    """Consecutive ``(older, newer)`` versions of the same major version, e.g. ``("1.0", "1.1")``."""
    versions = [v for v in known_versions() if v != "0"]
    return [(a, b) for a, b in zip(versions, versions[1:]) if a.split(".")[0] == b.split(".")[0]]


def upgrade_step(target: str) -> Any:
    """The step to ``target`` from the minor version before it: the record is unchanged but for its
    version and the fixed-value fields ``target`` adds (see :func:`with_new_constants`)."""
    source = [v for v, w in minor_pairs() if w == target][0]

    def step(record: dict[str, Any]) -> dict[str, Any]:
        out = with_new_constants(record, source, target)
        out["schema_version"] = target
        return out

    step.__name__ = f"upgrade_to_{target.replace('.', '_')}"
    return step


def with_new_constants(record: dict[str, Any], source: str, target: str) -> dict[str, Any]:
    """A copy of ``record`` with the top-level fields that ``target`` has and ``source`` has not, and
    whose value is fixed (``const``), each placed after the field the schema lists before it.

    Such a field tells nothing but the record's kind (1.1's ``type``, for kwcoco ``info`` lists): the
    writer writes it, so an upgraded record gets it too, and a 1.1 -> 1.0 -> 1.1 round trip keeps it.
    """
    older = load_schema(source).get("properties", {})
    newer = load_schema(target).get("properties", {})
    added = {key: spec["const"] for key, spec in newer.items()
             if key not in older and key not in record and isinstance(spec, dict) and "const" in spec}
    if not added:
        return dict(record)
    order = list(newer)
    # "": the schema lists it first (no record key is "": top-level names are the schema's own)
    after: dict[str, str] = {order[order.index(key) - 1] if order.index(key) else "": key for key in added}
    out: dict[str, Any] = {}
    for key, value in [("", None), *record.items()]:
        if key:
            out[key] = value
        follows = after.get(key)
        while follows is not None and follows in added:
            out[follows] = added.pop(follows)
            follows = after.get(follows)
    out.update(added)  # the field before it is absent: at the end
    return out


def downgrade_step(target: str) -> Any:
    """The step to ``target`` from the minor version after it: what ``target`` does not know is removed."""
    def step(record: dict[str, Any]) -> dict[str, Any]:
        return prune(record, target)[0]

    step.__name__ = f"downgrade_to_{target.replace('.', '_')}"
    return step


def dropped_by(target: str) -> Any:
    """The JSON pointers of the values a downgrade to ``target`` removes from a record."""
    def dropped(record: dict[str, Any]) -> list[str]:
        return _with_data(prune(record, target)[1], record)

    return dropped


def _with_data(dropped: list[str], record: dict[str, Any]) -> list[str]:
    """``dropped`` without the fixed-value fields of the record's version (1.1's ``type``): they hold
    no data (the upgrade fills them in again), so removing them loses nothing to report."""
    fixed = {f"/{escape(key)}" for key, spec in _properties(record).items()
             if isinstance(spec, dict) and "const" in spec and key in record and record[key] == spec["const"]}
    return [pointer for pointer in dropped if pointer not in fixed]


def _properties(record: dict[str, Any]) -> dict[str, Any]:
    version = record.get("schema_version")
    return load_schema(version).get("properties", {}) if version in known_versions() else {}


def from_legacy(target: str) -> Any:
    """The step 0 -> ``target`` (a 1.x after 1.0): the legacy upgrade with the version moved on.

    One registered step instead of a chain through 1.0, so the record is validated once after it
    (the upgrade of legacy records has a per-core speed bound: benchmarks/bench_transforms.py).
    """
    from procrecord.operations.legacy import upgrade_0_to_1_0

    def step(record: dict[str, Any]) -> dict[str, Any]:
        out = with_new_constants(upgrade_0_to_1_0(record), "1.0", target)
        out["schema_version"] = target
        return out

    step.__name__ = f"upgrade_0_to_{target.replace('.', '_')}"
    return step


def to_legacy(source: str) -> tuple[Any, Any]:
    """The step ``source`` -> 0 and what it drops: prune to 1.0, then the legacy downgrade."""
    from procrecord.operations.legacy import downgrade_1_0_to_0, dropped_by_downgrade

    def step(record: dict[str, Any]) -> dict[str, Any]:
        return downgrade_1_0_to_0(prune(record, "1.0")[0])

    def dropped(record: dict[str, Any]) -> list[str]:
        pruned, gone = prune(record, "1.0")
        return _with_data(gone, record) + dropped_by_downgrade(pruned)

    step.__name__ = f"downgrade_{source.replace('.', '_')}_to_0"
    return step, dropped


def prune(record: dict[str, Any], target: str) -> tuple[dict[str, Any], list[str]]:
    """``record`` without what schema ``target`` does not know, and the pointers of what was removed.

    The input is never modified; objects on the way to a removed value are copied, the rest shared.
    """
    dropped: list[str] = []
    out = dict(_prune(record, load_schema(target), "", dropped))
    out["schema_version"] = target
    return out, dropped


def _prune(value: Any, schema: dict[str, Any], pointer: str, dropped: list[str]) -> Any:
    """``value`` without what ``schema`` does not know; the very same object when nothing goes."""
    if isinstance(value, dict):
        props = schema.get("properties")
        if props is None or schema.get("additionalProperties") is not False:
            return value
        out: dict[str, Any] = {}
        for key, item in value.items():
            here = f"{pointer}/{escape(key)}"
            sub = props.get(key)
            if sub is None or ("enum" in sub and item not in sub["enum"]):
                dropped.append(here)
                continue
            out[key] = _prune(item, sub, here, dropped)
        same = len(out) == len(value) and all(out[k] is value[k] for k in out)
        return value if same else out
    if isinstance(value, list):
        items = schema.get("items")
        if not isinstance(items, dict):
            return value
        pruned = [_prune(item, items, f"{pointer}/{i}", dropped) for i, item in enumerate(value)]
        return value if all(a is b for a, b in zip(pruned, value)) else pruned
    return value
