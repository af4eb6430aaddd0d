"""Where a bulk run's tasks execute: ``local[:N]`` (the process pool of :mod:`procrecord.bulk.engine`) or
``dask[:ADDRESS]`` (a Dask cluster: a LocalCluster, a running scheduler, or dask-jobqueue).

On Dask each task is a batch of whole files or objects in planned order (up to :data:`BATCH_FILES`
files or :data:`BATCH_BYTES` bytes; smaller ones at the end of a run, see :func:`batches`), so the
scheduler's cost per task is spread over many files. The worker reads them straight from storage,
writes each output straight to storage (one PUT per object) and sends back only outcomes without record
bytes, plus what it wrote. The client yields outcomes in
planned order, whatever order batches end in, so reports are the same as a local run's; progress
advances as batches complete. A retried batch (a worker died) writes the same bytes to the same
objects: retries never duplicate or tear an output.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import attrs

from procrecord.errors import ProcrecordError

#: The environment variable a Dask worker reads the pseudonym key from (never sent with the tasks).
WORKER_KEY_ENV = "PROCRECORD_REDACT_KEY"


class Executor(NamedTuple):
    """A parsed ``--executor``: kind (``local`` or ``dask``) and its argument (jobs or address)."""

    kind: str
    address: str | None = None
    jobs: int | None = None


def parse(spec: str | None) -> Executor:
    """``local``, ``local:N``, ``dask``, ``dask:tcp://host:8786``, ``dask:jobqueue.slurm``."""
    if not spec:
        return Executor("local", jobs=None)  # --jobs decides
    kind, _, arg = spec.partition(":")
    if kind == "local":
        if not arg:
            return Executor("local", jobs=None)
        if not arg.isdigit() or int(arg) < 1:
            raise ValueError(f"local:N needs a positive number of processes, got {arg!r}")
        return Executor("local", jobs=int(arg))
    if kind == "dask":
        return Executor("dask", address=arg or None)
    raise ValueError(f"unknown executor {spec!r}: use local[:N] or dask[:ADDRESS]")


def quiet_cluster_logs() -> None:
    """Keep the INFO messages of a cluster this process starts off stderr, for the rest of the process.

    Called once the cluster is up (importing ``distributed`` sets its loggers' levels). The scheduler
    of a LocalCluster or a dask-jobqueue cluster runs here; each silences Dask's log handlers only
    while it is open, and the last connections to its workers close after that (a cancelled job's
    worker: ``Batched Comm Closed`` with a traceback, at INFO). The run's own report is what the user
    reads. Errors still show; a logging set-up in the user's Dask configuration is kept as it is."""
    import logging

    import dask

    if any(dask.config.get(key, None) is not None
           for key in ("logging", "distributed.logging", "distributed.logging-file-config")):
        return
    logger = logging.getLogger("distributed")
    if logger.getEffectiveLevel() < logging.ERROR:
        logger.setLevel(logging.ERROR)


def client(address: str | None, workers: int | None = None) -> Any:
    """A Dask client: a LocalCluster (no address; ``workers`` processes, else
    ``PROCRECORD_DASK_WORKERS``, else Dask's default), a running scheduler, or a dask-jobqueue cluster
    configured in Dask's own configuration (``jobqueue.slurm``, ``jobqueue.pbs``, ...)."""
    import importlib.util

    if importlib.util.find_spec("distributed") is None:  # not imported here: a LocalCluster starts first
        raise ProcrecordError("--executor dask needs dask: pip install 'procrecord[dask]'")
    if address is None:
        cluster = local_cluster(workers)
        quiet_cluster_logs()
        from distributed import Client

        return Client(cluster)
    if address.startswith("jobqueue."):
        name = address.split(".", 1)[1]
        try:
            import dask_jobqueue
        except ImportError as exc:
            raise ProcrecordError("--executor dask:jobqueue.* needs dask-jobqueue: pip install 'procrecord[jobqueue]'") from exc
        classes = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "lsf": "LSFCluster", "sge": "SGECluster",
                   "htcondor": "HTCondorCluster", "moab": "MoabCluster", "oar": "OARCluster"}
        if name not in classes:
            raise ProcrecordError(f"unknown jobqueue cluster {name!r}: one of {', '.join(sorted(classes))}")
        cluster = getattr(dask_jobqueue, classes[name])()  # every setting from Dask's config (jobqueue.<name>)
        quiet_cluster_logs()
        import dask

        cluster.adapt(**(dask.config.get(f"jobqueue.{name}.adapt", default=None) or {"maximum_jobs": 1}))
        from distributed import Client

        return Client(cluster)
    from distributed import Client

    _reach(address)
    return Client(address)


