"""Helper processes forked from a bulk run: when forking is safe, and how a forked helper follows
its parent (the committing process of :mod:`procrecord.bulk.output`, the fetcher of
:mod:`procrecord.bulk.fetcher`)."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading


def forkable() -> bool:
    """True where forking is safe: Linux, and no other thread (a fork copies only the calling thread,
    and a lock another one holds would stay held in the child)."""
    return sys.platform.startswith("linux") and threading.active_count() == 1


def tie_to_parent(parent: int) -> None:
    """Set up a helper process forked by ``parent``: an interrupt (Ctrl-C reaches the whole process
    group) is the parent's to handle, and the helper finishes what it is doing; if the parent is
    killed, the helper is killed with it instead of waiting for work that never comes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # killed before the line above
        os._exit(0)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h
