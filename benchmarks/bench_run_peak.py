"""The peak RSS ``procrecord run`` records for a command, next to ``/usr/bin/time``'s for the same
command and procrecord's own peak (issue 15 item 3). Not a timing: the figures are the check.

Usage: python benchmarks/bench_run_peak.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, environment, procrecord_cmd

COMMANDS = {
    "sh -c true": ["sh", "-c", "true"],
    "python, 200 MB touched": [sys.executable, "-c",
                               "x = bytearray(200_000_000)\nfor i in range(0, len(x), 4096): x[i] = 1"],
    "python -c pass": [sys.executable, "-c", "pass"],
}


def time_peak_kib(argv: list[str]) -> int | None:
    """``/usr/bin/time -f %M`` of ``argv`` (KiB), where it is installed."""
    if not os.path.exists("/usr/bin/time"):
        return None
    done = subprocess.run(["/usr/bin/time", "-f", "%M", *argv], capture_output=True, text=True, check=True)
    return int(done.stderr.strip().splitlines()[-1])


def main() -> None:
    print(f"# bench_run_peak ({environment()})")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        out = os.path.join(folder, "r.json")
        for name, argv in COMMANDS.items():
            subprocess.run([*procrecord_cmd(), "run", "-o", out, "--", *argv], env=env, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            record = json.loads(Path(out).read_text(encoding="utf-8"))
            peak = record["resources"].get("children_peak_rss_bytes")
            (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "resources"]
            shown = f"{peak / 1e6:.1f} MB" if peak is not None else f"left out ({note.get('reason')})"
            reference = time_peak_kib(argv)
            where = f"{reference * 1024 / 1e6:.1f} MB" if reference is not None else "no /usr/bin/time"
            print(f"{name}: procrecord run {shown}; /usr/bin/time {where}")
        wrapper = time_peak_kib([*procrecord_cmd(), "run", "-o", out, "--", "true"])
        if wrapper is not None:
            print(f"procrecord run -- true, as a whole: {wrapper * 1024 / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
