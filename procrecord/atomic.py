"""Atomic file replacement: a temp file in the same folder, synced, then renamed over the target.

A reader (or a crash) sees either the old file or the complete new one, never a torn file: a file's
new data is on disk before the rename that makes it visible, and the folder is synced after it.
Many files are written through a :class:`Batch`, which syncs the data of all its temp files with one
call before renaming them, and each folder once after.

Temp files are named ``.NAME.procrecord-HOST-PID-RANDOM.tmp``: recognisable, and carrying their
creator, so a later run removes those left by a killed process (:func:`remove_stale`) and never
those of a run that is still going.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import re
import stat
import sys
from typing import IO, TYPE_CHECKING, Any, Callable, Iterable, Iterator

if TYPE_CHECKING:  # the worker threads of a Batch are imported when one is used
    from concurrent.futures import Future, ThreadPoolExecutor

#: What marks our temp files (and the bulk runner's spill folders) and names their creator.
TAG = "procrecord"
_SAFE = re.compile(r"[^A-Za-z0-9]")
_STALE = re.compile(r"^.*\." + TAG + r"-([A-Za-z0-9_]+)-(\d+)-[A-Za-z0-9_]+(\.tmp)?$")


def _host() -> str:
    return os.uname().nodename if hasattr(os, "uname") else os.environ.get("COMPUTERNAME", "")


#: (pid, "HOST-PID", random part of this process's temp names): made on first use, and again in a
#: forked child (which must neither reuse its parent's names nor carry its pid).
_CREATOR: list[tuple[int, str, str]] = []
_SERIAL = itertools.count()


def _forget_creator() -> None:
    _CREATOR.clear()


if hasattr(os, "register_at_fork"):  # without it (Windows: no fork) the pid is checked on each use
    os.register_at_fork(after_in_child=_forget_creator)
    _CHECK_PID = False
else:  # pragma: no cover - POSIX systems have it
    _CHECK_PID = True


def _creator_entry() -> tuple[int, str, str]:
    if not _CREATOR or (_CHECK_PID and _CREATOR[0][0] != os.getpid()):
        pid = os.getpid()
        _CREATOR[:] = [(pid, f"{_SAFE.sub('_', _host()) or 'host'}-{pid}", os.urandom(4).hex())]
    return _CREATOR[0]


def creator() -> str:
    """``HOST-PID`` of this process as it appears in temp names (host made name-safe)."""
    return _creator_entry()[1]


def temp_name(target: str | os.PathLike[str]) -> str:
    """A fresh temp path next to ``target``."""
    folder, name = os.path.split(os.fspath(target))
    # A random part per process and a counter: unique within a run without a system call per name
    # (a clash with a file already there is caught by O_EXCL and another name tried).
    _, who, token = _creator_entry()
    return os.path.join(folder, f".{name}.{TAG}-{who}-{token}{next(_SERIAL):x}.tmp")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's live process
    return True


def is_stale(name: str) -> bool:
    """True when ``name`` is one of our temp files (or spill folders) whose creator, on this host,
    is gone. Files of other hosts (a shared file system) are never called stale: we cannot tell."""
    match = _STALE.match(name)
    if match is None:
        return False
    host, pid = match.group(1), int(match.group(2))
    me = _SAFE.sub("_", _host()) or "host"
    return host == me and pid != os.getpid() and not _alive(pid)


def remove_stale(folder: str | os.PathLike[str], folders: bool = False) -> list[str]:
    """Remove the temp files in ``folder`` left by killed processes of this host; return their paths.

    ``folders``: remove matching folders (spill folders in the temp dir) instead of files.
    """
    import shutil

    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if TAG not in entry.name or not is_stale(entry.name):
            continue
        try:
            if folders and entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            elif not folders and entry.is_file(follow_symlinks=False):
                os.unlink(entry.path)
            else:
                continue
        except OSError:
            continue
        removed.append(entry.path)
    return removed


#: Called with the target path just before a checked replacement compares the target with what was
#: read (tests use it to change the file at exactly that moment).
before_replace: Callable[[str], None] | None = None


class NotRegularFileError(OSError):
    """The target exists and is no regular file (a device, a pipe, a socket, a folder): never replaced."""


def file_kind(mode: int) -> str:
    """What a file that is no regular file is, in words (``a folder``, ``a named pipe``, ...)."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a file"


