"""The statuses of bulk outcomes and their severity: the one place that says which are findings."""

from __future__ import annotations

from enum import Enum


class Status(str, Enum):
    """What an operation made of one document (a ``str``: outcomes, reports and JSON carry the text)."""

    # clean results (severity 0)
    VALID = "valid"
    CURRENT = "current"
    REDACTED = "redacted"
    UPGRADED = "upgraded"
    DOWNGRADED = "downgraded"
    PREPARED = "prepared"
    SHOWN = "shown"
    NO_RECORDS = "no-records"
    #: A path a walk left alone on purpose (a symlink): reported, not a finding.
    SKIPPED = "skipped"
    # findings and errors, by severity
    NEEDS_UPGRADE = "needs-upgrade"
    DIFFERENT = "different"
    INVALID = "invalid"
    LEAK = "leak"
    ERROR = "error"

    # A member's text is its value (``str`` mixin): read in C, not through ``Enum.value``'s descriptor, and
    # hashed as that text, so a member and its text are one key of a dict (statuses are counted per record).
    __str__ = str.__str__
    __hash__ = str.__hash__

    def __format__(self, spec: str) -> str:  # the text on every Python (3.12 changed the mixin's default)
        return format(str(self.value), spec)

    @property
    def severity(self) -> int:
        """0 for a clean result; 1 a finding that needs action, 2 a bad record, 3 a document not processed."""
        return _SEVERITY.get(self, 0)


_SEVERITY: dict[str, int] = {Status.NEEDS_UPGRADE: 1, Status.DIFFERENT: 1, Status.INVALID: 2, Status.LEAK: 2, Status.ERROR: 3}


def severity(status: str) -> int:
    """The severity of ``status`` (a :class:`Status` or its text; 0 for text that is no status)."""
    return _SEVERITY.get(status, 0)
