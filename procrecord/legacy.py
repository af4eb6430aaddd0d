"""Conversions between the legacy ``ProcessContext`` record (version 0) and procrecord 1.0.

Pure functions on dicts. The upgrade takes values out of a working copy as it maps them; whatever
is left afterwards has no home in 1.0 and is kept verbatim in ``provenance.legacy`` under its
original JSON pointer, so nothing is lost silently.
"""

from __future__ import annotations

import datetime as dt
import re
import shlex
import uuid
from typing import Any

import orjson

from procrecord._version import __version__
from procrecord.jsonsafe import json_copy
from procrecord.pointer import escape, tokens
from procrecord.versions import RECORD_TYPE

_COMPACT = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})T(?P<h>\d{2}):?(?P<m>\d{2}):?(?P<s>\d{2})(?P<frac>\.\d+)?"
    r"(?P<tz>Z|[+-]\d{1,2}(?::?\d{2})?)?$"
)
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
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value) if value >= 0 else None
    if not isinstance(value, str):
        return None
    match = _DURATION.match(value.strip())
    if not match:
        return None
    total = int(match["days"] or 0) * 86400 + int(match["h"]) * 3600 + int(match["m"]) * 60 + float(match["s"])
    return total if total >= 0 else None


def format_duration(seconds: float) -> str:
    """Seconds to ``str(timedelta)``, as the legacy writer stored durations."""
    return str(dt.timedelta(seconds=round(seconds, 6)))


def _str(section: dict[str, Any], key: str) -> str | None:
    """Take a non-empty string out of ``section``; anything else stays there (for the legacy bag)."""
    value = section.get(key)
    if isinstance(value, str) and value:
        del section[key]
        return value
    return None


def _count(section: dict[str, Any], key: str, least: int = 0) -> int | None:
    """Take an integer of at least ``least`` out of ``section`` (not a boolean)."""
    value = section.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and value >= least:
        del section[key]
        return value
    return None


def _amount(section: dict[str, Any], key: str) -> float | int | None:
    """Take a non-negative number out of ``section`` (not a boolean)."""
    value = section.get(key)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        del section[key]
        return value
    return None


