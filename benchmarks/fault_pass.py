"""A fault pass, run by hand (too long for the test suite): kill -9 at random points of ``--in-place``
runs, two concurrent in-place runs over the same files, forks and signals in recorded jobs.

Prints one line per check with what it found; exits 1 if any check found a problem.

Usage: python benchmarks/fault_pass.py [--files 600] [--kills 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LEGACY = ROOT / "fixtures" / "0" / "valid" / "full-telemetry.json"
GPU = ROOT / "fixtures" / "1.0" / "valid" / "gpu-training.json"
ENV = dict(os.environ, PYTHONPATH=str(ROOT))
CLI = [sys.executable, "-m", "procrecord"]
sys.path.insert(0, str(ROOT))

from procrecord.operations.redaction import check_level  # noqa: E402

problems: list[str] = []


def report(name: str, found: list[str]) -> None:
    print(f"{name}: {'OK' if not found else 'PROBLEMS'}" + "".join(f"\n  - {p}" for p in found[:10]))
    problems.extend(found)


def make_tree(root: Path, files: int) -> dict[Path, bytes]:
    """Legacy JSON files, current JSON files and a few JSONL files, in nested folders."""
    gpu = json.loads(GPU.read_text())
    originals = {}
    for i in range(files):
        folder = root / f"d{i % 7}" / f"e{i % 3}"
        folder.mkdir(parents=True, exist_ok=True)
        if i % 50 == 0:
            path = folder / f"r{i}.jsonl"
            path.write_text("".join(json.dumps(dict(gpu, id=f"00000000-0000-4000-8000-{i:08d}{j:04d}")) + "\n"
                                    for j in range(200)))
        elif i % 2:
            path = folder / f"r{i}.json"
            shutil.copy(LEGACY, path)
        else:
            path = folder / f"r{i}.json"
            path.write_text(json.dumps(gpu, indent=2))
        originals[path] = path.read_bytes()
    return originals


def redacted_whole(data: bytes, jsonl: bool) -> bool:
    try:
        records = [json.loads(line) for line in data.splitlines()] if jsonl else [json.loads(data)]
    except ValueError:
        return False
    return all(check_level(r, "most") == [] for r in records)


def kill_pass(files: int, kills: int) -> None:
    found: list[str] = []
    leftovers = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        originals = make_tree(root, files)
        for k in range(kills):
            proc = subprocess.Popen([*CLI, "redact", "--level", "most", "--in-place", str(root)], env=ENV,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(random.uniform(0.3, 4.0))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            for path, original in originals.items():
                data = path.read_bytes()
                if data != original and not redacted_whole(data, path.suffix == ".jsonl"):
                    found.append(f"kill {k}: {path} is neither the original nor a whole redacted file")
            leftovers = len(list(root.rglob("*.tmp")))
            for path in originals:  # the next kill starts from originals again, half of the time
                if random.random() < 0.5:
                    path.write_bytes(originals[path])
        done = subprocess.run([*CLI, "redact", "--level", "most", "--in-place", str(root)], env=ENV,
                              capture_output=True, text=True)
        if done.returncode != 0:
            found.append(f"the run after the kills exited {done.returncode}: {done.stderr[-300:]}")
        left = list(root.rglob("*.tmp"))
        if left:
            found.append(f"{len(left)} temp files of killed runs remain after a complete run")
        for path in originals:
            if not redacted_whole(path.read_bytes(), path.suffix == ".jsonl"):
                found.append(f"{path} not redacted after the complete run")
    report(f"kill -9 at random points of {kills} --in-place runs over {files} files "
           f"(temp files left by the last kill: {leftovers}, removed by the next run)", found)


def concurrent_pass(files: int, rounds: int) -> None:
    found: list[str] = []
    lost_total = reported_total = 0
    for r in range(rounds):
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            for i in range(files):
                shutil.copy(LEGACY, root / f"r{i:05d}.json")
            redact = subprocess.Popen([*CLI, "redact", "--level", "most", "--in-place", str(root)], env=ENV,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            upgrade = subprocess.Popen([*CLI, "upgrade", "--in-place", str(root)], env=ENV,
                                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            red_err = redact.communicate()[1]
            up_err = upgrade.communicate()[1]
            lines = red_err.splitlines() + up_err.splitlines()
            refused = {line.split("::")[0] for line in lines if ":: error:" in line}
            others = [line for line in lines if ":: error:" in line and "changed by another process" not in line]
            if others:
                found.append(f"round {r}: {len(others)} other errors, e.g. {others[0]}")
            reported_total += len(refused)
            for path in sorted(root.glob("r*.json")):
                record = json.loads(path.read_text())
                redacted = check_level(record, "most") == []
                if not redacted and str(path) not in refused:
                    lost_total += 1
                    found.append(f"round {r}: {path.name} not redacted and not reported "
                                 f"(version {record.get('schema_version', '0')})")
            if refused and redact.returncode == 0 and upgrade.returncode == 0:
                found.append(f"round {r}: files were refused yet both runs exited 0")
    report(f"two concurrent --in-place runs (redact, upgrade) over {files} legacy files, {rounds} rounds: "
           f"{reported_total} files reported as changed by the other run, {lost_total} lost silently", found)


def fork_pass(runs: int) -> None:
    found: list[str] = []
    script = textwrap.dedent("""
        import multiprocessing as mp, os, sys, time
        from procrecord import Recorder

        def sleep():
            time.sleep(60)

        if __name__ == "__main__":
            mp.set_start_method("fork")
            with Recorder("job", output=sys.argv[1], collectors=[]):
                mp.Process(target=sleep, daemon=True).start()
                pool = mp.Pool(3)
                pool.map(abs, range(10))
                time.sleep(0.1)
    """)
    # A raw fork without a pool: a child that exits through the interpreter runs multiprocessing's
    # own exit handler, which terminates the parent's pool workers (CPython, not procrecord).
    raw = textwrap.dedent("""
        import os, sys, time
        from procrecord import Recorder

        with Recorder("job", output=sys.argv[1], collectors=[]):
            if os.fork() == 0:
                raise SystemExit(0)
            time.sleep(0.3)
            os.wait()
    """)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            out = Path(tmp) / f"r{i}.json"
            done = subprocess.run([sys.executable, "-c", raw if i % 2 else script, str(out)], env=ENV,
                                  capture_output=True, text=True, timeout=120)
            record = json.loads(out.read_text())
            if done.returncode != 0 or record["status"] != "completed" or record["outcome"] != {"exit_code": 0}:
                found.append(f"run {i}: exit {done.returncode}, record {record['status']} {record.get('outcome')}")
    report(f"forks (daemon process and open pool; raw fork raising SystemExit) in {runs} recorded jobs", found)


def signal_pass(runs: int) -> None:
    found: list[str] = []
    script = "import time, sys\nfrom procrecord import Recorder\nwith Recorder('j', output=sys.argv[1], collectors=[]):\n" \
             "    print('go', flush=True)\n    time.sleep(float(sys.argv[2]))\n"
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            out = Path(tmp) / f"s{i}.json"
            proc = subprocess.Popen([sys.executable, "-c", script, str(out), "0.5"], env=ENV, stdout=subprocess.PIPE)
            proc.stdout.readline()
            time.sleep(random.uniform(0, 0.8))
            proc.send_signal(signal.SIGTERM)
            code = proc.wait()
            proc.stdout.close()
            record = json.loads(out.read_text())
            if record["status"] == "completed" and record["outcome"].get("exit_code") == 0:
                continue  # the job had finished (the signal came at its very end, exit -15, or after)
            if code == -15 and record["status"] == "interrupted" and record["outcome"].get("exit_code") == 143:
                continue
            found.append(f"run {i}: exit {code}, record {record['status']} {record.get('outcome')}")
    report(f"SIGTERM at random points of {runs} recorded jobs", found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--files", type=int, default=600)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    random.seed(14)
    kill_pass(args.files, args.kills)
    concurrent_pass(max(args.files, 1000), args.rounds)
    fork_pass(10)
    signal_pass(20)
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
