"""OpenLineage: each record becomes RunEvents (START, then COMPLETE / FAIL / ABORT from its status).

Built with openlineage-python's own event and facet classes and serialised by its ``Serde``;
written as JSON lines, or sent with the client's HTTP transport when an endpoint is named. The
run id is the record id; the whole record rides along as the ``procrecord`` run facet, whose
``_schemaURL`` is the record's schema.
"""

from __future__ import annotations

import datetime as dt
from typing import IO, Any

from procrecord.exports.interface import Exporter, ExportError, ExportOptions, Finding, record_id, require
from procrecord.exports.lineage import artifacts, as_uuid, null_paths, split_uri, without_userinfo

#: Record status -> the event type that ends the run (a running record only has its START).
END_EVENTS = {"completed": "COMPLETE", "failed": "FAIL", "interrupted": "ABORT"}
#: How many roots' names an export remembers for the ``root`` of their descendants' ``parent`` facets.
ROOT_NAMES = 4096


class _Facets:
    """The client's classes, imported once (the extra is optional), and the custom record facet."""

    def __init__(self) -> None:
        require("openlineage.client", "openlineage", "openlineage")
        import attr
        from openlineage.client import event_v2, facet_v2
        from openlineage.client.serde import Serde

        from procrecord.record.schemas import current_version, schema_id

        self.ev, self.fc, self.serde = event_v2, facet_v2, Serde
        schema_url = schema_id(current_version())

        @attr.define
        class ProcrecordRunFacet(facet_v2.RunFacet):
            """The full procrecord record (see ``_schemaURL``)."""

            record: dict = attr.field(factory=dict)

            @staticmethod
            def _get_schema() -> str:
                return schema_url

        self.record_facet = ProcrecordRunFacet


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat()


def _event_time(timing: dict[str, Any], names: tuple[str, ...], notes: list[str]) -> str | None:
    """The first of ``names`` in ``timing`` as an event time: as the record has it when it is in the plain
    RFC 3339 form, else the same instant in UTC (``t``/``z``, a leap second: see :mod:`.times`); None when
    missing, or (with a note) when the client's ``isoparse`` cannot read it even so (year 0000)."""
    from dateutil import parser

    from procrecord.exports.times import TimeError, normalized

    name = next((n for n in names if timing.get(n)), None)
    if name is None:
        return None
    try:
        text = normalized(timing[name], 9)
        parser.isoparse(text)  # what the client's RunEvent checks
    except (TimeError, ValueError, OverflowError) as exc:
        notes.append(f"timing.{name} left out: {exc}; the event carries "
                     f"{'the export time' if name == 'start_time' else 'the start time'}")
        return None
    return text


def _producer() -> str:
    from procrecord._version import __version__

    return f"https://pypi.org/project/procrecord/{__version__}/"


