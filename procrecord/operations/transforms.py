"""Bulk operations that rewrite records: redact, upgrade, downgrade.

Each is a small picklable callable (settings in attributes, work in ``__call__``) that turns one
loaded record into an :class:`~procrecord.bulk.engine.Outcome` carrying the serialised output. Every
output is validated before it is handed back; a record that cannot be transformed yields an
outcome without output, so its file is left untouched.
"""

from __future__ import annotations

from typing import Any, Callable

import attrs

from procrecord.bulk.engine import Outcome
from procrecord.bulk.loader import Loaded
from procrecord.bulk.output import dumps
from procrecord.bulk.status import Status
from procrecord.errors import UnknownVersionError, UpgradeError
from procrecord.operations.migration import downgrade, upgrade
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate_versioned


def _invalid(item: Loaded, version: str | None, violations: list[Any], note: str) -> Outcome:
    return Outcome(item.source, item.line, Status.INVALID, version, tuple(violations), message=note, jsonl=item.jsonl)


_REDACTION: list[Any] = []  # the redaction module, once imported


def redactor() -> Callable[..., dict[str, Any]]:
    """:func:`procrecord.operations.redaction.redact`, imported at its first use (upgrade and downgrade
    never need it), without an import statement run for every record."""
    if not _REDACTION:
        from procrecord.operations import redaction

        _REDACTION.append(redaction)
    return _REDACTION[0].redact  # type: ignore[no-any-return]


def to_current(item: Loaded, check_result: bool = True, rewrites: bool = False) -> tuple[str, dict[str, Any], Outcome | None]:
    """Validate a loaded record and bring it to the current version (the bulk pipeline's first half).

    ``check_result=False``: an upgraded record is not validated, because the caller validates what
    it makes of it (see :func:`~procrecord.operations.migration.upgrade`). ``rewrites``: the caller
    writes records back, so an invalid one's finding says it was left unchanged.
    """
    try:
        version, violations = validate_versioned(item.record)
    except UnknownVersionError as exc:
        return "", item.record, Outcome(item.source, item.line, Status.ERROR, message=str(exc), jsonl=item.jsonl)
    if violations:
        note = "input does not validate; left unchanged" if rewrites else "input does not validate"
        return version, item.record, _invalid(item, version, violations, note)
    if version == current_version():
        return version, item.record, None
    try:
        return version, upgrade(item.record, current_version(), checked=True, check_result=check_result), None
    except UpgradeError as exc:
        return version, item.record, Outcome(item.source, item.line, Status.ERROR, version, message=str(exc), jsonl=item.jsonl)


@attrs.frozen
class RedactRecord:
    """Redact one record at ``level`` (upgrading older versions first)."""

    exact_integers = True  # it writes records back (see bulk.Operation)
    #: A key written twice is an error and the record is not written: the parser kept one value, the
    #: other (maybe a secret) would be copied or lost unseen, and which one was meant is unknown.
    unique_keys = True
    level: str
    key: bytes | None = attrs.field(default=None, repr=False)
    #: Write each record back in its own version (redacted as the current one, then downgraded).
    keep_version: bool = False

    def __call__(self, item: Loaded) -> Outcome:
        redact = redactor()
        # The upgraded record is not validated on its own: the redacted output is, and only when
        # that fails (or the redaction does) is the upgrade checked, to say which step was wrong.
        version, record, failed = to_current(item, check_result=False, rewrites=True)
        if failed is not None:
            return failed
        try:
            out = redact(record, self.level, self.key)
        except Exception:
            failed = self._upgrade_failure(item, record)
            if failed is not None:
                return failed
            raise
        target, violations = validate_versioned(out)
        if violations:
            failed = self._upgrade_failure(item, record)
            if failed is not None:
                return failed
        if not violations and self.keep_version and version != target:
            redacted = out
            try:  # the result is validated just below; only if it fails is each step checked
                out, _ = downgrade(redacted, version, checked=True, check_result=False)
                target, violations = validate_versioned(out)
                if violations:
                    downgrade(redacted, version, checked=True)
            except UpgradeError as exc:
                return Outcome(item.source, item.line, Status.ERROR, version, message=f"cannot keep version {version}: {exc}",
                               jsonl=item.jsonl)
        if violations:
            return _invalid(item, target, violations, "redacted record does not validate (bug): left unchanged")
        # What this run did: the note merges an earlier one, whose entries are not counted again (a record
        # redacted before is "redacted", nothing removed, not "removed 8").
        note, before = out.get("redaction", {}), item.record.get("redaction")
        before = before if isinstance(before, dict) else {}
        info = {"changed": int(out != item.record),
                "removed": len(set(note.get("removed", ())) - set(_strings(before.get("removed")))),
                "scrubbed": max(0, _scrub_count(note) - _scrub_count(before)),
                "pseudonymized": len(set(note.get("pseudonymized", ())) - set(_strings(before.get("pseudonymized"))))}
        return Outcome(item.source, item.line, Status.REDACTED, target, output=dumps(out, item.jsonl), jsonl=item.jsonl, info=info)

    @staticmethod
    def _upgrade_failure(item: Loaded, record: dict[str, Any]) -> Outcome | None:
        """The outcome naming the upgrade step that made an invalid record, if ``record`` is one."""
        if record is item.record:  # not upgraded
            return None
        return to_current(item, rewrites=True)[2]


