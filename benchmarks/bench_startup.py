"""Start-up costs of one or more source trees, side by side: ``import procrecord``, the writer's import and
start+stop, and ``procrecord --help`` — each in fresh interpreters, interleaved across trees so a busy
spell of the machine lands on every tree alike. The first tree is the baseline of the ratios.

Usage: python benchmarks/bench_startup.py [--runs 21] TREE [TREE ...]
       (e.g. a checkout of the commit before a change, then this one: git archive BASE | tar -x -C /tmp/base)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

_IMPORT = "import time; t = time.perf_counter(); import procrecord; print(time.perf_counter() - t)"
_WRITER = """
import json, time
t0 = time.perf_counter()
from procrecord import Recorder
t1, c1 = time.perf_counter(), time.process_time()
rec = Recorder("bench", handle_signals=False)
rec.start()
rec.stop()
t2, c2 = time.perf_counter(), time.process_time()
print(json.dumps([t1 - t0, t2 - t1, c2 - c1]))
"""


def _run(tree: str, argv: list[str], cwd: str) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=tree)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measured as users run it: bytecode caches warm
    start = time.perf_counter()
    # the same neutral folder for every tree: the git collector reads the repository the job runs in
    out = subprocess.run([sys.executable, *argv], env=env, cwd=cwd, capture_output=True, text=True, check=True)
    return out.stdout, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("trees", nargs="+")
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    samples: dict[str, dict[str, list[float]]] = {t: {"import procrecord": [], "from procrecord import Recorder": [],
                                                      "Recorder start+stop": [], "Recorder start+stop (CPU time)": [],
                                                      "procrecord --help (wall)": []}
                                                  for t in args.trees}
    cwd = tempfile.mkdtemp(prefix="bench-startup-")
    trees = [os.path.abspath(t) for t in args.trees]
    for i in range(args.runs + 1):  # the first round only warms the caches
        for tree, name in zip(trees, args.trees):
            out, _ = _run(tree, ["-c", _IMPORT], cwd)
            writer, _ = _run(tree, ["-c", _WRITER], cwd)
            _, wall = _run(tree, ["-m", "procrecord", "--help"], cwd)
            if i:
                imported, (writer_import, start_stop, start_stop_cpu) = float(out), json.loads(writer)
                s = samples[name]
                s["import procrecord"].append(imported)
                s["from procrecord import Recorder"].append(writer_import)
                s["Recorder start+stop"].append(start_stop)
                s["Recorder start+stop (CPU time)"].append(start_stop_cpu)
                s["procrecord --help (wall)"].append(wall)
    base = args.trees[0]
    print(f"medians of {args.runs} fresh processes per tree (ms); ratio to {base}")
    for what in samples[base]:
        cells = []
        for tree in args.trees:
            median = statistics.median(samples[tree][what]) * 1e3
            ratio = median / (statistics.median(samples[base][what]) * 1e3)
            cells.append(f"{tree}: {median:.2f}" + ("" if tree == base else f" ({ratio:.2f}x)"))
        print(f"{what:32s} " + " | ".join(cells))


if __name__ == "__main__":
    main()
