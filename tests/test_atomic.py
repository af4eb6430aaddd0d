"""``procrecord.atomic.Batch``: many files written by worker threads, their data on disk before any rename."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from procrecord import atomic
from procrecord.bulk.output import Sink

from helpers import forking, spy_stat


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


@pytest.fixture
def started(monkeypatch):
    """The kinds of committer (``ProcessPoolExecutor``, ``ThreadPoolExecutor``) sinks start, in order."""
    from procrecord.bulk import output

    kinds: list[str] = []
    make = output._committer

    def spy(process):
        kinds.append(type(made := make(process)).__name__)
        return made

    monkeypatch.setattr(output, "_committer", spy)
    return kinds


@pytest.fixture
def writing_threads(monkeypatch):
    """The names of the threads that create and write temp files (``atomic._written`` spied on)."""
    names: set[str] = set()
    real = atomic._written

    def spy(*args):
        names.add(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(atomic, "_written", spy)
    return names


def test_worker_threads_write_the_files_and_every_rename_follows_the_data_sync(tmp_path, events, writing_threads):
    makers = writing_threads
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


# -- issue 15 (h15f): a whole batch committed by one background thread ----------------------------------

def test_a_deferred_batch_creates_its_temp_files_only_when_committed(tmp_path, events):
    batch = atomic.Batch(defer=True)
    batch.write(str(tmp_path / "a.json"), [b"new ", b"a"], key="a", mode=0o640)
    batch.write(str(tmp_path / "missing" / "b.json"), [b"b"], key="b")
    batch.write(str(tmp_path / "c.json"), [b"c"], key="c", fresh=True)
    assert os.listdir(tmp_path) == [], "nothing is created by write()"
    results = dict(batch.commit())
    assert results["a"] is None and results["c"] is None
    assert isinstance(results["b"], FileNotFoundError) and results["b"].filename.endswith("b.json")
    assert (tmp_path / "a.json").read_bytes() == b"new a" and (tmp_path / "c.json").read_bytes() == b"c"
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o640
    (first, synced), *renames = events
    assert first == "sync" and [kind for kind, _ in renames] == ["rename", "rename"]
    assert sorted(path for _, path in renames) == synced, "every renamed file's data was synced first"
    batch.write(str(tmp_path / "d.json"), [b"d"], key="d")
    batch.close()  # a deferred file not committed was never created
    assert sorted(os.listdir(tmp_path)) == ["a.json", "c.json"]


def _blocks(tmp_path, count):
    from procrecord.bulk.engine import Block

    sources = []
    for i in range(count):
        path = tmp_path / "in" / f"r{i:02d}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"original %d" % i)
        sources.append(str(path))
    return sources, [Block(s, b"redacted %d" % i, True, {}) for i, s in enumerate(sources)]


def _through_sink(tmp_path, count: int) -> tuple[Sink, list[str]]:
    """``count`` files redacted into ``out/`` by a Sink, closed: the sink and the sources."""
    sources, blocks = _blocks(tmp_path, count)
    sink = Sink([str(tmp_path / "in")], str(tmp_path / "out"))
    for source, block in zip(sources, blocks):
        sink.add(block)
        sink.done(source)
    sink.close()
    return sink, sources


@pytest.mark.parametrize("committer", ["process", "thread", "main"])
def test_sink_batches_are_committed_in_the_background_with_the_same_results(tmp_path, events, monkeypatch, committer,
                                                                           writing_threads, started):
    """Each full batch goes to one committer (a forked process on Linux, else a thread) while the
    next is made, and the last one is committed by the main thread; ``close`` returns once every file
    is in place, with :attr:`written` in input order, exactly as when the main thread commits all."""
    if committer == "process":
        forking(monkeypatch)
    monkeypatch.setattr(Sink, "BATCH_FILES", 4)
    monkeypatch.setattr(Sink, "BACKGROUND", committer != "main")
    monkeypatch.setattr(Sink, "PROCESS", committer == "process")
    sink, sources = _through_sink(tmp_path, 10)
    assert sink.failures == [] and sink.written == sources
    out = tmp_path / "out"
    assert sorted(os.listdir(out)) == [f"r{i:02d}.json" for i in range(10)], "every file there, no temp file"
    assert [(out / f"r{i:02d}.json").read_bytes() for i in range(10)] == [b"redacted %d" % i for i in range(10)]
    main = threading.current_thread().name
    if committer == "main":
        assert started == [] and writing_threads == {main}
        assert [kind for kind, _ in events] == ["sync", *["rename"] * 4, "sync", *["rename"] * 4, "sync", *["rename"] * 2]
        return
    if committer == "process":
        # The process's own calls are not seen here: only the last batch's, made in this thread.
        assert started == ["ProcessPoolExecutor"] and writing_threads == {main}
        assert [kind for kind, _ in events] == ["sync", "rename", "rename"]
        return
    assert started == ["ThreadPoolExecutor"] and writing_threads == {"procrecord-commit_0", main}
    synced: set[str] = set()
    for kind, what in events:  # batches may overlap; within each, the data sync comes before its renames
        if kind == "sync":
            synced.update(what)
        else:
            assert what in synced, f"{what} renamed before its data was synced"
    assert [kind for kind, _ in events].count("sync") == 3
    assert threading.active_count() == 1 or "procrecord-commit_0" not in {t.name for t in threading.enumerate()}


@pytest.mark.parametrize("process", [True, False])
def test_a_failed_sync_in_the_background_fails_its_batch_and_replaces_nothing(tmp_path, monkeypatch, process):
    """The second batch's data sync fails (in the committing process or thread): none of its files
    replaces anything, and the batches before and after it are committed."""
    monkeypatch.setattr(Sink, "BATCH_FILES", 4)
    monkeypatch.setattr(Sink, "PROCESS", process)
    if process:
        forking(monkeypatch)
    real = atomic._sync_data

    def failing(paths):
        if any(os.path.basename(path).startswith(".r04.json") for path in paths):
            raise OSError(5, "Input/output error")
        real(paths)

    monkeypatch.setattr(atomic, "_sync_data", failing)
    sink, sources = _through_sink(tmp_path, 10)
    assert sink.written == sources[:4] + sources[8:]
    assert [source for source, _ in sink.failures] == sources[4:8]
    assert all("Input/output error" in message for _, message in sink.failures)
    assert sorted(os.listdir(tmp_path / "out")) == [f"r{i:02d}.json" for i in (0, 1, 2, 3, 8, 9)], "no temp file left"


def test_an_aborted_sink_waits_for_the_batches_in_the_background(tmp_path, monkeypatch):
    """An interrupted run: the batches handed over are committed before ``abort`` returns."""
    monkeypatch.setattr(Sink, "BATCH_FILES", 3)
    monkeypatch.setattr(Sink, "PROCESS", False)  # the thread waits on this process's event
    release = threading.Event()
    real = atomic._sync_data

    def slow(paths):
        release.wait(5)
        real(paths)

    monkeypatch.setattr(atomic, "_sync_data", slow)
    sources, blocks = _blocks(tmp_path, 7)
    sink = Sink([str(tmp_path / "in")], str(tmp_path / "out"))
    for source, block in zip(sources[:3], blocks[:3]):
        sink.add(block)
        sink.done(source)
    assert sink.written == [], "the first batch is still being committed"
    threading.Timer(0.2, release.set).start()
    for source, block in zip(sources[3:6], blocks[3:6]):
        sink.add(block)
        sink.done(source)
    sink.add(blocks[6])  # a file still being made when the run stops
    sink.abort()
    assert sink.written == sources[:6]
    assert sorted(os.listdir(tmp_path / "out")) == [f"r{i:02d}.json" for i in range(6)], "no temp file left"


def test_a_killed_committing_process_fails_its_batch_and_a_thread_goes_on(tmp_path, monkeypatch, started):
    """The committing process dies (killed, out of memory): the files it had are findings that say
    so, nothing is raised, and the rest of the run is committed by a thread."""
    import signal


    parent = os.getpid()
    real = atomic._sync_data

    def dying(paths):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGKILL)
        real(paths)

    forking(monkeypatch)
    monkeypatch.setattr(atomic, "_sync_data", dying)
    monkeypatch.setattr(Sink, "BATCH_FILES", 3)
    monkeypatch.setattr(Sink, "PROCESS", True)
    sink, sources = _through_sink(tmp_path, 10)
    failed = [source for source, _ in sink.failures]
    assert failed[:3] == sources[:3], "the first batch was the process's"
    assert all("the committing process died" in message for _, message in sink.failures)
    assert sorted(failed + sink.written) == sources and sink.written[-1] == sources[-1]
    assert started[0] == "ProcessPoolExecutor" and started[1:] in ([], ["ThreadPoolExecutor"])
    if started[1:]:  # once the pool knew it was broken, a thread committed what came next
        assert sink.written
    out = tmp_path / "out"
    for source in sink.written:
        name = Path(source).name
        assert (out / name).read_bytes() == b"redacted %d" % int(name[1:3])


def test_write_new_takes_the_first_free_name_and_never_replaces(tmp_path):
    names = [str(tmp_path / f"r{i}.json") for i in range(3)]
    Path(names[0]).write_bytes(b"old")
    assert atomic.write_new(names, b"one") == names[1]
    assert atomic.write_new(names, b"two") == names[2]
    with pytest.raises(FileExistsError):
        atomic.write_new(names, b"three")
    assert [Path(n).read_bytes() for n in names] == [b"old", b"one", b"two"]
    assert sorted(os.listdir(tmp_path)) == ["r0.json", "r1.json", "r2.json"], "no temp file is left"


def test_write_new_where_there_are_no_hard_links(tmp_path, monkeypatch):
    import errno

    def no_links(src, dst):
        raise OSError(errno.EPERM, "Operation not permitted")

    monkeypatch.setattr(atomic.os, "link", no_links)
    names = [str(tmp_path / "a.json"), str(tmp_path / "b.json")]
    Path(names[0]).write_bytes(b"old")
    assert atomic.write_new(names, b"new") == names[1]
    assert Path(names[0]).read_bytes() == b"old" and Path(names[1]).read_bytes() == b"new"
    assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_concurrent_write_new_calls_never_share_a_name(tmp_path):
    names = [str(tmp_path / f"r{i}.json") for i in range(8)]
    got: list[str] = []
    threads = [threading.Thread(target=lambda i=i: got.append(atomic.write_new(names, b"%d" % i))) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(got) == sorted(names)
    assert sorted(Path(n).read_bytes() for n in names) == sorted(b"%d" % i for i in range(8))


@pytest.mark.parametrize("kind", ["fifo", "device", "folder"])
def test_a_target_that_is_no_regular_file_is_never_replaced(tmp_path, kind):
    """A device (``/dev/null`` as root), a pipe or a folder at the target stays what it is: the write is refused."""
    import stat

    target = tmp_path / "out.json"
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "folder":
        target.mkdir()
    else:
        if os.geteuid() != 0:
            pytest.skip("making a device node needs root")
        os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a /dev/null
    before = os.lstat(target)
    with pytest.raises(atomic.NotRegularFileError, match="not a regular file"):
        atomic.write_bytes(target, b"{}")
    after = os.lstat(target)
    assert stat.S_IFMT(after.st_mode) == stat.S_IFMT(before.st_mode) and after.st_ino == before.st_ino
    assert not [p for p in tmp_path.iterdir() if p != target]  # no temp file left behind
