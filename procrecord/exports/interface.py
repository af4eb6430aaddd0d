"""What an exporter provides, the options every target shares, and the exports' errors and findings.

An exporter takes prepared records (current schema version, already redacted) one at a time and
returns, for each, the findings of that record: what the target could not carry (dropped fields),
or why the record was not exported. Exceptions are only for "the export cannot go on" (the output
cannot be written, an endpoint refuses every request, a missing optional dependency).
"""

from __future__ import annotations

import abc
from typing import Any, Callable, NamedTuple

import attrs

from procrecord.errors import ProcrecordError


class ExportError(ProcrecordError):
    """The export cannot go on (unwritable output, unreachable endpoint, bad option)."""


class MissingExtraError(ExportError):
    """A target's optional dependency is not installed."""


class OutputRefused(ExportError):
    """The output names something the export must not replace (a usage error on the command line)."""


class Finding(NamedTuple):
    """Something about one record's export that a user should know.

    ``kind`` is ``dropped`` (exported, but the target has no place for the named fields), ``skipped``
    (already in the target: not exported again) or ``error`` (not exported).
    """

    record_id: str
    kind: str
    message: str

    @property
    def failed(self) -> bool:
        """True when the record did not reach the target."""
        return self.kind == "error"


@attrs.frozen
class ExportOptions:
    """Settings shared by the targets (each uses the ones that apply to it)."""

    #: Output file or folder (file targets, RO-Crate); None for MLflow and endpoint-only runs.
    output: str | None = None
    #: Where to send (OpenLineage HTTP URL, OTLP/HTTP traces URL, MLflow tracking URI). Nothing is sent without it.
    endpoint: str | None = None
    #: OpenLineage job namespace and name (default name: the record's name); MLflow experiment name.
    namespace: str = "procrecord"
    job_name: str | None = None
    experiment: str = "procrecord"
    #: Tables: keep fields marked ``x-volatile`` (ids and timestamps) as columns.
    include_volatile: bool = True
    #: Tables: prefix of the flattened ``invocation.config`` columns.
    config_prefix: str = "config."
    #: Seconds a network request may take, and how many times a failed one is tried again.
    timeout_s: float = 10.0
    retries: int = 3


class Exporter(abc.ABC):
    """One export target: records go in with :meth:`add`, :meth:`close` finishes the output."""

    #: The ``--to`` name and the pip extra that installs what the target needs.
    name: str = ""
    extra: str | None = None

    def __init__(self, options: ExportOptions) -> None:
        self.options = options

    @abc.abstractmethod
    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Export one record; return its findings (an ``error`` finding when it was not exported)."""

    def stage(self) -> Callable[[dict[str, Any]], Any] | None:
        """A picklable per-record step a bulk run may do where records are prepared (its workers), its
        result handed to :meth:`add_staged` instead of the record; None (the default): records as they are.
        The records it gets are valid records of the current version (validated, upgraded, redacted)."""
        return None

    def add_staged(self, staged: Any) -> list[Finding]:
        """Export one record already put through :meth:`stage` (only exporters with a stage have this)."""
        raise NotImplementedError(f"{type(self).__name__} has no stage")

    def close(self) -> list[Finding]:
        """Finish the output (write files, flush batches); findings of records not yet reported."""
        return []

    def abort(self) -> None:  # noqa: B027 - an optional hook: exporters that write only in close() have nothing to undo
        """Give up (interrupted run): leave no half-written output behind."""


def require(module: str, extra: str, target: str) -> Any:
    """Import ``module`` for ``target`` or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtraError(
            f"--to {target} needs the '{extra}' extra: pip install 'procrecord[{extra}]' ({exc})"
        ) from exc


def record_id(record: dict[str, Any]) -> str:
    """The record's id as findings name it."""
    return str(record.get("id") or "?")
