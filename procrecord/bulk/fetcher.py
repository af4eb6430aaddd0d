"""Reading object storage in a second process while this one parses and validates.

A client of an object store spends CPU on every request (signing, HTTP, the event loop), about as much
as it spends parsing and validating what it reads. In one process both share one interpreter lock, so
they take turns on one core. Where forking is safe (Linux, one thread) and the machine has a second
core, the first remote source of a run forks a *fetcher*. The fetcher lists each source and reads its
objects ahead, in order, with the same bounded window as in-process reading
(:class:`~procrecord.bulk.objectio.ReadAhead`), and sends them through a pipe. This process only
parses, validates, and writes.

What goes through the pipe, in order:

* ``("list", source, options, skip)`` → ``("listed", survey)``, where the survey is a
  :class:`~procrecord.bulk.storage.Survey` or the finding's text;
* ``("read", stream, urls, sizes, options)`` → one ``("object", url, data, error)`` per URL, in order,
  then ``("end", stream)``. An object of :data:`HAND_OVER` bytes or more comes as ``("object-fd", url,
  size, None)`` followed by a file descriptor (``SCM_RIGHTS``) of an anonymous in-memory file
  (``memfd_create``) that holds it: one copy in and one read out, instead of the pipe's chunks of a
  few hundred kB, each waiting for the other process to be scheduled (on a busy machine the parent
  spent a fifth of an S3 run waiting inside the transfers of objects that were already read). The
  parent answers each with ``("took", stream, size)``; the fetcher hands over no more while :data:`IN_FLIGHT`
  bytes are unanswered (the pipe's own back-pressure, which in-memory files would otherwise escape).
  A file the parent has answered for carries a later object of the stream (:class:`_Files`).
  A ``("stop", stream)`` sent at any time is answered with
  ``("stopped", stream)``; if the stream is still running it ends first, so its ``end`` comes before.
* ``("quit",)`` ends the fetcher.

Nothing is lost when the fetcher cannot help. If it dies, or an object is asked for out of order,
this process reads that object itself. A finding reads the same either way.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
from typing import Any

#: Off: every source is read in this process (tests switch it off to compare both ways).
ENABLED = True
#: Protocols never read in another process: local files gain nothing, and a ``memory://``
#: filesystem lives in this process only.
_LOCAL = frozenset({"file", "local", "memory"})
_STREAMS = itertools.count(1)
#: Objects this large or larger are handed over in an in-memory file, not through the pipe.
HAND_OVER = 256 * 1024
#: Bytes of handed-over objects the parent has not taken yet, at most (one object is always allowed).
IN_FLIGHT = 32 << 20


def remote(source: str) -> bool:
    """True when a fetcher may read ``source``: an fsspec URL of a store that another process sees as
    this one does (not local files, not ``memory://``, not a chain of filesystems)."""
    return ENABLED and "::" not in source and source.split("://", 1)[0].lower() not in _LOCAL


def forkable() -> bool:
    """True when a fetcher can be started and pays off: Linux, no other thread in this process (a
    fork copies only the calling thread, and a lock another one holds would stay held in the child),
    and more than one core for this process."""
    from procrecord.bulk.forking import forkable as safe

    return safe() and len(os.sched_getaffinity(0)) > 1


def start() -> Fetcher | None:
    """A new fetcher; None when the system would not start one (the run reads in this process)."""
    try:
        return Fetcher()
    except OSError:
        return None


class RemoteError(Exception):
    """A read that failed in the fetcher; ``str()`` is the finding's text (see ``storage.describe``)."""


class Fetcher:
    """The parent's side of one fetcher process (see the module's text)."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        # (multiprocessing flushes stdout and stderr before the fork: nothing buffered is written twice)
        self._process = context.Process(target=_serve, args=(child, os.getpid()), name="procrecord-fetch", daemon=True)
        self._process.start()
        child.close()
        self.pid = os.getpid()
        self.dead = False
        #: The stream being received, if any (one at a time).
        self.current: RemoteAhead | None = None

    def survey(self, source: str, options: dict[str, Any], skip: tuple[str, ...]) -> Any:
        """The :class:`~procrecord.bulk.storage.Survey` of ``source`` (or the finding's text), listed
        by the fetcher; None when the fetcher cannot be used (the caller lists it itself)."""
        if self.dead or self.current is not None:
            return None
        try:
            self._conn.send(("list", source, options, skip))
            reply = self._recv()
        except BaseException:
            self._lost()
            raise
        return reply[1] if reply is not None else None

    def stream(self, urls: list[str], sizes: list[int], options: dict[str, Any]) -> RemoteAhead | None:
        """Start reading ``urls`` ahead, in order; None when the fetcher cannot be used."""
        if self.dead or self.current is not None:
            return None
        ahead = RemoteAhead(self, next(_STREAMS), urls, options)
        try:
            self._conn.send(("read", ahead.stream, urls, sizes, options))
        except BaseException:
            self._lost()
            raise
        self.current = ahead
        return ahead

    def take(self, ahead: RemoteAhead, url: str) -> bytes | None:
        """The bytes of ``url`` from ``ahead``'s stream, skipping objects before it that no task asked
        for; None when the stream cannot give it (already past it, not in it, or the fetcher is gone).
        Raises :class:`RemoteError` for an object the fetcher could not read."""
        position = ahead.index.get(url)
        if self.dead or self.current is not ahead or position is None or position < ahead.next:
            return None
        try:
            while True:
                message = self._recv()
                if message is None:
                    return None
                if message[0] == "end":
                    self.current = None
                    return None
                _, found, data, error = message
                ahead.next = ahead.index[found] + 1
                if found == url:
                    if error is not None:
                        raise RemoteError(error)
                    return bytes(data)
        except RemoteError:
            raise
        except BaseException:
            self._lost()
            raise

    def finish(self, ahead: RemoteAhead) -> None:
        """Stop ``ahead``'s stream and drop what is still coming (its tasks are done or read themselves)."""
        if self.dead or self.current is not ahead:
            return
        try:
            self._conn.send(("stop", ahead.stream))
            while True:
                message = self._recv()
                if message is None or message[0] == "stopped":
                    break
        except BaseException:
            self._lost()
            raise
        self.current = None

    def close(self) -> None:
        """End the fetcher and wait for it. One still sending a stream (an interrupted run) cannot
        hear a request to quit: it is killed, as is one that does not end promptly."""
        if self.pid != os.getpid():
            return  # a forked copy of this object (the committing process, say): not ours to end
        if not self.dead and self.current is None:
            with contextlib.suppress(OSError, ValueError):
                self._conn.send(("quit",))
            self._process.join(2)
        self._lost()
        self._process.join()

    def _recv(self) -> Any:
        try:
            message = self._conn.recv()
            if message[0] == "object-fd":
                data = _take_handed(self._conn, message[2])
                self._conn.send(("took", self.current.stream if self.current else 0, message[2]))
                return ("object", message[1], data, None)
            return message
        except (EOFError, OSError, RuntimeError):  # RuntimeError: a descriptor the kernel did not pass on
            self._lost()
            return None

    def _lost(self) -> None:
        """Never use the fetcher again (it ended, died, or the pipe's state is unknown after an
        interrupted exchange): the pipe is closed and a fetcher still alive is killed."""
        self.dead = True
        self.current = None
        with contextlib.suppress(OSError):
            self._conn.close()
        if self._process.is_alive():
            self._process.kill()


class RemoteAhead:
    """The objects of one listing, read ahead by the fetcher: the same use as
    :class:`~procrecord.bulk.objectio.ReadAhead` (``key``, ``take``, ``close``)."""

    def __init__(self, fetcher: Fetcher, stream: int, urls: list[str], options: dict[str, Any]) -> None:
        from procrecord.bulk import objectio

        self.fetcher = fetcher
        self.stream = stream
        self.index = {url: i for i, url in enumerate(urls)}
        self.next = 0  # the position of the first object not received yet
        self.options = options
        self.pid = os.getpid()
        self.key = objectio.register(self)

    def take(self, url: str) -> bytes:
        """The bytes of ``url`` (raises what the read raised, or :class:`RemoteError`)."""
        data = self.fetcher.take(self, url)
        if data is not None:
            return data
        from procrecord.bulk import objectio
        from procrecord.bulk.storage import filesystem

        fs, path = filesystem(url, self.options)
        return objectio.read_whole(fs, path)

    def close(self) -> None:
        from procrecord.bulk import objectio

        objectio.unregister(self.key)
        self.fetcher.finish(self)


def _take_handed(conn: Any, size: int) -> bytes:
    """The ``size`` bytes of the in-memory file whose descriptor comes next on ``conn``."""
    from multiprocessing import reduction

    handle = reduction.recv_handle(conn)
    try:
        parts = []
        offset = 0
        while offset < size:
            part = os.pread(handle, size - offset, offset)
            if not part:
                raise OSError(f"the fetcher's in-memory file ended at byte {offset} of {size}")
            parts.append(part)
            offset += len(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)
    finally:
        os.close(handle)


class _Files:
    """The fetcher's in-memory files of one stream, each used again once the parent has taken what it
    held: a new file costs the kernel a page to allocate and clear for every 4 kB written (and to free
    when both sides have closed it), about six times the copy itself. The parent answers hand-overs in
    order, so the oldest file not yet answered is the one a ``took`` frees. A file is kept for use again
    only while all the stream's files hold :data:`IN_FLIGHT` bytes at most; all are closed when it ends."""

    def __init__(self) -> None:
        self.out: collections.deque[tuple[int, int]] = collections.deque()  # (handle, capacity) handed over
        self.free: list[tuple[int, int]] = []
        self.held = 0  # capacity of every file, handed over or free

    def fill(self, data: bytes) -> int | None:
        """A file holding ``data`` from its start (a free one if any, else a new one), counted as
        handed over; None where none can be made or written (the caller sends the bytes in the pipe)."""
        if self.free:
            handle, capacity = self.free.pop()
        else:
            try:
                handle, capacity = os.memfd_create("procrecord-object", os.MFD_CLOEXEC), 0
            except (AttributeError, OSError):
                return None
        try:
            view = memoryview(data)
            offset = 0
            while offset < len(view):
                offset += os.pwrite(handle, view[offset:], offset)
        except OSError:  # no memory for it: the pipe still can
            self.held -= capacity
            os.close(handle)
            return None
        self.held += max(capacity, len(data)) - capacity
        self.out.append((handle, max(capacity, len(data))))
        return handle

    def unsent(self) -> None:
        """The file just filled could not be handed over: close it."""
        handle, capacity = self.out.pop()
        self.held -= capacity
        os.close(handle)

    def taken(self) -> None:
        """The parent has read the oldest file handed over: keep it for use again, within the bound."""
        if not self.out:
            return
        handle, capacity = self.out.popleft()
        if self.held > IN_FLIGHT:
            self.held -= capacity
            os.close(handle)
            return
        self.free.append((handle, capacity))

    def close(self) -> None:
        """Close every file (the parent holds its own descriptors of those it has not read yet)."""
        for handle, _ in (*self.out, *self.free):
            with contextlib.suppress(OSError):
                os.close(handle)
        self.out.clear()
        self.free.clear()
        self.held = 0


def _hand_over(conn: Any, url: str, data: bytes, parent: int, files: _Files) -> bool:
    """Send ``data`` to the parent in an in-memory file of ``files``; False (nothing sent) where none
    can be made."""
    from multiprocessing import reduction

    handle = files.fill(data)
    if handle is None:
        return False
    try:
        conn.send(("object-fd", url, len(data), None))
        reduction.send_handle(conn, handle, parent)
    except BaseException:
        files.unsent()
        raise
    return True


def _serve(conn: Any, parent: int) -> None:
    """The fetcher's loop: answer the parent's requests, in order, until it quits or is gone."""
    from procrecord.bulk.forking import tie_to_parent

    tie_to_parent(parent)
    with contextlib.suppress(EOFError, OSError):  # the parent closed the pipe: nothing left to do
        while True:
            request = conn.recv()
            kind = request[0]
            if kind == "quit":
                return
            if kind == "took":  # an answer to a stream's last hand-overs, come after its end
                continue
            if kind == "stop":
                conn.send(("stopped", request[1]))
            elif kind == "list":
                from procrecord.bulk.storage import survey

                _, source, options, skip = request
                try:
                    found = survey(source, options, skip)
                    conn.send(("listed", found[0] if isinstance(found, tuple) else found))
                except (EOFError, OSError):
                    raise
                except Exception:  # noqa: BLE001 - whatever failed here, the parent lists the source itself
                    conn.send(("listed", None))
            elif kind == "read":
                _, stream, urls, sizes, options = request
                _read(conn, stream, urls, sizes, options, parent)


def _read(conn: Any, stream: int, urls: list[str], sizes: list[int], options: dict[str, Any], parent: int) -> None:
    """Send the objects of ``urls`` in order, read ahead concurrently, until done or stopped."""
    from procrecord.bulk import objectio
    from procrecord.bulk.storage import describe, filesystem
    from procrecord.errors import ProcrecordError

    ahead = None
    failed = None
    try:
        if urls:
            ahead = objectio.ReadAhead(filesystem(urls[0], options)[0], urls, sizes)
    except ProcrecordError as exc:  # each object is a finding, as when read in the parent
        failed = str(exc)
    stopped = False
    in_flight = 0
    files = _Files()

    def answers(allowed: int | None) -> bool:
        """Take the parent's messages (block while more than ``allowed`` bytes are in flight);
        True when one of them stops the stream (the only other kind a stream gets is ``took``)."""
        nonlocal in_flight
        while (allowed is not None and in_flight > allowed) or conn.poll():
            message = conn.recv()
            if message[0] == "stop":
                return True
            if message[1] == stream:  # (not a late answer to an earlier stream)
                in_flight -= message[2]
                files.taken()
        return False

    try:
        for url in urls:
            if answers(None):
                stopped = True
                break
            data, error = None, failed
            if ahead is not None:
                try:
                    data = ahead.take(url)
                except Exception as exc:  # noqa: BLE001 - one unreadable object is one finding
                    error = describe(exc)
            if data is not None and len(data) >= HAND_OVER:
                if answers(max(0, IN_FLIGHT - len(data))):
                    stopped = True
                    break
                if _hand_over(conn, url, data, parent, files):
                    in_flight += len(data)
                    continue
            conn.send(("object", url, data, error))
    finally:
        files.close()
        if ahead is not None:
            ahead.close()
    conn.send(("end", stream))
    if stopped:
        conn.send(("stopped", stream))
