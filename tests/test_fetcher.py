"""Object storage read by a fetcher process (procrecord.bulk.fetcher) against a real S3 API.

A fetcher is forked only by a process with no other thread, and this test process runs moto's server
in a thread. So every run here is a fresh interpreter (``_DRIVER``) that runs the CLI in-process with
the fetcher on or off, and reports what it printed and wrote and how its objects were read.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import moto_s3, valid_fixtures

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")

#: Runs ``procrecord ARGS`` in this fresh process; prints a JSON summary on its last line.
_DRIVER = r"""
import json, os, signal, sys
spec = json.loads(sys.argv[1])
from click.testing import CliRunner
from procrecord.bulk import fetcher, objectio
from procrecord.cli import cli

fetcher.ENABLED = spec["fetch"]
if spec.get("ahead_max") is not None:
    objectio.AHEAD_MAX_OBJECT = spec["ahead_max"]
if spec.get("hand_over") is not None:
    fetcher.HAND_OVER, fetcher.IN_FLIGHT = spec["hand_over"], spec["in_flight"]
counts = {"fetchers": 0, "fetched": 0, "parent_reads": 0, "handed": 0}
init, take, read_whole = fetcher.Fetcher.__init__, fetcher.Fetcher.take, objectio.read_whole
take_handed = fetcher._take_handed

def counting_take_handed(conn, size):
    counts["handed"] += 1
    return take_handed(conn, size)

fetcher._take_handed = counting_take_handed

def counting_init(self):
    counts["fetchers"] += 1
    init(self)

def counting_take(self, ahead, url):
    data = take(self, ahead, url)
    if data is not None:
        counts["fetched"] += 1
        if counts["fetched"] == spec.get("kill_after"):
            os.kill(self._process.pid, signal.SIGKILL)  # the fetcher dies mid-run
            self._process.join()
    return data

def counting_read(fs, path):
    counts["parent_reads"] += 1  # what the parent reads by itself, one object at a time (its
    # read-ahead reads on s3fs's event loop instead)
    return read_whole(fs, path)

fetcher.Fetcher.__init__, fetcher.Fetcher.take, objectio.read_whole = counting_init, counting_take, counting_read
if spec.get("denied"):
    import s3fs
    real = s3fs.S3FileSystem._cat_file

    async def denied(self, path, *args, **kwargs):
        if spec["denied"] in path:
            raise PermissionError(13, "Access Denied", path)
        return await real(self, path, *args, **kwargs)

    s3fs.S3FileSystem._cat_file = denied  # before any fork: the fetcher has it too
if spec.get("child_survey_fails"):
    from procrecord.bulk import storage
    real_survey, me = storage.survey, os.getpid()

    def failing(source, *args):
        if os.getpid() != me and spec["child_survey_fails"] in source:
            raise RuntimeError("an unexpected failure in the fetcher")
        return real_survey(source, *args)

    storage.survey = failing
if spec.get("memory"):
    import fsspec
    fsspec.filesystem("memory").pipe({url: text.encode() for url, text in spec["memory"].items()})
result = CliRunner().invoke(cli, spec["args"], catch_exceptions=False)
print(json.dumps({"exit": result.exit_code, "output": result.output, **counts}))
"""


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server, in a thread of this test process."""
    with moto_s3() as url:
        yield url


_KEYS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture()
def bucket(endpoint, request, monkeypatch):
    """A fresh bucket named after the test: 12 JSONL objects of valid records, one of broken JSON, one
    JSON record, one JSONL object of 60 records (bigger than the others), and a second prefix."""
    for key, value in _KEYS.items():
        monkeypatch.setenv(key, value)
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    name = "f-" + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50]
    fs.mkdir(name)
    records = [json.loads(Path(path).read_text()) for path in valid_fixtures("1.1")[:4]]
    line = b"".join(json.dumps(record).encode() + b"\n" for record in records)
    objects = {f"{name}/runs/o{index:02d}.jsonl": line * 3 for index in range(12)}
    objects[f"{name}/runs/o05.jsonl"] = line + b'{"broken": \n' + line
    objects[f"{name}/runs/one.json"] = json.dumps(records[0], indent=2).encode()
    objects[f"{name}/runs/zbig.jsonl"] = line * 15
    objects[f"{name}/more/p0.jsonl"] = line
    fs.pipe(objects)
    return name


