"""Validation speed and memory (issue: foundation), as ratios against baselines measured in the same run.

Usage: python benchmarks/bench_validate.py [--records 100000] [--rss-records 1000000] [--cjs-records 2000]
       [--cli-only] [--baseline-tree PATH] [--instructions N]

The CLI's floor is this process reading the JSONL file and ``orjson.loads``-ing every line, warm
(the file in the page cache, the interpreter started). The CLI run also pays its start-up (the
interpreter, imports, compiling the schema), which does not shrink with the file: on 20k records it
is a sizeable part of the ratio, on the 100k of the goal much less. The start-up is therefore measured
too (``validate`` of a one-record file) and printed beside the ratio; the goal is the plain ratio.
``--baseline-tree`` times the CLI of another source tree (``PYTHONPATH``) in the same run, in turn.
``--instructions N`` counts instructions instead (valgrind's callgrind, stable on a busy machine), per
record over the first N records: the floor, reading with every check, and validate's whole per-task
work (start-up not counted), for this tree and the baseline tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import orjson

from _common import DATA, ROOT, best_interleaved, best_of, child_peak_rss_mb, environment, median_cmd, procrecord_cmd, run_cmd, write_jsonl


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rss-records", type=int, default=1_000_000)
    parser.add_argument("--cjs-records", type=int, default=2_000)
    parser.add_argument("--cli-only", action="store_true", help="only the CLI against its floor (section 2)")
    parser.add_argument("--baseline-tree", help="a second source tree whose CLI is timed in the same run")
    parser.add_argument("--instructions", type=int, metavar="N", help="count instructions over N records (callgrind)")
    args = parser.parse_args()
    print(f"# bench_validate ({environment()}), load average {os.getloadavg()[0]:.1f}")

    path = write_jsonl(DATA / f"records-{args.records}.jsonl", args.records)
    if args.instructions:
        _instructions(path, args.instructions, args.baseline_tree)
        return
    lines = path.read_bytes().splitlines()
    size = sum(map(len, lines)) / len(lines)
    print(f"records: {len(lines)}, mean size {size:.0f} bytes")

    if not args.cli_only:
        _library(lines)
    _cli(path, args.baseline_tree, args.cli_only)
    if not args.cli_only:
        _others(lines, args)


def _library(lines: list[bytes]) -> None:
    """1. Library: validate() of already-parsed valid records vs the parse floor."""
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


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return time.perf_counter() - start


def _cli(path: Path, baseline_tree: str | None, cli_only: bool) -> None:
    """2. CLI end to end on the JSONL vs the parse floor (read the file + orjson.loads every line)."""
    def floor() -> None:
        with path.open("rb") as handle:
            for raw in handle:
                orjson.loads(raw)

    one_record = path.with_name("records-1.jsonl")
    with path.open("rb") as handle:
        one_record.write_bytes(handle.readline())
    cmd = procrecord_cmd()
    runs = {"floor": floor,
            "-j1": lambda: _timed(cmd + ["validate", "-j", "1", str(path)]),
            "start-up": lambda: _timed(cmd + ["validate", "-j", "1", str(one_record)])}
    if baseline_tree:
        env = {**os.environ, "PYTHONPATH": os.path.abspath(baseline_tree)}
        base = [sys.executable, "-m", "procrecord", "validate", "-j", "1"]
        runs["baseline -j1"] = lambda: _timed(base + [str(path)], env)
        runs["baseline start-up"] = lambda: _timed(base + [str(one_record)], env)
    best = best_interleaved(runs, repeat=3)
    floor_s, one, start = best["floor"], best["-j1"], best["start-up"]
    print(f"cli: floor {floor_s:.2f}s, -j1 {one:.2f}s ({one / floor_s:.2f}x floor, goal <= 2.5x); start-up "
          f"{start:.2f}s, without it {(one - start) / floor_s:.2f}x")
    if baseline_tree:
        b_one, b_start = best["baseline -j1"], best["baseline start-up"]
        print(f"baseline {baseline_tree}: -j1 {b_one:.2f}s ({b_one / floor_s:.2f}x floor); start-up {b_start:.2f}s, "
              f"without it {(b_one - b_start) / floor_s:.2f}x; this tree takes {one / b_one:.2f}x the baseline's time")
    if not cli_only:
        two = run_cmd(cmd + ["validate", "-j", "2", str(path)], repeat=3)
        print(f"-j2 {two:.2f}s (speed-up {one / two:.2f}x, goal >= 1.7x)")


CHILD = r"""
import functools, sys
tree, mode, path, one = sys.argv[1:5]
sys.path.insert(0, tree)
import orjson
from procrecord.bulk import loader
from procrecord.bulk.engine import _run_task
from procrecord.operations.checks import ValidateRecord
task = next(loader.plan([path], chunk_bytes=1 << 40))
operation = ValidateRecord()
_run_task((operation, next(loader.plan([one]))))  # modules loaded, schema compiled: not counted
def floor(_, __):
    with open(path, "rb") as handle:
        for raw in handle:
            orjson.loads(raw)
def read(_, __):
    for _item in loader.iter_task(task, loader.Span(), unique=True):
        pass
def validate(_, __):
    _run_task((operation, task))
functools.reduce({"floor": floor, "read": read, "validate": validate}[mode], [0, 1])
"""


def _instructions(path: Path, records: int, baseline_tree: str | None) -> None:
    """Instructions per record (callgrind counts only inside ``functools.reduce``)."""
    import re

    sample = path.with_name(f"records-head-{records}.jsonl")
    one = path.with_name("records-1.jsonl")
    with path.open("rb") as handle:
        head = [handle.readline() for _ in range(records)]
    sample.write_bytes(b"".join(head))
    one.write_bytes(head[0])
    trees = {"this tree": str(ROOT)} | ({"baseline": os.path.abspath(baseline_tree)} if baseline_tree else {})
    counts: dict[tuple[str, str], float] = {}
    for name, tree in trees.items():
        for mode in ("floor", "read", "validate"):
            proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
                                   "--collect-atstart=no", "--toggle-collect=functools_reduce", sys.executable,
                                   "-c", CHILD, tree, mode, str(sample), str(one)], capture_output=True, text=True)
            match = re.search(r"Collected : (\d+)", proc.stderr)
            if proc.returncode != 0 or not match:
                raise SystemExit(f"valgrind failed ({name}, {mode}): {proc.stderr[-800:]}")
            counts[name, mode] = int(match.group(1)) / records
    for name in trees:
        floor = counts[name, "floor"]
        print(f"{name}: floor {floor:,.0f} instructions/record; read with every check {counts[name, 'read']:,.0f} "
              f"({counts[name, 'read'] / floor:.2f}x); validate's per-task work {counts[name, 'validate']:,.0f} "
              f"({counts[name, 'validate'] / floor:.2f}x)")


def _others(lines: list[bytes], args: argparse.Namespace) -> None:
    """3-5: check-jsonschema, peak RSS, start-up."""
    cmd = procrecord_cmd()
    # 3. check-jsonschema on the same records (one file per record: it reads no JSONL).
    cjs = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
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
