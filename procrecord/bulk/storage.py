"""Records in object storage: fsspec URLs (``s3://``, ``memory://``, ``file://``, ...) as sources and outputs.

Imported by the loader only when a source is a URL, and it imports fsspec only when it opens one:
local runs neither pay for nor need fsspec. Each object becomes an :class:`ObjectTask`, read whole by
whichever process runs it; :class:`ObjectSink` writes each output object in one ``PUT``.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
from typing import IO, TYPE_CHECKING, Any, Iterator

import attrs

from procrecord.bulk.limits import DEFAULT_MAX_BYTES
from procrecord.bulk.output import OrderedFeed
from procrecord.errors import ProcrecordError

if TYPE_CHECKING:  # the loader imports this module
    from procrecord.bulk.loader import InlineTask, LoadError, StreamTask

_MAGIC = ("*", "?", "[")
#: ``--storage-option`` values of this run (applied to every URL, inputs and outputs).
_OPTIONS: dict[str, Any] = {}


def is_url(source: str | None) -> bool:
    """True for an fsspec URL (``scheme://...``); plain paths stay on the local fast path."""
    return source is not None and "://" in source and not os.path.exists(source)


def parse_option(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` -> (key, value); the value is JSON when it parses as JSON, else the string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except ValueError:
        return key, value


def set_options(options: dict[str, Any]) -> None:
    """Set the storage options used for every URL from now on (the CLI's ``--storage-option``)."""
    _OPTIONS.clear()
    _OPTIONS.update(options)


def options() -> dict[str, Any]:
    """The storage options set for this run."""
    return dict(_OPTIONS)


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path in it."""
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProcrecordError("reading URLs needs fsspec: pip install 'procrecord[s3]'") from exc
    opts = _OPTIONS if storage_options is None else storage_options
    try:
        found: tuple[Any, str] = url_to_fs(url, **opts)
        return found
    except ImportError as exc:
        raise ProcrecordError(f"{url}: no filesystem installed for this URL ({exc})") from exc
    except ValueError as exc:
        raise ProcrecordError(f"{url}: {exc}") from exc


def describe(exc: BaseException) -> str:
    """One line for a storage error (missing bucket or object, access denied, ...)."""
    if isinstance(exc, PermissionError):
        return f"access denied ({_short(exc)})"
    if isinstance(exc, FileNotFoundError):
        return f"no such object or bucket ({_short(exc)})"
    return f"storage error: {type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def identity(info: dict[str, Any]) -> tuple[str, int]:
    """What tells one version of an object from another: its ETag (else mtime) and size."""
    tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or info.get("created")
    return str(tag), int(info.get("size") or 0)


@attrs.frozen
class ObjectTask:
    """One object (JSON or JSONL), or the lines starting in ``[start, end)`` of a big JSONL object,
    read by the process that runs the task."""

    url: str
    jsonl: bool
    options: tuple[tuple[str, Any], ...] = ()
    max_bytes: int = DEFAULT_MAX_BYTES
    #: :func:`identity` of the object when it was listed: an in-place rewrite checks it before its PUT.
    identity: tuple[str, int] | None = None
    #: A range of a big JSONL object: its task reads the lines that start in ``[start, end)``
    #: (``end`` None: to the end), so ranges need no reading to be planned.
    start: int = 0
    end: int | None = None
    #: The :class:`~procrecord.bulk.objectio.ReadAhead` of the listing (only in the planning process).
    ahead: int = 0

    def fetch(self) -> InlineTask | LoadError | StreamTask:
        """Read the object: its documents as an :class:`~procrecord.bulk.loader.InlineTask`, a big
        JSONL object as a :class:`~procrecord.bulk.loader.StreamTask` of its lines, or a LoadError."""
        from procrecord.bulk import objectio
        from procrecord.bulk.loader import InlineTask, LoadError

        size = None if self.identity is None else self.identity[1]
        if not self.jsonl and size is not None and size > self.max_bytes:
            return LoadError(self.url, None, f"file is over the limit of {self.max_bytes} bytes")
        try:
            if self.jsonl and (self.start or self.end is not None or size is None or size > objectio.AHEAD_MAX_OBJECT):
                return self._stream()
            ahead = objectio.lookup(self.ahead) if self.ahead else None
            if ahead is not None:
                data = ahead.take(self.url)
            else:
                fs, path = filesystem(self.url, dict(self.options))
                data = fs.cat_file(path)
        except Exception as exc:  # noqa: BLE001 - one unreadable object must not stop the run
            return LoadError(self.url, None, describe(exc))
        if self.jsonl:
            return InlineTask(self.url, True, 1, tuple(io.BytesIO(data).readlines()), self.max_bytes)
        return InlineTask(self.url, False, 1, (data,), self.max_bytes)

    def _stream(self) -> StreamTask:
        """The lines of this task, read in blocks: memory stays flat whatever the object's size."""
        from procrecord.bulk import objectio
        from procrecord.bulk.loader import StreamTask, skip_line

        fs, path = filesystem(self.url, dict(self.options))
        # A range begins with the first line starting at or after ``start``: the line that crosses
        # into it belongs to the range before (found by reading from the byte before ``start``).
        position = max(self.start - 1, 0)
        stream = objectio.open_stream(fs, path, position)
        try:
            if self.start:
                position += skip_line(stream)
        except BaseException:
            stream.close()
            raise
        remaining = None if self.end is None else max(self.end - position, 0)
        return StreamTask(self.url, stream, remaining, self.max_bytes)


#: Bytes of a JSONL object one task reads at least (ranges of big objects; local files use chunk_bytes):
#: each range costs a request or two, and reads up to one block past its end to finish its last line.
OBJECT_RANGE_BYTES = 16 * 1024 * 1024
#: Root (prefix) of each URL source as the planner found it (None: the source is one object).
_ROOTS: dict[tuple[str, tuple[tuple[str, Any], ...]], str | None] = {}


def plan_url(source: str, max_bytes: int, walk: Any, chunk_bytes: int | None = None,
             skip: tuple[str, ...] = ()) -> Iterator[Any]:
    """The tasks of one URL source: an object, a folder (prefix) searched for JSON/JSONL, or a glob.

    The source is listed once; sizes and ETags come from the listing. ``chunk_bytes``: big JSONL
    objects are cut into ranges of at least that size (None: never, one task per object). ``skip``:
    outputs of this run (URLs or paths), never read even when they lie under the source.
    """
    from procrecord.bulk import objectio
    from procrecord.bulk.loader import JSON_SUFFIXES, JSONL_SUFFIXES, LoadError

    try:
        fs, path = filesystem(source)
    except ProcrecordError as exc:
        yield LoadError(source, None, str(exc))
        return
    opts = tuple(sorted(_OPTIONS.items()))
    skipped = _skipped_prefixes(fs, skip)
    if any(path == s.rstrip("/") or path.startswith(s) for s in skipped):
        yield LoadError(source, None, "inside the output folder of this run: skipped")
        return
    try:
        entries, root = _listing(fs, path)
    except Exception as exc:  # noqa: BLE001 - a missing bucket or denied listing is a finding, not a crash
        yield LoadError(source, None, describe(exc))
        return
    if entries is None:
        yield LoadError(source, None, "no files match this pattern")
        return
    _ROOTS[(source, opts)] = root
    chosen = []
    for name in sorted(entries):
        if root is not None:
            relative = posixpath.relpath(name, root)
            base = posixpath.basename(name)
            if not name.endswith(JSON_SUFFIXES) or not walk.included(base, relative) or walk.excluded(base, relative):
                continue
            if not walk.hidden and any(part.startswith(".") for part in relative.split("/")):
                continue
            if any(name.startswith(s) for s in skipped):
                continue  # this run's own outputs
        chosen.append((source if root is None else fs.unstrip_protocol(name), name, identity(entries[name])))
    ahead = objectio.ReadAhead(fs, [url for url, _, _ in chosen], [who[1] for _, _, who in chosen])
    try:
        for url, name, who in chosen:
            jsonl = name.endswith(JSONL_SUFFIXES)
            task = ObjectTask(url, jsonl, opts, max_bytes, who, ahead=ahead.key)
            step = None if chunk_bytes is None else max(chunk_bytes, OBJECT_RANGE_BYTES)
            if not jsonl or step is None or who[1] <= step:
                yield task
                continue
            for start in range(0, who[1], step):
                yield attrs.evolve(task, start=start, end=start + step if start + step < who[1] else None)
    finally:
        ahead.close()


def _listing(fs: Any, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """One listing of ``path``: its objects with their details, and the root they are relative to
    (None when ``path`` is one object); entries None: a glob that matches nothing."""
    if any(m in path for m in _MAGIC):
        found = fs.glob(path, detail=True)
        entries = {p: i for p, i in found.items() if i.get("type") != "directory"}
        return (entries or None), _static_prefix(path)
    found = {p: i for p, i in fs.find(path, detail=True).items() if i.get("type") != "directory"}
    bare = path.rstrip("/")
    if not found or (len(found) == 1 and next(iter(found)).rstrip("/") == bare and not path.endswith("/")):
        info = found.get(next(iter(found))) if found else None
        if not info or "size" not in info:
            info = fs.info(path)  # raises for a missing object or bucket
        if info.get("type") == "directory":
            return {}, path  # an empty folder: no records (the run says so)
        return {path: info}, None
    return found, path


def _skipped_prefixes(fs: Any, skip: tuple[str, ...]) -> list[str]:
    """The output folders in ``skip`` that lie in ``fs``, as path prefixes ending with ``/``."""
    prefixes = []
    for folder in skip:
        if not folder:
            continue
        try:
            other, path = filesystem(folder) if is_url(folder) else (None, os.path.abspath(folder))
        except ProcrecordError:
            continue
        if other is None and "file" not in _protocols(fs):
            continue  # a local folder cannot lie under a bucket
        if other is not None and type(other) is not type(fs):
            continue
        prefixes.append(path.rstrip("/") + "/")
    return prefixes


def _static_prefix(path: str) -> str:
    parts = []
    for part in path.split("/"):
        if any(m in part for m in _MAGIC):
            break
        parts.append(part)
    return "/".join(parts)


def _protocols(fs: Any) -> tuple[str, ...]:
    return tuple(fs.protocol) if isinstance(fs.protocol, (tuple, list)) else (fs.protocol,)


def source_root(source: str) -> str:
    """The (protocol-less) folder that ``source``'s objects are made relative to under ``-o URL``."""
    if not is_url(source):
        if os.path.isdir(source):
            return os.path.abspath(source)
        return os.path.abspath(os.path.dirname(source) or ".")
    fs, path = filesystem(source)
    if any(m in path for m in _MAGIC):
        return _static_prefix(path)
    key = (source, tuple(sorted(_OPTIONS.items())))
    if key in _ROOTS:  # the planner listed it already
        return _ROOTS[key] or posixpath.dirname(path)
    try:
        return path if fs.isdir(path) else posixpath.dirname(path)
    except Exception:  # noqa: BLE001 - the source's own error is reported by the planner
        return posixpath.dirname(path)


def _bare(source: str) -> str:
    if is_url(source):
        return filesystem(source)[1]
    return os.path.abspath(source)


#: The finding of an in-place object someone else changed since it was listed.
CHANGED = "not rewritten: the object changed since it was read"


class ObjectSink(OrderedFeed):
    """A :class:`~procrecord.bulk.output.Sink` for runs with a URL among sources or output.

    Each output object is written in one piece (one ``PUT`` on object storage: never torn) once all
    its records are transformed; unchanged records are not rewritten in place; an object changed by
    someone else since it was listed (another ETag or size) is not overwritten but reported.
    """

    def __init__(self, sources: list[str], output: str | None = None, in_place: bool = False,
                 stdout: IO[bytes] | None = None, roots: list[str] | None = None) -> None:
        if output and in_place:
            raise ProcrecordError("choose either --output-dir or --in-place")
        self.output, self.in_place = output, in_place
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
        if output:
            self._out_fs, self._out_root = filesystem(output) if is_url(output) else filesystem(os.path.abspath(output))

    @property
    def roots(self) -> list[str]:
        """The roots of the sources, longest first (found once the planner has listed them)."""
        if self._roots is None:
            self._roots = sorted((source_root(s) for s in self._sources if s != "-"), key=len, reverse=True)
        return self._roots

    def _reset(self) -> None:
        self._data: list[bytes] = []
        self._failed = self._changed = False
        self._expect = None
        self._jsonl = False

    def destination(self, source: str) -> str | None:
        """The output path (in the output filesystem) of ``source``; None for stdout."""
        if not self.output:
            return None
        if source == "-":
            return posixpath.join(self._out_root, "stdin.jsonl" if self._jsonl else "stdin.json")
        bare = _bare(source)
        for root in self.roots:
            prefix = root.rstrip("/" + os.sep) + "/"
            if bare.startswith(prefix):
                return posixpath.join(self._out_root, bare[len(prefix):])
        return posixpath.join(self._out_root, posixpath.basename(bare))

    def _switch(self, source: str) -> None:
        self._finish()
        self._source = source

    def _take(self, data: bytes, changed: bool) -> None:
        self._changed = self._changed or changed
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
        target = self.destination(source)
        assert target is not None
        owner = self._owners.setdefault(target, source)
        if owner != source:
            self.conflicts.append((source, self._out_fs.unstrip_protocol(target), owner))
            return
        try:
            if not self._changed and source != "-":
                self.unchanged.append(source)
                data = _read_bytes(source)  # an unchanged object is copied byte for byte
            else:
                data = b"".join(self._data)
            _put(self._out_fs, target, data)
        except Exception as exc:  # noqa: BLE001 - one unwritable output is a finding, the run goes on
            self.failures.append((source, f"cannot write {self._out_fs.unstrip_protocol(target)}: {describe(exc)}"))
            return
        if self._changed:
            self.written.append(source)

    def _replace(self, source: str) -> None:
        if source == "-":
            self.stdout.write(b"".join(self._data))
            return
        if not self._changed:
            self.unchanged.append(source)  # nothing to change: the object is not rewritten
            return
        try:
            if not is_url(source):  # a local file: the atomic module checks its identity under a lock
                from procrecord.atomic import AtomicFile

                handle = AtomicFile(source, None, self._expect)
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


def _read_bytes(source: str) -> bytes:
    if is_url(source):
        fs, path = filesystem(source)
        data: bytes = fs.cat_file(path)
        return data
    with open(source, "rb") as handle:
        return handle.read()


def _put(fs: Any, path: str, data: bytes) -> None:
    """Write ``data`` as the whole object ``path``: one PUT on object storage (S3 multipart uploads
    also appear only when complete); a local file is written to a temp name and renamed."""
    if "file" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)):
        from procrecord.atomic import AtomicFile

        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        handle = AtomicFile(path, None, None)
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
