"""``procrecord.atomic.Batch``: many files written by worker threads, their data on disk before any rename."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from procrecord import atomic
from procrecord.bulk.output import Sink


@pytest.fixture
def events(monkeypatch):
    """Record, in order, each data sync (with the temp files it covers) and each rename."""
    seen: list[tuple[str, object]] = []
    sync, replace = atomic._sync_data, os.replace

    def spy_sync(paths):
        seen.append(("sync", sorted(paths)))
        sync(paths)

    def spy_replace(src, dst, *args, **kwargs):
        seen.append(("rename", os.fspath(src)))
        replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(atomic, "_sync_data", spy_sync)
    monkeypatch.setattr(atomic.os, "replace", spy_replace)
    return seen


def test_worker_threads_write_the_files_and_every_rename_follows_the_data_sync(tmp_path, events, monkeypatch):
    makers: set[str] = set()
    real = atomic._written

    def spy(*args):
        makers.add(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(atomic, "_written", spy)
    (tmp_path / "old.json").write_bytes(b"old")
    batch = atomic.Batch(workers=4)
    names = ["old.json", *(f"f{i}.json" for i in range(19))]
    for i, name in enumerate(names):
        batch.write(str(tmp_path / name), [b"new ", str(i).encode()], key=name)
    results = batch.commit()
    batch.close()
    assert sorted(results) == sorted((name, None) for name in names)
    assert all(maker.startswith("procrecord-write") for maker in makers), makers
    (first, synced), *renames = events
    assert first == "sync" and [kind for kind, _ in renames] == ["rename"] * len(names)
    assert sorted(path for _, path in renames) == synced, "every renamed file's data was synced first"
    assert [(tmp_path / name).read_bytes() for name in names] == [b"new %d" % i for i in range(len(names))]
    assert sorted(os.listdir(tmp_path)) == sorted(names), "no temp file left"


def test_a_file_that_cannot_be_created_is_its_own_finding(tmp_path, events):
    batch = atomic.Batch(workers=2)
    batch.write(str(tmp_path / "missing" / "a.json"), [b"x"], key="a")
    batch.write(str(tmp_path / "b.json"), [b"y"], key="b")
    results = dict(batch.commit())
    batch.close()
    assert isinstance(results["a"], FileNotFoundError) and results["a"].filename.endswith("a.json")
    assert results["b"] is None and (tmp_path / "b.json").read_bytes() == b"y"


def test_in_place_sink_replaces_nothing_before_the_data_of_the_batch_is_synced(tmp_path, events):
    """--in-place: the new data of every file of a batch is on disk before any original is replaced."""
    from procrecord.bulk.engine import Block

    sources = []
    for i in range(12):
        path = tmp_path / f"r{i}.json"
        path.write_bytes(b"original %d" % i)
        sources.append(str(path))
    sink = Sink([str(tmp_path)], in_place=True)
    for i, source in enumerate(sources):
        sink.add(Block(source, b"redacted %d" % i, True, {}, identity=atomic.identity(os.stat(source))))
        sink.done(source)
    sink.close()
    assert sink.failures == [] and sorted(sink.written) == sorted(sources)
    kinds = [kind for kind, _ in events]
    assert kinds == ["sync"] + ["rename"] * len(sources)
    assert [Path(s).read_bytes() for s in sources] == [b"redacted %d" % i for i in range(len(sources))]
