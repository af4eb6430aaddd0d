"""Energy of a 4 s busy job: does the record cover all 4 s?

Without counters (a VM: no RAPL, no GPU) the writer's figure is codecarbon's estimate; start() waits
for codecarbon's hardware probe, so the job runs inside the estimated interval. The baseline, measured
in the same run, is the same estimator started directly before the job and stopped right after it: the
estimator over the whole interval. Also shown, as "background": what a tracker started in a
background thread at start() saw (the behaviour before this fix). Each run is a fresh process, as jobs
are: codecarbon's first probe in a process is the slow one. Where the machine has counters (RAPL,
NVML), the writer's figure is the counter itself and the script compares it with a direct reading of
the same counters over the same interval.

    .venv/bin/python benchmarks/bench_energy.py [--runs 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def reference(seconds: float) -> tuple[float, float]:
    """The estimator over the whole interval: started (synchronously) before the job, stopped after."""
    import logging

    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        tracker = OfflineEmissionsTracker(country_iso_code="FRA", log_level="error", output_dir=folder,
                                          tracking_mode="process", output_methods=[])
        tracker.start()
        t0 = time.perf_counter()
        busy(seconds)
        tracker.stop()
        elapsed = time.perf_counter() - t0
    data = tracker.final_emissions_data
    return float(data.cpu_energy) + float(data.ram_energy), elapsed


def writer(seconds: float) -> dict:
    """What a Recorder with emissions records for the same job."""
    from procrecord import Recorder

    rec = Recorder("busy", emissions={"country_iso_code": "FRA"}, collectors=[], use_plugins=False,
                   handle_signals=False)
    t0 = time.perf_counter()
    rec.start()
    started = time.perf_counter() - t0
    busy(seconds)
    record = rec.stop()
    record["_start_s"] = started
    return record


def background(seconds: float) -> float:
    """The behaviour before the fix: the tracker started in a thread at start(), read at stop()."""
    import logging
    import threading

    from codecarbon import OfflineEmissionsTracker

    logging.getLogger("codecarbon").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as folder:
        tracker = OfflineEmissionsTracker(country_iso_code="FRA", log_level="error", output_dir=folder,
                                          tracking_mode="process", output_methods=[])
        thread = threading.Thread(target=tracker.start)
        thread.start()
        busy(seconds)
        thread.join()
        tracker.stop()
    data = tracker.final_emissions_data
    return float(data.cpu_energy) + float(data.ram_energy)


def _child(mode: str, seconds: float):
    out = subprocess.run([sys.executable, __file__, "--child", mode, "--seconds", str(seconds)], cwd=ROOT,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--child", choices=["writer", "reference", "background"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "writer":
        print(json.dumps(writer(args.seconds)))
        return
    if args.child == "reference":
        print(json.dumps(reference(args.seconds)))
        return
    if args.child == "background":
        print(json.dumps(background(args.seconds)))
        return
    ratios, unscaled_ratios = [], []
    for run in range(args.runs):
        # Each in a fresh process, as jobs are: codecarbon's first hardware probe is the slow one.
        record = _child("writer", args.seconds)
        section = record.get("emissions", {})
        figures = section.get("measurements", [])
        methods = sorted({m["method"] for m in figures})
        ref_kwh, ref_s = _child("reference", args.seconds)
        ours = sum(m["energy_kwh"] for m in figures if m["component"] in ("cpu", "ram"))
        if methods == ["estimate"]:
            cpu = next(m for m in figures if m["component"] == "cpu")
            unscaled = _child("background", args.seconds)
            ratios.append(ours / ref_kwh)
            unscaled_ratios.append(unscaled / ref_kwh)
            print(f"run {run + 1}: start() {record['_start_s']:.2f} s, estimate covers {cpu['duration_s']:.2f} s: "
                  f"{ours * 3.6e6:.2f} J; estimator over the whole interval {ref_kwh * 3.6e6:.2f} J ({ref_s:.2f} s): "
                  f"ratio {ours / ref_kwh:.3f}; background tracker {unscaled * 3.6e6:.2f} J (ratio {unscaled / ref_kwh:.3f})")
        else:
            print(f"run {run + 1}: counters {methods}: " + ", ".join(
                f"{m['source']} {m['energy_kwh'] * 3.6e6:.1f} J over {m['duration_s']:.2f} s" for m in figures))
    if ratios:
        print(f"recorded / whole-interval estimate: median {statistics.median(ratios):.3f} "
              f"(min {min(ratios):.3f}, max {max(ratios):.3f}); background tracker median {statistics.median(unscaled_ratios):.3f}")


if __name__ == "__main__":
    main()
