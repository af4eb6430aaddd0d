"""What a collector is: a small callable that fills one section of a record, or says why not.

A collector's ``collect(state)`` runs at ``start()``; ``update(state)`` runs at every ``flush()``
and at ``stop()`` for sections that change while the job runs (resources, devices, emissions).
Both return the section's value, a :class:`Skipped`, or None (nothing to change). Raising is
allowed and never fatal: the recorder notes the failure in the record and goes on.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class State:
    """What collectors may read about the job."""

    __slots__ = ("name", "argv", "config", "config_notes", "level", "stopping", "executable", "pid")

    def __init__(self, name: str | None, argv: list[str] | None, config: Any, config_notes: list[str],
                 level: str, stopping: bool = False) -> None:
        self.name, self.argv, self.config, self.config_notes = name, argv, config, config_notes
        self.level, self.stopping = level, stopping
        #: Set when the record describes another process (``procrecord run``), not this one.
        self.executable: str | None = None
        self.pid: int | None = None


class Skipped(NamedTuple):
    """A collector that did not fill its section, and why (no GPU, extra not installed, ...)."""

    reason: str


class Collector:
    """Base class: ``name`` is recorded in ``collection.collectors``; ``section`` is the key it fills.

    A ``section`` of None means the collector writes under ``extensions.<name>`` (plugins).
    """

    name: str = "collector"
    section: str | None = None

    def collect(self, state: State) -> Any:
        """Value of the section at start (or Skipped)."""
        return None

    def update(self, state: State) -> Any:
        """New value of the section at flush/stop, or None to keep it."""
        return None

    def close(self) -> None:
        """Release what the collector holds (threads, handles); called once at stop."""


def now_iso() -> str:
    """The current time as RFC 3339 with microseconds and the local UTC offset."""
    import datetime as dt

    return dt.datetime.now(dt.timezone.utc).astimezone().isoformat(timespec="microseconds")
