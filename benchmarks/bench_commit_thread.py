"""The critical path of ``redact -o`` over many small files: who commits the batches of outputs.

In one process, the bulk pipeline (``procrecord.bulk.engine.run`` of ``RedactRecord("most")``) feeds a
``Sink`` writing every output into a fresh folder, as ``redact --level most -o`` does; once with
every batch committed in the main thread (``Sink.BACKGROUND = False``), once with the background
committing thread (``Sink.PROCESS = False``), once with the forked committing process (the default on
Linux), interleaved, best of N. Reported per run: wall time, the main thread's CPU time (what bounds
the wall time when a second core is free: the records are processed there and nowhere else), the CPU
time of the process and of the committing process, and the wall time spent reading the inputs
(``read_whole``; it grows when the committing thread holds the GIL as a read returns). A ``sync``
runs before each pass, untimed. The inputs are ``bench_small_files.py``'s (made here if missing).

Usage: python benchmarks/bench_commit_thread.py [--files 5000] [--repeat 3] [--current]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import time
from pathlib import Path

from _common import DATA, environment, realistic_record


def _inputs(files: int, current: bool) -> Path:
    """The folder of ``bench_small_files.py``'s inputs, made if missing (same names, same records)."""
    src = DATA / (f"small-{files}-current" if current else f"small-{files}")
    if not src.exists() or len(list(src.rglob("*.json"))) != files:
        from procrecord.operations.migration import upgrade

        shutil.rmtree(src, ignore_errors=True)
        for i in range(files):
            folder = src / f"d{i // 500:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            record = upgrade(realistic_record(i)) if current else realistic_record(i)
            (folder / f"r{i:05d}.json").write_text(json.dumps(record, indent=2))
    return src


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--current", action="store_true", help="records of the version the writer writes today")
    args = parser.parse_args()

    from procrecord.bulk import loader, output
    from procrecord.bulk.engine import run
    from procrecord.bulk.output import Sink
    from procrecord.operations.transforms import RedactRecord

    src = _inputs(args.files, args.current)
    print(f"# bench_commit_thread ({environment()}, {args.files} files of version "
          f"{json.loads(next(src.rglob('*.json')).read_text())['schema_version']})")
    reading = [0.0]
    read_whole = loader.read_whole

    def timed_read(*a: object) -> bytes:
        start = time.perf_counter()
        try:
            return read_whole(*a)  # type: ignore[arg-type]
        finally:
            reading[0] += time.perf_counter() - start

    loader.read_whole = timed_read  # type: ignore[assignment]
    made: list[str] = []
    make = output._committer

    def committer(process: bool) -> object:
        made.append(type(executor := make(process)).__name__)
        return executor

    output._committer = committer  # type: ignore[assignment]
    operation = RedactRecord("most")
    list(run([str(src)], operation))  # warm: imports, generated code, the scrubbers' tables
    scratch = DATA / "commit-thread-runs"
    shutil.rmtree(scratch, ignore_errors=True)
    best: dict[str, dict[str, float]] = {}
    try:
        for round_ in range(args.repeat):
            for name, background, process in (("main thread commits", False, False), ("committing thread", True, False),
                                              ("committing process", True, True)):
                Sink.BACKGROUND, Sink.PROCESS = background, process
                subprocess.run(["sync"], check=False)
                reading[0] = 0.0
                sink = Sink([str(src)], str(scratch / f"{background}-{process}-{round_}"))
                wall, main_cpu, cpu = time.perf_counter(), time.thread_time(), time.process_time()
                children = resource.getrusage(resource.RUSAGE_CHILDREN)
                for item in run([str(src)], operation, source_done=sink.done):
                    sink.add(item)
                sink.close()
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                got = {"wall": time.perf_counter() - wall, "main": time.thread_time() - main_cpu,
                       "cpu": time.process_time() - cpu, "read": reading[0],
                       "child": after.ru_utime + after.ru_stime - children.ru_utime - children.ru_stime}
                if process and made[-1] != "ProcessPoolExecutor":
                    raise SystemExit(f"{name}: the committer was a {made[-1]} (another thread was running)")
                if len(sink.written) != args.files or sink.failures:
                    raise SystemExit(f"{name}: {len(sink.written)} written, failures {sink.failures[:3]}")
                seen = best.setdefault(name, got)
                for key, value in got.items():
                    seen[key] = min(seen[key], value)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}; best of {args.repeat} each")
    base = best["main thread commits"]
    for name, got in best.items():
        print(f"{name}: wall {got['wall']:.2f} s ({got['wall'] / base['wall']:.2f}x), main thread CPU "
              f"{got['main']:.2f} s ({got['main'] / base['main']:.2f}x), process CPU {got['cpu']:.2f} s "
              f"(committing process {got['child']:.2f} s), "
              f"reading inputs {got['read']:.2f} s")


if __name__ == "__main__":
    main()