class ReplacedError(OSError):
    """The target changed (another process replaced or wrote it) since it was read: not replaced."""


def identity(st: os.stat_result) -> tuple[int, int, int, int]:
    """What says a file is still the one that was read: device, inode, size, modification time."""
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@contextlib.contextmanager
def _locked(path: str) -> Iterator[None]:
    """Hold an exclusive ``flock`` on the file at ``path`` (if any): two procrecord runs that check
    and replace one file take turns, so the second sees the first's replacement in its check.
    (Other programs do not take this lock: for them a microseconds-wide window stays.)"""
    try:
        import fcntl
    except ImportError:  # not a POSIX system
        yield
        return
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        yield  # gone, or a link: the check that follows says so
        return
    try:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class AtomicFile:
    """A temp file that replaces ``target`` on :meth:`commit` or vanishes on :meth:`discard`.

    The new file keeps the old one's permission bits (and owner, where allowed) unless ``mode`` is
    given; a new target gets ``0o666`` less the umask. The temp file is created with an explicit
    mode (never by changing the process umask, which other threads share). ``expect``: the
    :func:`identity` the target must still have at the rename, or the commit raises
    :class:`ReplacedError` and nothing is replaced; the old file's mode and owner are then taken
    from what that check finds. ``fresh``: the caller knows no file is at ``target`` yet (it
    listed the folder), so the target is not looked up here.
    """

    def __init__(self, target: str | os.PathLike[str], mode: int | None = None,
                 expect: tuple[int, int, int, int] | None = None, *, fresh: bool = False) -> None:
        self.target = os.fspath(target)
        self.expect = expect
        self._mode = mode
        self._old: os.stat_result | None = None
        #: The permission bits still to give the temp file at the rename (None: it has them).
        self._chmod: int | None = None
        if expect is None and not fresh:
            try:
                self._old = os.stat(self.target)
            except FileNotFoundError:
                self._old = None
            except OSError as exc:
                raise _named(exc, self.target) from None
            if self._old is not None and not stat.S_ISREG(self._old.st_mode):
                # a device (``/dev/null``), a pipe, a socket or a folder: replacing it by a file would break
                # what reads it, or the system (as root, ``/dev/null``)
                raise NotRegularFileError(errno.EEXIST, f"not a regular file ({file_kind(self._old.st_mode)}): "
                                          "it is not replaced by a file", self.target)
        # Set on the open file when it is created (no path lookup at the rename), unless the owner
        # could then not read it: a batch's sync opens the temp files again.
        early = mode is not None and bool(mode & 0o400)
        if mode is not None and early:
            create_mode = mode & 0o777  # the final bits: never wider (the umask only takes bits away)
        elif mode is None and self._old is None and expect is None:
            create_mode = 0o666  # a new file: the kernel applies the umask, as for any new file
        else:
            # Readable by the owner only while it is written: the old file's bits come at the rename.
            create_mode = 0o600
        fd = self._create(create_mode)
        if mode is not None:
            self._chmod = mode
            if early:
                with contextlib.suppress(OSError):  # if it fails, the bits are set by path at the rename
                    os.fchmod(fd, mode)
                    self._chmod = None
        # The buffered handle is made on first use: :meth:`write` of whole pieces needs none.
        self._fd: int | None = fd
        self._handle: IO[bytes] | None = None
        self.closed = False

    def _create(self, create_mode: int) -> int:
        """Create the temp file (:attr:`temp`) and return its descriptor."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
        tries = 3
        while True:
            self.temp = temp_name(self.target)
            try:
                return os.open(self.temp, flags, create_mode)
            except FileExistsError as exc:  # a leftover of this name (another process's): take the next
                tries -= 1
                if not tries:
                    raise type(exc)(exc.errno, exc.strerror, self.target) from None
            except OSError as exc:  # named by the file it was for, not the temp file
                raise type(exc)(exc.errno, exc.strerror, self.target) from None

    @property
    def handle(self) -> IO[bytes]:
        """The binary handle to write the new content to."""
        if self._handle is None:
            assert self._fd is not None, "already committed or discarded"
            self._handle, self._fd = os.fdopen(self._fd, "wb"), None
        return self._handle

    def write(self, data: bytes) -> None:
        """Append ``data`` to the new content (the file's name is in any error)."""
        try:
            if self._handle is not None:
                self._handle.write(data)
                return
            assert self._fd is not None, "already committed or discarded"
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view):]
        except OSError as exc:
            raise _named(exc, self.target) from None

    def close(self, sync: bool = True) -> None:
        """Finish writing (and sync the data unless a batch syncs it): ready to :meth:`rename`."""
        handle, self._handle = self._handle, None
        fd, self._fd = self._fd, None
        if handle is None and fd is None:
            return
        try:
            if handle is not None:
                handle.flush()
                fd = handle.fileno()
            if sync:
                assert fd is not None
                os.fsync(fd)
        except OSError as exc:
            _close(handle, fd)
            raise _named(exc, self.target) from None
        _close(handle, fd)
        self.closed = True

    def rename(self) -> None:
        """Give the temp file its final mode and owner and move it over the target (its data must be
        synced already: :meth:`close` or a batch's sync)."""
        try:
            if self.expect is None:
                self._adopt(self._old)
                os.replace(self.temp, self.target)
            else:
                with _locked(self.target):
                    self._adopt(self._check())
                    os.replace(self.temp, self.target)
        except OSError as exc:
            self._unlink()
            if isinstance(exc, ReplacedError):
                raise
            raise _named(exc, self.target) from None

    def _adopt(self, old: os.stat_result | None) -> None:
        """Give the temp file the owner of the file it replaces and its final permission bits."""
        mode = self._chmod
        if self._mode is None and old is not None:
            mode = old.st_mode & 0o7777
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            # A file replaced by someone else (root, a group member) keeps its owner, as sed -i does.
            with contextlib.suppress(OSError):
                os.chown(self.temp, old.st_uid, old.st_gid)
            if self._mode is not None:
                mode = self._mode  # a chown clears the setuid and setgid bits: set them again
        if mode is not None:
            os.chmod(self.temp, mode)

    def _check(self) -> os.stat_result | None:
        """The target as it is now, if it is still the file that was read (else :class:`ReplacedError`)."""
        if before_replace is not None:
            before_replace(self.target)
        try:
            st: os.stat_result | None = os.lstat(self.target)
        except FileNotFoundError:
            st = None
        if (None if st is None else identity(st)) != self.expect:
            raise ReplacedError(errno.ESTALE, "changed by another process since it was read: not replaced",
                                self.target)
        return st

    def commit(self) -> None:
        """Sync the new content, replace the target with it, sync the folder."""
        try:
            self.close()
        except BaseException:
            self.discard()
            raise
        self.rename()
        sync_folder(os.path.dirname(os.path.abspath(self.target)))

    def discard(self) -> None:
        """Drop the new content: the target stays as it was."""
        handle, self._handle = self._handle, None
        fd, self._fd = self._fd, None
        with contextlib.suppress(OSError):
            _close(handle, fd)
        self._unlink()

    def _unlink(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temp)


