"""``procrecord diff --baseline`` over 10k records: time and peak memory (bounded, not growing with N).

Usage: python benchmarks/bench_diff_baseline.py [--records 10000]
"""

from __future__ import annotations

import argparse
import json
import uuid

from _common import DATA, FIXTURE, child_peak_rss_mb, environment, procrecord_cmd, run_cmd


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=10_000)
    args = parser.parse_args()
    print(f"# bench_diff_baseline ({environment()})")
    base = json.loads(FIXTURE.read_text())
    sizes = {}
    for count in (args.records // 10, args.records):
        path = DATA / f"baseline-{count}.jsonl"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("w") as out:
                for i in range(count):
                    rec = json.loads(json.dumps(base))
                    rec["id"] = str(uuid.UUID(int=i + 1, version=4))
                    rec["timing"]["duration_s"] = 9000.0 + i
                    rec["python"]["packages"][i % 40]["version"] = f"{i % 7}.0"
                    out.write(json.dumps(rec) + "\n")
        cmd = procrecord_cmd() + ["diff", "--baseline", str(FIXTURE), str(path)]
        seconds = run_cmd(cmd, ok=(1,))
        rss = child_peak_rss_mb(cmd)
        sizes[count] = (seconds, rss)
        print(f"{count:>6} records: {seconds:.2f} s ({seconds / count * 1e3:.2f} ms/record), peak RSS {rss:.0f} MB")
    small, large = sizes[args.records // 10], sizes[args.records]
    print(f"memory growth from {args.records // 10} to {args.records} records: {large[1] / small[1]:.2f}x (bounded: ~1x)")


if __name__ == "__main__":
    main()
