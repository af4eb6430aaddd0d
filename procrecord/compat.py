"""A drop-in ``ProcessContext`` for code written against geowatch / kwutil.

Change one import::

    from procrecord.compat import ProcessContext   # was: from kwutil.process_context import ProcessContext

The constructor and methods are the legacy ones; the record it keeps (``.obj``) is procrecord 1.0.
The legacy faults are not repeated: the telemetry switches work (and are read when the context is
created), an unknown ``track_emissions`` value is an error, and ``write_invocation`` writes an
executable script that re-runs the exact command from the original folder.
"""

from __future__ import annotations

import os
import shlex
import stat
import sys
from typing import Any

from procrecord.recorder import Recorder

_EMISSION_MODES = {False: None, None: None, True: "offline", "offline": "offline", "auto": "offline",
                   "online": "offline"}


class ProcessContext:
    """Legacy API, procrecord records. ``start().stop()`` returns the record, as before."""

    def __init__(self, name: str | None = None, type: str = "process", args: Any = None, config: Any = None,
                 extra: Any = None, track_emissions: Any = False, request_all_telemetry: bool = True,
                 request_most_telemetry: bool = True, output: str | os.PathLike[str] | None = None) -> None:
        if track_emissions not in _EMISSION_MODES:
            raise ValueError(f"track_emissions={track_emissions!r}: use False, True, 'offline' or 'online'")
        self.type = type
        self._args_text = args if isinstance(args, str) else None
        if args is None:
            argv = list(sys.argv)
        elif isinstance(args, str):
            try:
                argv = shlex.split(args)
            except ValueError:
                argv = [args]
        else:
            argv = [str(a) for a in args]
        level = "all" if not request_all_telemetry else ("most" if not request_most_telemetry else None)
        emissions = _EMISSION_MODES[track_emissions] is not None
        self.track_emissions = track_emissions
        self.recorder = Recorder(name, config=config, argv=argv, extra=extra if isinstance(extra, dict) or extra is None else {"value": extra},
                                 output=output, emissions=emissions, level=level)
        self.request_all_telemetry = request_all_telemetry
        self.request_most_telemetry = request_most_telemetry

    @property
    def obj(self) -> dict[str, Any]:
        """The record as it stands (procrecord 1.0)."""
        return self.recorder.record

    @property
    def level(self) -> str:
        """The collection level the telemetry switches resolved to."""
        return self.recorder.level

    def start(self) -> "ProcessContext":
        """Start recording."""
        self.recorder.start()
        return self

    def flush(self) -> dict[str, Any]:
        """Record progress so far and return the record."""
        return self.recorder.flush()

    def stop(self) -> dict[str, Any]:
        """Finish and return the record."""
        return self.recorder.stop()

    def add_disk_info(self, path: Any) -> None:
        """Record the disk holding ``path``."""
        self.recorder.add_disk_info(path)

    def add_device_info(self, device: Any) -> None:
        """Record a compute device (torch.device, 'cuda:0', 'cpu', index)."""
        self.recorder.add_device_info(device)

    def __enter__(self) -> "ProcessContext":
        return self.start()

    def __exit__(self, *exc: Any) -> bool:
        return self.recorder.__exit__(*exc)

    def write_invocation(self, invocation_fpath: str | os.PathLike[str]) -> None:
        """Write an executable script that re-runs this process from its original folder."""
        from procrecord.atomic import write_bytes

        write_bytes(invocation_fpath, invocation_script(self.recorder.record, self._args_text).encode(),
                    mode=0o755 & ~_umask() | stat.S_IXUSR)


def invocation_script(record: dict[str, Any], args_text: str | None = None) -> str:
    """A bash script that changes to the recorded cwd, sets the recorded environment and re-runs argv."""
    invocation = record.get("invocation") or {}
    argv = invocation.get("argv")
    if not argv and not args_text:
        raise ValueError("the record holds no command line (all telemetry is off): nothing to re-run")
    lines = ["#!/usr/bin/env bash", f"# Re-runs {record.get('name') or 'the recorded process'} "
             f"(procrecord record {record.get('id')}).", "set -e"]
    if invocation.get("cwd"):
        lines.append(f"cd {shlex.quote(invocation['cwd'])}")
    for key, value in sorted((invocation.get("environment") or {}).items()):
        lines.append(f"export {key}={shlex.quote(value)}")
    # A command given as one string is already a command line: keep it as written.
    lines.append(f"exec {args_text}" if args_text else "exec " + shlex.join(argv))
    return "\n".join(lines) + "\n"


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
