"""Reading and writing objects in storage quickly and safely: concurrent read-ahead of small objects,
bounded streaming of big ones, and conditional writes where the store has them.

Object stores answer one request in milliseconds, not microseconds: reading objects one after the
other leaves the client waiting. :class:`ReadAhead` keeps a bounded window of the next objects of a
listing in flight (fsspec's async filesystems run them concurrently on their event loop), only in
the process that planned them. Big JSONL objects are read in blocks (:func:`open_stream`), never whole.
"""

from __future__ import annotations

import io
import itertools
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

#: Objects read ahead at most at once, and bytes in flight or waiting at most (the client's memory).
AHEAD_OBJECTS = 32
AHEAD_BYTES = 64 * 1024 * 1024
#: Objects bigger than this are not read ahead: they are streamed in blocks by the task itself.
AHEAD_MAX_OBJECT = 8 * 1024 * 1024
#: Bytes one read of a streamed object asks the store for (one ranged GET on S3).
BLOCK_BYTES = 4 * 1024 * 1024

_REGISTRY: dict[int, Any] = {}
_IDS = itertools.count(1)
_LOCK = threading.Lock()


def register(ahead: Any) -> int:
    """Remember a read-ahead of this process (anything with ``pid`` and ``take(url)``): its key."""
    key = next(_IDS)
    with _LOCK:
        _REGISTRY[key] = ahead
    return key


def unregister(key: int) -> None:
    """Forget the read-ahead ``key``: tasks read their objects themselves from now on."""
    with _LOCK:
        _REGISTRY.pop(key, None)


class ReadAhead:
    """Reads the objects of one listing ahead of their tasks, in the planning process only.

    ``paths`` and ``sizes`` come in task order. :meth:`take` returns an object's bytes (read by the
    window when it was in it, else now) and keeps the next objects in flight, within
    :data:`AHEAD_OBJECTS` and :data:`AHEAD_BYTES`. Worker processes (a pool, Dask) never find one:
    they read their own objects, so record bytes do not pass through the client.
    """

    def __init__(self, fs: Any, paths: list[str], sizes: list[int]) -> None:
        self.fs = fs
        self.pid = os.getpid()
        self._paths = paths
        self._sizes = sizes
        self._index = {path: i for i, path in enumerate(paths)}
        self._next = 0  # the first path not submitted yet
        self._flight: dict[str, tuple[Future[bytes], int]] = {}
        self._bytes = 0
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self.key = register(self)

    def take(self, path: str) -> bytes:
        """The bytes of ``path`` (raises what the read raised)."""
        with self._lock:
            position = self._index.get(path)
            if position is not None:
                self._drop_before(position)
                if position >= self._next:
                    # Not asked for yet (the first object, or one past the window): its request goes
                    # out first, ahead of the window's, so it is not the last of many in flight to come back.
                    self._next = position
                    self._fill()
            entry = self._flight.pop(path, None)
            if entry is not None:
                self._bytes -= entry[1]
            self._fill()
        if entry is None:
            return read_whole(self.fs, path)
        data: bytes = entry[0].result()
        return data

    def _drop_before(self, position: int) -> None:
        """Forget reads of objects before ``position``: their tasks did not read them (an object
        over --max-bytes, say), and they must not hold the window."""
        for path in list(self._flight):  # in listing order
            if self._index[path] >= position:
                break
            future, size = self._flight.pop(path)
            future.cancel()
            self._bytes -= size

    def _fill(self) -> None:
        while self._next < len(self._paths) and len(self._flight) < AHEAD_OBJECTS:
            path, size = self._paths[self._next], self._sizes[self._next]
            if size > AHEAD_MAX_OBJECT:
                self._next += 1  # streamed by its own task
                continue
            if self._flight and self._bytes + size > AHEAD_BYTES:
                return
            self._flight[path] = (self._submit(path), size)
            self._bytes += size
            self._next += 1

    def _submit(self, path: str) -> Future[bytes]:
        """Start reading ``path``: a coroutine on the event loop of an async filesystem (s3fs, gcsfs,
        adlfs run every request there anyway: no thread of ours per read, no hop through one), else
        a thread of a small pool."""
        loop = getattr(self.fs, "loop", None) if getattr(self.fs, "async_impl", False) else None
        if loop is not None and hasattr(self.fs, "_cat_file"):
            import asyncio

            coroutine = self.fs._cat_file(path, **_one_get(self.fs))
            return asyncio.run_coroutine_threadsafe(coroutine, loop)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(AHEAD_OBJECTS, thread_name_prefix="procrecord-read")
        return self._pool.submit(read_whole, self.fs, path)

    def close(self) -> None:
        """Drop what is still in flight and forget this listing."""
        unregister(self.key)
        with self._lock:
            for future, _ in self._flight.values():
                future.cancel()
            self._flight.clear()
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)


