"""The one loader: turns sources (files, folders, globs, JSONL, stdin) into records or LoadError values.

Reading and parsing are split so bulk runs can hand byte ranges of big JSONL files to worker
processes: :func:`plan` expands sources into :class:`Task` values without reading records, and
:func:`iter_task` reads one task and yields a :class:`Loaded` or :class:`LoadError` per document.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
import sys
from pathlib import Path
from typing import IO, Any, Iterator, NamedTuple, Union

import attrs
import orjson

from procrecord.bulk.dupkeys import compact, duplicate_keys
from procrecord.bulk.globs import matches_any, static_prefix
from procrecord.bulk.jsoncodec import ExactnessError, exact_again, loads_exact
from procrecord.bulk.limits import DEFAULT_MAX_BYTES, MAX_DEPTH

#: JSONL files larger than this are split into byte ranges for parallel work.
CHUNK_BYTES = 4 * 1024 * 1024
JSONL_SUFFIXES = (".jsonl", ".ndjson")
JSON_SUFFIXES = (".json",) + JSONL_SUFFIXES
#: Zip archives holding a JSON document (what geowatch writes); read with ``--embedded``.
ZIP_SUFFIXES = (".kwcoco.zip", ".json.zip")
_ZIP_MAGIC = b"PK\x03\x04"
#: How a size refusal says what to do (the typed reader says it in its own terms: see record.reader).
MAX_BYTES_HINT = "(raise it with --max-bytes)"
#: What a zip archive is told without --embedded (the typed reader recognises it: see record.reader).
ZIP_MESSAGE = "a zip archive (.kwcoco.zip): use --embedded to check the records inside it"
_BOM = b"\xef\xbb\xbf"
#: What a folder walk reads (other files are not looked at).
_WALKED_SUFFIXES = JSON_SUFFIXES + ZIP_SUFFIXES
#: Read buffer of a JSONL file (see _iter_jsonl).
_LINE_BUFFER = 256 * 1024


class Loaded(NamedTuple):
    """A parsed record and where it came from (``line`` is 1-based, None for whole-file JSON)."""

    source: str
    line: int | None
    record: dict[str, Any]
    jsonl: bool = False
    #: The document's bytes, unparsed, when the operation reads documents itself (``record`` is then ``{}``).
    raw: bytes | None = None


#: Control characters as escapes (a name with a line break must not split a row).
_ESCAPES = {i: f"\\x{i:02x}" for i in (*range(0x20), *range(0x7f, 0xa0))} | {
    # characters that reorder or hide text on a terminal (bidirectional overrides, zero-width ones)
    i: f"\\u{i:04x}" for i in (*range(0x200b, 0x2010), *range(0x202a, 0x202f), *range(0x2060, 0x2065),
                               *range(0x2066, 0x206a), 0xfeff)} | {
    ord("\n"): "\\n", ord("\r"): "\\r", ord("\t"): "\\t", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def escape(text: str) -> str:
    """``text`` with control characters written as escapes (``\\n``, ``\\x1b``), on one line."""
    return text.translate(_ESCAPES) if not text.isprintable() else text


def where(source: str, line: int | None) -> str:
    """``path[:line]``, how every finding names its place (control characters escaped: a file name with
    a line break or a terminal escape in it must not split a finding or rewrite the terminal)."""
    source = escape(source)
    return source if line is None else f"{source}:{line}"


class LoadError(NamedTuple):
    """A source, or one document of it, that could not be turned into a record."""

    source: str
    line: int | None
    message: str

    def where(self) -> str:
        """``path[:line]`` as reported to users."""
        return where(self.source, self.line)


class Note(NamedTuple):
    """A path a walk found and left alone on purpose (a symlink): reported, not a finding."""

    source: str
    line: int | None
    message: str

    def where(self) -> str:
        """``path[:line]`` as reported to users."""
        return where(self.source, self.line)


@attrs.frozen
class Walk:
    """How folders are walked: which entries below a source are read.

    Hidden files and folders (a name starting with a dot: ``.git``, ``.venv``) are skipped unless
    ``hidden``; folder symlinks are not entered and file symlinks are reported and left alone unless
    ``follow_symlinks``; ``include`` keeps only files matching one of its patterns, ``exclude`` drops
    files and folders matching one of its (see :mod:`procrecord.bulk.globs`: a pattern without ``/``
    matches a name at any depth, one with ``/`` the path below the source). A source named explicitly
    is always read. Local folders and prefixes in object storage are walked by these same rules
    (:meth:`enters`, :meth:`takes`; :meth:`selects` for a listing of files only).
    """

    hidden: bool = False
    follow_symlinks: bool = False
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()

    def excluded(self, relative: str, is_dir: bool = False) -> bool:
        """True when an ``exclude`` pattern matches the entry at ``relative`` (its path below the source)."""
        return bool(self.exclude) and matches_any(self.exclude, relative, is_dir)

    def included(self, relative: str) -> bool:
        """True when there is no ``include`` pattern or one matches the file at ``relative``."""
        return not self.include or matches_any(self.include, relative, False)

    def enters(self, relative: str) -> bool:
        """True when the walk goes into the folder at ``relative`` (not hidden, not excluded)."""
        return (self.hidden or not relative.rpartition("/")[2].startswith(".")) and not self.excluded(relative, True)

    def takes(self, relative: str) -> bool:
        """True when the walk reads the file at ``relative`` in a folder it entered (suffixes apart)."""
        return ((self.hidden or not relative.rpartition("/")[2].startswith("."))
                and not self.excluded(relative) and self.included(relative))

    def selects(self, relative: str) -> bool:
        """True when a walk from the source reaches and reads the file at ``relative``: every folder
        on the way entered, the file taken (a listing that gives files only: object storage)."""
        cut = relative.rfind("/")
        return (cut == -1 or self.reaches(relative[:cut])) and self.takes(relative)

    def reaches(self, folder: str) -> bool:
        """True when a walk from the source enters the folder at ``folder`` and every folder on its way."""
        end = folder.find("/")
        while end != -1:
            if not self.enters(folder[:end]):
                return False
            end = folder.find("/", end + 1)
        return folder in ("", ".") or self.enters(folder)


DEFAULT_WALK = Walk()


@attrs.frozen
class FileTask:
    """A whole JSON file, or the byte range ``[start, end)`` of a JSONL file."""

    path: str
    jsonl: bool
    start: int = 0
    end: int | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    #: :func:`procrecord.atomic.identity` of the file when it was planned, before it was read.
    identity: tuple[int, int, int, int] | None = None
    #: The file's permission bits when it was planned (what an output written for it gets).
    mode: int | None = None


@attrs.frozen
class InlineTask:
    """Documents already read (stdin), with the line number of the first one."""

    source: str
    jsonl: bool
    first_line: int
    payloads: tuple[bytes, ...]
    max_bytes: int = DEFAULT_MAX_BYTES


@attrs.frozen
class StreamTask:
    """JSONL lines read from an open stream (a big object in storage; made by the process reading it).

    ``remaining``: the lines starting in the next ``remaining`` bytes are the task's (None: to the end).
    """

    source: str
    stream: IO[bytes]
    remaining: int | None
    max_bytes: int = DEFAULT_MAX_BYTES


Task = Union[FileTask, InlineTask, LoadError, Note]
Item = Union[Loaded, LoadError, Note]


#: Python's ``json`` writes these where JSON has no number (``float("nan")``).
_NON_JSON_NUMBERS = ("NaN", "Infinity")


def parse(data: bytes, source: str, line: int | None, jsonl: bool = False, exact: bool = False,
          unique: bool = False) -> Item:
    """Parse one document; every failure is returned as a :class:`LoadError`.

    ``exact``: keep integers beyond 64 bits exact (what rewrites need; see :mod:`procrecord.bulk.jsoncodec`).
    ``unique``: a key written twice in one object is a failure (what ``validate`` needs: the parser
    keeps one value, so the other would never be checked; see :mod:`procrecord.bulk.dupkeys`).
    """
    if data.startswith(_BOM):
        data = data[3:]
    if data.startswith(_ZIP_MAGIC):
        return LoadError(source, line, ZIP_MESSAGE)
    if not data or data.isspace():  # not strip(): no copy of every document
        return LoadError(source, line, "empty document" if line else "empty file")
    try:
        # With the duplicate-key check, orjson's text of the value settles exactness too (see below).
        value = loads_exact(data) if exact and not unique else orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return LoadError(source, line, _describe_json_error(exc, line, data))
    except ExactnessError as exc:
        return LoadError(source, line, f"invalid for this tool: {exc}")
    if not isinstance(value, dict):
        return LoadError(source, line, f"top-level value is {_json_type(value)}, expected an object")
    # The duplicate-key check writes the value again; that text also proves the depth (see dupkeys).
    again = compact(value, MAX_DEPTH) if unique else None
    if again is None and too_deep(data, value):
        return LoadError(source, line, f"nested too deeply: over {MAX_DEPTH} levels, the limit of every command")
    if exact and unique and (again is None or _FLOAT_EXPONENT in again):
        try:
            value = exact_again(data, value)
        except ExactnessError as exc:
            return LoadError(source, line, f"invalid for this tool: {exc}")
    if unique:
        repeated = duplicate_keys(data, value, again)
        if repeated:
            from procrecord.record.validation import json_path

            path, key = repeated[0]
            return LoadError(source, line, f"duplicate key {key!r} in the object at {json_path(path)} "
                                           "(a reader keeps only one of its values)")
    return Loaded(source, line, value, jsonl)


#: orjson writes every float of magnitude 1e16 or more with an exponent (``1.8446744073709552e+19``), and
#: reads an integer literal outside [-2**63, 2**64) as such a float: text orjson wrote of a parsed value
#: without this held no such literal (a string holding it only costs the slower exact check).
_FLOAT_EXPONENT = b"e+"


def too_deep(data: bytes, value: Any, limit: int = MAX_DEPTH) -> bool:
    """True when ``value`` (parsed from the JSON text ``data``) nests deeper than ``limit`` levels.

    Text with no more brackets than the limit cannot be too deep: two C counts settle it for most
    records; only the others are walked (containers only, stopping at the first too deep).
    """
    if data.count(b"[") + data.count(b"{") <= limit:
        return False
    level = [value]  # the containers at one depth, level by level: one list per level, no tuples
    for _ in range(limit):
        below = []
        for node in level:
            for child in (node.values() if type(node) is dict else node):
                if type(child) is dict or type(child) is list:
                    below.append(child)
        if not below:
            return False
        level = below
    return True


def non_json_number(exc: orjson.JSONDecodeError) -> str | None:
    """``NaN`` or ``Infinity`` when the parser stopped at one (what Python's ``json`` writes for
    ``float("nan")``; no JSON), else None."""
    doc = exc.doc if isinstance(exc.doc, str) else ""
    return next((word for word in _NON_JSON_NUMBERS if doc.startswith(word, exc.pos)), None)


def loose(data: bytes) -> Any:
    """``data`` parsed the way Python's ``json`` reads it (``NaN``, ``Infinity`` allowed), or None when
    even that fails. Only for saying what a document that is no strict JSON is."""
    import json

    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return None


def _describe_json_error(exc: orjson.JSONDecodeError, line: int | None, data: bytes = b"") -> str:
    msg = exc.msg
    word = non_json_number(exc)
    if word is not None:
        where = f"line {exc.lineno}, column {exc.colno}" if line is None else f"column {exc.colno}"
        from procrecord.record.versions import RESULT_FILE_MESSAGE, is_result_file

        if line is None and is_result_file(loose(data)):
            # Python's json writes NaN into kwcoco files (scores); --embedded reads those files
            return (f"{RESULT_FILE_MESSAGE}, and {word} at {where} (no JSON number; only --embedded reads it): use --embedded "
                    "(validate, redact, upgrade, downgrade) to handle the records in it")
        return f"invalid JSON at {where}: {word} (JSON has no NaN or Infinity; a record must be strict JSON)"
    if "recursion" in msg.lower() or "depth limit" in msg.lower():
        return "invalid JSON: nested deeper than the parser allows (1024 levels)"
    if "utf-8" in msg.lower():
        return "invalid JSON: not valid UTF-8" + _utf8_place(data, line)
    if "infinity" in msg.lower():  # orjson's "number is infinity when parsed as double"
        where = f"line {exc.lineno}, column {exc.colno}" if line is None else f"column {exc.colno}"
        return f"a number at {where} is too large to read (beyond the 1.8e308 a double holds)"
    if line is None:
        return f"invalid JSON at line {exc.lineno}, column {exc.colno}: {msg}"
    return f"invalid JSON at column {exc.colno}: {msg}"


def _utf8_place(data: bytes, line: int | None) -> str:
    """Where the first byte that is not UTF-8 lies in ``data`` (`` at line L, column C (byte offset B: 0xNN)``), or ""."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        at = exc.start
        column = at - data.rfind(b"\n", 0, at)  # (1-based: rfind gives -1 on the first line)
        if line is not None:  # a JSONL line: its column says where
            return f" at column {column} (0x{data[at]:02x})"
        lines = data.count(b"\n", 0, at) + 1
        return f" at line {lines}, column {column} (byte offset {at}: 0x{data[at]:02x})"
    return ""


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def is_jsonl(path: str) -> bool:
    """True when ``path`` names a JSON Lines file (by suffix)."""
    return path.lower().endswith(JSONL_SUFFIXES)