class Batch:
    """Commits many atomic files with few syncs: their data in one pass, then the renames, then each
    folder once. Until :meth:`commit` returns, no target has been replaced by content that is not
    on disk; after it, every renamed file and its folder are on disk.

    ``workers``: threads that create and write the temp files given to :meth:`write` and do the
    renames, so that the file system's latency per file (a new inode costs milliseconds on some
    virtual disks) overlaps; 0 does everything in the calling thread. ``defer`` (with no workers):
    :meth:`write` only notes what to write, and :meth:`commit` creates the temp files, so that a
    whole batch can be committed by another thread (one hand-off per batch, not per file).
    """

    def __init__(self, workers: int = 0, defer: bool = False) -> None:
        self.files: list[tuple[Any, AtomicFile | Future[AtomicFile] | _Deferred]] = []
        self._workers = workers
        self._defer = defer and workers <= 0
        self._pool: ThreadPoolExecutor | None = None

    def add(self, file: AtomicFile, key: Any = None) -> None:
        """Take a written file (closed here without its own sync); ``key`` names it in :meth:`commit`'s
        results (the file itself by default)."""
        try:
            file.close(sync=False)
        except BaseException:
            file.discard()
            raise
        self.files.append((file if key is None else key, file))

    def write(self, target: str, data: list[bytes], key: Any, mode: int | None = None,
              expect: tuple[int, int, int, int] | None = None, mode_of: str | None = None,
              fresh: bool = False) -> None:
        """Queue ``data`` as the new content of ``target`` (see :class:`AtomicFile` for ``mode``,
        ``expect`` and ``fresh``; ``mode_of``: a file whose permission bits the new one takes, when
        ``mode`` is None)."""
        if self._defer:
            self.files.append((key, _Deferred(target, data, mode, expect, mode_of, fresh)))
            return
        if self._workers <= 0:
            try:
                written: AtomicFile | Future[AtomicFile] = _written(target, data, mode, expect, mode_of, fresh)
            except OSError as exc:
                from concurrent.futures import Future

                written = Future()
                written.set_exception(exc)
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="procrecord-write")
            written = self._pool.submit(_written, target, data, mode, expect, mode_of, fresh)
        self.files.append((key, written))

    def __len__(self) -> int:
        return len(self.files)

    def commit(self) -> list[tuple[Any, OSError | None]]:
        """Sync, rename, sync folders; return each file's key with the error that kept it from
        replacing its target (None: replaced). A failed sync fails the whole batch: nothing is renamed."""
        from concurrent.futures import Future

        entries, self.files = self.files, []
        results: list[tuple[Any, OSError | None]] = []
        ready: list[tuple[Any, AtomicFile]] = []
        for key, item in entries:
            if isinstance(item, (Future, _Deferred)):
                try:
                    item = item.result()
                except OSError as exc:  # could not be created or written: a finding for this file
                    results.append((key, exc))
                    continue
            ready.append((key, item))
        if not ready:
            return results
        try:
            _sync_data([file.temp for _, file in ready])
        except OSError as exc:
            for _, file in ready:
                file.discard()
            raise _named(exc, ready[0][1].target) from None
        renames = [file for _, file in ready]
        errors = list(self._pool.map(_rename, renames)) if self._pool is not None else [_rename(f) for f in renames]
        folders: dict[str, None] = {}
        for (key, file), error in zip(ready, errors):
            results.append((key, error))
            if error is None:
                target = file.target  # output paths are absolute: no getcwd per file
                folders[os.path.dirname(target if os.path.isabs(target) else os.path.abspath(target))] = None
        for folder in folders:
            sync_folder(folder)
        return results

    def discard(self) -> None:
        """Drop every file not committed yet."""
        from concurrent.futures import Future

        entries, self.files = self.files, []
        for _, item in entries:
            if isinstance(item, _Deferred):
                continue  # never created
            if isinstance(item, Future):
                try:
                    item = item.result()
                except Exception:  # noqa: BLE001 - never created: nothing to drop
                    continue
            item.discard()

    def close(self) -> None:
        """Stop the worker threads (files not committed yet are dropped)."""
        self.discard()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None