def _drive(endpoint: str, args: list[str], **spec) -> dict:
    env = {**os.environ, **_KEYS}
    command = [sys.executable, "-c", _DRIVER, json.dumps({"args": args, **spec})]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    summary: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return summary


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _both(endpoint: str, tmp_path: Path, args: list[str], **spec) -> tuple[dict, dict]:
    """The same command with the fetcher and without; ``{out}`` in ``args`` is a fresh folder each."""
    runs = []
    for fetch in (True, False):
        out = tmp_path / ("fetched" if fetch else "in-process")
        runs.append(_drive(endpoint, [a.replace("{out}", str(out)) for a in args], fetch=fetch, **spec))
        runs[-1]["tree"] = _tree(out) if out.exists() else {}
    return runs[0], runs[1]


def _option(endpoint: str) -> list[str]:
    return ["--storage-option", f"endpoint_url={endpoint}"]


def test_fetched_run_equals_in_process_run(endpoint, bucket, tmp_path):
    """Two sources (the fetcher serves both, one after the other), a glob, a bad object and a JSON
    record: the report, the exit code and every output byte are those of the in-process run."""
    args = ["redact", "--level", "most", "-o", "{out}", f"s3://{bucket}/runs", f"s3://{bucket}/more/*.jsonl",
            *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, args)
    assert fetched["fetchers"] == 1 and alone["fetchers"] == 0
    assert fetched["fetched"] == 15 and fetched["parent_reads"] == 0  # 14 objects under runs/, 1 under more/
    assert alone["fetched"] == 0
    assert fetched["exit"] == alone["exit"] == 1  # the broken line
    assert fetched["output"] == alone["output"] and "o05.jsonl:5" in fetched["output"]
    assert fetched["tree"] == alone["tree"] and len(fetched["tree"]) == 14  # o05 is not written: it has an error

    report = ["validate", "--format", "json", f"s3://{bucket}/runs", *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, report)
    assert fetched["output"] == alone["output"] and fetched["fetched"] == 14


def test_in_place_on_s3_through_the_fetcher_equals_in_process(endpoint, bucket):
    """--in-place with the fetcher: the same objects rewritten with the same bytes (the ETags it listed
    guard each PUT), the same report."""
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    for prefix in ("a", "b"):
        fs.copy(f"{bucket}/runs", f"{bucket}/{prefix}", recursive=True)
    fetched = _drive(endpoint, ["redact", "--level", "most", "--in-place", f"s3://{bucket}/a", *_option(endpoint)],
                     fetch=True)
    alone = _drive(endpoint, ["redact", "--level", "most", "--in-place", f"s3://{bucket}/b", *_option(endpoint)],
                   fetch=False)
    assert fetched["fetched"] == 14 and alone["fetched"] == 0
    assert fetched["output"].replace(f"{bucket}/a/", "X/") == alone["output"].replace(f"{bucket}/b/", "X/")
    fs.invalidate_cache()
    names = sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{bucket}/a"))
    assert names == sorted(p.rsplit("/", 1)[1] for p in fs.find(f"{bucket}/b")) and len(names) == 14
    assert all(fs.cat_file(f"{bucket}/a/{n}") == fs.cat_file(f"{bucket}/b/{n}") for n in names)
    assert fs.cat_file(f"{bucket}/a/o00.jsonl") != fs.cat_file(f"{bucket}/runs/o00.jsonl")  # it was rewritten


def test_objects_a_task_does_not_read_whole_are_not_fetched(endpoint, bucket, tmp_path):
    """An object streamed in blocks (over the read-ahead size) is read by its task; one over
    --max-bytes is refused unread; the stream skips both and the findings are the same."""
    args = ["validate", "--max-bytes", "9000", f"s3://{bucket}/runs", *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, args, ahead_max=100_000)
    assert fetched["output"] == alone["output"] and fetched["exit"] == alone["exit"] == 1
    assert "one.json:: error: file is over the limit of 9000 bytes" in fetched["output"]
    assert fetched["fetched"] == 12 and fetched["parent_reads"] == 0  # zbig.jsonl streamed, one.json refused


def test_a_fetcher_killed_mid_run_loses_nothing(endpoint, bucket, tmp_path):
    """The parent reads what the dead fetcher did not send: same report, same outputs."""
    args = ["redact", "--level", "most", "-o", "{out}", f"s3://{bucket}/runs", f"s3://{bucket}/more",
            *_option(endpoint)]
    killed = _drive(endpoint, [a.replace("{out}", str(tmp_path / "killed")) for a in args], fetch=True, kill_after=3)
    alone = _drive(endpoint, [a.replace("{out}", str(tmp_path / "alone")) for a in args], fetch=False)
    assert killed["output"] == alone["output"] and killed["exit"] == alone["exit"]
    assert _tree(tmp_path / "killed") == _tree(tmp_path / "alone")
    # runs/ (14 objects): what the fetcher sent before it died, the rest read by the parent one by one;
    # more/ is listed and read ahead by the parent itself (a dead fetcher is never asked again).
    assert killed["fetched"] >= 3 and killed["parent_reads"] >= 1
    assert killed["fetched"] + killed["parent_reads"] == 14


