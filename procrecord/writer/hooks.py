"""The process's hooks that finish the records of running Recorders when the job ends without ``stop()``.

They are the handlers of SIGTERM and SIGHUP, ``sys.excepthook``, ``sys.exit`` and the builtin
``exit``/``quit``. They belong to the process, not to one Recorder: the first Recorder to start installs
them, each acts for every Recorder running when it is called, and when the last Recorder stops the job's
own are put back (those it had before, or those it installed since). So Recorders may start and stop in
any order, nested or interleaved, and from any thread.

Only the main thread may set a signal handler. A Recorder stopped in another thread leaves
procrecord's handler in place: with no Recorder running it does just what the job's own handler (or
the default action) does, and it puts that one back the next time it runs, or when a Recorder stops
in the main thread. Each hook remembers what it replaced, in order: a job's handler that calls the one
it found (procrecord's) reaches the job's earlier handler, never procrecord's again.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import signal
import sys
import threading
import weakref
from typing import Any, Callable, Iterator, Protocol


class Running(Protocol):
    """What the hooks need of a Recorder (:class:`procrecord.writer.recorder.Recorder`)."""

    _handle_signals: bool
    _exit_request: Any
    _order: int

    def _mine(self) -> bool: ...

    def _interrupt(self, signum: int, stop: bool) -> None: ...

    def _fail_uncaught(self, error: BaseException) -> None: ...

    def _at_exit(self) -> None: ...


#: Signals whose default action ends the job without Python's atexit: recorded as ``interrupted``
#: before the default action runs (SIGINT raises KeyboardInterrupt, recorded by the exception hooks).
STOPPING_SIGNALS = tuple(getattr(signal, n) for n in ("SIGTERM", "SIGHUP") if hasattr(signal, n))


class _Slot:
    """One hook procrecord replaces while Recorders run, and what it replaced there, oldest first."""

    def __init__(self, get: Callable[[], Any], put: Callable[[Any], Any], ours: Any, default: Any) -> None:
        self._get = get
        self._put = put
        self.ours = ours
        self.default = default
        self.replaced: list[Any] = []
        self._calls = threading.local()  # calls of a replaced hook under way, in this thread

    @property
    def depth(self) -> int:
        """How many replaced hooks this thread is calling (a job's hook may call procrecord's back)."""
        return getattr(self._calls, "depth", 0)

    def installed(self) -> bool:
        """True when procrecord's hook is the one in place."""
        return self._get() is self.ours

    def install(self) -> None:
        """Put procrecord's hook in place, remembering the one it replaces."""
        current = self._get()
        if current is not self.ours:
            self.replaced.append(current)
            self._put(self.ours)

    def restore(self) -> None:
        """Put back the hook procrecord's replaced (unless the job has since installed another)."""
        # None: a signal handler set outside Python, which Python cannot set again (ours stays; with
        # no Recorder running it does the default action)
        if self.installed() and self.replaced and self.replaced[-1] is not None:
            self._put(self.replaced.pop())

    def previous(self) -> Any:
        """The hook procrecord's stands for in this call: the last one it replaced, or the one before
        that when the last one is calling procrecord's back."""
        index = len(self.replaced) - 1 - self.depth
        return self.replaced[index] if index >= 0 else self.default

    def call_previous(self, *args: Any) -> Any:
        """Call :meth:`previous` with ``args``."""
        hook = self.previous()
        self._calls.depth = self.depth + 1
        try:
            return hook(*args)
        finally:
            self._calls.depth -= 1


def _signal_slot(signum: int) -> _Slot:
    return _Slot(lambda: signal.getsignal(signum), lambda handler: signal.signal(signum, handler), _on_signal,
                 signal.SIG_DFL)


def _attribute_slot(owner: Any, name: str, ours: Any, default: Any) -> _Slot:
    return _Slot(lambda: getattr(owner, name, None), lambda value: setattr(owner, name, value), ours, default)


# -- the hooks -----------------------------------------------------------------------------------------

