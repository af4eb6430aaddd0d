"""--executor: the local pool and Dask (a LocalCluster of 2 worker processes)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import NamedTuple

import attrs
import pytest
from test_storage import _opt, _tree, _upload, endpoint, invoke, s3  # noqa: F401  (fixtures)

from procrecord.bulk.executors import Executor, parse
from procrecord.errors import ProcrecordError

from helpers import valid_fixtures

pytest.importorskip("distributed")

KEY = "k" * 40


@pytest.fixture(autouse=True)
def two_workers(monkeypatch):
    monkeypatch.setenv("PROCRECORD_DASK_WORKERS", "2")


def test_parse():
    assert parse(None) == Executor("local", jobs=None)
    assert parse("local:3") == Executor("local", jobs=3)
    assert parse("dask") == Executor("dask")
    assert parse("dask:tcp://h:8786") == Executor("dask", address="tcp://h:8786")
    assert parse("dask:jobqueue.slurm").address == "jobqueue.slurm"
    for bad in ("local:0", "local:x", "spark"):
        with pytest.raises(ValueError):
            parse(bad)
    assert invoke("validate", "--executor", "spark", "x").exit_code == 2
    one = valid_fixtures("1.0")[0]
    refused = invoke("redact", "--level", "all", "--executor", "dask", one)  # stdout: workers cannot write it
    assert refused.exit_code == 2 and "-o or --in-place" in refused.output


def test_dask_reports_like_a_local_run_and_writes_s3_outputs_from_workers(tmp_path, s3, endpoint):  # noqa: F811 - fixtures
    fs, bucket = s3
    local = _tree(tmp_path / "in")
    (local / "sub" / "broken.json").write_text("{not json")
    _upload(fs, local, f"{bucket}/in")
    expected = invoke("redact", "--level", "all", local, "-o", tmp_path / "out")
    result = invoke("redact", "--level", "all", "--executor", "dask", f"s3://{bucket}/in", "-o",
                    f"s3://{bucket}/out", *_opt(endpoint))
    assert result.exit_code == expected.exit_code == 1
    # the same report, in the same order, whatever order the workers finished in
    assert result.output.replace(f"s3://{bucket}/in", "IN") == expected.output.replace(str(local), "IN")
    local_out = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
                 for p in (tmp_path / "out").rglob("*") if p.is_file()}
    remote_out = {k[len(f"{bucket}/out/"):]: fs.cat_file(k) for k in fs.find(f"{bucket}/out")}
    assert remote_out == local_out and len(local_out) == 5


def test_dask_pseudonym_key_comes_from_worker_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PROCRECORD_REDACT_KEY", KEY)  # the LocalCluster's workers inherit it
    local = _tree(tmp_path / "in")
    expected = invoke("redact", "--level", "most", "--pseudonymize", local, "-o", tmp_path / "a")
    result = invoke("redact", "--level", "most", "--pseudonymize", "--executor", "dask", local, "-o", tmp_path / "b")
    assert result.exit_code == expected.exit_code == 0, result.output
    for path in (tmp_path / "a").rglob("*.json*"):
        assert (tmp_path / "b" / path.relative_to(tmp_path / "a")).read_bytes() == path.read_bytes()
    assert KEY not in result.output
    key_file = tmp_path / "key"
    key_file.write_text(KEY)
    refused = invoke("redact", "--level", "most", "--key-file", key_file, "--executor", "dask", local, "-o", tmp_path / "c")
    assert refused.exit_code == 2 and "--key-file" in refused.output


@attrs.frozen
class KillOnce:
    """Redacts, but the first worker to reach ``victim`` dies (os._exit) before returning."""

    marker: str
    victim: str
    exact_integers = True

    def __call__(self, item):
        from procrecord.operations.transforms import RedactRecord

        if item.source.endswith(self.victim) and not os.path.exists(self.marker):
            Path(self.marker).write_text("killed")
            os._exit(1)
        return RedactRecord("all")(item)


def test_worker_killed_mid_run_task_is_retried_outputs_whole(tmp_path):
    import cloudpickle

    from procrecord.bulk.executors import Collected, run_dask
    from procrecord.bulk.loader import Walk

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    local = _tree(tmp_path / "in")
    expected = invoke("redact", "--level", "all", local, "-o", tmp_path / "expected")
    collected = Collected()
    marker = tmp_path / "killed"
    outcomes = list(run_dask(None, [str(local)], KillOnce(str(marker), "many.jsonl"), 1 << 20, Walk(),
                             str(tmp_path / "out"), False, collected))
    assert marker.exists()  # a worker really died
    assert expected.exit_code == 0 and not collected.failures and len(collected.written) == 5
    from procrecord.bulk.engine import Outcome

    assert sum(o.records for o in outcomes if isinstance(o, Outcome)) == 7  # 4 JSON files + 3 JSONL lines, each once
    files = sorted(p for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert [p.relative_to(tmp_path / "out") for p in files] == sorted(
        p.relative_to(tmp_path / "expected") for p in (tmp_path / "expected").rglob("*") if p.is_file())
    for path in files:
        assert path.read_bytes() == (tmp_path / "expected" / path.relative_to(tmp_path / "out")).read_bytes()


def test_dask_bag_of_records_and_per_record_operations(tmp_path):
    import dask

    import procrecord.dask as prd
    from procrecord.bulk.loader import load

    local = _tree(tmp_path / "in")
    (local / "bad.json").write_text("[1]")
    with dask.config.set(scheduler="sync"):
        bag = prd.read(str(local))
        assert bag.npartitions == 1  # 6 small files in one batch: no task per file
        records = bag.compute()
        expected = [item.record for item in load([str(local)]) if hasattr(item, "record")]
        assert [r for r in records if "procrecord_error" not in r] == expected and len(expected) == 7
        errors = [r for r in records if "procrecord_error" in r]
        assert len(errors) == 1 and errors[0]["source"].endswith("bad.json")
        good = bag.filter(lambda r: "procrecord_error" not in r)
        assert good.map(prd.validate).compute() == [[]] * 7
        redacted = good.map(prd.redact, level="all").compute()
        assert all(prd.validate(r) == [] for r in redacted)
        assert good.map(prd.summary).compute()[0]
        assert prd.read(f"memory://nothing-here-{os.getpid()}/*.json").compute()[0]["procrecord_error"]


def test_a_batch_writes_with_its_own_runs_storage_options_beside_another_runs_batch(s3, endpoint):  # noqa: F811
    """A Dask worker with several threads runs batches of several runs at once (two runs on one cluster,
    each with its own --storage-option): a batch writes with its own run's options, never with those
    another batch set meanwhile (two such runs wrote outputs into each other's stores, reported written)."""
    import threading

    from procrecord.bulk import storage
    from procrecord.bulk.executors import run_batch
    from procrecord.bulk.loader import plan
    from procrecord.operations.transforms import RedactRecord

    fs, bucket = s3
    record = valid_fixtures("1.0")[0].read_bytes()
    fs.pipe_file(f"{bucket}/in/r.json", record)
    options = {"endpoint_url": endpoint, "key": "testing", "secret": "testing"}
    storage.set_options(options)
    try:
        tasks = list(plan([f"s3://{bucket}/in/r.json"], 1 << 20, chunk_bytes=1 << 62, read_ahead=False))
    finally:
        storage.set_options({})
    others = []

    class WhileAnotherRuns:
        """The real operation, with another run's batch (other options) run in another thread meanwhile."""

        def __init__(self, operation):
            self.operation = operation

        def __getattr__(self, name):
            return getattr(self.operation, name)

        def __call__(self, *args, **kwargs):
            other = threading.Thread(target=lambda: others.append(run_batch(
                RedactRecord("all"), [], {"endpoint_url": "http://127.0.0.1:9"}, None, None, True)))
            other.start()
            other.join()
            return self.operation(*args, **kwargs)

    done = run_batch(WhileAnotherRuns(RedactRecord("all")), tasks, options, None, None, True)
    assert len(others) == 1
    assert done.failures == [] and done.written == [f"s3://{bucket}/in/r.json"]
    fs.invalidate_cache()
    assert fs.cat_file(f"{bucket}/in/r.json") != record


def test_dask_read_names_a_storage_option_the_storage_does_not_take(s3, endpoint):  # noqa: F811
    """A misspelt name in ``storage_options`` is named, with the right one, as the CLI names it; the
    listing's own failure blamed every option given ("endpoint_url, endpont: ... check their values")."""
    import procrecord.dask as prd
    from procrecord.errors import StorageOptionError

    fs, bucket = s3
    fs.pipe_file(f"{bucket}/in/r.json", valid_fixtures("1.0")[0].read_bytes())
    with pytest.raises(StorageOptionError) as raised:
        prd.read(f"s3://{bucket}/in/", storage_options={"endpoint_url": endpoint, "endpont": endpoint})
    assert str(raised.value) == ("storage_options: endpont: not an option of s3:// storage "
                                 "(did you mean endpoint_url?)")
    with pytest.raises(StorageOptionError, match=r"^storage_options: client_kwargs: s3:// storage cannot use"):
        prd.read(f"s3://{bucket}/in/", storage_options={"endpoint_url": endpoint, "client_kwargs": 5})
    records = prd.read(f"s3://{bucket}/in/", storage_options={"endpoint_url": endpoint}).compute(scheduler="sync")
    assert len(records) == 1 and not prd.is_error(records[0])


def test_dask_read_checks_storage_option_values_where_an_event_loop_runs(s3, endpoint):  # noqa: F811
    """A notebook's cells run where an event loop runs (Jupyter's): a value the storage cannot use is
    still named, as the CLI names it (the check's session could not be made there)."""
    import asyncio

    import procrecord.dask as prd
    from procrecord.errors import StorageOptionError

    fs, bucket = s3
    fs.pipe_file(f"{bucket}/in/r.json", valid_fixtures("1.0")[0].read_bytes())

    async def cell():
        with pytest.raises(StorageOptionError) as raised:
            prd.read(f"s3://{bucket}/in/", storage_options={"endpoint_url": endpoint, "client_kwargs": 5})
        assert str(raised.value).startswith("storage_options: client_kwargs: s3:// storage cannot use this value")
        return prd.read(f"s3://{bucket}/in/", storage_options={"endpoint_url": endpoint}).compute(scheduler="sync")

    records = asyncio.run(cell())
    assert len(records) == 1 and not prd.is_error(records[0])


@pytest.mark.parametrize("how", ["dask", "url among the sources"])
def test_a_local_sources_local_output_gets_its_permission_bits_in_every_kind_of_run(tmp_path, how):
    """An output file gets its source's permission bits, as a local run's does: with Dask (whose workers
    write the outputs) or a URL among the sources, a private record's copy came out readable by all."""
    import fsspec

    src = tmp_path / "in"
    src.mkdir()
    for name, bits in (("private.json", 0o600), ("group.json", 0o640)):
        (src / name).write_bytes(valid_fixtures("1.0")[0].read_bytes())
        (src / name).chmod(bits)
    extra = []
    if how == "dask":
        extra = ["--executor", "dask"]
    else:
        url = f"memory://bits-{os.getpid()}/other.json"
        fsspec.filesystem("memory").pipe_file(url, valid_fixtures("1.0")[1].read_bytes())
        extra = [url]
    result = invoke("upgrade", src, *extra, "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "private.json").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "out" / "group.json").stat().st_mode & 0o777 == 0o640


def test_dask_in_place_on_local_files(tmp_path):
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    expected = invoke("redact", "--level", "all", "--in-place", a)
    result = invoke("redact", "--level", "all", "--in-place", "--executor", "dask", b)
    assert result.exit_code == expected.exit_code == 0, result.output
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file()) and len(files) == 5
    for name in files:
        assert (b / name).read_bytes() == (a / name).read_bytes()


@pytest.mark.parametrize("follow", [[], ["--follow-symlinks"]])
def test_dask_in_place_on_a_symlink_named_explicitly_as_in_a_local_run(tmp_path, follow):
    """A symlink named on the command line: left as it is (one finding), or its target rewritten with
    --follow-symlinks, as a local run does; a Dask run reported it "changed by another process" and
    rewrote nothing either way."""
    results, contents = [], []
    for executor in ([], ["--executor", "dask"]):
        folder = tmp_path / ("dask" if executor else "local")
        folder.mkdir()
        (folder / "real.json").write_bytes(valid_fixtures("1.0")[0].read_bytes())
        (folder / "link.json").symlink_to(folder / "real.json")
        result = invoke("upgrade", "--in-place", *follow, *executor, folder / "link.json")
        results.append((result.exit_code, result.output.replace(str(folder), "F")))
        contents.append(((folder / "real.json").read_bytes(), (folder / "link.json").is_symlink()))
    assert results[0] == results[1]
    assert contents[0] == contents[1]
    if follow:
        assert results[0][0] == 0 and b'"schema_version": "1.1"' in contents[0][0]
    else:
        assert results[0][0] == 1 and "F/link.json:: error: a symlink: left as it is" in results[0][1]


def test_a_relative_output_folder_is_the_clients_whatever_the_workers_working_folder(tmp_path, monkeypatch):
    """``-o out`` on a running cluster names ``out`` here, where the command runs: the workers (started
    elsewhere, in another working folder) wrote it in theirs, and the run said every file was written."""
    from distributed import LocalCluster

    (tmp_path / "workers").mkdir()
    (tmp_path / "client").mkdir()
    src = _tree(tmp_path / "in")
    monkeypatch.chdir(tmp_path / "workers")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}) as cluster:
        monkeypatch.chdir(tmp_path / "client")
        result = invoke("upgrade", src, "-o", "out", "--executor", f"dask:{cluster.scheduler_address}")
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "workers" / "out").exists()
    written = sorted(p.relative_to(tmp_path / "client" / "out").as_posix()
                     for p in (tmp_path / "client" / "out").rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())


