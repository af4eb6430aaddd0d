"""The sink of runs with a URL among their sources or output: each output object written whole, in
one ``PUT`` (never torn), and in-place objects replaced only if nobody changed them since they were listed."""

from __future__ import annotations

import os
import posixpath
from typing import IO, Any

from procrecord.bulk.output import COPY_CHANGED, ChangedSinceRead, OrderedFeed, _describe, _no_symlink_between, read_as_checked
from procrecord.bulk.storage import _bare, _protocols, describe, filesystem, identity, is_url, source_root
from procrecord.errors import ProcrecordError

#: The finding of an in-place object someone else changed since it was listed.
CHANGED = "not rewritten: the object changed since it was read"


class UnsafeName(ValueError):
    """A source whose name cannot be mirrored under the output: its message says why."""


def unsafe(relative: str, local: bool) -> str | None:
    """Why the path ``relative`` (``/``-separated, from an object's key or a file's path below its
    source's root) cannot be mirrored under an output folder or prefix; None when it can.

    Keys of object storage are literal strings: ``runs//a.json``, ``runs/../a.json`` and
    ``runs/./a.json`` are three objects besides ``runs/a.json``. Joined to an output they would
    leave it (``..``, or ``/a.json`` joined as an absolute path) or land on another object's
    output, so they are refused for every output (local or URL): the mirrored tree is the same
    wherever it is written. ``local``: also what a local file name cannot hold here.
    """
    if not relative:
        return "its name is empty below the source's root"
    if "\0" in relative:
        return "its name holds a NUL character"
    parts = relative.split("/")
    if "" in parts:
        return "its name has an empty path segment ('//', or a '/' at either end)"
    if "." in parts or ".." in parts:
        return "its name has a '.' or '..' path segment"
    if local:
        import sys

        separators = {os.sep, os.altsep} - {None, "/"}
        for part in parts:
            if separators & set(part) or (os.name == "nt" and (set(part) & set('<>:"|?*')
                                                                or part[-1] in ". ")):
                return f"its name segment {part!r} is not a file name on this system"
            try:
                encoded = part.encode(sys.getfilesystemencoding(), "surrogateescape")
            except UnicodeEncodeError:
                return f"its name segment {part!r} cannot be written by this file system"
            if len(encoded) > 255:
                return "its name has a segment longer than a file name may be (255 bytes)"
    return None


