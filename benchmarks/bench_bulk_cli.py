"""``procrecord redact`` and ``procrecord upgrade`` end to end on 100k-record JSONL files, -j1 and -j2.

Usage: python benchmarks/bench_bulk_cli.py [--records 100000]
"""

from __future__ import annotations

import argparse
import json
import shutil

import orjson

from _common import DATA, ROOT, best_of, environment, procrecord_cmd, run_cmd, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    args = parser.parse_args()
    print(f"# bench_bulk_cli ({environment()})")
    current = write_jsonl(DATA / f"records-{args.records}.jsonl", args.records)
    legacy = DATA / f"legacy-{args.records}.jsonl"
    if not legacy.exists():
        base = json.loads((ROOT / "fixtures" / "0" / "valid" / "handmade-gpu-device-info.json").read_text())
        with legacy.open("wb") as out:
            for i in range(args.records):
                base["properties"]["uuid"] = f"00000000-0000-4000-8000-{i:012d}"
                out.write(orjson.dumps(base) + b"\n")
    cmd = procrecord_cmd()
    for label, path, verb in (("redact --level most", current, ["redact", "--level", "most"]),
                              ("upgrade (legacy 1.3 KB records)", legacy, ["upgrade"])):
        def floor(path=path) -> None:
            with path.open("rb") as handle:
                for raw in handle:
                    orjson.loads(raw)

        floor_s = best_of(floor)
        times = {}
        for jobs in ("1", "2"):
            out = DATA / "out"
            shutil.rmtree(out, ignore_errors=True)
            times[jobs] = run_cmd(cmd + [*verb, "-j", jobs, "-o", str(out), str(path)], ok=(0,))
        shutil.rmtree(DATA / "out", ignore_errors=True)
        print(f"{label}: {args.records} records, parse floor {floor_s:.2f} s; -j1 {times['1']:.2f} s "
              f"({times['1'] / floor_s:.1f}x the floor, {args.records / times['1']:,.0f} records/s), "
              f"-j2 {times['2']:.2f} s ({times['1'] / times['2']:.2f}x faster)")


if __name__ == "__main__":
    main()
