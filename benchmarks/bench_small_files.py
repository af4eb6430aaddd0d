"""Writing many small files: ``redact -o`` and ``redact --in-place`` over 5,000 small records, against
``validate`` of the same files (the goal: at most 3x), and against this checkout's old way of
writing them (one fsync per file and per folder), measured in the same run.

Usage: python benchmarks/bench_small_files.py [--files 5000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys

from _common import DATA, ROOT, best_interleaved, environment, procrecord_cmd, realistic_record

#: The old Sink commit, one file at a time (fsync the file, rename, fsync the folder), for the baseline.
_PER_FILE = """
import procrecord.bulk.output as output
from procrecord.atomic import AtomicFile
class _OneByOne:
    def __init__(self): self.files = []
    def add(self, f): self.files.append(f)
    def __len__(self): return len(self.files)
    def commit(self):
        files, self.files = self.files, []
        out = []
        for f in files:
            f._handle = open(f.temp, 'ab'); f.commit(); out.append((f, None))
        return out
    def discard(self): pass
output.Batch = _OneByOne
from procrecord.cli import main
main()
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"# bench_small_files ({environment()}, {args.files} files)")
    src = DATA / f"small-{args.files}"
    if not src.exists() or len(list(src.rglob("*.json"))) != args.files:
        shutil.rmtree(src, ignore_errors=True)
        for i in range(args.files):
            folder = src / f"d{i // 500:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"r{i:05d}.json").write_text(json.dumps(realistic_record(i), indent=2))
    out = DATA / "small-out"
    inplace = DATA / "small-inplace"
    cmd = procrecord_cmd()
    env = dict(os.environ, PYTHONPATH=str(ROOT))

    def run(argv: list[str], prefix: list[str] | None = None) -> None:
        proc = subprocess.run((prefix or cmd) + argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{argv} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")

    def validate() -> None:
        run(["validate", str(src)])

    def redact_out() -> None:
        shutil.rmtree(out, ignore_errors=True)
        run(["redact", "--level", "most", "-o", str(out), str(src)])

    def redact_out_per_file() -> None:
        shutil.rmtree(out, ignore_errors=True)
        run(["redact", "--level", "most", "-o", str(out), str(src)], [sys.executable, "-c", _PER_FILE])

    def redact_in_place() -> float:
        shutil.rmtree(inplace, ignore_errors=True)
        shutil.copytree(src, inplace)
        subprocess.run(["sync"], check=False)
        import time

        start = time.perf_counter()
        run(["redact", "--level", "most", "--in-place", str(inplace)])
        return time.perf_counter() - start

    times = best_interleaved({"validate": validate, "redact -o": redact_out,
                              "redact -o, an fsync per file (old)": redact_out_per_file,
                              "redact --in-place": redact_in_place}, repeat=args.repeat)
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(inplace, ignore_errors=True)
    base = times["validate"]
    for name, seconds in times.items():
        print(f"{name}: {seconds:.2f} s ({seconds / base:.2f}x validate)")


if __name__ == "__main__":
    main()
