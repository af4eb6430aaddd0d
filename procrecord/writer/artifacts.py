"""Inputs and outputs of a job: what a path named, how big it was, and its SHA-256.

A file's digest is its SHA-256. A folder's digest is the SHA-256 of the lines
``"<file digest>  <relative path>\\n"`` of its regular files (symlinks left out, as ``find -type f``
does) sorted by relative path (``/``-separated, UTF-8 byte order) — the same lines ``sha256sum``
prints, so it can be checked by hand. A glob becomes one artifact per match. A URI (``s3://...``)
is kept as given and never read. Above ``max_digest_bytes`` only size and mtime are kept
(``digest_skipped`` says why) unless a digest is asked for. Inputs are hashed by a background thread as soon as they are added, so the job is not
stalled; outputs are described when the recorder stops.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from typing import Any

from procrecord.collectors.interface import Collector
from procrecord.writer.threads import block_external_signals, start_quiet

#: Files (or folders, in total) larger than this keep only size and mtime unless a digest is asked for.
DEFAULT_MAX_DIGEST_BYTES = 1 << 30
_BUFFER = 1 << 20
_SMALL = 1 << 16
_GLOB_CHARS = frozenset("*?[")


def sha256_file(path: str) -> str:
    """The SHA-256 of a file, streamed in 1 MiB blocks (OpenSSL's hash; the GIL is released while hashing)."""
    import hashlib  # loading OpenSSL costs milliseconds: only when something is hashed

    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as handle:
        # Most artifacts are small: read them in one go without allocating (and zeroing) 1 MiB.
        first = handle.read(_SMALL)
        digest.update(first)
        if len(first) < _SMALL:
            return digest.hexdigest()
        buffer = bytearray(_BUFFER)
        view = memoryview(buffer)
        while True:
            size = handle.readinto(buffer)
            if not size:
                break
            digest.update(view[:size])
    return digest.hexdigest()


def folder_files(path: str) -> list[tuple[str, str, int]]:
    """``(relative posix path, full path, size)`` of the regular files below ``path``, sorted by relative path.

    The files ``find . -type f`` lists (the README's check command): symlinks are neither followed nor
    counted, to folders or to files, so a link out of the folder, a dangling link or a loop of links
    changes nothing and is never read.
    """
    found: list[tuple[str, str, int]] = []
    todo = [(path, "")]
    while todo:
        folder, prefix = todo.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            rel = prefix + entry.name
            try:
                if entry.is_dir(follow_symlinks=False):
                    todo.append((entry.path, rel + "/"))
                elif entry.is_file(follow_symlinks=False):  # d_type answers: no stat
                    found.append((rel, entry.path, entry.stat().st_size))
            except OSError:
                continue
    found.sort(key=lambda item: item[0].encode("utf-8", "surrogateescape"))
    return found


def folder_digest(entries: list[tuple[str, str]]) -> str:
    """The folder digest from ``(relative path, file digest)`` pairs sorted by path."""
    import hashlib

    digest = hashlib.sha256()
    for rel, file_digest in entries:
        digest.update(f"{file_digest}  {rel}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def is_uri(spec: str) -> bool:
    """True for ``scheme://...`` other than ``file://`` (those are never read)."""
    scheme, sep, _ = spec.partition("://")
    return bool(sep) and scheme.isidentifier() and scheme.lower() != "file" and len(scheme) > 1


def expand(spec: str) -> list[str]:
    """The paths a spec names: a glob's sorted matches (itself when none match), else itself."""
    if is_uri(spec) or not (_GLOB_CHARS & set(spec)):
        return [spec]
    import glob

    matches = sorted(glob.glob(spec, recursive=True))
    return matches or [spec]


def describe(spec: str, role: str | None = None, *, digest: bool | None = None,
             max_digest_bytes: int | None = DEFAULT_MAX_DIGEST_BYTES, hashing: bool = True) -> dict[str, Any]:
    """The artifact a path or URI names now; ``hashing=False`` gives size and mtime only (no reading)."""
    if spec.startswith("file://"):
        spec = spec[len("file://"):]
    if is_uri(spec):
        return _clean({"uri": spec, "role": role, "kind": "uri"})
    uri = os.path.abspath(spec)
    out: dict[str, Any] = {"uri": uri, "role": role}
    try:
        info = os.stat(uri)
    except OSError:
        out["kind"] = "missing"
        return _clean(out)
    out["mtime"] = iso_from_timestamp(info.st_mtime)
    limit = None if digest else max_digest_bytes
    if stat.S_ISDIR(info.st_mode):
        files = folder_files(uri)
        out.update(kind="folder", size_bytes=sum(size for _, _, size in files), file_count=len(files))
        if digest is False:
            out["digest_skipped"] = "not asked for"
        elif limit is not None and out["size_bytes"] > limit:
            out["digest_skipped"] = f"larger than max_digest_bytes ({limit})"
        elif hashing:
            try:
                out["sha256"] = folder_digest([(rel, sha256_file(full)) for rel, full, _ in files])
            except OSError as exc:
                out["digest_skipped"] = f"unreadable: {exc.strerror or exc}"
        return _clean(out)
    out.update(kind="file", size_bytes=info.st_size, media_type=_media_type(uri))
    if digest is False:
        out["digest_skipped"] = "not asked for"
    elif limit is not None and info.st_size > limit:
        out["digest_skipped"] = f"larger than max_digest_bytes ({limit})"
    elif hashing:
        try:
            out["sha256"] = sha256_file(uri)
        except OSError as exc:
            out["digest_skipped"] = f"unreadable: {exc.strerror or exc}"
    return _clean(out)


def iso_from_timestamp(stamp: float) -> str:
    """A POSIX timestamp as RFC 3339 in local time with its UTC offset."""
    import datetime as dt

    return dt.datetime.fromtimestamp(stamp, dt.timezone.utc).astimezone().isoformat(timespec="microseconds")


_MIME: dict[str, str] = {}


def _media_type(path: str) -> str | None:
    # Python's own table only: the system's mime.types differ between machines (one maps .pt, a
    # PyTorch checkpoint, to a SNES page table), and a record must not depend on where it was written.
    if not _MIME:
        import mimetypes

        _MIME.update(mimetypes.MimeTypes().types_map[True])
    ext = os.path.splitext(path)[1].lower()
    if ext == ".gz":
        return "application/gzip"
    return _MIME.get(ext)


def _clean(artifact: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in artifact.items() if v is not None}


class Artifacts:
    """The artifacts of one direction (inputs or outputs), described in a background thread or at stop."""

    def __init__(self, *, background: bool, max_digest_bytes: int | None = DEFAULT_MAX_DIGEST_BYTES) -> None:
        self.background = background
        self.max_digest_bytes = max_digest_bytes
        self._lock = threading.Lock()
        self._specs: list[tuple[str, str | None, bool | None]] = []
        self._done: dict[int, list[dict[str, Any]]] = {}
        self._claimed: set[int] = set()
        self._finished = threading.Condition(self._lock)

    def __len__(self) -> int:
        return len(self._specs)

    def add(self, path: str | os.PathLike[str], role: str | None = None, digest: bool | None = None) -> None:
        """Name an artifact; an input starts hashing in the background at once. A relative path (or glob)
        is taken against the working folder of this call: a job that changes folder later (Hydra's run
        folders) still names the file it added."""
        spec = os.fspath(path)
        if spec.startswith("file://"):
            spec = spec[len("file://"):]
        if not is_uri(spec):
            spec = os.path.abspath(spec)
        with self._lock:
            self._specs.append((spec, role, digest))
            index = len(self._specs) - 1
        if self.background:
            _submit(self, index)

    def _claim(self, index: int) -> bool:
        """True for the one caller that gets to describe entry ``index`` (the worker or ``final``)."""
        with self._lock:
            if index in self._claimed:
                return False
            self._claimed.add(index)
            return True

    def work(self, index: int) -> None:
        """Describe entry ``index`` unless someone already does (called by the hashing thread)."""
        if self._claim(index):
            self._store(index, self._safely(index))

    def _safely(self, index: int) -> list[dict[str, Any]]:
        # Whatever goes wrong, the entry is stored: final() waits for it, and the job must not hang.
        try:
            return self._describe(index, hashing=True)
        except Exception as exc:  # noqa: BLE001 - a failing artifact never fails the job
            spec, role, _ = self._specs[index]
            return [_clean({"uri": spec, "role": role, "digest_skipped": f"failed: {type(exc).__name__}: {exc}"})]

    def _store(self, index: int, described: list[dict[str, Any]]) -> None:
        with self._lock:
            self._done[index] = described
            self._finished.notify_all()

    def _describe(self, index: int, hashing: bool) -> list[dict[str, Any]]:
        spec, role, digest = self._specs[index]
        return [describe(path, role, digest=digest, max_digest_bytes=self.max_digest_bytes, hashing=hashing)
                for path in expand(spec)]

    def current(self) -> list[dict[str, Any]]:
        """What is known now, without waiting: finished entries in full, pending ones without a digest."""
        out: list[dict[str, Any]] = []
        for index in range(len(self._specs)):
            with self._lock:
                done = self._done.get(index)
            out.extend(done if done is not None else self._describe(index, hashing=False))
        return out

    def final(self) -> list[dict[str, Any]]:
        """Every artifact in full: what the worker has not started is described here, the rest awaited.

        Describing the remaining entries in the calling thread, rather than waiting for the worker to
        reach them, keeps ``stop()`` from handing work back and forth between threads (each hand-off
        costs a wake-up, milliseconds on a busy machine).
        """
        for index in range(len(self._specs)):
            if self._claim(index):
                self._store(index, self._safely(index))
        out: list[dict[str, Any]] = []
        with self._lock:
            for index in range(len(self._specs)):
                while index not in self._done:
                    self._finished.wait()
                out.extend(self._done[index])
        return out

    def close(self) -> None:
        """Nothing more will be asked: entries the hashing thread has not reached are skipped by it."""
        with self._lock:
            self._claimed.update(range(len(self._specs)))


# One hashing thread per process, shared by every recorder and started on first use: starting a
# thread waits until the system schedules it (milliseconds on a busy machine), so it is paid once.
_TASKS: queue.SimpleQueue[tuple[Artifacts, int]] = queue.SimpleQueue()
_WORKER: list[tuple[int, threading.Thread]] = []
_WORKER_LOCK = threading.Lock()


def _submit(artifacts: Artifacts, index: int) -> None:
    with _WORKER_LOCK:
        # a forked child inherits the queue but not the thread: it starts its own
        if not _WORKER or _WORKER[0][0] != os.getpid() or not _WORKER[0][1].is_alive():
            _WORKER[:] = [(os.getpid(), threading.Thread(target=_hash_forever, name="procrecord-artifacts", daemon=True))]
            start_quiet(_WORKER[0][1])
    _TASKS.put((artifacts, index))


def _hash_forever() -> None:
    block_external_signals()
    while True:
        artifacts, index = _TASKS.get()
        artifacts.work(index)


class ArtifactsCollector(Collector):
    """Fills ``inputs`` (hashed in the background, complete at stop) or ``outputs`` (described at stop)."""

    def __init__(self, section: str, max_digest_bytes: int | None = DEFAULT_MAX_DIGEST_BYTES) -> None:
        self.name = self.section = section
        self.artifacts = Artifacts(background=section == "inputs", max_digest_bytes=max_digest_bytes)

    def collect(self, state: Any) -> Any:
        return self.update(state)

    def update(self, state: Any) -> Any:
        if getattr(state, "stopping", False):
            return self.artifacts.final() or None
        if self.section == "outputs":
            return None  # an output is what the job leaves behind: described once it has stopped
        return self.artifacts.current() or None

    def close(self) -> None:
        self.artifacts.close()