def test_objects_handed_over_in_memory_files_equal_in_process(endpoint, bucket, tmp_path):
    """Every object handed over in an in-memory file, one in flight at a time (the fetcher waits for
    each ``took``), over two sources: the same report and outputs as the in-process run; a fetcher
    killed after three hand-overs still loses nothing."""
    args = ["redact", "--level", "most", "-o", "{out}", f"s3://{bucket}/runs", f"s3://{bucket}/more",
            *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, args, hand_over=1, in_flight=1)
    assert fetched["handed"] == fetched["fetched"] == 15 and fetched["parent_reads"] == 0
    assert fetched["output"] == alone["output"] and fetched["exit"] == alone["exit"] == 1
    assert fetched["tree"] == alone["tree"] and len(fetched["tree"]) == 14

    killed = _drive(endpoint, [a.replace("{out}", str(tmp_path / "killed")) for a in args], fetch=True,
                    kill_after=3, hand_over=1, in_flight=1 << 20)
    assert killed["output"] == alone["output"] and _tree(tmp_path / "killed") == alone["tree"]
    assert killed["handed"] >= 3 and killed["fetched"] + killed["parent_reads"] == 14


def test_hand_overs_wait_for_the_parent_and_stop_on_request(monkeypatch):
    """The fetcher's side alone, in this process (``memory://`` objects, a real pipe): no more than
    IN_FLIGHT bytes of handed-over objects wait for the parent, and a stop ends a waiting stream."""
    import multiprocessing
    import threading

    import fsspec

    from procrecord.bulk import fetcher

    monkeypatch.setattr(fetcher, "HAND_OVER", 1)
    monkeypatch.setattr(fetcher, "IN_FLIGHT", 150)  # one 100-byte object at a time
    fsspec.filesystem("memory").pipe({f"memory://hand/o{i}.json": bytes([48 + i]) * 100 for i in range(4)})
    urls = [f"memory://hand/o{i}.json" for i in range(4)]
    here, there = multiprocessing.Pipe()
    worker = threading.Thread(target=fetcher._read, args=(there, 7, urls, [100] * 4, {}, os.getpid()))
    worker.start()
    try:
        assert here.recv() == ("object-fd", urls[0], 100, None)
        assert fetcher._take_handed(here, 100) == b"0" * 100
        assert not here.poll(0.5)  # the second waits for the first's answer
        here.send(("took", 6, 100))  # an answer for another stream counts for nothing
        assert not here.poll(0.3)
        here.send(("took", 7, 100))
        assert here.recv() == ("object-fd", urls[1], 100, None)
        assert fetcher._take_handed(here, 100) == b"1" * 100
        assert not here.poll(0.3)
        here.send(("stop", 7))  # while the third waits
        assert [here.recv(), here.recv()] == [("end", 7), ("stopped", 7)]
    finally:
        worker.join(10)
    assert not worker.is_alive()


def _memory_files() -> int:
    """In-memory files of the fetcher's open in this process."""
    count = 0
    for name in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            count += os.readlink(f"/proc/self/fd/{name}").startswith("/memfd:procrecord-object")
    return count


@pytest.mark.skipif(not hasattr(os, "memfd_create"), reason="in-memory files are Linux's")
def test_an_in_memory_file_the_parent_took_is_used_again(monkeypatch):
    """The fetcher's side alone, in this process: once the parent has taken an object, its in-memory
    file carries the next one (only that object's bytes are read back, not what the file held before);
    a file is never reused before its ``took``, and none stays open once the stream has ended."""
    import multiprocessing
    import threading
    from multiprocessing import reduction

    import fsspec

    from procrecord.bulk import fetcher

    monkeypatch.setattr(fetcher, "HAND_OVER", 1)
    monkeypatch.setattr(fetcher, "IN_FLIGHT", 350)  # the 300-byte object, then the 100-byte one waits
    sizes = [300, 100, 200]
    urls = [f"memory://again/o{i}.json" for i in range(3)]
    fsspec.filesystem("memory").pipe({url: bytes([97 + i]) * size for i, (url, size) in enumerate(zip(urls, sizes))})
    before = _memory_files()
    here, there = multiprocessing.Pipe()
    worker = threading.Thread(target=fetcher._read, args=(there, 8, urls, sizes, {}, os.getpid()))
    worker.start()
    files = []
    try:
        for index, size in enumerate(sizes):
            assert here.recv() == ("object-fd", urls[index], size, None)
            handle = reduction.recv_handle(here)
            try:
                files.append(os.fstat(handle).st_ino)
                assert os.pread(handle, 1000, 0)[:size] == bytes([97 + index]) * size
            finally:
                os.close(handle)
            if index == 0:
                assert not here.poll(0.3)  # the second waits for the first's answer
                here.send(("took", 8, size))
        assert here.recv() == ("end", 8)
    finally:
        worker.join(10)
    assert not worker.is_alive()
    # The second object went into the first's file; the third, sent before the second was taken, into a new one.
    assert files[1] == files[0] and files[2] != files[0]
    assert _memory_files() == before