def plan(sources: list[str], max_bytes: int = DEFAULT_MAX_BYTES, chunk_bytes: int = CHUNK_BYTES,
         skip: tuple[str, ...] = (), walk: Walk | None = None, read_ahead: bool = True) -> Iterator[Task]:
    """Expand sources into tasks, in order; sources that cannot be read become LoadError values.

    ``skip``: folders never read (a run's own output folder, which may lie inside a source folder).
    ``walk``: which entries below a folder or glob are read (see :class:`Walk`). ``read_ahead``: the
    tasks run in this process, as they come (objects in storage are then read ahead of them; tasks
    run elsewhere read their own).
    """
    walk = walk or DEFAULT_WALK
    seen: set[tuple[int, int] | str] = set()
    dropping: tuple[int, int] | str | None = None
    fetchers: list[Any] = []  # the run's fetcher process, if a URL source starts one
    try:
        for task in _plan(sources, max_bytes, chunk_bytes, skip, walk, read_ahead, fetchers):
            # One file reached twice (through a symlink, or named twice) is read once; so is one object
            # (named twice, or below two prefixes given): its output would hold its records twice.
            key: tuple[int, int] | str | None = None
            start = 0
            if isinstance(task, FileTask) and task.identity is not None:
                key, start = task.identity[:2], task.start
            else:
                storage = sys.modules.get("procrecord.bulk.storage")  # (imported for URL sources only)
                if storage is not None and isinstance(task, storage.ObjectTask):
                    key, start = task.url, task.start
            if key is not None:
                if start == 0:
                    dropping = key if key in seen else None
                    seen.add(key)
                if key == dropping:
                    continue
            yield task
    finally:
        for fetcher in fetchers:
            if fetcher is not None:
                fetcher.close()


