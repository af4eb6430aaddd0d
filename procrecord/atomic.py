"""Atomic file replacement: a temp file in the same folder, fsync, rename, fsync the folder.

A reader (or a crash) sees either the old file or the complete new one, never a torn file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, Iterator


@contextlib.contextmanager
def replacing(path: str | os.PathLike[str], mode: int | None = None) -> Iterator[IO[bytes]]:
    """Yield a binary handle whose content replaces ``path`` atomically when the block succeeds.

    If the block raises (or the process is interrupted), the temp file is removed and ``path`` is
    left as it was. The new file keeps the old file's permission bits unless ``mode`` is given.
    """
    target = Path(path)
    folder = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        try:
            old = os.stat(target)
        except FileNotFoundError:
            old = None
        if mode is None:
            mode = old.st_mode & 0o7777 if old is not None else 0o666 & ~_umask()
        if old is not None and (old.st_uid, old.st_gid) != (os.geteuid(), os.getegid()):
            # A file replaced by someone else (root, a group member) keeps its owner, as sed -i does.
            with contextlib.suppress(OSError):
                os.chown(tmp, old.st_uid, old.st_gid)
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)


def write_bytes(path: str | os.PathLike[str], data: bytes, mode: int | None = None) -> None:
    """Replace ``path`` with ``data`` atomically."""
    with replacing(path, mode) as handle:
        handle.write(data)


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
