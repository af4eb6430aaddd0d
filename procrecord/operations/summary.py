"""``procrecord show``: one line per record, built from the typed model (:mod:`procrecord.record.reader`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from procrecord.bulk.engine import Outcome
    from procrecord.bulk.loader import Loaded
    from procrecord.record.model import Record


@functools.lru_cache(maxsize=1)
def _converter() -> Any:
    from procrecord.record.reader import make_converter

    return make_converter()  # one per process: show converts every record with it


@attrs.frozen
class ShowRecord:
    """A bulk operation: bring a loaded record of any version to a typed record and summarise it."""

    #: A key written twice is an error, as ``procrecord validate`` says: the parser keeps one of the values,
    #: so the summary would show a record the file does not unambiguously hold.
    unique_keys = True

    def __call__(self, item: Loaded) -> Outcome:
        import cattrs

        from procrecord.bulk.engine import Outcome
        from procrecord.bulk.status import Status
        from procrecord.operations.transforms import to_current
        from procrecord.record.model import Record

        version, data, failed = to_current(item)
        if failed is not None:
            return failed
        try:
            record = _converter().structure(data, Record)
        except (cattrs.BaseValidationError, TypeError, ValueError) as exc:  # valid yet not fitting the model: a bug to report
            return Outcome(item.source, item.line, Status.ERROR, version, message=f"does not fit the model: {exc}",
                           jsonl=item.jsonl)
        return Outcome(item.source, item.line, Status.SHOWN, version, message=summarise(record), jsonl=item.jsonl,
                       info=summary_fields(record))


#: The columns of ``procrecord show``, in order.
SHOW_COLUMNS = ("name", "status", "start", "duration", "exit", "host", "hardware", "python", "energy", "co2", "redaction")


def summary_fields(record: Record) -> dict[str, Any]:
    """The facts ``procrecord show`` prints about a record, by column name (absent ones left out)."""
    out: dict[str, Any] = {"name": record.name or "(unnamed)", "status": record.status}
    timing, host = record.timing, record.host
    if timing and timing.start_time:
        out["start"] = timing.start_time[:19]
    if timing and timing.duration_s is not None:
        out["duration"] = _duration(timing.duration_s)
    exit_code = record.outcome.exit_code if record.outcome else None
    if isinstance(exit_code, int) and exit_code != 0:
        out["exit"] = exit_code
    if host and host.hostname:
        out["host"] = host.hostname
    gpus = [d.name or "gpu" for d in record.devices or () if d.type == "gpu"]
    if gpus:
        out["hardware"] = ", ".join(gpus)
    elif host and host.cpu and host.cpu.model:
        out["hardware"] = host.cpu.model
    python = record.python
    if python and python.version:
        out["python"] = f"python {python.version}" + (f" ({len(python.packages)} packages)" if python.packages else "")
    emissions = record.emissions
    if emissions and emissions.energy_kwh is not None:
        out["energy"] = f"{emissions.energy_kwh:.3g} kWh"
    if emissions and emissions.emissions_kg is not None:
        out["co2"] = f"{emissions.emissions_kg:.3g} kg CO2e"
    if record.redaction:
        out["redaction"] = f"redacted:{record.redaction.level}"
    # the same facts unformatted, for ``--format json`` (the table shows only SHOW_COLUMNS): the full start
    # time with its zone, numbers as numbers
    if timing and timing.start_time:
        out["start_time"] = timing.start_time
    if timing and timing.duration_s is not None:
        out["duration_s"] = float(timing.duration_s)
    if emissions and emissions.energy_kwh is not None:
        out["energy_kwh"] = float(emissions.energy_kwh)
    if emissions and emissions.emissions_kg is not None:
        out["emissions_kg"] = float(emissions.emissions_kg)
    return out


def summarise(record: Record) -> str:
    """``name  status  start  duration  exit  host  cpu/gpu  python  packages  energy  redaction``."""
    fields = summary_fields(record)
    return "  ".join(str(fields[c]) if c != "exit" else f"exit {fields[c]}" for c in SHOW_COLUMNS if c in fields)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