def _plan(sources: list[str], max_bytes: int, chunk_bytes: int, skip: tuple[str, ...], walk: Walk,
          read_ahead: bool = True, fetchers: list[Any] | None = None) -> Iterator[Task]:
    skipped = tuple(os.path.realpath(folder) for folder in skip)
    stdin_read = False
    for source in sources:
        if source == "-":
            if not stdin_read:  # stdin named twice is read once, as a file named twice is
                yield from _plan_stdin(max_bytes)
            stdin_read = True
            continue
        if "://" in source and not os.path.exists(source):  # an fsspec URL: fsspec only when one is given
            from procrecord.bulk.storage import plan_url

            yield from plan_url(source, max_bytes, walk, chunk_bytes, skip, read_ahead, fetchers)
            continue
        path = Path(source)
        if skipped and _inside(source, skipped):
            yield LoadError(source, None, "inside the output folder of this run: skipped")
        elif path.is_dir():
            yield from _plan_dir(path, max_bytes, chunk_bytes, skipped, walk)
        elif os.path.lexists(source):
            yield from _plan_file(source, max_bytes, chunk_bytes)
        elif glob.has_magic(source):
            matches = sorted(glob.glob(source, recursive=True))
            if not matches:
                yield LoadError(source, None, "no files match this pattern")
            base = static_prefix(source, os.sep) or (os.sep if source.startswith(os.sep) else os.curdir)
            # The walk's rules below the folder the pattern starts from (as for URLs); hidden names the
            # pattern matched are its own choice (a local glob matches them only where it spells the dot).
            matched = attrs.evolve(walk, hidden=True)
            for match in matches:
                if skipped and _inside(match, skipped):
                    continue  # the run's own outputs
                relative = os.path.relpath(match, base).replace(os.sep, "/")
                link = os.path.islink(match) and not walk.follow_symlinks
                if os.path.isdir(match):
                    if not matched.reaches(relative):  # the folder itself, and those on its way, entered
                        continue
                    if link:
                        yield _link_note(match)
                    else:
                        yield from _plan_dir(Path(match), max_bytes, chunk_bytes, skipped, walk, base)
                elif not matched.selects(relative):
                    continue
                elif link:
                    yield _link_note(match)
                else:
                    yield from _plan_found(match, max_bytes, chunk_bytes)
        else:
            yield LoadError(source, None, "no such file or directory")


