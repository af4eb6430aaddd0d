"""procrecord's helper threads and the signals a process receives from outside.

Linux delivers a signal sent to a process to any of its threads that does not block it: usually the
main thread, but not always (for one, when the main thread already has a signal pending). Python runs
its handlers in the main thread in any case, but a blocking call there (``procrecord run`` waiting for
its command in ``wait4``) is interrupted only if the main thread itself received the signal. If a helper
thread receives it instead, the handler waits for that call to end: a SIGTERM for the command would wait
for the command. Each helper thread therefore blocks these signals first, so that the kernel delivers
them to the main thread.
"""

from __future__ import annotations

import contextlib
import signal
import threading

#: Signals that come from outside (a terminal, a scheduler, ``kill``); the ones ``procrecord run`` forwards.
EXTERNAL = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2",
                                                    "SIGWINCH") if hasattr(signal, name))


def start_quiet(thread: threading.Thread) -> None:
    """Start a helper ``thread`` with the signals of :data:`EXTERNAL` blocked from its first instruction.

    A new thread takes its creator's signal mask, so they are blocked here around ``start()``: blocked
    only by the thread itself (:func:`block_external_signals`), a signal that came in the moment before
    would stay with it, unseen by the main thread's ``wait4``. One that comes while they are blocked here
    waits for this thread to unblock them, and is delivered then.
    """
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, EXTERNAL)
    except (AttributeError, OSError, ValueError):  # no pthread_sigmask (Windows)
        thread.start()
        return
    try:
        thread.start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def block_external_signals() -> None:
    """In a helper thread: leave the signals of :data:`EXTERNAL` to the main thread."""
    with contextlib.suppress(AttributeError, OSError, ValueError):  # no pthread_sigmask (Windows)
        signal.pthread_sigmask(signal.SIG_BLOCK, EXTERNAL)