class _Deferred:
    """A temp file still to be created and written (by :meth:`Batch.commit`; see ``defer``)."""

    __slots__ = ("args",)

    def __init__(self, *args: Any) -> None:
        self.args = args

    def result(self) -> AtomicFile:
        """Create and write the temp file now (``OSError`` when it cannot be)."""
        return _written(*self.args)


def _written(target: str, data: list[bytes], mode: int | None, expect: tuple[int, int, int, int] | None,
             mode_of: str | None, fresh: bool = False) -> AtomicFile:
    """A temp file for ``target`` holding ``data``, closed without a sync (a batch syncs it)."""
    if mode is None and mode_of is not None:
        with contextlib.suppress(OSError):
            mode = os.stat(mode_of).st_mode & 0o7777
    file = AtomicFile(target, mode, expect, fresh=fresh)
    try:
        for piece in data:
            file.write(piece)
        file.close(sync=False)
    except BaseException:
        file.discard()
        raise
    return file


def _rename(file: AtomicFile) -> OSError | None:
    try:
        file.rename()
    except OSError as exc:
        return exc
    return None


def _close(handle: IO[bytes] | None, fd: int | None) -> None:
    if handle is not None:
        handle.close()
    elif fd is not None:
        os.close(fd)


def _sync_data(paths: list[str]) -> None:
    """Put the data of ``paths`` on disk: one ``syncfs`` per file system where Linux has it (one
    journal commit instead of one per file), else an ``fsync`` each."""
    syncfs = _syncfs()
    if syncfs is None or len(paths) < 4:
        for path in paths:
            _fsync_path(path)
        return
    folders = {os.path.dirname(path): path for path in paths}  # a temp file sits in its target's folder
    devices: dict[int, str] = {}
    for path in folders.values():
        devices.setdefault(os.stat(path).st_dev, path)
    for path in devices.values():
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        try:
            if syncfs(fd) != 0:
                import ctypes

                code = ctypes.get_errno()
                raise OSError(code, os.strerror(code), path)
        finally:
            os.close(fd)


