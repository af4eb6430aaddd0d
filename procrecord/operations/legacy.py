"""Conversions between the legacy ``ProcessContext`` record (version 0) and procrecord 1.0.

Pure functions on dicts. The upgrade maps each legacy value that 1.0 has a place for (a table per
legacy object says where, and of which kind a value must be); whatever is left has no home in 1.0
and is kept verbatim in ``provenance.legacy`` under its original JSON pointer, so nothing is lost
silently.
"""

from __future__ import annotations

import datetime as dt
import enum
import functools
import operator
import re
import shlex
import uuid
from typing import Any

import orjson

from procrecord._version import __version__
from procrecord.bulk.jsoncodec import dumps
from procrecord.jsonsafe import json_copy
from procrecord.pointer import escape, tokens
from procrecord.record.versions import RECORD_TYPE

_COMPACT = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):?(?P<m>\d{2}):?(?P<s>\d{2})(?P<frac>\.\d+)?"
    r"(?P<tz>Z|[+-]\d{1,2}(?::?\d{2})?)?$"
)
_INFINITY = float("inf")
_DURATION = re.compile(r"^(?:(?P<days>-?\d+) days?, )?(?P<h>\d+):(?P<m>\d{2}):(?P<s>\d{2}(?:\.\d+)?)$")
_ARCHES = {"x86_64", "amd64", "aarch64", "arm64", "i386", "i686", "ppc64le", "s390x", "riscv64", "armv7l"}
_NAMESPACE = uuid.UUID("8f6a3c1e-2b4d-4e5f-9a7b-1c2d3e4f5a6b")
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")


_FRACTION = re.compile(r"\.(\d+)")


def rfc3339_datetime(text: str) -> dt.datetime:
    """Parse RFC 3339 on every supported Python (3.10's fromisoformat wants 0, 3 or 6 fraction digits, no Z)."""
    text = text.replace("Z", "+00:00").replace("z", "+00:00")
    text = _FRACTION.sub(lambda m: "." + (m.group(1) + "000000")[:6], text, count=1)
    return dt.datetime.fromisoformat(text)


def _parse_compact(text: str) -> tuple[str, bool] | None:
    """``(RFC 3339, True when format_timestamp gives back exactly text)``, or None when not a timestamp."""
    fast = _COMPACT_FAST.match(text)
    if fast is not None:
        # The form the legacy writer produced: the time is valid by the pattern; the date and the
        # zone are remembered (records of one period share them).
        date, h, m, s, zone = fast.groups()
        suffix = _zone(zone)
        if suffix and _valid_date(date):
            return f"{date}T{h}:{m}:{s}{suffix[0]}", suffix[1]
        return None
    return _parse_compact_general(text)


#: The legacy writer's own form (``2026-11-26T143634+0``): no fraction, a time of day in range.
_COMPACT_FAST = re.compile(r"(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3])([0-5]\d)([0-5]\d)([+-]\d{1,4})\Z")


@functools.lru_cache(maxsize=4096)
def _valid_date(date: str) -> bool:
    return _parse_compact_general(date + "T000000") is not None


@functools.lru_cache(maxsize=4096)
def _zone(zone: str) -> tuple[str, bool] | tuple[()]:
    """A compact zone's RFC 3339 offset and whether it is in canonical form; () when invalid."""
    general = _parse_compact_general("2000-01-01T000000" + zone)
    return (general[0][19:], general[1]) if general else ()


def _parse_compact_general(text: str) -> tuple[str, bool] | None:
    """:func:`_parse_compact` for every form the legacy records hold (fractions, ``Z``, colons)."""
    match = _COMPACT.match(text)
    if not match:
        return None
    tz = match["tz"] or "Z"
    sign, hours, minutes = "+", 0, 0
    if tz != "Z":
        sign, digits = tz[0], tz[1:].replace(":", "")
        hours, minutes = (int(digits), 0) if len(digits) <= 2 else (int(digits[:-2]), int(digits[-2:]))
        if hours > 23 or minutes > 59:
            return None
    frac = match["frac"] or ""
    micro = int((frac[1:] + "000000")[:6]) if frac else 0
    date, h, m, s = match.group("date", "h", "m", "s")
    try:
        dt.datetime(int(date[:4]), int(date[5:7]), int(date[8:]), int(h), int(m), int(s), micro)
    except ValueError:
        return None
    result = f"{date}T{h}:{m}:{s}{frac}{sign}{hours:02d}:{minutes:02d}"
    if not hours and not minutes:
        sign = "+"
    zone = f"{sign}{hours}" if not minutes else f"{sign}{hours:02d}{minutes:02d}"
    canonical = f"{date}T{h}{m}{s}" + (f".{micro:06d}" if micro else "") + zone
    return result, canonical == text


def parse_timestamp(text: str) -> str | None:
    """Legacy compact timestamp (``2026-11-26T143634+0``) to RFC 3339 with its offset kept."""
    parsed = _parse_compact(text)
    return parsed[0] if parsed else None


