"""Usage over time: a sampler thread that watches CPU, memory and GPUs while the job runs (opt-in).

Each sample holds the CPU utilisation of the process tree since the previous sample (100 = one
core), its resident memory, and — where NVML answers — GPU utilisation (mean over devices), memory
used and power (sums over devices). The record keeps summaries (mean, p95, max over every sample;
the mean weighted by the time each sample covers, so the CPU mean is the tree's CPU time over the
time watched) and a series of at most ``MAX_POINTS`` points: when it is full, neighbours are merged (averaged) and
later points each cover twice as many samples, so a week-long job keeps an even picture in a few KB.
The tree is found through ``/proc/<pid>/task/<tid>/children`` on Linux (cheap), else psutil.
"""

from __future__ import annotations

import math
import os
import threading
import time
from array import array
from typing import Any

from procrecord.collectors.interface import Collector
from procrecord.writer.threads import block_external_signals, start_quiet

MAX_POINTS = 256
#: Samples kept per metric for exact percentiles; past it every other one is dropped (uniform thinning).
MAX_SAMPLES = 1 << 20
METRICS = ("cpu_percent", "rss_bytes", "gpu_utilization_percent", "gpu_memory_bytes", "gpu_power_w")


def _children_proc(pid: int) -> list[int] | None:
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    found: list[int] = []
    for tid in tasks:
        try:
            with open(f"/proc/{pid}/task/{tid}/children", "rb") as handle:
                found.extend(int(x) for x in handle.read().split())
        except (OSError, ValueError):
            return None  # the kernel does not offer it: ask psutil
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every process below it."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        children = _children_proc(current) if os.path.isdir("/proc") else None
        if children is None:
            try:
                import psutil

                children = [c.pid for c in psutil.Process(current).children()]
            except Exception:  # noqa: BLE001 - a process that ended has no children
                children = []
        todo.extend(children)
    return out


class _Gpus:
    """NVML handles for every GPU, opened once; None where NVML is missing or finds no device."""

    def __init__(self) -> None:
        self.nvml: Any = None
        self.handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            self.nvml = pynvml
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(pynvml.nvmlDeviceGetCount())]
        except Exception:  # noqa: BLE001 - no NVML, no driver, no GPU: the series has no GPU columns
            self.nvml, self.handles = None, []

    def sample(self) -> dict[str, float]:
        if not self.handles:
            return {}
        nvml, util, memory, power = self.nvml, [], 0.0, 0.0
        got_power = False
        for handle in self.handles:
            try:
                util.append(float(nvml.nvmlDeviceGetUtilizationRates(handle).gpu))
                memory += float(nvml.nvmlDeviceGetMemoryInfo(handle).used)
            except Exception:  # noqa: BLE001 - a device that stopped answering is left out of this sample
                continue
            try:
                power += nvml.nvmlDeviceGetPowerUsage(handle) / 1000.0  # milliwatts
                got_power = True
            except Exception:  # noqa: BLE001 - not every board reports power
                pass
        if not util:
            return {}
        out = {"gpu_utilization_percent": sum(util) / len(util), "gpu_memory_bytes": memory}
        if got_power:
            out["gpu_power_w"] = power
        return out

    def close(self) -> None:
        if self.nvml is not None:
            try:
                self.nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass


class Series:
    """Summaries over every sample and a bounded, downsampled series of points."""

    def __init__(self, max_points: int = MAX_POINTS) -> None:
        self.max_points = max_points
        self.count = 0
        self.values: dict[str, array[float]] = {}
        self.points: list[dict[str, float]] = []
        self._width = 1  # samples per point
        self._pending: list[dict[str, float]] = []
        #: Per metric: the sum of value x time covered, and the time covered (the weighted mean).
        self._weighted: dict[str, list[float]] = {}

    def add(self, t_s: float, sample: dict[str, float], span_s: float = 1.0, mean_only: tuple[str, ...] = ()) -> None:
        """Add one sample taken ``t_s`` seconds after the start, covering the ``span_s`` seconds before.

        ``mean_only``: metrics of this sample that count in the mean (weighted by ``span_s``) but are
        not a sample of their own for p95, max and the series: a rate over a cut-short span (the last
        CPU reading at stop covers a few clock ticks and reads 0 or 50%: noise, not a level).
        """
        self.count += 1
        for key, value in sample.items():
            totals = self._weighted.setdefault(key, [0.0, 0.0])
            totals[0] += value * span_s
            totals[1] += span_s
        sample = {k: v for k, v in sample.items() if k not in mean_only}
        for key, value in sample.items():
            kept = self.values.setdefault(key, array("d"))
            kept.append(value)
            if len(kept) > MAX_SAMPLES:
                self.values[key] = kept[::2]
        self._pending.append({"t_s": t_s, **sample})
        if len(self._pending) >= self._width:
            self.points.append(_merge(self._pending))
            self._pending = []
            if len(self.points) >= self.max_points:
                self.points = [_merge(self.points[i:i + 2]) for i in range(0, len(self.points), 2)]
                self._width *= 2

    def series(self) -> list[dict[str, float]]:
        """The points, with the unfinished last one."""
        points = self.points + ([_merge(self._pending)] if self._pending else [])
        return [{k: round(v, 3) for k, v in p.items()} for p in points]

    def summary(self, key: str) -> dict[str, float] | None:
        """Mean, p95 and max of one metric."""
        values = self.values.get(key)
        if not values:
            return None
        ordered = sorted(values)
        p95 = ordered[min(len(ordered) - 1, max(0, math.ceil(0.95 * len(ordered)) - 1))]  # nearest rank
        weighted, span = self._weighted[key]
        mean = weighted / span if span > 0 else sum(ordered) / len(ordered)
        return {"mean": round(mean, 3), "p95": round(p95, 3), "max": round(ordered[-1], 3)}


