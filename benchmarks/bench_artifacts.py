"""Artifacts (issue 17): hashing throughput against sha256sum, and the writer with 100 small files.

    .venv/bin/python benchmarks/bench_artifacts.py [--size-mb 512]

1. One file of ``--size-mb`` random bytes (in benchmarks/data, page cache warm): ``sha256sum FILE``
   against ``procrecord.artifacts.sha256_file`` in this process, interleaved, best of 5. Goal: our
   throughput >= 80% of sha256sum's.
2. ``Recorder`` start + stop writing its record, with no collectors and with the default ones, each
   without artifacts and with ``add_input`` of a folder of 100 files of 1 KB plus ``add_output`` of a
   glob of 100 more. Goal: start + stop with the artifacts <= 10 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import DATA, best_interleaved, environment  # noqa: E402
from procrecord.artifacts import sha256_file  # noqa: E402
from procrecord.recorder import Recorder  # noqa: E402


def hashing(size_mb: int) -> None:
    DATA.mkdir(parents=True, exist_ok=True)
    path = DATA / f"hash-{size_mb}mb.bin"
    if not path.exists() or path.stat().st_size != size_mb << 20:
        with open(path, "wb") as handle:
            for _ in range(size_mb):
                handle.write(os.urandom(1 << 20))
    sha256_file(str(path))  # warm the page cache
    expected = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert sha256_file(str(path)) == expected
    times = best_interleaved({
        "sha256sum": lambda: subprocess.run(["sha256sum", str(path)], stdout=subprocess.DEVNULL, check=True),
        "procrecord": lambda: sha256_file(str(path)),
    }, repeat=5)
    rate = {name: size_mb / t for name, t in times.items()}
    print(f"hashing {size_mb} MB: sha256sum {rate['sha256sum']:.0f} MB/s, procrecord {rate['procrecord']:.0f} MB/s "
          f"-> {rate['procrecord'] / rate['sha256sum'] * 100:.0f}% of sha256sum (goal >= 80%)")


def writer(repeat: int = 30) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        outs = Path(tmp) / "out"
        outs.mkdir()
        for i in range(100):
            (data / f"f{i:03d}.txt").write_bytes(os.urandom(1024))
            (outs / f"o{i:03d}.txt").write_bytes(os.urandom(1024))
        record = Path(tmp) / "rec.json"

        def once(collectors, artifacts: bool) -> float:
            start = time.perf_counter()
            rec = Recorder("bench", output=record, collectors=collectors, use_plugins=False, handle_signals=False)
            if artifacts:
                rec.add_input(data, role="data")
                rec.add_output(str(outs / "*.txt"), role="results")
            rec.start()
            rec.stop()
            return time.perf_counter() - start

        for label, collectors in (("no collectors", []), ("default collectors", None)):
            once(collectors, True)
            plain, with_artifacts = [], []
            for _ in range(repeat):
                plain.append(once(collectors, False))
                with_artifacts.append(once(collectors, True))
            print(f"Recorder start+stop, {label}: {statistics.median(plain) * 1e3:.2f} ms without artifacts, "
                  f"{statistics.median(with_artifacts) * 1e3:.2f} ms with 100 + 100 files of 1 KB "
                  f"(median of {repeat}; goal <= 10 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=512)
    args = parser.parse_args()
    print(f"# {environment()}")
    hashing(args.size_mb)
    writer()


if __name__ == "__main__":
    main()
