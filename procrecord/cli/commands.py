"""Command definitions: each parses options, calls one library function and reports."""

from __future__ import annotations

import sys

import click

from procrecord.cli import EXIT_FINDINGS, EXIT_OK, cli, guarded, source_options

LEVELS = ("none", "most", "all")


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
@guarded
def validate(sources, jobs, max_bytes, schema_version, all_errors, fmt, require_level, verbose) -> int:
    """Validate records against their schema."""
    from procrecord.bulk import Progress, run
    from procrecord.checks import ValidateRecord
    from procrecord.report import REPORTERS

    if schema_version not in (None, "latest"):
        from procrecord.schemas import load_schema

        load_schema(schema_version)
    operation = ValidateRecord(schema_version, all_errors, require_level)
    reporter = REPORTERS[fmt](verbose=verbose)
    progress = Progress("validate")
    try:
        for outcome in run(list(sources), operation, jobs, max_bytes, progress):
            reporter.outcome(outcome)
    finally:
        progress.close()
    reporter.finish("validated")
    return EXIT_FINDINGS if reporter.summary.failed else EXIT_OK


@cli.command()
@click.argument("version", required=False)
@click.option("--path", "show_path", is_flag=True, help="Print the schema file's path instead of its text.")
@click.option("--list", "list_versions", is_flag=True, help="List the schema versions this installation knows.")
@guarded
def schema(version, show_path, list_versions) -> int:
    """Print (or locate) the schema of VERSION (default: the newest)."""
    from procrecord.schemas import current_version, known_versions, schema_path

    if list_versions:
        for known in known_versions():
            click.echo(known)
        return EXIT_OK
    path = schema_path(version or current_version())
    if show_path:
        click.echo(str(path))
    else:
        sys.stdout.write(path.read_text(encoding="utf-8"))
    return EXIT_OK