def _reach(address: str) -> None:
    """Raise ``OSError`` unless a Dask scheduler answers at ``address`` within Dask's connect
    timeout (``distributed.comm.timeouts.connect``, 30 s by default), handshake included.

    ``Client(address)`` bounds the TCP connection by that timeout, but then waits for the
    scheduler's handshake with none: a listener that accepts connections and never speaks (another
    service on the port, a stuck proxy) would hang the run for ever. One connection is made here,
    with its handshake bounded, and closed (the client makes its own)."""
    import asyncio

    import dask
    from dask.utils import parse_timedelta
    from distributed.comm import connect
    from distributed.security import Security

    timeout = parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), "s") or 30

    async def probe() -> None:
        comm = await asyncio.wait_for(connect(address, timeout=timeout, **Security().get_connection_args("client")),
                                      timeout)
        await comm.close()

    try:
        asyncio.run(probe())
    except asyncio.TimeoutError:
        raise OSError(f"Timed out trying to connect to {address} after {timeout:g} s: it accepted the connection "
                      "and never answered as a Dask scheduler") from None


#: What a LocalCluster's worker processes start with: they are forked from one fork server that
#: imported these once, instead of each spawned worker importing them (a second or more of CPU per
#: worker) and importing procrecord again on its first task.
WORKER_MODULES = ("distributed", "procrecord.bulk.executors", "procrecord.bulk.engine", "procrecord.bulk.objectsink",
                  "procrecord.operations.transforms", "procrecord.record.validation")


def _start_fork_server() -> bool:
    """Start this process's fork server with :data:`WORKER_MODULES` preloaded (it imports them
    while this process goes on); False where there is none (Windows: workers are spawned)."""
    import multiprocessing

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return False
    from multiprocessing import forkserver

    # Only a fork server started now gets this list (one started earlier by a local pool keeps its
    # own, and workers then import on their first task): correct either way, fast when fresh.
    # ``preload`` sets Dask's pre-spawn variables, imports WORKER_MODULES and freezes the heap.
    multiprocessing.get_context("forkserver").set_forkserver_preload(["procrecord.bulk.preload"])
    forkserver.ensure_running()
    return True


def prestart(executor: Executor | None) -> None:
    """Start the fork server of the LocalCluster ``executor`` will start (``dask`` without an address),
    as soon as the command line names it: the server imports ``distributed`` and procrecord's worker
    modules (over a second of CPU) while this process imports and plans, instead of after."""
    if executor is not None and executor.kind == "dask" and executor.address is None:
        _start_fork_server()


#: Intervals of Dask's periodic bookkeeping in a LocalCluster we start (Dask's defaults: 20 ms,
#: 500 ms, 100 ms, 100 ms): event-loop latency ticks, the system monitor (a dashboard's plots), the
#: memory monitor (pausing a worker near its memory limit) and work stealing.
LOCAL_CLUSTER_INTERVALS = {
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "5s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.scheduler.work-stealing-interval": "1s",
}


