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
from procrecord.bulk.limits import DEFAULT_MAX_BYTES

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_FAILURE = 0, 1, 2, 3


def guarded(func: Callable[..., int]) -> Callable[..., None]:
    """Run a command body, map its result to the exit code and "cannot do the job" errors to 3."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from procrecord.errors import ProcrecordError, StorageOptionError

        try:
            _check_storage_options(kwargs)
            code = func(*args, **kwargs)
        except click.exceptions.ClickException:
            raise
        except StorageOptionError as exc:  # found only once the storage was used: still the user's option
            raise click.UsageError(str(exc)) from exc
        except BrokenPipeError as exc:
            if not stdout_closed():
                # Not our reader: a worker's pipe, a socket. The tool could not do its job.
                click.echo(f"procrecord: error: {exc}", err=True)
                sys.exit(EXIT_FAILURE)
            # The reader went away (``| head``) before a command could say what it found so far.
            silence_stdout()
            sys.exit(EXIT_OK)
        except (ProcrecordError, OSError) as exc:
            click.echo(f"procrecord: error: {exc}", err=True)
            sys.exit(EXIT_FAILURE)
        except KeyboardInterrupt:
            click.echo("procrecord: interrupted", err=True)
            sys.exit(130)
        sys.exit(code)

    return wrapper


def _check_storage_options(kwargs: dict[str, Any]) -> None:
    """``--storage-option`` with no URL among the command's sources and outputs is not used: say so.
    One that the URLs' storage does not take is a usage error (no source could be read with it)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or not any(param.name == "storage_option" for param in ctx.command.params):
        return
    from procrecord.bulk.storage import check_options, is_url, options
    from procrecord.errors import StorageOptionError

    if not options():
        return
    places = [*kwargs.get("sources", ()), *(kwargs.get(name) for name in ("output_dir", "output", "baseline"))]
    urls = [place for place in places if isinstance(place, str) and is_url(place)]
    if not urls:
        click.echo("procrecord: warning: --storage-option is for URL sources and outputs (s3://...): "
                   "none is given, so it is not used", err=True)
        return
    try:
        check_options(urls)
    except StorageOptionError as exc:
        raise click.UsageError(str(exc)) from exc


def stdout_closed() -> bool:
    """True when nothing reads our stdout any more (the reader of a pipe went away)."""
    import select

    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        poller = select.poll()
        poller.register(fd, 0)  # POLLERR and POLLHUP are always reported
        return any(event & (select.POLLERR | select.POLLHUP) for _, event in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def silence_stdout() -> None:
    """Point stdout at /dev/null so that nothing more (Python's final flush included) fails on it."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
    os.close(devnull)


def _walk_callback(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def store(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        ctx.meta.setdefault("procrecord.walk", {})[name] = tuple(value) if isinstance(value, tuple) else value
        return value

    return store


def walk_from_context():  # -> procrecord.bulk.loader.Walk (imported lazily: --help stays light)
    """The folder-walk options (--hidden, --follow-symlinks, --include, --exclude) of this command."""
    from procrecord.bulk.loader import Walk

    ctx = click.get_current_context(silent=True)
    return Walk(**(ctx.meta.get("procrecord.walk", {}) if ctx is not None else {}))


def allow_empty_from_context() -> bool:
    """True when --allow-empty was given: a run that finds no record is not a finding."""
    ctx = click.get_current_context(silent=True)
    return bool(ctx is not None and ctx.meta.get("procrecord.walk-extra", {}).get("allow_empty"))


def _store_allow_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    ctx.meta.setdefault("procrecord.walk-extra", {})["allow_empty"] = value
    return value


#: ``--max-bytes``, for the commands that read records.
max_bytes_option = click.option("--max-bytes", type=click.IntRange(1), default=DEFAULT_MAX_BYTES, show_default=True,
                                help="Largest JSON file or JSONL line accepted.")


def _store_storage_options(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from procrecord.bulk.storage import parse_option, set_options  # light: fsspec is imported only for a URL

    try:
        set_options(dict(parse_option(text) for text in value))  # every run sets its own, none left over
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    return value


def _store_executor(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    from procrecord.bulk.executors import parse, prestart

    try:
        ctx.meta["procrecord.executor"] = executor = parse(value) if value else None
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx=ctx, param=param) from exc
    prestart(executor)  # a LocalCluster's workers start preloading now, while the command prepares
    return value


def executor_from_context():  # -> procrecord.bulk.executors.Executor | None
    """The parsed --executor of this command (None: the local pool of --jobs)."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get("procrecord.executor") if ctx is not None else None


#: ``--storage-option``, for every command that reads or writes URLs.
storage_option = click.option("--storage-option", multiple=True, metavar="KEY=VALUE", expose_value=False,
                              callback=_store_storage_options,
                              help="fsspec option for URL inputs and outputs (repeatable; VALUE is JSON "
                                   "when it parses as JSON, else a string).")


def source_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options every bulk command shares: sources, --jobs, --max-bytes, --storage-option."""
    func = click.argument("sources", nargs=-1, required=True, metavar="PATH...")(func)
    func = storage_option(func)
    func = click.option("--executor", default=None, metavar="local[:N]|dask[:ADDRESS]", expose_value=False,
                        callback=_store_executor,
                        help="Where tasks run: local[:N] processes (default; as --jobs), or dask (a LocalCluster), "
                             "dask:tcp://HOST:PORT (a running scheduler), dask:jobqueue.slurm (dask-jobqueue, "
                             "from Dask's configuration).")(func)
    func = click.option("--jobs", "-j", type=click.IntRange(1, 256), default=1, show_default=True,
                        help="Worker processes.")(func)
    # Folder-walk options reach the runner through the click context (see walk_from_context), so
    # every command gets them without a parameter of its own.
    func = click.option("--allow-empty", is_flag=True, expose_value=False, callback=_store_allow_empty,
                        help="Finding no record at all is not a finding (exit 0, not 1).")(func)
    func = click.option("--exclude", multiple=True, metavar="GLOB", expose_value=False,
                        callback=_walk_callback("exclude"),
                        help="Skip files and folders whose name or path below the source matches (repeatable).")(func)
    func = click.option("--include", multiple=True, metavar="GLOB", expose_value=False,
                        callback=_walk_callback("include"),
                        help="In folders, read only files whose name or path below the source matches (repeatable).")(func)
    func = click.option("--follow-symlinks", is_flag=True, expose_value=False,
                        callback=_walk_callback("follow_symlinks"),
                        help="Enter folder symlinks and read (or rewrite) the targets of file symlinks; "
                             "without it they are reported and left as they are.")(func)
    func = click.option("--hidden", is_flag=True, expose_value=False, callback=_walk_callback("hidden"),
                        help="Also read hidden files and folders (names starting with a dot) below a source.")(func)
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
