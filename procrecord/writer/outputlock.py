"""Which other process on this host writes the same record file: an advisory lock per output path.

A running Recorder holds a POSIX lock (``lockf``) on a small file named after its output's real path,
in a private folder of the temp folder (never beside the record: the output folder stays the job's).
Another process that starts a Recorder writing the same file finds the lock taken and is told so; the
lock goes with the process however it ends (SIGKILL included), so a crashed job never leaves a false
alarm. The lock is advisory only: nothing waits for it or fails because of it.

POSIX locks belong to a process, and closing any descriptor of the file drops them all: the process
keeps one descriptor per path, shared by its Recorders (their own clash is told by the Recorder).
A forked child holds none of its parent's locks.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
import threading

#: Path -> [descriptor, Recorders of this process that hold it].
_HELD: dict[str, list[int]] = {}
#: Taken by :func:`claim` and :func:`release` (Recorders start and stop in any thread).
_GUARD = threading.Lock()


def _lock_path(path: str) -> str:
    """The lock file of ``path``, in this user's private folder of the shared temp folder.

    The names are predictable, so the folder must be this user's own, and not a link: anyone else's
    (made there first) could hold a link named as a lock file, and a lock file is written to. An
    OSError when it is not (nothing is told then)."""
    folder = os.path.join(tempfile.gettempdir(), f"procrecord-{os.getuid()}-locks")
    with contextlib.suppress(FileExistsError):
        os.mkdir(folder, 0o700)
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{folder} is not a private folder of this user")
    return os.path.join(folder, hashlib.sha256(os.fsencode(path)).hexdigest()[:32] + ".lock")


def claim(path: str) -> int | None:
    """Hold the lock of the output ``path`` (a real path) for this process; the pid of another
    process that holds it (0 when its pid is unknown), or None when none does or it cannot be told."""
    with _GUARD:  # POSIX locks are the process's: threads of one process would all get one, and leak it
        held = _HELD.get(path)
        if held is not None:
            held[1] += 1
            return None
        return _claim(path)


def _claim(path: str) -> int | None:
    try:
        import fcntl
    except ImportError:  # no POSIX locks (Windows): nothing is told
        return None
    try:
        lock = _lock_path(path)
    except OSError:  # no usable temp folder: nothing is told
        return None
    for _ in range(3):
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0), 0o600)
        except OSError:
            return None
        try:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return _holder(fd)
            # The holder before may have removed the file between our open and lock: lock the file
            # that is there now, or a third process would lock another one and not see us.
            try:
                same = os.path.samestat(os.fstat(fd), os.stat(lock))
            except FileNotFoundError:
                same = False
            if same:
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                _HELD[path] = [fd, 1]
                fd = -1  # held: kept open
                return None
        except OSError:  # a full or read-only temp folder: nothing is told
            return None
        finally:
            if fd >= 0:
                os.close(fd)
    return None


def _holder(fd: int) -> int:
    with contextlib.suppress(OSError, ValueError):
        return int(os.pread(fd, 32, 0) or b"0")
    return 0


def release(path: str) -> None:
    """Let go of the lock of ``path`` once no Recorder of this process holds it."""
    with _GUARD:
        held = _HELD.get(path)
        if held is None:
            return
        held[1] -= 1
        if held[1] > 0:
            return
        del _HELD[path]
        with contextlib.suppress(OSError):
            os.unlink(_lock_path(path))  # while locked: a process that opened it meanwhile tries again
        with contextlib.suppress(OSError):
            os.close(held[0])


def forget_in_child() -> None:
    """In a forked child: the parent's locks are not the child's (close its copies of the descriptors);
    the guard is a new one (another thread of the parent may have held it as it forked)."""
    global _GUARD
    _GUARD = threading.Lock()
    for fd, _ in _HELD.values():
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()
