"""The bulk runner: applies one per-record operation to every document of many sources.

Sources are planned into tasks (whole files, byte ranges of big JSONL files, batches of stdin);
with ``jobs > 1`` worker processes read and process tasks themselves, so records never cross a
pipe, and outcomes come back in input order (a task's joined outputs through a temporary file). A document that fails to load, or an operation that
raises on one record, becomes an ``error`` outcome: the run always goes on with the next input.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import signal
import sys
import tempfile
from typing import Any, Callable, Iterator, NamedTuple, Protocol

from procrecord.bulk.loader import (
    DEFAULT_MAX_BYTES,
    FileTask,
    InlineTask,
    Item,
    LineTracker,
    Loaded,
    LoadError,
    Note,
    Span,
    Task,
    Walk,
    iter_task,
    plan,
    shift,
    where,
)
from procrecord.bulk.status import Status, severity
from procrecord.errors import SchemaError
from procrecord.record.validation import Violation

ERROR = Status.ERROR
SKIPPED = Status.SKIPPED


class Outcome(NamedTuple):
    """What an operation made of one document (a tuple: cheap to build and to send between processes)."""

    source: str
    line: int | None
    status: str
    version: str | None = None
    violations: tuple[Violation, ...] = ()
    message: str | None = None
    output: bytes | None = None
    jsonl: bool = False
    info: dict[str, Any] | None = None
    #: How many records this outcome stands for: clean outcomes of consecutive lines are merged
    #: into one (lines ``line .. line + records - 1``) so bulk runs do not pay per valid record.
    records: int = 1

    def where(self) -> str:
        """``path[:line]`` as reported to users."""
        return where(self.source, self.line)

    @property
    def ok(self) -> bool:
        """False for records with findings and for documents that could not be processed."""
        return severity(self.status) == 0


class Block(NamedTuple):
    """The outputs of one task's records, joined: written as one piece, never sent record by record."""

    source: str
    data: bytes
    #: True when a record in it differs from its input (False: the file can be left as it is).
    changed: bool
    #: Numeric ``info`` of the task's outcomes, summed (removed, scrubbed, dropped, ...).
    totals: dict[str, int]
    #: Where a worker left ``data`` (a temporary file); read back before the block is yielded.
    spill: str | None = None
    #: :func:`procrecord.atomic.identity` of the source file as it was before it was read (None for
    #: stdin): an in-place rewrite replaces the file only if it is still this one.
    identity: tuple[int, int, int, int] | None = None
    #: The source file's permission bits as planned (None: not known), which an output file takes.
    mode: int | None = None
    #: True when ``data`` is not the records' output but the source's bytes as they were read (and
    #: checked): an object read whole whose records need no change. ``-o`` copies these very bytes,
    #: never a second read of the object, which someone may have changed meanwhile.
    verbatim: bool = False


class Operation(Protocol):
    """A picklable callable turning one loaded record into an :class:`Outcome`.

    An operation that writes records back sets ``exact_integers = True``: its inputs are then read
    with integers beyond 64 bits kept exact (see :mod:`procrecord.bulk.jsoncodec`), at some cost. One
    that reads documents itself sets ``raw_documents = True`` and gets each one unparsed
    (:attr:`~procrecord.bulk.loader.Loaded.raw`; see :mod:`procrecord.bulk.embedded`).
    """

    def __call__(self, item: Loaded) -> Outcome: ...


def apply(operation: Operation, item: Item) -> Outcome:
    """Run ``operation`` on one item; load errors and unexpected failures become error outcomes."""
    if isinstance(item, LoadError):
        return Outcome(item.source, item.line, ERROR, message=item.message)
    if isinstance(item, Note):
        return Outcome(item.source, item.line, SKIPPED, message=item.message)
    try:
        return operation(item)
    except SchemaError:
        raise  # the tool itself is broken: stop the run (exit 3), do not blame the record
    except RecursionError:
        return Outcome(item.source, item.line, ERROR, message="record is nested too deeply to process", jsonl=item.jsonl)
    except Exception as exc:  # noqa: BLE001 - one bad record must never stop a bulk run
        return Outcome(item.source, item.line, ERROR, message=f"{type(exc).__name__}: {exc}", jsonl=item.jsonl)


