"""The writer: ``Recorder`` wraps a job and keeps its record, written atomically at every change.

    with Recorder("fit", config=cfg, output="runs/fit.procrecord.json") as rec:
        rec.add_device_info("cuda:0")
        train()

Collectors fill the sections; one whose section the redaction level removes is never run, and the
record is passed through :func:`procrecord.operations.redaction.redact` at that level before it is written, so
the writer at level L and ``redact(level=L)`` of a full record give the same fields. Every write
replaces the file atomically: a job killed at any moment leaves its last complete record.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import itertools
import math
import numbers
import os
import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
import weakref
from typing import Any, Callable, Iterable, Iterator, Literal, Sequence

from procrecord._version import __version__
from procrecord.atomic import write_bytes, write_new
from procrecord.bulk import jsoncodec
from procrecord.collectors import DEFAULT, Collector, Skipped, builtin, plugins

# The default collectors are imported here, with the recorder, so that creating and starting a
# Recorder costs only the collection itself (import time is paid once, up front). The redaction
# policy and rules load only when a level other than "none" needs them.
from procrecord.collectors import devices as _devices
from procrecord.collectors import disks as _disks
from procrecord.collectors import git as _git  # noqa: F401
from procrecord.collectors import host as _host  # noqa: F401
from procrecord.collectors import invocation as _invocation  # noqa: F401
from procrecord.collectors import python_env as _python_env  # noqa: F401
from procrecord.collectors import resources as _resources  # noqa: F401
from procrecord.collectors.interface import State, now_iso
from procrecord.errors import OutputNotARecordError, ProcrecordError, RecorderStateError, RecordWriteError
from procrecord.jsonsafe import to_json
from procrecord.pointer import escape
from procrecord.record.versions import RECORD_TYPE
from procrecord.writer import artifacts as _artifacts
from procrecord.writer import existing as _existing
from procrecord.writer import hooks as _hooks
from procrecord.writer import lineage as _lineage
from procrecord.writer import outputlock as _outputlock
from procrecord.writer.hooks import watch_signals  # noqa: F401 - its old home, kept importable

#: The schema version the collectors fill (a new version needs collectors written for it).
WRITES_VERSION = "1.1"
LEVEL_ENV = "PROCRECORD_LEVEL"
LEGACY_MOST_ENV = "PROCESS_CONTEXT_DISABLE_MOST_TELEMETRY"
LEGACY_ALL_ENV = "PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY"
_FALSY = {"", "0", "false", "no", "off", "n", "f"}
#: The names the readers parse line by line (``procrecord.bulk.loader.JSONL_SUFFIXES``, not imported:
#: the loader's imports would slow every Recorder's start).
JSONL_SUFFIXES = (".jsonl", ".ndjson")


def truthy(value: str | None) -> bool:
    """Environment-variable truth: unset, empty, 0, false, no, off are false; anything else is true."""
    return value is not None and value.strip().lower() not in _FALSY


def resolve_level(level: str | None = None, environ: dict[str, str] | None = None) -> str:
    """The collection level: the strictest of ``level``, $PROCRECORD_LEVEL and the legacy switches."""
    from procrecord.record.policy import LEVELS

    env = os.environ if environ is None else environ
    candidates = ["none"]
    for value, origin in ((level, "level"), (env.get(LEVEL_ENV), LEVEL_ENV)):
        if value:
            if value not in LEVELS:
                raise ProcrecordError(f"{origin}={value!r}: choose from {', '.join(LEVELS)}")
            candidates.append(value)
    if truthy(env.get(LEGACY_MOST_ENV)):
        candidates.append("most")
    if truthy(env.get(LEGACY_ALL_ENV)):
        candidates.append("all")
    return max(candidates, key=LEVELS.index)


class Recorder:
    """Records one run of a job: ``start()``, ``flush()``, ``stop()``; a context manager and a decorator."""

    def __init__(
        self,
        name: str | None = None,
        *,
        config: Any = None,
        argv: list[str] | None = None,
        extra: dict[str, Any] | None = None,
        output: str | os.PathLike[str] | None = None,
        collectors: list[str | Collector] | None = None,
        emissions: bool | dict[str, Any] = False,
        level: str | None = None,
        packages: str = "scan",
        git_dirty: bool = True,
        use_plugins: bool = True,
        handle_signals: bool = True,
        record_args: bool = False,
        usage_interval: float | None = None,
        max_digest_bytes: int | None = _artifacts.DEFAULT_MAX_DIGEST_BYTES,
    ) -> None:
        if name is not None and not isinstance(name, str):
            # Caught here, not at start(): there a name that is no text failed only as the job's
            # lineage was exported, leaving PROCRECORD_PARENT set and the Recorder unusable.
            raise TypeError(f"name={name!r:.60}: expected a str or None")
        if isinstance(argv, (str, bytes)):
            # Iterated, a command line would be recorded one character at a time (kwutil's fault).
            raise TypeError(f"argv={argv!r:.60}: give a list of arguments, e.g. shlex.split(command)")
        usage_interval = _check_number("usage_interval", usage_interval, positive=True)
        max_digest_bytes = _check_number("max_digest_bytes", max_digest_bytes, positive=False)
        if max_digest_bytes is not None and not isinstance(max_digest_bytes, int):
            if not float(max_digest_bytes).is_integer():
                raise ValueError(f"max_digest_bytes={max_digest_bytes!r}: expected a whole number of bytes")
            max_digest_bytes = int(max_digest_bytes)
        self.level = resolve_level(level)
        # "~/runs/fit.json" names the home folder, as it does in a shell (not a folder named "~")
        self.output = os.path.expanduser(os.fspath(output)) if output is not None else None
        self._settings = {"name": name, "config": config, "argv": argv, "extra": extra, "output": output,
                          "collectors": collectors, "emissions": emissions, "level": level, "packages": packages,
                          "git_dirty": git_dirty, "use_plugins": use_plugins, "handle_signals": handle_signals,
                          "usage_interval": usage_interval, "max_digest_bytes": max_digest_bytes}
        self._record_args = record_args
        safe_config, notes = to_json(config) if config is not None else (None, [])
        self.state = State(name, [str(a) for a in argv] if argv is not None else None, safe_config, notes, self.level)
        #: The job's own data (the record's ``extra``): add results while the job runs, with
        #: :meth:`set_extra` or by changing this dict; it is written at every flush and at stop.
        self.extra: dict[str, Any] = {}
        if extra is not None:
            self.extra.update(extra if isinstance(extra, dict) else {"value": extra})
        self._collectors = self._make_collectors(collectors, emissions, packages, git_dirty, use_plugins)
        self._handle_signals = handle_signals
        self._lock = threading.RLock()
        self._sections: dict[str, Any] = {}
        self._extensions: dict[str, Any] = {}
        self._outcomes: dict[str, dict[str, Any]] = {}
        self._record: dict[str, Any] | None = None
        self._id = str(uuid.uuid4())
        self._status = "running"
        self._outcome: dict[str, Any] = {}
        self._started = self._stopped = False
        self._t0 = 0.0
        self._t1: float | None = None  # monotonic time at stop(), before the collectors' own shutdown
        self._start_time: str | None = None
        self._stop_time: str | None = None
        #: The code last given to ``sys.exit()`` or ``exit()`` in the main thread (Python tells atexit nothing).
        self._exit_request: Any = _NO_EXIT
        #: The last uncaught exception Python had reported when this Recorder started (see _at_exit).
        self._error_before: Any = None
        self._order = 0  # when it started, among this process's Recorders
        # 1.1: artifacts (collectors made on first use), lineage, usage over time
        self._max_digest_bytes = max_digest_bytes
        self._artifact_collectors: dict[str, _artifacts.ArtifactsCollector] = {}
        self._lineage: _lineage.Export | None = None
        if usage_interval and not self._removed("usage"):
            from procrecord.writer.usage import UsageCollector

            self._collectors.append(UsageCollector(usage_interval))
        #: The process that started the recording: the only one that ever writes its record (a
        #: forked child - a DataLoader worker, a multiprocessing daemon - inherits the object).
        self._pid: int | None = None
        #: The output's real path whose lock (:mod:`procrecord.writer.outputlock`) this Recorder holds.
        self._locked_output: str | None = None
        #: An output naming a folder (``runs/``): the record gets a file of its own in it at start().
        self._folder: str | None = None

    # -- configuration -------------------------------------------------------------------------

    def _removed(self, section: str | None) -> bool:
        if self.level == "none":
            return False  # nothing is removed: no need to read the schema's policy at all
        from procrecord.record.policy import policy, removes
        from procrecord.record.schemas import current_version

        node = (policy(current_version()).children or {}).get(section or "extensions")
        return node is not None and removes(node.redact, self.level)

    def _make_collectors(self, names: Any, emissions: Any, packages: str, git_dirty: bool, use_plugins: bool) -> list[Collector]:
        chosen: list[Collector] = []
        for item in (list(DEFAULT) if names is None else list(names)):
            if isinstance(item, Collector):
                chosen.append(item)
            elif item == "python":
                chosen.append(builtin("python", packages=packages))
            elif item == "git":
                chosen.append(builtin("git", dirty=git_dirty))
            else:
                chosen.append(builtin(item))
        if emissions is not None and emissions is not False:
            from procrecord.collectors.emissions import check_options, options_of

            options = options_of(emissions)  # True or a dict: 'no' is a TypeError, not "on"
            check_options(options)  # a misspelt option or country is an error now, not a silent zero later
            chosen.append(builtin("emissions", **options))
        self._disks = _disks.DisksCollector()  # the concrete classes: add_disk_info and add_device_info use their own API
        self._devices = _devices.DevicesCollector()
        chosen.extend([self._disks, self._devices])
        if use_plugins:
            for name, load in plugins():
                chosen.append(_PluginCollector(name, load))
        return [c for c in chosen if not self._removed(c.section)]

    # -- the legacy-style helpers ------------------------------------------------------------------

    def add_disk_info(self, path: str | os.PathLike[str]) -> None:
        """Record the disk holding ``path`` (mount point, filesystem, device, sizes, kind)."""
        if self._removed("disks"):
            return
        with self._lock:  # the flusher thread builds the record under this lock
            self._disks.paths.append(os.fspath(path))
            if self._started and self._mine():  # after stop() too: the final record grows (kwutil did so)
                self._run("collect", self._disks)
                self._write()

    def add_device_info(self, device: Any = None) -> None:
        """Record a compute device (torch.device, ``"cuda:0"``, ``"cpu"``, index; default GPU 0).

        A device that cannot be read (no GPU here) is recorded with the reason; something that is not
        a device (``"bogus"``) raises :class:`ProcrecordError`.
        """
        _devices.parse_device(device)
        if self._removed("devices"):
            return
        with self._lock:  # the flusher thread builds the record under this lock
            if self._started and self._mine():
                self._devices.add(device, self.state)
                self._run("collect", self._devices)
                self._write()
            elif not self._started:
                self._devices.requested.append(device)

    def set_extra(self, values: dict[str, Any] | None = None, /, **more: Any) -> None:
        """Add results to the record's ``extra`` (written at the next flush and at stop)."""
        with self._lock:
            self.extra.update(values or {}, **more)

    # -- 1.1: artifacts and lineage ---------------------------------------------------------------

    @property
    def id(self) -> str:
        """The record's id (known from construction on)."""
        return self._id

    def add_input(self, path: str | os.PathLike[str], role: str | None = None, *, digest: bool | None = None) -> None:
        """Record a file, folder, glob or URI the job reads; hashed in a background thread from now on.

        ``digest=True`` hashes it whatever its size, ``False`` never; by default only what is at
        most ``max_digest_bytes`` is hashed. It appears in the record at the next flush or stop.
        """
        self._add_artifact("inputs", path, role, digest)

    def add_output(self, path: str | os.PathLike[str], role: str | None = None, *, digest: bool | None = None) -> None:
        """Record a file, folder, glob or URI the job writes; described and hashed at stop."""
        self._add_artifact("outputs", path, role, digest)

    def _add_artifact(self, section: str, path: Any, role: str | None, digest: bool | None) -> None:
        if self._removed(section):
            return
        with self._lock:
            if self._stopped:
                raise RecorderStateError(f"add_{section[:-1]}() after stop()")
            collector = self._artifact_collectors.get(section)
            if collector is None:
                collector = _artifacts.ArtifactsCollector(section, self._max_digest_bytes)
                self._artifact_collectors[section] = collector
                self._collectors.append(collector)
            collector.artifacts.add(path, role, digest)

    def child_environ(self) -> dict[str, str]:
        """A copy of the environment that makes a process started with it a child of this job."""
        root = self._sections.get("root", {}).get("id") or _lineage.sections(self._id)["root"]["id"]
        return _lineage.child_environ(self._id, root, self.state.name)

    def _link(self) -> None:
        if not self._removed("parent"):
            self._sections.update(_lineage.sections(self._id))
        root = _lineage.sections(self._id)["root"]["id"]
        self._lineage = _lineage.Export(self._id, root, self.state.name)

    def _unlink(self) -> None:
        if self._lineage is not None:
            self._lineage.restore()
            self._lineage = None

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Recorder:
        """Start recording: run the collectors, write the first record, watch for SIGTERM and exit."""
        failed = False
        try:
            with self._lock:
                if self._started:
                    raise RecorderStateError("start() was already called; a Recorder records one run")
                self._started = True
                self._pid = os.getpid()
                self._warn_record_args()
                if self.output is not None:
                    # Once, here: a job that changes folder (Hydra does) must not move its record.
                    if self.output.endswith(("/", os.sep)) or os.path.isdir(self.output):
                        # a folder, as in procrecord run -o DIR/: the record is named inside it below
                        self._folder, self.output = os.path.abspath(self.output), None
                    else:
                        self.output = os.path.abspath(self.output)
                        if os.path.islink(self.output):
                            # Written through, as a shell's `>` does: replaced by a file of its own, the
                            # link would be gone and its target (which the lock and the check name) stale.
                            self.output = os.path.realpath(self.output)
                        why = _existing.refusal(self.output)
                        if why is not None:  # a script, notes, data: never replaced by a record
                            self._stopped = True  # nothing runs, nothing is written, now or at exit
                            raise OutputNotARecordError(f"cannot write the record to {self.output}: {why}: it is "
                                                        "not replaced (remove it, or choose another output)")
                self._link()
                for collector in self._collectors:
                    self._run("collect", collector)
                self._install_hooks()
                # The job starts when start() hands control back: the collectors (and an energy
                # estimator that probes the hardware for seconds) are ready, and none of that is its time.
                self._t0 = time.monotonic()
                self._start_time = now_iso()
                try:
                    if self._folder is not None:
                        self._write_into(self._folder)
                    else:
                        self._write()
                except RecordWriteError:
                    # Before the job runs, a record that cannot be written is an error worth stopping
                    # for; the recorder is finished so that nothing tries again at exit.
                    self._stopped = failed = True
                    self._unlink()
                    raise
        finally:
            if failed:
                self._remove_hooks()  # outside the lock, as in stop()
        return self

    def _begin_job(self, pid: int | None = None) -> None:
        """``procrecord run``: the command starts now, after :meth:`start` got the collectors and the
        energy estimator ready; the timing starts here and the invocation names the command's pid."""
        with self._lock:
            self._t0 = time.monotonic()
            self._start_time = now_iso()
            if pid is not None and pid != self.state.pid:
                self.state.pid = pid
                for collector in self._collectors:
                    if collector.section == "invocation":
                        self._run("collect", collector)

    def _sample_energy(self) -> None:
        """``procrecord run``: let the energy collectors measure now, when the command has ended but
        is not reaped yet (an estimator that follows processes still reads its CPU time then)."""
        with self._lock:
            if not self._started or self._stopped or not self._mine():
                return
            for collector in self._collectors:
                sample = getattr(collector, "sample", None)
                if callable(sample):
                    try:
                        sample()
                    except Exception:  # noqa: BLE001 - the measurement at stop says what fails
                        pass

    def _abandon(self) -> None:
        """``procrecord run``: the command never ran and no record was written: none is written later
        either (not at exit), and what the collectors hold is let go."""
        with self._lock:
            if not self._started or self._stopped:
                return
            self._stopped = True
            self._unlink()
            for collector in self._collectors:
                try:
                    collector.close()
                except Exception:  # noqa: BLE001
                    pass
        self._remove_hooks()  # outside the lock, as in stop()

    def flush(self) -> dict[str, Any]:
        """Refresh what changes (duration, resources, devices, emissions so far) and write."""
        with self._lock:
            if not self._started:
                raise RecorderStateError("flush() before start()")
            if self._stopped or not self._mine():
                return self.record
            for collector in self._collectors:
                self._run("update", collector)
            return self._write()

    def stop(self, exit_code: int | None = None, status: str | None = None) -> dict[str, Any]:
        """Finish the record (``completed`` unless told otherwise) and return it; a second call is harmless."""
        # In the main thread a signal (a second Ctrl-C) waits until the final record is written
        # and the hooks are put back, then acts (hooks.holding).
        with _hooks.holding():
            finishing = False
            try:
                with self._lock:
                    if not self._started:
                        raise RecorderStateError("stop() before start()")
                    if self._stopped or not self._mine():
                        return self.record  # a forked child never finishes (nor writes) its parent's record
                    finishing = True
                    return self._finish(exit_code, status)
            finally:
                if finishing and self._stopped:
                    # Outside the lock: a signal handler of the main thread may wait for this lock
                    # while another thread puts the hooks back.
                    self._remove_hooks()

    def _finish(self, exit_code: int | None, status: str | None) -> dict[str, Any]:
        try:
            self.state.stopping = True
            if status is not None:
                self._status = status
            elif self._status == "running":
                self._status = "completed"
            if exit_code is not None:
                self._outcome["exit_code"] = exit_code
            elif "exit_code" not in self._outcome and self._status == "completed":
                self._outcome["exit_code"] = 0
            # The job ends here: collectors that take time to shut down (codecarbon) must not
            # lengthen the duration or move the stop time.
            self._t1 = time.monotonic()
            self._stop_time = now_iso()
            for collector in self._collectors:
                self._run("update", collector)
            self._stopped = True
            for collector in self._collectors:
                try:
                    collector.close()
                except Exception:  # noqa: BLE001
                    pass
            return self._write()
        finally:
            self._unlink()

    def fail(self, error: BaseException, exit_code: int | None = None) -> dict[str, Any]:
        """Stop as ``failed`` with the exception's type, message and traceback."""
        with _hooks.holding(), self._lock:  # the status chosen and written, whatever signal comes meanwhile
            if self._started and not self._mine():
                return self.record
            return self._fail(error, exit_code)

    def _fail(self, error: BaseException, exit_code: int | None) -> dict[str, Any]:
        if isinstance(error, SystemExit) and exit_code is None and (error.code is None or (
                isinstance(error.code, int) and error.code == 0)):
            return self.stop(exit_code=0, status="completed")  # sys.exit() / sys.exit(0): success, no error block
        tb = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        kind = type(error)
        self._outcome["error"] = {"type": f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins."),
                                  "message": str(error), "traceback": tb}
        if isinstance(error, KeyboardInterrupt):
            self._outcome["signal"] = "SIGINT"
            return self.stop(exit_code=exit_code if exit_code is not None else 130, status="interrupted")
        if isinstance(error, SystemExit):
            code = error.code if isinstance(error.code, int) else (0 if error.code is None else 1)
            return self.stop(exit_code=code, status="completed" if code == 0 else "failed")
        return self.stop(exit_code=exit_code if exit_code is not None else 1, status="failed")

    def __enter__(self) -> Recorder:
        return self.start()

    def _warn_record_args(self) -> None:
        """Only a decorated call has arguments to record: ``record_args`` elsewhere records none."""
        if self._record_args:
            self._record_args = False  # once, naming the caller's line (the `with` or the start())
            _warn("procrecord: record_args=True records a function's arguments only when the Recorder "
                  "decorates it (@Recorder(record_args=True)); this run records none")

    def __exit__(self, exc_type: Any, exc: BaseException | None, tb: Any) -> Literal[False]:
        # The job has run: a record that cannot be written must neither hide the job's own
        # exception nor turn its success into a failure (code after the block still runs). A
        # generator closed by its consumer (who took what it needed) has not failed.
        # (held from here: a second Ctrl-C waits until the record says what ended the block)
        with _hooks.holding(), _warn_on_write_error():
            if exc is not None and not isinstance(exc, GeneratorExit):
                self.fail(exc)
            else:
                self.stop()
        return False

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Use as a decorator: each call of ``func`` is recorded by a fresh Recorder.

        The record covers the real run: of a coroutine function, the awaited coroutine; of a
        generator (or async generator) function, the iteration, from the first item to the last.
        """
        import inspect

        made: list[Callable[..., Any]] = []  # the wrapper returned: a class may hold it as a method

        def recorder(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Recorder:
            settings = dict(self._settings)
            settings["name"] = settings["name"] or f"{func.__module__}.{func.__qualname__}"
            name = settings.pop("name")
            if self._record_args:
                settings["config"] = _arguments(func, args, kwargs, settings["config"], made)
            return Recorder(name, **settings)

        if inspect.iscoroutinefunction(func):
            @functools.wraps(func)
            async def coroutine_wrapper(*args: Any, **kwargs: Any) -> Any:
                with recorder(args, kwargs):
                    return await func(*args, **kwargs)

            made.append(coroutine_wrapper)
            return coroutine_wrapper
        if inspect.isasyncgenfunction(func):
            @functools.wraps(func)
            async def async_generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with recorder(args, kwargs):
                    inner = func(*args, **kwargs)
                    try:  # what `yield from` does for a generator: pass on values, errors and close
                        item = await inner.__anext__()
                        while True:
                            try:
                                sent = yield item
                            except GeneratorExit:
                                await inner.aclose()
                                raise
                            except BaseException as exc:  # noqa: BLE001 - thrown in by the caller
                                item = await inner.athrow(exc)
                            else:
                                item = await inner.asend(sent)
                    except StopAsyncIteration:
                        return

            made.append(async_generator_wrapper)
            return async_generator_wrapper
        if inspect.isgeneratorfunction(func):
            @functools.wraps(func)
            def generator_wrapper(*args: Any, **kwargs: Any) -> Any:
                with recorder(args, kwargs):
                    return (yield from func(*args, **kwargs))

            made.append(generator_wrapper)
            return generator_wrapper

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with recorder(args, kwargs):
                return func(*args, **kwargs)

        made.append(wrapper)
        return wrapper

    # -- the record -----------------------------------------------------------------------------

    @property
    def record(self) -> dict[str, Any]:
        """The record as it stands (redacted at this recorder's level)."""
        with self._lock:
            if self._record is None:
                self._record = self._build()
            return self._record

    def _build(self) -> dict[str, Any]:
        timing: dict[str, Any] = {}
        if self._start_time:
            timing["start_time"] = self._start_time
            if self._stop_time:
                timing["stop_time"] = self._stop_time
            timing["update_time"] = self._stop_time or now_iso()
            timing["duration_s"] = round((self._t1 if self._t1 is not None else time.monotonic()) - self._t0, 6)
        record: dict[str, Any] = {
            "schema_version": WRITES_VERSION, "record_type": RECORD_TYPE, "type": "procrecord", "id": self._id,
            "name": self.state.name, "status": self._status,
            "producer": {"name": "procrecord", "version": __version__},
            "collection": {"level": self.level, "collectors": [self._outcomes[k] for k in sorted(self._outcomes)]},
            "timing": timing,
        }
        record.update(self._sections)
        if self._outcome:
            record["outcome"] = dict(self._outcome)
        if self._extensions:
            record["extensions"] = dict(self._extensions)
        if self.extra:
            extra, _ = to_json(self.extra)
            record["extra"] = extra if isinstance(extra, dict) else {"value": extra}
        if self.level == "none":
            return record
        from procrecord.operations.redaction import redact

        return redact(record, self.level)

    def _write(self) -> dict[str, Any]:
        self._record = None
        record = self.record
        if self.output is not None:
            try:
                folder = os.path.dirname(os.path.abspath(self.output))
                os.makedirs(folder, exist_ok=True)
                write_bytes(self.output, _encode(record, self.output))
            except OSError as exc:
                raise RecordWriteError(f"cannot write the record to {self.output}: {exc.strerror or exc}") from exc
        return record

    def _write_into(self, folder: str) -> None:
        """The first write of a record whose output is a folder: a new ``NAME-TIME-ID.procrecord.json`` of
        its own there (the name :func:`procrecord.writer.runner.record_name` gives), its output from now on."""
        from procrecord.writer.runner import record_paths

        try:
            os.makedirs(folder, exist_ok=True)
            self._write_new(record_paths(folder, self.state.name or "run", self.id))
        except OSError as exc:
            raise RecordWriteError(f"cannot write the record into the folder {folder}: {exc.strerror or exc}") from exc

    def _write_new(self, paths: Iterable[str]) -> str:
        """``procrecord run`` into a folder: write the record as the first of ``paths`` that no file
        has (:func:`procrecord.atomic.write_new`), which becomes its output; raises ``OSError``."""
        with self._lock:
            self._record = None
            names = iter(paths)
            first = next(names)  # its name says how to write the record (all share one suffix)
            path = write_new(itertools.chain([first], names), _encode(self.record, first))
            self.output = path
            return path

    def _run(self, phase: str, collector: Collector) -> None:
        start = time.perf_counter()
        try:
            value = getattr(collector, phase)(self.state)
        except Exception as exc:  # noqa: BLE001 - a failing collector never fails the job
            self._note(collector, "failed", f"{type(exc).__name__}: {exc}", start)
            return
        if value is None:
            if phase == "collect":
                self._note(collector, "ok", None, start)
            return
        if isinstance(value, Skipped):
            self._note(collector, "skipped", value.reason, start)
            if collector.section:
                self._sections.pop(collector.section, None)
            return
        unwritable = _unwritable(value)
        if unwritable is not None:
            # A value the record cannot hold would stop every write (and so the job): the
            # collector failed, and what it wrote before (if anything) stays.
            self._note(collector, "failed", f"its result cannot be written as JSON: {unwritable}", start)
            return
        if collector.section is None:
            self._extensions[collector.name] = value
        else:
            self._sections[collector.section] = value
        problems = getattr(collector, "problems", None)
        self._note(collector, "ok", "; ".join(problems) if problems else None, start)

    def _note(self, collector: Collector, status: str, reason: str | None, start: float) -> None:
        entry: dict[str, Any] = {"name": collector.name, "status": status,
                                 "duration_s": round(time.perf_counter() - start, 6)}
        if reason:
            entry["reason"] = reason
        self._outcomes[collector.name] = entry

    # -- crash safety ---------------------------------------------------------------------------

    def _mine(self) -> bool:
        """True in the process that started the recording (False in a forked child)."""
        return self._pid is None or self._pid == os.getpid()

    def _install_hooks(self) -> None:
        self._order = next(_STARTS)
        self._error_before = _hooks.last_error()
        self._claim_output()
        atexit.register(self._at_exit)
        _hooks.started(self)
        # Python runs (and lets set) signal handlers only in the main thread: the handler there
        # finishes this record, if there is one; without it a SIGTERM leaves it ``running``.
        if (self._handle_signals and threading.current_thread() is not threading.main_thread()
                and not _hooks.signals_watched()):
            _warn(f"procrecord: Recorder {self.state.name!r} started outside the main thread, where Python "
                  "cannot handle signals: a SIGTERM or SIGHUP would leave its record 'running'. Call "
                  "procrecord.watch_signals() in the main thread first (or start the Recorder there)")

    def _claim_output(self) -> None:
        """Warn when another live Recorder of this process, or of another process on this host (see
        :mod:`procrecord.writer.outputlock`), writes the same file: the two would overwrite each
        other's record at every write. Never more than a warning: the job runs on."""
        if self.output is None:
            return
        path = os.path.realpath(self.output)
        writers = _WRITERS.setdefault(path, weakref.WeakSet())
        if any(other is not self and other._started and not other._stopped and other._mine() for other in list(writers)):
            _warn(f"procrecord: another running Recorder writes {self.output}: each will overwrite the other's "
                  "record (give each its own output)")
        writers.add(self)
        self._locked_output = path
        process = _outputlock.claim(path)
        if process is not None:
            by = f"process {process}" if process else "another process"
            _warn(f"procrecord: a running Recorder of {by} writes {self.output}: each will overwrite the other's "
                  "record (give each its own output)")

    def _release_output(self) -> None:
        if self.output is None:
            return
        # (the path claimed at start: the real path may have changed since, a symlink made)
        writers = _WRITERS.get(self._locked_output or os.path.realpath(self.output))
        if writers is not None:
            writers.discard(self)  # the others writing it still do (one stopping first forgot them all)
            if not writers:
                del _WRITERS[self._locked_output or os.path.realpath(self.output)]
        if self._locked_output is not None:
            # the path claimed at start (the real path may have changed since: a symlink made)
            _outputlock.release(self._locked_output)
            self._locked_output = None

    def _remove_hooks(self) -> None:
        self._release_output()
        atexit.unregister(self._at_exit)
        _hooks.stopped(self)

    def _at_exit(self) -> None:
        # Ended without stop(): a normal end or sys.exit(0) is "completed", any other code "failed"
        # (a message given to sys.exit exits with 1, as Python does). Signals and uncaught
        # exceptions were recorded by their own hooks before this runs, unless the job replaced
        # procrecord's sys.excepthook with its own.
        if self._started and not self._stopped and self._mine():
            with _hooks.holding(ending=True):
                error = _hooks.uncaught(self._error_before)
                if error is not None:
                    self._fail_uncaught(error)
                    return
                code = self._exit_request
                if code is _NO_EXIT or code is None:
                    code = 0
                elif not isinstance(code, int) or isinstance(code, bool):
                    code = 1
                with _warn_on_write_error():
                    self.stop(exit_code=code, status="completed" if code == 0 else "failed")

    def _fail_uncaught(self, error: BaseException) -> None:
        """An exception ended the job (:func:`procrecord.writer.hooks.uncaught`): record it as ``failed``."""
        with _hooks.holding(ending=True), self._lock:
            if self._started and not self._stopped and self._mine():
                with _warn_on_write_error():
                    self._fail(error, None)

    def _interrupt(self, signum: int, stop: bool) -> None:
        """A signal came (:mod:`procrecord.writer.hooks`): note it and, with ``stop``, finish the
        record as ``interrupted`` (after a stop under way in another thread wrote its record)."""
        with _hooks.holding(ending=stop), self._lock:
            if self._started and not self._stopped and self._mine():
                self._outcome["signal"] = signal.Signals(signum).name
                if stop:
                    with _warn_on_write_error():
                        self.stop(exit_code=128 + signum, status="interrupted")


def _encode(record: dict[str, Any], path: str) -> bytes:
    """The file's bytes: indented JSON, or one compact line where the name says JSON Lines (the
    readers parse a ``.jsonl``/``.ndjson`` file line by line)."""
    return jsoncodec.dumps(record, indent=not path.lower().endswith(JSONL_SUFFIXES)) + b"\n"


def _arguments(func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], config: Any,
               made: Sequence[Callable[..., Any]] = ()) -> Any:
    """The call's arguments by parameter name (defaults filled in), over the decorator's own config."""
    import inspect

    try:
        bound = inspect.signature(func).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return config  # the call itself will fail, or the signature is unknown: record what we have
    bound.apply_defaults()
    arguments = dict(bound.arguments)
    first = next(iter(bound.signature.parameters.values()), None)
    if (first is not None and first.kind in (first.POSITIONAL_ONLY, first.POSITIONAL_OR_KEYWORD)
            and args and _receiver(func, args[0], made)):
        # A method's receiver is no argument of the run (and an object's attributes may hold its credentials).
        del arguments[first.name]
    if config is None:
        return arguments
    if isinstance(config, dict):
        return {**config, **arguments}
    return {"config": config, **arguments}


