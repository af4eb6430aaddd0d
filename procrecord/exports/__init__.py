"""Exports: records of any version into the tools where people look at runs.

One module per target (:mod:`.openlineage`, :mod:`.otel`, :mod:`.rocrate`, :mod:`.mlflow`,
:mod:`.tables`); :mod:`.interface` says what an exporter provides. Each target's library is an
optional extra, imported only when that target is used.
"""

from __future__ import annotations

import importlib
from typing import Any, Iterable

from procrecord.exports.interface import (
    Exporter,
    ExportError,
    ExportOptions,
    Finding,
    MissingExtraError,
    OutputRefused,
)

#: ``--to`` name -> (module, class). Listed here so ``--help`` and errors need no import of a target.
TARGETS: dict[str, tuple[str, str]] = {
    "openlineage": ("procrecord.exports.openlineage", "OpenLineageExporter"),
    "otel": ("procrecord.exports.otel", "OtelExporter"),
    "ro-crate": ("procrecord.exports.rocrate", "RoCrateExporter"),
    "mlflow": ("procrecord.exports.mlflow", "MlflowExporter"),
    "parquet": ("procrecord.exports.tables", "ParquetExporter"),
    "csv": ("procrecord.exports.tables", "CsvExporter"),
    "jsonl-flat": ("procrecord.exports.tables", "FlatJsonlExporter"),
}

__all__ = ["TARGETS", "ExportError", "ExportOptions", "Exporter", "Finding", "MissingExtraError", "OutputRefused",
           "export", "exporter", "prepare"]


def exporter(target: str, options: ExportOptions) -> Exporter:
    """A ready exporter for ``target`` (raises :class:`MissingExtraError` if its extra is not installed)."""
    if target not in TARGETS:
        raise ExportError(f"unknown export target {target!r} (choose from {', '.join(TARGETS)})")
    module, name = TARGETS[target]
    cls: type[Exporter] = getattr(importlib.import_module(module), name)
    return cls(options)


def prepare(record: dict[str, Any], level: str | None = None, key: bytes | None = None) -> dict[str, Any]:
    """The record at the current schema version, redacted at ``level`` (by the schema) when given."""
    from procrecord.operations.migration import upgrade
    from procrecord.record.schemas import current_version
    from procrecord.record.versions import detect_version

    if detect_version(record) != current_version():
        record = upgrade(record, current_version())
    if level and level != "none":
        from procrecord.operations.redaction import redact

        record = redact(record, level, key)
    return record


def export(records: Iterable[dict[str, Any]], to: str, options: ExportOptions | None = None,
           level: str | None = None, key: bytes | None = None) -> list[Finding]:
    """Export records of any version to target ``to``; return every record's findings.

    Each record is upgraded to the current version and redacted at ``level`` first (one that cannot be
    is an ``error`` finding; records are not validated here: ``procrecord export`` does that). The output is
    finished (or, on an exception, abandoned without a half-written file) before this returns.
    """
    from procrecord.errors import ProcrecordError, SchemaError
    from procrecord.exports.interface import record_id

    target = exporter(to, options or ExportOptions())
    findings: list[Finding] = []
    try:
        for record in records:
            try:
                ready = prepare(record, level, key)
            except SchemaError:
                raise
            except ProcrecordError as exc:  # a record of an unknown version, one that cannot be upgraded
                findings.append(Finding(record_id(record), "error", f"not exported: {exc}"))
                continue
            findings.extend(target.add(ready))
    except BaseException:
        target.abort()
        raise
    findings.extend(target.close())
    return findings
