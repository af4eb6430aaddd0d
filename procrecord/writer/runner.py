"""``procrecord run -- CMD ...``: run any command as a child and write its record.

The child gets our stdin/stdout/stderr, our process group and each signal we receive that it did not
get too (:mod:`procrecord.writer.forwarding`); we reap it with ``wait4`` so the record holds the child's
own CPU times and peak memory (see :mod:`procrecord.writer.spawn` for how the peak is made the
command's own on Linux); we exit with the child's exit code (128 + N when a signal N ended it, as
shells do).
"""

from __future__ import annotations

import datetime as dt
import errno
import os
import shutil
import signal
import sys
import threading
from typing import Any, Iterator, Sequence

from procrecord.atomic import check_writable
from procrecord.collectors.interface import Collector
from procrecord.collectors.resources import RSS_UNIT
from procrecord.errors import OutputNotARecordError, RecordWriteError
from procrecord.writer.artifacts import DEFAULT_MAX_DIGEST_BYTES
from procrecord.writer.existing import refusal
from procrecord.writer.forwarding import FORWARDED, Forwarder
from procrecord.writer.recorder import Recorder
from procrecord.writer.spawn import Child, spawn
from procrecord.writer.threads import block_external_signals, start_quiet

__all__ = ["FORWARDED", "INTERRUPTING", "interrupted_early", "run_command"]
#: Signals that mean "someone stopped the job" rather than "the job crashed".
INTERRUPTING = {getattr(signal, n) for n in ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT") if hasattr(signal, n)}


class ChildResources(Collector):
    """The child's resources, from the rusage ``wait4`` returns.

    Linux counts in a child's peak RSS the memory of the process it was spawned from, up to the
    moment it exec'd the command (the old address space's high-water mark is kept at exec). Where
    the command was forked by a small shell and reaped by us (``exact``), the peak is its own. Where
    it was spawned straight from procrecord, a figure no higher than procrecord's own peak at spawn
    may be procrecord's, not the command's: it is left out, with the reason, rather than recorded
    as the command's.
    """

    name = section = "resources"

    def __init__(self) -> None:
        self.rusage: Any = None
        #: procrecord's own peak RSS when it spawned the child (None where /proc does not tell).
        self.spawner_peak: int | None = None
        #: True when ``rusage`` is the command's own (forked by a small shell, reaped by us).
        self.exact = False
        self.problems: list[str] = []

    def update(self, state: Any) -> Any:
        if self.rusage is None:
            return None
        usage = self.rusage
        section = {"children_cpu_user_s": round(usage.ru_utime, 6), "children_cpu_system_s": round(usage.ru_stime, 6)}
        peak = usage.ru_maxrss * RSS_UNIT
        if not self.exact and self.spawner_peak is not None and peak <= self.spawner_peak:
            self.problems = [f"the command's peak RSS is not known: it stayed below procrecord's own "
                             f"({self.spawner_peak // 1024} KiB), which Linux reports for a spawned command"]
        else:
            section["children_peak_rss_bytes"] = peak
        return section


def own_peak_rss() -> int | None:
    """This process's peak RSS in bytes (``VmHWM``), where ``/proc`` tells it."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def record_name(command: str, record_id: str, serial: int = 0) -> str:
    """``COMMAND-YYYYmmddTHHMMSS-ID8.procrecord.json``: the command's name, the local time to the
    second and the record id's first 8 hex digits (``-N`` added for the N-th name tried)."""
    stamp = dt.datetime.now().strftime("%Y%m%dT%H%M%S")
    suffix = f"-{serial}" if serial else ""
    return f"{os.path.basename(command) or 'run'}-{stamp}-{record_id.replace('-', '')[:8]}{suffix}.procrecord.json"


def record_paths(folder: str, command: str, record_id: str) -> Iterator[str]:
    """The names a record of ``command`` may take in ``folder``, in order (:func:`record_name`)."""
    return (os.path.join(folder, record_name(command, record_id, serial)) for serial in range(1000))


def _not_a_folder(path: str) -> str | None:
    """The nearest existing ancestor folder of ``path`` when it is a file, not a folder (else None)."""
    folder = os.path.dirname(os.path.normpath(path))  # as the user wrote it, to name it so
    while folder and not os.path.lexists(folder):
        parent = os.path.dirname(folder)
        if parent == folder:
            return None
        folder = parent
    return folder if folder and os.path.lexists(folder) and not os.path.isdir(folder) else None


def _cannot_write(where: str, exc: OSError) -> RecordWriteError:
    blocker = _not_a_folder(where)
    why = f"{blocker} is a file, not a folder" if blocker is not None else (exc.strerror or str(exc))
    return RecordWriteError(f"cannot write the record to {where}: {why}; the command was not run")


def run_command(argv: list[str], output: str, name: str | None = None, emissions: Any = False,
                level: str | None = None, flush_interval: float = 30.0, collectors: list[str] | None = None,
                inputs: Sequence[str] = (), outputs: Sequence[str] = (), usage_interval: float | None = None,
                max_digest_bytes: int | None = DEFAULT_MAX_DIGEST_BYTES, folder: bool = False) -> int:
    """Run ``argv``, write its record to ``output``, and return the exit code to exit with.

    ``folder``: ``output`` is a folder, and the record gets a new file of its own in it
    (:func:`claim_record_file`).
    """
    resources = ChildResources()
    chosen: list[Any] = list(collectors) if collectors is not None else ["invocation", "host", "git", "distributed"]
    recorder: Recorder | None = None
    child: Child | None = None
    written = False  # the record is on disk (as ``running``)
    try:
        recorder = Recorder(name or os.path.basename(argv[0]), argv=argv, output=None if folder else output,
                            collectors=[*chosen, resources], emissions=emissions, level=level,
                            handle_signals=False, use_plugins=True, usage_interval=usage_interval,
                            max_digest_bytes=max_digest_bytes)
        recorder.state.executable = shutil.which(argv[0]) or argv[0]
        for path in inputs:
            recorder.add_input(path)  # hashed in the background while the command runs
        for path in outputs:
            recorder.add_output(path)
        # Before the command runs: a record that cannot be written stops here.
        target = os.path.join(output, record_name(argv[0], recorder.id)) if folder else output
        try:
            check_writable(target)
        except OSError as exc:
            raise _cannot_write(target, exc) from exc
        if not folder:
            why = refusal(target)
            if why is not None:  # `-o train.py`: the job's own script is not turned into its record
                raise OutputNotARecordError(f"cannot write the record to {target}: {why}: it is not replaced; "
                                            "the command was not run")
            if os.path.isfile(target):
                print(f"procrecord: {target} exists: it will be replaced by this run's record", file=sys.stderr)
        if not argv[0]:  # as a shell has it (Popen would try the folders of PATH: "Permission denied")
            return _cannot_run(recorder, argv, FileNotFoundError(errno.ENOENT, "command not found (an empty name)"))
        try:
            # The command is a child of this record (PROCRECORD_PARENT), whatever it starts in turn. It
            # is held until the record has started: the collectors, and the energy estimator that probes
            # the hardware for seconds, are ready before its first instruction, and an estimator that
            # follows this process's children sees it from the start.
            child = spawn(argv, recorder.child_environ(), hold=True)
        except OSError as exc:
            return _cannot_run(recorder, argv, exc)
        recorder.state.pid = child.pid
        resources.exact = child.exact_peak
        recorder.start()
        written = not folder
        if folder:  # the record's first write takes a name no other run has (nothing written before)
            try:
                recorder._write_new(record_paths(output, argv[0], recorder.id))
            except OSError as exc:
                recorder.stop(exit_code=None, status="failed")  # with no output: writes nothing
                raise _cannot_write(target, exc) from exc
            written = True
        resources.spawner_peak = own_peak_rss()
    except KeyboardInterrupt:  # Ctrl-C while getting ready (the energy estimator takes seconds)
        if child is not None:
            child.kill()  # the command never runs
        return _interrupted_early(recorder, argv, written)
    except BaseException:  # no record can be written
        if child is not None:
            child.kill()  # the command never runs unrecorded
        raise
    # Signals are taken (and passed on) from before the command is let go: one that comes as soon as
    # it runs reaches it, and one that comes while the record notes its start waits for the wait.
    with Forwarder(child) as forwarder:
        try:
            child.release()
        except OSError as exc:  # spawned directly, a command that cannot be run fails here
            child.kill()  # (a held shell that is gone already is reaped)
            return _cannot_run(recorder, argv, exc, started=True)
        recorder._begin_job(child.pid)  # the record's timing is the command's
        stop_flushing = threading.Event()
        flusher = threading.Thread(target=_flush_every, args=(recorder, flush_interval, stop_flushing), daemon=True)
        if flush_interval > 0:
            start_quiet(flusher)  # blocked from its first instruction: signals stay with the main thread's wait
        try:
            forwarder.wait_ended()
            recorder._sample_energy()  # the ended command's CPU time, before reaping it takes it away
            status, rusage = child.wait()
        finally:
            stop_flushing.set()
    resources.rusage = rusage
    if os.WIFSIGNALED(status):
        signum = os.WTERMSIG(status)
        recorder._outcome["signal"] = signal.Signals(signum).name
        code = 128 + signum
        _finish(recorder, code, "interrupted" if signum in INTERRUPTING else "failed")
        return code
    code = os.WEXITSTATUS(status)
    _finish(recorder, code, "completed" if code == 0 else "failed")
    return code


def interrupted_early(argv: list[str]) -> str:
    """What ``procrecord run`` says when Ctrl-C stops it before the command started."""
    return f"procrecord: interrupted before {argv[0] or repr('')} started; it was not run"


def _interrupted_early(recorder: Recorder | None, argv: list[str], written: bool) -> int:
    """Ctrl-C before the command started: say so, and the exit code of a SIGINT (130).

    A record already on disk is finished as ``interrupted``; otherwise none is written, now or at exit.
    """
    print(interrupted_early(argv), file=sys.stderr)
    code = 128 + signal.SIGINT
    if recorder is not None and written:
        recorder._outcome["signal"] = "SIGINT"
        _finish(recorder, code, "interrupted")
    elif recorder is not None:
        recorder._abandon()
    return code


def _cannot_run(recorder: Recorder, argv: list[str], exc: OSError, started: bool = False) -> int:
    """Record and say that ``argv`` could not be run; the exit code a shell gives for it."""
    # As a shell says it: the record holds the error too, but the person at the terminal sees this.
    print(f"procrecord: cannot run {argv[0] or repr('')}: {exc.strerror or exc}", file=sys.stderr)
    code = 127 if isinstance(exc, FileNotFoundError) else 126
    if not started:
        recorder.start()
    _finish(recorder, code, "failed", error=exc)
    return code


def _finish(recorder: Recorder, code: int, status: str, error: BaseException | None = None) -> None:
    """Stop the record and say where it is; the command's exit code stands even when the record
    cannot be written."""
    try:
        if error is not None:
            recorder.fail(error, exit_code=code)
        else:
            recorder.stop(exit_code=code, status=status)
    except RecordWriteError as exc:
        print(f"procrecord: {exc}", file=sys.stderr)
    else:
        print(f"procrecord: record written to {recorder.output}", file=sys.stderr)


def _flush_every(recorder: Recorder, interval: float, stop: threading.Event) -> None:
    block_external_signals()  # a signal for the command stays with the main thread's wait
    while not stop.wait(interval):
        try:
            recorder.flush()
        except Exception:  # noqa: BLE001 - a failed intermediate write must not touch the job
            pass