def _inside(path: str, folders: tuple[str, ...]) -> bool:
    real = os.path.realpath(path)
    return any(real == folder or real.startswith(folder.rstrip(os.sep) + os.sep) for folder in folders)


def _link_note(path: str) -> Note:
    if not os.path.exists(path):
        return Note(path, None, "a symlink to nothing (its target does not exist): left as it is")
    kind = "a folder" if os.path.isdir(path) else "a file"
    return Note(path, None, f"a symlink to {kind}: left as it is (--follow-symlinks follows it)")


def _plan_dir(root: Path, max_bytes: int, chunk_bytes: int, skipped: tuple[str, ...] = (),
              walk: Walk = DEFAULT_WALK, base: str | None = None) -> Iterator[Task]:
    """Walk a folder recursively by the rules of ``walk``, never the same folder twice (nor ``skipped``);
    ``base``: the folder the walk's patterns are relative to (default ``root``; a glob's: where it starts)."""
    seen: set[tuple[int, int]] = set()
    base = str(root) if base is None else base
    stack = [root]
    while stack:
        folder = stack.pop()
        try:
            st = folder.stat()
        except OSError as exc:
            yield LoadError(str(folder), None, _os_message(exc))
            continue
        if (st.st_dev, st.st_ino) in seen:
            yield LoadError(str(folder), None, "symlink loop: folder already visited")
            continue
        seen.add((st.st_dev, st.st_ino))
        try:
            entries = _listing(folder)
        except OSError as exc:
            yield LoadError(str(folder), None, _os_message(exc))
            continue
        subdirs = []
        globs = bool(walk.include or walk.exclude)  # the path below the source is needed only for them
        for entry in entries:
            name = entry.name
            if name.startswith(".") and not walk.hidden:
                continue  # (the rule of enters/takes, told before a stat)
            is_dir = _is_dir(entry)
            if not is_dir and not name.lower().endswith(_WALKED_SUFFIXES):
                continue
            relative = os.path.relpath(entry.path, base).replace(os.sep, "/") if globs else name
            if not (walk.enters(relative) if is_dir else walk.takes(relative)):
                continue
            if not walk.follow_symlinks and entry.is_symlink():
                yield _link_note(entry.path)
                continue
            if is_dir:
                if not (skipped and os.path.realpath(entry.path) in skipped):
                    subdirs.append(Path(entry.path))
                continue
            yield from _plan_found(entry.path, max_bytes, chunk_bytes, entry)
        stack.extend(reversed(subdirs))