def _run_task(payload: tuple[Operation, Task]) -> tuple[list[Outcome | Block], int]:
    operation, task = payload
    span = Span()
    exact = getattr(operation, "exact_integers", False)
    raw = getattr(operation, "raw_documents", False)
    unique = getattr(operation, "unique_keys", False)
    identity, mode, later = getattr(task, "identity", None), getattr(task, "mode", None), _later_part(task)
    read: tuple[bytes, ...] | None = None
    fetch = getattr(task, "fetch", None)
    if fetch is not None:  # an object in storage: read here, and its bytes kept (see Block.verbatim)
        task = fetch()
        if isinstance(task, InlineTask):
            read = task.payloads
    outcomes = [apply(operation, item) for item in iter_task(task, span, exact, raw, unique)]
    if not outcomes and span.lines and later is not None:
        # blank lines only, in the middle or at the end of a file: written back, so lines keep their numbers
        return [Block(later, b"\n" * span.lines, False, {})], span.lines
    first = task.first_line if isinstance(task, InlineTask) else 1  # the line numbers the task's outcomes start at
    items = pack(outcomes, (first, first + span.lines - 1), identity, mode)
    if read is not None:  # a whole object: an unchanged one is copied as these bytes, not read again
        items = [item._replace(data=b"".join(read), verbatim=True)
                 if item.__class__ is Block and not item.changed else item for item in items]
    return items, span.lines


def _later_part(task: Task) -> str | None:
    """The source of a JSONL task that reads one part of a file cut into several (of stdin, a batch
    after the first, which holds its first record), else None: a file of blank lines only has no output."""
    if isinstance(task, InlineTask):
        return task.source if task.jsonl and task.first_line > 1 else None
    source = getattr(task, "path", None) or getattr(task, "url", None)
    if source is None or not getattr(task, "jsonl", False) or not (getattr(task, "start", 0) or getattr(task, "end", None)):
        return None
    return str(source)


#: Blocks at least this big go from a worker to the parent through a file, not the pool's pipe
#: (which moves large messages at a few tens of MB/s: slower than redacting them).
SPILL_BYTES = 256 * 1024


def _run_task_spilling(payload: tuple[Operation, Task, str]) -> tuple[list[Outcome | Block], int]:
    """:func:`_run_task` in a worker: a large block's data is written to a file in ``spill_dir``
    and the block carries the file's path instead (see :func:`_unspill`)."""
    operation, task, spill_dir = payload
    items, lines = _run_task((operation, task))
    for index, item in enumerate(items):
        if isinstance(item, Block) and len(item.data) >= SPILL_BYTES:
            handle, path = tempfile.mkstemp(dir=spill_dir, suffix=".block")
            with os.fdopen(handle, "wb") as out:
                out.write(item.data)
            items[index] = item._replace(data=b"", spill=path)
    return items, lines


def _run_tasks_spilling(payload: tuple[Operation, list[Task], str]
                        ) -> tuple[list[tuple[list[Outcome | Block], int]], Exception | None]:
    """:func:`_run_task_spilling` for each task of a group, in order (one message each way per group).

    A task that raises ends the group: the results of the tasks before it come back with the error, so the
    run stops where one process would have stopped (their files written, their sources done)."""
    operation, tasks, spill_dir = payload
    done: list[tuple[list[Outcome | Block], int]] = []
    for task in tasks:
        try:
            done.append(_run_task_spilling((operation, task, spill_dir)))
        except Exception as exc:  # noqa: BLE001 - raised again in the parent, after the tasks before it
            return done, exc
    return done, None


#: A pool worker gets consecutive tasks in groups of up to this many files or planned bytes (one
#: large file alone), smaller ones at the end of a run: a message each way per small file cost more
#: than the file's own work (``--jobs 2`` over 5,000 small files was slower than ``--jobs 1``).
POOL_GROUP_FILES = 64
POOL_GROUP_BYTES = 1 << 20


def _unspill(item: Outcome | Block) -> Outcome | Block:
    if isinstance(item, Block) and item.spill is not None:
        with open(item.spill, "rb") as handle:
            data = handle.read()
        os.unlink(item.spill)
        return item._replace(data=data, spill=None)
    return item


