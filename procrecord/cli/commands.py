"""Command definitions: each parses options, calls one library function and reports."""

from __future__ import annotations

import contextlib
import sys

import click

from procrecord.cli import (
    EXIT_FAILURE,
    EXIT_FINDINGS,
    EXIT_OK,
    allow_empty_from_context,
    cli,
    executor_from_context,
    guarded,
    max_bytes_option,
    silence_stdout,
    source_options,
    stdout_closed,
    storage_option,
    walk_from_context,
)

#: The redaction levels (procrecord.record.policy.LEVELS, repeated so --help loads no schema; a test keeps them equal).
LEVELS = ("none", "most", "all")


def embedded_option(func):
    """--embedded: find process records inside result files (kwcoco ``info``, ``meta.info``, .kwcoco.zip)."""
    func = click.option("--embedded-pointer", "pointers", multiple=True, metavar="POINTER",
                        help="With --embedded: also look for records (or a list of them) at this JSON "
                             "pointer, e.g. /a/b (repeatable).")(func)
    return click.option("--embedded", is_flag=True,
                        help="Find process records in the 'info' and 'meta.info' lists of result files "
                             "(kwcoco .json and .kwcoco.zip) and handle only those, keeping every other "
                             "byte of each file as it is.")(func)


def _maybe_embedded(operation, embedded: bool, pointers=(), max_bytes=None):
    if pointers and not embedded:
        raise click.UsageError("--embedded-pointer needs --embedded")
    if not embedded:
        return operation
    from procrecord.bulk.embedded import DEFAULT_POINTERS, Embedded
    from procrecord.bulk.limits import DEFAULT_MAX_BYTES

    for pointer in pointers:
        if not pointer.startswith("/"):
            raise click.UsageError(f"--embedded-pointer {pointer!r}: a JSON pointer starts with '/' (e.g. /a/b)")
    named = tuple(dict.fromkeys(p for p in pointers if p not in DEFAULT_POINTERS))
    return Embedded(operation, DEFAULT_POINTERS + named, max_bytes or DEFAULT_MAX_BYTES, named)


@cli.command()
@source_options
@click.option("--schema-version", "schema_version", default=None, metavar="VERSION",
              help="Validate against this schema version instead of each record's own; 'latest' "
                   "accepts newer minor versions checked against the newest known schema.")
@click.option("--all-errors", is_flag=True, help="Report every violation, not just the best match.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--require-level", type=click.Choice(["most", "all"]), default=None,
              help="Also fail on records holding anything this redaction level removes.")
@click.option("--verbose", "-v", is_flag=True, help="List valid records too.")
@embedded_option
@guarded
def validate(sources, jobs, max_bytes, schema_version, all_errors, fmt, require_level, verbose, embedded, pointers) -> int:
    """Validate records against their schema."""
    from procrecord.bulk.report import REPORTERS
    from procrecord.operations.checks import ValidateRecord

    if schema_version not in (None, "latest"):
        from procrecord.record.schemas import load_schema

        load_schema(schema_version)
    operation = _maybe_embedded(ValidateRecord(schema_version, all_errors, require_level), embedded, pointers, max_bytes)
    return run_report(sources, operation, jobs, max_bytes, REPORTERS[fmt](verbose=verbose), "validate", "validated")


