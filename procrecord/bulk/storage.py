"""Records in object storage: fsspec URLs (``s3://``, ``memory://``, ``file://``, ...) as sources and outputs.

Imported by the loader only when a source is a URL, and it imports fsspec only when it opens one:
local runs neither pay for nor need fsspec. Each source is listed once; each object (or range of a
big JSONL object) becomes an :class:`ObjectTask`, read by whichever process runs it (see
:mod:`procrecord.bulk.objectio`); :class:`~procrecord.bulk.objectsink.ObjectSink` writes each output
object in one ``PUT``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import posixpath
import threading
from typing import TYPE_CHECKING, Any, Iterator

import attrs

from procrecord.bulk.globs import static_prefix
from procrecord.bulk.limits import DEFAULT_MAX_BYTES
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


#: Options of this thread only (see :func:`using`), over :data:`_OPTIONS`.
_THREAD = threading.local()


@contextlib.contextmanager
def using(options: dict[str, Any]) -> Iterator[None]:
    """Use ``options`` for every URL in this thread only, until the block ends: a Dask worker runs tasks
    of several runs, each with its own options, in threads of one process (set for the process, one
    task's options would be another's between its read and its write, sending an output to another store)."""
    previous = getattr(_THREAD, "options", None)
    _THREAD.options = dict(options)
    try:
        yield
    finally:
        _THREAD.options = previous


def _active() -> dict[str, Any]:
    """The storage options of this thread: those of :func:`using`, else the run's."""
    found: dict[str, Any] | None = getattr(_THREAD, "options", None)
    return _OPTIONS if found is None else found


def options() -> dict[str, Any]:
    """The storage options set for this run (this thread's, in a :func:`using` block)."""
    return dict(_active())


