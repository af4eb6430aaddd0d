"""Bulk operations that rewrite records: redact, upgrade, downgrade.

Each is a small picklable callable (settings in attributes, work in ``__call__``) that turns one
loaded record into an :class:`~procrecord.bulk.Outcome` carrying the serialised output. Every
output is validated before it is handed back; a record that cannot be transformed yields an
outcome without output, so its file is left untouched.
"""

from __future__ import annotations

from typing import Any

import attrs

from procrecord.bulk import Outcome
from procrecord.errors import UnknownVersionError, UpgradeError
from procrecord.loader import Loaded
from procrecord.output import dumps
from procrecord.validation import validate_versioned


def _invalid(item: Loaded, version: str | None, violations: list[Any], note: str) -> Outcome:
    return Outcome(item.source, item.line, "invalid", version, tuple(violations), message=note, jsonl=item.jsonl)


def to_current(item: Loaded) -> tuple[str, dict[str, Any], Outcome | None]:
    """Validate a loaded record and bring it to the current version (the bulk pipeline's first half)."""
    from procrecord.schemas import current_version

    try:
        version, violations = validate_versioned(item.record)
    except UnknownVersionError as exc:
        return "", item.record, Outcome(item.source, item.line, "error", message=str(exc), jsonl=item.jsonl)
    if violations:
        return version, item.record, _invalid(item, version, violations, "input does not validate; left unchanged")
    if version == current_version():
        return version, item.record, None
    from procrecord.migration import upgrade

    try:
        return version, upgrade(item.record, current_version()), None
    except UpgradeError as exc:
        return version, item.record, Outcome(item.source, item.line, "error", version, message=str(exc), jsonl=item.jsonl)


@attrs.frozen
class RedactRecord:
    """Redact one record at ``level`` (upgrading older versions first)."""

    level: str
    key: bytes | None = attrs.field(default=None, repr=False)

    def __call__(self, item: Loaded) -> Outcome:
        from procrecord.redaction import redact

        version, record, failed = to_current(item)
        if failed is not None:
            return failed
        out = redact(record, self.level, self.key)
        target, violations = validate_versioned(out)
        if violations:
            return _invalid(item, target, violations, "redacted record does not validate (bug): left unchanged")
        note = out.get("redaction", {})
        info = {"removed": len(note.get("removed", ())), "scrubbed": sum(e["count"] for e in note.get("scrubbed", ())),
                "pseudonymized": len(note.get("pseudonymized", ()))}
        return Outcome(item.source, item.line, "redacted", target, output=dumps(out, item.jsonl), jsonl=item.jsonl, info=info)