def format_timestamp(text: str) -> str:
    """RFC 3339 to the legacy compact form (``YYYY-MM-DDTHHMMSS+Z``, offset like +0, -5, +0530)."""
    moment = rfc3339_datetime(text)
    offset = moment.utcoffset() or dt.timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    zone = f"{sign}{hours}" if not mins else f"{sign}{hours:02d}{mins:02d}"
    stamp = moment.strftime("%Y-%m-%dT%H%M%S.%f" if moment.microsecond else "%Y-%m-%dT%H%M%S")
    return stamp + zone


def parse_duration(value: Any) -> float | None:
    """``str(timedelta)`` (``0:00:02``, ``1 day, 2:03:04.5``) or a number to seconds."""
    return _duration(value)[0]


def _duration(value: Any) -> tuple[float | None, bool]:
    """``(seconds or None, True when format_duration gives back exactly value)``."""
    if isinstance(value, str):
        fast = _DURATION_FAST.match(value)
        if fast is not None:
            # What str(timedelta) writes for whole seconds (the legacy writer's usual value).
            days, word, h, m, s = fast.groups()
            seconds = float(int(h) * 3600 + int(m) * 60 + int(s))
            if days is None:
                return seconds, True
            return int(days) * 86400 + seconds, (word == "day") == (days == "1")
        match = _DURATION.match(value.strip())
        if not match:
            return None, False
        total = int(match["days"] or 0) * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        total = value
    else:
        return None, False
    if not 0 <= total < _INFINITY:  # NaN and infinity too
        return None, False
    try:
        return float(total), format_duration(total) == value
    except OverflowError:  # more days than a timedelta holds
        return float(total), False


#: ``str(timedelta)`` of whole seconds: ``H:MM:SS`` after ``N day(s), `` when N is not 0.
_DURATION_FAST = re.compile(r"(?:([1-9]\d{0,8}) (days?), )?(1?\d|2[0-3]):([0-5]\d):([0-5]\d)\Z")


def format_duration(seconds: float) -> str:
    """Seconds to ``str(timedelta)``, as the legacy writer stored durations."""
    return str(dt.timedelta(seconds=round(seconds, 6)))


def _legacy_duration(seconds: float) -> str | float:
    """:func:`format_duration`, or the seconds themselves (schema 0 takes a number too) for a
    duration longer than a ``timedelta`` holds."""
    try:
        return format_duration(seconds)
    except OverflowError:
        return seconds


def _leaves(value: dict[str, Any], pointer: str, out: list[tuple[str, Any]]) -> None:
    """What is left of the object ``value``, flattened to ``(pointer, value)`` pairs (empty objects and nulls dropped)."""
    for key, sub in value.items():
        if isinstance(sub, dict):
            if sub:
                _leaves(sub, pointer + "/" + (escape(key) if "~" in key or "/" in key else key), out)
        elif sub is not None:
            out.append((pointer + "/" + (escape(key) if "~" in key or "/" in key else key), sub))


def upgrade_0_to_1_0(record: dict[str, Any]) -> dict[str, Any]:
    """Legacy ``ProcessContext`` record to procrecord 1.0 (lossless: see module docstring).

    Values are mapped by the tables below and the top-level values out of a shallow copy; the input
    is never modified, and values moved as they are (config, extra, argv, leftovers) are shared with it.
    """
    rest = dict(record)
    if rest.get("type") == "process":
        del rest["type"]  # "process_context" (the oldest form) stays in the legacy bag
    note = rest.pop("redaction", None) if isinstance(rest.get("redaction"), dict) else None
    props = rest.get("properties")
    if props.__class__ is dict:
        props = rest["properties"] = props.copy()
    else:
        props = {}
    # ``keep``: original values put back by a downgrade (pointer -> value); ``leftover``: what is
    # left of the mapped objects, flattened. Each section function pops what it maps from props.
    keep: dict[str, Any] = {}
    leftover: list[tuple[str, Any]] = []
    out: dict[str, Any] = {"schema_version": "1.0", "record_type": RECORD_TYPE, "id": _upgrade_id(record, props, keep)}
    name = _upgrade_name(props, keep)
    timing, status = _upgrade_timing(props, keep)
    invocation = _upgrade_invocation(props, keep)
    collection_level, host, python = _upgrade_machine(props, invocation, leftover)
    emissions = _upgrade_emissions(props, leftover)
    disks = _upgrade_disks(props, leftover)
    devices = _upgrade_devices(props, keep, leftover)
    extra = props.get("extra")
    if extra.__class__ is dict:
        del props["extra"]

    if name is not None:
        out["name"] = name
    out["status"] = status
    if extra.__class__ is dict:
        out["extra"] = extra
    out["producer"] = {"name": "procrecord", "version": __version__}
    out["collection"] = {"level": collection_level}
    for key, section in (("timing", timing), ("invocation", invocation), ("host", host), ("python", python),
                         ("emissions", emissions), ("disks", disks), ("devices", devices)):
        if section:
            out[key] = section

    _leaves(rest, "", leftover)
    if keep:
        leftover += keep.items()  # never the pointer of a leaf: each value kept there was taken out
    provenance: dict[str, Any] = {"upgraded_from": "0", "upgraded_by": _UPGRADED_BY}
    if leftover:
        leftover.sort(key=_first)
        provenance["legacy"] = dict(leftover)
    out["provenance"] = provenance
    if note is not None:
        out["redaction"] = note  # a redacted record downgraded (see downgrade_1_0_to_0) stays redacted
        drop_removed_sections(out, note.get("level"))
        if "legacy" in provenance:
            from procrecord.operations.redaction import drop_hidden_legacy_values

            drop_hidden_legacy_values(out, note.get("level"), "1.0")
    out["name"] = name  # always present (null when unknown), last as before
    return out