def run_report(sources, operation, jobs, max_bytes, reporter, label, verb, rewrites: bool = False) -> int:
    """Drive a checking operation over sources into a reporter; the exit code says if anything was found.

    ``rewrites``: the check of a run that would rewrite files (``upgrade --check``): the records of a file
    that run would leave unchanged (a record in it fails) are counted as not written, as the run counts them.
    """
    import collections

    from procrecord.bulk.engine import SKIPPED, Block, Progress
    from procrecord.bulk.report import TextReporter
    from procrecord.bulk.status import severity

    progress = Progress(label)
    done: dict[str, collections.Counter[str]] = {}  # the records a run would write, by source and status
    failing: list[str] = []  # sources with a record that fails, in order
    try:
        for item in _execute(list(sources), operation, jobs, max_bytes, progress, walk=walk_from_context()):
            if isinstance(item, Block):
                reporter.summary.add_totals(item.totals)
                continue
            reporter.outcome(item)
            if rewrites and severity(item.status) <= 1 and item.status != SKIPPED:
                done.setdefault(item.source, collections.Counter())[str(item.status)] += item.records
            elif rewrites and severity(item.status) >= 2 and item.source not in failing:
                failing.append(item.source)
    except BrokenPipeError:
        if not stdout_closed():
            raise
        silence_stdout()  # the reader went away (| head): say what was found so far, quietly
    except KeyboardInterrupt:
        _close_json(reporter, verb)
        raise
    finally:
        progress.close()
    counts = reporter.summary.counts
    for source in failing:
        kept = done.pop(source, collections.Counter())
        _not_written(counts, kept, "file has errors")  # as the run counts a file it leaves unchanged
        if kept and isinstance(reporter, TextReporter):
            reporter.out.write(f"{source}:: would not be rewritten (see its error above): the file would stay unchanged\n")
    reporter.finish(verb)
    return _exit_code(reporter.summary)


def _close_json(reporter, verb: str) -> None:
    """End a JSON report of an interrupted run (see :meth:`JsonReporter.interrupted`); text needs nothing."""
    from procrecord.bulk.report import JsonReporter

    if isinstance(reporter, JsonReporter):
        with contextlib.suppress(OSError):  # the reader may be gone too: the run is ending anyway
            reporter.interrupted(verb)


def _not_written(counts, kept, why: str) -> None:
    """Count the records ``kept`` (status -> records of one source) as ``not written (why)`` instead."""
    for status, taken in kept.items():
        counts[status] -= taken
        if counts[status] <= 0:
            del counts[status]
        counts[f"not written ({why})"] += taken


def _execute(sources, operation, jobs, max_bytes, progress=None, source_done=None, skip=(), walk=None,
             output=None, in_place=False, collected=None):
    """The outcomes of a run on the chosen executor (--executor; default the local pool of --jobs)."""
    from procrecord.bulk.engine import run

    executor = executor_from_context()
    ctx = click.get_current_context(silent=True)
    given = ctx is not None and ctx.get_parameter_source("jobs") == click.core.ParameterSource.COMMANDLINE
    if given and executor is not None:
        if executor.kind == "local" and executor.jobs and executor.jobs != jobs:
            raise click.UsageError(f"--jobs {jobs} and --executor local:{executor.jobs} ask for different numbers "
                                   "of processes: give one")
        if executor.kind == "dask" and executor.address:
            raise click.UsageError(f"--jobs sizes the LocalCluster of --executor dask; --executor dask:{executor.address} "
                                   "has the workers its cluster has")
    if executor is not None and executor.kind == "dask":
        from procrecord.bulk.executors import run_dask

        # --jobs given on the command line sizes a LocalCluster started for the run.
        return run_dask(executor.address, sources, operation, max_bytes, walk, output, in_place, collected,
                        progress=progress, skip=skip, workers=jobs if given else None)
    if executor is not None and executor.jobs:
        jobs = executor.jobs
    return run(sources, operation, jobs, max_bytes, progress, source_done, skip, walk)


def _exit_code(summary, more_findings: bool = False) -> int:
    """1 for findings, and for a run that found no record at all (unless --allow-empty), else 0."""
    if summary.failed or more_findings:
        return EXIT_FINDINGS
    if summary.records_found == 0 and not allow_empty_from_context():
        return EXIT_FINDINGS  # a mistyped folder in a CI gate must not pass
    return EXIT_OK


@cli.command()
@click.argument("version", required=False)
@click.option("--path", "show_path", is_flag=True, help="Print the schema file's path instead of its text.")
@click.option("--list", "list_versions", is_flag=True, help="List the schema versions this installation knows.")
@guarded
def schema(version, show_path, list_versions) -> int:
    """Print (or locate) the schema of VERSION (default and 'latest': the newest)."""
    from procrecord.record.schemas import current_version, known_versions, schema_path

    if list_versions and (version is not None or show_path):
        raise click.UsageError("--list lists every version: it takes neither a VERSION nor --path")
    if list_versions:
        for known in known_versions():
            click.echo(known)
        return EXIT_OK
    path = schema_path(current_version() if version in (None, "latest") else version)
    if show_path:
        click.echo(str(path))
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return EXIT_OK