def filesystem(url: str, storage_options: dict[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem of ``url`` and the path in it."""
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ProcrecordError("reading URLs needs fsspec: pip install 'procrecord[s3]'") from exc
    given = _active() if storage_options is None else storage_options
    opts = with_defaults(url, given)
    session = _probed_session(url, given)
    if session is not None:
        opts = {**opts, "session": session}
    try:
        found: tuple[Any, str] = url_to_fs(url, **opts)
        return found
    except ImportError as exc:
        raise ProcrecordError(f"{url}: no filesystem installed for this URL ({exc})") from exc
    except ValueError as exc:
        raise ProcrecordError(f"{url}: {exc}") from exc


#: botocore settings of procrecord's S3 clients, under what ``--storage-option config_kwargs=...``
#: gives (a key given there wins). botocore's own (60 s to connect, 60 s per read, up to 5 attempts)
#: times s3fs's 5 tries of a timed-out request took 7 minutes per request to an endpoint that
#: accepts connections and never answers; with these it fails in about a minute. ``read_timeout`` is
#: per socket read, not per request: a big object's transfer takes as long as it takes while bytes
#: keep coming. One attempt per request at botocore's level: s3fs tries each request 5 times itself
#: (timeouts, connection errors, ``SlowDown``), with back-off.
S3_CONFIG_DEFAULTS: dict[str, Any] = {"connect_timeout": 10, "read_timeout": 10,
                                      "retries": {"mode": "standard", "total_max_attempts": 1}}


#: The S3 session that :func:`check_options` made with the run's options, and those options. A session
#: (aiobotocore's) holds what botocore loaded to make a client: a client of a session already used costs
#: ~6 ms against ~90 ms for one of a new session, most of the time the fetcher spends before its first
#: request. The session is what s3fs would make from the same options (``AioSession(**rest)``), so
#: filesystems of this process, and of the fetcher forked after the check, are made with it. It never
#: travels: options sent to Dask workers are the user's, without it.
_PROBED: list[tuple[dict[str, Any], Any]] = []


def _probed_session(url: str, options: dict[str, Any]) -> Any:
    """The session :func:`check_options` made for these ``options`` of an ``s3://`` URL, else None."""
    if not _PROBED or "session" in options or not url.startswith(("s3://", "s3a://")):
        return None
    probed, session = _PROBED[0]
    return session if probed == options else None


def with_defaults(url: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` for ``url`` with :data:`S3_CONFIG_DEFAULTS` merged under the user's
    ``config_kwargs`` (an ``s3://`` URL only; unless ``client_kwargs`` carries a botocore ``config``
    of the user's own, which then decides; a ``config_kwargs`` that is no mapping is left for
    :func:`check_options` to refuse)."""
    if not url.startswith(("s3://", "s3a://")):
        return options
    given = options.get("config_kwargs")
    client = options.get("client_kwargs")
    if (given is not None and not isinstance(given, dict)) or (isinstance(client, dict) and "config" in client):
        return options
    return {**options, "config_kwargs": {**S3_CONFIG_DEFAULTS, **(given or {})}}


def check_options(urls: list[str]) -> None:
    """Raise :class:`~procrecord.errors.StorageOptionError` for a storage option that the filesystem
    of these URLs does not take, or whose value it cannot use, naming it.

    A name is checked against what the filesystems' classes take (:func:`accepted_options`), for every
    protocol: most pass the keywords they do not name to fsspec's base class, which ignores them.
    Then the filesystem of each scheme is made here once, apart (no instance kept, no event-loop
    thread started: a fetcher is forked only by a process with no other thread), with its session
    where it has one, made on a loop of its own and closed again (no request is sent): a value it
    cannot use (``client_kwargs`` that is not a mapping) would fail every source the same way. A
    failure is the options' when the same filesystem is made without them; the option without which
    it is made is named (else those that fail alone). Any other failure (a missing bucket, no credentials) is left to the run, which
    reports it per source. An S3 session made with the options is kept for the run's filesystems (see
    :data:`_PROBED`): the check costs the run no second session.
    """
    import re

    from procrecord.errors import StorageOptionError

    if not _OPTIONS:
        return
    _check_names(urls)
    schemes: set[str] = set()
    for url in urls:
        scheme = url.split("://", 1)[0]
        if scheme in schemes:
            continue
        schemes.add(scheme)
        try:
            made = _probe(url, _OPTIONS)
            session = getattr(made, "session", None)
            if scheme in ("s3", "s3a") and session is not None and "session" not in _OPTIONS:
                _PROBED[:] = [(dict(_OPTIONS), session)]
            continue
        except TypeError as exc:
            match = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
            if match is not None and match.group(1) in _OPTIONS:
                raise StorageOptionError(f"--storage-option {match.group(1)}: not an option of {scheme}:// storage "
                                         f"({_short(exc)})") from exc
            failure: Exception = exc
        except Exception as exc:  # noqa: BLE001 - the options' fault only if it works without them
            failure = exc
        if _probe_fails(url, {}) is not None:
            continue  # not the options: each source's finding in the run
        # The option without which it works (key and secret work only together), else one that fails alone.
        culprits = [key for key in sorted(_OPTIONS)
                    if _probe_fails(url, {k: v for k, v in _OPTIONS.items() if k != key}) is None] or [
                    key for key in sorted(_OPTIONS) if _probe_fails(url, {key: _OPTIONS[key]}) is not None]
        names = ", ".join(culprits or sorted(_OPTIONS))
        what = "this value" if len(culprits) == 1 else "these values" if culprits else "these values together"
        raise StorageOptionError(f"--storage-option {names}: {scheme}:// storage cannot use {what} "
                                 f"({type(failure).__name__}: {_short(failure)})") from failure


#: Filesystems that pass the keywords they do not name on to another callable, which names those it
#: takes (dotted paths, imported only to read their signatures).
_PASSED_ON = {
    "s3fs.core.S3FileSystem": "aiobotocore.session.AioSession",  # its session
    "fsspec.implementations.http.HTTPFileSystem": "aiohttp.ClientSession._request",  # each request
    "fsspec.implementations.sftp.SFTPFileSystem": "paramiko.SSHClient.connect",  # its connection
}
#: What every fsspec filesystem takes (its instance and listings caches: fsspec's AbstractFileSystem).
_BASE_OPTIONS = frozenset({"skip_instance_cache", "use_listings_cache", "listings_expiry_time", "max_paths"})


def accepted_options(cls: type) -> frozenset[str] | None:
    """The option names the filesystem class ``cls`` takes: those named by the ``__init__`` of it and
    its bases, and by what it passes the rest on to (:data:`_PASSED_ON`); None: it takes any."""
    import inspect

    names = set(_BASE_OPTIONS)
    receivers = []
    for klass in cls.__mro__:
        if klass is object:
            continue
        receiver = _PASSED_ON.get(f"{klass.__module__}.{klass.__qualname__}")
        if receiver is not None:
            receivers.append(receiver)
        if "__init__" in vars(klass):
            receivers.append(vars(klass)["__init__"])
    for receiver in receivers:
        target = _resolve(receiver) if isinstance(receiver, str) else receiver
        try:
            parameters = list(inspect.signature(target).parameters.values())[1:]  # not self
        except (TypeError, ValueError):
            return None
        if isinstance(receiver, str) and any(p.kind is p.VAR_KEYWORD for p in parameters):
            return None  # passed on to a callable that takes anything
        names.update(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    return frozenset(names)


def _resolve(dotted: str) -> Any:
    """The object at ``dotted`` (``module.Class.method``), or a callable taking anything if it cannot be imported."""
    import importlib

    parts = dotted.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        try:
            found: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        try:
            for name in parts[cut:]:
                found = getattr(found, name)
        except AttributeError:
            break
        return found
    return lambda self, **anything: None


def _check_names(urls: list[str]) -> None:
    """Raise StorageOptionError for an option that the filesystem of none of ``urls`` takes (see
    :func:`accepted_options`; one set of options goes to every URL, so with ``s3://`` sources and a
    ``file://`` output an s3 option is fine: the local filesystem ignores it)."""
    import difflib

    from procrecord.errors import StorageOptionError

    known: set[str] = set()
    names: list[str] = []
    for url in urls:
        scheme = url.split("://", 1)[0]
        try:
            from fsspec import get_filesystem_class

            cls = get_filesystem_class(scheme)
        except (ImportError, ValueError):
            return  # the run says why it cannot read the URL
        taken = accepted_options(cls)
        if "::" in url or taken is None:
            return  # a chained URL (its options go to several filesystems), or a store that takes any
        known.update(taken)
        if f"{scheme}://" not in names:
            names.append(f"{scheme}://")
    for key in sorted(_OPTIONS):
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known), n=1)
            hint = f"did you mean {close[0]}?" if close else "see its filesystem's options in fsspec"
            raise StorageOptionError(f"--storage-option {key}: not an option of {' or '.join(names)} storage ({hint})")


def _probe_fails(url: str, options: dict[str, Any]) -> Exception | None:
    """What making the filesystem of ``url`` with ``options`` raised (None: nothing)."""
    try:
        _probe(url, options)
    except Exception as exc:  # noqa: BLE001 - the caller judges it
        return exc
    return None


def _probe(url: str, options: dict[str, Any]) -> Any:
    """Make the filesystem of ``url`` with ``options``, and its session if it has one; the filesystem."""
    import asyncio

    from fsspec.core import url_to_fs

    fs, _ = url_to_fs(url, **{**options, "skip_instance_cache": True, "asynchronous": True})
    if not hasattr(fs, "set_session"):
        return fs

    async def session() -> None:
        await fs.set_session()
        creator = getattr(fs, "_s3creator", None)  # s3fs: the client context it opened
        if creator is not None:
            await creator.__aexit__(None, None, None)

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop runs in this thread (the CLI): one of its own, here
        asyncio.run(session())
        return fs
    # A loop runs in this thread (a notebook's cell, under Jupyter's): the session is made on a loop
    # of its own in a short-lived thread (asyncio.run() cannot run inside a running loop).
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1, thread_name_prefix="procrecord-probe") as pool:
        pool.submit(asyncio.run, session()).result()
    return fs


def describe(exc: BaseException) -> str:
    """One line for a storage error (missing bucket or object, access denied, ...)."""
    from procrecord.bulk.fetcher import RemoteError

    if isinstance(exc, RemoteError):
        return str(exc)  # described where it happened, in the fetcher
    if isinstance(exc, PermissionError):
        return f"access denied ({_short(exc)})"
    if isinstance(exc, FileNotFoundError):
        return f"no such object or bucket ({_short(exc)})"
    return f"storage error: {type(exc).__name__}: {_short(exc)}"


def _short(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


def identity(info: dict[str, Any]) -> tuple[str, int]:
    """What tells one version of an object from another: its ETag (else mtime) and size.

    The same object gives the same identity however its details were got: a store may list a time
    as a number and give it as a datetime from ``info()`` (fsspec's memory store does, for
    ``created``), so times are compared as POSIX seconds. An ETag is kept as the store wrote it (an
    S3 PUT carries it back as ``If-Match``).
    """
    tag = info.get("ETag") or info.get("etag") or info.get("mtime") or info.get("LastModified") or info.get("created")
    return _stamp(tag), int(info.get("size") or 0)


def _stamp(value: Any) -> str:
    """A version tag as text: a datetime or a number of seconds as the same text for the same instant."""
    import datetime

    if isinstance(value, datetime.datetime):
        value = value.timestamp()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


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
            if self.jsonl and (self.start or self.end is not None or size is None
                               or not _read_whole(True, size, self.max_bytes)):
                return self._stream()
            ahead = objectio.lookup(self.ahead) if self.ahead else None
            if ahead is not None:
                data = ahead.take(self.url)
            else:
                fs, path = filesystem(self.url, dict(self.options))
                data = objectio.read_whole(fs, path)
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
_ROOTS: dict[tuple[str, str], str | None] = {}


def _options_key() -> str:
    """The storage options as a key (values may be JSON objects, ``client_kwargs={...}``: not hashable)."""
    return json.dumps(_active(), sort_keys=True, default=repr)


@attrs.frozen
class Survey:
    """What one listing of a URL source found (made where it was listed: here, or in a fetcher)."""

    #: The source's path in its filesystem.
    path: str
    #: The objects with their details, by path.
    entries: dict[str, Any]
    #: What the objects' paths are relative to (None: the source is one object).
    root: str | None
    #: Each object's URL, by path (when ``root`` is not None).
    urls: dict[str, str]
    #: This run's output folders in the source's filesystem (see :func:`_skipped_prefixes`).
    skipped: list[str]


def survey(source: str, options: dict[str, Any], skip: tuple[str, ...]) -> tuple[Survey, Any] | str:
    """List ``source`` once: its :class:`Survey` and filesystem, or the finding's text."""
    set_options(options)
    try:
        fs, path = filesystem(source)
    except ProcrecordError as exc:
        return str(exc)
    skipped = _skipped_prefixes(fs, skip)
    if any(path == s.rstrip("/") or path.startswith(s) for s in skipped):
        return "inside the output folder of this run: skipped"
    try:
        entries, root = _listing(fs, path)
    except (TypeError, AttributeError) as exc:
        if _active():  # a value the filesystem took when it was made, and cannot use: every source would fail
            raise _failed_on_first_use(source, exc) from exc
        return describe(exc)
    except Exception as exc:  # noqa: BLE001 - a missing bucket or denied listing is a finding, not a crash
        return describe(exc)
    if entries is None:
        return "no files match this pattern"
    urls = {} if root is None else {name: fs.unstrip_protocol(name) for name in entries}
    return Survey(path, entries, root, urls, skipped), fs


def _failed_on_first_use(source: str, exc: BaseException) -> ProcrecordError:
    """The usage error of a listing that failed as only a storage option's value makes it fail."""
    from procrecord.errors import StorageOptionError

    scheme = source.split("://", 1)[0]
    return StorageOptionError(f"--storage-option {', '.join(sorted(_active()))}: {scheme}:// storage failed on "
                              f"its first use with these options ({type(exc).__name__}: {_short(exc)}); "
                              "check their values")


def plan_url(source: str, max_bytes: int, walk: Any, chunk_bytes: int | None = None,
             skip: tuple[str, ...] = (), read_ahead: bool = True, fetchers: list[Any] | None = None) -> Iterator[Any]:
    """The tasks of one URL source: an object, a folder (prefix) searched for JSON/JSONL, or a glob.

    The source is listed once; sizes and ETags come from the listing. ``chunk_bytes``: big JSONL
    objects are cut into ranges of at least that size (None: never, one task per object). ``skip``:
    outputs of this run (URLs or paths), never read even when they lie under the source.
    ``read_ahead``: the tasks run in this process, which reads their objects ahead (else each task
    reads its own, where it runs). ``fetchers``: where the run keeps its
    :class:`~procrecord.bulk.fetcher.Fetcher` (listing and reading in a second process, where it can),
    started here on first use (None: it could not be started); the caller closes it.
    """
    from procrecord.bulk import fetcher, objectio
    from procrecord.bulk.loader import JSON_SUFFIXES, LoadError, is_jsonl

    opts = tuple(sorted(_active().items()))
    remote = None
    if read_ahead and fetchers is not None and fetcher.remote(source) and (fetchers or fetcher.forkable()):
        if not fetchers:
            fetchers.append(fetcher.start())  # None: it could not be started; not tried again
        remote = fetchers[0]
    found = remote.survey(source, dict(_active()), skip) if remote is not None else None
    fs = None
    if found is None:
        remote = None
        listed = survey(source, dict(_active()), skip)
        found, fs = listed if isinstance(listed, tuple) else (listed, None)
    if isinstance(found, str):
        yield LoadError(source, None, found)
        return
    root = found.root
    _ROOTS[(source, _options_key())] = root
    chosen = []
    for name in sorted(found.entries):
        if root is not None:
            # The rules of a local folder's walk, its folders included (the listing gives files only).
            if not name.lower().endswith(JSON_SUFFIXES) or not walk.selects(_names_below(name, root)):
                continue
            if any(name.startswith(s) for s in found.skipped):
                continue  # this run's own outputs
        chosen.append((source if root is None else found.urls[name], name, identity(found.entries[name])))
    ahead: Any = None
    if read_ahead and remote is not None:
        wanted = [(url, who[1]) for url, name, who in chosen if _read_whole(is_jsonl(name), who[1], max_bytes)]
        ahead = remote.stream([url for url, _ in wanted], [size for _, size in wanted], dict(_active()))
    if read_ahead and ahead is None:
        if fs is None:
            fs = filesystem(source)[0]
        ahead = objectio.ReadAhead(fs, [url for url, _, _ in chosen], [who[1] for _, _, who in chosen])
    try:
        for url, name, who in chosen:
            jsonl = is_jsonl(name)  # in any case, as a local walk reads them
            task = ObjectTask(url, jsonl, opts, max_bytes, who, ahead=0 if ahead is None else ahead.key)
            step = None if chunk_bytes is None else max(chunk_bytes, OBJECT_RANGE_BYTES)
            if not jsonl or step is None or who[1] <= step:
                yield task
                continue
            for start in range(0, who[1], step):
                yield attrs.evolve(task, start=start, end=start + step if start + step < who[1] else None)
    finally:
        if ahead is not None:
            ahead.close()


def _names_below(key: str, root: str) -> str:
    """The names of ``key`` below ``root``, as the walk's rules (hidden names, ``--include``,
    ``--exclude``) read them: a key is a literal string, so its empty, ``.`` and ``..`` segments are
    no names (nor hidden ones) and resolve nothing: ``runs/../a.json`` is the object ``a.json``
    below ``runs/``. (Such a key cannot be mirrored under ``-o``: the sink says so.)"""
    prefix = root.rstrip("/") + "/"
    rest = key[len(prefix):] if key.startswith(prefix) else posixpath.relpath(key, root)
    return "/".join(part for part in rest.split("/") if part not in ("", ".", ".."))


def _read_whole(jsonl: bool, size: int, max_bytes: int) -> bool:
    """True when :meth:`ObjectTask.fetch` reads an object of this kind and size whole (else it streams
    it in blocks, or refuses it unread)."""
    from procrecord.bulk import objectio

    return size <= objectio.AHEAD_MAX_OBJECT if jsonl else size <= max_bytes


def _listing(fs: Any, path: str) -> tuple[dict[str, Any] | None, str | None]:
    """One listing of ``path``: its objects with their details, and the root they are relative to
    (None when ``path`` is one object); entries None: a glob that matches nothing."""
    if any(m in path for m in _MAGIC):
        found = fs.glob(path, detail=True)
        # A key that holds ``[``, ``*`` or ``?``, named, is that object, as a local file is (its folder's
        # listing, just made for the pattern, answers this without a request where the store caches it).
        literal = None if path in found else _object_named(fs, path)
        if literal is not None:
            return {path: literal}, None
        entries = {p: i for p, i in found.items() if i.get("type") != "directory"}
        walked: list[str] = []
        for folder in sorted(p for p, i in found.items() if i.get("type") == "directory"):
            # a folder the pattern matches is walked, as a local glob's is: once, with what is below it
            # (``runs/**`` matches every folder: one listing of each outermost one, not one per folder)
            if walked and folder.startswith(walked[-1].rstrip("/") + "/"):
                continue
            walked.append(folder)
            entries.update((p, i) for p, i in fs.find(folder, detail=True).items() if i.get("type") != "directory")
        return (entries or None), static_prefix(path)
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


def _object_named(fs: Any, path: str) -> dict[str, Any] | None:
    """The details of the object whose key is ``path`` literally, None if there is none (a pattern)."""
    try:
        info: dict[str, Any] = fs.info(path)
    except Exception:  # noqa: BLE001 - no such object (or no access): the pattern is listed
        return None
    return info if info.get("type") != "directory" and "size" in info else None


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
        return static_prefix(path)
    key = (source, _options_key())
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