class ObjectSink(OrderedFeed):
    """A :class:`~procrecord.bulk.output.Sink` for runs with a URL among sources or output.

    Each output object is written in one piece (one ``PUT`` on object storage: never torn) once all
    its records are transformed; unchanged records are not rewritten in place; an object changed by
    someone else since it was listed (another ETag or size) is not overwritten but reported.
    """

    def __init__(self, sources: list[str], output: str | None = None, in_place: bool = False,
                 stdout: IO[bytes] | None = None, roots: list[str] | None = None, follow_symlinks: bool = False) -> None:
        if output and in_place:
            raise ProcrecordError("choose either --output-dir or --in-place")
        self.output, self.in_place = output, in_place
        #: ``--follow-symlinks``: a local source named by a symlink is replaced in place through it (its target).
        self.follow_symlinks = follow_symlinks
        self._sources = sources
        self._roots = None if roots is None else sorted(roots, key=len, reverse=True)
        self.stdout = stdout if stdout is not None else __import__("sys").stdout.buffer
        self.skipped: list[str] = []
        self.conflicts: list[tuple[str, str, str]] = []
        self.failures: list[tuple[str, str]] = []
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self._owners: dict[str, str] = {}
        self._source = None
        self._reset()
        self._local = False
        if output:
            self._out_fs, self._out_root = filesystem(output) if is_url(output) else filesystem(os.path.abspath(output))
            self._local = "file" in _protocols(self._out_fs)

    @property
    def roots(self) -> list[str]:
        """The roots of the sources, longest first (found once the planner has listed them)."""
        if self._roots is None:
            self._roots = sorted((source_root(s) for s in self._sources if s != "-"), key=len, reverse=True)
        return self._roots

    def _reset(self) -> None:
        self._data: list[bytes] = []
        self._failed = self._changed = False
        self._verbatim = True  # every block holds the source's bytes as read (Block.verbatim)
        self._expect = None
        self._jsonl = False

    def destination(self, source: str) -> str | None:
        """The output path (in the output filesystem) of ``source``; None for stdout.

        Raises :class:`UnsafeName` for a source whose name cannot be mirrored (see :func:`unsafe`):
        every output stays under the output folder or prefix.
        """
        if not self.output:
            return None
        if source == "-":
            return posixpath.join(self._out_root, "stdin.jsonl" if self._jsonl else "stdin.json")
        bare = _bare(source)
        relative = None
        for root in self.roots:
            prefix = root.rstrip("/" + os.sep) + "/"
            if bare.startswith(prefix):
                relative = bare[len(prefix):]
                break
        if relative is None:
            relative = bare.rpartition("/")[2]  # (a key is split on "/" only: no basename that drops "..")
        why = unsafe(relative, self._local)
        if why is not None:
            raise UnsafeName(f"not written: {why}, which cannot be mirrored under the output "
                             f"(it would land outside it or on another object's output)")
        return self._out_root.rstrip("/") + "/" + relative

    def owner_key(self, target: str) -> str:
        """``target`` as compared for two sources with one output (case-insensitive file systems fold case)."""
        return os.path.normcase(posixpath.normpath(target)) if self._local else target

    def _switch(self, source: str) -> None:
        self._finish()
        self._source = source

    def _take(self, data: bytes, changed: bool, verbatim: bool = False) -> None:
        self._changed = self._changed or changed
        self._verbatim = self._verbatim and verbatim
        if self.in_place or self.output:
            self._data.append(data)
        else:
            self.stdout.write(data)

    def done(self, source: str) -> None:
        """The last record of ``source`` has been added."""
        if source == self._source:
            self._finish()
            self._source = None

    def _finish(self) -> None:
        source = self._source
        try:
            if source is None or not (self.in_place or self.output):
                return
            if self._failed:
                self.skipped.append(source)
                return
            if self.in_place:
                self._replace(source)
            else:
                self._mirror(source)
        finally:
            self._reset()

    def _mirror(self, source: str) -> None:
        try:
            target = self.destination(source)
        except UnsafeName as exc:
            self.failures.append((source, str(exc)))
            return
        assert target is not None
        owner = self._owners.setdefault(self.owner_key(target), source)
        if owner != source:
            self.conflicts.append((source, self._out_fs.unstrip_protocol(target), owner))
            return
        if self._local:
            try:  # (as a local run's outputs: never through a symlinked folder, out of the output folder)
                _no_symlink_between(self._out_root, posixpath.dirname(target))
            except OSError as exc:
                self.failures.append((source, _describe(exc)))
                return
        try:
            if not self._changed and source != "-":
                # An unchanged object is copied byte for byte: the bytes read and checked (an object
                # read whole), or read again only if it is still the version that was read.
                self.unchanged.append(source)
                data = b"".join(self._data) if self._verbatim and self._data else _read_bytes(source, self._expect)
            else:
                data = b"".join(self._data)
            _put(self._out_fs, target, data, self._mode(source) if self._local else None)
        except ChangedSinceRead:
            self.failures.append((source, COPY_CHANGED))
            return
        except Exception as exc:  # noqa: BLE001 - one unwritable output is a finding, the run goes on
            self.failures.append((source, f"cannot write {self._out_fs.unstrip_protocol(target)}: {describe(exc)}"))
            return
        if self._changed:
            self.written.append(source)

    def _mode(self, source: str) -> int | None:
        """The permission bits of a local source (a path or a ``file://`` URL), which its local output
        gets, as in a run with no URL (a private record's copy is not readable by more users); else None."""
        if source == "-" or (is_url(source) and not source.lower().startswith("file://")):
            return None
        try:
            return os.stat(_bare(source)).st_mode & 0o7777
        except (OSError, ProcrecordError):
            return None

    def _replace(self, source: str) -> None:
        if source == "-":
            self.stdout.write(b"".join(self._data))
            return
        local = not is_url(source)
        link = local and os.path.islink(source)
        if link and not self.follow_symlinks:
            # As a local run: replacing a link would turn it into a regular file and leave its target as it was.
            self.failures.append((source, "a symlink: left as it is (--follow-symlinks rewrites its target)"))
            return
        if not self._changed:
            self.unchanged.append(source)  # nothing to change: the object is not rewritten
            return
        try:
            if local:  # a local file: the atomic module checks its identity under a lock
                from procrecord.atomic import AtomicFile

                handle = AtomicFile(os.path.realpath(source) if link else source, None, self._expect)
                try:
                    handle.write(b"".join(self._data))
                    handle.commit()
                except BaseException:
                    handle.discard()
                    raise
                self.written.append(source)
                return
            fs, path = filesystem(source)
            data = b"".join(self._data)
            if self._expect is not None:
                from procrecord.bulk.objectio import conditional_put

                # The object's ETag and size are checked first (every store; an S3-compatible store
                # that ignores If-Match still gets this check) ...
                fs.invalidate_cache(path)
                if identity(fs.info(path)) != tuple(self._expect):
                    self.failures.append((source, CHANGED))
                    return
                # ... and on S3 the PUT itself carries the ETag listed (If-Match): a change made
                # after the check is refused by the store (412), so there is no window.
                written = conditional_put(fs, path, data, self._expect[0])
                if written is False:
                    self.failures.append((source, CHANGED))
                    return
                if written is None:  # no conditional writes here: a window of one request remains
                    _put(fs, path, data)
            else:
                _put(fs, path, data)
        except Exception as exc:  # noqa: BLE001
            self.failures.append((source, f"cannot write: {describe(exc)}"))
            return
        self.written.append(source)

    def close(self) -> None:
        """Finish the last object."""
        self._finish()
        self._source = None
        self.stdout.flush()

    def abort(self) -> None:
        """An interrupted run: the object being assembled is dropped (its original stays as it was)."""
        self._reset()
        self._source = None


