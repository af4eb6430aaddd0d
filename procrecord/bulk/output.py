"""Where transformed records go: stdout, a mirrored output folder, or back in place (atomically).

Outcomes arrive in input order, so the records of one file are consecutive. A file is written only
when every one of its records was transformed; otherwise the original stays untouched and the
run reports why. Each output file is written through :mod:`procrecord.atomic`.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import os
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from procrecord.atomic import TAG, AtomicFile, Batch, ReplacedError, remove_stale
from procrecord.bulk.engine import SKIPPED, Block, Outcome
from procrecord.bulk.jsoncodec import dumps as _encode
from procrecord.errors import ProcrecordError

if TYPE_CHECKING:  # the committer is started on first use
    from concurrent.futures import Executor, Future


def source_roots(sources: list[str]) -> list[str]:
    """The folder each source argument's files are made relative to in ``--output-dir``."""
    roots = []
    for source in sources:
        if source == "-":
            continue
        if os.path.isdir(source):
            roots.append(os.path.abspath(source))
        elif glob.has_magic(source) and not os.path.lexists(source):
            static = []
            for part in Path(source).parts:
                if glob.has_magic(part):
                    break
                static.append(part)
            roots.append(os.path.abspath(os.path.join(*static)) if static else os.getcwd())
        else:
            roots.append(os.path.abspath(os.path.dirname(source) or "."))
    return roots


class OrderedFeed:
    """What every sink does with outcomes arriving in input order: follow the source they belong to
    (``_switch`` when it changes), note a failed record (it spoils its file), the identity of the file
    a block was read from (checked before an in-place replace), and hand each output to ``_take``."""

    _source: str | None
    _failed: bool
    _jsonl: bool
    _expect: Any
    _source_mode: int | None = None

    def add(self, item: Outcome | Block) -> None:
        """Take an outcome (a record that failed spoils its file) or a block of outputs to write."""
        if isinstance(item, Outcome) and item.status == SKIPPED:
            return  # a symlink the walk left alone: nothing to write
        if item.source != self._source:
            self._switch(item.source)
        if isinstance(item, Outcome):
            self._jsonl = item.jsonl
            if not item.ok:
                self._failed = True
            elif item.output is not None:  # an outcome not packed into a block
                self._take(item.output, bool((item.info or {}).get("changed", 1)))
            return
        if self._expect is None:
            self._expect = item.identity
        if item.mode is not None:
            self._source_mode = item.mode
        self._take(item.data, item.changed, item.verbatim)

    def _switch(self, source: str) -> None:
        raise NotImplementedError

    def _take(self, data: bytes, changed: bool, verbatim: bool = False) -> None:
        raise NotImplementedError