def _receiver(func: Callable[..., Any], first: Any, made: Sequence[Callable[..., Any]] = ()) -> bool:
    """True when ``first``, the call's first argument, is the receiver of a method: ``first``'s class
    (or ``first`` itself, a class) holds the decorated function (one of ``made``) as a method or
    classmethod, wherever it was defined (``Client.fit = Recorder(...)(fit)``); or ``func`` was defined in
    a class body (its ``__qualname__`` is ``Class.name``, not ``name`` nor ``outer.<locals>.name``) and
    ``first`` is an instance of that class, or that class or a subclass of it (a classmethod). A class
    holding it as a staticmethod has no receiver; whatever the parameter is called, a plain function's
    first parameter named ``self`` or ``cls`` is an argument like any other."""
    held = _held_as(first, made) if made else None
    if held is not None:
        return held
    owner, _, _ = getattr(func, "__qualname__", "").rpartition(".")
    if not owner or owner.endswith("<locals>"):
        return False
    module = getattr(func, "__module__", None)
    classes = [*(first.__mro__ if isinstance(first, type) else ()), *type(first).__mro__]
    return any(getattr(c, "__qualname__", None) == owner and getattr(c, "__module__", None) == module for c in classes)


def _held_as(first: Any, made: Sequence[Callable[..., Any]]) -> bool | None:
    """Whether a class ``first`` was looked up in holds the decorated function as a method or classmethod
    (True) or a staticmethod (False); None when none holds it."""
    wrapper = made[0]
    lookups = [type(first).__mro__]
    if isinstance(first, type):
        lookups.insert(0, first.__mro__)
    for mro in lookups:
        for klass in mro:
            for value in vars(klass).values():
                if value is wrapper:
                    return mro is type(first).__mro__  # a plain function is a method of instances only
                if isinstance(value, (classmethod, staticmethod)) and value.__func__ is wrapper:
                    return isinstance(value, classmethod)
    return None


