"""Hardware energy counters read at start and stop: RAPL (CPU packages, DRAM) and NVML (GPUs).

A counter read twice gives the energy of exactly the job's interval, at the cost of a file read
or a driver call: no sampling, no estimate. RAPL counters wrap at ``max_energy_range_uj``; the
difference is taken modulo that range. A counter that cannot be read (no RAPL on a VM, root-only
``energy_uj``, no NVML) is simply absent: :mod:`procrecord.collectors.emissions` then estimates.
"""

from __future__ import annotations

import functools
import os
import time
from typing import Any, Callable, NamedTuple

from procrecord.collectors.interface import now_iso

RAPL_ROOT = "/sys/class/powercap"
_UJ_PER_KWH = 3.6e12
_MJ_PER_KWH = 3.6e9


class Counter(NamedTuple):
    """One energy counter: what it measures, where it is read, how to read it, and its wrap range."""

    component: str  # cpu | gpu | ram
    source: str  # "intel-rapl:0", "intel-rapl:0:1", "gpu:0"
    method: str  # rapl | nvml
    read: Callable[[], int]
    #: The counter's range (it wraps to 0 past it), in the counter's own unit; None: never wraps.
    wrap: int | None
    per_kwh: float


def _read_int(path: str) -> int:
    with open(path, encoding="ascii") as handle:
        return int(handle.read().strip())


def rapl_counters(root: str = RAPL_ROOT) -> tuple[list[Counter], str | None]:
    """The readable RAPL package (cpu) and DRAM (ram) counters under ``root``, and why others are not."""
    counters: list[Counter] = []
    problem = None
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return [], None
    for zone in names:
        if not zone.startswith("intel-rapl:"):
            continue
        path = os.path.join(root, zone)
        try:
            with open(os.path.join(path, "name"), encoding="ascii") as handle:
                label = handle.read().strip()
        except OSError:
            continue
        # Package zones hold their cores and uncore (counting those too would count twice); psys
        # is the whole platform, which would count the packages again.
        component = "cpu" if label.startswith("package") else "ram" if label == "dram" else None
        if component is None:
            continue
        energy = os.path.join(path, "energy_uj")
        try:
            _read_int(energy)
            wrap = _read_int(os.path.join(path, "max_energy_range_uj"))
        except PermissionError:
            problem = f"RAPL counters under {root} are readable only by root"
            continue
        except (OSError, ValueError):
            continue
        counters.append(Counter(component, zone, "rapl", functools.partial(_read_int, energy), wrap, _UJ_PER_KWH))
    return counters, problem


def nvml_counters(nvml: Any = None) -> tuple[list[Counter], str | None]:
    """A total-energy counter per GPU NVML sees (millijoules since the driver loaded)."""
    if nvml is None:
        from procrecord.collectors.devices import load_nvml

        nvml = load_nvml()
        if not hasattr(nvml, "nvmlDeviceGetCount"):
            return [], None  # no NVML here: nothing to say, the estimator covers GPUs if any
    counters = []
    try:
        count = int(nvml.nvmlDeviceGetCount())
    except Exception as exc:  # noqa: BLE001 - driver gone
        return [], f"NVML: {exc}"
    for index in range(count):
        try:
            handle = nvml.nvmlDeviceGetHandleByIndex(index)
            nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        except Exception:  # noqa: BLE001 - GPUs before Volta have no energy counter
            continue
        read = (lambda h=handle: int(nvml.nvmlDeviceGetTotalEnergyConsumption(h)))
        counters.append(Counter("gpu", f"gpu:{index}", "nvml", read, None, _MJ_PER_KWH))
    return counters, None


class Interval:
    """Counters read at the start of the job and again at each flush and at stop."""

    def __init__(self, counters: list[Counter]) -> None:
        self.counters = counters
        self.start_time = now_iso()
        self._t0 = time.monotonic()
        self._start: dict[str, int | None] = {c.source: self._read(c) for c in counters}

    @staticmethod
    def _read(counter: Counter) -> int | None:
        try:
            return counter.read()
        except Exception:  # noqa: BLE001 - a counter that stops answering is left out, not guessed
            return None

    def measurements(self) -> list[dict[str, Any]]:
        """One entry per counter: the energy from start until now, and the interval it covers."""
        stop_time, duration = now_iso(), time.monotonic() - self._t0
        out = []
        for counter in self.counters:
            start, end = self._start.get(counter.source), self._read(counter)
            if start is None or end is None:
                continue
            delta = end - start
            if delta < 0:
                if counter.wrap is None:
                    continue  # a counter that went backwards was reset: no honest figure
                delta += counter.wrap
            out.append({"component": counter.component, "source": counter.source, "method": counter.method,
                        "energy_kwh": delta / counter.per_kwh, "start_time": self.start_time,
                        "stop_time": stop_time, "duration_s": round(duration, 6)})
        return out