def test_relative_sources_are_the_clients_whatever_the_workers_working_folder(tmp_path, monkeypatch):
    """Relative sources on a running cluster are read from the folder where the command runs, and reported
    as given (the workers, started in another working folder, found no such file there, or another one)."""
    from distributed import LocalCluster

    (tmp_path / "workers").mkdir()
    (tmp_path / "client").mkdir()
    _tree(tmp_path / "client" / "in")
    monkeypatch.chdir(tmp_path / "workers")
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None,
                      scheduler_kwargs={"dashboard_address": ":0"}) as cluster:
        monkeypatch.chdir(tmp_path / "client")
        expected = invoke("upgrade", "--in-place", "in")  # all current already: nothing to rewrite
        result = invoke("upgrade", "--in-place", "in", "--executor", f"dask:{cluster.scheduler_address}")
    assert result.exit_code == expected.exit_code == 0, result.output
    assert result.output == expected.output
    assert "7 current" in result.output


def test_worker_key_holds_only_a_fingerprint(monkeypatch):
    import pickle

    from procrecord.bulk.executors import WorkerKey, _with_key
    from procrecord.errors import ProcrecordError
    from procrecord.operations.redaction import fingerprint
    from procrecord.operations.transforms import RedactRecord

    operation = RedactRecord("most", WorkerKey(fingerprint(KEY.encode())))
    assert KEY.encode() not in pickle.dumps(operation)  # what travels to the scheduler and workers
    monkeypatch.setenv("PROCRECORD_REDACT_KEY", KEY)
    assert _with_key(operation).key == KEY.encode()
    monkeypatch.setenv("PROCRECORD_REDACT_KEY", "x" * 40)
    with pytest.raises(ProcrecordError, match="fingerprints differ"):
        _with_key(operation)