def output_options(func):
    """Where rewritten records go: stdout (one source), --output-dir, or --in-place; the summary's format."""
    func = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                        help="Per-record findings and the summary on stderr as text lines or one JSON document "
                             "(upgrade --check: the report on stdout).")(func)
    func = click.option("--in-place", is_flag=True, help="Replace each input file atomically.")(func)
    func = click.option("--output-dir", "-o", type=click.Path(file_okay=False), default=None,
                        help="Write outputs here, mirroring the input tree.")(func)
    return func


def run_transform(sources, operation, jobs, max_bytes, output_dir, in_place, verb, label, fmt="text") -> int:
    """Drive a rewriting operation over sources into a :class:`~procrecord.bulk.output.Sink`."""
    import io

    from procrecord.bulk.engine import SKIPPED, Block, Progress
    from procrecord.bulk.loader import escape
    from procrecord.bulk.output import Sink
    from procrecord.bulk.report import JsonReporter, TextReporter

    sources = list(sources)
    if output_dir and in_place:
        raise click.UsageError("choose either --output-dir or --in-place")
    if in_place and "-" in sources:
        raise click.UsageError("--in-place rewrites files: stdin ('-') is none (without --in-place the result "
                               "goes to stdout)")
    if not output_dir and not in_place and (len(sources) != 1 or (sources[0] != "-" and not _is_single_file(sources[0]))):
        raise click.UsageError("several inputs need --output-dir or --in-place (stdout takes one file)")
    walk = walk_from_context()
    from procrecord.bulk.executors import Collected
    from procrecord.bulk.objectsink import ObjectSink
    from procrecord.bulk.storage import is_url

    executor = executor_from_context()
    sink: Collected | ObjectSink | Sink
    if executor is not None and executor.kind == "dask":  # workers write their outputs themselves
        if not (output_dir or in_place):
            raise click.UsageError("--executor dask writes outputs from the workers: give -o or --in-place")

        sink = Collected()
    elif any(is_url(s) for s in [*sources, output_dir]):  # object storage: one PUT per output object
        sink = ObjectSink(sources, output_dir, in_place, follow_symlinks=walk.follow_symlinks)
    else:
        sink = Sink(sources, output_dir, in_place, follow_symlinks=walk.follow_symlinks)
    # stdout may carry the record itself: findings and the summary go to stderr in either format.
    reporter = TextReporter(out=sys.stderr) if fmt == "text" else JsonReporter(out=sys.stderr, err=io.StringIO())
    #: The clean outcomes of each source's records, by status (a file not written takes back its own).
    done_by_source: dict[str, dict[str, int]] = {}
    totals_by_source: dict[str, dict[str, int]] = {}  # what each source's records changed, summed
    progress = Progress(label)
    try:
        skip = (output_dir,) if output_dir else ()  # it may lie inside a source folder
        for item in _execute(sources, operation, jobs, max_bytes, progress, sink.done, skip, walk,
                             output_dir, in_place, sink):
            # (this runs twice per file of a run over many small files: plain dicts, no Counter made per source)
            if item.__class__ is Block:
                if item.totals:
                    reporter.summary.add_totals(item.totals)
                    _add_counts(totals_by_source, item.source, item.totals)
            else:
                reporter.outcome(item)
                if item.ok and item.status != SKIPPED:
                    _add_counts(done_by_source, item.source, {str(item.status): item.records})
                    if item.info:
                        numbers = {k: v for k, v in item.info.items() if type(v) is int}
                        if numbers:
                            _add_counts(totals_by_source, item.source, numbers)
            sink.add(item)
    except BrokenPipeError:
        if not stdout_closed():
            sink.abort()
            raise
        silence_stdout()  # the reader of stdout went away: finish quietly with what was found so far
    except BaseException as exc:
        sink.abort()
        if isinstance(exc, KeyboardInterrupt):
            _close_json(reporter, verb)  # which files the finished batches wrote is not known here
        raise
    finally:
        progress.close()
    sink.close()
    if fmt == "json":
        reporter.summary.notes = {"not_written": [*sink.skipped, *(a for a, _, _ in sink.conflicts),
                                                  *(a for a, _ in sink.failures)],
                                  "conflicts": [{"source": a, "output": b, "owner": c} for a, b, c in sink.conflicts]}
    def not_written(source: str, why: str) -> None:
        """Count the records of ``source`` as ``not written (why)``, and take back what they changed."""
        summary = reporter.summary
        _not_written(summary.counts, done_by_source.pop(source, {}), why)  # its own records
        for name, n in totals_by_source.pop(source, {}).items():
            summary.totals[name] -= n

    for source, target, owner in sink.conflicts:
        not_written(source, "output taken")
        if fmt == "text":
            click.echo(escape(f"{source}:: error: not written: its output {target} is that of {owner} (give one "
                              "folder holding both, whose tree is mirrored)"), err=True)
    for source, _ in sink.failures:
        not_written(source, "error")
    for skipped in sink.skipped:
        # A file with an error is not written at all: its good records were not rewritten either.
        not_written(skipped, "file has errors")
        if fmt == "json":
            continue
        if in_place:
            click.echo(f"{escape(skipped)}:: not rewritten (see its error above): the file is unchanged", err=True)
        else:
            click.echo(f"{escape(skipped)}:: no output written for it (see its error above)", err=True)
    for source, message in sink.failures:
        click.echo(escape(f"{source}:: error: {message}"), err=True)
    reporter.finish(verb)
    return _exit_code(reporter.summary, bool(sink.conflicts or sink.failures))


