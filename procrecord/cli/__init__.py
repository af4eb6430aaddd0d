"""The ``procrecord`` command line: thin click commands over the library.

Exit codes: 0 all good, 1 findings (invalid records, leaks, differences), 2 usage error,
3 the tool could not do its job.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable

import click

from procrecord._version import __version__
from procrecord.limits import DEFAULT_MAX_BYTES

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


def guarded(func: Callable[..., int]) -> Callable[..., None]:
    """Run a command body, map its result to the exit code and "cannot do the job" errors to 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from procrecord.errors import ProcrecordError

        try:
            code = func(*args, **kwargs)
        except click.exceptions.ClickException:
            raise
        except BrokenPipeError:
            # The reader went away (``| head``): stop quietly, as other command-line tools do.
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        except (ProcrecordError, OSError) as exc:
            click.echo(f"procrecord: error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)
        except KeyboardInterrupt:
            click.echo("procrecord: interrupted", err=True)
            sys.exit(130)
        sys.exit(code)

    return wrapper


#: ``--max-bytes``, for the commands that read records.
max_bytes_option = click.option("--max-bytes", type=click.IntRange(1), default=DEFAULT_MAX_BYTES, show_default=True,
                                help="Largest JSON file or JSONL line accepted.")


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every bulk command shares: sources, --jobs, --max-bytes."""
    func = click.argument("sources", nargs=-1, required=True, metavar="PATH...")(func)
    func = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True,
                        help="Worker processes.")(func)
    return max_bytes_option(func)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="procrecord")
def cli() -> None:
    """Validate, redact, upgrade and diff procrecord records in bulk, and record commands.

    PATH may be a file, a folder (searched for *.json, *.jsonl), a glob, or - for stdin.
    Exit codes: 0 all good, 1 findings, 2 usage error, 3 the tool could not run.
    """


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="procrecord")


from procrecord.cli import commands as _commands  # noqa: E402,F401  (registers the commands)
from procrecord.cli import export as _export  # noqa: E402,F401  (registers ``procrecord export``)