def test_batches_keep_planned_order_within_count_and_byte_bounds(tmp_path):
    from procrecord.bulk.executors import batches
    from procrecord.bulk.loader import LoadError, plan

    local = _tree(tmp_path / "in")
    tasks = list(plan([str(local), str(tmp_path / "missing")]))
    assert isinstance(tasks[-1], LoadError)  # a planning error rides in its place
    for files, size in ((1, 1 << 30), (2, 1 << 30), (100, 1), (3, 20_000)):
        grouped = list(batches(iter(tasks), files, size))
        assert [t for batch in grouped for t in batch] == tasks
        assert all(0 < len(batch) <= files for batch in grouped)
        # over the byte bound only when one file alone is bigger than it
        assert all(len(batch) == 1 or sum(t.identity[2] for t in batch if getattr(t, "identity", None)) <= size
                   for batch in grouped)
    assert len(list(batches(iter(tasks), 100, 1))) == len(tasks)


class _Sized(NamedTuple):
    """A planned local file of ``size`` bytes, as batches see one."""

    name: int
    identity: tuple[int, int, int, int]


def _sized(count: int, size: int) -> list[_Sized]:
    return [_Sized(i, (0, i, size, 0)) for i in range(count)]


def test_guided_batches_are_few_and_large_then_shrink_so_workers_end_together():
    from procrecord.bulk import executors

    # 1,000 files of 560 kB (the 100k-record benchmark) on 2 worker threads
    tasks = _sized(1000, 560_000)
    asked: list[int] = []

    def slots() -> int:
        asked.append(1)
        return 2

    grouped = list(executors.batches(iter(tasks), slots=slots))
    assert [t for batch in grouped for t in batch] == tasks  # planned order, nothing lost or repeated
    sizes = [sum(t.identity[2] for t in batch) for batch in grouped]
    assert len(asked) == 2  # when planning starts and when it ends: not once per batch
    # few tasks (one per 4 MiB was 133), each at most the bound
    assert len(grouped) <= 40 and max(sizes) <= executors.BATCH_BYTES
    # the end of the run is cut finer: every one of the last four batches is at most a quarter of
    # the look-ahead, and the very last ones are near the minimum
    assert all(size <= executors.LOOKAHEAD_BATCHES * 2 * executors.BATCH_BYTES // 4 for size in sizes[-4:])
    assert sizes[-1] <= 2 * executors.MIN_BATCH_BYTES and sizes[-1] < sizes[0] // 8
    # the file bound holds, for many small files too
    small = _sized(20_000, 5_000)
    assert all(len(b) <= executors.BATCH_FILES for b in executors.batches(iter(small), slots=lambda: 2))


def test_guided_batches_plan_only_a_bounded_look_ahead():
    from procrecord.bulk import executors

    consumed = [0]

    def planned():
        for task in _sized(100_000, 5_000):
            consumed[0] += 1
            yield task

    first = next(executors.batches(planned(), slots=lambda: 2))
    assert len(first) == executors.BATCH_FILES
    assert consumed[0] <= executors.LOOKAHEAD_BATCHES * 2 * executors.BATCH_FILES + 1  # not the whole input
    assert list(executors.batches(iter([]), slots=lambda: 0)) == []


def test_dask_progress_counts_every_record_as_batches_complete_and_order_holds(tmp_path):
    from procrecord.bulk.engine import Outcome, run
    from procrecord.bulk.executors import run_dask
    from procrecord.bulk.loader import Walk
    from procrecord.operations.checks import ValidateRecord

    local = _tree(tmp_path / "in")
    (local / "sub" / "broken.json").write_text("{not json")
    expected = list(run([str(local)], ValidateRecord()))
    counts: list[int] = []
    # one file a batch, at most two batches in flight: completions are counted whatever their order
    got = list(run_dask(None, [str(local)], ValidateRecord(), 1 << 20, Walk(), progress=counts.append,
                        window=2, batch_files=1))
    assert got == expected
    assert len(counts) == 6 and sum(counts) == sum(o.records for o in expected if isinstance(o, Outcome)) == 8


@pytest.mark.parametrize("batch_files", [1, 256])  # the two sources in two batches, and in one
def test_dask_two_sources_with_one_output_conflict_as_in_a_local_run(tmp_path, monkeypatch, batch_files):
    monkeypatch.setattr("procrecord.bulk.executors.BATCH_FILES", batch_files)
    files = valid_fixtures("1.0")
    for folder, path in (("a", files[0]), ("b", files[1])):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.json").write_bytes(path.read_bytes())
    inputs = [tmp_path / "a" / "same.json", tmp_path / "b" / "same.json"]  # both map to OUT/same.json
    expected = invoke("redact", "--level", "all", *inputs, "-o", tmp_path / "local")
    result = invoke("redact", "--level", "all", "--executor", "dask", *inputs, "-o", tmp_path / "dask")
    assert result.exit_code == expected.exit_code == 1
    assert "is that of" in expected.output
    assert result.output == expected.output.replace(str(tmp_path / "local"), str(tmp_path / "dask"))
    assert (tmp_path / "dask" / "same.json").read_bytes() == (tmp_path / "local" / "same.json").read_bytes()


def test_cli_progress_on_dask_counts_the_records_as_locally(tmp_path, monkeypatch):
    from procrecord.bulk.engine import Progress

    counted: dict[str, int] = {}
    original = Progress.__call__

    def spy(self, count):
        counted[self._label] = counted.get(self._label, 0) + count
        original(self, count)

    monkeypatch.setattr(Progress, "__call__", spy)
    local = _tree(tmp_path / "in")
    assert invoke("validate", local).exit_code == 0
    local_count = counted.pop("validate")
    assert invoke("validate", "--executor", "dask", local).exit_code == 0
    assert counted == {"validate": local_count} and local_count == 7


def test_dask_output_inside_the_source_is_not_read(tmp_path):
    src = _tree(tmp_path / "in")
    first = invoke("redact", "--level", "all", "--executor", "dask", src, "-o", src / "out")
    assert first.exit_code == 0, first.output
    written = sorted(p.relative_to(src / "out") for p in (src / "out").rglob("*") if p.is_file())
    assert len(written) == 5
    again = invoke("redact", "--level", "all", "--executor", "dask", src, "-o", src / "out")
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1] == first.output.splitlines()[-1]  # the same records, none of out/
    assert not (src / "out" / "out").exists()


