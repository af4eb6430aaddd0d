"""``procrecord export``: records into OpenLineage, OpenTelemetry, RO-Crate, MLflow and tables."""

from __future__ import annotations

import os
import sys

import click

from procrecord.cli import EXIT_FINDINGS, EXIT_OK, cli, guarded, source_options

#: The targets (procrecord.exports.TARGETS, repeated so --help imports nothing; a test keeps them equal).
TARGETS = ("openlineage", "otel", "ro-crate", "mlflow", "parquet", "csv", "jsonl-flat")
FILE_TARGETS = ("parquet", "csv", "jsonl-flat", "ro-crate")
SENDING_TARGETS = ("openlineage", "otel")
TABLES = ("parquet", "csv", "jsonl-flat")


def _check_options(to, output, endpoint, tracking_uri, only) -> str | None:
    """Usage errors for options the target does not take; the MLflow tracking URI to use."""
    for option, given, targets in only:
        if given and to not in targets:
            raise click.UsageError(f"{option} does not apply to --to {to} (only {', '.join(targets)})")
    if to == "mlflow":
        if output:
            raise click.UsageError("--to mlflow writes to a tracking store: give --tracking-uri, not -o")
        uri = tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if not uri:
            raise click.UsageError("--to mlflow needs --tracking-uri URI or MLFLOW_TRACKING_URI")
        return uri
    if to in FILE_TARGETS and not output:
        raise click.UsageError(f"--to {to} needs -o PATH")
    if to in SENDING_TARGETS and not (output or endpoint):
        raise click.UsageError(f"--to {to} needs -o FILE or --endpoint URL (nothing is sent unless you name one)")
    if output and endpoint:
        raise click.UsageError("give -o FILE or --endpoint URL, not both")
    return None


def _check_network(to: str, endpoint: str | None, timeout: float | None, retries: int | None) -> None:
    """Usage errors for --timeout and --retries where nothing goes over the network (a file is written)."""
    if to == "otel" and endpoint and retries is not None:
        raise click.UsageError("--retries does not apply to --to otel: the OpenTelemetry SDK's OTLP exporter retries "
                               "on its own, with back-off, within --timeout")
    if to == "mlflow" or endpoint:
        return
    for option, given in (("--timeout", timeout), ("--retries", retries)):
        if given is not None:
            raise click.UsageError(f"{option} does not apply to --to {to} writing a file "
                                   "(only mlflow, and openlineage or otel with --endpoint)")


def _check_endpoint(endpoint: str | None) -> None:
    """A usage error for an --endpoint that is no http(s) URL (``marquez:5000``, ``http://[x``): said once, before
    any record, not a traceback (openlineage) or an error per record (otel)."""
    from urllib.parse import urlsplit

    if not endpoint:
        return
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as exc:
        raise click.UsageError(f"--endpoint {endpoint}: not a URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise click.UsageError(f"--endpoint {endpoint}: give an http:// or https:// URL with a host "
                               "(e.g. http://marquez:5000, http://collector:4318/v1/traces)")


def _check_output(to: str, output: str | None, sources: tuple[str, ...]) -> None:
    """Usage errors for an output that would write to stdout, over a folder, or over one of the inputs."""
    from procrecord.bulk.storage import is_url

    if not output or is_url(output):
        return
    if output == "-":
        raise click.UsageError(f"--to {to} writes a file: -o - (stdout) is not supported, give a path")
    if to != "ro-crate" and os.path.isdir(output):
        raise click.UsageError(f"-o {output} is a folder: --to {to} writes one file, give its path")
    if not os.path.exists(output):
        return
    real = os.path.realpath(output)
    for source in sources:
        if source == "-" or is_url(source) or not os.path.exists(source):
            continue
        if os.path.samefile(source, output) or (
                os.path.isdir(source) and real.startswith(os.path.realpath(source).rstrip(os.sep) + os.sep)):
            raise click.UsageError(f"-o {output} is one of the inputs: the export would replace what it reads")