def _on_signal(signum: int, frame: Any) -> None:
    """SIGTERM, SIGHUP: finish every running Recorder's record, then do what the job's handler does."""
    if _held[0]:
        # the main thread is finishing a record: the signal acts once that is on disk (holding())
        _deferred.append(signum)
        return
    slot = _SIGNALS[signum]
    previous = slot.previous()
    try:
        if previous == signal.SIG_IGN:
            return  # the job ignores this signal: it goes on, and so do its records
        if callable(previous):
            # The job's own handler decides what the signal means (it may clean up and exit 0): the
            # records note the signal and end with what the process really does.
            for recorder in _running(signals=True):
                recorder._interrupt(signum, stop=False)
            slot.call_previous(signum, frame)
            return
        for recorder in _running(signals=True):
            recorder._interrupt(signum, stop=True)
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    finally:
        if slot.depth == 0 and not _updating[0]:
            _restore_idle(main=True)  # a Recorder stopped in another thread left this handler here


def _excepthook(kind: Any, error: BaseException, tb: Any) -> None:
    """An uncaught exception: every running Recorder records it as ``failed`` (a KeyboardInterrupt as
    ``interrupted``), then the job's hook prints it. A second Ctrl-C meanwhile waits, and is dropped:
    the job is ending already (one that ends this hook before it records is seen at exit: uncaught())."""
    with holding(ending=True):
        for recorder in _running():
            recorder._fail_uncaught(error)
    _EXCEPTHOOK.call_previous(kind, error, tb)


def _note_exit(code: Any) -> tuple[list[Any], object]:
    # Python gives atexit handlers no exit code: note the one asked for (main thread only: elsewhere
    # sys.exit ends just that thread). Returns the Recorders that noted it and this request's token.
    token = object()
    if threading.current_thread() is not threading.main_thread():
        return [], token
    noted = _running()
    for recorder in noted:
        recorder._exit_request = code
        _exit_tokens[recorder] = token
    return noted, token


#: Each running Recorder's last exit request (:func:`_note_exit`), by its token.
_exit_tokens: weakref.WeakKeyDictionary[Any, object] = weakref.WeakKeyDictionary()


class _ExitWatch:
    """Rides on the ``SystemExit`` that ``sys.exit()`` raised (in its ``__dict__``) and tells, when that
    exception is freed, whether it ended the job. One that reaches the interpreter's top level is freed
    there, by C code, before the atexit handlers run: no Python frame is running then. One that the job
    caught (``except SystemExit``: argparse's error in a ``try``, click's ``standalone_mode=False``, an
    interactive shell) is freed while the job's code runs on: then the job did not exit, and the code it
    asked for is forgotten, so a job that goes on to end normally is ``completed`` with exit code 0."""

    def __init__(self, recorders: list[Any], token: object) -> None:
        self._recorders = weakref.WeakSet(recorders)
        self._token = token

    def __del__(self) -> None:
        try:
            if _getframe is None or _getframe(0).f_back is None:
                return  # freed by the interpreter as it ends: the exit is real
            for recorder in list(self._recorders):
                if _exit_tokens.get(recorder) is self._token:  # no later sys.exit() since
                    recorder._exit_request = None
        except Exception:  # noqa: BLE001 - never let a finalizer of the job's exception fail
            pass


#: Where a freed exception's finalizer looks for the Python code running (CPython frees objects when
#: the last reference goes: elsewhere an exception is freed at no telling time, and nothing is forgotten).
_getframe = sys._getframe if sys.implementation.name == "cpython" else None


def _exiting(noted: list[Any], token: object) -> None:
    """Put an :class:`_ExitWatch` on the ``SystemExit`` being raised (the one ``sys.exc_info()`` holds,
    never bound to a name here: a frame holding it would keep it alive past its real end)."""
    error = sys.exc_info()[1]
    if noted and _getframe is not None and isinstance(error, SystemExit):
        with contextlib.suppress(Exception):
            error.__dict__["_procrecord_exit"] = _ExitWatch(noted, token)


def _sys_exit(code: Any = None) -> Any:
    """``sys.exit`` while Recorders run: note the code, then exit as asked."""
    noted, token = _note_exit(code)
    try:
        return _EXIT.call_previous(code)
    except SystemExit:
        _exiting(noted, token)
        raise


