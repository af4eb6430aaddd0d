"""Version detection, in one place: which schema version does a record claim to follow?"""

from __future__ import annotations

from typing import Any

from procrecord.errors import UnknownVersionError
from procrecord.record.schemas import current_version, known_versions, version_key

LEGACY = "0"
LEGACY_TYPES = ("process", "process_context")
RECORD_TYPE = "procrecord.process"
#: The kwcoco ``info`` item type of a 1.x record (``"type": "procrecord"``; see procrecord.kwcoco).
ITEM_TYPE = "procrecord"
#: How every message about a result file where a record was expected begins (the typed reader knows it).
RESULT_FILE_MESSAGE = "not a procrecord record but a result file (kwcoco or geowatch) with an info list"


def is_legacy(record: dict[str, Any]) -> bool:
    """True for the legacy ``ProcessContext`` shape (``{"type": "process", "properties": {...}}``)."""
    return record.get("type") in LEGACY_TYPES and "properties" in record and "schema_version" not in record


def claims_record(value: Any) -> bool:
    """True for an item (of a kwcoco ``info`` list, say) that claims to be a process record by any of
    its marks, valid or not, so that it is checked as one instead of skipped.

    Readers dispatch on ``type`` (geowatch's ``find_info_items`` takes every ``process`` or
    ``process_context`` item, with or without ``properties``): an item whose ``type`` is one of those
    or starts with ``procrecord`` is a record. An item of another type is the host's own (kwcoco's
    items of other kinds), unless its ``record_type``, our discriminator, starts with ``procrecord``.
    An item without a ``type`` (or a null one) is a record when it has any key only our records
    have at the top of an item: ``record_type``, ``schema_version`` or the legacy ``properties``.
    """
    if not isinstance(value, dict):
        return False
    kind = value.get("type")
    if kind is not None:
        return kind in LEGACY_TYPES or is_ours(kind) or is_ours(value.get("record_type"))
    return "record_type" in value or "schema_version" in value or "properties" in value


def is_ours(mark: Any) -> bool:
    """True for a ``type`` or ``record_type`` value that marks a procrecord record (``procrecord...``)."""
    return isinstance(mark, str) and mark.lower().startswith(ITEM_TYPE)


def is_result_file(value: Any) -> bool:
    """True for a result file (kwcoco, geowatch) with a list in ``info`` or ``meta.info``, where records go."""
    meta = value.get("meta") if isinstance(value, dict) else None
    return isinstance(value, dict) and (isinstance(value.get("info"), list)
                                        or (isinstance(meta, dict) and isinstance(meta.get("info"), list)))


def detect_version(record: dict[str, Any]) -> str:
    """Return the schema version ``record`` follows, or raise :class:`UnknownVersionError`."""
    if "schema_version" in record:
        version = record["schema_version"]
        if not isinstance(version, str):
            raise UnknownVersionError(f"schema_version is {version!r}, expected a string like '1.0'")
        if version in known_versions():
            return version
        try:
            key = version_key(version)
        except ValueError:
            raise UnknownVersionError(f"schema_version {version!r} is not MAJOR.MINOR") from None
        if key > version_key(current_version()):
            raise UnknownVersionError(
                f"schema_version {version} is newer than this installation knows "
                f"(newest {current_version()}); upgrade procrecord"
            )
        raise UnknownVersionError(f"unknown schema_version {version!r} (known: {', '.join(known_versions())})")
    if record.get("type") in LEGACY_TYPES:
        # the legacy shape (is_legacy), or an item that claims to be one: checked against it, so a
        # missing 'properties' is a finding (geowatch takes such an item and fails on it)
        return LEGACY
    if is_ours(record.get("type")) or is_ours(record.get("record_type")):
        raise UnknownVersionError("a procrecord record without schema_version (every record names the version it "
                                  "follows, e.g. '1.1')")
    if is_result_file(record):
        raise UnknownVersionError(
            f"{RESULT_FILE_MESSAGE}: use --embedded (validate, redact, upgrade, downgrade) to handle the records in it"
        )
    raise UnknownVersionError(
        "not a procrecord record: no schema_version, and not the legacy {'type': 'process', 'properties': ...} shape"
    )
