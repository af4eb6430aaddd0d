"""Where transformed records go: stdout, a mirrored output folder, or back in place (atomically).

Outcomes arrive in input order, so the records of one file are consecutive. A file is written only
when every one of its records was transformed; otherwise the original stays untouched and the
run reports why. Each output file is written through :mod:`procrecord.atomic`.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from pathlib import Path
from typing import IO, Any

from procrecord.atomic import replacing, write_bytes
from procrecord.bulk import Block, Outcome
from procrecord.errors import ProcrecordError
from procrecord.jsoncodec import dumps as _encode


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


class Sink:
    """Receives outcomes in order and writes their outputs to one destination."""

    def __init__(self, sources: list[str], output_dir: str | None = None, in_place: bool = False,
                 stdout: IO[bytes] | None = None) -> None:
        if output_dir and in_place:
            raise ProcrecordError("choose either --output-dir or --in-place")
        self.output_dir = os.path.abspath(output_dir) if output_dir else None
        self.in_place = in_place
        self.roots = sorted(source_roots(sources), key=len, reverse=True)
        self.stdout = stdout if stdout is not None else sys.stdout.buffer
        #: Sources that got no output because one of their documents failed (missing ones aside).
        self.skipped: list[str] = []
        #: (source, output, other source) for a source whose output is another source's (two inputs
        #: of one name in different folders given as files): not written.
        self.conflicts: list[tuple[str, str, str]] = []
        self._owners: dict[str, str] = {}
        self._conflict = False
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self._source: str | None = None
        self._target: str | None = None
        self._ctx: contextlib.ExitStack | None = None
        self._handle: IO[bytes] | None = None
        self._failed = False
        self._changed = False
        self._jsonl = False
        if self.output_dir:
            try:
                os.makedirs(self.output_dir, exist_ok=True)
            except OSError as exc:
                raise ProcrecordError(f"cannot create output folder {output_dir}: {exc.strerror}") from exc

    def destination(self, source: str) -> str | None:
        """Output path for ``source`` (None means stdout)."""
        if self.in_place:
            return None if source == "-" else source
        if self.output_dir and source == "-":
            return os.path.join(self.output_dir, "stdin.jsonl" if self._jsonl else "stdin.json")
        if self.output_dir:
            absolute = os.path.abspath(source)
            for root in self.roots:
                if absolute.startswith(root.rstrip(os.sep) + os.sep):
                    return os.path.join(self.output_dir, os.path.relpath(absolute, root))
            return os.path.join(self.output_dir, os.path.basename(source))
        return None

    def add(self, item: Outcome | Block) -> None:
        """Take an outcome (a record that failed spoils its file) or a block of outputs to write."""
        if item.source != self._source:
            self._finish_file()
            self._start_file(item.source)
        if isinstance(item, Outcome):
            self._jsonl = item.jsonl
            if not item.ok:
                self._failed = True
            elif item.output is not None:  # an outcome not packed into a block
                self._write(item.output, bool((item.info or {}).get("changed", 1)))
            return
        self._write(item.data, item.changed)

    def _write(self, data: bytes, changed: bool) -> None:
        self._changed = self._changed or changed
        if self._target is None:
            self.stdout.write(data)
        elif not self._failed:
            if self._handle is None:
                self._open()
            self._handle.write(data)  # type: ignore[union-attr]

    def done(self, source: str) -> None:
        """The last record of ``source`` has been added: finish its file now."""
        if source == self._source:
            self._finish_file()
            self._source = None

    def _start_file(self, source: str) -> None:
        self._source = source
        self._failed = self._changed = self._conflict = False
        self._target = self.destination(source)
        if self._target is not None and self.output_dir:
            owner = self._owners.setdefault(self._target, source)
            if owner != source:
                self.conflicts.append((source, self._target, owner))
                self._failed = self._conflict = True

    def _open(self) -> None:
        """Start the temporary file of the current source's output (at its first record, so a source
        that yields none leaves no folder behind)."""
        source = self._source
        assert self._target is not None and source is not None
        # Standard input's output is named once its first record says whether it came as JSONL.
        target = self._target = self.destination(source) if source == "-" else self._target
        assert target is not None
        os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
        self._ctx = contextlib.ExitStack()
        mode = None
        if not self.in_place:
            with contextlib.suppress(OSError):
                mode = os.stat(source).st_mode & 0o7777
        self._handle = self._ctx.enter_context(replacing(target, mode))

    def _finish_file(self) -> None:
        source, target, ctx = self._source, self._target, self._ctx
        self._target, self._ctx, self._handle = None, None, None
        if source is None or target is None:
            return
        if self._failed:
            if ctx is not None:
                ctx.__exit__(ProcrecordError, ProcrecordError("not written"), None)  # discard the temp file
            if os.path.lexists(source) and not self._conflict:  # a missing source has its error line already
                self.skipped.append(source)
        elif not self._changed:
            # Nothing to change: leave the original alone, or copy its exact bytes (standard input
            # cannot be read again: its records are written as they came).
            self.unchanged.append(source)
            if source == "-" and ctx is not None:
                ctx.close()
                return
            if ctx is not None:
                ctx.__exit__(ProcrecordError, ProcrecordError("unchanged"), None)
            if not self.in_place and source != "-":
                os.makedirs(os.path.dirname(target) or ".", exist_ok=True)
                write_bytes(target, Path(source).read_bytes())
        elif ctx is not None:
            ctx.close()
            self.written.append(source)

    def close(self) -> None:
        """Finish the last file."""
        self._finish_file()
        self.stdout.flush()

    def abort(self) -> None:
        """Discard the file being written (interrupted run): its original stays untouched."""
        if self._ctx is not None:
            ctx, self._ctx, self._handle = self._ctx, None, None
            ctx.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)


def dumps(record: dict[str, Any], jsonl: bool) -> bytes:
    """Serialise a record for output: one line for JSONL, indented for a JSON file."""
    return _encode(record, indent=not jsonl) + b"\n"
