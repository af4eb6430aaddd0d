"""Instruction counts (valgrind's callgrind) of parse, redaction and upgrade per record.

Wall-clock ratios on a shared VM move by 10-20% between runs; instruction counts do not, so this is
the tool for telling whether a change to redaction or upgrade made them cheaper. It is not the goal's
measure (time is: see bench_transforms.py): an interpreter runs fewer instructions per cycle than
orjson's parser, so a ratio of instructions reads lower than the same ratio of times.

Usage: python benchmarks/bench_instructions.py [--records 500] [--baseline-tree PATH] [--redaction-only]
(needs valgrind; ~1 minute per tree on a quiet machine)

``--baseline-tree`` counts the same child script against a second source tree (e.g. ``git worktree add
/tmp/base b036696`` or a ``git archive`` unpacked) and prints both trees side by side with the change in
percent. The records come from this checkout's ``benchmarks/_common.py`` for both trees.

The child is this interpreter under valgrind, and the parent itself imports only the standard library:
run with an interpreter that lacks orjson (``/usr/bin/python3`` here), it used to start fine and fail in
every child ("cannot import orjson"). The parent now checks first, and the child gets the tree, this
directory and the parent's ``sys.path`` through ``PYTHONPATH`` (the tree first, so a baseline tree's
package wins over the editable install).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from _common import ROOT, environment

CHILD = r"""
import copy, functools, json, sys
import orjson
from _common import ROOT, realistic_record
try:
    from procrecord.operations.migration import upgrade
    from procrecord.operations.redaction import _scrubber, redact
    from procrecord.record.schemas import current_version
    from procrecord.record.validation import is_valid
except ImportError:  # a tree from before the re-layout (issue 16)
    from procrecord.migration import upgrade
    from procrecord.redaction import _scrubber, redact
    from procrecord.schemas import current_version
    from procrecord.validation import is_valid
mode, n = sys.argv[1], int(sys.argv[2])
lines = [orjson.dumps(realistic_record(i)) for i in range(n)]
legacy = json.loads((ROOT / "fixtures" / "0" / "valid" / "handmade-gpu-device-info.json").read_text())
old = []
for i in range(n):
    rec = copy.deepcopy(legacy)
    rec["properties"]["uuid"] = f"00000000-0000-4000-8000-{i:012d}"
    old.append(orjson.dumps(rec))
redact(orjson.loads(lines[0]), "most"); upgrade(orjson.loads(old[0]))  # code and schemas loaded
upgraded = [upgrade(orjson.loads(raw)) for raw in old] if mode == "around-upgrade" else []
_scrubber.cache_clear()
# Only the loop is counted (valgrind collects inside functools.reduce alone): start-up, imports and the
# making of the records are not, so no run without the loop needs subtracting.
steps = {
    "parse": (lines, lambda raw: orjson.loads(raw)),
    "redact": (lines, lambda raw: orjson.dumps(redact(orjson.loads(raw), "most"))),
    "redact-repeated": ([lines[0]] * n, lambda raw: orjson.dumps(redact(orjson.loads(raw), "most"))),
    "parse-legacy": (old, lambda raw: orjson.loads(raw)),
    "upgrade": (old, lambda raw: orjson.dumps(upgrade(orjson.loads(raw)))),
    "around-upgrade": (list(zip(old, upgraded)), lambda pair: (is_valid(orjson.loads(pair[0]), "0"),
                                                               is_valid(pair[1], current_version()), orjson.dumps(pair[1]))),
}
items, step = steps[mode]
functools.reduce(lambda _, item: step(item), items, None)
"""


def count(mode: str, records: int, tree: Path = ROOT) -> int:
    """Instructions of the child script in ``mode`` over ``records`` records, with ``tree``'s package."""
    path = [str(tree), str(ROOT / "benchmarks"), *(p for p in sys.path if p and Path(p).is_dir())]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path), "PYTHONHASHSEED": "0"}
    proc = subprocess.run(["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", "--collect-atstart=no",
                           "--toggle-collect=functools_reduce", sys.executable, "-c", CHILD, mode, str(records)],
                          capture_output=True, text=True, cwd=tree, env=env)
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if proc.returncode != 0 or not match:
        raise SystemExit(f"valgrind failed for {mode} in {tree}: {proc.stderr[-800:]}")
    return int(match.group(1))


def per_record(records: int, tree: Path = ROOT, redaction_only: bool = False) -> dict[str, float]:
    """Instructions per record of each mode (only the loop over the records is counted)."""
    modes = ("parse", "redact", "redact-repeated") + (() if redaction_only else ("parse-legacy", "upgrade", "around-upgrade"))
    return {mode: count(mode, records, tree) / records for mode in modes}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=500)
    parser.add_argument("--baseline-tree", type=Path, help="a second source tree to count side by side")
    parser.add_argument("--redaction-only", action="store_true", help="parse, redact and redact-repeated only")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed")
    try:
        import orjson  # noqa: F401  (the child needs it: fail here, once, rather than in every child)
    except ImportError:
        raise SystemExit(f"{sys.executable} cannot import orjson: run this with the project's environment "
                         "(.venv/bin/python benchmarks/bench_instructions.py)") from None
    print(f"# bench_instructions ({environment()}), {args.records} records, cold caches")
    per = per_record(args.records, redaction_only=args.redaction_only)
    _report(per)
    if args.baseline_tree is not None:
        base = per_record(args.records, args.baseline_tree.resolve(), args.redaction_only)
        print(f"# baseline tree {args.baseline_tree}")
        _report(base)
        print("| mode | baseline | this tree | change |")
        print("| --- | --- | --- | --- |")
        for mode in per:
            print(f"| {mode} | {base[mode]:,.0f} | {per[mode]:,.0f} | {100 * (per[mode] / base[mode] - 1):+.1f}% |")


def _report(per: dict[str, float]) -> None:
    print(f"parse {per['parse']:,.0f}; parse + redact(most) + dump {per['redact']:,.0f} instructions/record "
          f"= {per['redact'] / per['parse']:.2f}x; one record repeated (no string new) {per['redact-repeated']:,.0f} "
          f"= {per['redact-repeated'] / per['parse']:.2f}x")
    if "upgrade" not in per:
        return
    print(f"parse (1.3 KB legacy) {per['parse-legacy']:,.0f}; parse + upgrade + dump {per['upgrade']:,.0f} "
          f"instructions/record = {per['upgrade'] / per['parse-legacy']:.2f}x; parse + both validations + dump "
          f"without the step {per['around-upgrade']:,.0f} = {per['around-upgrade'] / per['parse-legacy']:.2f}x")


if __name__ == "__main__":
    main()