def test_unreadable_object_in_the_fetcher_is_the_same_finding(endpoint, bucket, tmp_path):
    args = ["validate", f"s3://{bucket}/runs", f"s3://{bucket}/nobucket-here/x", "s3://no-such-bucket-x1/a",
            *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, args, denied="o07")
    assert fetched["output"] == alone["output"] and fetched["exit"] == alone["exit"] == 1
    assert "o07.jsonl:: error: access denied" in fetched["output"]
    assert "no-such-bucket-x1/a:: error: no such object or bucket" in fetched["output"]


def test_memory_objects_are_read_in_this_process_beside_a_fetcher(endpoint, bucket, tmp_path):
    """A ``memory://`` object lives in the process that wrote it: once a fetcher runs for the S3
    source, the memory source after it is still listed and read here."""
    record = Path(valid_fixtures("1.1")[1]).read_text()
    args = ["validate", f"s3://{bucket}/more", "memory://m/runs", *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, args, memory={"memory://m/runs/a.json": record})
    assert fetched["fetchers"] == 1 and fetched["fetched"] == 1  # more/p0.jsonl only
    assert fetched["output"] == alone["output"] and fetched["exit"] == alone["exit"] == 0
    assert "5 records from 2 sources: 5 valid" in fetched["output"]


def test_a_listing_that_fails_in_the_fetcher_is_made_here(endpoint, bucket, tmp_path):
    """An unexpected failure while the fetcher lists a source: this process lists and reads that
    source itself, and the fetcher still serves the next one."""
    args = ["validate", f"s3://{bucket}/more", f"s3://{bucket}/runs", *_option(endpoint)]
    fetched, alone = _both(endpoint, tmp_path, args, child_survey_fails="/more")
    assert fetched["output"] == alone["output"] and fetched["exit"] == alone["exit"] == 1
    assert fetched["fetchers"] == 1 and fetched["fetched"] == 14  # runs/ only: more/ was read here


def test_no_fetcher_for_a_pool_or_where_forking_is_unsafe(endpoint, bucket, tmp_path):
    """--jobs 2: the workers read their own objects; the client starts no fetcher (it would read
    every object once more, for no task) and reads nothing itself."""
    pooled = _drive(endpoint, ["validate", "--jobs", "2", f"s3://{bucket}/runs", *_option(endpoint)], fetch=True)
    assert pooled["fetchers"] == 0 and pooled["parent_reads"] == 0 and pooled["exit"] == 1


def test_fetcher_only_for_remote_urls_and_where_forking_is_safe(monkeypatch):
    import threading

    from procrecord.bulk import fetcher, forking

    assert fetcher.remote("s3://bucket/prefix") and fetcher.remote("gs://b/x.jsonl")
    for local in ("memory://x/y", "file:///tmp/x", "simplecache::s3://b/x"):
        assert not fetcher.remote(local), local
    monkeypatch.setattr(fetcher.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(forking.sys, "platform", "linux")
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    assert fetcher.forkable()
    monkeypatch.setattr(threading, "active_count", lambda: 2)
    assert not fetcher.forkable()
    monkeypatch.setattr(threading, "active_count", lambda: 1)
    monkeypatch.setattr(fetcher.os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert not fetcher.forkable()  # one core: nothing to gain
    monkeypatch.setattr(fetcher.os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    monkeypatch.setattr(forking.sys, "platform", "darwin")
    assert not fetcher.forkable()


def test_a_fetcher_that_cannot_start_is_not_a_failure(monkeypatch):
    from procrecord.bulk import fetcher

    def refused(self):
        raise OSError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(fetcher.Fetcher, "__init__", refused)
    assert fetcher.start() is None