def test_jobs_on_the_command_line_sizes_the_local_cluster(tmp_path, monkeypatch):
    from procrecord.bulk import executors

    sizes = []
    real = executors.client

    def spy(address, workers=None):
        sizes.append(workers)
        return real(address, workers)

    monkeypatch.setattr(executors, "client", spy)
    src = _tree(tmp_path / "in")
    assert invoke("validate", "--executor", "dask", "--jobs", "1", src).exit_code == 0
    assert invoke("validate", "--executor", "dask", src).exit_code == 0
    assert sizes == [1, None]  # without --jobs: PROCRECORD_DASK_WORKERS, else Dask's default


_FRESH_CLUSTERS = """
import os, sys
from distributed import Client
from procrecord.bulk.executors import WORKER_KEY_ENV, local_cluster

def look():
    import gc
    return "procrecord.bulk.engine" in sys.modules and gc.get_freeze_count() > 0, os.environ.get(WORKER_KEY_ENV)

with local_cluster(1) as cluster, Client(cluster) as client:
    print(list(client.run(look).values()))
os.environ[WORKER_KEY_ENV] = "set-after-the-fork-server-started"
with local_cluster(1) as cluster, Client(cluster) as client:
    print(list(client.run(look).values()))
"""


def test_local_cluster_workers_start_with_procrecord_imported_and_get_a_later_key(tmp_path):
    """A fresh process's LocalCluster forks its workers from a server that imported procrecord once;
    a pseudonym key set after that server started still reaches the next cluster's workers."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "PROCRECORD_REDACT_KEY"}
    done = subprocess.run([sys.executable, "-c", _FRESH_CLUSTERS], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    first, second = done.stdout.splitlines()[-2:]
    assert first == "[(True, None)]"
    assert second == "[(True, 'set-after-the-fork-server-started')]"


_CLOSED_CLUSTER_LOGS = """
import logging, sys
from procrecord.bulk.executors import client
dask_client = client(None, 1)
dask_client.close()
dask_client.cluster.close()
# what the scheduler here logs once its cluster is closed: a worker's connection closing late
# (the CI run's jobqueue job cancelled at the end), at INFO with a traceback; and an error
try:
    raise OSError("comm closed")