def run_events(record: dict[str, Any], options: ExportOptions, facets: _Facets | None = None,
               names: dict[str, str] | None = None) -> tuple[list[Any], list[str]]:
    """The record's RunEvents (client objects) and notes on what could not be carried as it was.

    ``names``: record id -> name of records seen before (an export's earlier records), for the ``parent``
    facet's ``root`` job when the root is not the parent (a record names only its root's id): the root's
    name when known, else the parent's when the root is the parent, else this run's job name.
    """
    f = facets or _Facets()
    ev, fc = f.ev, f.fc
    notes: list[str] = []
    producer = _producer()
    run_id, derived = as_uuid(record.get("id"))
    if derived:
        notes.append(f"id is not a UUID: run id {run_id} derived from it")
    job_name = options.job_name or record.get("name") or "unnamed"
    run_facets: dict[str, Any] = {
        "processing_engine": fc.processing_engine_run.ProcessingEngineRunFacet(
            version=(record.get("producer") or {}).get("version", "unknown"), name="procrecord",
            openlineageAdapterVersion=(record.get("producer") or {}).get("version"), producer=producer),
        "procrecord": f.record_facet(record=record, producer=producer),
    }
    env = (record.get("invocation") or {}).get("environment")
    if env:
        run_facets["environmentVariables"] = fc.environment_variables_run.EnvironmentVariablesRunFacet(
            environmentVariables=[fc.environment_variables_run.EnvironmentVariable(name=k, value=str(v))
                                  for k, v in env.items()], producer=producer)
    error = (record.get("outcome") or {}).get("error")
    if error:
        message = ": ".join(p for p in (error.get("type"), error.get("message")) if p) or "error"
        run_facets["errorMessage"] = fc.error_message_run.ErrorMessageRunFacet(
            message=message, programmingLanguage="python", stackTrace=error.get("traceback"), producer=producer)
    parent = record.get("parent")
    if parent and parent.get("id"):
        pr = fc.parent_run
        parent_uuid, _ = as_uuid(parent["id"])
        root = None
        root_id = (record.get("root") or {}).get("id")
        if root_id:  # the tree's first run, whichever level this one is at
            root_name = options.job_name or (names or {}).get(str(root_id)) \
                or (parent.get("name") if root_id == parent["id"] else None) or job_name
            root = pr.Root(run=pr.RootRun(runId=str(as_uuid(root_id)[0])),
                           job=pr.RootJob(namespace=options.namespace, name=root_name))
        run_facets["parent"] = pr.ParentRunFacet(
            run=pr.Run(runId=str(parent_uuid)),
            job=pr.Job(namespace=options.namespace, name=options.job_name or parent.get("name") or job_name),
            root=root, producer=producer)
    job_facets: dict[str, Any] = {
        "jobType": fc.job_type_job.JobTypeJobFacet(processingType="BATCH", integration="PROCRECORD",
                                                   jobType="PROCESS", producer=producer)}
    git = record.get("git") or {}
    if git.get("remote_url") or git.get("commit"):
        url = without_userinfo(git.get("remote_url") or "")
        try:
            job_facets["sourceCodeLocation"] = fc.source_code_location_job.SourceCodeLocationJobFacet(
                type="git", url=url, repoUrl=url or None, version=git.get("commit"), branch=git.get("branch"),
                producer=producer)
        except ValueError as exc:  # the facet's own check (urlparse): "https://[host/x" is text, not a URL to it
            notes.append(f"sourceCodeLocation left out: git.remote_url is not a URL the facet takes ({exc})")
    inputs = [_dataset(ev.InputDataset, fc, a, "input", producer) for a in artifacts(record, "inputs")]
    outputs = [_dataset(ev.OutputDataset, fc, a, "output", producer) for a in artifacts(record, "outputs")]
    run = ev.Run(runId=str(run_id), facets=run_facets)
    job = ev.Job(namespace=options.namespace, name=job_name, facets=job_facets)
    timing = record.get("timing") or {}
    start = _event_time(timing, ("start_time",), notes)
    if not start:
        if not timing.get("start_time"):
            notes.append("no timing (redacted?): events carry the export time")
        start = _now()
    events = [ev.RunEvent(eventType=ev.RunState.START, eventTime=start, run=run, job=job, inputs=inputs,
                          outputs=[], producer=producer)]
    end_type = END_EVENTS.get(record.get("status", ""))
    if end_type:
        end = _event_time(timing, ("stop_time", "update_time"), notes) or start
        events.append(ev.RunEvent(eventType=getattr(ev.RunState, end_type), eventTime=end, run=run, job=job,
                                  inputs=inputs, outputs=outputs, producer=producer))
    nulls = null_paths(record)
    if nulls:
        notes.append("null values left out by OpenLineage's serialiser: " + ", ".join(nulls))
    return events, notes


def _dataset(cls: Any, fc: Any, artifact: dict[str, Any], side: str, producer: str) -> Any:
    namespace, name = split_uri(artifact["uri"])
    facets: dict[str, Any] = {}
    if artifact.get("sha256"):
        facets["version"] = fc.dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion="sha256:" + artifact["sha256"], producer=producer)
    stats: dict[str, Any] = {}
    if artifact.get("size_bytes") is not None or artifact.get("file_count") is not None:
        if side == "input":
            stats["inputStatistics"] = fc.input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                size=artifact.get("size_bytes"), fileCount=artifact.get("file_count"), producer=producer)
        else:
            stats["outputStatistics"] = fc.output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                size=artifact.get("size_bytes"), fileCount=artifact.get("file_count"), producer=producer)
    if side == "input":
        return cls(namespace=namespace, name=name, facets=facets, inputFacets=stats)
    return cls(namespace=namespace, name=name, facets=facets, outputFacets=stats)


