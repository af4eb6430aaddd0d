"""Validation speed and memory (issue: foundation), as ratios against baselines measured in the same run.

Usage: python benchmarks/bench_validate.py [--records 100000] [--rss-records 1000000] [--cjs-records 2000]
"""

from __future__ import annotations

import argparse
import shutil
import sys

import orjson

from _common import DATA, best_of, child_peak_rss_mb, environment, median_cmd, procrecord_cmd, run_cmd, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rss-records", type=int, default=1_000_000)
    parser.add_argument("--cjs-records", type=int, default=2_000)
    args = parser.parse_args()
    print(f"# bench_validate ({environment()})")

    path = write_jsonl(DATA / f"records-{args.records}.jsonl", args.records)
    lines = path.read_bytes().splitlines()
    size = sum(map(len, lines)) / len(lines)
    print(f"records: {len(lines)}, mean size {size:.0f} bytes")

    # 1. Library: validate() of already-parsed valid records vs the parse floor.
    from procrecord.record.validation import validate

    sample = lines[:20_000]

    def parse_all() -> None:
        for raw in sample:
            orjson.loads(raw)

    parsed = [orjson.loads(raw) for raw in sample]
    assert not validate(parsed[0])

    def validate_all() -> None:
        for record in parsed:
            validate(record)

    import gc

    gc.freeze()  # the parsed sample is long-lived; keep full collections from re-walking it
    parse_s = best_of(parse_all)
    validate_s = best_of(validate_all)
    print(f"library: parse {len(sample) / parse_s:,.0f}/s, validate {len(sample) / validate_s:,.0f}/s, "
          f"validate/parse = {validate_s / parse_s:.2f}x (goal <= 2x)")

    # 2. CLI end to end on the JSONL vs the parse floor (read the file + orjson.loads every line).
    def floor() -> None:
        with path.open("rb") as handle:
            for raw in handle:
                orjson.loads(raw)

    floor_s = best_of(floor)
    cmd = procrecord_cmd()
    one = run_cmd(cmd + ["validate", "-j", "1", str(path)], repeat=3)
    two = run_cmd(cmd + ["validate", "-j", "2", str(path)], repeat=3)
    print(f"cli: floor {floor_s:.2f}s, -j1 {one:.2f}s ({one / floor_s:.2f}x floor, goal <= 2.5x), "
          f"-j2 {two:.2f}s (speed-up {one / two:.2f}x, goal >= 1.7x)")

    # 3. check-jsonschema on the same records (one file per record: it reads no JSONL).
    cjs = shutil.which("check-jsonschema") or str(__import__("pathlib").Path(sys.executable).parent / "check-jsonschema")
    folder = DATA / f"files-{args.cjs_records}"
    if not folder.exists():
        folder.mkdir(parents=True)
        for i, raw in enumerate(lines[: args.cjs_records]):
            (folder / f"r{i:06d}.json").write_bytes(raw)
    files = sorted(str(p) for p in folder.glob("*.json"))
    from procrecord.record.schemas import schema_path

    ours = run_cmd(cmd + ["validate", str(folder)], repeat=3)
    theirs = run_cmd([cjs, "--schemafile", str(schema_path("1.0")), *files], repeat=3)
    print(f"check-jsonschema on {len(files)} files: {theirs:.2f}s, procrecord {ours:.2f}s, "
          f"procrecord is {theirs / ours:.1f}x faster (goal >= 10x)")

    # 4. Peak RSS on a big JSONL (streams; memory must stay flat).
    big = write_jsonl(DATA / f"records-{args.rss_records}.jsonl", args.rss_records)
    rss = child_peak_rss_mb(cmd + ["validate", str(big)])
    print(f"peak RSS validating {args.rss_records:,} records: {rss:.0f} MB (goal < 150 MB)")

    # 5. Start-up.
    help_s = median_cmd(cmd + ["--help"])
    import_s = median_cmd([sys.executable, "-c", "import procrecord"])
    bare_s = median_cmd([sys.executable, "-c", "pass"])
    code = "import sys, procrecord; assert not {'jsonschema', 'jsonschema_rs'} & set(sys.modules)"
    median_cmd([sys.executable, "-c", code], repeat=1)
    print(f"procrecord --help: {help_s * 1000:.0f} ms (goal < 150 ms); import procrecord: "
          f"{(import_s - bare_s) * 1000:.1f} ms over a bare interpreter ({bare_s * 1000:.0f} ms); no validator imported")


if __name__ == "__main__":
    main()
