"""Usage over time: exact summaries, a bounded series, a busy and an idle job."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.record.validation import validate
from procrecord.writer.recorder import Recorder
from procrecord.writer.usage import MAX_POINTS, Sampler, Series, tree


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), min_size=1, max_size=2000))
def test_summaries_are_exact_and_the_series_bounded(values):
    series = Series()
    for i, value in enumerate(values):
        series.add(float(i), {"cpu_percent": value})
    summary = series.summary("cpu_percent")
    assert summary["max"] == round(max(values), 3)
    assert abs(summary["mean"] - statistics.fmean(values)) <= 1e-6 * max(1.0, max(values)) + 1e-3
    ordered = sorted(values)
    assert summary["p95"] == round(ordered[max(0, -(-95 * len(values) // 100) - 1)], 3)
    points = series.series()
    assert 1 <= len(points) <= MAX_POINTS
    assert [p["t_s"] for p in points] == sorted(p["t_s"] for p in points)
    assert points[0]["t_s"] == 0.0


def test_merging_keeps_the_average_of_what_it_merges():
    series = Series(max_points=4)
    for i in range(16):
        series.add(float(i), {"rss_bytes": float(i)})
    points = series.series()
    assert len(points) <= 4
    # every point is the mean of an equal share of consecutive samples: the overall mean survives
    assert statistics.fmean(p["rss_bytes"] for p in points) == statistics.fmean(range(16))


def test_tree_finds_grandchildren():
    child = subprocess.Popen([sys.executable, "-c",
                              "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; time.sleep(30)'])"])
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(tree(child.pid)) < 2:
            time.sleep(0.05)
        assert len(tree(child.pid)) == 2
        import psutil  # the /proc fast path finds what psutil's full scan finds

        assert sorted(tree(child.pid)) == sorted([child.pid, *(c.pid for c in psutil.Process(child.pid).children(recursive=True))])
    finally:
        for pid in reversed(tree(child.pid)):
            subprocess.run(["kill", str(pid)])
        child.wait()


def _cpu_s(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _sample(command: str, seconds: float) -> tuple[dict, float]:
    """The usage section of a child watched for ``seconds``, and the CPU seconds it really used meanwhile."""
    child = subprocess.Popen([sys.executable, "-c", command])
    time.sleep(0.3)  # past the interpreter's start-up
    sampler = Sampler(0.1, pid=child.pid, gpus=False)
    before = _cpu_s(child.pid)
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    used = _cpu_s(child.pid) - before
    child.kill()
    child.wait()
    return sampler.section(), used


def _integral(section: dict) -> float:
    """CPU seconds the samples account for (each covers the time since the previous one)."""
    total, previous = 0.0, 0.0
    for point in section["series"]:
        total += point.get("cpu_percent", 0.0) / 100 * (point["t_s"] - previous)
        previous = point["t_s"]
    return total


def test_a_busy_job_and_an_idle_job():
    busy, busy_used = _sample("while True: pass", 1.5)
    idle, idle_used = _sample("import time; time.sleep(60)", 1.5)
    assert busy["sample_count"] >= 5 and idle["sample_count"] >= 5
    # the machine may be shared, so no fixed share of a core is promised: what the samples add up to
    # must be the CPU time the child really used (its start-up before the first sample excepted)
    assert busy_used > 0.1
    assert abs(_integral(busy) - busy_used) <= 0.25 * busy_used + 0.05, (busy, busy_used)
    assert idle_used < 0.05 and _integral(idle) < 0.05 and idle["cpu_percent"]["max"] < 0.5 * busy["cpu_percent"]["max"]
    assert busy["rss_bytes"]["max"] > 1_000_000 and idle["rss_bytes"]["max"] > 1_000_000
    assert "gpu_utilization_percent" not in busy


def test_recorder_usage_interval_fills_a_valid_section(tmp_path):
    with Recorder("job", output=tmp_path / "r.json", collectors=[], use_plugins=False, usage_interval=0.05) as rec:
        sampler = next(c for c in rec._collectors if c.name == "usage").sampler
        deadline = time.monotonic() + 30  # a busy machine may start the thread late: wait for samples, not a time
        while sampler.data.count < 3 and time.monotonic() < deadline:
            sum(range(10000))
    record = json.loads((tmp_path / "r.json").read_text())
    assert record["usage"]["interval_s"] == 0.05 and record["usage"]["sample_count"] >= 3
    assert {"cpu_percent", "rss_bytes", "series"} <= set(record["usage"])
    assert validate(record) == [] and rec.record == record
    assert not any(t.name == "procrecord-usage" for t in __import__("threading").enumerate())


def test_cli_usage_interval(tmp_path):
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(out), "--usage-interval", "0.05",
                           "--", sys.executable, "-c", "import time; time.sleep(0.5)"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert record["usage"]["sample_count"] >= 3 and validate(record) == []


def _scripted(interval, readings):
    """A sampler whose clock and CPU readings are given: ``readings`` are (time, cpu seconds) pairs,
    the first the baseline, the last the sample at stop."""
    sampler = Sampler(interval, gpus=False)
    times = iter(t for t, _ in readings for _ in (0, 1))  # sample() reads the clock before and after
    cpu = iter(c for _, c in readings)
    sampler.clock = lambda: next(times)
    sampler.read_tree = lambda: (next(cpu), 1e6)
    sampler._t0 = readings[0][0]
    sampler.sample(record=False)
    for _ in readings[1:-1]:
        sampler.sample()
    sampler.sample(last=True)
    return sampler.section()


def test_a_busy_job_stopped_just_after_a_sample_keeps_its_mean():
    """A single-threaded busy loop: 1 s intervals at 100%, then stop 4 ms later with no clock tick
    counted (reads 0%). The mean was 80% (four samples of 100 and one of 0); it is the CPU time over
    the time watched, and the cut-short reading is no sample of its own for p95, max or the series."""
    readings = [(0.0, 0.0), (1.0, 1.0), (2.0, 2.0), (3.0, 3.0), (4.0, 4.0), (4.004, 4.0)]
    section = _scripted(1.0, readings)
    assert section["sample_count"] == 5
    assert section["cpu_percent"]["mean"] == round(400 / 4.004, 3)
    assert section["cpu_percent"]["max"] == 100.0 and section["cpu_percent"]["p95"] == 100.0
    assert [p.get("cpu_percent") for p in section["series"]] == [100.0, 100.0, 100.0, 100.0, None]
    assert section["series"][-1]["rss_bytes"] == 1e6  # memory is a reading of the moment: kept


def test_a_last_sample_of_half_an_interval_or_more_is_a_sample_and_more_than_a_core_is_kept():
    """Threads can use more than one core: 150% is what the tree used, never cut to 100."""
    readings = [(0.0, 0.0), (1.0, 1.5), (2.0, 3.0), (2.5, 3.5)]
    section = _scripted(1.0, readings)
    assert [p["cpu_percent"] for p in section["series"]] == [150.0, 150.0, 100.0]
    assert section["cpu_percent"]["mean"] == 140.0 and section["cpu_percent"]["max"] == 150.0


@given(st.lists(st.tuples(st.floats(0.01, 5.0), st.floats(0.0, 8.0)), min_size=2, max_size=40))
def test_the_cpu_mean_is_the_cpu_time_over_the_time_watched(steps):
    """Whatever the spans and the shares, the weighted mean is total CPU seconds over total seconds."""
    readings, t, cpu = [(0.0, 0.0)], 0.0, 0.0
    for span, cores in steps:
        t, cpu = t + span, cpu + span * cores
        readings.append((t, cpu))
    section = _scripted(1.0, readings)
    assert abs(section["cpu_percent"]["mean"] - round(cpu / t * 100, 3)) <= 1e-6 * cpu / t * 100 + 2e-3
