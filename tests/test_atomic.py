"""``procrecord.atomic.Batch``: many files written by worker threads, their data on disk before any rename."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from procrecord import atomic
from procrecord.bulk.output import Sink

from helpers import spy_stat


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


# -- issue 15: fewer system calls per output file -----------------------------------------------------

def test_temp_names_in_one_process_differ_without_a_system_call_each(tmp_path, monkeypatch):
    atomic.temp_name(tmp_path / "a.json")  # the process's random part, made once

    def forbidden(*args):
        raise AssertionError("a system call for each temp name")

    monkeypatch.setattr(os, "urandom", forbidden)
    monkeypatch.setattr(os, "getpid", forbidden)
    names = {atomic.temp_name(tmp_path / "a.json") for _ in range(1000)}
    assert len(names) == 1000
    assert all(atomic._STALE.match(os.path.basename(name)) for name in names), "later runs must recognise them"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_names_its_temp_files_after_itself(tmp_path):
    parent = os.path.basename(atomic.temp_name(tmp_path / "a.json"))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its name and leave at once
        os.write(write, os.path.basename(atomic.temp_name(tmp_path / "a.json")).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    assert f"-{pid}-" in child and f"-{os.getpid()}-" in parent
    assert child.rsplit("-", 1)[1][:8] != parent.rsplit("-", 1)[1][:8], "the child reuses its parent's random part"


@pytest.fixture
def stats(monkeypatch):
    """The paths ``os.stat`` was asked about by procrecord.atomic."""
    return spy_stat(monkeypatch, atomic)


def test_a_target_known_to_be_new_is_not_looked_up(tmp_path, stats):
    target = tmp_path / "new.json"
    file = atomic.AtomicFile(target, 0o640, fresh=True)
    file.write(b"{}")
    file.commit()
    assert str(target) not in stats
    assert target.read_bytes() == b"{}" and target.stat().st_mode & 0o777 == 0o640


def test_a_checked_replacement_keeps_the_mode_the_file_has_when_it_is_replaced(tmp_path, stats, monkeypatch):
    target = tmp_path / "old.json"
    target.write_bytes(b"old")
    target.chmod(0o640)
    file = atomic.AtomicFile(target, None, atomic.identity(os.stat(target)))
    assert stats == [str(target)], "only the test's own stat: the check at the rename looks at the file"
    target.chmod(0o604)  # meanwhile (the file's identity, and so the check, does not change)
    file.write(b"new")
    file.commit()
    assert target.read_bytes() == b"new" and target.stat().st_mode & 0o777 == 0o604


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o200, 0o4755])
def test_a_batch_gives_each_file_exactly_the_mode_asked_for(tmp_path, mode):
    batch = atomic.Batch(workers=0)
    for i in range(5):  # enough for one syncfs, which opens a temp file again
        batch.write(str(tmp_path / f"f{i}.json"), [b"{}"], key=i, mode=mode, fresh=True)
    results = batch.commit()
    batch.close()
    assert [error for _, error in results] == [None] * 5
    assert {(tmp_path / f"f{i}.json").stat().st_mode & 0o7777 for i in range(5)} == {mode}


def test_a_temp_file_is_never_wider_than_the_file_it_becomes(tmp_path, monkeypatch):
    created: list[int] = []
    real = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        if flags & os.O_CREAT:
            created.append(mode)
        return real(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(atomic.os, "open", spy)
    for i, mode in enumerate([0o640, 0o600, 0o200]):
        atomic.AtomicFile(tmp_path / f"f{i}.json", mode, fresh=True).discard()
    assert created == [0o640, 0o600, 0o600], "created with its final bits, or readable by its owner only"
