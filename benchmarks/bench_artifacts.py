"""Artifacts (issue 17): hashing throughput against sha256sum, and the writer with 100 small files.

    .venv/bin/python benchmarks/bench_artifacts.py [--size-mb 512]

1. One file of ``--size-mb`` random bytes (in benchmarks/data, page cache warm): ``sha256sum FILE``
   against ``procrecord.writer.artifacts.sha256_file`` in this process, interleaved, best of 5. Goal: our
   throughput >= 80% of sha256sum's.
2. ``Recorder`` start + stop writing its record, with no collectors and with the default ones, each
   without artifacts and with ``add_input`` of a folder of 50 files of 1 KB plus ``add_output`` of a
   glob of 50 more (100 files). Goal: start + stop with the artifacts <= 10 ms. Wall and CPU time
   (of every thread) are both given: on a loaded machine the wall time is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from procrecord.writer.artifacts import sha256_file
from procrecord.writer.recorder import Recorder

from _common import DATA, best_interleaved, environment


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
    fns = {
        "sha256sum": lambda: subprocess.run(["sha256sum", str(path)], stdout=subprocess.DEVNULL, check=True),
        "procrecord": lambda: sha256_file(str(path)),
    }
    if shutil.which("openssl"):  # coreutils may use its own SHA-256; OpenSSL's is the fast one
        fns["openssl dgst"] = lambda: subprocess.run(["openssl", "dgst", "-sha256", str(path)],
                                                     stdout=subprocess.DEVNULL, check=True)
    times = best_interleaved(fns, repeat=5)
    rate = {name: size_mb / t for name, t in times.items()}
    print(f"hashing {size_mb} MB: " + ", ".join(f"{name} {r:.0f} MB/s" for name, r in rate.items())
          + f" -> procrecord at {rate['procrecord'] / rate['sha256sum'] * 100:.0f}% of sha256sum (goal >= 80%)")
    if "openssl dgst" in rate:
        print(f"  and at {rate['procrecord'] / rate['openssl dgst'] * 100:.0f}% of openssl dgst -sha256")


def writer(repeat: int = 30) -> None:
    # The record is written on tmpfs where there is one: the atomic write's fsyncs cost tens of ms on
    # this VM's disk whatever the record holds, and would hide what the artifacts cost.
    base = "/dev/shm" if os.path.isdir("/dev/shm") else None
    print(f"(record and files in {base or tempfile.gettempdir()})")
    with tempfile.TemporaryDirectory(dir=base) as tmp:
        data = Path(tmp) / "data"
        data.mkdir()
        outs = Path(tmp) / "out"
        outs.mkdir()
        for i in range(50):
            (data / f"f{i:03d}.txt").write_bytes(os.urandom(1024))
            (outs / f"o{i:03d}.txt").write_bytes(os.urandom(1024))
        record = Path(tmp) / "rec.json"

        def once(collectors, artifacts: bool) -> tuple[float, float]:
            start, cpu = time.perf_counter(), time.process_time()  # CPU of every thread of this process
            rec = Recorder("bench", output=record, collectors=collectors, use_plugins=False, handle_signals=False)
            if artifacts:
                rec.add_input(data, role="data")
                rec.add_output(str(outs / "*.txt"), role="results")
            rec.start()
            rec.stop()
            return time.perf_counter() - start, time.process_time() - cpu

        for label, collectors in (("no collectors", []), ("default collectors", None)):
            once(collectors, True)
            plain, with_artifacts = [], []
            for _ in range(repeat):
                plain.append(once(collectors, False))
                with_artifacts.append(once(collectors, True))
            for kind, i in (("wall", 0), ("CPU", 1)):
                a = statistics.median(t[i] for t in plain)
                b = statistics.median(t[i] for t in with_artifacts)
                print(f"Recorder start+stop, {label}, {kind}: {a * 1e3:.2f} ms without artifacts, {b * 1e3:.2f} ms "
                      f"with 50 + 50 files of 1 KB (the artifacts: +{(b - a) * 1e3:.2f} ms; median of {repeat}; "
                      "goal <= 10 ms)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mb", type=int, default=512)
    args = parser.parse_args()
    print(f"# {environment()}")
    hashing(args.size_mb)
    writer()


if __name__ == "__main__":
    main()
