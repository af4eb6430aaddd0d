"""Writing many small files: ``redact -o`` and ``redact --in-place`` over 5,000 small records, against
``validate`` of the same files (the goal: at most 3x), and against this checkout's other ways of
writing them, measured in the same run: another number of writer threads (``Sink.WRITERS``; 0:
every temp file created in the main thread) and, unless ``--no-old``, one fsync per file and per
folder. Every command runs after a ``sync`` (and the deletion of the last run's outputs), neither of
them timed, so that its own syncs pay for what it writes and not for what was dirty before. Wall time
and the CPU time (user + system, and the system part) of each command are reported: on a shared
machine the wall ratio is noisy.

Usage: python benchmarks/bench_small_files.py [--files 5000] [--repeat 3] [--quick] [--no-old] [--current]
       [--other-writers N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from typing import Callable

from _common import DATA, ROOT, best_interleaved, environment, procrecord_cmd, realistic_record

#: The old Sink commit, one file at a time (fsync the file, rename, fsync the folder), for the baseline.
_PER_FILE = """
import os
import procrecord.bulk.output as output
from procrecord import atomic
class _OneByOne(atomic.Batch):
    def __init__(self, workers=0):
        super().__init__(0)
    def commit(self):
        entries, self.files = self.files, []
        out = []
        for key, f in entries:
            f = f.result() if hasattr(f, 'result') else f
            atomic._fsync_path(f.temp); f.rename(); atomic.sync_folder(os.path.dirname(os.path.abspath(f.target)))
            out.append((key, None))
        return out
output.Batch = _OneByOne
from procrecord.cli import main
main()
"""

#: Batched syncs, with another number of writer threads (0: every temp file created in the main thread).
_WRITERS = """
import sys
import procrecord.bulk.output as output
output.Sink.WRITERS = int(sys.argv.pop(1))
from procrecord.cli import main
main()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1,000 files, best of 2, no fsync-per-file run")
    parser.add_argument("--no-old", action="store_true", help="leave out the fsync-per-file run (slow)")
    parser.add_argument("--current", action="store_true",
                        help="records of the version the writer writes today (upgraded before they are written)")
    parser.add_argument("--other-writers", type=int, default=None,
                        help="writer threads of the comparison run (default: 4 if redact uses none, else 0)")
    args = parser.parse_args()
    if args.other_writers is None:
        from procrecord.bulk.output import Sink

        args.other_writers = 0 if Sink.WRITERS else 4
    if args.quick:
        args.files, args.repeat, args.no_old = 1000, 2, True
    print(f"# bench_small_files ({environment()}, {args.files} files)")
    src = DATA / (f"small-{args.files}-current" if args.current else f"small-{args.files}")
    if not src.exists() or len(list(src.rglob("*.json"))) != args.files:
        from procrecord.operations.migration import upgrade

        shutil.rmtree(src, ignore_errors=True)
        for i in range(args.files):
            folder = src / f"d{i // 500:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            record = upgrade(realistic_record(i)) if args.current else realistic_record(i)
            (folder / f"r{i:05d}.json").write_text(json.dumps(record, indent=2))
    print(f"# records of version {json.loads(next(src.rglob('*.json')).read_text())['schema_version']}")
    out = DATA / "small-out"
    inplace = DATA / "small-inplace"
    cmd = procrecord_cmd()
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    cpu: dict[str, list[float]] = {}
    system: dict[str, list[float]] = {}

    def run(argv: list[str], prefix: list[str] | None = None) -> float:
        """Run one command after a ``sync``, so that its own syncs pay only for what it writes (the
        previous run's deleted outputs and other programs' dirty pages are on disk already); return
        its wall time."""
        subprocess.run(["sync"], check=False)
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run((prefix or cmd) + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        seconds = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu.setdefault(current[0], []).append(used)
        system.setdefault(current[0], []).append(after.ru_stime - before.ru_stime)
        return seconds

    current = [""]

    def named(name: str, fn: Callable[[], float]) -> Callable[[], float]:  # CPU time goes to its run
        def call() -> float:
            current[0] = name
            return fn()
        return call

    def validate() -> float:
        return run(["validate", str(src)])

    def redact_out(prefix: list[str] | None = None) -> float:
        shutil.rmtree(out, ignore_errors=True)  # not timed: deleting the last run's outputs
        return run(["redact", "--level", "most", "-o", str(out), str(src)], prefix)

    def redact_in_place() -> float:
        shutil.rmtree(inplace, ignore_errors=True)
        shutil.copytree(src, inplace)
        return run(["redact", "--level", "most", "--in-place", str(inplace)])

    runs: dict[str, Callable[[], float]] = {
        "validate": validate, "redact -o": redact_out,
        f"redact -o, {args.other_writers} writer threads": lambda: redact_out([sys.executable, "-c", _WRITERS,
                                                                               str(args.other_writers)]),
        "redact --in-place": redact_in_place}
    if not args.no_old:
        runs["redact -o, an fsync per file (old)"] = lambda: redact_out([sys.executable, "-c", _PER_FILE])
    times = best_interleaved({name: named(name, fn) for name, fn in runs.items()}, repeat=args.repeat)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(inplace, ignore_errors=True)
    base, base_cpu = times["validate"], min(cpu["validate"])
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
    for name, seconds in times.items():
        used = min(cpu[name])
        print(f"{name}: {seconds:.2f} s ({seconds / base:.2f}x validate); "
              f"CPU user+sys {used:.2f} s ({used / base_cpu:.2f}x; sys {min(system[name]):.2f} s)")


if __name__ == "__main__":
    main()