def _check_prefix(prefix: str) -> None:
    """A usage error for a config prefix under which a config column could repeat a schema column's name."""
    from procrecord.exports.columns import prefix_clash
    from procrecord.record.schemas import current_version

    clash = prefix_clash(prefix, current_version())
    if clash is not None:
        raise click.UsageError(f"--config-prefix {prefix!r} could make a config column named as the schema's "
                               f"column {clash!r} (a duplicate column): give a prefix no schema column starts "
                               "with (default: 'config.')")


def _cannot_write(output: str | None, exc: OSError) -> Exception:
    """One line for an output the export could not write (exit 3): the path and the reason, no errno."""
    from procrecord.errors import ProcrecordError

    reason = exc.strerror or str(exc)
    return ProcrecordError(f"cannot write {output or 'the output'}: {reason[:1].lower() + reason[1:]}")


def _staging(output: str | None) -> str | None:
    """For ``-o URL`` (object storage): a local temporary path with the URL's name, else None."""
    from procrecord.bulk.storage import is_url

    if not output or not is_url(output):
        return None
    import tempfile

    name = output.rstrip("/").rsplit("/", 1)[-1] or "export"
    return os.path.join(tempfile.mkdtemp(prefix="procrecord-export-"), name)


def _earlier_crate(output: str | None) -> set[str] | None:
    """For ``-o URL`` of a crate folder: the files of the crate there before (usage error: objects of another kind)."""
    from procrecord.bulk.storage import is_url

    if not output or not is_url(output) or output.rstrip("/").endswith(".zip"):
        return None
    from procrecord.bulk.storage import describe
    from procrecord.errors import ProcrecordError
    from procrecord.exports.interface import OutputRefused
    from procrecord.exports.rocrate import check_remote_output

    try:
        return check_remote_output(output)
    except OutputRefused as exc:
        raise click.UsageError(str(exc)) from exc
    except ProcrecordError:
        raise
    except Exception as exc:  # a missing bucket, no access: the export could not start (exit 3)
        raise ProcrecordError(f"{output}: cannot read what is there: {describe(exc)}") from exc


def _fetch_earlier_zip(output: str, staged: str) -> None:
    """For ``-o URL.zip`` of a crate: the zip there before, fetched to ``staged``, so that the exporter's check
    (a zip that is not a crate procrecord wrote is refused) and its keeping of other members apply to it."""
    from procrecord.bulk.storage import describe, filesystem
    from procrecord.errors import ProcrecordError

    try:
        fs, path = filesystem(output)
        if fs.exists(path):
            fs.get_file(path, staged)
    except Exception as exc:  # a missing bucket, no access: the export could not start (exit 3)
        raise ProcrecordError(f"{output}: cannot read what is there: {describe(exc)}") from exc


def _upload(staged: str, output: str, earlier: set[str] | None = None) -> bool:
    """Upload the finished export, then remove what ``earlier`` (a crate's files) has and the new one has not;
    a failure is one line (the export itself was complete)."""
    from procrecord.bulk.objectsink import upload
    from procrecord.bulk.storage import describe

    if not os.path.exists(staged):
        return True  # nothing was written (no record): nothing to upload
    try:
        upload(staged, output)
        if earlier:
            from procrecord.exports.rocrate import remove_remote

            written = {os.path.relpath(os.path.join(folder, name), staged).replace(os.sep, "/")
                       for folder, _, names in os.walk(staged) for name in names}
            remove_remote(output, earlier - written)
    except Exception as exc:  # noqa: BLE001 - a storage failure is a finding with its reason
        click.echo(f"{output}:: error: cannot write: {describe(exc)}", err=True)
        return False
    return True


@cli.command()
@source_options
@click.option("--to", "to", type=click.Choice(TARGETS), required=True, help="Export target.")
@click.option("--output", "-o", default=None, metavar="PATH",
              help="Output file (openlineage: JSON lines, otel: OTLP/JSON lines, parquet, csv, jsonl-flat) or "
                   "folder (ro-crate; a .zip when PATH ends so).")