def pack(outcomes: list[Outcome], lines: tuple[int, int] | None = None,
         identity: tuple[int, int, int, int] | None = None, mode: int | None = None) -> list[Outcome | Block]:
    """Move the outputs of a task's outcomes into one :class:`Block`, then merge the clean outcomes.

    A task is a whole file or a byte range of one, so its outputs are consecutive in the output:
    joining them here costs one copy, and the parent process writes one piece per task.
    ``lines``: the first and last line of a JSONL task; its blank lines are kept in the output (as
    empty lines), so a rewritten file keeps its line numbers. ``identity`` and ``mode``: the block's
    (see :class:`Block`), from the task.
    """
    if len(outcomes) == 1 and (lines is None or outcomes[0].line is None or lines[0] == lines[1]):
        # a file of one record (the common case of many small files): no merging, and the outcome without
        # its output made at C speed (NamedTuple._replace is Python code; this runs per file)
        only = outcomes[0]
        if only.output is None:
            return [only]
        info = only.info or {}
        counts = {name: value for name, value in info.items() if value.__class__ is int}
        return [Outcome(only.source, only.line, only.status, only.version, only.violations, only.message, None,
                        only.jsonl, None, only.records),
                Block(only.source, only.output, bool(info.get("changed", 1)), counts, None, identity, mode)]
    if not any(o.output is not None for o in outcomes):
        return list(compress(iter(outcomes)))
    totals: dict[str, int] = {}
    changed = False
    for outcome in outcomes:
        for name, value in (outcome.info or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                totals[name] = totals.get(name, 0) + value
        if outcome.output is not None and (outcome.info or {}).get("changed", 1):
            changed = True
    data = b"".join(_with_blank_lines(outcomes, lines))
    stripped = [o._replace(output=None, info=None) for o in outcomes]
    return [*compress(iter(stripped)), Block(outcomes[0].source, data, changed, totals, None, identity, mode)]


def _with_blank_lines(outcomes: list[Outcome], lines: tuple[int, int] | None) -> Iterator[bytes]:
    """The outputs of ``outcomes``, with an empty line for each blank line of the JSONL task around them."""
    after = None if lines is None else lines[0]  # the line after the last document
    for outcome in outcomes:
        if after is not None and outcome.line is not None:  # a line of JSONL (load errors too)
            if outcome.line > after and outcome.output is not None:
                yield b"\n" * (outcome.line - after)
            after = outcome.line + outcome.records  # a failed document is no blank line: it has no output
        if outcome.output is not None:
            yield outcome.output
    if after is not None and lines is not None and lines[1] >= after and any(o.line is not None for o in outcomes):
        yield b"\n" * (lines[1] - after + 1)


def _plain(outcome: Outcome) -> bool:
    return (outcome.ok and outcome.line is not None and outcome.output is None and not outcome.violations
            and outcome.message is None and outcome.info is None)


def compress(outcomes: Iterator[Outcome]) -> list[Outcome]:
    """Merge clean outcomes of consecutive JSONL lines (same source, status, version) into one."""
    merged: list[Outcome] = []
    first: Outcome | None = None  # the clean outcome merged[-1] that a run of lines started with
    records = after = 0  # the lines of that run so far; the line that would continue it
    for outcome in outcomes:
        # Per valid record only attribute checks: a status equal to first's is clean too.
        if (first is not None and outcome.line == after and outcome.status == first.status
                and outcome.source == first.source and outcome.version == first.version and outcome.output is None
                and not outcome.violations and outcome.message is None and outcome.info is None):
            records += outcome.records
            after += outcome.records
            continue
        if first is not None and records != first.records:
            merged[-1] = first._replace(records=records)
        merged.append(outcome)
        first = outcome if _plain(outcome) else None
        records, after = outcome.records, (outcome.line or 0) + outcome.records
    if first is not None and records != first.records:
        merged[-1] = first._replace(records=records)
    return merged


def expand(outcome: Outcome) -> Iterator[Outcome]:
    """The single-record outcomes a merged outcome stands for."""
    if outcome.records == 1:
        yield outcome
        return
    single = outcome._replace(records=1)
    assert outcome.line is not None  # only outcomes of JSONL lines are merged (see _plain)
    for offset in range(outcome.records):
        yield single._replace(line=outcome.line + offset)


def tune_gc() -> Callable[[], None]:
    """Make garbage collection cheap for a bulk run; return what puts the settings back.

    Parsed JSON is acyclic and freed by reference counting, but each record allocates hundreds of
    containers, which would trigger full collections over every long-lived object again and again.
    Freezing what exists now and collecting the young generation less often cuts that cost.
    """
    import gc

    threshold = gc.get_threshold()
    froze = gc.get_freeze_count() == 0  # a caller's own frozen objects are left frozen
    if froze:
        gc.freeze()
    gc.set_threshold(20_000, 50, 100)

    def restore() -> None:
        gc.set_threshold(*threshold)
        if froze:
            gc.unfreeze()

    return restore


def _worker_init() -> None:
    """Set up a pool worker: an interrupt is the command's to handle, never the worker's."""
    tune_gc()  # a worker process is ours: its settings need no restoring
    # Ctrl-C reaches the whole process group. A worker that died of it could hold the pool's queue
    # lock or leave half a result in its pipe, and the pool's shutdown would then wait for ever; the
    # command handles the interrupt and ends its workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _spill_dir() -> str:
    """A folder for worker blocks in the temp dir, named after this run (see
    :func:`procrecord.atomic.remove_stale`); those of killed runs are removed first."""
    from procrecord.atomic import TAG, creator, remove_stale

    root = tempfile.gettempdir()
    remove_stale(root, folders=True)
    return tempfile.mkdtemp(prefix=f"{TAG}-blocks.{TAG}-{creator()}-", suffix="", dir=root)


def start_method() -> str:
    """The explicit start method for worker processes: forkserver where available, else spawn."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def run(
    sources: list[str],
    operation: Operation,
    jobs: int = 1,
    max_bytes: int = DEFAULT_MAX_BYTES,
    progress: Callable[[int], None] | None = None,
    source_done: Callable[[str], None] | None = None,
    skip: tuple[str, ...] = (),
    walk: Walk | None = None,
) -> Iterator[Outcome | Block]:
    """Yield the outcomes of every document of ``sources`` in input order, and a :class:`Block` of
    outputs after the outcomes of each task that produced output.

    Clean outcomes of consecutive lines come merged (``records``); their outputs are in the blocks.

    ``source_done(path)`` is called once the last outcome of a file has been yielded, so writers
    can finish that file before the next one is read. ``skip``: folders not to read; ``walk``: how
    folders are walked (both: see :func:`~procrecord.bulk.loader.plan`). The garbage collector is tuned
    for the run and put back as it was when the iterator ends.
    """
    tasks = plan(sources, max_bytes, skip=skip, walk=walk, read_ahead=jobs <= 1)
    tracker = LineTracker()
    restore = tune_gc()
    try:
        if jobs <= 1:
            results: Iterator[tuple[Task, tuple[list[Outcome | Block], int]]] = (
                (task, _run_task((operation, task))) for task in tasks
            )
            yield from _ordered(results, tracker, progress, source_done)
            return
        yield from _run_pool(tasks, operation, jobs, tracker, progress, source_done)
    finally:
        restore()


def _run_pool(tasks: Iterator[Task], operation: Operation, jobs: int, tracker: LineTracker,
              progress: Callable[[int], None] | None,
              source_done: Callable[[str], None] | None) -> Iterator[Outcome | Block]:
    ctx = multiprocessing.get_context(start_method())
    spill_dir = _spill_dir()
    try:
        from procrecord.bulk.executors import batches

        with ctx.Pool(jobs, initializer=_worker_init) as pool:
            pending: list[list[Task]] = []

            def feed() -> Iterator[tuple[Operation, list[Task], str]]:
                for group in batches(tasks, POOL_GROUP_FILES, POOL_GROUP_BYTES, slots=lambda: jobs):
                    pending.append(group)
                    yield operation, group, spill_dir

            def results() -> Iterator[tuple[Task, tuple[list[Outcome | Block], int]]]:
                for done, error in pool.imap(_run_tasks_spilling, feed(), chunksize=1):
                    for task, (items, lines) in zip(pending.pop(0), done):
                        yield task, ([_unspill(item) for item in items], lines)
                    if error is not None:
                        raise error

            yield from _ordered(results(), tracker, progress, source_done)
    finally:
        shutil.rmtree(spill_dir, ignore_errors=True)  # blocks of tasks not consumed (an interrupted run)


def _ordered(
    results: Iterator[tuple[Task, tuple[list[Outcome | Block], int]]],
    tracker: LineTracker,
    progress: Callable[[int], None] | None,
    source_done: Callable[[str], None] | None = None,
) -> Iterator[Outcome | Block]:
    for task, (items, lines) in results:
        base = tracker.base_for(task)
        for item in items:
            yield shift(item, base) if base and isinstance(item, Outcome) else item
        tracker.advance(task, lines)
        if progress is not None:
            progress(sum(o.records for o in items if isinstance(o, Outcome)))
        if source_done is not None and isinstance(task, FileTask) and task.end is None:
            source_done(task.path)


class Progress:
    """A one-line progress counter on stderr, shown only on a terminal once a run takes a while."""

    def __init__(self, label: str, stream: Any = None, delay_s: float = 1.0) -> None:
        import time

        self._clock = time.monotonic
        self._stream = stream if stream is not None else sys.stderr
        self._enabled = bool(getattr(self._stream, "isatty", lambda: False)())
        self._label = label
        self._count = 0
        self._start = self._clock()
        self._next = self._start + delay_s
        self._shown = False

    def __call__(self, count: int) -> None:
        self._count += count
        if not self._enabled:
            return
        now = self._clock()
        if now >= self._next:
            rate = self._count / max(now - self._start, 1e-9)
            self._stream.write(f"\r{self._label}: {self._count} records ({rate:,.0f}/s)")
            self._stream.flush()
            self._shown = True
            self._next = now + 0.2

    def close(self) -> None:
        """Clear the progress line."""
        if self._shown:
            self._stream.write("\r\033[K")
            self._stream.flush()