except OSError:
    logging.getLogger("distributed.batched").info("Batched Comm Closed", exc_info=True)
logging.getLogger("distributed.scheduler").error("a real error")
"""


@pytest.mark.parametrize("user_logging", [False, True])
def test_a_closed_clusters_late_info_messages_stay_off_stderr_unless_dask_config_sets_logging(tmp_path, user_logging):
    """A cluster's own log silencing ends with it; what its scheduler logs after (INFO tracebacks of
    connections closing) must not reach the user's stderr. Errors do, and so does everything where the
    user's Dask configuration sets up logging."""
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "DASK_CONFIG"}
    if user_logging:
        (tmp_path / "dask").mkdir()
        (tmp_path / "dask" / "logging.yaml").write_text("logging:\n  distributed: info\n")
        env["DASK_CONFIG"] = str(tmp_path / "dask")
    done = subprocess.run([sys.executable, "-c", _CLOSED_CLUSTER_LOGS], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "a real error" in done.stderr
    assert ("Batched Comm Closed" in done.stderr) is user_logging, done.stderr[-2000:]
    assert ("OSError: comm closed" in done.stderr) is user_logging


def test_prestart_starts_the_fork_server_only_for_a_local_cluster(monkeypatch):
    from procrecord.bulk import executors

    started = []
    monkeypatch.setattr(executors, "_start_fork_server", lambda: started.append(True) or True)
    for spec in (None, "local", "local:2", "dask:tcp://127.0.0.1:8786", "dask:jobqueue.slurm"):
        executors.prestart(parse(spec) if spec else None)
    assert started == []
    executors.prestart(parse("dask"))
    assert started == [True]


def test_cli_starts_the_fork_server_when_it_reads_executor_dask_before_the_command_runs(tmp_path, monkeypatch):
    """The fork server preloads while the command imports and plans (a cold run's critical path)."""
    from procrecord.bulk import executors

    calls = []
    real_start, real_client = executors._start_fork_server, executors.client

    def start():
        calls.append("fork server")
        return real_start()

    def client(address, workers=None):
        calls.append("client")
        return real_client(address, workers)

    monkeypatch.setattr(executors, "_start_fork_server", start)
    monkeypatch.setattr(executors, "client", client)
    src = _tree(tmp_path / "in")
    assert invoke("validate", "--executor", "dask", src).exit_code == 0
    assert calls[:2] == ["fork server", "client"]


_START_ONLY = """
import sys
from procrecord.bulk.executors import _start_fork_server
assert _start_fork_server()
print("dask" in sys.modules, "distributed" in sys.modules)
"""


def test_starting_the_fork_server_does_not_import_dask_here(tmp_path):
    """The server reads Dask's pre-spawn variables itself: this process imports nothing first."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", _START_ONLY], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["False", "False"]


def test_preload_sets_the_configured_pre_spawn_variables_imports_and_freezes(tmp_path):
    import subprocess

    (tmp_path / "dask.yaml").write_text("distributed:\n  nanny:\n    pre-spawn-environ:\n      PROCRECORD_TEST_PRESPAWN: 3\n")
    env = {**os.environ, "DASK_CONFIG": str(tmp_path)}
    env.pop("PROCRECORD_TEST_PRESPAWN", None)
    code = ("import gc, os, sys; import procrecord.bulk.preload; "
            "print(os.environ.get('PROCRECORD_TEST_PRESPAWN'), 'procrecord.bulk.engine' in sys.modules, gc.get_freeze_count() > 0)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "True", "True"]


_MARK = "PROCRECORD_TEST_PROCESS_MARK"


def _marked(mark: str) -> list[int]:
    """Processes whose environment carries ``mark``: the CLI and every process it started (the fork
    server and the workers forked from it inherit the environment the server was started with)."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(_MARK) == mark:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


def _gone(mark: str, seconds: float = 30.0) -> list[int]:
    import time

    deadline = time.monotonic() + seconds
    while (left := _marked(mark)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGKILL"])
def test_a_cold_run_interrupted_or_killed_leaves_no_process_behind(tmp_path, signal_name):
    """A LocalCluster the CLI started ends with it: on Ctrl-C (its ``finally`` closes the cluster) and
    even when the CLI is killed outright (workers and the fork server watch their parent)."""
    import signal
    import subprocess
    import time
    import uuid

    import orjson

    line = orjson.dumps(orjson.loads(valid_fixtures("1.0")[0].read_bytes())) + b"\n"
    src = tmp_path / "in"
    src.mkdir()
    for index in range(200):
        (src / f"part-{index:03d}.jsonl").write_bytes(line * 50)
    mark = uuid.uuid4().hex
    env = {**os.environ, _MARK: mark, "PROCRECORD_DASK_WORKERS": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "procrecord", "validate", "--executor", "dask", str(src)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 120
        # the CLI, the resource tracker, the fork server and two workers
        while len(_marked(mark)) < 5 and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be interrupted"
        proc.send_signal(getattr(signal, signal_name))
        assert proc.wait(timeout=60) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone(mark) == []


def test_a_run_refused_after_the_fork_server_started_leaves_no_process_behind(tmp_path):
    """``--executor dask`` starts the fork server as the option is read: a command that then stops
    (a usage error) leaves nothing running."""
    import subprocess
    import uuid

    mark = uuid.uuid4().hex
    one = valid_fixtures("1.0")[0]
    done = subprocess.run([sys.executable, "-m", "procrecord", "redact", "--level", "all", "--executor", "dask", str(one)],
                          env={**os.environ, _MARK: mark}, capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert done.returncode == 2 and "-o or --in-place" in done.stderr
    assert _gone(mark) == []


def _bad_folder(folder: Path) -> tuple[Path, Path]:
    """A folder with a good record, a JSONL file whose second line is broken and a record with a key twice."""
    folder.mkdir()
    good = valid_fixtures()[0]
    text = good.read_text(encoding="utf-8").strip()
    one_line = json.dumps(json.loads(text))
    (folder / "a.jsonl").write_text(one_line + "\n{broken\n", encoding="utf-8")
    dup = folder / "dup.json"
    dup.write_text(one_line[:-1] + ', "name": "other"}', encoding="utf-8")
    return folder / "a.jsonl", dup


def _check_bag_with_bad_documents(folder: Path, jsonl: Path, dup: Path) -> None:
    import procrecord.dask as prd

    bag = prd.read(str(folder))
    # the README's own example: markers pass through every operation
    summaries = bag.map(prd.redact, level="most").map(prd.summary).compute()
    assert len(summaries) == 3 and "redacted:most" in summaries[0]
    assert summaries[1] == f"{jsonl}:2: error: invalid JSON at column 2: unexpected character, expected a string key"
    assert summaries[2].startswith(f"{dup}: error: duplicate key 'name' in the object at $")
    checked = bag.map(prd.validate).compute()
    assert checked[0] == [] and checked[1] == [summaries[1]] and checked[2] == [summaries[2]]
    assert bag.map(prd.upgrade).compute()[1:] == bag.compute()[1:]  # markers unchanged


def test_dask_operations_take_unreadable_documents_through(tmp_path):
    import dask

    jsonl, dup = _bad_folder(tmp_path / "in")
    with dask.config.set(scheduler="sync"):
        _check_bag_with_bad_documents(tmp_path / "in", jsonl, dup)


def test_dask_operations_take_unreadable_documents_through_on_a_cluster(tmp_path):
    from distributed import Client

    from procrecord.bulk.executors import local_cluster

    jsonl, dup = _bad_folder(tmp_path / "in")
    with local_cluster(1) as cluster, Client(cluster):
        _check_bag_with_bad_documents(tmp_path / "in", jsonl, dup)


def test_a_redacted_marker_has_its_message_and_source_scrubbed_as_free_text():
    """A redacted bag holds nothing the level hides, markers included (the message may quote a key)."""
    import procrecord.dask as prd

    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    marker = {"procrecord_error": f"duplicate key '{token}' in the object at $", "source": "/home/anna/runs/a.json",
              "line": 3}
    for level in ("most", "all"):
        redacted = prd.redact(marker, level=level)
        assert prd.is_error(redacted) and redacted["line"] == 3
        assert token not in str(redacted) and "anna" not in redacted["source"], redacted
        assert redacted["procrecord_error"].startswith("duplicate key '")
    assert prd.redact(marker, level="none") == marker
    with pytest.raises(ProcrecordError, match="unknown redaction level"):
        prd.redact(marker, level="mots")


def test_dask_operations_never_redact_a_record_that_breaks_its_schema_nor_stop_at_a_stray_document(tmp_path):
    """A record the schema does not know all of is never returned as "redacted" (a leak with a note that
    says most); a stray JSON file, a future version or a kwcoco file is a marker with its place; a record
    that breaks its schema is a marker from upgrade and redact, and validate lists its violations."""
    import dask

    import procrecord.dask as prd

    token = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    record = json.loads(valid_fixtures()[0].read_text(encoding="utf-8"))
    leaky = dict(record, weird_top={"note": token})
    leaky["host"] = dict(record.get("host") or {}, hostnmae="gpu-secret-07.corp.example")
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-leaky.json").write_text(json.dumps(leaky), encoding="utf-8")
    (folder / "b-config.json").write_text('{"lr": 0.1}', encoding="utf-8")
    (folder / "c-future.json").write_text(json.dumps(dict(record, schema_version="9.9")), encoding="utf-8")
    (folder / "d-good.json").write_text(json.dumps(record), encoding="utf-8")
    with dask.config.set(scheduler="sync"):
        bag = prd.read(str(folder))
        redacted = bag.map(prd.redact, level="most").compute()
        checked = bag.map(prd.validate).compute()
        upgraded = bag.map(prd.upgrade).compute()
    assert [prd.is_error(r) for r in redacted] == [True, True, True, False]
    assert token not in json.dumps(redacted) and "gpu-secret-07" not in json.dumps(redacted)
    assert "does not validate" in redacted[0]["procrecord_error"]
    assert redacted[1]["source"] == str(folder / "b-config.json") and "not a procrecord record" in redacted[1]["procrecord_error"]
    assert redacted[2]["source"] == str(folder / "c-future.json") and "newer" in redacted[2]["procrecord_error"]
    assert redacted[3]["redaction"]["level"] == "most"
    assert checked[0] and all(line.startswith("$.") for line in checked[0]) and checked[3] == []
    assert checked[1] == [f"{folder / 'b-config.json'}: error: {redacted[1]['procrecord_error']}"]
    assert [prd.is_error(r) for r in upgraded] == [True, True, True, False]
    assert prd.validate({"lr": 0.1})[0].startswith("error: not a procrecord record")


def test_dask_redact_pseudonyms_come_from_the_workers_environment_and_are_checked_as_in_the_cli(monkeypatch):
    import procrecord.dask as prd
    from procrecord.errors import RedactionKeyError
    from procrecord.operations.redaction import fingerprint

    record = json.loads(valid_fixtures()[0].read_text(encoding="utf-8"))
    key = b"k" * 32
    monkeypatch.setenv("PROCRECORD_REDACT_KEY", key.decode())
    from_env = prd.redact(record, "most", pseudonymize=True)
    assert from_env["redaction"]["key_fingerprint"] == fingerprint(key)
    assert from_env == prd.redact(record, "most", key=key)
    assert "key_fingerprint" not in prd.redact(record, "most")["redaction"], "no pseudonyms unless asked for"
    with pytest.raises(RedactionKeyError, match="at least 32"):
        prd.redact(record, "most", key=b"x")
    with pytest.raises(TypeError, match="bytes"):
        prd.redact(record, "most", key="k" * 32)
    with pytest.raises(ValueError, match="level 'most' only"):
        prd.redact(record, "all", key=key)
    with pytest.raises(ValueError, match="not both"):
        prd.redact(record, "most", key=key, pseudonymize=True)
    monkeypatch.delenv("PROCRECORD_REDACT_KEY")
    with pytest.raises(RedactionKeyError, match="PROCRECORD_REDACT_KEY"):
        prd.redact(record, "most", pseudonymize=True)
