"""Helpers shared by the benchmark scripts: realistic records, timing, child-process RSS."""

from __future__ import annotations

import hashlib
import json
import os
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "benchmarks" / "data"
FIXTURE = ROOT / "fixtures" / "1.0" / "valid" / "gpu-training.json"


_FIXTURE_TEXT: list[str] = []


def _fixture_text() -> str:
    if not _FIXTURE_TEXT:
        _FIXTURE_TEXT.append(FIXTURE.read_text())
    return _FIXTURE_TEXT[0]


def realistic_record(i: int) -> dict:
    """A ~5 KB 1.0 record of a sweep: the GPU training fixture with what varies between runs varied.

    Each index gets its own id, node (of 8), run folder, seed, learning rate, timings and
    emissions; commits change every 50 runs. Strings repeat across records only where they would
    in a real sweep (flags, config keys, dataset paths, package names).
    """
    record = json.loads(_fixture_text())
    node, run = f"gpu-node{i % 8:02d}.lab.example.org", f"fit_v{i}"
    record["id"] = str(uuid.UUID(int=i + 1, version=4))
    record["host"]["hostname"] = node
    record["python"]["packages"] = record["python"]["packages"][:45]
    lr = f"{0.0001 * (1 + i % 10):.4f}"
    argv = record["invocation"]["argv"]
    argv[3] = f"--config=/home/jdoe/projects/seg/configs/{run}.yaml"
    argv[6] = f"--optimizer.lr={lr}"
    argv.append(f"--seed={i}")
    config = record["invocation"]["config"]
    config["optimizer"]["lr"] = float(lr)
    config["seed"] = i
    config["trainer"]["default_root_dir"] = f"/home/jdoe/projects/seg/runs/{run}"
    record["git"]["commit"] = hashlib.sha1(f"commit {i // 50}".encode()).hexdigest()
    record["timing"]["duration_s"] = 9000.0 + i * 1.5
    record["resources"]["peak_rss_bytes"] += i
    record["emissions"]["run_id"] = str(uuid.UUID(int=10**9 + i, version=4))
    record["extra"] = {"fit_config": {"name": run}, "contact": "jdoe@example.org",
                       "notes": f"run {run} from /home/jdoe/projects/seg on {node.split('.')[0]}"}
    return record


def write_jsonl(path: Path, count: int) -> Path:
    """Write ``count`` realistic records as JSONL (reused when already there)."""
    if path.exists() and path.stat().st_size > 0 and sum(1 for _ in path.open("rb")) == count:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as out:
        for i in range(count):
            out.write(json.dumps(realistic_record(i), separators=(",", ":")) + "\n")
    return path


def best_of(fn, repeat: int = 3) -> float:
    """Shortest wall time of ``repeat`` calls of ``fn`` (seconds)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def best_interleaved(fns: dict[str, Callable[[], object]], repeat: int = 5) -> dict[str, float]:
    """Shortest wall time of each of ``fns``, run in turn ``repeat`` times (seconds).

    Running a baseline and what is compared with it alternately, rather than one after the other,
    keeps a slow spell of a shared machine from landing on one side of a ratio only.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            start = time.perf_counter()
            timed = fn()  # a function that times only part of itself returns that time
            times[name].append(timed if isinstance(timed, float) else time.perf_counter() - start)
    return {name: min(values) for name, values in times.items()}


def run_cmd(cmd: list[str], repeat: int = 1, ok: tuple[int, ...] = (0, 1)) -> float:
    """Best wall time of running ``cmd`` (output discarded)."""
    def once() -> None:
        proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)
        if proc.returncode not in ok:
            raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return best_of(once, repeat)


def child_peak_rss_mb(cmd: list[str]) -> float:
    """Peak RSS (MB) of ``cmd`` run in a fresh child (via a wrapper so earlier children do not count)."""
    code = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    out = subprocess.run([sys.executable, "-c", code, *cmd], capture_output=True, text=True, check=True, cwd=ROOT)
    return int(out.stdout.strip()) / 1024


def median_cmd(cmd: list[str], repeat: int = 10) -> float:
    """Median wall time of a short command."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def procrecord_cmd() -> list[str]:
    """How to run the CLI of this checkout."""
    exe = Path(sys.executable).parent / "procrecord"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "procrecord"]


def environment() -> str:
    """One line describing where the numbers were measured."""
    return f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {os.uname().machine}"