def read_whole(fs: Any, path: str) -> bytes:
    """The bytes of a small object, in one request."""
    data: bytes = fs.cat_file(path, **_one_get(fs))
    return data


def _one_get(fs: Any) -> dict[str, Any]:
    # s3fs asks for an object's size (a HEAD) before a GET, to split big objects into ranges, unless
    # the listing is in its cache: in a worker process it is not. Our small objects need one GET.
    return {"max_concurrency": 1} if _is_s3(fs) else {}


def lookup(key: int) -> Any:
    """The read-ahead ``key`` of this process (a :class:`ReadAhead` or a
    :class:`~procrecord.bulk.fetcher.RemoteAhead`; None in a worker process, or once it is closed)."""
    found = _REGISTRY.get(key)
    return found if found is not None and found.pid == os.getpid() else None


class _Blocks(io.RawIOBase):
    """An fsspec file read in blocks of at most ``block`` bytes (one ranged request each)."""

    def __init__(self, handle: Any, block: int) -> None:
        self._handle = handle
        self.block = block

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer)
        data = self._handle.read(min(len(view), self.block))
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._handle.close()
        finally:
            super().close()


def open_stream(fs: Any, path: str, start: int = 0, block: int | None = None) -> io.BufferedReader:
    """``path`` opened for reading from ``start`` in blocks of ``block`` bytes: memory stays at about
    one block whatever the object's size. On S3 every block is read with ``If-Match`` of the ETag
    the file was opened with, so a stream never mixes two versions of an object."""
    block = block or BLOCK_BYTES
    try:
        handle = fs.open(path, "rb", block_size=block, cache_type="none")
    except TypeError:  # a filesystem whose open takes no caching options (memory://)
        handle = fs.open(path, "rb")
    if start:
        handle.seek(start)
    return io.BufferedReader(_Blocks(handle, block), buffer_size=block)


def conditional_put(fs: Any, path: str, data: bytes, etag: str) -> bool | None:
    """Write ``data`` as ``path`` in one PUT only if the object still has ``etag``.

    True: written; False: the object changed (the store refused the write, HTTP 412); None: this
    store has no conditional writes here (the caller checks the ETag itself and writes).
    """
    if not _is_s3(fs):
        return None
    try:
        # One PUT up to S3's 5 GB limit: s3fs would start a multipart upload past 2 * chunksize,
        # whose first request takes no If-Match.
        fs.pipe_file(path, data, IfMatch=etag, chunksize=max(50 * 2**20, len(data) // 2 + 1))
    except Exception as exc:  # a 412 is told apart from other failures below
        if _precondition_failed(exc):
            return False
        raise
    return True


def _is_s3(fs: Any) -> bool:
    protocol = getattr(fs, "protocol", None)
    protocols = protocol if isinstance(protocol, (tuple, list)) else (protocol,)
    return bool({"s3", "s3a"} & set(protocols))


def _precondition_failed(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        response = getattr(seen, "response", None)
        if isinstance(response, dict):
            error = response.get("Error", {})
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") == "PreconditionFailed" or status == 412:
                return True
        seen = seen.__cause__ or seen.__context__
    return False