def _add_counts(by_source: dict[str, dict[str, int]], source: str, counts: dict[str, int]) -> None:
    """Add ``counts`` to those of ``source`` in ``by_source``."""
    known = by_source.get(source)
    if known is None:
        by_source[source] = dict(counts)
        return
    for name, n in counts.items():
        known[name] = known.get(name, 0) + n


def _is_single_file(source: str) -> bool:
    import os

    from procrecord.bulk.storage import filesystem, is_url

    if is_url(source):
        fs, path = filesystem(source)
        return not any(m in path for m in "*?[") and fs.isfile(path)
    return os.path.isfile(source)


def _key_or_usage_error(pseudonymize: bool, key_file):
    from procrecord.errors import RedactionKeyError
    from procrecord.operations.redaction import KEY_ENV, load_key

    try:
        key = load_key(key_file) if (pseudonymize or key_file) else None
    except RedactionKeyError as exc:
        raise click.UsageError(str(exc)) from exc
    if pseudonymize and key is None:
        raise click.UsageError(f"--pseudonymize needs a key: set {KEY_ENV} or pass --key-file")
    return key


@cli.command()
@source_options
@click.option("--level", type=click.Choice(LEVELS), required=True,
              help="most: remove what identifies a person or machine, scrub what stays; all: keep only identity.")
@click.option("--pseudonymize", is_flag=True,
              help="Replace removed identifiers by keyed HMAC tokens (key from $PROCRECORD_REDACT_KEY or --key-file).")
@click.option("--key-file", type=click.Path(dir_okay=False), default=None, help="File holding the pseudonym key (>= 32 bytes).")
@click.option("--keep-version/--upgrade", "keep_version", default=None,
              help="Write each record back in its own version (legacy stays legacy), or upgraded to the "
                   "newest. Default: keep with --embedded, upgrade otherwise.")