@click.option("--endpoint", default=None, metavar="URL",
              help="Send instead of writing: OpenLineage HTTP URL, or OTLP/HTTP traces URL (otel).")
@click.option("--tracking-uri", default=None, metavar="URI", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI).")
@click.option("--experiment", default=None, help="MLflow experiment name [default: procrecord].")
@click.option("--namespace", default=None, help="OpenLineage job namespace [default: procrecord].")
@click.option("--job-name", default=None, help="OpenLineage job name [default: each record's name].")
@click.option("--level", type=click.Choice(("none", "most", "all")), default=None,
              help="Redact each record at this level (by the schema) before it is exported.")
@click.option("--pseudonymize", is_flag=True, help="With --level: replace removed identifiers by keyed tokens.")
@click.option("--key-file", type=click.Path(dir_okay=False), default=None, help="File holding the pseudonym key.")
@click.option("--no-volatile", is_flag=True, help="Tables: leave out fields that differ on every run (the id stays).")
@click.option("--config-prefix", default=None, help="Tables: prefix of the config columns [default: config.].")
@click.option("--timeout", type=click.FloatRange(0.1), default=None, show_default="10",
              help="Seconds one network request may take (mlflow; openlineage, otel with --endpoint).")
@click.option("--retries", type=click.IntRange(0, 10), default=None, show_default="3",
              help="Times a failed network request is tried again, with back-off (mlflow; openlineage with "
                   "--endpoint; otel's exporter retries within --timeout).")
