"""Writer start-up costs (issue: writer), each in fresh processes, against kwutil's legacy ProcessContext.

Usage: python benchmarks/bench_writer.py [--legacy-python /path/to/venv-with-kwutil/bin/python] [--runs 15]

Times are medians over fresh interpreters, bytecode caches warm (the first run of each is discarded).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import ROOT, environment

# One timing skeleton for both writers: import, create, start, the job, stop.
_TIMED = """
import json, sys, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
{import_line}
t1 = time.perf_counter()
obj = {create}
t2 = time.perf_counter()
obj.start()
t3 = time.perf_counter()
{{work}}
t4 = time.perf_counter()
obj.stop()
t5 = time.perf_counter()
print(json.dumps({{{{"import": t1 - t0, "create": t2 - t1, "start": t3 - t2, "stop": t5 - t4}}}}))
"""

WRITER = _TIMED.format(import_line="from procrecord import Recorder",
                       create='Recorder("bench", config={{"lr": 0.1}}{output}{emissions})')

# The legacy class writes nothing by itself (jobs dump ctx.obj): the comparison is generous to it.
LEGACY = _TIMED.format(import_line="from kwutil.process_context import ProcessContext",
                       create='ProcessContext(name="bench", config={{"lr": 0.1}}, args=["bench"]{emissions})')


def measure(python: str, code: str, runs: int, env: dict[str, str], cwd: str) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    for i in range(runs + 1):
        out = subprocess.run([python, "-c", code], capture_output=True, text=True, env=env, cwd=cwd, check=True)
        if i == 0:
            continue  # warm the bytecode and file caches
        for key, value in json.loads(out.stdout.strip().splitlines()[-1]).items():
            samples.setdefault(key, []).append(value)
    return {key: statistics.median(values) for key, values in samples.items()}


def show(label: str, numbers: dict[str, float]) -> None:
    cells = ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in numbers.items())
    print(f"{label}: {cells}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--legacy-python", default=os.environ.get("LEGACY_PYTHON"))
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--job-seconds", type=float, default=3.0, help="job length for the emissions stop() timing")
    args = parser.parse_args()
    print(f"# bench_writer ({environment()})")
    env = dict(os.environ, PYTHONPATH=str(ROOT), PROCRECORD_EMISSIONS_COUNTRY="USA")
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    work = tempfile.mkdtemp(prefix="procrecord-bench-")  # not a git checkout: no git subprocess
    try:
        ours = measure(sys.executable, WRITER.format(emissions="", work="pass", output=""), args.runs, env, work)
        show("procrecord default collectors, record in memory", ours)
        print(f"  start+stop (create included) {(ours['create'] + ours['start'] + ours['stop']) * 1000:.1f} ms (goal <= 5 ms), "
              f"import {ours['import'] * 1000:.1f} ms (goal <= 50 ms)")
        disk = measure(sys.executable, WRITER.format(emissions="", work="pass", output=', output="bench.json"'), args.runs, env, work)
        show("procrecord default collectors, written to a file (two atomic, fsynced writes)", disk)
        print(f"  start+stop (create included) {(disk['create'] + disk['start'] + disk['stop']) * 1000:.1f} ms")
        sleep = f"time.sleep({args.job_seconds})"
        em = measure(sys.executable, WRITER.format(emissions=", emissions=True", work=sleep, output=""), max(3, args.runs // 3), env, work)
        show(f"procrecord with emissions (job of {args.job_seconds:g} s)", em)
        print(f"  start {em['start'] * 1000:.1f} ms (goal <= 50 ms), stop {em['stop'] * 1000:.1f} ms (goal <= 100 ms)")
        em0 = measure(sys.executable, WRITER.format(emissions=", emissions=True", work="pass", output=""), 3, env, work)
        show("procrecord with emissions, stop right after start (waits for codecarbon's probe)", em0)
        if args.legacy_python:
            legacy = measure(args.legacy_python, LEGACY.format(emissions="", work="pass"), max(3, args.runs // 3), env, work)
            show("kwutil ProcessContext", legacy)
            print(f"  ratio legacy/procrecord: import {legacy['import'] / ours['import']:.1f}x, "
                  f"start+stop {(legacy['create'] + legacy['start'] + legacy['stop']) / (ours['create'] + ours['start'] + ours['stop']):.0f}x")
            legacy_em = measure(args.legacy_python, LEGACY.format(emissions=", track_emissions='offline'", work=sleep), 3, env, work)
            show(f"kwutil ProcessContext with emissions (job of {args.job_seconds:g} s)", legacy_em)
            print(f"  ratio legacy/procrecord: start {legacy_em['start'] / em['start']:.0f}x, stop {legacy_em['stop'] / em['stop']:.1f}x")
        else:
            print("kwutil ProcessContext: not measured (pass --legacy-python with a kwutil environment)")
        # The package scan on a 300-package environment.
        site = Path(work) / "site"
        site.mkdir()
        for i in range(300):
            (site / f"package_{i:03d}-1.{i}.0.dist-info").mkdir()
        from procrecord.collectors.python_env import scan_packages

        times = []
        for _ in range(50):
            start = time.perf_counter()
            found = scan_packages([str(site)])
            times.append(time.perf_counter() - start)
        assert len(found) == 300
        print(f"package scan of 300 distributions: {statistics.median(times) * 1000:.2f} ms (goal <= 20 ms)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