@output_options
@embedded_option
@guarded
def redact(sources, jobs, max_bytes, level, pseudonymize, key_file, keep_version, output_dir, in_place, fmt, embedded,
           pointers) -> int:
    """Redact records before they are shared (older versions are upgraded first, and written back
    in their own version with --embedded or --keep-version)."""
    from procrecord.operations.transforms import RedactRecord

    if key_file and not pseudonymize:
        raise click.UsageError("--key-file is read only with --pseudonymize")
    if pseudonymize and level != "most":
        raise click.UsageError(f"--pseudonymize does nothing at --level {level}: only 'most' replaces identifiers "
                               "it removes ('all' keeps none, 'none' removes none)")
    key = _key_or_usage_error(pseudonymize, key_file)
    keep = embedded if keep_version is None else keep_version
    executor = executor_from_context()
    if key is not None and executor is not None and executor.kind == "dask":
        from procrecord.bulk.executors import WorkerKey
        from procrecord.operations.redaction import fingerprint

        if key_file:
            raise click.UsageError("with --executor dask the key comes from each worker's $PROCRECORD_REDACT_KEY, "
                                   "not --key-file (it would travel with the tasks)")
        key = WorkerKey(fingerprint(key))  # workers read it from their own environment
    operation = _maybe_embedded(RedactRecord(level, key, keep), embedded, pointers, max_bytes)
    return run_transform(sources, operation, jobs, max_bytes, output_dir, in_place, "redacted", "redact", fmt)


@cli.command()
@source_options
@click.option("--to", "to", default=None, metavar="VERSION", help="Target version (default: the newest).")
@click.option("--check", is_flag=True, help="Only report what would change; write nothing; exit 1 if anything needs upgrading.")
@output_options
@embedded_option
@guarded
def upgrade(sources, jobs, max_bytes, to, check, output_dir, in_place, fmt, embedded, pointers) -> int:
    """Upgrade records (legacy ProcessContext included) to a newer schema version."""
    from procrecord.bulk.report import REPORTERS
    from procrecord.operations.transforms import UpgradeRecord
    from procrecord.record.schemas import load_schema

    if to is not None:
        load_schema(to)
    if check and (output_dir or in_place):
        raise click.UsageError("--check writes nothing: it takes neither --output-dir nor --in-place")
    operation = _maybe_embedded(UpgradeRecord(to, check), embedded, pointers, max_bytes)
    if check:
        return run_report(sources, operation, jobs, max_bytes, REPORTERS[fmt](out=sys.stdout), "upgrade --check", "checked",
                          rewrites=True)
    return run_transform(sources, operation, jobs, max_bytes, output_dir, in_place, "upgraded", "upgrade", fmt)


@cli.command()
@source_options
@click.option("--to", "to", default="0", show_default=True, metavar="VERSION", help="Target version.")
@output_options
@embedded_option
@guarded
def downgrade(sources, jobs, max_bytes, to, output_dir, in_place, fmt, embedded, pointers) -> int:
    """Downgrade records for tools that only read an older shape (0: the legacy ProcessContext)."""
    from procrecord.operations.transforms import DowngradeRecord
    from procrecord.record.schemas import load_schema

    load_schema(to)
    operation = _maybe_embedded(DowngradeRecord(to), embedded, pointers, max_bytes)
    return run_transform(sources, operation, jobs, max_bytes, output_dir, in_place, "downgraded", "downgrade", fmt)


@cli.command(context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False})
@click.option("--output", "-o", type=click.Path(), default=None,
              help="Where to write the record; a folder (existing, or ending in /; default: the current "
                   "one) gets a new <command>-<time>-<id>.procrecord.json of its own inside it.")
@click.option("--name", "-n", default=None, help="Name of the job (default: the command's name).")
@click.option("--emissions", is_flag=True, help="Record energy, estimated by codecarbon where no counter measures it (offline; CO2 needs --country).")
@click.option("--country", default=None, metavar="ISO3", help="Country for the carbon intensity, e.g. USA, FRA.")
@click.option("--region", default=None, help="Region within --country, as codecarbon knows it, e.g. 'new york' (USA).")
@click.option("--level", type=click.Choice(LEVELS), default=None,
              help="Redaction level of the record (default: $PROCRECORD_LEVEL, else none).")
@click.option("--flush-interval", type=click.FloatRange(0), default=30.0, show_default=True,
              help="Rewrite the record every N seconds while the command runs (0: never).")
@click.option("--input", "inputs", multiple=True, metavar="PATH",
              help="A file, folder, glob or URI the command reads (repeatable); hashed while it runs.")