def local_cluster(workers: int | None = None) -> Any:
    """A LocalCluster for one run: ``workers`` single-threaded processes (else ``PROCRECORD_DASK_WORKERS``,
    else Dask's default), forked from a fork server where there is one, without a dashboard."""
    forked = _start_fork_server()  # before ``import distributed`` here: both import at the same time
    import dask
    from distributed import LocalCluster

    if forked:
        import distributed.utils

        # Dask's own fork-server set-up would import numpy, pandas and lz4 into this process and
        # the server (seconds on a small machine) for workers that never use them.
        if hasattr(distributed.utils, "_forkserver_preload_set"):
            distributed.utils._forkserver_preload_set = True
    workers = workers or int(os.environ.get("PROCRECORD_DASK_WORKERS", "0")) or None
    # Forked workers get the fork server's environment, which may predate the pseudonym key
    # (a notebook or test that set it later): the Nanny hands it over at start, in memory.
    env = {WORKER_KEY_ENV: os.environ[WORKER_KEY_ENV]} if os.environ.get(WORKER_KEY_ENV) else None
    config: dict[str, Any] = {
        # The worker's statistical profiler samples the running thread's stack every 10 ms (for a
        # dashboard we do not start): it costs our CPU-bound tasks time for nothing.
        "distributed.worker.profile.enabled": False,
        # Bookkeeping that wakes every event loop (client, scheduler, nannies, workers) many times
        # a second, each time taking the GIL from a task: a fifth of a worker's CPU on 2 cores.
        # Our tasks are seconds long; once a second is often enough for each of these.
        **LOCAL_CLUSTER_INTERVALS,
    }
    if forked:
        config["distributed.worker.multiprocessing-method"] = "forkserver"
    with dask.config.set(config):
        # Worker processes of one thread each: our tasks hold the GIL, threads would only take turns.
        # No dashboard, and the scheduler's HTTP endpoint on a free port (never a warning about 8787).
        return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                            scheduler_kwargs={"dashboard_address": ":0"}, env=env)


@attrs.frozen
class WorkerKey:
    """Stands for the pseudonym key in a task: the worker takes the key from its own environment."""

    #: :func:`procrecord.operations.redaction.fingerprint` of the client's key (public): a worker with another key
    #: refuses to work, so one run never mixes pseudonyms of two keys.
    fingerprint: str | None = None
    env: str = WORKER_KEY_ENV

    def resolve(self) -> bytes:
        """The key, from the worker's environment."""
        from procrecord.operations.redaction import fingerprint

        value = os.environ.get(self.env)
        if not value:
            raise ProcrecordError(f"this worker has no pseudonym key: set {self.env} in its environment")
        key = value.encode()
        if self.fingerprint is not None and fingerprint(key) != self.fingerprint:
            raise ProcrecordError(f"this worker's {self.env} is not the client's key (fingerprints differ)")
        return key


def _with_key(operation: Any) -> Any:
    """The operation with a :class:`WorkerKey` placeholder replaced by the worker's key."""
    inner = getattr(operation, "inner", None)  # procrecord.operations.transforms.Embedded
    if inner is not None and isinstance(getattr(inner, "key", None), WorkerKey):
        return attrs.evolve(operation, inner=_with_key(inner))
    if isinstance(getattr(operation, "key", None), WorkerKey):
        return attrs.evolve(operation, key=operation.key.resolve())
    return operation


class Done(NamedTuple):
    """What a worker sends back for one batch: outcomes without record bytes, and what it wrote."""

    items: list[Any]
    written: list[str]
    unchanged: list[str]
    skipped: list[str]
    failures: list[tuple[str, str]]
    conflicts: list[tuple[str, str, str]]


#: A batch (one Dask task) holds whole files, in planned order, up to this many files or bytes. Each
#: task costs the client, the scheduler and the worker some 10-40 ms of CPU in messages and state
#: changes (measured on 2 cores, see benchmarks/README.md): large batches spread it over many files.
BATCH_FILES = 2048
BATCH_BYTES = 32 << 20
#: Once every input is planned, what is left is cut into batches of about 1/(TAIL_SHARES x worker
#: threads) of it each (down to these minimums), so all workers finish at about the same time.
TAIL_SHARES = 2
MIN_BATCH_FILES = 16
MIN_BATCH_BYTES = 1 << 20
#: Full batches per worker thread planned ahead (what the tail is cut from), and at most this many
#: tasks held by that look-ahead (the client's memory, whatever the number of inputs).
LOOKAHEAD_BATCHES = 2
LOOKAHEAD_TASKS = 1 << 16
#: Batches submitted and not yet yielded (at least two per worker thread): bounds the client's
#: memory and the scheduler's graph, whatever the number of inputs, while keeping every worker busy.
WINDOW = 32