def _section(props: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A copy of the object ``props[key]``, put in its place so values can be taken out of it."""
    value = props.get(key)
    if isinstance(value, dict):
        value = props[key] = dict(value)
        return value
    return None


def _leaves(value: Any, pointer: str, out: dict[str, Any]) -> None:
    """Flatten what is left to ``{pointer: value}``, dropping empty containers and nulls."""
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _leaves(sub, pointer + "/" + escape(key), out)
    elif value is not None and value != {}:
        out[pointer] = value


def _prune(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if v is not None and v != {}}


def upgrade_0_to_1_0(record: dict[str, Any]) -> dict[str, Any]:
    """Legacy ``ProcessContext`` record to procrecord 1.0 (lossless: see module docstring).

    Values are taken out of shallow copies of the record's objects as they are mapped; the input is
    never modified, and values moved as they are (config, extra, argv, leftovers) are shared with it.
    """
    rest = dict(record)
    if rest.get("type") == "process":
        del rest["type"]  # "process_context" (the oldest form) stays in the legacy bag
    props = _section(rest, "properties") or {}
    keep: dict[str, Any] = {}
    out: dict[str, Any] = {"schema_version": "1.0", "record_type": RECORD_TYPE}

    raw_id = props.pop("uuid", None)
    if isinstance(raw_id, str) and _CANONICAL_UUID.match(raw_id):
        out["id"] = raw_id  # what str(uuid.UUID(raw_id)) gives, without building one
    else:
        try:
            out["id"] = str(uuid.UUID(raw_id)) if isinstance(raw_id, str) else None
        except ValueError:
            out["id"] = None
    if out["id"] is None:
        text = orjson.dumps(record, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS).decode()
        out["id"] = str(uuid.uuid5(_NAMESPACE, text))
        if raw_id is not None:
            keep["/properties/uuid"] = raw_id
    name = props.pop("name", None)
    out["name"] = name if isinstance(name, str) else None
    if name is not None and not isinstance(name, str):
        keep["/properties/name"] = name

    start_raw, stop_raw = props.pop("start_timestamp", None), props.pop("stop_timestamp", None)
    end_raw = props.pop("end_timestamp", None)
    if stop_raw is None and end_raw is not None:
        stop_raw = end_raw  # the oldest records said end_timestamp; the key itself is kept below
    if end_raw is not None:
        keep["/properties/end_timestamp"] = end_raw
    timing: dict[str, Any] = {}
    for field, raw, pointer in (("start_time", start_raw, "start_timestamp"), ("stop_time", stop_raw, "stop_timestamp")):
        parsed = _parse_compact(raw) if isinstance(raw, str) else None
        if parsed is not None:
            timing[field] = parsed[0]
            if not parsed[1]:  # e.g. "Z" for "+0": keep the exact original text
                keep.setdefault(f"/properties/{pointer}", raw)
        elif raw is not None:
            keep[f"/properties/{pointer}"] = raw
    duration_raw = props.pop("duration", None)
    duration = parse_duration(duration_raw)
    if duration is not None:
        timing["duration_s"] = duration
        if format_duration(duration) != duration_raw:
            keep["/properties/duration"] = duration_raw
    elif duration_raw is not None:
        keep["/properties/duration"] = duration_raw
    out["status"] = "running" if start_raw is not None and stop_raw is None else "completed"

    invocation: dict[str, Any] = {}
    args = props.pop("args", None)
    if isinstance(args, list) and all(isinstance(a, str) for a in args):
        invocation["argv"] = args
    elif isinstance(args, str):
        try:
            invocation["argv"] = shlex.split(args)
        except ValueError:
            invocation["argv"] = [args]
        keep["/properties/args"] = args  # the exact original string
    elif args is not None:
        keep["/properties/args"] = args
    config = props.pop("config", None)
    if config is not None:
        invocation["config"] = config

    collection_level = "none"
    host: dict[str, Any] = {}
    python: dict[str, Any] = {}
    if "machine" in props and props["machine"] is None:
        collection_level = "all"
    machine = _section(props, "machine")
    if machine is not None:
        if machine.get("telemetry_disabled") is True:
            del machine["telemetry_disabled"]
            collection_level = "most"
        host["hostname"], host["user"], host["home"] = _str(machine, "host"), _str(machine, "user"), _str(machine, "userhome")
        invocation["cwd"] = _str(machine, "cwd")
        host["memory_total_bytes"] = _count(machine, "mem_total")
        host["cpu"] = _prune({"model": _str(machine, "cpu_brand"), "logical_count": _count(machine, "cpu_count", 1)})
        host["os"] = _prune({"name": _str(machine, "os_name"), "release": _str(machine, "os_release"),
                             "version": _str(machine, "os_version")})
        arch = machine.get("arch")
        if isinstance(arch, str) and arch in _ARCHES:
            host["arch"] = machine.pop("arch")  # else (often "") it stays in the legacy bag
        python["implementation"] = _str(machine, "py_impl")
        py_version = machine.get("py_version")
        if isinstance(py_version, str) and py_version.split():
            python["version"] = py_version.split()[0]
            if py_version == python["version"]:
                del machine["py_version"]  # else the full build string stays in the legacy bag
    emissions: dict[str, Any] = {}
    source = _section(props, "emissions")
    if source is not None:
        emissions = _prune({"emissions_kg": _amount(source, "co2_kg"), "energy_kwh": _amount(source, "total_kWH"),
                            "run_id": _str(source, "run_id")})
        if emissions:
            emissions["tool"] = "codecarbon"

    disks = []
    disk = props.get("disk_info")
    if isinstance(disk, dict) and isinstance(disk.get("path"), str):
        disk = _section(props, "disk_info") or {}
        disks.append(_prune({"path": disk.pop("path"), "device": _str(disk, "source"), "filesystem": _str(disk, "filesystem")}))

    devices = []
    device = props.get("device_info")
    if isinstance(device, dict) and isinstance(device.get("device_type"), str):
        device = _section(props, "device_info") or {}
        index = device.get("device_index")
        kind = device.pop("device_type")
        entry = {"index": index if isinstance(index, int) and index >= 0 else 0,
                 "type": {"cuda": "gpu", "cpu": "cpu", "mps": "mps"}.get(kind, "other"),
                 "name": _str(device, "device_name"), "memory_total_bytes": _count(device, "total_vram"),
                 "multiprocessor_count": _count(device, "device_multi_processor_count")}
        if isinstance(index, int) and index >= 0:
            del device["device_index"]
        elif index is None:
            keep["/properties/device_info/device_index"] = None  # unknown in the original, 0 here
        if entry["type"] == "other":
            keep["/properties/device_info/device_type"] = kind
        elif kind == "cuda":
            keep["/properties/device_info/device_type"] = kind  # downgrade gives back the torch name
        devices.append(_prune(entry))
        # device_capabilities holds (multiprocessor count, minor), not a compute capability: kept
        # verbatim in the legacy bag below, never passed off as compute_capability.

    if isinstance(props.get("extra"), dict):
        out["extra"] = props.pop("extra")

    out["producer"] = {"name": "procrecord", "version": __version__}
    out["collection"] = {"level": collection_level}
    out["timing"] = _prune(timing)
    out["invocation"] = _prune(invocation)
    out["host"] = _prune(host)
    out["python"] = _prune(python)
    out["emissions"] = emissions
    out["disks"] = disks or None
    out["devices"] = devices or None

    leftover: dict[str, Any] = {}
    _leaves(rest, "", leftover)
    leftover.update(keep)
    out["provenance"] = _prune({"upgraded_from": "0", "upgraded_by": f"procrecord {__version__}",
                                "legacy": dict(sorted(leftover.items()))})
    return _prune(out) | {"name": out["name"]}


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
    "/collection/level",
})


def downgrade_1_0_to_0(record: dict[str, Any]) -> dict[str, Any]:
    """procrecord 1.0 to the legacy shape that existing readers index directly.

    ``machine`` always has every legacy key (None where unknown), because readers index
    ``machine.cpu_brand`` directly. Values kept in ``provenance.legacy`` by an upgrade are put back
    at their original place, so ``downgrade(upgrade(x))`` gives ``x`` back.
    """
    get = lambda *path: _dig(record, path)  # noqa: E731
    start, stop, duration = get("timing", "start_time"), get("timing", "stop_time"), get("timing", "duration_s")
    props: dict[str, Any] = {
        "name": record.get("name"),
        "args": get("invocation", "argv"),
        "config": get("invocation", "config"),
        "machine": {
            "host": get("host", "hostname"), "user": get("host", "user"), "cwd": get("invocation", "cwd"),
            "userhome": get("host", "home"), "mem_total": get("host", "memory_total_bytes"),
            "cpu_brand": get("host", "cpu", "model"), "cpu_count": get("host", "cpu", "logical_count"),
            "os_name": get("host", "os", "name"), "os_release": get("host", "os", "release"),
            "os_version": get("host", "os", "version"), "arch": get("host", "arch") or "",
            "py_impl": get("python", "implementation"), "py_version": get("python", "version"),
        },
        "start_timestamp": format_timestamp(start) if start else None,
        "stop_timestamp": format_timestamp(stop) if stop else None,
        "duration": format_duration(duration) if duration is not None else None,
        "uuid": record.get("id"),
        "extra": record.get("extra"),
    }
    emissions = record.get("emissions") or {}
    if emissions:
        props["emissions"] = {"co2_kg": emissions.get("emissions_kg"), "total_kWH": emissions.get("energy_kwh"),
                              "run_id": emissions.get("run_id")}
    disks = record.get("disks") or []
    if disks:
        props["disk_info"] = {"path": disks[0].get("path"), "source": disks[0].get("device"),
                              "filesystem": disks[0].get("filesystem")}
    devices = record.get("devices") or []
    if devices:
        dev = devices[0]
        cc = dev.get("compute_capability")
        props["device_info"] = {
            "device_index": dev.get("index"), "device_type": "cuda" if dev.get("type") == "gpu" else dev.get("type"),
            "device_name": dev.get("name"), "total_vram": dev.get("memory_total_bytes"),
            "reserved_vram": dev.get("torch_max_reserved_bytes"), "allocated_vram": dev.get("torch_max_allocated_bytes"),
            "device_capabilities": [int(x) for x in cc.split(".")] if isinstance(cc, str) else None,
            "device_multi_processor_count": dev.get("multiprocessor_count"),
        }
        props["device_info"] = {k: v for k, v in props["device_info"].items() if v is not None or k == "device_index"}
    if get("collection", "level") == "most":
        props["machine"]["telemetry_disabled"] = True  # as the legacy writer said, beside the keys readers index
    out: dict[str, Any] = {"type": "process", "properties": props}
    for pointer, value in (get("provenance", "legacy") or {}).items():
        _put(out, pointer, json_copy(value))
    return out


def dropped_by_downgrade(record: dict[str, Any]) -> list[str]:
    """JSON pointers of the 1.0 values the legacy shape has no place for (coarsest level)."""
    dropped: list[str] = []
    _walk_dropped(record, "", dropped)
    return dropped


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
