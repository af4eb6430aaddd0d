"""The exceptions of procrecord: one root, and one class per kind of "cannot continue"."""

from __future__ import annotations


class ProcrecordError(Exception):
    """Root of every error procrecord raises on purpose."""


class SchemaError(ProcrecordError):
    """A bundled schema is missing, unreadable or broken: the tool cannot do its job."""


class UnknownVersionError(ProcrecordError):
    """A record names a schema version this installation does not know."""


class UpgradeError(ProcrecordError):
    """An upgrade or downgrade step could not produce a valid record."""


class RedactionKeyError(ProcrecordError):
    """A pseudonym key is missing, unreadable or too short."""


class RecorderStateError(ProcrecordError):
    """Recorder methods were called out of order (stop before start, ...)."""


class RecordWriteError(ProcrecordError):
    """The record could not be written to its output file (folder missing or read-only, disk full)."""


class StorageOptionError(ProcrecordError):
    """A ``--storage-option`` that the storage of the command's URLs does not take (a usage error)."""


class RecordReadError(ProcrecordError):
    """The typed reader met a source or record it cannot turn into a model object."""

    def __init__(self, source: str, line: int | None, problem: str) -> None:
        self.source = source
        self.line = line
        self.problem = problem
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {problem}")


class OutputNotARecordError(RecordWriteError):
    """The output names an existing file that is not a procrecord record (a script, notes, data): it
    is never replaced by a record."""
