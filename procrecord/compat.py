"""A drop-in ``ProcessContext`` for code written against kwutil 0.3.8 / geowatch.

Change one import::

    from procrecord.compat import ProcessContext   # was: from kwutil.process_context import ProcessContext

Every public method and attribute of kwutil's class is here, and ``.obj`` (what ``start()``,
``flush()`` and ``stop()`` give) is the legacy ``{"type": "process", "properties": {...}}`` shape
with the types kwutil wrote, so geowatch's readers read it as before. The procrecord record is
beside it (``.record``, and the ``output`` file), so readers can move over one at a time.

The legacy faults are not repeated: the telemetry switches work (and are read when the context is
created), an unknown ``track_emissions`` value is an error, nothing is written into the current
folder (neither codecarbon's ``emissions.csv`` nor, without an output path, the decorator's
``.context`` file), emissions never go to the network, and ``write_invocation`` writes an
executable script that re-runs the exact command from the original folder (the command as given,
also with telemetry off, when the record holds none or a scrubbed one).
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import stat
import sys
from pathlib import Path
from typing import Any, Callable, Literal

from procrecord.collectors.emissions import COUNTRY_ENV
from procrecord.writer.recorder import Recorder

#: kwutil's accepted values; all are estimated offline here (never geolocated over the network).
_EMISSION_MODES = {False: None, None: None, True: "offline", "offline": "offline", "auto": "offline",
                   "online": "offline"}
#: The country kwutil's offline tracker assumed when none was given.
LEGACY_COUNTRY = "USA"


def _emission_options(track_emissions: Any) -> dict[str, Any] | None:
    """The emissions collector's options for a ``track_emissions`` value (None: not tracked); without
    a country in the environment, kwutil's default country."""
    if _EMISSION_MODES[track_emissions] is None:
        return None
    return {"country_iso_code": os.environ.get(COUNTRY_ENV) or LEGACY_COUNTRY}


