"""Writing many small files: ``redact -o`` and ``redact --in-place`` over 5,000 small records, against
``validate`` of the same files (the goal: at most 3x), and against this checkout's other ways of
writing them, measured in the same run: another number of writer threads (``Sink.WRITERS``; 0:
every temp file created in the main thread), every batch committed in the main thread instead of
the background committing thread (``Sink.BACKGROUND = False``), nothing written at all (the output of
each file dropped where the sink would write it: what the records' own work costs), a plain Python loop
copying the same files with the sink's syncs and renames (what the file system alone costs) and, unless ``--no-old``, one fsync
per file and per folder. Every command runs after a ``sync`` (and the deletion of the last run's outputs), neither of
them timed, so that its own syncs pay for what it writes and not for what was dirty before. Wall time
and the CPU time (user + system, and the system part) of each command are reported: on a shared
machine the wall ratio is noisy.

Each run writes into a folder of its own, and every output is deleted only after the last timed run
(``--delete-before``: delete the last run's outputs just before each run, as this script did until
issue 15's fourth pass). On ext4 without a journal (this VM's disk) a new file costs the kernel a
look at every inode freed in the last minute or more in its block group, so thousands of files
deleted just before a run make each file it creates cost up to a millisecond of system time: see
benchmarks/README.md. The ``--in-place`` runs come after all the others for the same reason (each
replaces, and so frees, as many inodes as it writes files).

Usage: python benchmarks/bench_small_files.py [--files 5000] [--repeat 3] [--quick] [--no-old] [--current]
       [--other-writers N] [--jobs N] [--delete-before]
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
from pathlib import Path
from typing import Callable

from _common import DATA, ROOT, best_interleaved, environment, procrecord_cmd, realistic_record

#: The old Sink commit, one file at a time (fsync the file, rename, fsync the folder), for the baseline.
_PER_FILE = """
import os
import procrecord.bulk.output as output
from procrecord import atomic
class _OneByOne(atomic.Batch):
    def __init__(self, workers=0, defer=False):
        super().__init__(0, defer)
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


#: Nothing written: every record read, redacted, validated and serialised as in ``redact -o``, and the
#: output dropped where the sink would start writing it (the floor of any way of writing the files).
_NO_WRITE = """
import procrecord.bulk.output as output
output.Sink._finish = lambda self: None
from procrecord.cli import main
main()
"""

#: No procrecord at all: a plain loop that copies every input file durably, as the sink commits them (a
#: temp file created and written, a ``syncfs`` per 256 files, then their renames), in one process: what
#: the file system alone costs for the files ``redact -o`` writes.
_PLAIN_COPY = """
import ctypes, os, sys
src, dst = sys.argv[1], sys.argv[2]
syncfs = ctypes.CDLL(None, use_errno=True).syncfs
pending = []
def commit():
    fd = os.open(dst, os.O_RDONLY)
    try:
        syncfs(fd)
    finally:
        os.close(fd)
    for temp, final in pending:
        os.rename(temp, final)
    pending.clear()
for folder, _, names in sorted(os.walk(src)):
    out = os.path.join(dst, os.path.relpath(folder, src))
    os.makedirs(out, exist_ok=True)
    for name in sorted(names):
        with open(os.path.join(folder, name), "rb") as f:
            data = f.read()
        temp = os.path.join(out, "." + name + ".tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, data)
        finally:
            os.close(fd)
        pending.append((temp, os.path.join(out, name)))
        if len(pending) >= 256:
            commit()
commit()
"""

#: Every batch committed in the main thread (before issue 15's h15f pass: no committing thread).
_FOREGROUND = """
import procrecord.bulk.output as output
output.Sink.BACKGROUND = False
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
    parser.add_argument("--jobs", type=int, default=0,
                        help="also validate and redact -o with --jobs N (worker processes), in the same runs")
    parser.add_argument("--delete-before", action="store_true",
                        help="delete the last run's outputs just before each run (the old way: see the docstring)")
    args = parser.parse_args()
    if args.other_writers is None:
        from procrecord.bulk.output import Sink

        args.other_writers = 0 if Sink.WRITERS else 4
    if args.quick:
        args.files, args.repeat, args.no_old = 1000, 2, True
    print(f"# bench_small_files ({environment()}, {args.files} files; {_file_system(DATA)})")
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
    scratch = DATA / "small-runs"  # every run's outputs, deleted at the end
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    serial = [0]

    def fresh(kind: str) -> Path:
        """A folder for one run's outputs (with --delete-before: the same one, emptied first)."""
        if args.delete_before:
            folder = scratch / kind
            shutil.rmtree(folder, ignore_errors=True)
            return folder
        serial[0] += 1
        return scratch / f"{kind}-{serial[0]}"
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
        return run(["redact", "--level", "most", "-o", str(fresh("out")), str(src)], prefix)

    def redact_in_place() -> float:
        inplace = fresh("inplace")
        shutil.copytree(src, inplace)  # not timed
        return run(["redact", "--level", "most", "--in-place", str(inplace)])

    runs: dict[str, Callable[[], float]] = {
        "validate": validate, "redact -o": redact_out,
        f"redact -o, {args.other_writers} writer threads": lambda: redact_out([sys.executable, "-c", _WRITERS,
                                                                               str(args.other_writers)])}
    runs["redact -o, batches committed in the main thread"] = lambda: redact_out([sys.executable, "-c", _FOREGROUND])
    runs["redact -o, outputs not written"] = lambda: redact_out([sys.executable, "-c", _NO_WRITE])
    runs["no procrecord: a plain loop copying the files durably"] = lambda: run(
        [str(src), str(fresh("copy"))], [sys.executable, "-c", _PLAIN_COPY])
    if args.jobs:
        runs[f"validate --jobs {args.jobs}"] = lambda: run(["validate", "--jobs", str(args.jobs), str(src)])
        runs[f"redact -o --jobs {args.jobs}"] = lambda: run(["redact", "--level", "most", "--jobs", str(args.jobs),
                                                              "-o", str(fresh("out")), str(src)])
    if not args.no_old:
        runs["redact -o, an fsync per file (old)"] = lambda: redact_out([sys.executable, "-c", _PER_FILE])
    try:
        times = best_interleaved({name: named(name, fn) for name, fn in runs.items()}, repeat=args.repeat)
        # In place last: each run frees as many inodes as it writes files (see the docstring).
        times.update(best_interleaved({"redact --in-place": named("redact --in-place", redact_in_place)},
                                      repeat=args.repeat))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    base, base_cpu = times["validate"], min(cpu["validate"])
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}")
    for name, seconds in times.items():
        used = min(cpu[name])
        print(f"{name}: {seconds:.2f} s ({seconds / base:.2f}x validate); "
              f"CPU user+sys {used:.2f} s ({used / base_cpu:.2f}x; sys {min(system[name]):.2f} s)")


def _file_system(path: Path) -> str:
    """The type of the file system holding ``path`` and, for ext4, whether it has a journal."""
    best, kind, device = "", "unknown file system", ""
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                dev, point, fstype = line.split()[:3]
                if str(path.resolve()).startswith(point.rstrip("/") + "/") and len(point) >= len(best):
                    best, kind, device = point, fstype, dev
    except OSError:
        return kind
    if kind == "ext4":
        journal = os.path.exists(f"/proc/fs/jbd2/{os.path.basename(device)}-8")
        kind += " with a journal" if journal else " without a journal"
    return kind


if __name__ == "__main__":
    main()
