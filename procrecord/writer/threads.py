"""procrecord's helper threads and the signals a process receives from outside.

Linux delivers a signal sent to a process to any of its threads that does not block it: usually the
main thread, but not always (for one, when the main thread already has a signal pending or blocks it).
Python runs its handlers in the main thread in any case, but a blocking call there is interrupted only
if the main thread itself received the signal, and ``procrecord run`` takes these signals in its main
thread with ``sigtimedwait`` (:mod:`procrecord.writer.forwarding`), which sees only those no other
thread took. Each helper thread therefore blocks them from its first instruction.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from typing import Iterator

#: Signals that come from outside (a terminal, a scheduler, ``kill``); the ones ``procrecord run`` forwards.
EXTERNAL = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
                                                    "SIGWINCH") if hasattr(signal, name))


def start_quiet(thread: threading.Thread) -> None:
    """Start a helper ``thread`` with the signals of :data:`EXTERNAL` blocked from its first instruction.

    A new thread takes its creator's signal mask, so they are blocked here around ``start()``: blocked
    only by the thread itself (:func:`block_external_signals`), a signal that came in the moment before
    would stay with it, unseen by the main thread's wait. One that comes while they are blocked here
    waits for this thread to unblock them, and is delivered then.
    """
    with quiet():
        thread.start()


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Block the signals of :data:`EXTERNAL` in this thread for the block's duration: the threads a
    library starts in it (codecarbon's) are born with them blocked, and so are the threads those start."""
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, EXTERNAL)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask (Windows)
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def block_external_signals() -> None:
    """In a helper thread: leave the signals of :data:`EXTERNAL` to the main thread."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # no pthread_sigmask (Windows)
        signal.pthread_sigmask(signal.SIG_BLOCK, EXTERNAL)
