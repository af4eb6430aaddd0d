"""``procrecord show``: one line per record, built from the typed model (:mod:`procrecord.record.reader`)."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import attrs

from procrecord.bulk.loader import escape  # one function for show's rows and every finding's place

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
        facts = summary_facts(record)
        return Outcome(item.source, item.line, Status.SHOWN, version, message=_line(format_facts(facts)),
                       jsonl=item.jsonl, info=facts)


#: The columns of ``procrecord show``, in order.
SHOW_COLUMNS = ("name", "status", "start", "duration", "exit", "host", "hardware", "python", "energy", "co2", "redaction")


def summary_facts(record: Record) -> dict[str, Any]:
    """What ``procrecord show`` tells about a record, for machines (``--format json``): plain values, numbers
    as numbers, the start time as recorded (ISO 8601 with its UTC offset); absent facts left out."""
    out: dict[str, Any] = {"name": record.name or None, "status": record.status}
    timing, host, emissions, python = record.timing, record.host, record.emissions, record.python
    if timing and timing.start_time:
        out["start_time"] = timing.start_time
    if timing and timing.duration_s is not None:
        out["duration_s"] = float(timing.duration_s)
    exit_code = record.outcome.exit_code if record.outcome else None
    if isinstance(exit_code, int) and not isinstance(exit_code, bool):  # 0 too: "0" and "not recorded" differ
        out["exit"] = exit_code
    if host and host.hostname:
        out["host"] = host.hostname
    hardware = _hardware(record)
    if hardware:
        out["hardware"] = hardware
    if python and python.version:
        out["python"] = python.version
        if python.packages:
            out["packages"] = len(python.packages)
    if emissions and emissions.energy_kwh is not None:
        out["energy_kwh"] = float(emissions.energy_kwh)
    if emissions and emissions.emissions_kg is not None:
        out["emissions_kg"] = float(emissions.emissions_kg)
    if record.redaction:
        out["redaction"] = record.redaction.level
    return out


def format_facts(facts: dict[str, Any]) -> dict[str, str]:
    """The facts of :func:`summary_facts` as the table shows them, by column of :data:`SHOW_COLUMNS`: the
    start time in UTC (``Z``), durations and amounts with their units, control characters escaped."""
    out = {"name": facts["name"] if facts.get("name") is not None else "(unnamed)", "status": facts["status"]}
    if "start_time" in facts:
        out["start"] = _utc(facts["start_time"])
    if "duration_s" in facts:
        out["duration"] = _duration(facts["duration_s"])
    if "exit" in facts:
        out["exit"] = str(facts["exit"])
    for column in ("host", "hardware"):
        if column in facts:
            out[column] = facts[column]
    if "python" in facts:
        out["python"] = f"python {facts['python']}" + (f" ({facts['packages']} packages)" if facts.get("packages") else "")
    if "energy_kwh" in facts:
        out["energy"] = f"{facts['energy_kwh']:.3g} kWh"
    if "emissions_kg" in facts:
        out["co2"] = f"{facts['emissions_kg']:.3g} kg CO2e"
    if "redaction" in facts:
        out["redaction"] = f"redacted:{facts['redaction']}"
    return {column: escape(str(value)) for column, value in out.items()}


def summary_fields(record: Record) -> dict[str, str]:
    """The table's cells for a record, by column name (absent ones left out); see :func:`format_facts`."""
    return format_facts(summary_facts(record))


def summarise(record: Record) -> str:
    """``name  status  start  duration  exit  host  cpu/gpu  python  packages  energy  redaction``."""
    return _line(summary_fields(record))


def _line(fields: dict[str, str]) -> str:
    return "  ".join(fields[c] if c != "exit" else f"exit {fields[c]}" for c in SHOW_COLUMNS if c in fields)


def _hardware(record: Record) -> str | None:
    """The GPUs by name; else the CPU model. GPUs that were asked for and could not be read are counted
    apart: they are no evidence the job had them."""
    devices = record.devices or ()
    gpus = [d for d in devices if d.type == "gpu"]
    named = [d.name or "gpu" for d in gpus if d.name or not d.error]
    unread = len(gpus) - len(named)
    if named:
        parts = named
    else:
        cpus = [d.name for d in devices if d.type == "cpu" and d.name]
        host = record.host
        model = host.cpu.model if host and host.cpu and host.cpu.model else (cpus[0] if cpus else None)
        parts = [model] if model else []
    if unread:
        parts.append(f"{unread} GPU{'s' if unread > 1 else ''} not read")
    return ", ".join(parts) or None


def _utc(stamp: str) -> str:
    """``stamp`` in UTC to the second (``2024-12-31T18:29:59Z``), so rows from different zones compare;
    a time with no offset (its zone unknown) is shown as written."""
    import re
    from datetime import datetime, timezone

    # Python 3.10's fromisoformat takes neither "Z" nor fractions other than 3 or 6 digits: seconds suffice
    match = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?", stamp)
    try:
        if match is None:
            raise ValueError(stamp)
        zone = match.group(2)
        moment = datetime.fromisoformat(match.group(1) + ("+00:00" if zone == "Z" else zone or ""))
    except ValueError:
        return stamp
    if moment.tzinfo is None:
        return moment.isoformat(timespec="seconds")
    try:
        return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:  # year 1 or 9999 with an offset: in UTC outside what a datetime holds
        return stamp


def width(text: str) -> int:
    """How many terminal columns ``text`` takes: wide (East Asian) characters take two."""
    if text.isascii():
        return len(text)
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 0 if unicodedata.combining(ch) else 1 for ch in text)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