_NO_EXIT = object()
#: Numbers the starts of this process's Recorders, in order.
_STARTS = itertools.count(1)
#: The running Recorders writing each output file (by its real path).
_WRITERS: dict[str, weakref.WeakSet[Recorder]] = {}


def _after_fork_in_child() -> None:
    # The parent's Recorders must not act for the child at exit.
    for recorder in _hooks.forget_in_child():
        atexit.unregister(recorder._at_exit)
    _WRITERS.clear()
    _outputlock.forget_in_child()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _warn(message: str) -> None:
    """A RuntimeWarning that names the job's line: the first caller outside this module (the
    ``with``, the ``start()``, or the call of a decorated function)."""
    frame, level = sys._getframe(1), 2
    while frame.f_back is not None and frame.f_code.co_filename == __file__:
        frame, level = frame.f_back, level + 1
    warnings.warn(message, RuntimeWarning, stacklevel=level)


def _check_number(name: str, value: Any, *, positive: bool) -> Any:
    """A numeric option is a real number (or None): above zero when ``positive``, else at least zero.
    Returned as a Python ``int`` or ``float`` (NumPy's numbers are taken, and written as Python's)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r}: expected a number")
    number = int(value) if isinstance(value, numbers.Integral) else float(value)
    if not (math.isfinite(number) and (number > 0 if positive else number >= 0)):
        wanted = "a positive number of seconds" if positive else "a number of bytes, 0 or more (None: no limit)"
        raise ValueError(f"{name}={value!r}: expected {wanted}")
    return number


@contextlib.contextmanager
def _warn_on_write_error() -> Iterator[None]:
    """Where the job, not the caller, is running: say on stderr that the record was not written."""
    try:
        yield
    except RecordWriteError as exc:
        print(f"procrecord: {exc}", file=sys.stderr)


def _unwritable(value: Any) -> str | None:
    """None when ``value`` is JSON data (what the record can hold), else what is not (``/v: set``)."""
    import orjson

    try:
        # A datetime or a dataclass orjson would write, but the record would hold the object itself.
        orjson.dumps(value, option=orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS)
        return None
    except TypeError:
        return _first_unwritable(value, "", 0)  # None: only what jsoncodec writes (a big integer)


def _first_unwritable(value: Any, pointer: str, depth: int) -> str | None:
    """The JSON pointer and type of the first value in ``value`` that is not JSON data."""
    if value is None or isinstance(value, (bool, int, float, str)) or depth > 100:
        return None
    if isinstance(value, dict):
        for key, sub in value.items():
            if not isinstance(key, str):
                return f"{pointer or '/'}: a key of type {type(key).__name__} ({key!r:.40})"
            found = _first_unwritable(sub, f"{pointer}/{escape(key)}", depth + 1)
            if found:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, sub in enumerate(value):
            found = _first_unwritable(sub, f"{pointer}/{index}", depth + 1)
            if found:
                return found
        return None
    kind = type(value)
    return f"{pointer or '/'}: {kind.__module__}.{kind.__qualname__}".replace(": builtins.", ": ")


class _PluginCollector(Collector):
    """A third-party collector loaded from an entry point; its output goes under ``extensions``."""

    section = None

    def __init__(self, name: str, load: Callable[[], Any]) -> None:
        self.name = name
        self._load = load
        self._inner: Any = None

    def _get(self) -> Any:
        if self._inner is None:
            target = self._load()
            self._inner = target() if isinstance(target, type) else target
        return self._inner

    def collect(self, state: Any) -> Any:
        inner = self._get()
        return inner.collect(state) if hasattr(inner, "collect") else inner(state)

    def update(self, state: Any) -> Any:
        inner = self._get()
        return inner.update(state) if hasattr(inner, "update") else None