def _listing(folder: Path, tries: int = 4) -> list[os.DirEntry]:
    """The entries of ``folder``, sorted by name.

    A listing taken while another process renames files over entries of the same folder (a
    concurrent ``--in-place`` run) can miss an entry that existed all along (seen on ext4: 30 of
    1,000 files). The folder is listed again until two listings agree, keeping every name seen.
    """
    found = {entry.name: entry for entry in os.scandir(folder)}
    for _ in range(tries - 1):
        again = {entry.name: entry for entry in os.scandir(folder)}
        if again.keys() == found.keys():
            break
        found = {**again, **found}
    return [found[name] for name in sorted(found)]


def _plan_found(path: str, max_bytes: int, chunk_bytes: int, entry: os.DirEntry | None = None) -> Iterator[Task]:
    """A file a folder walk or a glob found: read only regular files. Opening a FIFO would wait
    for a writer forever (a named path is read whatever it is: ``<(cmd)`` is a pipe). ``entry``:
    the walk's entry for it, whose ``stat`` (one per file) the task keeps too."""
    try:
        st: os.stat_result | None = entry.stat() if entry is not None else os.stat(path)
    except OSError:
        st = None  # a broken link: _plan_file says so
    if st is not None and not stat.S_ISREG(st.st_mode):
        yield LoadError(path, None, "not a regular file (a FIFO, socket or device): skipped")
        return
    yield from _plan_file(path, max_bytes, chunk_bytes, st)