class Sink(OrderedFeed):
    """Receives outcomes in order and writes their outputs to one destination.

    Output files are committed in batches (see :class:`~procrecord.atomic.Batch`): their data is
    on disk before any of them replaces its target, and every file reported written is on disk
    when :meth:`close` returns. A file that cannot be written or replaced is a finding
    (:attr:`failures`) and the run goes on; an in-place file that another process changed since it
    was read is never replaced.
    """

    #: Files and bytes committed together (one data sync, one folder sync per folder).
    BATCH_FILES = 256
    BATCH_BYTES = 4 * 1024 * 1024
    #: Output of one file kept in memory before its temp file is opened: a file whose records are
    #: all unchanged is never opened at all (in place, nothing is written).
    BUFFER_BYTES = 4 * 1024 * 1024
    #: Threads creating and renaming the temp files of a batch, overlapping the file system's time
    #: per new file. None by default: on a local disk each file's hand-offs between threads cost more
    #: than they overlap (benchmarks/README.md, "Writing many small files", fourth pass).
    WRITERS = 0
    #: With no writer threads, a full batch is committed (its temp files created and written, one
    #: data sync, the renames, the folder syncs) by one background thread while the main thread
    #: makes the next batch: the file system's work and waits overlap the records' processing, at
    #: one hand-off per batch. False: each batch is committed in the main thread.
    BACKGROUND = True
    #: On Linux, the background committer is a forked child process rather than a thread, when the
    #: run has no other thread at that moment (a fork is safe then): a thread needs the interpreter
    #: lock back after each of its system calls, which a main thread busy with records holds, and
    #: the file system's work stops overlapping it (benchmarks/README.md, "Writing many small
    #: files", seventh session). False: always a thread.
    PROCESS = True

    def __init__(self, sources: list[str], output_dir: str | None = None, in_place: bool = False,
                 stdout: IO[bytes] | None = None, follow_symlinks: bool = False) -> None:
        if output_dir and in_place:
            raise ProcrecordError("choose either --output-dir or --in-place")
        self.output_dir = os.path.abspath(output_dir) if output_dir else None
        self.in_place = in_place
        self.follow_symlinks = follow_symlinks
        self.roots = sorted(source_roots(sources), key=len, reverse=True)
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        #: Sources that got no output because one of their documents failed (missing ones aside).
        self.skipped: list[str] = []
        #: (source, output, other source) for a source whose output is another source's (two inputs
        #: of one name in different folders given as files): not written.
        self.conflicts: list[tuple[str, str, str]] = []
        #: (source, message) for an output that could not be written or replaced: findings.
        self.failures: list[tuple[str, str]] = []
        self._owners: dict[str, str] = {}
        self._mapped: dict[str, str] = {}
        self._conflict = False
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self._source: str | None = None
        self._target: str | None = None
        self._file: AtomicFile | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._expect: tuple[int, int, int, int] | None = None
        self._failed = False
        self._changed = False
        self._jsonl = False
        self._background = self.BACKGROUND and self.WRITERS <= 0
        self._batch = Batch(self.WRITERS, defer=self._background)
        self._batch_bytes = 0
        #: Batches handed to the background thread, oldest first, with the keys of their files.
        self._inflight: list[tuple[list[Any], Future[list[tuple[Any, OSError | None]]]]] = []
        self._committer: Executor | None = None
        #: Output folders made safe to write into (see _prepare_folder), with the names in each
        #: when it was first used: a name not there needs no look-up of an old file to replace.
        self._folders: dict[str, frozenset[str] | None] = {}
        if self.output_dir:
            try:
                os.makedirs(self.output_dir, exist_ok=True)
            except OSError as exc:
                raise ProcrecordError(f"cannot create output folder {output_dir}: {exc.strerror}") from exc

    def destination(self, source: str) -> str | None:
        """Output path for ``source`` (None means stdout)."""
        if self.in_place:
            if source == "-":
                return None
            return os.path.realpath(source) if self.follow_symlinks and os.path.islink(source) else source
        if self.output_dir and source == "-":
            return os.path.join(self.output_dir, "stdin.jsonl" if self._jsonl else "stdin.json")
        if self.output_dir:
            # One output folder per source folder, worked out once (a folder holds many files).
            folder, name = os.path.split(source)
            mapped = self._mapped.get(folder)
            if mapped is None:
                mapped = self._mapped[folder] = self._output_folder(folder)
            return os.path.join(mapped, name) if mapped else os.path.join(self.output_dir, name)
        return None

    def _output_folder(self, folder: str) -> str:
        """Where the files of the source folder ``folder`` go ("": the output folder itself, by name)."""
        assert self.output_dir is not None
        absolute = os.path.abspath(folder) + os.sep
        for root in self.roots:
            prefix = root.rstrip(os.sep) + os.sep
            if absolute.startswith(prefix):  # both absolute and normalised: the rest is the relative path
                return os.path.join(self.output_dir, absolute[len(prefix):])
        return ""

    def _switch(self, source: str) -> None:
        self._finish_file()
        self._start_file(source)

    def _take(self, data: bytes, changed: bool, verbatim: bool = False) -> None:
        self._changed = self._changed or changed
        if self._target is None:
            self.stdout.write(data)
        elif not self._failed:
            self._pending.append(data)
            self._pending_size += len(data)
            if self._pending_size >= self.BUFFER_BYTES:
                self._spill()

    def _spill(self) -> None:
        """Move the buffered output into the temp file (opened now if need be)."""
        if self._file is None and not self._open():
            return
        assert self._file is not None
        try:
            for piece in self._pending:
                self._file.write(piece)
        except OSError as exc:
            self._fail(exc)
        self._pending, self._pending_size = [], 0

    def done(self, source: str) -> None:
        """The last record of ``source`` has been added: finish its file now."""
        if source == self._source:
            self._finish_file()
            self._source = None

    def _start_file(self, source: str) -> None:
        self._source = source
        self._failed = self._changed = self._conflict = False
        self._pending, self._pending_size, self._expect = [], 0, None
        self._source_mode = None
        self._target = self.destination(source)
        if self._target is not None and self.output_dir:
            owner = self._owners.setdefault(self._target, source)
            if owner != source:
                self.conflicts.append((source, self._target, owner))
                self._failed = self._conflict = True
        elif self._target is not None and self.in_place and os.path.islink(self._target):
            # Replacing a link would turn it into a regular file and leave its target as it was.
            self.failures.append((source, "a symlink: left as it is (--follow-symlinks rewrites its target)"))
            self._failed = self._conflict = True

    def _fail(self, exc: OSError) -> None:
        source = self._source
        assert source is not None
        self.failures.append((source, _describe(exc)))
        self._failed = self._conflict = True
        if self._file is not None:
            self._file.discard()
            self._file = None
        self._pending, self._pending_size = [], 0

    def _open(self) -> bool:
        """Start the temporary file of the current source's output; False (and a finding) when it
        cannot be created."""
        source = self._source
        assert self._target is not None and source is not None
        # Standard input's output is named once its first record says whether it came as JSONL.
        target = self._target = self.destination(source) if source == "-" else self._target
        assert target is not None
        mode = None
        if not self.in_place:
            mode = self._source_mode
            if mode is None and source != "-":
                with contextlib.suppress(OSError):
                    mode = os.stat(source).st_mode & 0o7777
        try:
            fresh = self._fresh(target)
            self._file = AtomicFile(target, mode, self._expect if self.in_place else None, fresh=fresh)
        except OSError as exc:
            self._fail(exc)
            return False
        return True

    def _queue(self) -> None:
        """Hand the buffered output of the current source to the batch, which writes its temp file
        in a worker thread (a file small enough never to have spilled)."""
        source = self._source
        assert self._target is not None and source is not None
        target = self._target = self.destination(source) if source == "-" else self._target
        assert target is not None
        try:
            fresh = self._fresh(target)
        except OSError as exc:
            self._fail(exc)
            return
        if self.in_place:
            self._batch.write(target, self._pending, (source, self._changed), None, self._expect)
        else:  # the source's permission bits, as planned (looked up here only if the plan had none)
            mode, mode_of = self._source_mode, None
            if mode is None and source != "-":
                mode_of = source
            self._batch.write(target, self._pending, (source, self._changed), mode, None, mode_of, fresh)
        self._batch_bytes += self._pending_size
        self._pending, self._pending_size = [], 0

    def _fresh(self, target: str) -> bool:
        """Prepare the folder of ``target``; True when no file of that name was in it when the
        folder was first used (then nothing there needs its mode or owner kept)."""
        folder, name = os.path.split(target)
        folder = folder or "."
        if folder not in self._folders:
            self._folders[folder] = self._prepare_folder(folder)
        names = self._folders[folder]
        return names is not None and name not in names

    def _prepare_folder(self, folder: str) -> frozenset[str] | None:
        """Make an output folder (never through a symlink), clear the temp files killed runs left
        there, and return the names in it (None: it cannot be listed)."""
        if self.output_dir:
            _no_symlink_between(self.output_dir, folder)
            os.makedirs(folder, exist_ok=True)
        try:
            with os.scandir(folder) as listing:
                names = frozenset(entry.name for entry in listing)
        except OSError:
            return None
        if any(TAG in name for name in names):
            remove_stale(folder)
        return names

    def _finish_file(self) -> None:
        try:
            self._finish()
        finally:
            self._target = None

    def _finish(self) -> None:
        source, target = self._source, self._target
        if source is None or target is None:
            return
        if self._failed:
            if self._file is not None:
                self._file.discard()
            self._file = None
            if os.path.lexists(source) and not self._conflict:  # a missing source has its error line already
                self.skipped.append(source)
            return
        if not self._changed:
            # Nothing to change: leave the original alone, or copy its exact bytes (standard input
            # cannot be read again: its records are written as they came).
            self.unchanged.append(source)
            if source != "-":
                if self._file is not None:
                    self._file.discard()
                    self._file = None
                self._pending, self._pending_size = [], 0
                if self.in_place:
                    return
                try:
                    data = read_as_checked(source, self._expect)
                except OSError as exc:
                    self._fail(exc)
                    return
                self._pending, self._pending_size = [data], len(data)
        if self._file is None:
            self._queue()
        else:  # a big file, already being written: finish it here
            self._spill()
            if self._file is None:  # could not be written: a finding already
                return
            file, self._file = self._file, None
            try:
                self._batch.add(file, (source, self._changed))
            except OSError as exc:
                self.failures.append((source, _describe(exc)))
                return
        if len(self._batch) >= self.BATCH_FILES or self._batch_bytes >= self.BATCH_BYTES:
            self._commit()

    def _commit(self, wait: bool = False) -> None:
        """Commit the batch: written files join :attr:`written`, refused ones :attr:`failures`.

        In the background (:attr:`BACKGROUND`) the batch goes to the committer (see :attr:`PROCESS`), and the
        results of the one before it are taken (waiting for it if need be: at most one batch is
        being committed while the next is made). ``wait``: the last batch, committed in this thread
        (a run of one batch starts no committer), then every result is taken.
        """
        self._batch_bytes = 0
        if not self._background:
            keys = [key for key, _ in self._batch.files]
            try:
                results = self._batch.commit()
            except OSError as exc:  # the data could not be synced: nothing was replaced
                self._refused(keys, exc)
                return
            self._settle(results)
            return
        from concurrent.futures import BrokenExecutor

        last: list[tuple[Any, OSError | None]] | OSError | None = None
        if len(self._batch):
            batch, self._batch = self._batch, Batch(0, defer=True)
            keys = [key for key, _ in batch.files]
            if wait:  # the last batch: committed here while the committer finishes the one before
                try:
                    last = batch.commit()
                except OSError as exc:
                    last = exc
            else:
                if self._committer is None:
                    self._committer = _committer(self.PROCESS)
                try:
                    self._inflight.append((keys, self._committer.submit(batch.commit)))
                except BrokenExecutor:  # the committing process died with an earlier batch: a thread goes on
                    self._committer.shutdown(wait=False)
                    self._committer = _committer(False)
                    self._inflight.append((keys, self._committer.submit(batch.commit)))
        while len(self._inflight) > (0 if wait else 1):
            pending, future = self._inflight[0]  # taken off only once its results are in (an interrupt may come)
            try:
                results = future.result()
            except OSError as exc:
                self._inflight.pop(0)
                self._refused(pending, exc)
                continue
            except BrokenExecutor:
                # Killed while committing: whether each file of the batch was replaced is unknown
                # (a replaced one is complete: its data was synced before any rename).
                self._inflight.pop(0)
                self._refused(pending, OSError(errno.EIO, "not known to be written: the committing process died"))
                continue
            self._inflight.pop(0)
            self._settle(results)
        if isinstance(last, OSError):  # the data could not be synced: nothing was replaced
            self._refused(keys, last)
        elif last is not None:
            self._settle(last)

    def _refused(self, keys: list[Any], exc: OSError) -> None:
        """A batch whose data could not be synced: nothing of it was replaced."""
        self.failures.extend((source, _describe(exc)) for source, _ in keys)

    def _settle(self, results: list[tuple[Any, OSError | None]]) -> None:
        for (source, changed), error in results:
            if error is None:
                if changed:
                    self.written.append(source)
            else:
                self.failures.append((source, _describe(error)))

    def _stop(self) -> None:
        """Drop what was not committed and stop the committing thread (after its last batch)."""
        try:
            self._batch.close()
        finally:
            if self._committer is not None:
                self._committer.shutdown(wait=True)
                self._committer = None

    def close(self) -> None:
        """Finish the last file and commit what is still pending (every batch, when this returns)."""
        try:
            self._finish_file()
            self._commit(wait=True)
        finally:
            self._stop()
        self.stdout.flush()

    def abort(self) -> None:
        """Stop an interrupted run: the file being written is discarded (its original stays
        untouched); files already finished are committed, as they would have been."""
        if self._file is not None:
            file, self._file = self._file, None
            file.discard()
        self._target = None
        try:
            self._commit(wait=True)
        finally:
            self._stop()


