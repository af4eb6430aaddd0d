"""Records embedded in a big kwcoco file: time, peak RSS and output size of the --embedded commands.

    .venv/bin/python benchmarks/bench_embedded.py [--mb 250] [--nan-mb 50] [--repeat 2] [--before DIR]

Generates (once) under benchmarks/data/ a compact kwcoco-style file of about ``--mb`` MB: four legacy
records in ``info`` (first, where kwcoco writes it), then images and annotations whose scores are
long floats (``0.0016622953670337726``); and a pixel-evaluation-style file with NaN values and its
record under ``meta.info``. Each command runs in a fresh process on a fresh copy; the baselines are
measured in the same run: an orjson load + dump of the same file in a fresh process (Python's json
for the file with NaN). Also measures JSONL redaction of records holding long floats with the
big-integer check as it was (19 digits in a row) and as it is now (integer literals only).
``--before DIR``: also run ``upgrade --embedded`` with the package found in DIR (e.g. an older commit
unpacked with ``git archive OLD procrecord schema | tar -x -C DIR``), once, for a before/after.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time

from _common import DATA, ROOT, child_peak_rss_mb, environment, procrecord_cmd

LEGACY = ["full-telemetry.json", "with-emissions.json", "handmade-gpu-device-info.json", "most-disabled.json"]


def _records() -> list[dict]:
    return [json.loads((ROOT / "fixtures" / "0" / "valid" / name).read_text()) for name in LEGACY]


def make_kwcoco(path, megabytes: int, nan: bool = False) -> None:
    """A compact kwcoco-style file (written in pieces, so making it needs little memory)."""
    if path.exists() and path.stat().st_size > megabytes * 0.95e6:
        return
    rng = random.Random(0)
    target = megabytes * 1_000_000
    with path.open("w") as out:
        head = {"meta": {"info": _records()[:1]}} if nan else {"info": _records()}
        text = json.dumps(head, separators=(",", ":"))[:-1]
        out.write(text + ',"categories":[{"id":1,"name":"car"},{"id":2,"name":"truck"}],"images":[')
        written = len(text)
        images = max(1, megabytes * 40)
        out.write(",".join(json.dumps({"id": i, "file_name": f"images/img_{i:07d}.png", "width": 512, "height": 512},
                                      separators=(",", ":")) for i in range(images)))
        out.write('],"annotations":[')
        written += images * 70
        i, first = 0, True
        while written < target:
            batch = []
            for _ in range(10_000):
                score = rng.random() / 100  # e.g. 0.0016622953670337726
                ann = {"id": i, "image_id": i % images, "category_id": 1 + i % 2,
                       "bbox": [rng.random() * 500, rng.random() * 500, 31.5, 20.25], "score": score,
                       "prob": [score, 1 - score]}
                text = json.dumps(ann, separators=(",", ":"), allow_nan=True)
                if nan and i % 7 == 0:
                    text = text.replace('"score":', '"score":NaN,"s":', 1)
                batch.append(text)
                i += 1
            chunk = ",".join(batch)
            out.write(("" if first else ",") + chunk)
            first = False
            written += len(chunk) + 1
        out.write("]}")


_BASELINE = {
    "orjson": "import orjson,sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(orjson.dumps(orjson.loads(d)))",
    "json": "import json,sys; d=open(sys.argv[1]).read(); open(sys.argv[2],'w').write(json.dumps(json.loads(d)))",
}


def timed(cmd: list[str], env: dict | None = None, cwd=ROOT) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=cwd, env=env)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed ({proc.returncode}): {proc.stderr.decode()[-800:]}")
    return time.perf_counter() - start


def bench_before(source, before: str) -> None:
    """``upgrade --embedded --in-place`` with the package in ``before``: time, peak RSS, output size."""
    size = source.stat().st_size
    work = DATA / ("work-" + source.name)
    env = dict(os.environ, PYTHONPATH=before)
    args = [sys.executable, "-m", "procrecord", "upgrade", "--embedded", "--max-bytes", str(2 * size), "--in-place", str(work)]
    shutil.copyfile(source, work)
    took = timed(args, env, cwd=before)  # not this checkout: ``-m`` puts the working folder first
    out_size = work.stat().st_size
    shutil.copyfile(source, work)
    code = ("import os, resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
            "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    rss = int(subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env,
                             cwd=before, check=True).stdout) / 1024
    os.unlink(work)
    print(f"  before ({before}): upgrade {took:.2f} s; peak RSS {rss:.0f} MiB = {rss * 2**20 / size:.2f}x the file; "
          f"output {out_size / size:.2f}x the input")


def bench_file(source, baseline: str, repeat: int) -> None:
    size = source.stat().st_size
    work = DATA / ("work-" + source.name)
    base_cmd = [sys.executable, "-c", _BASELINE[baseline], str(source), str(DATA / "baseline-out.json")]
    base_t = min(timed(base_cmd) for _ in range(repeat))
    base_rss = child_peak_rss_mb(base_cmd)
    print(f"{source.name}: {size / 1e6:.1f} MB; {baseline} load+dump {base_t:.2f} s, peak RSS {base_rss:.0f} MiB")
    cli = procrecord_cmd()
    for command in (["upgrade"], ["redact", "--level", "most"], ["downgrade"], ["validate"]):
        writes = command[0] != "validate"
        args = [*cli, *command, "--embedded", "--max-bytes", str(2 * size), *(["--in-place"] if writes else []), str(work)]
        times = []
        for _ in range(repeat):
            shutil.copyfile(source, work)
            times.append(timed(args))
        shutil.copyfile(source, work)
        rss = child_peak_rss_mb(args)
        growth = work.stat().st_size - size
        print(f"  {' '.join(command):22s} {min(times):6.2f} s = {min(times) / base_t:.2f}x {baseline}; "
              f"peak RSS {rss:6.0f} MiB = {rss * 2**20 / size:.2f}x the file; "
              f"output {'+' if growth >= 0 else ''}{growth} bytes")
    os.unlink(work)


def bench_jsonl_big_integer_check(count: int, repeat: int) -> None:
    """Redaction of JSONL records whose config holds long floats, old check vs new."""
    from procrecord.bulk import jsoncodec
    from procrecord.bulk.engine import tune_gc
    from procrecord.bulk.loader import parse
    from procrecord.operations.redaction import redact

    old_digits = bytes(0x30 if 0x30 <= b <= 0x39 else 0x20 for b in range(256))

    def old_check(data: bytes) -> bool:  # what may_hold_big_integer did before
        return b"0" * 19 in data.translate(old_digits)

    base = json.loads((ROOT / "fixtures" / "1.0" / "valid" / "gpu-training.json").read_text())
    rng = random.Random(1)
    lines = []
    for i in range(count):
        record = dict(base, id=f"00000000-0000-4000-8000-{i:012d}")
        record["extra"] = {"scores": [rng.random() / 100 for _ in range(8)]}
        lines.append(json.dumps(record).encode())
    tune_gc()

    def run() -> float:
        start = time.perf_counter()
        for n, line in enumerate(lines):
            item = parse(line, "x.jsonl", n + 1, True, exact=True)
            jsoncodec.dumps(redact(item.record, "most"))
        return time.perf_counter() - start

    new_check = jsoncodec.may_hold_big_integer
    results = {"old": [], "new": []}
    for _ in range(repeat):
        for name, check in (("old", old_check), ("new", new_check)):
            jsoncodec.may_hold_big_integer = check
            results[name].append(run())
    jsoncodec.may_hold_big_integer = new_check
    triggered = sum(old_check(line) for line in lines) / count
    old, new = min(results["old"]), min(results["new"])
    print(f"JSONL redaction of {count} records with long floats (old check triggers for {triggered:.0%}): "
          f"old {old:.2f} s, new {new:.2f} s: old/new = {old / new:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=250)
    parser.add_argument("--nan-mb", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--jsonl-records", type=int, default=5000)
    parser.add_argument("--before", default=None, metavar="DIR")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    print(environment())
    bench_jsonl_big_integer_check(args.jsonl_records, args.repeat + 1)
    big = DATA / f"kwcoco-{args.mb}mb.kwcoco.json"
    make_kwcoco(big, args.mb)
    bench_file(big, "orjson", args.repeat)
    if args.before:
        bench_before(big, args.before)
    nan = DATA / f"pxl-nan-{args.nan_mb}mb.json"
    make_kwcoco(nan, args.nan_mb, nan=True)
    bench_file(nan, "json", args.repeat)
    if args.before:
        print("  (before: a file with NaN was refused as invalid JSON)")


if __name__ == "__main__":
    main()