_SYNCFS: list[Callable[[int], int] | None] = []


def _syncfs() -> Callable[[int], int] | None:
    if not _SYNCFS:
        function = None
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                libc = ctypes.CDLL(None, use_errno=True)
                function = libc.syncfs
                function.argtypes = [ctypes.c_int]
                function.restype = ctypes.c_int
            except (OSError, AttributeError):
                function = None
        _SYNCFS.append(function)
    return _SYNCFS[0]


def _fsync_path(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _named(exc: OSError, path: str) -> OSError:
    """``exc`` naming ``path`` (a full disk says which file it could not write)."""
    if exc.filename is not None or exc.errno is None:
        return exc
    return type(exc)(exc.errno, exc.strerror, path)


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], mode: int | None = None) -> Iterator[IO[bytes]]:
    """Yield a binary handle whose content replaces ``path`` atomically when the block succeeds.

    If the block raises (or the process is interrupted), the temp file is removed and ``path`` is
    left as it was. The new file keeps the old file's permission bits unless ``mode`` is given.
    """
    file = AtomicFile(path, mode)
    try:
        yield file.handle
    except BaseException:
        file.discard()
        raise
    file.commit()


def write_bytes(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically."""
    file = AtomicFile(path, mode)
    try:
        file.write(data)
    except BaseException:
        file.discard()
        raise
    file.commit()


def write_new(paths: Iterable[str], data: bytes) -> str:
    """Write ``data`` as the first of ``paths`` (all in one folder) that does not exist yet; return it.

    Never over an existing file, and complete or not at all: the data goes to a synced temp file
    that is then hard-linked to the name (a link fails on an existing name, so two processes never
    get the same one). Where the file system has no hard links, the name is created with
    ``O_EXCL`` and written. Raises ``FileExistsError`` when every name is taken.
    """
    names = iter(paths)
    first = next(names)
    file = AtomicFile(first, fresh=True)
    try:
        file.write(data)
        file.close()
        for path in itertools.chain([first], names):
            try:
                os.link(file.temp, path)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
                    raise _named(exc, path) from None
                return _create_new(itertools.chain([path], names), data)
            sync_folder(os.path.dirname(os.path.abspath(path)))
            return path
    finally:
        file.discard()
    raise FileExistsError(errno.EEXIST, "every name is taken", first)


def _create_new(paths: Iterable[str], data: bytes) -> str:
    """:func:`write_new` where there are no hard links: ``O_EXCL``, then the data."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for path in paths:
        try:
            fd = os.open(path, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as exc:
            raise _named(exc, path) from None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise _named(exc, path) from None
        os.close(fd)
        sync_folder(os.path.dirname(os.path.abspath(path)))
        return path
    raise FileExistsError(errno.EEXIST, "every name is taken")


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise ``OSError`` (naming ``path``) unless a file can be created next to ``path``: its folder
    is made if missing, and a temp file is created there and removed."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise _named(exc, os.fspath(path)) from None
    AtomicFile(path).discard()


def sync_folder(folder: str | os.PathLike[str]) -> None:
    """Sync a folder's entries (a rename in it) to disk, where the system allows it."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


_fsync_dir = sync_folder  # the old private name
