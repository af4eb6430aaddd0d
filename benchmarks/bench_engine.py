"""The Dask executor against the local pool: ``validate`` on 1 and 2 Dask workers vs ``--jobs 1`` and ``--jobs 2``.

    .venv/bin/python benchmarks/bench_engine.py --quick            # 10k records, about a minute
    .venv/bin/python benchmarks/bench_engine.py --records 100000   # the issue's goal (several minutes)
    .venv/bin/python benchmarks/bench_engine.py --records 100000 --layout jsonl --repeat 1 --workers 1,2,3,4  # scaling

Each layout holds the same ``--records`` realistic records (~5 KB each):

* ``jsonl``: JSONL files of 100 records (100k records: 1,000 files);
* ``files``: one small JSON file per record (100k records: 100k files).

Every configuration is the whole CLI in a fresh process (``procrecord validate DIR``), run in turn with
the others ``--repeat`` times (best kept), so the ratios come from one run. Dask is timed two ways:

* ``dask N (cold)``: ``--executor dask`` with ``PROCRECORD_DASK_WORKERS=N``: the CLI starts a
  LocalCluster of N worker processes and stops it (what a user waits for on a laptop);
* ``dask N (warm)``: ``--executor dask:tcp://...`` to a LocalCluster of N workers this script started
  beforehand (cluster start-up excluded: a cluster that serves many runs, as on SLURM).

The goals (issue 19), 2 workers >= 1.5x one worker and 2 workers within 15% of ``--jobs 2`` (ratio
<= 1.15), are printed for both: cold is what a user of ``--executor dask`` gets. ``--workers 1,2,3,4``
writes down how throughput grows with workers (on 2 cores it cannot grow past 2). The CPU seconds
of each run (the CLI and all its processes, and what the warm clusters spent meanwhile; the run of the
best wall time) show the engines' cost apart from the machine's load: on a shared machine the wall
times are not reliable.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, environment, procrecord_cmd, write_jsonl


def _compile_package() -> None:
    """Byte-compile procrecord once, as ``pip install`` does for a user: where PYTHONDONTWRITEBYTECODE
    is set (as on the shared machine) every CLI process would otherwise compile procrecord's modules
    from source, while the libraries it is compared with load theirs compiled."""
    import compileall

    compileall.compile_dir(str(ROOT / "procrecord"), quiet=1)


def _layout(records: int, layout: str) -> Path:
    """The benchmark folder of ``records`` records in ``layout`` (made once, reused)."""
    source = write_jsonl(DATA / f"records-{records}.jsonl", records)
    folder = DATA / f"engine-{layout}-{records}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = source.read_bytes().splitlines(keepends=True)
    if layout == "jsonl":
        for index in range(0, len(lines), 100):
            (folder / f"part-{index // 100:05d}.jsonl").write_bytes(b"".join(lines[index:index + 100]))
    else:  # 1,000 records a subfolder, as a sweep's runs would be laid out
        for index, line in enumerate(lines):
            sub = folder / f"batch-{index // 1000:03d}"
            if index % 1000 == 0:
                sub.mkdir()
            (sub / f"run-{index:06d}.json").write_bytes(line)
    marker.write_text("")  # a dot file: never read by the walk
    return folder


def _live_cpu() -> float:
    """CPU seconds used so far by this process's live descendants (the warm clusters' processes)."""
    import psutil

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _time(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd``: the CLI and every process under it (polled every
    50 ms: the workers of a LocalCluster are forked by a fork server, so no ``wait`` counts them; a
    process's last 50 ms may be missed) plus what the warm clusters spent meanwhile."""
    import psutil

    before = _live_cpu()
    seen: dict[int, float] = {}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env={**os.environ, **env})
    done = threading.Event()

    def poll() -> None:
        root = psutil.Process(proc.pid)
        while not done.is_set():
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for one in tree:
                try:
                    times = one.cpu_times()
                except psutil.NoSuchProcess:
                    continue
                seen[one.pid] = times.user + times.system
            done.wait(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, err = proc.communicate()
    elapsed = time.perf_counter() - start
    done.set()
    poller.join()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err.decode()[-800:]}")
    return elapsed, sum(seen.values()) + max(_live_cpu() - before, 0.0)


def _cluster(workers: int) -> tuple[object, object]:
    """A LocalCluster of ``workers`` processes, made as the CLI makes its own, with procrecord imported."""
    from distributed import Client

    from procrecord.bulk.executors import local_cluster

    cluster = local_cluster(workers)
    client = Client(cluster)
    client.run(lambda: __import__("procrecord.bulk.executors") and None)
    return cluster, client