def _merge(points: list[dict[str, float]]) -> dict[str, float]:
    """The average of neighbouring points (the time of the first; a metric averaged where present)."""
    out: dict[str, float] = {"t_s": points[0]["t_s"]}
    for key in METRICS:
        values = [p[key] for p in points if key in p]
        if values:
            out[key] = sum(values) / len(values)
    return out


class Sampler:
    """Samples a process tree every ``interval`` seconds in a daemon thread until stopped."""

    def __init__(self, interval: float, pid: int | None = None, gpus: bool = True) -> None:
        if not interval > 0:
            raise ValueError("usage interval must be a positive number of seconds")
        self.interval = float(interval)
        self.pid = pid or os.getpid()
        self.data = Series()
        self._gpus_wanted = gpus
        self._gpus: _Gpus | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._processes: dict[int, Any] = {}
        self._last: tuple[float, float] | None = None
        #: The clock of the samples (a test gives its own).
        self.clock = time.monotonic
        self._t0 = self.clock()

    def start(self) -> None:
        """Start the thread; the first sample is taken at once (a baseline for CPU)."""
        self._t0 = self.clock()
        self._thread = threading.Thread(target=self._loop, name="procrecord-usage", daemon=True)
        start_quiet(self._thread)

    def stop(self) -> None:
        """Take a last sample and end the thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._gpus is not None:
            self._gpus.close()

    def _loop(self) -> None:
        block_external_signals()
        if self._gpus_wanted:
            self._gpus = _Gpus()
        self.sample(record=False)  # the CPU baseline
        while not self._stop.wait(self.interval):
            self.sample()
        self.sample(last=True)

    def sample(self, record: bool = True, last: bool = False) -> dict[str, float]:
        """One sample of the tree (and GPUs); added to the data unless it is only the baseline.

        ``last``: the sample taken at stop, which may cover much less than an interval.
        """
        before = self.clock()
        cpu_total, rss = self.read_tree()
        now = (before + self.clock()) / 2  # the CPU times were read in between
        sample: dict[str, float] = {"rss_bytes": rss}
        span = 0.0
        if self._last is not None:
            then, cpu_then = self._last
            span = now - then
            if span > 0:
                sample["cpu_percent"] = max(0.0, (cpu_total - cpu_then) / span * 100.0)
        self._last = (now, cpu_total)
        if self._gpus is not None:
            sample.update(self._gpus.sample())
        if record:
            # CPU times tick in 10 ms steps: over a last span under half an interval the rate is noise
            short = ("cpu_percent",) if last and span < self.interval / 2 else ()
            self.data.add(round(now - self._t0, 3), sample, span_s=span, mean_only=short)
        return sample

    def read_tree(self) -> tuple[float, float]:
        """CPU seconds used so far and resident bytes now, of the whole tree."""
        import psutil

        cpu_total, rss = 0.0, 0.0
        alive: dict[int, Any] = {}
        for pid in tree(self.pid):
            proc = self._processes.get(pid)
            try:
                if proc is None:
                    proc = psutil.Process(pid)
                with proc.oneshot():
                    times = proc.cpu_times()
                    rss += proc.memory_info().rss
                cpu_total += times.user + times.system
                if pid == self.pid:
                    # children this process already waited for still count
                    cpu_total += times.children_user + times.children_system
            except Exception:  # noqa: BLE001 - a process that ended between listing and reading
                continue
            alive[pid] = proc
        self._processes = alive
        return cpu_total, rss

    def section(self) -> dict[str, Any] | None:
        """The usage section as it stands."""
        data = self.data
        out: dict[str, Any] = {"interval_s": self.interval, "sample_count": data.count}
        for key in METRICS:
            summary = data.summary(key)
            if summary is not None:
                out[key] = summary
        series = data.series()
        if series:
            out["series"] = series
        return out


class UsageCollector(Collector):
    """Runs a :class:`Sampler` from start to stop and fills the ``usage`` section."""

    name = section = "usage"

    def __init__(self, interval: float, gpus: bool = True) -> None:
        self.interval = interval
        self.gpus = gpus
        self.sampler: Sampler | None = None

    def collect(self, state: Any) -> Any:
        self.sampler = Sampler(self.interval, pid=getattr(state, "pid", None), gpus=self.gpus)
        self.sampler.start()
        return self.sampler.section()

    def update(self, state: Any) -> Any:
        if self.sampler is None:
            return None
        if getattr(state, "stopping", False):
            self.sampler.stop()
        return self.sampler.section()

    def close(self) -> None:
        if self.sampler is not None:
            self.sampler.stop()