@click.option("--output-artifact", "outputs", multiple=True, metavar="PATH",
              help="A file, folder, glob or URI the command writes (repeatable); hashed when it ends.")
@click.option("--max-digest-bytes", type=click.IntRange(0), default=None, metavar="N",
              help="Hash artifacts up to N bytes; larger ones keep only size and mtime (default 1 GiB).")
@click.option("--digest-all", is_flag=True, help="Hash every artifact whatever its size.")
@click.option("--usage-interval", type=click.FloatRange(0, min_open=True), default=None, metavar="SECONDS",
              help="Sample CPU, memory and GPU use every SECONDS into the record's usage section.")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run(output, name, emissions, country, region, level, flush_interval, inputs, outputs, max_digest_bytes,
        digest_all, usage_interval, command) -> None:
    """Run COMMAND, write its record, and exit with its exit code.

    Example: procrecord run -o fit.json -- python train.py --lr 0.01
    """
    import os

    from procrecord.errors import ProcrecordError
    from procrecord.writer.runner import interrupted_early, run_command

    argv = list(command)
    if (country or region) and not emissions:
        raise click.UsageError("--country and --region set the carbon intensity of --emissions: add --emissions")
    if emissions:
        from procrecord.collectors.emissions import check_options

        try:
            check_options({"country_iso_code": country, "region": region})  # (reads codecarbon's data files)
        except ProcrecordError as exc:
            raise click.UsageError(str(exc).replace("country_iso_code=", "--country ").replace("region=", "--region ")) from exc
        except KeyboardInterrupt:  # as in run_command before the command starts, not click's "Aborted!" (1)
            import signal

            click.echo(interrupted_early(argv), err=True)
            sys.exit(128 + signal.SIGINT)
    # A folder (the current one by default): the record gets a new file of its own inside it.
    folder = output is None or output.endswith(("/", os.sep)) or os.path.isdir(output)
    if output is None:
        output = os.curdir
    # (an existing record is replaced, and run_command says so; anything else is refused there)
    options = {"country_iso_code": country, "region": region} if emissions else False
    from procrecord.writer.artifacts import DEFAULT_MAX_DIGEST_BYTES

    if digest_all and max_digest_bytes is not None:
        raise click.UsageError("--digest-all and --max-digest-bytes contradict each other: choose one")
    if (digest_all or max_digest_bytes is not None) and not (inputs or outputs):
        raise click.UsageError(f"{'--digest-all' if digest_all else '--max-digest-bytes'} sets how artifacts are "
                               "hashed: name them with --input or --output-artifact")
    limit = None if digest_all else (DEFAULT_MAX_DIGEST_BYTES if max_digest_bytes is None else max_digest_bytes)
    try:
        code = run_command(argv, output, name, options, level, flush_interval, inputs=list(inputs),
                           outputs=list(outputs), usage_interval=usage_interval, max_digest_bytes=limit,
                           folder=folder)
    except ProcrecordError as exc:
        click.echo(f"procrecord: error: {exc}", err=True)
        sys.exit(EXIT_FAILURE)
    sys.exit(code)


def _load_one(source: str, max_bytes: int):
    """The single record in ``source``, upgraded to the current version, or an error message."""
    from procrecord.bulk.loader import LoadError, load
    from procrecord.errors import ProcrecordError
    from procrecord.operations.comparison import prepare

    # 2**70 and 2**70 + 1 must differ; a key written twice is refused (which value was meant is unknown)
    items = list(load([source], max_bytes, exact=True, unique=True))
    if len(items) != 1:
        return None, f"{source}:: error: expected one record, found {len(items)}"
    item = items[0]
    if isinstance(item, LoadError):
        return None, f"{item.where()}:: error: {item.message}"
    try:
        return prepare(item.record), None
    except ProcrecordError as exc:
        return None, f"{source}:: error: {exc}"


