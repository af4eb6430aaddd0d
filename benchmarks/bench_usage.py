"""Overhead of the usage sampler (issue 17): CPU time per sample, and at a 1 s interval, of one core.

    .venv/bin/python benchmarks/bench_usage.py [--seconds 30]

Watches a small process tree (a shell with three sleeping children, like a job with data-loader
workers) and measures the CPU time this process spends sampling:

1. per sample: the sampler run back to back (interval 1 ms) for 2,000 samples; CPU time of this
   process over the samples (getrusage), divided by their number;
2. at the real interval: 1 s for ``--seconds``; CPU time of this process over the run minus the same
   idle wait without a sampler, as a share of one core (goal <= 0.5%);
3. finding the tree: /proc/<pid>/task/<tid>/children (the fast path) vs psutil's
   ``children(recursive=True)``, which reads every process's stat file.

NVML is sampled when present (no GPU here: CPU and memory only; the GPU calls add a few NVML
queries per device, see gpu_check.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procrecord.writer.usage import Sampler, tree

from _common import environment


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def spawn_tree() -> subprocess.Popen:
    return subprocess.Popen(["sh", "-c", "sleep 600 & sleep 600 & sleep 600 & wait"])


def per_sample(pid: int, count: int = 2000) -> float:
    sampler = Sampler(1.0, pid=pid)
    sampler.sample(record=False)
    start = cpu_s()
    for _ in range(count):
        sampler.sample()
    return (cpu_s() - start) / count


def at_interval(pid: int, seconds: float) -> tuple[float, float, int]:
    start = cpu_s()
    time.sleep(seconds)
    idle = cpu_s() - start
    sampler = Sampler(1.0, pid=pid)
    start = cpu_s()
    sampler.start()
    time.sleep(seconds)
    sampler.stop()
    sampled = cpu_s() - start
    return idle, sampled, sampler.data.count


def tree_cost(pid: int, count: int = 500) -> tuple[float, float]:
    import psutil

    start = time.perf_counter()
    for _ in range(count):
        tree(pid)
    fast = (time.perf_counter() - start) / count
    start = time.perf_counter()
    for _ in range(count):
        [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    slow = (time.perf_counter() - start) / count
    return fast, slow


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    child = spawn_tree()
    time.sleep(0.5)
    try:
        pid = child.pid
        print(f"# {environment()}; tree of {len(tree(pid))} processes; {len(os.listdir('/proc'))} /proc entries")
        cost = per_sample(pid)
        print(f"CPU per sample: {cost * 1e3:.3f} ms  -> at 1 s: {cost * 100:.3f}% of one core (goal <= 0.5%)")
        idle, sampled, samples = at_interval(pid, args.seconds)
        share = (sampled - idle) / args.seconds * 100
        print(f"1 s interval for {args.seconds:.0f} s ({samples} samples): CPU {sampled * 1e3:.1f} ms vs idle "
              f"{idle * 1e3:.1f} ms -> {share:.3f}% of one core (goal <= 0.5%)")
        fast, slow = tree_cost(pid)
        print(f"finding the tree: /proc children {fast * 1e3:.3f} ms, psutil recursive {slow * 1e3:.3f} ms "
              f"({slow / fast:.1f}x)")
    finally:
        subprocess.run(["pkill", "-P", str(child.pid)])
        child.kill()
        child.wait()


if __name__ == "__main__":
    main()