class ProcessContext:
    """kwutil's ``ProcessContext``: ``.obj`` is the legacy record, ``.record`` the procrecord one."""

    def __init__(self, name: str | None = None, type: str = "process", args: Any = None, config: Any = None,
                 extra: Any = None, track_emissions: Any = False, request_all_telemetry: bool = True,
                 request_most_telemetry: bool = True, output_dpath: str | os.PathLike[str] | None = None,
                 output_fpath: str | os.PathLike[str] | None = None,
                 output: str | os.PathLike[str] | None = None) -> None:
        if track_emissions not in _EMISSION_MODES:
            raise ValueError(f"track_emissions={track_emissions!r}: use False, True, 'auto', 'offline' or 'online'")
        self.type = type
        self.track_emissions = track_emissions
        self.output_dpath = output_dpath
        self.output_fpath = output_fpath
        self._args_given = args
        self._args_text = args if isinstance(args, str) else None
        self._extra = extra
        self._running = False
        self._name = name
        self._config = config
        self._output = output
        self._last_disk: str | None = None  # kwutil's disk_info was the last add_disk_info's
        level = "all" if not request_all_telemetry else ("most" if not request_most_telemetry else None)
        self._level_arg = level
        self._make_recorder(name, config)
        self.properties: dict[str, Any] = {}
        self.obj: dict[str, Any] = {"type": type, "properties": self.properties}
        self._sync()

    def _make_recorder(self, name: str | None, config: Any) -> None:
        args = self._args_given
        if args is None:
            argv = list(sys.argv)
        elif isinstance(args, str):
            from procrecord.collectors.invocation import working_folder
            from procrecord.operations.legacy import split_args

            try:
                argv = split_args(args, (os.path.expanduser("~"), working_folder() or ""))
            except ValueError:
                argv = [args]
        else:
            argv = [str(a) for a in args]
        extra = self._extra
        options = _emission_options(self.track_emissions)
        self.recorder = Recorder(name, config=config, argv=argv,
                                 extra=extra if isinstance(extra, dict) or extra is None else {"value": extra},
                                 output=self._output, emissions=options if options is not None else False,
                                 level=self._level_arg)
        if options and not os.environ.get(COUNTRY_ENV):  # the country was not given: kwutil's assumed
            collector = self._emissions_collector()
            if collector is not None:
                # Said in the record (collection.collectors): the figures hold for that country only.
                collector.country_assumed = (f"country {LEGACY_COUNTRY} assumed, as kwutil's ProcessContext did; "
                                             f"set {COUNTRY_ENV} to the country the job runs in")

    # -- kwutil's attributes -------------------------------------------------------------------

    @property
    def enable_all_telemetry(self) -> bool:
        """False when all telemetry is off (argument or PROCESS_CONTEXT_DISABLE_ALL_TELEMETRY)."""
        return self.recorder.level != "all"

    @property
    def enable_most_telemetry(self) -> bool:
        """False when most (or all) telemetry is off."""
        return self.recorder.level == "none"

    @property
    def level(self) -> str:
        """The collection level the telemetry switches resolved to."""
        return self.recorder.level

    @property
    def is_running(self) -> bool:
        """Started and not yet stopped."""
        return self._running

    @property
    def is_started(self) -> bool:
        """Ever started (still True after stop)."""
        return self.recorder._started

    @property
    def emissions_tracker(self) -> Any:
        """codecarbon's tracker while emissions are tracked, else None."""
        collector = self._emissions_collector()
        return getattr(collector, "_tracker", None) if collector is not None else None

    @property
    def record(self) -> dict[str, Any]:
        """The procrecord record (current schema) of this run, as it stands."""
        return self.recorder.record

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> ProcessContext:
        """Start recording; returns self (``ctx.start().stop()``)."""
        self.recorder.start()
        self._running = self.enable_all_telemetry
        return self._sync_self()

    def flush(self) -> dict[str, Any]:
        """Record progress so far; returns ``.obj``."""
        if not self.is_started:
            raise Exception("Must start before you flush")  # kwutil's exception, kept for callers that catch it
        self.recorder.flush()
        return self._sync()

    def stop(self) -> dict[str, Any]:
        """Finish; returns ``.obj`` (the legacy record)."""
        if not self.is_started:
            raise Exception("Must start before you stop")
        self.recorder.stop()
        self._running = False
        return self._sync()

    def __enter__(self) -> ProcessContext:
        return self.start()

    def __exit__(self, *exc: Any) -> Literal[False]:
        self.recorder.__exit__(*exc)
        self._running = False
        self._sync()
        return False

    def add_disk_info(self, path: Any) -> None:
        """Record the disk holding ``path`` (nothing when most telemetry is off); ``disk_info`` is the
        last path's, or, as kwutil wrote, an error string when that path cannot be read."""
        self.recorder.add_disk_info(path)
        self._last_disk = os.fspath(path)
        self._sync()

    def add_device_info(self, device: Any) -> None:
        """Record a compute device (torch.device, 'cuda:0', 'cpu', index)."""
        self.recorder.add_device_info(device)
        self._sync()

    def dump(self) -> None:
        """Write ``.obj`` as JSON to ``output_fpath`` (or ``{name}-{uuid}.context`` in ``output_dpath``)."""
        from procrecord.atomic import write_bytes

        path = self._dump_path()
        if path is None:
            raise ValueError("dump() needs output_fpath or output_dpath (nothing is written into the current folder)")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes(path, json.dumps(self.obj).encode())

    def _dump_path(self) -> Path | None:
        if self.output_fpath is not None:
            return Path(self.output_fpath)
        if self.output_dpath is not None:
            return Path(self.output_dpath) / "{name}-{uuid}.context".format(**self.properties)
        return None

    def __call__(self, func: Callable[..., Any]) -> Callable[..., Any]:
        """Use as a decorator: records the call (config from its keyword arguments) and dumps ``.obj``
        when an output path was given."""
        if self._name is None:
            self._name = f"{getattr(func, '__module__', None) or '__main__'}.{getattr(func, '__name__', 'func')}"

        @functools.wraps(func)
        def _wrapper(*args: Any, **kwargs: Any) -> Any:
            self._config = kwargs
            self._make_recorder(self._name, kwargs)
            self.add_disk_info(".")
            self.start()
            try:
                return func(*args, **kwargs)
            finally:
                self.stop()
                if self._dump_path() is not None:
                    self.dump()

        _wrapper.context = self  # type: ignore[attr-defined]
        return _wrapper

    def write_invocation(self, invocation_fpath: str | os.PathLike[str]) -> None:
        """Write an executable script that re-runs this process from its original folder."""
        from procrecord.atomic import write_bytes

        # The command the context was given, not the record's (left out or scrubbed with telemetry
        # off): the script is the caller's own copy of their command, not telemetry.
        script = invocation_script(self.recorder.record, self._args_text, argv=self.recorder.state.argv)
        write_bytes(invocation_fpath, script.encode(), mode=0o755 & ~_umask() | stat.S_IXUSR)

    # -- the legacy view ----------------------------------------------------------------------

    def _emissions_collector(self) -> Any:
        for collector in self.recorder._collectors:
            if collector.name == "emissions":
                return collector
        return None

    def _legacy_disk_info(self) -> Any:
        """kwutil's ``disk_info`` for the last path asked about: its disk, or the error as a string."""
        if self._last_disk is None:
            return None
        from procrecord.operations.legacy import legacy_disk

        absolute = os.path.abspath(self._last_disk)
        for entry in self.recorder.record.get("disks") or ():
            if entry.get("path") == absolute:
                return legacy_disk(entry)
        problems = self.recorder._disks.problems
        failed = [i for i, problem in enumerate(problems) if problem.startswith(self._last_disk + ": ")]
        if not failed:
            return None
        # The record's own note of the problems: scrubbed as the record is (a home path becomes ~).
        notes = [c for c in (self.recorder.record.get("collection") or {}).get("collectors") or ()
                 if c.get("name") == "disks"]
        reason = notes[0].get("reason") if notes else None
        if not isinstance(reason, str):
            return None
        parts = reason.split("; ")
        return parts[failed[-1]] if len(parts) == len(problems) else reason

    def _sync_self(self) -> ProcessContext:
        self._sync()
        return self

    def _sync(self) -> dict[str, Any]:
        """Bring ``.obj`` (the same dict objects, as kwutil's were) up to date with the record."""
        fresh = legacy_view(self.recorder.record, self.recorder.state, started=self.is_started, args=self._args_given,
                            extra=self._extra)
        self.properties.clear()
        self.properties.update(fresh)
        disk = self._legacy_disk_info()
        if disk is not None:
            self.properties["disk_info"] = disk
        self.obj["type"] = self.type
        self.obj["properties"] = self.properties
        note = self.recorder.record.get("redaction")
        if isinstance(note, dict):
            # with a telemetry switch off, the legacy record says so as ``redact`` writes it (beside
            # ``type`` and ``properties``), so ``validate --require-level`` accepts it as it accepts the 1.1 one
            self.obj["redaction"] = note
        else:
            self.obj.pop("redaction", None)
        return self.obj