def _size(task: Any) -> int:
    """The bytes a task will read, as planned (0 when unknown: a planning error), or holds (stdin's lines)."""
    identity = getattr(task, "identity", None)
    if not identity:
        payloads = getattr(task, "payloads", None)
        return sum(map(len, payloads)) if payloads else 0
    if getattr(task, "fetch", None) is not None:  # an object: (ETag, size)
        return int(identity[1])
    return int(identity[2])  # a local file: (device, inode, size, mtime)


def batches(tasks: Iterable[Any], max_files: int = BATCH_FILES, max_bytes: int = BATCH_BYTES,
            slots: Callable[[], int] | None = None) -> Iterator[list[Any]]:
    """Consecutive tasks grouped into batches of at most ``max_files`` tasks and (but for one big
    file) ``max_bytes`` planned bytes, in planned order.

    With ``slots`` (the cluster's worker threads, asked when planning starts and when it ends),
    tasks are planned :data:`LOOKAHEAD_BATCHES` full batches per thread ahead; once all are
    planned, the rest goes out in shrinking batches (a :data:`TAIL_SHARES`-th of an even share each),
    so that no worker is left with a big batch while the others wait at the end of a run.
    """
    if slots is None:
        yield from _fixed(tasks, max_files, max_bytes)
        return
    from collections import deque

    pending: deque[tuple[Any, int]] = deque()
    pending_bytes = 0
    source = iter(tasks)
    threads = max(slots(), 1)
    planned = False
    while True:
        ahead_files = min(LOOKAHEAD_BATCHES * threads * max_files, LOOKAHEAD_TASKS)
        ahead_bytes = LOOKAHEAD_BATCHES * threads * max_bytes
        while not planned and len(pending) < ahead_files and pending_bytes < ahead_bytes:
            task = next(source, _END)
            if task is _END:
                planned = True
                threads = max(slots(), 1)  # workers may have come or gone meanwhile (adaptive clusters)
                break
            size = _size(task)
            pending.append((task, size))
            pending_bytes += size
        if not pending:
            return
        files, size_cap = max_files, max_bytes
        if planned:
            share = TAIL_SHARES * threads
            files = min(max_files, max(MIN_BATCH_FILES, -(-len(pending) // share)))
            size_cap = min(max_bytes, max(MIN_BATCH_BYTES, -(-pending_bytes // share)))
        batch: list[Any] = []
        size = 0
        while pending and len(batch) < files and (not batch or size + pending[0][1] <= size_cap):
            task, task_size = pending.popleft()
            batch.append(task)
            size += task_size
        pending_bytes -= size
        yield batch


_END = object()


def _fixed(tasks: Iterable[Any], max_files: int, max_bytes: int) -> Iterator[list[Any]]:
    batch: list[Any] = []
    size = 0
    for task in tasks:
        task_size = _size(task)
        if batch and (len(batch) >= max_files or size + task_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(task)
        size += task_size
    if batch:
        yield batch


_TUNED = False


def run_batch(operation: Any, tasks: list[Any], storage_options: dict[str, Any], roots: list[str] | None,
              output: str | None, in_place: bool, unwritten: frozenset[int] = frozenset(),
              follow_symlinks: bool = False, cwd: str | None = None) -> Done:
    """Run one batch of whole-file tasks on a worker, in order; write each file's output (if any)
    straight to storage as soon as its last record is done, except for the tasks at the positions
    ``unwritten`` (their output is another source's). Running it again writes the same bytes.
    ``cwd``: the client's working folder, where a relative path of a task is (reported as given)."""
    global _TUNED
    from procrecord.bulk import storage
    from procrecord.bulk.engine import tune_gc

    if not _TUNED:  # the worker process runs our tasks for its lifetime: tune its collector once
        tune_gc()
        _TUNED = True
    # This thread's options only: a worker with several threads runs other runs' tasks beside this one.
    given: dict[str, str] = {}  # absolute path -> the relative one the client planned
    if cwd is not None:
        from procrecord.bulk.loader import FileTask

        tasks = list(tasks)
        for position, task in enumerate(tasks):
            if isinstance(task, FileTask) and not os.path.isabs(task.path):
                given[os.path.join(cwd, task.path)] = task.path
                tasks[position] = attrs.evolve(task, path=os.path.join(cwd, task.path))
    with storage.using(storage_options):
        done = _run_batch(operation, tasks, roots, output, in_place, unwritten, follow_symlinks)
    if not given:
        return done

    def name(source: str) -> str:
        return given.get(source, source)

    return Done([item._replace(source=name(item.source)) for item in done.items], [name(s) for s in done.written],
                [name(s) for s in done.unchanged], [name(s) for s in done.skipped],
                [(name(s), why) for s, why in done.failures], [(name(s), t, name(o)) for s, t, o in done.conflicts])


def _run_batch(operation: Any, tasks: list[Any], roots: list[str] | None, output: str | None, in_place: bool,
               unwritten: frozenset[int], follow_symlinks: bool) -> Done:
    from procrecord.bulk import objectsink
    from procrecord.bulk.engine import Block, _run_task

    operation = _with_key(operation)
    sink = (objectsink.ObjectSink([], output, in_place, roots=roots, follow_symlinks=follow_symlinks)
            if (output or in_place) else None)
    slim: list[Any] = []
    for position, task in enumerate(tasks):
        items, _ = _run_task((operation, task))  # whole files: line numbers need no shifting
        if sink is not None and items and position not in unwritten:
            for item in items:
                sink.add(item)
            sink.done(items[-1].source)
        # record bytes never go back to the client: a block keeps only its totals
        slim += [item._replace(data=b"") if isinstance(item, Block) else item for item in items]
    if sink is None:
        return Done(slim, [], [], [], [], [])
    sink.close()
    return Done(slim, sink.written, sink.unchanged, sink.skipped, sink.failures, sink.conflicts)


class Collected:
    """The sink of a Dask run: workers wrote the outputs; this gathers what they reported."""

    def __init__(self) -> None:
        self.written: list[str] = []
        self.unchanged: list[str] = []
        self.skipped: list[str] = []
        self.failures: list[tuple[str, str]] = []
        self.conflicts: list[tuple[str, str, str]] = []

    def take(self, done: Done) -> None:
        """Add one task's report."""
        self.written += done.written
        self.unchanged += done.unchanged
        self.skipped += done.skipped
        self.failures += done.failures
        self.conflicts += done.conflicts

    def add(self, item: Any) -> None:
        """Outcomes need nothing more here (their outputs are written already)."""

    def done(self, source: str) -> None:
        """Nothing to finish: workers finished their objects."""

    def close(self) -> None:
        """Nothing pending."""

    def abort(self) -> None:
        """Nothing pending."""


def run_dask(address: str | None, sources: list[str], operation: Any, max_bytes: int, walk: Any,
             output: str | None = None, in_place: bool = False, collected: Collected | None = None,
             window: int | None = None, progress: Callable[[int], None] | None = None,
             batch_files: int | None = None, batch_bytes: int | None = None, skip: tuple[str, ...] = (),
             workers: int | None = None) -> Iterator[Any]:
    """Yield outcomes (and blocks without data, for their totals) of ``sources`` in input order,
    with batches of whole files run on Dask; outputs are written by the workers (reported into
    ``collected``). ``progress(records)`` is called as each batch completes, in whatever order.
    ``skip``: folders or prefixes not read (the run's own output); ``workers``: LocalCluster size;
    ``window``: batches in flight at most (default: :data:`WINDOW`, or two per worker thread if more)."""
    from procrecord.bulk import storage
    from procrecord.bulk.engine import Outcome
    from procrecord.bulk.loader import plan

    if isinstance(getattr(operation, "key", None), bytes) or isinstance(
            getattr(getattr(operation, "inner", None), "key", None), bytes):
        raise ProcrecordError(f"on Dask the pseudonym key comes from each worker's environment ({WORKER_KEY_ENV}), "
                              "never with the tasks: give the operation a WorkerKey (procrecord.bulk.executors."
                              "WorkerKey(procrecord.operations.redaction.fingerprint(key))) in its place; on the "
                              f"command line, set {WORKER_KEY_ENV} here and on every worker (not --key-file)")
    if output and not storage.is_url(output):
        output = os.path.abspath(output)  # this folder, not one of a worker's own working folder
    roots = [storage.source_root(s) for s in sources if s != "-"] if output else None
    options = storage.options()
    # Whole files only: a worker writes a whole output object, so a JSONL file is not split.
    owners = _Owners(output, roots, collected) if output else None
    dask_client = client(address, workers)
    try:
        threads = [0]

        def slots() -> int:
            """The cluster's worker threads now (one round trip to the scheduler)."""
            threads[0] = sum(dask_client.nthreads().values())
            return threads[0]

        planned = batches(plan(sources, max_bytes, chunk_bytes=1 << 62, skip=skip, walk=walk, read_ahead=False),
                          batch_files or BATCH_FILES, batch_bytes or BATCH_BYTES, slots)
        from distributed import as_completed

        finished = as_completed()
        index_of: dict[str, int] = {}
        ready: dict[int, Done] = {}
        submitted = yielded = 0

        def settle() -> None:
            """Wait for one batch to complete (any one), count its records, keep its report."""
            future = next(finished)
            done: Done = future.result()  # a batch that failed past its retries stops the run
            ready[index_of.pop(future.key)] = done
            if progress is not None:
                progress(sum(o.records for o in done.items if isinstance(o, Outcome)))

        for batch in planned:
            unwritten = owners.claim(batch) if owners is not None else frozenset()
            future = dask_client.submit(run_batch, operation, batch, options, roots, output, in_place, unwritten,
                                        bool(getattr(walk, "follow_symlinks", False)), os.getcwd(), pure=False,
                                        retries=3)
            index_of[future.key] = submitted
            finished.add(future)
            submitted += 1
            while submitted - yielded >= (window or max(WINDOW, 2 * threads[0])):
                while yielded not in ready:
                    settle()
                yield from _emit(ready.pop(yielded), collected)
                yielded += 1
        while yielded < submitted:
            while yielded not in ready:
                settle()
            yield from _emit(ready.pop(yielded), collected)
            yielded += 1
    finally:
        dask_client.close()
        cluster = getattr(dask_client, "cluster", None)
        if cluster is not None:  # one we started (LocalCluster, jobqueue): its workers and jobs end with the run
            cluster.close()


class _Owners:
    """Which source each output belongs to, decided on the client in input order (batches run apart,
    so no worker sees them all): a later source with the same output is a conflict, not written."""

    def __init__(self, output: str, roots: list[str] | None, collected: Collected | None) -> None:
        from procrecord.bulk.objectsink import ObjectSink
        from procrecord.bulk.storage import filesystem, is_url

        self._placer = ObjectSink([], output, roots=roots or [])
        # named as a local run names them: plain paths for a local output folder, URLs otherwise
        self._url = filesystem(output)[0].unstrip_protocol if is_url(output) else None
        self._owners: dict[str, str] = {}
        self._collected = collected

    def claim(self, batch: list[Any]) -> frozenset[int]:
        """The positions in ``batch`` whose output another source owns (each reported as a conflict)."""
        from procrecord.bulk.objectsink import UnsafeName

        taken = set()
        for position, task in enumerate(batch):
            source = getattr(task, "path", None) or getattr(task, "url", None)
            if not isinstance(source, str) or source == "-":
                continue
            try:
                target = self._placer.destination(source)
            except UnsafeName:
                continue  # not written: the worker's sink reports it
            if target is None:
                continue
            owner = self._owners.setdefault(self._placer.owner_key(target), source)
            if owner != source:
                taken.add(position)
                if self._collected is not None:
                    self._collected.conflicts.append((source, self._url(target) if self._url else target, owner))
        return frozenset(taken)


def _emit(done: Done, collected: Collected | None) -> Iterator[Any]:
    if collected is not None:
        collected.take(done)
    yield from done.items
