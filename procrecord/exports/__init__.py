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

__all__ = ["FILE_TARGETS", "TARGETS", "ExportError", "ExportOptions", "Exporter", "Finding", "MissingExtraError",
           "OutputRefused", "check_output_file", "export", "exporter", "prepare"]


#: Targets that write one file at ``options.output`` (replaced as a whole when the export closes).
FILE_TARGETS = ("openlineage", "otel", "parquet", "csv", "jsonl-flat")


def exporter(target: str, options: ExportOptions) -> Exporter:
    """A ready exporter for ``target`` (raises :class:`MissingExtraError` if its extra is not installed,
    :class:`OutputRefused` for an output file it must not replace, before any work)."""
    if target not in TARGETS:
        raise ExportError(f"unknown export target {target!r} (choose from {', '.join(TARGETS)})")
    if target in FILE_TARGETS and options.output and not (options.endpoint and target in ("openlineage", "otel")):
        check_output_file(target, options.output)
    module, name = TARGETS[target]
    cls: type[Exporter] = getattr(importlib.import_module(module), name)
    return cls(options)


def check_output_file(target: str, output: str) -> None:
    """Refuse (:class:`OutputRefused`) an output file path that names something an export must not replace: a
    folder, a symbolic link (replacing would put a file in the link's place: neither the link nor its target
    would be what the user has), a pipe, a device or a socket; :class:`ExportError` when its folder is missing."""
    import os
    import stat

    from procrecord.bulk.storage import is_url

    if is_url(output):
        return
    try:
        mode = os.lstat(output).st_mode
    except FileNotFoundError:
        folder = os.path.dirname(os.path.abspath(output))
        if not os.path.isdir(folder):
            raise ExportError(f"cannot write {output}: no folder {folder}") from None
        return
    except OSError:
        return  # the writer says what stops it
    if stat.S_ISLNK(mode):
        raise OutputRefused(f"{output} is a symbolic link: --to {target} replaces its output file and would put a "
                            "file in the link's place; give the path of a regular file, or the link's target "
                            "(nothing was written)")
    if not stat.S_ISREG(mode):
        from procrecord.atomic import file_kind

        raise OutputRefused(f"{output} is {file_kind(mode)}: --to {target} writes one file, give a path that is a file "
                            "or is free (nothing was written)")


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
    is an ``error`` finding; records are not validated here: ``procrecord export`` does that); a ``level``
    that is not a redaction level raises :class:`ExportError` before anything is written. The output is
    finished (or, on an exception, abandoned without a half-written file) before this returns.
    """
    from procrecord.errors import ProcrecordError, SchemaError
    from procrecord.exports.interface import record_id

    if level:  # (None or "": nothing is redacted, as in prepare)
        from procrecord.operations.redaction import known_level

        try:
            known_level(level)
        except ProcrecordError as exc:  # before any work: a typo must not replace the output with nothing
            raise ExportError(str(exc)) from None
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
