"""MLflow: one run per record, created through MLflow's own client in the tracking store the user names.

Standard tags (``mlflow.runName``, ``mlflow.user``, ``mlflow.source.*``), params from the flattened
config within MLflow's limits, metrics from timing, resources, emissions and usage, and the record
itself as the artifact ``procrecord.json``. A run carries the tags ``procrecord.record_id`` and
``procrecord.digest`` (the SHA-256 of the record as exported): a record already in the store with the same
digest is not exported again; one whose content changed since (a record flushed while its job ran,
exported again once it ended) brings its run up to date. A child's run gets ``mlflow.parentRunId`` once
its parent's run exists, whichever was exported first.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import re
from typing import Any, Iterator

from procrecord.bulk.jsoncodec import dumps
from procrecord.exports.columns import INT64, collisions, flatten, json_text
from procrecord.exports.interface import Exporter, ExportError, ExportOptions, Finding, record_id, require
from procrecord.exports.times import NS, timing_ns

ID_TAG = "procrecord.record_id"
#: The SHA-256 of the record as it was exported (sorted keys, compact JSON): a re-export of the same id
#: with another digest updates the run.
DIGEST_TAG = "procrecord.digest"
STATUS = {"completed": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
#: Tags :func:`tags_of` sets only when the record holds their field: one that the record exported again no
#: longer holds (exported earlier at level none, now at ``most``) is removed from its run, never left stale.
OPTIONAL_TAGS = ("mlflow.user", "procrecord.hostname", "mlflow.source.git.commit", "mlflow.source.git.branch",
                 "mlflow.source.git.repoURL", "mlflow.source.name", "procrecord.parent_id", "procrecord.root_id",
                 "procrecord.error")
METRIC_SECTIONS = ("timing.", "resources.", "emissions.", "usage.")
#: Characters MLflow accepts in param and metric names (its ``validate_param_and_metric_name``), for an MLflow
#: without its own check (see :func:`name_refused`).
_NAME = re.compile(r"^[/\w.\- :]*$")


def _ms(record: dict[str, Any], notes: list[str]) -> tuple[int | None, int | None]:
    """``(start, end)`` of the record in milliseconds (unreadable ones None, with a note)."""
    start, end = timing_ns(record, notes)
    per_ms = NS // 1000
    return None if start is None else start // per_ms, None if end is None else end // per_ms


def _config(config: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(config, dict) and config:
        for key, value in config.items():
            if isinstance(value, dict) and value:
                _config(value, f"{prefix}{key}.", out)
            elif value is None:
                out.setdefault(f"{prefix}{key}", None)
            elif out.get(f"{prefix}{key}") is None:  # keys that flatten alike: the first value keeps it (noted)
                out[f"{prefix}{key}"] = value
    elif config is not None:
        out[prefix.rstrip(".") or "config"] = config


def name_refused(key: str, limits: Any) -> str | None:
    """Why MLflow refuses ``key`` as a param name (None: it takes it). Asked of MLflow's own check
    (``mlflow.utils.validation._validate_param_name``: its characters, and names that resolve to another path:
    ``/abs``, ``a/../b``, ``a//b``, ``a/``, ``.``, the empty name) and its key length limit."""
    if len(key) > limits.MAX_ENTITY_KEY_LENGTH:
        return f"longer than MLflow's {limits.MAX_ENTITY_KEY_LENGTH} characters"
    check = getattr(limits, "_validate_param_name", None)
    if check is not None:
        try:
            check(key)
        except Exception as exc:  # noqa: BLE001 - MlflowException: its message says why
            return str(getattr(exc, "message", None) or exc).split(" supplied: ", 1)[-1]
        return None
    import posixpath  # an MLflow without that function: the same rule as its validate_param_and_metric_name/path_not_unique

    norm = posixpath.normpath(key)
    if not _NAME.fullmatch(key) or norm != key or norm == "." or norm.startswith(("..", "/")):
        return "not a name MLflow takes"
    return None


def params_of(record: dict[str, Any], limits: Any) -> tuple[dict[str, str], list[str]]:
    """The config as MLflow params (flattened, dotted keys, within MLflow's limits) and what was cut."""
    config = (record.get("invocation") or {}).get("config")
    flat: dict[str, Any] = {}
    _config(config, "", flat)
    params: dict[str, str] = {}
    notes: list[str] = collisions(config, "", "param")
    for key, value in flat.items():
        text = value if isinstance(value, str) else json_text(value)  # integers beyond 64 bits: exact digits
        why = name_refused(key, limits)
        if why:
            notes.append(f"param {key[:80]!r}: name not allowed by MLflow, left out ({why[:200]})")
            continue
        if len(text) > limits.MAX_PARAM_VAL_LENGTH:
            notes.append(f"param {key!r}: value cut to MLflow's {limits.MAX_PARAM_VAL_LENGTH} characters")
            text = text[: limits.MAX_PARAM_VAL_LENGTH]
        params[key] = text
    return params, notes


def metrics_of(record: dict[str, Any], notes: list[str] | None = None) -> dict[str, float]:
    """Durations, resources, energy and usage as MLflow metrics (plus the largest GPU peak memory).

    A metric is a float: an integer outside int64 is left out (never made a float), with a note in ``notes``.
    """
    from procrecord.record.schemas import current_version

    row, _ = flatten(record, current_version())
    found = [d.get("memory_used_peak_bytes") for d in record.get("devices") or () if isinstance(d, dict)]
    peaks: list[float] = [p for p in found if isinstance(p, (int, float))]
    if peaks:
        row["devices.memory_used_peak_bytes.max"] = max(peaks)
    metrics = {}
    for key, value in row.items():
        if not key.startswith(METRIC_SECTIONS) and key != "devices.memory_used_peak_bytes.max" \
                or not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if type(value) is int and not INT64[0] <= value < INT64[1]:
            if notes is not None:
                notes.append(f"metric {key!r} left out: {value} is an integer outside int64 (MLflow keeps floats)")
            continue
        metrics[key] = float(value)
    return metrics


def digest_of(record: dict[str, Any]) -> str:
    """The record's content digest (the ``procrecord.digest`` tag): SHA-256 of its compact JSON, keys sorted."""
    return hashlib.sha256(dumps(record, sort_keys=True)).hexdigest()


def tags_of(record: dict[str, Any]) -> dict[str, str]:
    """MLflow's standard tags and procrecord's own, from what the record (at its level) holds."""
    tags = {ID_TAG: str(record.get("id")), "procrecord.schema_version": str(record.get("schema_version")),
            "procrecord.status": str(record.get("status")), "mlflow.source.type": "LOCAL"}
    if record.get("name"):
        tags["mlflow.runName"] = str(record["name"])
    host = record.get("host") or {}
    if host.get("user"):
        tags["mlflow.user"] = str(host["user"])
    if host.get("hostname"):
        tags["procrecord.hostname"] = str(host["hostname"])
    git = record.get("git") or {}
    for key, tag in (("commit", "mlflow.source.git.commit"), ("branch", "mlflow.source.git.branch"),
                     ("remote_url", "mlflow.source.git.repoURL")):
        if git.get(key):
            tags[tag] = str(git[key])
    invocation = record.get("invocation") or {}
    source = (invocation.get("argv") or [None])[0] or invocation.get("executable")
    if source:
        tags["mlflow.source.name"] = str(source)
    for side in ("parent", "root"):
        if (record.get(side) or {}).get("id"):
            tags[f"procrecord.{side}_id"] = str(record[side]["id"])
    error = (record.get("outcome") or {}).get("error") or {}
    if error:
        tags["procrecord.error"] = ": ".join(p for p in (error.get("type"), error.get("message")) if p)[:5000]
    return tags


class MlflowExporter(Exporter):
    """Runs in an MLflow tracking store (server, database or folder store)."""

    name = "mlflow"
    extra = "mlflow"

    def __init__(self, options: ExportOptions) -> None:
        super().__init__(options)
        if not options.endpoint:
            raise ExportError("--to mlflow needs a tracking URI")
        # MLflow's client reads its HTTP timeout (whole seconds) and retries from the environment, at each request.
        self.http = {"MLFLOW_HTTP_REQUEST_TIMEOUT": str(max(1, math.ceil(options.timeout_s))),
                     "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(options.retries)}
        require("mlflow", "mlflow", "mlflow")
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
        from mlflow.utils import validation

        self.entities = (Metric, Param)
        self.tag = RunTag
        self.limits = validation
        try:
            with self._requests():
                self._connect(MlflowClient)
        except ExportError:
            raise
        except Exception as exc:  # no store: the export cannot go on
            raise ExportError(f"MLflow tracking store {options.endpoint}: {type(exc).__name__}: {exc}") from exc

    @contextlib.contextmanager
    def _requests(self) -> Iterator[None]:
        """MLflow's environment variables set to this export's timeout and retries while its requests are made,
        and as they were afterwards: an earlier export's values, or the user's, are never what this one uses."""
        saved = {name: os.environ.get(name) for name in self.http}
        os.environ.update(self.http)
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _connect(self, client_class: Any) -> None:
        """The client, the experiment (made when missing) and the runs it already holds."""
        options = self.options
        self.client = client_class(tracking_uri=options.endpoint)
        found = self.client.get_experiment_by_name(options.experiment)
        if found is not None and found.lifecycle_stage != "active":
            # MLflow makes no run in it, and keeps its name: every record would fail alike.
            raise ExportError(f"MLflow experiment {options.experiment!r} is deleted (id {found.experiment_id}): "
                              "restore it (mlflow experiments restore --experiment-id "
                              f"{found.experiment_id}) or give another --experiment")
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(options.experiment)
        #: Parent record id -> (record id, run id) of its children's runs that lack ``mlflow.parentRunId``
        #: (the parent's run did not exist when they were made: a child exported first, here or earlier).
        self.orphans: dict[str, list[tuple[str, str]]] = {}
        #: Record id -> the ``procrecord.digest`` of its run (None: a run made before procrecord wrote it).
        self.digests: dict[str, str | None] = {}
        self.known = self._load_known()

    def _load_known(self) -> dict[str, str]:
        """Record id -> run id of the runs this experiment already holds (one paged search, not one per record)."""
        known: dict[str, str] = {}
        token = None
        while True:
            page = self.client.search_runs([self.experiment_id], filter_string=f"tags.`{ID_TAG}` LIKE '%'",
                                           max_results=1000, page_token=token)
            for run in page:
                rid = run.data.tags[ID_TAG]
                if rid not in known:
                    known[rid] = run.info.run_id
                    self.digests[rid] = run.data.tags.get(DIGEST_TAG)
                parent = run.data.tags.get("procrecord.parent_id")
                if parent and "mlflow.parentRunId" not in run.data.tags:
                    self.orphans.setdefault(parent, []).append((run.data.tags[ID_TAG], run.info.run_id))
            token = page.token
            if not token:
                return known

    def _adopt(self, parent: str) -> list[Finding]:
        """Set ``mlflow.parentRunId`` on the runs of ``parent``'s children made before its run existed; a tag the
        store refuses is a note on that child (its run and the parent's are whole: only the link is missing)."""
        findings = []
        for child, child_run in self.orphans.pop(parent, ()):
            try:
                self.client.set_tag(child_run, "mlflow.parentRunId", self.known[parent])
            except Exception as exc:  # noqa: BLE001 - the link of one child, not the parent's export
                findings.append(Finding(child, "dropped", f"mlflow.parentRunId not set on run {child_run}: "
                                                          f"{type(exc).__name__}: {exc}"))
        return findings

    def close(self) -> list[Finding]:
        """Link the runs of earlier exports whose parent's run exists now (made by an earlier export, or by
        this one before its children were seen): done only by a run that exported something."""
        findings = []
        with self._requests():
            for parent in [p for p in self.orphans if p in self.known]:
                findings += self._adopt(parent)
        return findings

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Create the record's run; one already there (by its id tag) is left as it is when it holds the same
        content (digest tag), else brought up to date."""
        rid = record_id(record)
        try:
            digest = digest_of(record)
            if rid in self.known:
                if self.digests.get(rid) == digest:
                    return [Finding(rid, "skipped", f"already in the store as run {self.known[rid]}")]
                with self._requests():
                    return self._update(record, rid, digest)
            with self._requests():
                return self._create(record, rid, digest)
        except Exception as exc:  # noqa: BLE001 - one refused run is this record's finding
            return [Finding(rid, "error", f"not exported: {type(exc).__name__}: {exc}")]

    def _tags(self, record: dict[str, Any]) -> tuple[dict[str, str], str | None]:
        """The run's tags (``mlflow.parentRunId`` when the parent's run exists) and the parent record's id."""
        tags = tags_of(record)
        parent_id = (record.get("parent") or {}).get("id")
        if parent_id and str(parent_id) in self.known:
            tags["mlflow.parentRunId"] = self.known[str(parent_id)]
        return tags, str(parent_id) if parent_id else None

    def _create(self, record: dict[str, Any], rid: str, digest: str) -> list[Finding]:
        Metric, Param = self.entities
        tags, parent_id = self._tags(record)
        tags[DIGEST_TAG] = digest
        params, notes = params_of(record, self.limits)
        start, end = _ms(record, notes)
        if start is None:  # as OpenLineage and OTel say of theirs: MLflow stamps the run when it is created
            notes.append("no timing (redacted?): the run's start time is the export time"
                         if not (record.get("timing") or {}).get("start_time") else
                         "the run's start time is the export time")
        run = self.client.create_run(self.experiment_id, start_time=start, tags=tags, run_name=record.get("name"))
        run_id = run.info.run_id
        try:
            stamp = max(end or start or 0, 0)  # MLflow: metric timestamps are non-negative
            metrics = [Metric(k, v, stamp, 0) for k, v in metrics_of(record, notes).items()]
            param_list = [Param(k, v) for k, v in params.items()]
            step = self.limits.MAX_PARAMS_TAGS_PER_BATCH
            for index in range(0, max(len(param_list), len(metrics), 1), step):
                self.client.log_batch(run_id, metrics=metrics[index:index + step], params=param_list[index:index + step])
            self.client.log_text(run_id, dumps(record, indent=True).decode(), "procrecord.json")
            status = STATUS.get(record.get("status", ""))
            if status:
                self.client.set_terminated(run_id, status, end_time=end)
        except BaseException:
            # A half-written run would be taken for a finished export next time: remove it.
            with contextlib.suppress(Exception):
                self.client.delete_run(run_id)
            raise
        self.known[rid] = run_id
        self.digests[rid] = digest
        if parent_id and "mlflow.parentRunId" not in tags:
            self.orphans.setdefault(parent_id, []).append((rid, run_id))  # tagged once the parent's run exists
        adopted = self._adopt(rid) if rid in self.orphans else []
        return [Finding(rid, "dropped", note) for note in notes] + adopted

    def _update(self, record: dict[str, Any], rid: str, digest: str) -> list[Finding]:
        """Bring the run of a record whose content changed since its export up to date: tags (those of fields the
        record no longer holds removed), params not there yet, metrics whose value differs (logged as the
        metric's latest value), the artifact, the status and end time; the digest tag last, so that an update
        cut short is done again next time. A param already there with another value stays as it is (MLflow's
        params cannot change): a note names it; so does the run's ``user_id`` (it cannot change either)."""
        Metric, Param = self.entities
        run_id = self.known[rid]
        run = self.client.get_run(run_id)
        tags, parent_id = self._tags(record)
        params, notes = params_of(record, self.limits)
        start, end = _ms(record, notes)
        if start is not None and run.info.start_time != start:
            notes.append(f"start time not updated: MLflow keeps the run's start time ({run.info.start_time} ms), "
                         f"the record now has {start} ms")
        new_params = []
        for key, value in params.items():
            old = run.data.params.get(key)
            if old is None:
                new_params.append(Param(key, value))
            elif old != value:
                # The stored value is not repeated: it may hold what the level of this export removes (a
                # token exported earlier at level none), and the notes go to logs.
                notes.append(f"param {key!r} not updated: MLflow keeps a param's first value ({len(old)} "
                             f"characters, not repeated here), the record now has {value[:200]!r}")
        metrics = []
        for key, number in metrics_of(record, notes).items():
            if run.data.metrics.get(key) != number:
                # MLflow's value of a metric is its latest (step, timestamp): log it after every earlier one.
                history = self.client.get_metric_history(run_id, key) if key in run.data.metrics else []
                stamp = max([end or start or 0, 0, *(m.timestamp + 1 for m in history)])
                metrics.append(Metric(key, number, stamp, 0))
        new_tags = [self.tag(k, v) for k, v in tags.items() if run.data.tags.get(k) != v]
        step = self.limits.MAX_PARAMS_TAGS_PER_BATCH
        for index in range(0, max(len(new_params), len(metrics), len(new_tags)), step):
            self.client.log_batch(run_id, metrics=metrics[index:index + step], params=new_params[index:index + step],
                                  tags=new_tags[index:index + step])
        for key in OPTIONAL_TAGS:
            if key in run.data.tags and key not in tags:
                self.client.delete_tag(run_id, key)
        if getattr(run.info, "user_id", None) not in (None, "", "unknown", tags.get("mlflow.user")):
            notes.append("the run's user_id not updated: MLflow keeps the user the run was made with "
                         "(mlflow.user is updated; delete the run and export again to change both)")
        self.client.log_text(run_id, dumps(record, indent=True).decode(), "procrecord.json")
        status = STATUS.get(record.get("status", ""))
        if status and (run.info.status != status or run.info.end_time != end):
            self.client.set_terminated(run_id, status, end_time=end)
        if parent_id and "mlflow.parentRunId" in tags:  # linked now: nothing left to mend for it
            waiting = [o for o in self.orphans.get(parent_id, ()) if o[1] != run_id]
            if waiting:
                self.orphans[parent_id] = waiting
            else:
                self.orphans.pop(parent_id, None)
        self.client.set_tag(run_id, DIGEST_TAG, digest)
        self.digests[rid] = digest
        adopted = self._adopt(rid) if rid in self.orphans else []
        return [Finding(rid, "dropped", note) for note in notes] + adopted