def bench(records: int, layouts: list[str], workers: list[int], repeat: int) -> dict[str, dict[str, float]]:
    """Best wall times (s) per layout and configuration."""
    cli = [*procrecord_cmd(), "validate"]
    results: dict[str, dict[str, float]] = {}
    clusters = {n: _cluster(n) for n in workers}
    try:
        for layout in layouts:
            folder = str(_layout(records, layout))
            runs: dict[str, tuple[list[str], dict[str, str]]] = {}
            for n in workers:
                runs[f"jobs {n}"] = ([*cli, "--jobs", str(n), folder], {})
                address = clusters[n][0].scheduler_address  # type: ignore[attr-defined]
                runs[f"dask {n} (warm)"] = ([*cli, "--executor", f"dask:{address}", folder], {})
                runs[f"dask {n} (cold)"] = ([*cli, "--executor", "dask", folder], {"PROCRECORD_DASK_WORKERS": str(n)})
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
            for _ in range(repeat):  # in turn: a slow spell of a shared machine hits every configuration
                for name, (cmd, env) in runs.items():
                    times[name].append(_time(cmd, env))
            results[layout] = {name: min(values)[0] for name, values in times.items()}
            results[layout].update({f"{name} cpu": min(values)[1] for name, values in times.items()})
    finally:
        for cluster, client in clusters.values():
            client.close()  # type: ignore[attr-defined]
            cluster.close()  # type: ignore[attr-defined]
    return results


def report(records: int, results: dict[str, dict[str, float]], workers: list[int]) -> None:
    """Print the times, the scaling table and the goal ratios."""
    for layout, best in results.items():
        shape = "JSONL files of 100 records" if layout == "jsonl" else "one JSON file per record"
        print(f"\n## {layout}: validate {records} records, {shape}")
        print("| N | --jobs N | dask N warm | dask N cold | speed-up vs N=1: jobs / warm / cold | dask warm / jobs"
              " | dask cold / jobs | CPU s: jobs / warm / cold |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        first = workers[0]
        for n in workers:
            jobs, warm, cold = best[f"jobs {n}"], best[f"dask {n} (warm)"], best[f"dask {n} (cold)"]
            cpu = " / ".join(f"{best[f'{name} cpu']:.1f}" for name in (f"jobs {n}", f"dask {n} (warm)", f"dask {n} (cold)"))
            speed = " / ".join(f"{best[f'{name} {first}{tail}'] / value:.2f}x" for name, tail, value in
                               (("jobs", "", jobs), ("dask", " (warm)", warm), ("dask", " (cold)", cold)))
            print(f"| {n} | {jobs:.2f} s ({records / jobs:,.0f}/s) | {warm:.2f} s ({records / warm:,.0f}/s)"
                  f" | {cold:.2f} s ({records / cold:,.0f}/s) | {speed} | {warm / jobs:.2f} | {cold / jobs:.2f} | {cpu} |")
        if 1 in workers and 2 in workers:
            for mode in ("warm", "cold"):
                one, two, jobs2 = best[f"dask 1 ({mode})"], best[f"dask 2 ({mode})"], best["jobs 2"]
                cpu = best[f"dask 2 ({mode}) cpu"] / best["jobs 2 cpu"]
                print(f"GOAL {mode}: dask 2 workers vs 1 worker {one / two:.2f}x (goal >= 1.5x: {_verdict(one / two >= 1.5)}); "
                      f"dask 2 workers vs --jobs 2 {two / jobs2:.2f}x the time (goal <= 1.15: {_verdict(two / jobs2 <= 1.15)}); "
                      f"CPU s {cpu:.2f}x --jobs 2's")


def _verdict(met: bool) -> str:
    return "met" if met else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="10,000 records, one repeat, the jsonl layout only")
    parser.add_argument("--layout", choices=["jsonl", "files", "both"], default="both")
    parser.add_argument("--workers", default="1,2", help="worker (and --jobs) counts, comma-separated")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None, help="also write the best times here")
    args = parser.parse_args()
    records, repeat, layout = (10_000, 1, "jsonl") if args.quick else (args.records, args.repeat, args.layout)
    layouts = ["jsonl", "files"] if layout == "both" else [layout]
    workers = [int(n) for n in args.workers.split(",")]
    load = os.getloadavg()[0]
    print(f"# bench_engine ({environment()}; load average {load:.2f} at start)")
    _compile_package()
    results = bench(records, layouts, workers, repeat)
    report(records, results, workers)
    print(f"\nload average at end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