#: The path of OpenLineage's HTTP API for events (what the client appends to a base URL).
LINEAGE_PATH = "/api/v1/lineage"


def lineage_endpoint(endpoint: str) -> tuple[str, str]:
    """``(url, endpoint)`` for the client's ``HttpConfig`` from ``--endpoint``: a base URL
    (``http://marquez:5000``, also with a path prefix) or the full URL of the events API
    (``http://marquez:5000/api/v1/lineage``): either way events go to ``<base>/api/v1/lineage``. (The client
    joins the two with ``urljoin``, which would drop a prefix without a trailing slash and repeat a full URL's
    path: so the url is the scheme and host only, and the endpoint the whole path.)"""
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    path = parts.path.rstrip("/")
    if not path.endswith(LINEAGE_PATH):
        path += LINEAGE_PATH
    return f"{parts.scheme}://{parts.netloc}", path.lstrip("/") + (f"?{parts.query}" if parts.query else "")


class OpenLineageExporter(Exporter):
    """RunEvents as JSON lines to ``output``, or through the client's HTTP transport to ``endpoint``."""

    name = "openlineage"
    extra = "openlineage"

    def __init__(self, options: ExportOptions) -> None:
        super().__init__(options)
        self.facets = _Facets()
        #: Record id -> name of the last :data:`ROOT_NAMES` roots exported (the root job's name of later descendants).
        self.names: dict[str, str] = {}
        #: The client's HTTP transport, used as it is: the client (``OpenLineageClient.emit``) would change what
        #: is sent by its own configuration (openlineage.yml, ``OPENLINEAGE_*`` variables) of the process that
        #: exports: send nothing (``OPENLINEAGE_DISABLED``), filter events out, add facets of this machine's
        #: environment variables and of the git repository of the current folder, its tags, reduce dataset names.
        self.transport: Any = None
        self._ctx: Any = None
        self._out: IO[bytes] | None = None
        if options.endpoint:
            from openlineage.client.transport.http import HttpConfig, HttpTransport

            try:
                url, path = lineage_endpoint(options.endpoint)
                self.transport = HttpTransport(HttpConfig(
                    url=url, endpoint=path, timeout=options.timeout_s,
                    retry={"total": options.retries, "backoff_factor": 0.5,
                           "status_forcelist": [429, 500, 502, 503, 504], "allowed_methods": ["POST"]}))
            except ValueError as exc:  # urlsplit's, or the client's "Need valid url"
                raise ExportError(f"--to openlineage: endpoint {options.endpoint}: not a URL to send to ({exc})") from None
        elif options.output:
            from procrecord.atomic import replacing

            self._ctx = replacing(options.output)
            self._out = self._ctx.__enter__()
        else:
            raise ExportError("--to openlineage needs -o FILE or --endpoint URL")

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Write or send the record's events."""
        events, notes = run_events(record, self.options, self.facets, self.names)
        if record.get("id") and record.get("name") and not record.get("parent"):  # a root: remembered for its tree
            self.names[str(record["id"])] = str(record["name"])
            if len(self.names) > ROOT_NAMES:
                del self.names[next(iter(self.names))]  # the oldest: memory stays flat in the record count
        rid = record_id(record)
        if self.transport is not None:
            try:
                for event in events:
                    self.transport.emit(event)
            except Exception as exc:  # noqa: BLE001 - a refused event is this record's finding
                return [Finding(rid, "error", f"not sent: {type(exc).__name__}: {exc}")]
        else:
            assert self._out is not None
            self._out.write(b"".join(self.facets.serde.to_json(e).encode() + b"\n" for e in events))
        return [Finding(rid, "dropped", note) for note in notes]

    def close(self) -> list[Finding]:
        """Finish the JSON lines file (atomically) or close the transport."""
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            ctx.__exit__(None, None, None)
        if self.transport is not None:
            self.transport.close(self.options.timeout_s)
        return []

    def abort(self) -> None:
        """Leave the previous output file as it was."""
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            ctx.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)