def _read_bytes(source: str, expect: Any = None) -> bytes:
    """``source``'s bytes read again (an unchanged one, streamed when it was checked), only if it is
    still what was listed and read (``expect``: its identity then, None: not known); else raises
    :class:`~procrecord.bulk.output.ChangedSinceRead`. On S3 every ranged GET of the read carries the
    ETag checked (s3fs refuses a block of another version)."""
    if not is_url(source):
        return read_as_checked(source, expect)
    fs, path = filesystem(source)
    fs.invalidate_cache(path)
    try:
        with fs.open(path, "rb") as handle:
            details = getattr(handle, "details", None) or fs.info(path)
            if expect is not None and identity(details) != tuple(expect):
                raise ChangedSinceRead(0, COPY_CHANGED, source)
            data: bytes = handle.read()
    except ChangedSinceRead:
        raise
    except Exception as exc:
        if type(exc).__name__ == "FileExpired":  # fsspec: a block of another version than the one opened
            raise ChangedSinceRead(0, COPY_CHANGED, source) from exc
        raise
    if expect is not None:
        fs.invalidate_cache(path)
        if identity(fs.info(path)) != tuple(expect) or len(data) != int(expect[1]):
            raise ChangedSinceRead(0, COPY_CHANGED, source)  # (stores that do not check each read)
    return data


def _put(fs: Any, path: str, data: bytes, mode: int | None = None) -> None:
    """Write ``data`` as the whole object ``path``: one PUT on object storage (S3 multipart uploads
    also appear only when complete); a local file is written to a temp name and renamed (``mode``:
    its permission bits, else those of the file it replaces, or the umask's for a new one)."""
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        from procrecord.atomic import AtomicFile

        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        handle = AtomicFile(path, mode, None)
        try:
            handle.write(data)
            handle.commit()
        except BaseException:
            handle.discard()
            raise
        return
    fs.pipe_file(path, data)


def upload(local: str, url: str) -> None:
    """Copy a finished local file (one PUT) or folder (one PUT per file) to ``url``."""
    fs, path = filesystem(url)
    if not os.path.isdir(local):
        _put_file(fs, local, path)
        return
    for folder, _, names in os.walk(local):
        for name in sorted(names):
            full = os.path.join(folder, name)
            _put_file(fs, full, posixpath.join(path, os.path.relpath(full, local).replace(os.sep, "/")))


def _put_file(fs: Any, local: str, path: str) -> None:
    if "file" in _protocols(fs):
        with open(local, "rb") as handle:
            _put(fs, path, handle.read())
        return
    fs.put_file(local, path)  # S3: one PUT, or a multipart upload that appears only when complete
