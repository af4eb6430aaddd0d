"""Starting the command of ``procrecord run`` so that ``wait4`` reports its own peak memory.

Linux keeps, in a process's peak RSS, the high-water mark of the address space it had before it
exec'd (``exec_mmap`` carries it into ``signal->maxrss``). A command spawned straight from Python
therefore "peaks" at procrecord's ~20 MB even when it is ``true``. Where it can, the command is
started the way ``/usr/bin/time`` starts it, from a small program: procrecord becomes a child
subreaper, ``/bin/sh`` forks the command in the background and exits at once, and the command, now
procrecord's own child, is reaped with ``wait4`` -- whose peak is then the command's (plus the
~1.5 MB of the small shell it was forked from, the same floor ``/usr/bin/time`` has).

A background job of a non-interactive shell ignores SIGINT and SIGQUIT and reads ``/dev/null``;
``env --default-signal`` (GNU coreutils 8.31+) undoes the first and a redirection of a copy of
standard input the second. Where any piece is missing (not Linux, no such ``env``, standard input
closed, a command that cannot be found), the command is spawned directly, as before, and its peak is
not called exact.

``procrecord run`` spawns the command held (``hold=True``): the inner shell waits on a pipe until
:meth:`Child.release`, so the record and its energy estimator are ready before the command's first
instruction while its pid is known (spawned directly, a held command is started at the release).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from typing import Any

_PR_SET_CHILD_SUBREAPER = 36
#: The outer shell forks the inner one in the background and exits; the inner shell says its pid
#: (the command's, after the exec) on fd 3 and becomes ``env``, then the command.
_OUTER = '"$@" <&4 4<&- &'
_INNER = 'echo $$ >&3; exec 3>&-; exec "$@"'
#: Held (``spawn(hold=True)``): the inner shell then waits on fd 5 for a line saying "go"; at end of
#: file (procrecord gone) it exits with 125 and the command never runs.
_INNER_HELD = 'echo $$ >&3; exec 3>&-; read -r go <&5 || exit 125; exec 5<&-; exec "$@"'
_ENV: list[str | None] = []  # GNU env's path once probed (None: not usable)


class Child:
    """A started command: its pid, how to signal it, and whether its ``wait4`` peak is its own."""

    def __init__(self, pid: int | None, exact_peak: bool, popen: subprocess.Popen[Any] | None = None,
                 go: int | None = None, start: Any = None) -> None:
        #: The command's pid (None for a held command that starts only at :meth:`release`).
        self.pid = pid
        #: True when the command was forked by a small shell and is reaped by us: ``ru_maxrss`` is its own.
        self.exact_peak = exact_peak
        self._popen = popen
        self._go = go  # the write end of the pipe a held small shell waits on
        self._start = start  # what starts a held command that is not running yet
        self.reaped = False

    def release(self) -> None:
        """Let a held command run (``spawn(hold=True)``); nothing for one already running.

        Raises ``OSError`` as :class:`subprocess.Popen` does when the command cannot be run.
        """
        if self._go is not None:
            go, self._go = self._go, None
            try:
                os.write(go, b"go\n")
            finally:
                os.close(go)
        elif self._start is not None:
            start, self._start = self._start, None
            popen = start()
            self.pid, self._popen = popen.pid, popen

    def send_signal(self, signum: int) -> None:
        """Send ``signum`` to the command unless it has been reaped (its pid may be another's now) or
        has not been started."""
        if self.reaped or self.pid is None:
            return
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """Kill the command and reap it (a held one never runs)."""
        self._start = None
        if self.pid is None:
            return
        self.send_signal(signal.SIGKILL)
        if self._go is not None:
            os.close(self._go)
            self._go = None
        self.wait()

    def wait_ended(self) -> None:
        """Wait until the command has ended, without reaping it: until :meth:`wait`, it stays a
        zombie whose CPU times can still be read (as an energy estimator that follows processes does)."""
        if self.pid is None or self.reaped or not hasattr(os, "waitid"):
            return
        while True:
            try:
                os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOWAIT)
                return
            except InterruptedError:
                continue
            except ChildProcessError:
                return

    def wait(self) -> tuple[int, Any]:
        """Wait for the command to end: its wait status and rusage (``None`` if reaped elsewhere)."""
        assert self.pid is not None, "a held command is released before it is waited for"
        try:
            while True:
                try:
                    _, status, rusage = os.wait4(self.pid, 0)
                    if self._popen is not None:  # reaped here: Popen must not wait for it again
                        self._popen.returncode = os.waitstatus_to_exitcode(status)
                    return status, rusage
                except InterruptedError:
                    continue
                except ChildProcessError:  # reaped elsewhere: nothing more to learn
                    return 0, None
        finally:
            self.reaped = True
            if self.exact_peak:
                _set_subreaper(False)


def spawn(argv: list[str], env: dict[str, str], hold: bool = False) -> Child:
    """Start ``argv`` with ``env``, sharing our stdin/stdout/stderr and process group.

    ``hold``: the command runs only at :meth:`Child.release`. Through the small shell, its process
    exists (and has its pid) from now on, waiting; spawned directly, it is started at the release.
    Raises ``OSError`` as :class:`subprocess.Popen` does when the command cannot be run (at the
    release for a held command spawned directly).
    """
    if _can_fork_small(argv, env):
        try:
            child = _spawn_small(argv, env, hold)
        except OSError:
            child = None  # nothing of the command ran: spawn it directly
        if child is not None:
            return child

    def start() -> subprocess.Popen[Any]:
        return subprocess.Popen(argv, env=env)

    if hold:
        return Child(None, exact_peak=False, start=start)
    popen = start()
    return Child(popen.pid, exact_peak=False, popen=popen)


def _can_fork_small(argv: list[str], env: dict[str, str]) -> bool:
    if not sys.platform.startswith("linux") or not hasattr(os, "posix_spawn") or not os.path.exists("/bin/sh"):
        return False
    try:
        os.fstat(0)
    except OSError:
        return False  # no standard input to hand on
    # A command that cannot be run is left to Popen, whose error (127/126 and its message) stands.
    return shutil.which(argv[0], path=env.get("PATH", os.defpath)) is not None and _env_program() is not None


def _reset_signals() -> list[str]:
    """The signals a background job would ignore that the command must not (those we ignore stay ignored)."""
    return [name for name in ("INT", "QUIT") if signal.getsignal(getattr(signal, "SIG" + name)) is not signal.SIG_IGN]


def _env_program() -> str | None:
    """GNU ``env`` where it has ``--default-signal`` (probed once), else None."""
    if not _ENV:
        path = shutil.which("env")
        if path is not None:
            try:
                probe = subprocess.run([path, "--default-signal=INT", "-i"], stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL, timeout=10)
                path = path if probe.returncode == 0 else None
            except (OSError, subprocess.SubprocessError):
                path = None
        _ENV.append(path)
    return _ENV[0]


def _set_subreaper(on: bool) -> bool:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _spawn_small(argv: list[str], env: dict[str, str], hold: bool = False) -> Child | None:
    """Start the command through the two shells (held on a pipe's read end at fd 5 with ``hold``);
    None when it could not be started that way."""
    import fcntl

    env_program = _env_program()
    assert env_program is not None
    reset = _reset_signals()
    command = [env_program, *([f"--default-signal={','.join(reset)}"] if reset else []), "--", *argv]
    if not _set_subreaper(True):
        return None
    read_end, write_end = os.pipe()
    go_read = go_write = -1
    try:
        # Away from 3, 4 and 5, which the shell's file actions below fill.
        high = fcntl.fcntl(write_end, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(write_end)
        write_end = high
        actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_CLOSE, fd) for fd in _inheritable_fds()]
        actions += [(os.POSIX_SPAWN_DUP2, write_end, 3), (os.POSIX_SPAWN_DUP2, 0, 4)]
        if hold:
            low_read, low_write = os.pipe()
            go_read = fcntl.fcntl(low_read, fcntl.F_DUPFD_CLOEXEC, 10)
            go_write = fcntl.fcntl(low_write, fcntl.F_DUPFD_CLOEXEC, 10)
            os.close(low_read)
            os.close(low_write)
            actions.append((os.POSIX_SPAWN_DUP2, go_read, 5))
        defaults = tuple(getattr(signal, n) for n in ("SIGPIPE", "SIGXFSZ") if hasattr(signal, n))
        inner = _INNER_HELD if hold else _INNER
        shell = os.posix_spawn("/bin/sh", ["sh", "-c", _OUTER, "sh", "/bin/sh", "-c", inner, "sh", *command],
                               env, file_actions=actions, setsigdef=defaults)
    except OSError:
        for fd in (read_end, write_end, go_read, go_write):
            if fd >= 0:
                os.close(fd)
        _set_subreaper(False)
        raise
    os.close(write_end)
    if go_read >= 0:
        os.close(go_read)
    try:
        said = b""
        while not said.endswith(b"\n"):
            piece = os.read(read_end, 64)
            if not piece:
                break
            said += piece
    finally:
        os.close(read_end)
    while True:  # the outer shell exits at once; its background child is ours from then on
        try:
            os.waitpid(shell, 0)
            break
        except InterruptedError:
            continue
        except ChildProcessError:
            break
    if not said.strip().isdigit():
        if go_write >= 0:
            os.close(go_write)
        _set_subreaper(False)
        return None
    return Child(int(said), exact_peak=True, go=go_write if go_write >= 0 else None)


def _inheritable_fds() -> list[int]:
    """Our open file descriptors above 2 that a spawned program would inherit (closed for it, as
    ``Popen(close_fds=True)`` does)."""
    try:
        names = os.listdir("/proc/self/fd")
    except OSError:
        return []
    found = []
    for name in names:
        fd = int(name)
        if fd <= 2:
            continue
        try:
            if os.get_inheritable(fd):
                found.append(fd)
        except OSError:
            continue  # the listing's own descriptor, closed by now
    return found