@cli.command()
@click.argument("sources", nargs=-1, required=True, metavar="A B | --baseline A PATH...")
@click.option("--baseline", default=None, metavar="A", help="Compare every record of PATH... with this one.")
@click.option("--include-volatile", is_flag=True, help="Also compare ids, timestamps, pids and record metadata.")
@click.option("--ignore", multiple=True, metavar="PATH",
              help="Ignore a field, written as the output prints it (disks[/].free_bytes, "
                   "invocation.config[\"a.b\"] for a key with a dot), dotted (each name one key) or as a "
                   "JSON pointer; * matches one name (repeatable). A path the schema does not know is an error, "
                   "and so is one inside an open bag or naming a list item that matches nothing in the records.")
@click.option("--only", multiple=True, metavar="PATH",
              help="Compare only this section or field (invocation.config.seed; same forms as --ignore; repeatable).")
@click.option("--rtol", type=click.FloatRange(0), default=0.0, show_default=True,
              help="Numbers whose relative difference is within this are equal.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "patch"]), default="text", show_default=True)
@click.option("--allow-empty", is_flag=True,
              help="With --baseline: finding no record to compare is not a finding (exit 0, not 1).")
@max_bytes_option
@storage_option
@guarded
def diff(sources, baseline, include_volatile, ignore, only, rtol, fmt, allow_empty, max_bytes) -> int:
    """Show what differs between two runs, by meaning (exit 0 same, 1 different, 3 could not compare)."""
    from procrecord.operations.comparison import Options

    options = Options(include_volatile, tuple(ignore), tuple(only), rtol)
    problems = options.problems()
    if problems:
        raise click.UsageError("\n".join(problems))
    if baseline is None:
        if allow_empty:
            raise click.UsageError("--allow-empty goes with --baseline (two records A B are never empty)")
        if len(sources) != 2:
            raise click.UsageError("give two records (A B), or --baseline A and the records to compare with it")
        return _diff_pair(sources[0], sources[1], options, fmt, max_bytes)
    if fmt == "patch":
        raise click.UsageError("--format patch compares two records; it does not take --baseline")
    return _diff_baseline(baseline, list(sources), options, fmt, max_bytes, allow_empty)


def _diff_pair(a_src, b_src, options, fmt, max_bytes) -> int:
    from procrecord.bulk.jsoncodec import dumps
    from procrecord.operations.comparison import PathEvidence, to_patch, verify_patch
    from procrecord.operations.comparison import diff as compare
    from procrecord.operations.diffreport import summary, write_text

    a, problem = _load_one(a_src, max_bytes)
    b, problem_b = _load_one(b_src, max_bytes) if problem is None else (None, None)
    if problem or problem_b:
        click.echo(problem or problem_b, err=True)
        return EXIT_FAILURE
    assert a is not None and b is not None  # _load_one gives a record or a problem
    evidence = PathEvidence(options)
    evidence.see(a)
    evidence.see(b)
    if evidence.problems(options):
        raise click.UsageError("\n".join(evidence.problems(options)))
    changes = compare(a, b, options, upgrade=False)
    try:
        if fmt == "json":
            body = {"a": a_src, "b": b_src, "changes": [c.to_dict() for c in changes], "count": len(changes)}
            click.echo(dumps(body, indent=True).decode())
        elif fmt == "patch":
            patch = to_patch(changes, a, b)
            if not verify_patch(patch, a, b, options):
                click.echo("procrecord: error: the patch does not turn A into B (bug); not printed", err=True)
                return EXIT_FAILURE
            click.echo(dumps(patch, indent=True).decode())
        else:
            write_text(changes, sys.stdout)
            sys.stdout.flush()  # a closed stdout shows here, not in Python's final flush
    except BrokenPipeError:
        if not stdout_closed():
            raise
        silence_stdout()  # the reader went away (| head): the summary goes to stderr instead
        click.echo(summary(changes), err=True)
    return EXIT_FINDINGS if changes else EXIT_OK


def _diff_baseline(a_src, sources, options, fmt, max_bytes, allow_empty=False) -> int:
    from procrecord.bulk.engine import Progress
    from procrecord.bulk.loader import LoadError, load
    from procrecord.bulk.loader import where as place
    from procrecord.errors import ProcrecordError
    from procrecord.operations.comparison import PathEvidence, prepare
    from procrecord.operations.comparison import diff as compare
    from procrecord.operations.diffreport import BaselineReport

    base, problem = _load_one(a_src, max_bytes)
    if problem:
        click.echo(problem, err=True)
        return EXIT_FAILURE
    evidence = PathEvidence(options)
    evidence.see(base)
    report = BaselineReport(a_src, sys.stdout, fmt)
    progress = Progress("diff")
    try:
        for item in load(sources, max_bytes, exact=True, unique=True):
            progress(1)
            try:
                if isinstance(item, LoadError):
                    raise ProcrecordError(item.message)
                record = prepare(item.record)
                changes = compare(base, record, options, upgrade=False)
            except ProcrecordError as exc:
                click.echo(f"{place(item.source, item.line)}:: error: {exc}", err=True)
                report.broken += 1
                continue
            evidence.see(record)
            report.add(item.source, item.line, changes)
        sys.stdout.flush()
    except BrokenPipeError:
        if not stdout_closed():
            raise
        silence_stdout()  # the reader went away (| head): stop, and sum up what was compared so far
    finally:
        progress.close()
    click.echo(report.finish(), err=True)
    if evidence.problems(options):  # known only once every record was read: the report above stands
        raise click.UsageError("\n".join(evidence.problems(options)))
    if report.broken:
        return EXIT_FAILURE
    if report.variation.records == 0 and not allow_empty:
        return EXIT_FINDINGS  # a mistyped folder in a CI gate must not pass
    return EXIT_FINDINGS if report.differing else EXIT_OK


@cli.command()
@source_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="text: an aligned table; json: one object per record with the same facts.")
@guarded
def show(sources, jobs, max_bytes, fmt) -> int:
    """Summarise records, one row each: name, status, when, how long, where, on what."""
    from procrecord.bulk.engine import Block
    from procrecord.bulk.report import JsonReporter, TextReporter
    from procrecord.bulk.status import Status
    from procrecord.operations.summary import SHOW_COLUMNS, ShowRecord, escape, format_facts, width

    if fmt == "json":
        json_reporter = JsonReporter()  # each record's facts under "info"
        try:
            for outcome in _execute(list(sources), ShowRecord(), jobs, max_bytes, walk=walk_from_context()):
                if isinstance(outcome, Block):
                    continue
                json_reporter.outcome(outcome._replace(message=None) if outcome.status == Status.SHOWN else outcome)
        except KeyboardInterrupt:
            _close_json(json_reporter, "read")
            raise
        json_reporter.finish("read")
        return _exit_code(json_reporter.summary)
    reporter = TextReporter(out=sys.stderr)
    rows = []
    for outcome in _execute(list(sources), ShowRecord(), jobs, max_bytes, walk=walk_from_context()):
        if isinstance(outcome, Block):  # none come: show writes no records back
            continue
        if outcome.status == Status.SHOWN:
            rows.append({"record": escape(outcome.where()), **format_facts(outcome.info or {})})
            outcome = outcome._replace(message=None, info=None)
        reporter.outcome(outcome)
    columns = ["record"] + [c for c in SHOW_COLUMNS if any(c in r for r in rows)]
    widths = {c: max([len(c)] + [width(r.get(c, "")) for r in rows]) for c in columns}

    def cells(values: list[str]) -> str:  # wide characters take two columns: pad by width, not length
        return "  ".join(v + " " * (widths[c] - width(v)) for c, v in zip(columns, values)).rstrip()

    written = 0
    try:
        if rows:
            click.echo(cells([c.upper() for c in columns]))
        for row in rows:
            click.echo(cells([row.get(c, "") for c in columns]))
            sys.stdout.flush()  # a row counts as shown once it left: see below
            written += 1
    except BrokenPipeError:
        if not stdout_closed():
            raise
        silence_stdout()  # the reader went away (| head): the summary counts the rows that reached it
        counts = reporter.summary.counts
        counts[str(Status.SHOWN)] = written
        counts["not shown (stdout closed)"] = len(rows) - written
    reporter.finish("read")
    return _exit_code(reporter.summary)
