"""Put a record into a kwcoco dataset or a result dict, as an ``info`` item readers can skip.

kwcoco ``info`` lists mix kinds of items told apart by their ``type``; readers such as geowatch's
``find_info_items`` index ``item['type']`` on every item. A 1.1 record carries ``"type":
"procrecord"`` (never ``process``, so it is not mistaken for a legacy ProcessContext item).
"""

from __future__ import annotations

from typing import Any

from procrecord.record.versions import ITEM_TYPE as ITEM_TYPE  # one spelling, with the rule that reads it


def as_info_item(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``record`` fit for an ``info`` list: 1.0 upgraded to the current version, ``type`` set."""
    from procrecord.operations.migration import upgrade
    from procrecord.record.versions import LEGACY, detect_version

    if detect_version(record) == LEGACY:
        return dict(record)  # a legacy item already carries its own type ('process')
    if "type" not in _known_fields(record):
        record = upgrade(record)  # 1.0 does not know 'type'
    return with_item_type(record)


def with_item_type(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` with ``"type": "procrecord"`` (after ``record_type``) where its version knows the field.

    Records of versions without it (1.0) and legacy items (they carry ``type: process``) come back
    as they are: an item keeps its version unless an upgrade is asked for.
    """
    if record.get("type") == ITEM_TYPE or "record_type" not in record or "type" not in _known_fields(record):
        return record
    out: dict[str, Any] = {}
    for key, value in record.items():
        if key == "type":
            continue
        out[key] = value
        if key == "record_type":
            out["type"] = ITEM_TYPE
    return out


def _known_fields(record: dict[str, Any]) -> set[str]:
    from procrecord.record.schemas import load_schema

    return set(load_schema(str(record.get("schema_version"))).get("properties", {}))


def info_list(target: Any) -> list[Any]:
    """The ``info`` list of a kwcoco dataset (object or dict) or a result dict (``info`` or ``meta.info``), made if absent."""
    dataset = getattr(target, "dataset", target)  # kwcoco.CocoDataset keeps its dict in .dataset
    if not isinstance(dataset, dict):
        raise TypeError(f"expected a kwcoco dataset or a dict, got {type(target).__name__}")
    if "info" not in dataset and isinstance(dataset.get("meta"), dict):
        holder = dataset["meta"]
    else:
        holder = dataset
    items = holder.setdefault("info", [])
    if not isinstance(items, list):
        raise TypeError(f"the 'info' of this {type(target).__name__} is a {type(items).__name__}, not a list")
    return items


def embed(record: dict[str, Any], target: Any) -> dict[str, Any]:
    """Append ``record`` to ``target``'s ``info`` list (replacing an item of the same id); the item is returned."""
    item = as_info_item(record)
    items = info_list(target)
    for index, existing in enumerate(items):
        if isinstance(existing, dict) and existing.get("type") == ITEM_TYPE and existing.get("id") == item.get("id"):
            items[index] = item
            return item
    items.append(item)
    return item