@click.option("--strict", is_flag=True, help="Exit 1 when a target had no place for some fields (dropped).")
@guarded
def export(sources, jobs, max_bytes, to, output, endpoint, tracking_uri, experiment, namespace, job_name, level,
           pseudonymize, key_file, no_volatile, config_prefix, timeout, retries, strict) -> int:
    """Export records (any version) to another tool's format or store.

    Examples: procrecord export --to parquet -o runs.parquet runs/ ;
    procrecord export --to mlflow --tracking-uri http://localhost:5000 runs/
    """
    from procrecord.bulk.engine import Progress
    from procrecord.bulk.report import TextReporter
    from procrecord.cli import allow_empty_from_context, executor_from_context
    from procrecord.cli.commands import _key_or_usage_error
    from procrecord.exports import ExportOptions, OutputRefused, exporter
    from procrecord.exports.pipeline import PrepareRecord, run_export

    uri = _check_options(to, output, endpoint, tracking_uri, [
        ("--endpoint", endpoint, SENDING_TARGETS), ("--tracking-uri", tracking_uri, ("mlflow",)),
        ("--experiment", experiment, ("mlflow",)), ("--namespace", namespace, ("openlineage",)),
        ("--job-name", job_name, ("openlineage",)), ("--no-volatile", no_volatile, TABLES),
        ("--config-prefix", config_prefix, TABLES),
    ])
    _check_network(to, endpoint, timeout, retries)
    _check_endpoint(endpoint)
    # As in redact, word for word (no --level: nothing is redacted, as with --level none).
    if key_file and not pseudonymize:
        raise click.UsageError("--key-file is read only with --pseudonymize")
    if pseudonymize and level != "most":
        raise click.UsageError(f"--pseudonymize does nothing at --level {level or 'none'}: only 'most' replaces "
                               "identifiers it removes ('all' keeps none, 'none' removes none)")
    _check_output(to, output, sources)
    if config_prefix is not None:
        _check_prefix(config_prefix)
    key = _key_or_usage_error(pseudonymize, key_file)
    executor = executor_from_context()
    if executor is not None and executor.kind == "dask":
        # The exporter writes one file (or talks to one server) from this process: every prepared record
        # would come back here, so a cluster would only add its traffic. Said, not silently run locally.
        raise click.UsageError("export runs on this machine (its output is made in this process): use --jobs N "
                               "for more processes, not --executor dask")
    if executor is not None and executor.jobs:
        ctx = click.get_current_context()
        if ctx.get_parameter_source("jobs") == click.core.ParameterSource.COMMANDLINE and jobs != executor.jobs:
            raise click.UsageError(f"--jobs {jobs} and --executor local:{executor.jobs} ask for different numbers "
                                   "of processes: give one")
        jobs = executor.jobs
    earlier = _earlier_crate(output) if to == "ro-crate" else None
    staged = _staging(output)  # -o URL: written here first, uploaded once complete
    options = ExportOptions(
        output=staged or output, endpoint=uri or endpoint, namespace=namespace or "procrecord", job_name=job_name,
        experiment=experiment or "procrecord", include_volatile=not no_volatile,
        config_prefix="config." if config_prefix is None else config_prefix,
        timeout_s=10.0 if timeout is None else timeout, retries=3 if retries is None else retries)
    if to in ("parquet", "csv"):
        from procrecord.exports.tables import pyarrow_without_pandas

        pyarrow_without_pandas()
    try:
        if staged and to == "ro-crate" and staged.endswith(".zip"):
            _fetch_earlier_zip(output, staged)
        try:
            target = exporter(to, options)
        except OutputRefused as exc:
            raise click.UsageError(str(exc).replace(staged, output) if staged else str(exc)) from exc
        except OSError as exc:
            if isinstance(exc, BrokenPipeError):
                raise
            raise _cannot_write(output, exc) from exc
    except BaseException:
        if staged:
            import shutil

            shutil.rmtree(os.path.dirname(staged), ignore_errors=True)
        raise
    reporter = TextReporter(out=sys.stderr)

    def finding(where) -> None:
        place = where.where() or "export"
        click.echo(f"{place}:: {where.finding.kind}: [{where.finding.record_id}] {where.finding.message}", err=True)

    progress = Progress(f"export {to}")
    uploaded = True
    try:
        try:
            counts = run_export(list(sources), target, PrepareRecord(level, key), jobs, max_bytes,
                                reporter.outcome, finding, progress, empty_ok=allow_empty_from_context())
        except OSError as exc:  # the output could not be written (records that cannot be read are findings)
            if isinstance(exc, BrokenPipeError):
                raise
            raise _cannot_write(output, exc) from exc
        if staged and (reporter.summary.total or allow_empty_from_context()) and (counts.exported or counts.skipped
                                                                                 or not (counts.failed or counts.rejected)):
            uploaded = _upload(staged, output, earlier)  # (a run that wrote nothing leaves the object as it was)
    finally:
        progress.close()
        if staged:
            import shutil

            shutil.rmtree(os.path.dirname(staged), ignore_errors=True)
    # An output that could not be uploaded holds none of them: not written, as redact counts its files.
    parts = [f"{counts.exported} exported" if uploaded else f"{counts.exported} not written (error)"]
    for name, value in (("failed", counts.failed), ("already there", counts.skipped),
                        ("with dropped fields", counts.dropped), ("not readable or invalid", counts.rejected)):
        if value:
            parts.append(f"{value} {name}")
    total = reporter.summary.total
    click.echo(f"export --to {to}: {total} record{'s' if total != 1 else ''}: " + ", ".join(parts)
               + ("" if total else " (no record found)"), err=True)
    empty = not total and not allow_empty_from_context()
    if counts.failed or counts.rejected or empty or (strict and counts.dropped) or not uploaded:
        return EXIT_FINDINGS
    return EXIT_OK


# --executor is shared by every bulk command; export takes only the local pool (dask is refused: its
# output is made in this process), and its help says so.
for _param in export.params:
    if _param.name == "executor":
        _param.help = ("Where tasks run: local[:N] processes (as --jobs). Not dask: an export's output is made "
                       "on this machine.")
        _param.metavar = "local[:N]"