class _Quitter:
    """The builtin ``exit`` or ``quit`` while Recorders run: notes the code, then exits as asked."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return repr(_BUILTINS[self.name].previous())

    def __call__(self, code: Any = None) -> Any:
        noted, token = _note_exit(code)
        try:
            return _BUILTINS[self.name].call_previous(code)
        except SystemExit:
            _exiting(noted, token)
            raise


_SIGNALS = {signum: _signal_slot(signum) for signum in STOPPING_SIGNALS}
_EXCEPTHOOK = _attribute_slot(sys, "excepthook", _excepthook, sys.__excepthook__)
_EXIT = _attribute_slot(sys, "exit", _sys_exit, sys.exit)
_BUILTINS = {name: _attribute_slot(builtins, name, _Quitter(name), None) for name in ("exit", "quit")}

#: Recorders started and not yet stopped in this process.
_live: weakref.WeakSet[Any] = weakref.WeakSet()
_lock = threading.RLock()
#: [True] while a thread changes the hooks (a signal handler must not restore them meanwhile).
_updating = [False]
#: [holds of the main thread finishing a record (holding())]: a signal then waits in _deferred.
_held = [0]
_deferred: list[int] = []
#: While held: the SIGINT handler the outermost hold replaced by _defer ([] when it replaced none).
_held_sigint: list[Any] = []
#: [True] when a hold under way is on a path that ends the job (a waiting SIGINT is then dropped).
_held_ending = [False]
#: [True] once watch_signals() installed the handlers for good.
_watched = [False]


def _running(signals: bool = False) -> list[Running]:
    """The running Recorders of this process, the last started first."""
    found = [r for r in list(_live) if r._mine() and (r._handle_signals or not signals)]
    return sorted(found, key=lambda r: r._order, reverse=True)


@contextlib.contextmanager
def _changing() -> Iterator[None]:
    """Hold the lock while this thread changes the hooks (a signal handler then leaves them alone)."""
    with _lock:
        _updating[0] = True
        try:
            yield
        finally:
            _updating[0] = False


def _each_signal(action: Callable[[_Slot], None]) -> None:
    """``action`` on every signal slot; one Python may not set here (not the main thread) is left as it is."""
    for slot in _SIGNALS.values():
        try:
            action(slot)
        except (ValueError, OSError):
            pass


def _restore_idle(main: bool) -> None:
    """Put back the job's hooks that no running Recorder needs (signal handlers only in the main thread)."""
    with _changing():
        running = _running()
        if not running:
            for slot in (_EXCEPTHOOK, _EXIT, *_BUILTINS.values()):
                slot.restore()
        if main and not _watched[0] and not any(r._handle_signals for r in running):
            _each_signal(_Slot.restore)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


# -- the Recorder's side ---------------------------------------------------------------------------

def started(recorder: Running) -> None:
    """``recorder`` runs: install the hooks (the signal handlers only from the main thread)."""
    with _changing():
        _live.add(recorder)
        for slot in (_EXCEPTHOOK, _EXIT):
            slot.install()
        for name, slot in _BUILTINS.items():
            if hasattr(builtins, name):  # not under python -S
                slot.install()
        if recorder._handle_signals and _in_main_thread():
            _each_signal(_Slot.install)


def _defer(signum: int, frame: Any) -> None:
    """SIGINT's handler while a record is finished: the signal waits (see :class:`holding`)."""
    _deferred.append(signum)


class holding:
    """``with holding():`` a record is being finished (the status chosen, the final record written,
    the hooks put back): in the main thread SIGINT, SIGTERM and SIGHUP wait until the outermost hold
    ends, then act, with the handlers then in place. A second Ctrl-C can so never tear the final
    write apart (a KeyboardInterrupt raised in it left the record ``running``).

    SIGINT's handler (Python's, raising KeyboardInterrupt, or the job's) is replaced by one that notes
    the signal; SIGTERM's and SIGHUP's (procrecord's) note it themselves while held. ``ending``: the
    hold is on a path that ends the job (an uncaught exception, the exit, a stopping signal): a
    SIGINT that waited is dropped, since a KeyboardInterrupt raised there would only interrupt the
    end itself. Other threads hold nothing: Python runs signal handlers in the main thread only.
    """

    def __init__(self, ending: bool = False) -> None:
        self._ending = ending
        self._counted = False

    def __enter__(self) -> None:
        if not _in_main_thread():
            return
        if not _held[0]:
            # The handler first: from then on no SIGINT raises here, so the count below cannot be
            # left behind by a KeyboardInterrupt between the two.
            with contextlib.suppress(ValueError, OSError):
                current = signal.getsignal(signal.SIGINT)
                # None: set outside Python (cannot be put back); SIG_IGN: ignored stays ignored
                if current is not None and current != signal.SIG_IGN and current is not _defer:
                    signal.signal(signal.SIGINT, _defer)
                    _held_sigint[:] = [current]
        _held[0] += 1
        self._counted = True
        if self._ending:
            _held_ending[0] = True

    def __exit__(self, *exc: Any) -> None:
        if not self._counted:
            return
        self._counted = False
        _held[0] -= 1
        if _held[0]:
            return
        ending, _held_ending[0] = _held_ending[0], False
        if _held_sigint:
            previous = _held_sigint.pop()
            with contextlib.suppress(ValueError, OSError):
                if signal.getsignal(signal.SIGINT) is _defer:
                    signal.signal(signal.SIGINT, previous)
        if not _deferred:
            return
        pending = list(dict.fromkeys(_deferred))
        _deferred.clear()
        # SIGINT last: its KeyboardInterrupt (raised as soon as it is sent) must not keep the others back
        pending.sort(key=lambda signum: signum == signal.SIGINT)
        for signum in pending:
            if not (ending and signum == signal.SIGINT):
                os.kill(os.getpid(), signum)