def _checked(item: Loaded, target: str) -> tuple[str, Outcome | None]:
    """Validate ``item`` against its own version; an outcome when there is nothing more to do."""
    try:
        version, violations = validate_versioned(item.record)
    except UnknownVersionError as exc:
        return "", Outcome(item.source, item.line, Status.ERROR, message=str(exc), jsonl=item.jsonl)
    if violations:
        return version, _invalid(item, version, violations, "input does not validate; left unchanged")
    if version == target:
        return version, Outcome(item.source, item.line, Status.CURRENT, version, output=dumps(item.record, item.jsonl),
                                jsonl=item.jsonl, info={"changed": 0})
    return version, None


@attrs.frozen
class UpgradeRecord:
    """Upgrade one record to ``to`` (default: current); ``check`` only reports what would change."""

    exact_integers = True
    #: A key written twice is an error and the record is not written: an upgrade would keep one of
    #: the values and lose the other silently (see RedactRecord).
    unique_keys = True
    to: str | None = None
    check: bool = False

    def __call__(self, item: Loaded) -> Outcome:
        target = self.to or current_version()
        version, done = _checked(item, target)
        if done is not None:
            return done
        try:  # also with check: what the run would refuse, the check reports the same way
            out = upgrade(item.record, target, checked=True)
        except UpgradeError as exc:
            return Outcome(item.source, item.line, Status.ERROR, version, message=str(exc), jsonl=item.jsonl)
        if self.check:
            return Outcome(item.source, item.line, Status.NEEDS_UPGRADE, version, message=f"version {version} -> {target}",
                           jsonl=item.jsonl)
        return Outcome(item.source, item.line, Status.UPGRADED, target, output=dumps(out, item.jsonl), jsonl=item.jsonl,
                       info={"changed": 1})


@attrs.frozen
class DowngradeRecord:
    """Downgrade one record to ``to`` and say which fields had no place there."""

    exact_integers = True
    unique_keys = True  # as for an upgrade: which of the values was meant is unknown
    to: str = "0"

    def __call__(self, item: Loaded) -> Outcome:
        version, done = _checked(item, self.to)
        if done is not None:
            return done
        try:
            out, dropped = downgrade(item.record, self.to, checked=True)
        except UpgradeError as exc:
            return Outcome(item.source, item.line, Status.ERROR, version, message=str(exc), jsonl=item.jsonl)
        message = "dropped " + ", ".join(dropped) if dropped else None
        return Outcome(item.source, item.line, Status.DOWNGRADED, self.to, output=dumps(out, item.jsonl), jsonl=item.jsonl,
                       message=message, info={"changed": 1, "dropped": len(dropped)})


from procrecord.bulk.embedded import Embedded  # noqa: E402,F401  (the --embedded operation, kept importable here)


def _strings(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


def _scrub_count(note: dict[str, Any]) -> int:
    entries = note.get("scrubbed")
    return sum(e["count"] for e in entries if isinstance(e, dict) and type(e.get("count")) is int) \
        if isinstance(entries, list) else 0
