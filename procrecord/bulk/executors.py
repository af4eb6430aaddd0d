"""Where a bulk run's tasks execute: ``local[:N]`` (the process pool of :mod:`procrecord.bulk.engine`) or
``dask[:ADDRESS]`` (a Dask cluster: a LocalCluster, a running scheduler, or dask-jobqueue).

On Dask each task is one whole file or object: the worker reads it straight from storage, writes
its output straight to storage (one PUT per object) and sends back only outcomes without record
bytes, plus what it wrote. The client yields outcomes in planned order, whatever order tasks end
in, so reports are the same as a local run's. A retried task (a worker died) writes the same bytes
to the same objects: retries never duplicate or tear an output.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, NamedTuple

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


def client(address: str | None) -> Any:
    """A Dask client: a LocalCluster (no address), a running scheduler, or a dask-jobqueue cluster
    configured in Dask's own configuration (``jobqueue.slurm``, ``jobqueue.pbs``, ...)."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ProcrecordError("--executor dask needs dask: pip install 'procrecord[dask]'") from exc
    if address is None:
        workers = int(os.environ.get("PROCRECORD_DASK_WORKERS", "0")) or None
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster)
    if address.startswith("jobqueue."):
        name = address.split(".", 1)[1]
        try:
            import dask_jobqueue
        except ImportError as exc:
            raise ProcrecordError("--executor dask:jobqueue.* needs dask-jobqueue: pip install dask-jobqueue") from exc
        classes = {"slurm": "SLURMCluster", "pbs": "PBSCluster", "lsf": "LSFCluster", "sge": "SGECluster",
                   "htcondor": "HTCondorCluster", "moab": "MoabCluster", "oar": "OARCluster"}
        if name not in classes:
            raise ProcrecordError(f"unknown jobqueue cluster {name!r}: one of {', '.join(sorted(classes))}")
        cluster = getattr(dask_jobqueue, classes[name])()  # every setting from Dask's config (jobqueue.<name>)
        import dask

        cluster.adapt(**(dask.config.get(f"jobqueue.{name}.adapt", default=None) or {"maximum_jobs": 1}))
        return Client(cluster)
    return Client(address)


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


class Done(NamedTuple):
    """What a worker sends back for one task: outcomes without record bytes, and what it wrote."""

    items: list[Any]
    written: list[str]
    unchanged: list[str]
    skipped: list[str]
    failures: list[tuple[str, str]]
    conflicts: list[tuple[str, str, str]]


def _with_key(operation: Any) -> Any:
    """The operation with a :class:`WorkerKey` placeholder replaced by the worker's key."""
    inner = getattr(operation, "inner", None)  # procrecord.operations.transforms.Embedded
    if inner is not None and isinstance(getattr(inner, "key", None), WorkerKey):
        return attrs.evolve(operation, inner=_with_key(inner))
    if isinstance(getattr(operation, "key", None), WorkerKey):
        return attrs.evolve(operation, key=operation.key.resolve())
    return operation


def run_task(operation: Any, task: Any, storage_options: dict[str, Any], roots: list[str] | None,
             output: str | None, in_place: bool) -> Done:
    """Run one task on a worker; write its output (if any) straight to storage."""
    from procrecord.bulk import storage
    from procrecord.bulk.engine import Block, _run_task

    storage.set_options(storage_options)
    items, _ = _run_task((_with_key(operation), task))
    sink = None
    if output or in_place:
        sink = storage.ObjectSink([], output, in_place, roots=roots)
        for item in items:
            sink.add(item)
        sink.close()
    slim = [item._replace(data=b"") if isinstance(item, Block) else item for item in items]
    if sink is None:
        return Done(slim, [], [], [], [], [])
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
             window: int = 2048) -> Iterator[Any]:
    """Yield outcomes (and blocks without data, for their totals) of ``sources`` in input order,
    with tasks run on Dask; outputs are written by the workers (reported into ``collected``)."""
    from procrecord.bulk import storage
    from procrecord.bulk.loader import FileTask, plan

    if isinstance(getattr(operation, "key", None), bytes) or isinstance(
            getattr(getattr(operation, "inner", None), "key", None), bytes):
        raise ProcrecordError(f"on Dask the pseudonym key comes from each worker's environment ({WORKER_KEY_ENV}), "
                              "never with the tasks: use --key-from-worker-env")
    roots = [storage.source_root(s) for s in sources if s != "-"] if output else None
    options = storage.options()
    # Whole files only: a worker writes a whole output object, so a JSONL file is not split.
    tasks = plan(sources, max_bytes, chunk_bytes=1 << 62, walk=walk)
    dask_client = client(address)
    try:
        pending: list[Any] = []
        for task in tasks:
            if isinstance(task, FileTask) or hasattr(task, "fetch"):
                pending.append(dask_client.submit(run_task, operation, task, options, roots, output, in_place,
                                                  pure=False, retries=3))
            else:
                pending.append(task)  # a planning error: reported in its place
            if len(pending) >= window:
                yield from _drain(pending[: window // 2], collected)
                del pending[: window // 2]
        yield from _drain(pending, collected)
    finally:
        dask_client.close()
        cluster = getattr(dask_client, "cluster", None)
        if address is None and cluster is not None:
            cluster.close()


def _drain(pending: list[Any], collected: Collected | None) -> Iterator[Any]:
    from procrecord.bulk.engine import apply

    for entry in pending:
        if not hasattr(entry, "result"):
            yield apply(None, entry)  # type: ignore[arg-type]
            continue
        done: Done = entry.result()
        if collected is not None:
            collected.take(done)
        yield from done.items
