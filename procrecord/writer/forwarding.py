"""``procrecord run``: pass on to the command each signal procrecord receives that it did not get itself.

The command stays in procrecord's process group, so that it keeps the terminal: a signal the terminal
or the kernel sends to that group reaches both, and passing procrecord's copy on as well gives the
command two (a second Ctrl-C interrupts the command's own clean-up). The kernel says who sent a
signal, not to whom: ``si_code`` tells one the kernel made (``SI_KERNEL``) from one a process sent
with ``kill()`` (``SI_USER``), and that is all there is to go on. What follows from it for certain:

* SIGINT and SIGQUIT (typed at the terminal) and SIGWINCH (the terminal resized) made by the kernel go
  to the terminal's foreground process group, so to the command too while it is in ours.
* SIGHUP made by the kernel goes, on a hangup, only to the session leader, and when the session leader
  exits, to the foreground group: when procrecord is not the session leader, the command (in its
  group) has its own copy; when it is, the command has none.
* A signal sent with ``kill()`` looks the same whether its sender named procrecord's pid or its whole
  group (``kill -TERM -PGID``), or signalled every process of a job one by one: it is passed on, since
  a signal meant for procrecord alone must reach the command. (Checking whether the command has the
  signal pending would not tell either: a copy still pending merges with the one passed on, and a copy
  already taken leaves no trace.)

procrecord blocks these signals in its main thread and takes them with ``sigtimedwait``, which gives
the ``si_code``; helper threads block them from their first instruction (:mod:`procrecord.writer.threads`),
so the kernel keeps them for that wait. Where that is not possible (no ``sigtimedwait`` or ``waitid``),
every signal is passed on by a handler, as before.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Any, Iterable

from procrecord.writer.spawn import Child
from procrecord.writer.threads import EXTERNAL, start_quiet

#: What ``procrecord run`` passes on to its command.
FORWARDED = EXTERNAL
#: ``si_code`` of a signal the kernel made (Linux); ``kill()`` gives ``SI_USER`` (0).
SI_KERNEL = 0x80
#: Made by a terminal for its foreground process group (Ctrl-C, Ctrl-\, a resize).
_FROM_TERMINAL = {getattr(signal, n) for n in ("SIGINT", "SIGQUIT", "SIGWINCH") if hasattr(signal, n)}
_CAN_TAKE = all(hasattr(signal, n) for n in ("sigtimedwait", "pthread_sigmask", "pthread_kill", "SIGCHLD")) and \
    hasattr(os, "waitid")


def reached_command(signum: int, code: int, pid: int | None) -> bool:
    """True when a signal ``signum`` with ``si_code`` ``code`` that procrecord received was sent to the
    command ``pid`` too (see the module's docstring); False when that is not known for certain."""
    if code != SI_KERNEL or pid is None:
        return False
    try:
        if os.getpgid(pid) != os.getpgrp():
            return False  # the command left our group: a signal for the group did not reach it
    except OSError:
        return False
    if signum in _FROM_TERMINAL:
        return True
    if signum == getattr(signal, "SIGHUP", None):
        return os.getsid(0) != os.getpid()  # the session leader alone gets the hangup itself
    return False


class Forwarder:
    """While in use (``with``, in the main thread): the signals of :data:`FORWARDED` that procrecord
    receives are passed on to ``child`` unless it got them too; :meth:`wait_ended` waits for it."""

    def __init__(self, child: Child, signals: Iterable[int] = FORWARDED) -> None:
        self.child = child
        self.signals = tuple(signals)
        self._previous: dict[int, Any] = {}
        self._mask: set[int] | None = None  # the mask to restore, while ours is in place

    def __enter__(self) -> Forwarder:
        # Handlers first: they pass on a signal that a thread not blocking it took (it runs them in
        # the main thread after its wait's next timeout), or every signal where none can be waited for.
        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in self.signals}
        if _CAN_TAKE:
            self._mask = signal.pthread_sigmask(signal.SIG_BLOCK, {*self.signals, signal.SIGCHLD})
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._mask is not None:
            mask, self._mask = self._mask, None
            if signal.SIGCHLD not in mask:  # the wake-up of wait_ended must not reach a SIGCHLD handler
                while signal.sigtimedwait([signal.SIGCHLD], 0) is not None:
                    pass
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one that came since is passed on here
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def wait_ended(self) -> None:
        """Wait until the command has ended (not reaped: :meth:`Child.wait_ended`), passing signals on."""
        if self._mask is None or self.child.pid is None:
            self.child.wait_ended()  # a handler's signal interrupts the wait, and it goes on
            return
        main = threading.get_ident()
        ended = threading.Event()

        def watch() -> None:
            try:
                self.child.wait_ended()
            finally:
                ended.set()
                signal.pthread_kill(main, signal.SIGCHLD)  # blocked there: it wakes the wait below

        watcher = threading.Thread(target=watch, name="procrecord-wait", daemon=True)
        start_quiet(watcher)
        taken = {*self.signals, signal.SIGCHLD}
        while not ended.is_set():
            info = signal.sigtimedwait(taken, 1.0)
            if info is not None and info.si_signo != signal.SIGCHLD:
                self.pass_on(info.si_signo, info.si_code)
        watcher.join()

    def pass_on(self, signum: int, code: int) -> None:
        """Send ``signum`` (received with ``si_code`` ``code``) to the command unless it has it already."""
        if not reached_command(signum, code, self.child.pid):
            self.child.send_signal(signum)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.child.send_signal(signum)  # no siginfo here: passed on, as a kill() is