def legacy_view(record: dict[str, Any], state: Any, started: bool = True, args: Any = None,
                extra: Any = None) -> dict[str, Any]:
    """The ``properties`` kwutil's ProcessContext would hold for the run ``record`` describes."""
    from procrecord.operations.legacy import downgrade_1_0_to_0, format_timestamp

    if record.get("schema_version") != "1.0":
        from procrecord.operations.minor import prune

        record = prune(record, "1.0")[0]  # what 1.0 does not know has no place in the legacy shape either
    props: dict[str, Any] = downgrade_1_0_to_0(record)["properties"]
    level = state.level
    if not started:
        props["machine"] = None  # kwutil filled machine and times at start()
        if level != "all":
            props["args"], props["config"] = state.argv, state.config
    update = (record.get("timing") or {}).get("update_time")
    if props.get("start_timestamp") and props.get("stop_timestamp") is None and update:
        props["stop_timestamp"] = format_timestamp(update)  # kwutil's flush() set the time so far
    for key in ("start_timestamp", "stop_timestamp"):
        if isinstance(props.get(key), str):
            props[key] = _whole_seconds(props[key])  # kwutil's timestamps had 1 s resolution
    if isinstance(args, str) and "args" in props and level in (None, "none"):
        props["args"] = args  # kwutil kept a command string as given (scrubbed argv when asked for privacy)
    wrapped = record.get("extra")
    if extra is not None and not isinstance(extra, dict) and isinstance(wrapped, dict) and "value" in wrapped:
        props["extra"] = wrapped["value"]  # kwutil kept any value; 1.x holds it under extra.value
    if level == "all":
        props.pop("args", None)
        props.pop("config", None)
    return props


def _whole_seconds(stamp: str) -> str:
    head, dot, tail = stamp.partition(".")
    if not dot:
        return stamp
    zone = tail.lstrip("0123456789")
    return head + zone


def invocation_script(record: dict[str, Any], args_text: str | None = None, argv: list[str] | None = None) -> str:
    """A bash script that changes to the recorded cwd, sets the recorded environment and re-runs argv
    (``argv``: the command as given, else the record's)."""
    invocation = record.get("invocation") or {}
    argv = argv if argv is not None else invocation.get("argv")
    if not argv and not args_text:
        raise ValueError("the record holds no command line (all telemetry is off): nothing to re-run")
    lines = ["#!/usr/bin/env bash", f"# Re-runs {record.get('name') or 'the recorded process'} "
             f"(procrecord record {record.get('id')}).", "set -e"]
    if invocation.get("cwd"):
        lines.append(f"cd {shlex.quote(invocation['cwd'])}")
    else:
        lines.append("# The folder it ran in was not recorded (telemetry off): run this from that folder.")
    for key, value in sorted((invocation.get("environment") or {}).items()):
        lines.append(f"export {key}={shlex.quote(value)}")
    # A command given as one string is already a command line: keep it as written.
    lines.append(f"exec {args_text}" if args_text else "exec " + shlex.join(argv or ()))  # argv is there (checked above)
    return "\n".join(lines) + "\n"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
