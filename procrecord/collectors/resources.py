"""The resources section: CPU seconds, peak memory (the process and its children) and I/O."""

from __future__ import annotations

import resource
import sys
from typing import Any

from procrecord.collectors.interface import Collector

#: ru_maxrss is in kilobytes on Linux and in bytes on macOS (the one definition: runner uses it too).
RSS_UNIT = 1 if sys.platform == "darwin" else 1024


def usage() -> dict[str, Any]:
    """Resources used so far by this process and its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    section: dict[str, Any] = {
        "cpu_user_s": round(me.ru_utime, 6), "cpu_system_s": round(me.ru_stime, 6),
        "children_cpu_user_s": round(kids.ru_utime, 6), "children_cpu_system_s": round(kids.ru_stime, 6),
        "peak_rss_bytes": me.ru_maxrss * RSS_UNIT,
    }
    if kids.ru_maxrss:
        section["children_peak_rss_bytes"] = kids.ru_maxrss * RSS_UNIT
    section.update(io_counters())
    return section


def io_counters() -> dict[str, int]:
    """Storage I/O of this process (Linux /proc/self/io, else psutil), empty where unavailable.

    /proc/self/io is read by hand on Linux because ``import psutil`` costs more than the writer's
    start+stop goal (``benchmarks/bench_writer.py``); ``test_io_counters_agree_with_psutil`` compares.
    """
    try:
        with open("/proc/self/io", encoding="ascii") as handle:
            raw = dict(line.split(": ", 1) for line in handle.read().splitlines() if ": " in line)
    except OSError:
        return _psutil_io()
    names = {"read_bytes": "io_read_bytes", "write_bytes": "io_write_bytes", "syscr": "io_read_count",
             "syscw": "io_write_count"}
    return {ours: int(raw[theirs]) for theirs, ours in names.items() if theirs in raw}


def _psutil_io() -> dict[str, int]:
    try:
        import psutil  # macOS, BSD, Windows: no /proc/self/io

        io = psutil.Process().io_counters()
    except Exception:  # noqa: BLE001 - not every platform counts I/O per process
        return {}
    return {"io_read_bytes": io.read_bytes, "io_write_bytes": io.write_bytes,
            "io_read_count": io.read_count, "io_write_count": io.write_count}


class ResourcesCollector(Collector):
    """CPU, memory and I/O used so far; refreshed at every flush and at stop."""

    name = section = "resources"

    def collect(self, state: Any) -> dict[str, Any]:
        return usage()

    def update(self, state: Any) -> dict[str, Any]:
        return usage()
