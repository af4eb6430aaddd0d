"""Instruction counts (valgrind's callgrind) of parse, redaction and upgrade per record.

Wall-clock ratios on a shared VM move by 10-20% between runs; instruction counts do not, so this is
the tool for telling whether a change to redaction or upgrade made them cheaper. It is not the goal's
measure (time is: see bench_transforms.py): an interpreter runs fewer instructions per cycle than
orjson's parser, so a ratio of instructions reads lower than the same ratio of times.

Usage: python benchmarks/bench_instructions.py [--records 500]   (needs valgrind; takes ~1 minute)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys

from _common import ROOT, environment

CHILD = r"""
import copy, json, sys
sys.path.insert(0, {bench!r})
import orjson
from _common import ROOT, realistic_record
from procrecord.operations.migration import upgrade
from procrecord.operations.redaction import _scrubber, redact
from procrecord.record.schemas import current_version
from procrecord.record.validation import is_valid
mode, n = sys.argv[1], int(sys.argv[2])
lines = [orjson.dumps(realistic_record(i)) for i in range(n)]
legacy = json.loads((ROOT / "fixtures" / "0" / "valid" / "handmade-gpu-device-info.json").read_text())
old = []
for i in range(n):
    rec = copy.deepcopy(legacy)
    rec["properties"]["uuid"] = f"00000000-0000-4000-8000-{{i:012d}}"
    old.append(orjson.dumps(rec))
redact(orjson.loads(lines[0]), "most"); upgrade(orjson.loads(old[0]))  # code and schemas loaded
upgraded = [upgrade(orjson.loads(raw)) for raw in old] if mode in ("around-upgrade", "none-upgraded") else []
_scrubber.cache_clear()
if mode == "parse":
    for raw in lines: orjson.loads(raw)
elif mode == "redact":
    for raw in lines: orjson.dumps(redact(orjson.loads(raw), "most"))
elif mode == "redact-repeated":
    for raw in [lines[0]] * n: orjson.dumps(redact(orjson.loads(raw), "most"))
elif mode == "parse-legacy":
    for raw in old: orjson.loads(raw)
elif mode == "upgrade":
    for raw in old: orjson.dumps(upgrade(orjson.loads(raw)))
elif mode == "around-upgrade":
    for raw, output in zip(old, upgraded): is_valid(orjson.loads(raw), "0"); is_valid(output, current_version()); orjson.dumps(output)
"""


def count(mode: str, records: int) -> int:
    code = CHILD.format(bench=str(ROOT / "benchmarks"))
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", sys.executable,
                           "-c", code, mode, str(records)], capture_output=True, text=True, cwd=ROOT)
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not match:
        raise SystemExit(f"valgrind failed for {mode}: {proc.stderr[-800:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=500)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    print(f"# bench_instructions ({environment()}), {args.records} records, cold caches")
    n = args.records
    base = count("none", n)
    modes = ("parse", "redact", "redact-repeated", "parse-legacy", "upgrade")
    per = {mode: (count(mode, n) - base) / n for mode in modes}
    # The upgraded records of this mode are made before the counted loop: its own baseline.
    per["around-upgrade"] = (count("around-upgrade", n) - count("none-upgraded", n)) / n
    print(f"parse {per['parse']:,.0f}; parse + redact(most) + dump {per['redact']:,.0f} instructions/record "
          f"= {per['redact'] / per['parse']:.2f}x; one record repeated (no string new) {per['redact-repeated']:,.0f} "
          f"= {per['redact-repeated'] / per['parse']:.2f}x")
    print(f"parse (1.3 KB legacy) {per['parse-legacy']:,.0f}; parse + upgrade + dump {per['upgrade']:,.0f} "
          f"instructions/record = {per['upgrade'] / per['parse-legacy']:.2f}x; parse + both validations + dump "
          f"without the step {per['around-upgrade']:,.0f} = {per['around-upgrade'] / per['parse-legacy']:.2f}x")


if __name__ == "__main__":
    main()