def _is_dir(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir()
    except OSError:
        return False


def _plan_file(path: str, max_bytes: int, chunk_bytes: int, st: os.stat_result | None = None) -> Iterator[Task]:
    """The tasks of one file (``st``: its ``stat`` if the caller has it)."""
    jsonl = is_jsonl(path)
    try:
        if st is None:
            st = os.stat(path)
        size = st.st_size
        identity = (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
        mode = stat.S_IMODE(st.st_mode)
        if not jsonl:
            # Not opened here: the task reads it whole (and says so if it cannot), so a small file
            # costs one open, not two.
            if size > max_bytes:
                yield LoadError(path, None, f"file is {size} bytes, over the limit of {max_bytes} {MAX_BYTES_HINT}")
                return
            yield FileTask(path, False, max_bytes=max_bytes, identity=identity, mode=mode)
            return
        with open(path, "rb") as handle:
            for task in _split(path, handle, size, max_bytes, chunk_bytes):
                yield attrs.evolve(task, identity=identity, mode=mode)
    except OSError as exc:
        yield LoadError(path, None, _os_message(exc))


def _split(path: str, handle: IO[bytes], size: int, max_bytes: int, chunk_bytes: int) -> Iterator[FileTask]:
    """Cut a JSONL file into newline-aligned byte ranges of about ``chunk_bytes``."""
    start = 0
    while start < size:
        end = start + chunk_bytes
        if end >= size:
            yield FileTask(path, True, start, None, max_bytes)
            return
        handle.seek(end)
        while True:
            block = handle.read(65536)
            if not block:
                end = size
                break
            newline = block.find(b"\n")
            if newline >= 0:
                end += newline + 1
                break
            end += len(block)
        yield FileTask(path, True, start, end if end < size else None, max_bytes)
        start = end


def _os_message(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if isinstance(exc, FileNotFoundError):
        return "no such file (broken symlink?)"
    return f"cannot read: {exc.strerror or exc}"


def _plan_stdin(max_bytes: int, batch: int = 512) -> Iterator[Task]:
    """Stdin is read as the same bytes in a file would be: JSONL (line by line) or one JSON document.

    Stdin has no name to tell, so its lines do: it is JSONL when its first non-blank line is a whole
    JSON value, or, when that line is not, when a later line is a whole JSON object written from
    its first column and the whole is no JSON document (JSONL with a bad first line; a pretty-printed
    document indents what it nests, and one written with ``indent=0`` parses whole).
    Leading blank lines count in the line numbers, as in a file.
    """
    stream = sys.stdin.buffer
    head: list[bytes] = []
    for raw in stream:
        head.append(raw)
        if not raw.isspace():
            break
    if not head or head[-1].isspace() or (not _is_whole(head[-1].removeprefix(_BOM))
                                          and not _find_jsonl_line(stream, head, max_bytes)):
        yield InlineTask("-", False, 1, (b"".join(head) + stream.read(),), max_bytes)
        return
    line = 1
    payloads = head
    for raw in stream:
        payloads.append(raw)
        if len(payloads) >= batch:
            yield InlineTask("-", True, line, tuple(payloads), max_bytes)
            line += len(payloads)
            payloads = []
    if payloads:
        yield InlineTask("-", True, line, tuple(payloads), max_bytes)


def _is_whole(line: bytes) -> bool:
    """True when the line holds one whole JSON value."""
    try:
        orjson.loads(line)
    except orjson.JSONDecodeError:
        return False
    return True


def _find_jsonl_line(stream: IO[bytes], head: list[bytes], max_bytes: int) -> bool:
    """Read lines onto ``head`` to the end (or past ``max_bytes``); True when they are JSONL: a later
    line is a whole JSON object that starts a line, and all of it is not one JSON document
    (``json.dumps(indent=0)`` writes nested objects from the first column too; a list of records, one a
    line, is one document as well, as in a file). False: one document (or one too big to read)."""
    size = sum(len(raw) for raw in head)
    found = False
    for raw in stream:
        head.append(raw)
        if not found and raw.startswith(b"{") and _is_whole(raw):
            found = True
        size += len(raw)
        if size > max_bytes:
            return found  # too big to be one document
    if not found:
        return False
    data = b"".join(head).removeprefix(_BOM)
    return not _is_whole(data) and loose(data) is None


@attrs.define
class Span:
    """Filled by :func:`iter_task`: how many lines a JSONL task spanned."""

    lines: int = 0


def iter_task(task: Task, span: Span | None = None, exact: bool = False, raw: bool = False,
              unique: bool = False) -> Iterator[Item]:
    """Read one task and yield a parsed record or a LoadError for each document in it.

    Line numbers of a :class:`FileTask` are relative to the task's first line; ``span.lines`` tells
    how many lines it spanned, so callers (:func:`load`, the bulk runner) keep absolute numbers.
    ``exact``, ``unique``: see :func:`parse`. ``raw``: yield each document unparsed (:attr:`Loaded.raw`).
    """
    fetch = getattr(task, "fetch", None)
    if fetch is not None:  # an object in storage (procrecord.bulk.storage.ObjectTask): read it here
        task = fetch()
    if isinstance(task, (LoadError, Note)):
        yield task
    elif isinstance(task, StreamTask):
        yield from _iter_stream(task, span if span is not None else Span(), exact, raw, unique)
    elif isinstance(task, InlineTask):
        if span is not None and task.jsonl:
            span.lines = len(task.payloads)
        for offset, payload in enumerate(task.payloads):
            line = task.first_line + offset if task.jsonl else None
            if task.jsonl and not payload.strip():
                continue
            if len(payload) > task.max_bytes:
                yield LoadError(task.source, line, f"document is {len(payload)} bytes, over the limit of {task.max_bytes} {MAX_BYTES_HINT}")
                continue
            yield _raw(payload, task.source, line, task.jsonl) if raw else parse(payload, task.source, line, task.jsonl, exact, unique)
    elif not task.jsonl:
        try:
            data = read_whole(task.path, task.max_bytes + 1, None if task.identity is None else task.identity[2])
        except OSError as exc:
            yield LoadError(task.path, None, _os_message(exc))
            return
        if len(data) > task.max_bytes:
            yield LoadError(task.path, None, f"file is over the limit of {task.max_bytes} bytes {MAX_BYTES_HINT}")
            return
        yield _raw(data, task.path, None, False) if raw else parse(data, task.path, None, exact=exact, unique=unique)
    else:
        yield from _iter_jsonl(task, span if span is not None else Span(), exact, raw, unique)


def read_whole(path: str, limit: int, size: int | None = None) -> bytes:
    """The first ``limit`` bytes of the file at ``path`` (all of it when it is shorter).

    ``size``: what the file's ``stat`` said when it was planned. One read of that size plus one
    byte, and one that finds the end, instead of a buffered file object whose read of ``limit``
    bytes first reserves that much memory (tens of MB for each small file).
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0))
    try:
        pieces = []
        total = 0
        want = min(limit, size + 1 if size is not None else _LINE_BUFFER)
        while total < limit:
            piece = os.read(fd, min(want, limit - total))
            if not piece:
                break
            pieces.append(piece)
            total += len(piece)
            if total == size and len(piece) < want:
                # Exactly the planned size, and a short read: the end of a regular file (the
                # kernel returns less than asked only there), so no read that finds nothing.
                break
            # A short read of another length is the end of a file that changed since it was
            # planned: one small read confirms it. A full one means it grew (or a pipe): read on.
            want = 4096 if len(piece) < want else _LINE_BUFFER
    finally:
        os.close(fd)
    return pieces[0] if len(pieces) == 1 else b"".join(pieces)


def _raw(data: bytes, source: str, line: int | None, jsonl: bool) -> Item:
    if not data or data.isspace():  # not strip(): no copy of a big document
        return LoadError(source, line, "empty document" if line else "empty file")
    return Loaded(source, line, {}, jsonl, data)


def _iter_jsonl(task: FileTask, span: Span, exact: bool = False, raw: bool = False, unique: bool = False) -> Iterator[Item]:
    try:
        # Opened apart from the with: only open's OSError is a LoadError. A buffer bigger than the
        # default 8 KiB: records are a few KB, and most would otherwise cost a read() of their own.
        handle = open(task.path, "rb", buffering=_LINE_BUFFER)  # noqa: SIM115
    except OSError as exc:
        yield LoadError(task.path, None, _os_message(exc))
        return
    with handle:
        handle.seek(task.start)
        remaining = None if task.end is None else task.end - task.start
        yield from _iter_lines(handle, task.path, remaining, task.max_bytes, span, exact, raw, unique)


def _iter_stream(task: StreamTask, span: Span, exact: bool, raw: bool, unique: bool) -> Iterator[Item]:
    """The lines of a stream; a read that fails half-way is one LoadError (the lines before it stand)."""
    with task.stream as handle:
        try:
            yield from _iter_lines(handle, task.source, task.remaining, task.max_bytes, span, exact, raw, unique)
        except OSError as exc:
            yield LoadError(task.source, None, f"cannot read: {exc}")


def _iter_lines(handle: IO[bytes], source: str, remaining: int | None, limit: int, span: Span,
                exact: bool, raw: bool, unique: bool) -> Iterator[Item]:
    while remaining is None or remaining > 0:
        line = handle.readline(limit + 1)
        if not line:
            break
        span.lines += 1
        if remaining is not None:
            remaining -= len(line)
        if len(line) > limit and not line.endswith(b"\n"):
            skipped = skip_line(handle)
            if remaining is not None:
                remaining -= skipped
            yield LoadError(source, span.lines, f"line is over the limit of {limit} bytes {MAX_BYTES_HINT}")
            continue
        if line.isspace():  # not strip(): no copy of every line (an empty line is b"\n" here)
            continue
        yield _raw(line, source, span.lines, True) if raw else parse(line, source, span.lines, True, exact, unique)


def skip_line(handle: IO[bytes]) -> int:
    """Read past the end of the current line (in bounded pieces); return the bytes skipped."""
    skipped = 0
    while True:
        block = handle.readline(1 << 20)
        skipped += len(block)
        if not block or block.endswith(b"\n"):
            return skipped


class LineTracker:
    """Turns chunk-relative JSONL line numbers into absolute ones, task after task, in order."""

    def __init__(self) -> None:
        self._path: str | None = None
        self._base = 0

    def base_for(self, task: Task) -> int:
        """Line offset to add to the items of ``task`` (call in task order)."""
        where = _range_of(task)
        if where is None:
            return 0
        if where[1] == 0 or where[0] != self._path:
            self._path, self._base = where[0], 0
        return self._base

    def advance(self, task: Task, lines: int) -> None:
        """Record that ``task`` spanned ``lines`` lines."""
        if _range_of(task) is not None:
            self._base += lines


def _range_of(task: Any) -> tuple[str, int] | None:
    """(source, first byte) of a task that reads part of a JSONL file or object, else None."""
    if isinstance(task, FileTask):
        return (task.path, task.start) if task.jsonl else None
    url = getattr(task, "url", None)  # an object in storage (procrecord.bulk.storage.ObjectTask)
    return (url, task.start) if url is not None and task.jsonl else None


def shift(item: Any, offset: int) -> Any:
    """Return ``item`` with its line number moved by ``offset``."""
    if not offset or item.line is None:
        return item
    return item._replace(line=item.line + offset)


def load(sources: list[str], max_bytes: int = DEFAULT_MAX_BYTES, exact: bool = False,
         walk: Walk | None = None, unique: bool = False) -> Iterator[Loaded | LoadError]:
    """Yield every record (or LoadError) from ``sources``, in order, with absolute line numbers
    (``exact``, ``unique``: see :func:`parse`; ``walk``: see :class:`Walk`); symlinks a walk left alone are not yielded."""
    tracker = LineTracker()
    for task in plan(sources, max_bytes, walk=walk):
        base = tracker.base_for(task)
        span = Span()
        for item in iter_task(task, span, exact, unique=unique):
            if not isinstance(item, Note):  # a symlink a walk left alone
                yield shift(item, base)
        tracker.advance(task, span.lines)