def _upgrade_id(record: dict[str, Any], props: dict[str, Any], keep: dict[str, Any]) -> str:
    raw_id = props.pop("uuid", None)
    if raw_id.__class__ is str and _CANONICAL_UUID.match(raw_id):
        return raw_id  # what str(uuid.UUID(raw_id)) gives, without building one
    return _derived_id(record, raw_id, keep)


def _upgrade_name(props: dict[str, Any], keep: dict[str, Any]) -> str | None:
    name = props.pop("name", None)
    if name is not None and not isinstance(name, str):
        keep["/properties/name"] = name
        return None
    return name


def _upgrade_timing(props: dict[str, Any], keep: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """The timing section and the status (running: started, never stopped)."""
    pop = props.pop
    timing: dict[str, Any] = {}
    start_raw, stop_raw = pop("start_timestamp", None), pop("stop_timestamp", None)
    if "end_timestamp" in props:
        end_raw = pop("end_timestamp")
        if end_raw is not None:
            if stop_raw is None:
                stop_raw = end_raw  # the oldest records said end_timestamp; the key itself is kept
            else:
                keep["/properties/stop_timestamp"] = stop_raw  # both keys: a downgrade must give both back
            keep["/properties/end_timestamp"] = end_raw
    if start_raw is not None:
        _timestamp(timing, "start_time", start_raw, "/properties/start_timestamp", keep)
    if stop_raw is not None:
        _timestamp(timing, "stop_time", stop_raw, "/properties/stop_timestamp", keep)
    duration_raw = pop("duration", None)
    if duration_raw is not None:
        duration, exact = _duration(duration_raw)
        if duration is not None:
            timing["duration_s"] = duration
        if not exact:
            keep["/properties/duration"] = duration_raw
    return timing, "running" if start_raw is not None and stop_raw is None else "completed"


#: A backslash before a character that a shell escape means nothing for (``C:\Users``, ``D:\share``,
#: ``name\exp7``): the string was not written for a shell, and its backslashes are part of the text.
_ORDINARY_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\[^\s\"'\\$`!*?#&;|<>(){}\[\]~]")  # the odd backslash of a run


def _quoted_positions(text: str) -> set[int]:
    """The positions of ``text`` inside single or double quotes (a quote after an odd run of
    backslashes outside single quotes does not count)."""
    inside: set[int] = set()
    quote, slashes = "", 0
    for index, char in enumerate(text):
        if quote:
            inside.add(index)
        if char == "\\":
            slashes += 1
            continue
        if char in "'\"" and (quote == "'" or slashes % 2 == 0):
            if not quote:
                quote = char
            elif char == quote:
                quote = ""
        slashes = 0
    return inside


def split_args(text: str, together: tuple[str, ...] = ()) -> list[str]:
    r"""A command line given as one string, as argv: split as a POSIX shell splits it, except that a
    string with Windows paths keeps its backslashes, and a path of ``together`` holding spaces (the
    home or working folder of ``C:\Users\First Last``) stays one argument where it is not quoted.

    Raises ValueError for unbalanced quotes, as :func:`shlex.split` does.
    """
    spaced = sorted((p for p in together if p and any(c.isspace() for c in p) and p in text), key=len, reverse=True)
    if spaced:
        # one pass, the longest path first (the working folder inside the home stays whole), and only
        # where the path is not quoted already
        quoted = _quoted_positions(text)
        text = re.sub("|".join(map(re.escape, spaced)),
                      lambda m: m.group(0) if m.start() in quoted or '"' in m.group(0) else f'"{m.group(0)}"', text)
    if "\\" not in text or _ORDINARY_ESCAPE.search(text) is None:
        return shlex.split(text)
    lexer = shlex.shlex(text, posix=True)
    lexer.whitespace_split = True
    lexer.commenters = ""
    lexer.escape = ""  # backslashes are text here
    return list(lexer)


#: A backslash a shell would take as an escape (before a space, a quote, a shell character, or at the end).
_SHELL_ESCAPE = re.compile(r"\\(?![^\s\"'\\$`!*?#&;|<>(){}\[\]~])")


def join_args(argv: list[str]) -> str:
    """The inverse of :func:`split_args`: arguments joined by spaces, quoted only where they hold spaces,
    quotes or a backslash a shell would take as an escape (so ``C:\\Users\\x`` stays as it is)."""
    return " ".join(a if a and not any(c.isspace() or c in "\"'" for c in a) and not _SHELL_ESCAPE.search(a)
                    else shlex.quote(a) for a in argv)


def _spaced_paths(props: dict[str, Any]) -> tuple[str, ...]:
    machine = props.get("machine")
    if not isinstance(machine, dict):
        return ()
    return tuple(v for v in (machine.get("userhome"), machine.get("cwd")) if isinstance(v, str))


def _upgrade_invocation(props: dict[str, Any], keep: dict[str, Any]) -> dict[str, Any]:
    invocation: dict[str, Any] = {}
    args = props.pop("args", None)
    if isinstance(args, list) and all(isinstance(a, str) for a in args):
        invocation["argv"] = args
    elif isinstance(args, str):
        try:
            invocation["argv"] = split_args(args, _spaced_paths(props))
        except ValueError:
            invocation["argv"] = [args]
        keep["/properties/args"] = args  # the exact original string
    elif args is not None:
        keep["/properties/args"] = args
    config = props.pop("config", None)
    if config is not None:
        invocation["config"] = config  # an empty config too: a downgrade gives it back
    return invocation


# Machine (host and python), emissions, disk and device: the values 1.0 has a place for are mapped,
# the rest goes to the legacy bag; the objects are then left out of the generic walk.

def _upgrade_machine(props: dict[str, Any], invocation: dict[str, Any],
                     leftover: list[tuple[str, Any]]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The collection level the machine object says, and the host and python sections."""
    host: dict[str, Any] = {}
    python: dict[str, Any] = {}
    machine = props.get("machine", _MISSING)
    if machine is None:
        return "all", host, python
    level = "none"
    if machine.__class__ is dict:
        del props["machine"]
        if machine.get("telemetry_disabled") is True:
            level = "most"
        _machine(machine, host, python, invocation, leftover)
    return level, host, python


def _upgrade_emissions(props: dict[str, Any], leftover: list[tuple[str, Any]]) -> dict[str, Any]:
    emissions: dict[str, Any] = {}
    source = props.get("emissions")
    if source.__class__ is dict:
        del props["emissions"]
        _take(source, _EMISSIONS, "/properties/emissions/", (emissions,), leftover)
        if emissions:
            emissions["tool"] = "codecarbon"
    return emissions


def _upgrade_disks(props: dict[str, Any], leftover: list[tuple[str, Any]]) -> list[dict[str, Any]] | None:
    disk = props.get("disk_info")
    if disk.__class__ is dict and isinstance(disk.get("path"), str):
        del props["disk_info"]
        entry: dict[str, Any] = {"path": disk["path"]}
        _take(disk, _DISK, "/properties/disk_info/", (entry,), leftover)
        return [entry]
    return None  # an error string (no such path) stays in the legacy bag


def _upgrade_devices(props: dict[str, Any], keep: dict[str, Any],
                     leftover: list[tuple[str, Any]]) -> list[dict[str, Any]] | None:
    device = props.get("device_info")
    if device.__class__ is dict and isinstance(device.get("device_type"), str):
        del props["device_info"]
        return [_device(device, keep, leftover)]
    return None


_MISSING = object()
_first = operator.itemgetter(0)
_UPGRADED_BY = f"procrecord {__version__}"


def drop_removed_sections(out: dict[str, Any], level: Any) -> None:
    """Take out what the upgrade made that the record's redaction level removes (``collection``
    at ``all``): a redacted record never holds it, so its upgrade must not either."""
    from procrecord.record.policy import LEVELS, policy, removes

    if level not in LEVELS:
        return
    children = policy("1.0").children or {}
    for key in [k for k in out if k in children and removes(children[k].redact, level)]:
        del out[key]


def _derived_id(record: dict[str, Any], raw_id: Any, keep: dict[str, Any]) -> str:
    """The id of a record whose uuid is not canonical: its UUID, or one derived from its content."""
    if isinstance(raw_id, str):
        try:
            return str(uuid.UUID(raw_id))
        except ValueError:
            pass
    try:
        text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:  # an integer beyond 64 bits
        try:
            text = dumps(record, sort_keys=True).decode()
        except TypeError:  # and keys of several types, in a record built in Python
            text = repr(record)
    if raw_id is not None:
        keep["/properties/uuid"] = raw_id
    return str(uuid.uuid5(_NAMESPACE, text))


def _timestamp(timing: dict[str, Any], field: str, raw: Any, pointer: str, keep: dict[str, Any]) -> None:
    parsed = _parse_compact(raw) if isinstance(raw, str) else None
    if parsed is not None:
        timing[field] = parsed[0]
        if not parsed[1]:  # e.g. "Z" for "+0": keep the exact original text
            keep.setdefault(pointer, raw)
    else:
        keep[pointer] = raw


def _machine(machine: dict[str, Any], host: dict[str, Any], python: dict[str, Any], invocation: dict[str, Any],
             leftover: list[tuple[str, Any]]) -> None:
    """Map any legacy ``machine`` object (see :func:`_take`)."""
    cpu: dict[str, Any] = {}
    os_: dict[str, Any] = {}
    _take(machine, _MACHINE, "/properties/machine/", (host, invocation, cpu, os_, python), leftover)
    if cpu or os_:
        arch = host.pop("arch", None)
        if cpu:
            host["cpu"] = cpu
        if os_:
            host["os"] = os_
        if arch is not None:
            host["arch"] = arch


class Kind(enum.Enum):
    """What a legacy value must be to be mapped (anything else stays in the legacy bag)."""

    TEXT = "non-empty text"
    COUNT = "integer >= 0"
    COUNT1 = "integer >= 1"
    AMOUNT = "number >= 0"
    ARCH = "a known machine architecture"
    PY_VERSION = "Python version text (the first word is the version)"
    TAKEN = "read by the section's own code"
    FLAG = "true (then implied by the collection level)"
    INDEX = "device index, integer >= 0 (read by the section's own code)"


# Module-level names: the hot loop below compares kinds by identity, without attribute lookups.
_TEXT, _COUNT, _COUNT1, _AMOUNT = Kind.TEXT, Kind.COUNT, Kind.COUNT1, Kind.AMOUNT
_ARCH, _PY_VERSION, _TAKEN, _FLAG, _INDEX = Kind.ARCH, Kind.PY_VERSION, Kind.TAKEN, Kind.FLAG, Kind.INDEX


def _take(section: dict[str, Any], spec: dict[str, tuple[int, str, Kind]], prefix: str,
          places: tuple[dict[str, Any], ...], leftover: list[tuple[str, Any]]) -> None:
    """Map the values of the legacy object ``section`` that ``spec`` names (key -> place, 1.0 key,
    kind) into ``places``; everything else, unknown keys and values not of their kind, goes to
    ``leftover`` as (pointer, value) pairs, flattened like the rest of the legacy bag."""
    for key, value in section.items():
        rule = spec.get(key)
        if rule is not None:
            place, new, kind = rule
            if kind is _TEXT:
                if value and isinstance(value, str):
                    places[place][new] = value
                    continue
            elif kind is _COUNT or kind is _COUNT1 or kind is _AMOUNT:
                if (isinstance(value, (int, float)) if kind is _AMOUNT else isinstance(value, int)) \
                        and value.__class__ is not bool and value >= (1 if kind is _COUNT1 else 0):
                    places[place][new] = value
                    continue
            elif kind is _ARCH:
                if isinstance(value, str) and value in _ARCHES:  # else (often "") it stays in the bag
                    places[place][new] = value
                    continue
            elif kind is _PY_VERSION:
                if isinstance(value, str):
                    words = value.split(None, 1)
                    if words:
                        places[place][new] = words[0]
                        if value == words[0]:
                            continue  # else the full build string stays in the legacy bag
            elif kind is _TAKEN or (kind is _FLAG and value is True) or (kind is _INDEX and value.__class__ is int and value >= 0):
                continue
        if value is not None:  # as _leaves does (written out here: this is the hot path of the bag)
            here = prefix + (escape(key) if "~" in key or "/" in key else key)
            if isinstance(value, dict):
                if value:
                    _leaves(value, here, leftover)
            else:
                leftover.append((here, value))


#: Legacy key -> (place, 1.0 key, kind); machine places: host, invocation, cpu, os, python.
_MACHINE = {
    "host": (0, "hostname", _TEXT), "user": (0, "user", _TEXT), "cwd": (1, "cwd", _TEXT), "userhome": (0, "home", _TEXT),
    "mem_total": (0, "memory_total_bytes", _COUNT), "cpu_brand": (2, "model", _TEXT),
    "cpu_count": (2, "logical_count", _COUNT1), "os_name": (3, "name", _TEXT), "os_release": (3, "release", _TEXT),
    "os_version": (3, "version", _TEXT), "arch": (0, "arch", _ARCH), "py_impl": (4, "implementation", _TEXT),
    "py_version": (4, "version", _PY_VERSION), "telemetry_disabled": (0, "", _FLAG),
}
_EMISSIONS = {"co2_kg": (0, "emissions_kg", _AMOUNT), "total_kWH": (0, "energy_kwh", _AMOUNT), "run_id": (0, "run_id", _TEXT)}
_DISK = {"path": (0, "", _TAKEN), "source": (0, "device", _TEXT), "filesystem": (0, "filesystem", _TEXT)}
#: device_capabilities holds (multiprocessor count, minor), not a compute capability: it is kept
#: verbatim in the legacy bag, never passed off as compute_capability.
_DEVICE = {"device_index": (0, "", _INDEX), "device_type": (0, "", _TAKEN), "device_name": (0, "name", _TEXT),
           "total_vram": (0, "memory_total_bytes", _COUNT), "device_multi_processor_count": (0, "multiprocessor_count", _COUNT)}


def _device(device: dict[str, Any], keep: dict[str, Any], leftover: list[tuple[str, Any]]) -> dict[str, Any]:
    index = device.get("device_index")
    kind = device["device_type"]
    entry = {"index": index if index.__class__ is int and index >= 0 else 0, "type": _DEVICE_TYPES.get(kind, "other")}
    _take(device, _DEVICE, "/properties/device_info/", (entry,), leftover)
    if index is None:
        keep["/properties/device_info/device_index"] = None  # unknown in the original, 0 here
    if entry["type"] == "other" or kind == "cuda":
        keep["/properties/device_info/device_type"] = kind  # unknown, or the torch name for a downgrade
    return entry


_DEVICE_TYPES = {"cuda": "gpu", "cpu": "cpu", "mps": "mps"}


#: 1.0 fields the legacy shape can hold; everything else is reported as dropped by a downgrade.
_REPRESENTED = frozenset({
    "/schema_version", "/record_type", "/id", "/name", "/provenance", "/invocation/argv", "/invocation/config",
    "/invocation/cwd", "/host/hostname", "/host/user", "/host/home", "/host/memory_total_bytes", "/host/cpu/model",
    "/host/cpu/logical_count", "/host/os/name", "/host/os/release", "/host/os/version", "/host/arch",
    "/python/implementation", "/python/version", "/timing/start_time", "/timing/stop_time", "/timing/duration_s",
    "/extra", "/emissions/emissions_kg", "/emissions/energy_kwh", "/emissions/run_id", "/emissions/tool",
    "/disks/0/path", "/disks/0/device", "/disks/0/filesystem", "/devices/0/index", "/devices/0/type",
    "/devices/0/name", "/devices/0/memory_total_bytes", "/devices/0/multiprocessor_count",
    "/devices/0/torch_max_allocated_bytes", "/devices/0/torch_max_reserved_bytes", "/devices/0/compute_capability",
    "/collection/level", "/redaction",
})


def downgrade_1_0_to_0(record: dict[str, Any]) -> dict[str, Any]:
    """procrecord 1.0 to the legacy shape that existing readers index directly.

    A record upgraded from version 0 comes back exactly as it was (``downgrade(upgrade(x)) == x``):
    only the keys it had, with the values kept in ``provenance.legacy`` put back at their place.
    Any other record gets every key the legacy writer wrote at its telemetry level, with the types
    it wrote (``machine.cpu_brand`` and ``machine.arch`` are always strings: readers pass them to
    ``re.sub``), because readers index them directly.
    """
    provenance = record.get("provenance") or {}
    bag = provenance.get("legacy") or {}
    faithful = provenance.get("upgraded_from") == "0"
    # A record redacted at level all has no collection section: its redaction section says the level.
    level = _dig(record, ("collection", "level")) or _dig(record, ("redaction", "level"))
    props: dict[str, Any] = {"name": record.get("name")}
    invocation = record.get("invocation") or {}
    if level != "all" or "argv" in invocation or "config" in invocation:
        props["args"] = invocation.get("argv")
        props["config"] = invocation.get("config")
    machine = _legacy_machine(record, level, faithful)
    if machine is not _MISSING:
        props["machine"] = machine
    props.update(_legacy_timing(record, bag, faithful))
    props["uuid"] = record.get("id")
    props["extra"] = record.get("extra")
    for key, build in (("emissions", _legacy_emissions), ("disk_info", _legacy_disk), ("device_info", _legacy_device)):
        section = build(record, faithful)
        if section is not None:
            props[key] = section
    if faithful and bag:
        props = _in_legacy_order(props, bag)
    out: dict[str, Any] = {"type": "process", "properties": props}
    for pointer, value in bag.items():
        _put(out, pointer, json_copy(value))
    if isinstance(record.get("redaction"), dict):
        # Beside type and properties, where legacy readers never look: the record still says it
        # was redacted (validate --require-level reads it), and an upgrade puts it back.
        out["redaction"] = json_copy(record["redaction"])
    return out


#: The order in which the legacy writer wrote the keys of ``properties`` and of its objects (the oldest
#: records' ``end_timestamp`` and ``iters_per_second`` where they stood).
_LEGACY_ORDER: dict[str, tuple[str, ...]] = {
    "": ("name", "args", "config", "machine", "start_timestamp", "stop_timestamp", "end_timestamp", "duration",
         "iters_per_second", "uuid", "extra", "emissions", "disk_info", "device_info"),
    "machine": ("host", "user", "cwd", "userhome", "mem_total", "cpu_brand", "cpu_count", "os_name", "os_release",
                "os_version", "arch", "py_impl", "py_version"),
    "emissions": ("co2_kg", "total_kWH", "run_id", "co2_ton", "est_dollar_to_offset"),
    "disk_info": ("path", "source", "filesystem", "hwtype", "names"),
    "device_info": ("device_index", "device_type", "device_name", "total_vram", "reserved_vram", "allocated_vram",
                    "device_capabilities", "device_multi_processor_count"),
}


def _in_legacy_order(props: dict[str, Any], bag: dict[str, Any]) -> dict[str, Any]:
    """``props`` (and its objects) with the keys the legacy bag gives back in the place the legacy writer
    wrote them, so that a downgrade of an upgraded record gives back its bytes, not only its values
    (a value put back from the bag would otherwise come last: ``machine.arch`` of ``""``)."""

    def ordered(section: dict[str, Any], order: tuple[str, ...], prefix: str) -> dict[str, Any]:
        slots = {key: None for key in order if key not in section and prefix + key in bag}  # filled by the bag
        if not slots:
            return section
        merged = {**section, **slots}
        return {**{key: merged[key] for key in order if key in merged}, **merged}

    props = ordered(props, _LEGACY_ORDER[""], "/properties/")
    for name, order in _LEGACY_ORDER.items():
        if name and isinstance(props.get(name), dict):
            props[name] = ordered(props[name], order, f"/properties/{name}/")
    return props


#: Legacy ``machine`` key -> where procrecord 1.0 keeps it.
MACHINE_PATHS = {
    "host": ("host", "hostname"), "user": ("host", "user"), "cwd": ("invocation", "cwd"), "userhome": ("host", "home"),
    "mem_total": ("host", "memory_total_bytes"), "cpu_brand": ("host", "cpu", "model"),
    "cpu_count": ("host", "cpu", "logical_count"), "os_name": ("host", "os", "name"),
    "os_release": ("host", "os", "release"), "os_version": ("host", "os", "version"), "arch": ("host", "arch"),
    "py_impl": ("python", "implementation"), "py_version": ("python", "version"),
}
#: Machine keys the legacy writer always wrote as text (readers call string functions on them).
_MACHINE_TEXT = ("cpu_brand", "arch")


def _legacy_machine(record: dict[str, Any], level: Any, faithful: bool) -> Any:
    """The legacy ``machine``: None at level all (as written), else every key (only the known ones
    for an upgraded record), with ``telemetry_disabled`` beside them at level most."""
    if level == "all" and not record.get("host"):
        return None
    machine = {key: _dig(record, path) for key, path in MACHINE_PATHS.items()}
    if faithful:
        machine = {k: v for k, v in machine.items() if v is not None}
    else:
        for key in _MACHINE_TEXT:
            if not isinstance(machine[key], str):
                machine[key] = ""
    if level == "most":
        machine["telemetry_disabled"] = True  # as the legacy writer said, beside the keys readers index
    if faithful and not machine:
        return _MISSING
    return machine


def _legacy_timing(record: dict[str, Any], bag: dict[str, Any], faithful: bool) -> dict[str, Any]:
    start, stop, duration = (_dig(record, ("timing", key)) for key in ("start_time", "stop_time", "duration_s"))
    timing = {"start_timestamp": format_timestamp(start) if start else None,
              "stop_timestamp": format_timestamp(stop) if stop else None,
              "duration": _legacy_duration(duration) if duration is not None else None}
    end = bag.get("/properties/end_timestamp")
    if faithful and stop and isinstance(end, str) and "/properties/stop_timestamp" not in bag \
            and parse_timestamp(end) == stop:
        del timing["stop_timestamp"]  # the oldest records said end_timestamp only (put back from the bag)
    return timing


def _legacy_emissions(record: dict[str, Any], faithful: bool) -> dict[str, Any] | None:
    emissions = record.get("emissions")
    if not emissions:
        return None
    out = {"co2_kg": emissions.get("emissions_kg"), "total_kWH": emissions.get("energy_kwh"),
           "run_id": emissions.get("run_id")}
    if faithful:
        return _present(out)
    co2_kg = out["co2_kg"]
    if isinstance(co2_kg, (int, float)):
        # The legacy writer added these two (with pint): the same figure in metric tons, and what
        # offsetting it cost at its rate of 15 US dollars a ton.
        out["co2_ton"] = co2_kg / 1000
        out["est_dollar_to_offset"] = out["co2_ton"] * _DOLLARS_PER_TON
    return out


_DOLLARS_PER_TON = 15


def _legacy_disk(record: dict[str, Any], faithful: bool) -> dict[str, Any] | None:
    disks = record.get("disks")
    if not disks:
        return None
    return legacy_disk(disks[0], faithful)


def legacy_disk(disk: dict[str, Any], faithful: bool = False) -> dict[str, Any]:
    """The legacy ``disk_info`` of one entry of the disks section."""
    out = {"path": disk.get("path"), "source": disk.get("device"), "filesystem": disk.get("filesystem")}
    if faithful:
        return _present(out)
    device = disk.get("device")
    if disk.get("kind") in ("hdd", "ssd"):
        out["hwtype"] = disk["kind"]
    elif isinstance(device, str) and device.startswith("/dev/"):
        # The legacy writer named every block device's kind (wrongly "hdd" for virtio disks); an
        # unknown one is said so. It wrote none for overlay, tmpfs and network filesystems.
        out["hwtype"] = "unknown"
    # The legacy writer listed the block devices under the source; the source's own name is the first.
    out["names"] = [device.rsplit("/", 1)[-1]] if isinstance(device, str) and device.startswith("/dev/") else []
    return out


def _legacy_device(record: dict[str, Any], faithful: bool) -> dict[str, Any] | None:
    devices = record.get("devices")
    if not devices:
        return None
    dev = devices[0]
    cc = dev.get("compute_capability")
    out = {
        "device_index": dev.get("index"), "device_type": "cuda" if dev.get("type") == "gpu" else dev.get("type"),
        "device_name": dev.get("name"), "total_vram": dev.get("memory_total_bytes"),
        "reserved_vram": dev.get("torch_max_reserved_bytes"), "allocated_vram": dev.get("torch_max_allocated_bytes"),
        "device_capabilities": [int(x) for x in cc.split(".")] if isinstance(cc, str) else None,
        "device_multi_processor_count": dev.get("multiprocessor_count"),
    }
    if not faithful and out["device_type"] == "cpu":
        # The legacy writer gave a CPU device its index and type only; a name here would become
        # geowatch's gpu_name column (and enter its hardware column a second time).
        return {"device_index": out["device_index"], "device_type": "cpu"}
    return {k: v for k, v in out.items() if v is not None or k == "device_index"}


def _present(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if v is not None}


def dropped_by_downgrade(record: dict[str, Any]) -> list[str]:
    """JSON pointers of the 1.0 values the legacy shape has no place for (coarsest level)."""
    dropped: list[str] = []
    _walk_dropped(record, "", dropped)
    if _dig(record, ("provenance", "upgraded_from")) == "0":
        # what the upgrade of a legacy record made up itself, unchanged since, is no value of the record
        made = _made_by_upgrade(record)
        dropped = [pointer for pointer in dropped if pointer not in made]
    devices = record.get("devices")
    first = devices[0] if isinstance(devices, list) and devices and isinstance(devices[0], dict) else None
    if first is not None and first.get("type") == "cpu" and _dig(record, ("provenance", "upgraded_from")) != "0":
        # the legacy writer gave a CPU device its index and type only (see _legacy_device): the rest goes
        dropped += [f"/devices/0/{key}" for key, value in first.items()
                    if key not in ("index", "type") and value is not None and f"/devices/0/{key}" not in dropped]
    return dropped


def _made_by_upgrade(record: dict[str, Any]) -> set[str]:
    """The pointers of the fields an upgrade from version 0 fills in that still hold what it put there:
    ``producer`` (procrecord, of the version that upgraded it) and ``status`` (running when started and
    never stopped, else completed), which the upgrade derives again from the legacy record."""
    made = set()
    producer, by = record.get("producer"), _dig(record, ("provenance", "upgraded_by"))
    if isinstance(producer, dict) and producer.keys() == {"name", "version"} and producer["name"] == "procrecord" \
            and by == f"procrecord {producer['version']}":
        made.add("/producer")
    bag = _dig(record, ("provenance", "legacy")) or {}
    started = _dig(record, ("timing", "start_time")) is not None or bag.get("/properties/start_timestamp") is not None
    stopped = _dig(record, ("timing", "stop_time")) is not None or any(
        bag.get(f"/properties/{key}") is not None for key in ("stop_timestamp", "end_timestamp"))
    if record.get("status") == ("running" if started and not stopped else "completed"):
        made.add("/status")
    return made


def _walk_dropped(value: Any, pointer: str, dropped: list[str]) -> None:
    if pointer in _REPRESENTED:
        return
    if pointer and not any(p.startswith(pointer + "/") for p in _REPRESENTED):
        if value not in (None, {}, []):
            dropped.append(pointer)
        return
    if isinstance(value, dict):
        for key, sub in value.items():
            _walk_dropped(sub, f"{pointer}/{key}", dropped)
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            _walk_dropped(sub, f"{pointer}/{i}", dropped)


def _dig(record: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        record = record.get(part) if isinstance(record, dict) else None
    return record


def _put(target: dict[str, Any], pointer: str, value: Any) -> None:
    parts = tokens(pointer)
    node = target
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value
