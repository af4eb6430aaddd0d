"""Timestamps for every export: one parser of the record's RFC 3339 text, whatever target it goes to.

It takes every form the schema's ``date-time`` format accepts: ``T``/``t`` and ``Z``/``z``, a fraction
of any length (digits beyond nanoseconds are cut), any offset, a leap second (``23:59:60``, counted
as POSIX time counts it: the first instant of the next second), and any year from 0000 (a plain
calendar, not :mod:`datetime`, which stops at year 1 and 9999). The lenient forms the old parser took
(a space for ``T``, no offset: UTC) are taken too. Each target then says what it cannot hold (OTLP:
unsigned nanoseconds; Parquet: microseconds in years 0000-9999) as a note on that record.
"""

from __future__ import annotations

import re

_RFC3339 = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?([Zz]|[+-]\d\d:\d\d)?\Z", re.ASCII)
#: The form Arrow's string-to-timestamp cast takes as it is (and OpenLineage's consumers): upper-case
#: ``T``/``Z``, at most 6 fraction digits, a day every month has, no leap second.
_PLAIN = re.compile(r"\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|1\d|2[0-8])T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d"
                    r"(?:\.\d{1,6})?(?:Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)\Z", re.ASCII)
NS = 1_000_000_000
_DAY = 86_400


class TimeError(ValueError):
    """Text that is not a time this parser can read (its message says why)."""


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to the date (proleptic Gregorian; Hinnant's ``days_from_civil``)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil(days: int) -> tuple[int, int, int]:
    """The date ``days`` after 1970-01-01 (Hinnant's ``civil_from_days``)."""
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def parse_ns(text: str) -> int:
    """RFC 3339 text -> nanoseconds since 1970-01-01T00:00:00Z (negative before it); :class:`TimeError` if
    it is no such time."""
    match = _RFC3339.match(text) if isinstance(text, str) else None
    if not match:
        raise TimeError(f"{str(text)[:60]!r} is not an RFC 3339 date-time")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    frac, zone = match.group(7), match.group(8)
    if not 1 <= month <= 12 or not 1 <= day <= (29 if month == 2 and _leap(year) else
                                                (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)[month - 1]):
        raise TimeError(f"{text[:60]!r}: no such date")
    if hour > 23 or minute > 59 or second > 60:
        raise TimeError(f"{text[:60]!r}: no such time of day")
    offset = 0
    if zone and zone not in "Zz":
        oh, om = int(zone[1:3]), int(zone[4:6])
        if oh > 23 or om > 59:
            raise TimeError(f"{text[:60]!r}: no such offset")
        offset = (oh * 3600 + om * 60) * (-1 if zone[0] == "-" else 1)
    seconds = _days(year, month, day) * _DAY + hour * 3600 + minute * 60 + second - offset
    return seconds * NS + int(((frac or "") + "000000000")[:9])


def to_ns(stamp: str | None) -> int | None:
    """:func:`parse_ns` of a field that may be missing (None or empty: None)."""
    return parse_ns(stamp) if stamp else None


def utc_text(ns: int, digits: int = 6) -> str:
    """Nanoseconds since the epoch as RFC 3339 in UTC (``...Z``) with ``digits`` fraction digits (cut, not rounded)."""
    seconds, frac = divmod(ns, NS)
    days, rest = divmod(seconds, _DAY)
    year, month, day = _civil(days)
    if not 0 <= year <= 9999:
        raise TimeError(f"year {year} has no RFC 3339 form")
    text = f"{year:04d}-{month:02d}-{day:02d}T{rest // 3600:02d}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
    if digits:
        text += "." + f"{frac:09d}"[:digits]
    return text + "Z"


def plain(text: str) -> bool:
    """True when ``text`` is already in the plain form (see :data:`_PLAIN`): nothing to convert."""
    return _PLAIN.match(text) is not None


def normalized(text: str, digits: int = 6) -> str:
    """``text`` as it is when plain, else the same instant in UTC with at most ``digits`` fraction digits
    (:class:`TimeError` when it is no time, or its year in UTC is outside 0000-9999)."""
    if _PLAIN.match(text) is not None:
        return text
    ns = parse_ns(text)
    return utc_text(ns, digits)[:-1].rstrip("0").rstrip(".") + "Z" if ns % NS else utc_text(ns, 0)


def timing_ns(record: dict, notes: list[str]) -> tuple[int | None, int | None]:
    """``(start, end)`` of the record in nanoseconds (end: ``stop_time``, else ``update_time``); a missing one is
    None, and so is one this parser cannot read, with a note in ``notes`` naming the field."""
    timing = record.get("timing") or {}
    found: list[int | None] = []
    for names in (("start_time",), ("stop_time", "update_time")):
        name = next((n for n in names if timing.get(n)), None)
        try:
            found.append(to_ns(timing[name]) if name else None)
        except TimeError as exc:
            notes.append(f"timing.{name} left out: {exc}")
            found.append(None)
    return found[0], found[1]