def stopped(recorder: Running) -> None:
    """``recorder`` has stopped: put back what no running Recorder needs (a signal that came while
    its record was finished acts when the hold of :class:`holding` ends, with the handler then in place)."""
    with _lock:
        _live.discard(recorder)
    _restore_idle(main=_in_main_thread())


def signals_watched() -> bool:
    """True when the main thread's handler of every stopping signal finishes other threads' records."""
    return all(slot.installed() for slot in _SIGNALS.values())


def uncaught(before: Any) -> BaseException | None:
    """At exit, for a Recorder still running: the exception that ended the main thread unrecorded, if
    any. Python stores it in ``sys.last_exc`` (``sys.last_value`` before 3.12) before it calls
    ``sys.excepthook``; ``before`` is what was there when the Recorder started.

    Where the job replaced procrecord's hook with one that does not call it, that exception. Where
    procrecord's is in place it saw every uncaught exception (and an interactive shell such as
    IPython stores a cell's error there too, and goes on), except when it was itself interrupted before
    it recorded anything: a second Ctrl-C as Python called it. So then only a KeyboardInterrupt,
    which would otherwise be recorded as ``completed``."""
    error = last_error()
    if not isinstance(error, BaseException) or error is before:
        return None
    if _EXCEPTHOOK.installed() and not isinstance(error, KeyboardInterrupt):
        return None
    return error


def last_error() -> Any:
    """The last uncaught exception Python reported (None when there is none)."""
    return getattr(sys, "last_exc", None) or getattr(sys, "last_value", None)


def watch_signals() -> None:
    """Let Recorders started in other threads record SIGTERM and SIGHUP as ``interrupted``.

    Python handles signals only in the main thread, and only code running there may install a
    handler: call this once there, before such a Recorder starts. The handler finishes the record of
    every running Recorder, then does what the handler before it did (the job's own handler, or the
    default action). A Recorder started in the main thread needs none of this.
    """
    if not _in_main_thread():
        raise RuntimeError("watch_signals() must be called in the main thread: Python installs signal handlers "
                           "only there")
    with _changing():
        _watched[0] = True
        for slot in _SIGNALS.values():
            slot.install()


def forget_in_child() -> list[Running]:
    """In a forked child: no Recorder runs there (their records are the parent's), so the hooks act
    as the job's own; the exception and exit hooks are put back. The signal handlers stay: they do
    what the job's handler would, and replacing one here could lose a signal that arrived during
    the fork. Returns the Recorders that were running."""
    global _lock
    _lock = threading.RLock()  # another thread may have held it at the fork
    running = list(_live)
    _live.clear()
    _held[0] = 0
    _deferred.clear()
    if _held_sigint:  # forked while a record was finished: SIGINT is the job's again
        with contextlib.suppress(ValueError, OSError):
            if signal.getsignal(signal.SIGINT) is _defer:
                signal.signal(signal.SIGINT, _held_sigint[0])
        _held_sigint.clear()
    _held_ending[0] = False
    _updating[0] = False
    for slot in (_EXCEPTHOOK, _EXIT, *_BUILTINS.values()):
        slot.restore()
    return running
