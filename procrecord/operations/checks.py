"""Bulk operations for ``procrecord validate``: schema validation (and the redaction gate)."""

from __future__ import annotations

import attrs

from procrecord.bulk.engine import Outcome
from procrecord.bulk.loader import Loaded
from procrecord.bulk.status import Status
from procrecord.errors import UnknownVersionError
from procrecord.record.validation import Violation, resolve_version, validate_versioned


@attrs.frozen
class ValidateRecord:
    """Validate one record against its own schema version (or a forced one)."""

    unique_keys = True  # a key written twice is a finding (see loader.parse)
    #: With --embedded: a record's fit for its place is checked too (bulk.embedded: an info item's ``type``).
    checks_placement = True

    version: str | None = None
    all_errors: bool = False
    require_level: str | None = None

    def __call__(self, item: Loaded) -> Outcome:
        record = item.record
        try:
            target, violations = validate_versioned(record, self.version, self.all_errors)
        except UnknownVersionError as exc:
            message = str(exc)
            if self.version is None and _latest_accepts(record):
                message += " (or check it against the newest schema with --schema-version latest)"
            return Outcome(item.source, item.line, Status.ERROR, message=message, jsonl=item.jsonl)
        if violations:
            notice = _newer_minor_notice(record, target, violations) if self.version == "latest" else None
            return Outcome(item.source, item.line, Status.INVALID, target, tuple(violations), notice, jsonl=item.jsonl)
        if self.require_level is not None:
            from procrecord.operations.redaction import check_level

            leaks = check_level(record, self.require_level, target)
            if leaks:
                return Outcome(item.source, item.line, Status.LEAK, target, tuple(leaks), jsonl=item.jsonl)
        return Outcome(item.source, item.line, Status.VALID, target, jsonl=item.jsonl)


def _latest_accepts(record: dict) -> bool:
    """Whether ``--schema-version latest`` would check ``record`` (a newer minor of the current major)."""
    try:
        resolve_version(record, "latest")
    except UnknownVersionError:
        return False
    return True


def _newer_minor_notice(record: dict, target: str, violations: list[Violation]) -> str | None:
    """For a record of a newer minor version checked against ``target``: why a key (or value) it does
    not know is a finding, which the user may take for a fault of the record."""
    claimed = record.get("schema_version")
    if claimed == target or not any(v.keyword in ("additionalProperties", "enum") for v in violations):
        return None
    return (f"version {claimed} checked against {target}, the newest this installation knows: a key or value "
            f"{target} does not know is a finding (new in {claimed}, or mistyped); a procrecord that knows "
            f"{claimed} checks it")
