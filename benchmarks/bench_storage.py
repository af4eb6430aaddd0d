"""Object storage and Dask: executors, S3 throughput from moto's server, client RSS vs record count.

    .venv/bin/python benchmarks/bench_storage.py [--records 100000] [--objects 60] [--big-mb 200]
    .venv/bin/python benchmarks/bench_storage.py --quick        # S3 part only, about a minute

1. ``validate`` of ``--records`` records in 100 JSONL files: ``--executor dask`` with 1 and 2 workers
   (LocalCluster start-up included: that is what a user waits for) vs ``--jobs 2`` and ``--jobs 1``.
2. ``validate s3://...`` of ``--objects`` and 4x as many JSONL objects on moto's S3 server vs plain
   s3fs reading the same objects (one listing, then ``cat_file`` one by one, or one concurrent
   ``cat``), vs itself with the fetcher process off (objects read in the validating process), and vs
   ``validate`` of the same files on local disk (what the records' parsing and validation cost with no
   object storage at all: the floor of any storage path), each in a fresh process, interleaved, in the
   same run; then the same for ``--small-objects`` objects of one record each, where moto's cost per
   object, not the records' validation, sets the pace.
3. Peak RSS of the client (``validate s3://...``, one process) for 1x and 4x the objects, and for one
   big JSONL object (``--big-mb``) next to one small one.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import DATA, ROOT, best_interleaved, child_peak_rss_mb, environment, procrecord_cmd, write_jsonl


def _compile_package() -> None:
    """Byte-compile procrecord once, as ``pip install`` does for a user: where PYTHONDONTWRITEBYTECODE
    is set (as on the shared machine) every CLI process would otherwise compile procrecord's modules
    from source, while the libraries it is compared with load theirs compiled."""
    import compileall

    compileall.compile_dir(str(ROOT / "procrecord"), quiet=1)


def _split(source: Path, folder: Path, files: int) -> Path:
    """``source``'s lines spread over ``files`` JSONL files in ``folder`` (reused when there)."""
    if folder.exists() and len(list(folder.glob("*.jsonl"))) == files:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    lines = source.read_bytes().splitlines(keepends=True)
    per = -(-len(lines) // files)
    for index in range(files):
        (folder / f"part-{index:04d}.jsonl").write_bytes(b"".join(lines[index * per:(index + 1) * per]))
    return folder


def _time(cmd: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
                          env={**os.environ, **(env or {})})
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{cmd} failed: {proc.stderr.decode()[-800:]}")
    return time.perf_counter() - start


def engines(records: int, repeat: int) -> None:
    folder = _split(write_jsonl(DATA / f"records-{records}.jsonl", records), DATA / f"split-{records}", 100)
    cli = [*procrecord_cmd(), "validate"]
    runs = {
        "jobs 1": (cli + ["--jobs", "1", str(folder)], None),
        "jobs 2": (cli + ["--jobs", "2", str(folder)], None),
        "dask 1 worker": (cli + ["--executor", "dask", str(folder)], {"PROCRECORD_DASK_WORKERS": "1"}),
        "dask 2 workers": (cli + ["--executor", "dask", str(folder)], {"PROCRECORD_DASK_WORKERS": "2"}),
    }
    best = {name: min(_time(cmd, env) for _ in range(repeat)) for name, (cmd, env) in runs.items()}
    print(f"\n## executors: validate {records} records in 100 JSONL files (best of {repeat})")
    for name, seconds in best.items():
        print(f"{name:>15}: {seconds:7.2f} s  {records / seconds:9.0f} records/s")
    print(f"dask 2 workers vs 1 worker: {best['dask 1 worker'] / best['dask 2 workers']:.2f}x (goal >= 1.5x)")
    print(f"dask 2 workers vs --jobs 2: {best['dask 2 workers'] / best['jobs 2']:.2f}x the time (goal <= 1.15)")


def _moto() -> tuple[object, str]:
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    return server, f"http://127.0.0.1:{port}"


#: Plain s3fs, as a user would read the same objects: list the prefix once, then read every object,
#: one after the other ("sequential") or all in one concurrent ``cat`` ("concurrent"). Run as a
#: script in a fresh interpreter, like the CLI, so both sides pay for start-up and imports.
_PLAIN = """
import sys, s3fs
fs = s3fs.S3FileSystem(endpoint_url=sys.argv[1])
keys = sorted(fs.find(sys.argv[2]))
if sys.argv[3] == "sequential":
    total = sum(len(fs.cat_file(key)) for key in keys)
else:
    total = sum(len(data) for data in fs.cat(keys).values())
assert total > 0
"""


#: The CLI with the fetcher process switched off: objects are read on s3fs's event loop in the
#: process that validates them (as before the fetcher, and wherever it cannot be forked).
_IN_PROCESS = """
import sys
from procrecord.bulk import fetcher
fetcher.ENABLED = False
from procrecord.cli import main
sys.argv[0] = "procrecord"
main()
"""


def s3(objects: int, per_object: int, repeat: int, big_mb: int, small_objects: int) -> None:
    import tempfile

    import s3fs

    os.environ.update(AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1")
    source = write_jsonl(DATA / "records-10000.jsonl", 10_000).read_bytes().splitlines(keepends=True)
    body = b"".join(source[:per_object])
    local = Path(tempfile.mkdtemp(prefix="bench-storage-"))
    server, endpoint = _moto()
    try:
        fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
        fs.mkdir("bench")
        cases = [(count, per_object, body) for count in (objects, 4 * objects)]
        if small_objects:
            cases.append((small_objects, 1, source[0]))
        for count, each, data in cases:
            objects_ = {f"bench/n{count}x{each}/o{index:05d}.jsonl": data for index in range(count)}
            fs.pipe(objects_)
            for key in objects_:
                (local / key).parent.mkdir(parents=True, exist_ok=True)
                (local / key).write_bytes(data)
        option = ["--storage-option", f"endpoint_url={endpoint}"]
        for count, each, data in cases:
            prefix = f"bench/n{count}x{each}"
            runs = {
                "plain s3fs, sequential cat_file": [sys.executable, "-c", _PLAIN, endpoint, prefix, "sequential"],
                "plain s3fs, concurrent cat": [sys.executable, "-c", _PLAIN, endpoint, prefix, "concurrent"],
                "procrecord validate": [*procrecord_cmd(), "validate", f"s3://{prefix}", *option],
                "the same, no fetcher process": [sys.executable, "-c", _IN_PROCESS, "validate", f"s3://{prefix}",
                                                 *option],
                "validate, the same as local files": [*procrecord_cmd(), "validate", str(local / prefix)],
            }
            best = best_interleaved({name: (lambda cmd=cmd: _time(cmd)) for name, cmd in runs.items()}, repeat)
            total = count * each
            print(f"\n## moto S3: {count} JSONL objects of {each} records ({len(data) / 1e6:.2f} MB each), "
                  f"fresh process each, best of {repeat} interleaved")
            for name, seconds in best.items():
                print(f"{name:>34}: {seconds:6.2f} s {total / seconds:9.0f} records/s ({count / seconds:6.1f} objects/s)")
            ours = best["procrecord validate"]
            for name in list(runs)[:2]:
                ratio = best[name] / ours
                print(f"GOAL ({count} objects) procrecord validate vs {name}: {ratio:.0%} of its throughput "
                      f"(goal >= 70%: {'met' if ratio >= 0.7 else 'NOT met'})")
            print(f"fetcher process: {best['the same, no fetcher process'] / ours:.2f}x the throughput of reading "
                  "in the validating process")
            print(f"object storage vs local files: {best['validate, the same as local files'] / ours:.0%} of the "
                  "throughput of validating the same records from local disk")
        small = child_peak_rss_mb([*procrecord_cmd(), "validate", f"s3://bench/n{objects}x{per_object}", *option])
        large = child_peak_rss_mb([*procrecord_cmd(), "validate", f"s3://bench/n{4 * objects}x{per_object}",
                                   *option])
        print(f"\n## client peak RSS: {objects * per_object} records {small:.0f} MB, "
              f"{4 * objects * per_object} records {large:.0f} MB ({large / small:.2f}x for 4x the records)")
        if big_mb:
            lines = -(-big_mb * 1_000_000 // len(body)) * per_object
            with fs.open("bench/big/one.jsonl", "wb") as out:
                for _ in range(lines // per_object):
                    out.write(body)
            one = child_peak_rss_mb([*procrecord_cmd(), "validate", f"s3://bench/n{objects}x{per_object}/o00000.jsonl",
                                     *option])
            big = child_peak_rss_mb([*procrecord_cmd(), "validate", "s3://bench/big/one.jsonl", *option])
            size = fs.size("bench/big/one.jsonl")
            print(f"## one JSONL object of {size / 1e6:.0f} MB ({lines} records): client peak RSS {big:.0f} MB "
                  f"(one {len(body) / 1e6:.1f} MB object: {one:.0f} MB)")
    finally:
        server.stop()
        shutil.rmtree(local, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--objects", type=int, default=60)
    parser.add_argument("--per-object", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--skip-engines", action="store_true")
    parser.add_argument("--skip-s3", action="store_true")
    parser.add_argument("--big-mb", type=int, default=200, help="size of one big JSONL object (0: none)")
    parser.add_argument("--small-objects", type=int, default=300,
                        help="objects of one record each, the case moto's cost per object dominates (0: none)")
    parser.add_argument("--quick", action="store_true", help="S3 only, 30 objects, a 50 MB big object, best of 2")
    args = parser.parse_args()
    if args.quick:
        args.objects, args.repeat, args.big_mb, args.skip_engines = 30, 2, 50, True
    print(f"# bench_storage ({environment()}; load average {os.getloadavg()[0]:.1f})")
    _compile_package()
    if not args.skip_s3:
        s3(args.objects, args.per_object, max(args.repeat, 2), args.big_mb, args.small_objects)
    if not args.skip_engines:
        engines(args.records, args.repeat)


if __name__ == "__main__":
    main()