def _committer(process: bool) -> Executor:
    """The background committer: a forked process where that is safe and ``process`` asks for one,
    else a thread."""
    from procrecord.bulk.forking import forkable, tie_to_parent

    if process and forkable():
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # (multiprocessing flushes stdout and stderr before the fork: nothing buffered is written twice)
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"), initializer=tie_to_parent,
                                   initargs=(os.getpid(),))
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1, thread_name_prefix="procrecord-commit")


def _no_symlink_between(top: str, folder: str) -> None:
    """Raise ``OSError`` if a folder between ``top`` (excluded) and ``folder`` is a symlink:
    outputs never go through one, even one that already exists in the output folder."""
    relative = os.path.relpath(os.path.abspath(folder), top)
    if relative == os.curdir:
        return
    current = top
    for part in Path(relative).parts:
        current = os.path.join(current, part)
        if os.path.islink(current):
            raise OSError(errno.ELOOP, "a symlink in the output folder: outputs never go through one", current)


class ChangedSinceRead(OSError):
    """An unchanged source, to be copied byte for byte, is no longer the file (or object) that was read."""


#: The finding of an unchanged source changed since it was read (its copy would not be what was checked).
COPY_CHANGED = "not copied: it changed since it was read (its new content was not checked)"


def read_as_checked(path: str, expect: Any) -> bytes:
    """The bytes of the local file ``path``, to be copied as the output of its unchanged records:
    raises :class:`ChangedSinceRead` unless the file is still the one planned and read (``expect``:
    its :func:`procrecord.atomic.identity` then, None: not known), before and after this read, so
    the copy is what was checked (a write changes the modification time, and most often the size)."""
    from procrecord.atomic import identity

    with open(path, "rb") as handle:
        if expect is not None and identity(os.fstat(handle.fileno())) != tuple(expect):
            raise ChangedSinceRead(errno.ESTALE, COPY_CHANGED, path)
        data = handle.read()
        if expect is not None and identity(os.fstat(handle.fileno())) != tuple(expect):
            raise ChangedSinceRead(errno.ESTALE, COPY_CHANGED, path)
    return data


def _describe(exc: OSError) -> str:
    """One line for an output that could not be written: what happened, to which file."""
    if isinstance(exc, ChangedSinceRead):
        return COPY_CHANGED
    if isinstance(exc, ReplacedError):
        return f"not rewritten: {exc.strerror}"
    where = f" {exc.filename}" if exc.filename else ""
    return f"cannot write{where}: {exc.strerror or exc}"


def dumps(record: dict[str, Any], jsonl: bool) -> bytes:
    """Serialise a record for output: one line for JSONL, indented for a JSON file."""
    return _encode(record, indent=not jsonl) + b"\n"
