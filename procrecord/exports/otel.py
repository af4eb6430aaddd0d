"""OpenTelemetry: one span per run, built as the SDK's ``ReadableSpan``s and encoded by its OTLP encoder.

Resource and span attributes come from the schema's ``x-otel`` annotations (resource namespaces:
service, host, os, process, container, k8s); everything else with a flat value rides along as
``procrecord.<column>`` span attributes. Trace and span ids are derived from the root and record
ids, so the runs of one pipeline form one trace and re-exports repeat the same ids. Output: OTLP/JSON
lines (one ``TracesData`` per batch), or the SDK's OTLP/HTTP exporter when an endpoint is named.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import re
from typing import IO, Any, Iterator

from procrecord.exports.columns import INT64, collisions, flatten, json_text
from procrecord.exports.interface import Exporter, ExportError, ExportOptions, Finding, record_id, require
from procrecord.exports.lineage import as_uuid, without_userinfo
from procrecord.exports.times import timing_ns, to_ns  # noqa: F401 - to_ns: where callers found it before

RESOURCE_NAMESPACES = ("service.", "host.", "os.", "process.", "container.", "k8s.")
EXCEPTION = "exception."
#: The repository's URL (from ``git.remote_url``).
REPOSITORY = "vcs.repository.url.full"
#: Longest text attribute kept (a JSON column beyond this is dropped, with a finding).
MAX_TEXT = 8192
BATCH = 512


@functools.lru_cache(maxsize=None)
def otel_paths(version: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """``(path, attribute)`` for every ``x-otel`` annotation of the schema (``*`` marks array items)."""
    from procrecord.record.schemas import iter_properties, load_schema

    return tuple((tuple(pointer.strip("/").split("/")), sub["x-otel"])
                 for pointer, sub, _ in iter_properties(load_schema(version)) if "x-otel" in sub)


def _get(record: Any, path: tuple[str, ...]) -> Any:
    for index, part in enumerate(path):
        if part == "*":
            if not isinstance(record, list):
                return None
            values = [_get(item, path[index + 1:]) for item in record]
            return [v for v in values if v is not None] or None
        if not isinstance(record, dict):
            return None
        record = record.get(part)
    return record


def span_id(value: object) -> int:
    """A non-zero 64-bit span id derived from a record id."""
    return int.from_bytes(hashlib.sha256(str(value).encode()).digest()[:8], "big") or 1


def trace_id(record: dict[str, Any]) -> int:
    """The trace id: the root's id (the record's own when it is the root) as a 128-bit number."""
    root = (record.get("root") or {}).get("id") or (record.get("parent") or {}).get("id") or record.get("id")
    return as_uuid(root)[0].int or 1


def _unsigned(name: str, ns: int | None, notes: list[str]) -> int | None:
    """``ns`` when OTLP can carry it (unsigned 64-bit nanoseconds since 1970), else None with a note."""
    if ns is None or 0 <= ns < 2**64:
        return ns
    when = "before 1970" if ns < 0 else "after 2554"
    notes.append(f"the span's {name} time left out: {when}, which OTLP's unsigned nanoseconds since 1970 cannot "
                 f"carry ({ns} ns); the span {'starts' if name == 'start' else 'ends'} at "
                 f"{'0' if name == 'start' else 'its start'}")
    return None


def _attribute(value: Any) -> Any:
    """An OTel attribute value: scalars as they are, lists of one scalar type, anything else as text
    (JSON); an integer outside int64, which OTLP cannot carry, as the text of its exact digits."""
    if isinstance(value, (str, bool, float)):
        return value
    if isinstance(value, int):
        return value if INT64[0] <= value < INT64[1] else str(value)
    if isinstance(value, list) and value and all(type(v) is type(value[0]) for v in value) \
            and isinstance(value[0], (str, bool, int, float)) \
            and not (type(value[0]) is int and not INT64[0] <= min(value) <= max(value) < INT64[1]):
        return value
    return json_text(value)


def _converted(name: str, value: Any, kept: Any, notes: list[str]) -> Any:
    """``kept`` (the attribute made of ``value``), with a note when an integer outside int64 became text."""
    if isinstance(kept, str) and not isinstance(value, str) and _wide(value):
        notes.append(f"{name}: an integer outside int64 (which OTLP cannot carry) written as text")
    return kept


def _wide(value: Any) -> bool:
    """True when ``value`` holds an integer outside int64 (a list's items too)."""
    if type(value) is int:
        return not INT64[0] <= value < INT64[1]
    return isinstance(value, list) and any(_wide(v) for v in value)


def build_span(record: dict[str, Any], sdk: Any = None) -> tuple[Any, list[str]]:
    """The record (prepared: current version, redacted as wanted) as one OpenTelemetry SDK ``ReadableSpan``,
    and notes on what had no place in it. ``sdk``: the SDK classes (:func:`sdk_classes`), found when None."""
    from procrecord.record.schemas import current_version

    version = current_version()
    trace, status_mod, resource_cls, span_cls, event_cls, scope = sdk or _sdk()
    notes: list[str] = []
    resource: dict[str, Any] = {}
    attributes: dict[str, Any] = {}
    exception: dict[str, Any] = {}
    mapped: set[str] = set()
    for path, name in otel_paths(version):
        value = _get(record, path)
        if value is None:
            continue
        mapped.add(".".join(p for p in path if p != "*"))
        if name.startswith(EXCEPTION):
            exception[name] = str(value)
        elif name.startswith(RESOURCE_NAMESPACES):
            resource[name] = _converted(name, value, _attribute(value), notes)
        else:
            attributes[name] = _converted(name, value, _attribute(value), notes)
    resource.setdefault("service.name", record.get("name") or "procrecord")
    if isinstance(attributes.get(REPOSITORY), str):  # an identifier: never who cloned it (see without_userinfo)
        attributes[REPOSITORY] = without_userinfo(attributes[REPOSITORY])
    row, _ = flatten(record, version, "config.")
    notes.extend(collisions((record.get("invocation") or {}).get("config"), "procrecord.config.", "attribute"))
    too_long = []
    for column, value in row.items():
        if column in mapped:
            continue
        if isinstance(value, str) and len(value) > MAX_TEXT:
            too_long.append(column)
            continue
        if type(value) is int and not INT64[0] <= value < INT64[1]:
            value = _converted(f"procrecord.{column}", value, str(value), notes)
        attributes[f"procrecord.{column}"] = value
    if too_long:
        notes.append(f"attributes longer than {MAX_TEXT} characters left out: " + ", ".join(too_long))
    start, end = timing_ns(record, notes)
    if start is None and not (record.get("timing") or {}).get("start_time"):
        notes.append("no start time (redacted?): the span starts and ends at 0")
    start, end = (_unsigned(name, value, notes) for name, value in (("start", start), ("end", end)))
    status_name = record.get("status")
    if status_name == "completed":
        status = status_mod.Status(status_mod.StatusCode.OK)
    elif status_name in ("failed", "interrupted"):
        outcome = record.get("outcome") or {}
        error = outcome.get("error") or {}
        why = error.get("message") or error.get("type") or (f"signal {outcome['signal']}" if outcome.get("signal") else status_name)
        status = status_mod.Status(status_mod.StatusCode.ERROR, str(why))
    else:
        status = status_mod.Status(status_mod.StatusCode.UNSET)
    events = [event_cls("exception", exception, timestamp=end or start or 0)] if exception else []
    tid = trace_id(record)
    own = trace.SpanContext(tid, span_id(record.get("id")), is_remote=False,
                            trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    parent = None
    parent_id = (record.get("parent") or {}).get("id")
    if parent_id:
        parent = trace.SpanContext(tid, span_id(parent_id), is_remote=True,
                                   trace_flags=trace.TraceFlags(trace.TraceFlags.SAMPLED))
    span = span_cls(name=record.get("name") or "process", context=own, parent=parent,
                    resource=resource_cls(resource), attributes=attributes, events=events,
                    kind=trace.SpanKind.INTERNAL, status=status, start_time=start or 0,
                    end_time=end or start or 0, instrumentation_scope=scope)
    return span, notes


def sdk_classes() -> Any:
    """The OpenTelemetry SDK classes :func:`build_span` uses (:class:`~.interface.MissingExtraError` without the
    ``otel`` extra); pass them to build many spans without looking them up each time."""
    return _sdk()


@functools.lru_cache(maxsize=1)
def _sdk() -> Any:
    require("opentelemetry.sdk.trace", "otel", "otel")
    require("opentelemetry.exporter.otlp.proto.common.trace_encoder", "otel", "otel")
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import status

    from procrecord._version import __version__

    return trace, status, Resource, ReadableSpan, Event, InstrumentationScope("procrecord", __version__)


def to_otlp_json(spans: list[Any]) -> bytes:
    """Spans as one OTLP/JSON ``TracesData`` line (hex ids and integer enums, as the OTLP spec asks)."""
    import orjson
    from google.protobuf.json_format import MessageToDict
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    for resource_spans in body.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = _hex(span[key])
    return orjson.dumps(body) + b"\n"


def _hex(b64: str) -> str:
    import base64

    return base64.b64decode(b64).hex()


class OtelExporter(Exporter):
    """Spans in batches: OTLP/JSON lines to ``output``, or OTLP/HTTP to ``endpoint``."""

    name = "otel"
    extra = "otel"

    def __init__(self, options: ExportOptions) -> None:
        super().__init__(options)
        self.sdk = _sdk()
        self.pending: list[tuple[str, Any]] = []
        self.sender = None
        self._ctx: Any = None
        self._out: IO[bytes] | None = None
        if options.endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # The SDK exporter retries with back-off within ``timeout`` and then gives up.
            self.sender = OTLPSpanExporter(endpoint=options.endpoint, timeout=options.timeout_s)
        elif options.output:
            from procrecord.atomic import replacing

            self._ctx = replacing(options.output)
            self._out = self._ctx.__enter__()
        else:
            raise ExportError("--to otel needs -o FILE or --endpoint URL")

    def add(self, record: dict[str, Any]) -> list[Finding]:
        """Build the record's span; a full batch is written or sent."""
        span, notes = build_span(record, self.sdk)
        rid = record_id(record)
        self.pending.append((rid, span))
        findings = [Finding(rid, "dropped", note) for note in notes]
        if len(self.pending) >= BATCH:
            findings.extend(self._flush())
        return findings

    def _flush(self) -> list[Finding]:
        batch, self.pending = self.pending, []
        if not batch:
            return []
        spans = [span for _, span in batch]
        if self.sender is not None:
            from opentelemetry.sdk.trace.export import SpanExportResult

            with _sdk_log() as said:
                try:
                    result = self.sender.export(spans)
                except Exception as exc:  # noqa: BLE001 - the batch's records get the finding
                    result, why = None, f"{type(exc).__name__}: {exc}"
                else:
                    why = "the endpoint refused it or did not answer in time" + _reason(said)
            if result != SpanExportResult.SUCCESS:
                return [Finding(rid, "error", f"not sent: {why}") for rid, _ in batch]
            return []
        assert self._out is not None
        self._out.write(to_otlp_json(spans))
        return []

    def close(self) -> list[Finding]:
        """Write or send the last batch, then finish the file or shut the exporter down."""
        findings = self._flush()
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            ctx.__exit__(None, None, None)
        if self.sender is not None:
            with _sdk_log():
                self.sender.shutdown()
        return findings

    def abort(self) -> None:
        """Leave the previous output file as it was."""
        if self._ctx is not None:
            ctx, self._ctx = self._ctx, None
            ctx.__exit__(KeyboardInterrupt, KeyboardInterrupt(), None)


#: The logger the SDK's OTLP/HTTP span exporter reports its retries and failures to.
_SDK_LOGGER = "opentelemetry.exporter.otlp.proto.http.trace_exporter"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^\"')]+)")


@contextlib.contextmanager
def _sdk_log() -> Iterator[list[logging.LogRecord]]:
    """Keep the SDK exporter's own log lines ("Transient error ... retrying", "Failed to export spans
    batch") off the application's log and stderr while it runs: the export reports each record's
    failure once, in its findings. Yields what the SDK said, for the finding's reason."""
    logger = logging.getLogger(_SDK_LOGGER)
    said: list[logging.LogRecord] = []
    handler = _Collect(said)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield said
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


class _Collect(logging.Handler):
    def __init__(self, into: list[logging.LogRecord]) -> None:
        super().__init__(logging.DEBUG)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record)


def _reason(said: list[logging.LogRecord]) -> str:
    """`` (why)`` from what the SDK logged: the endpoint's answer, or the connection's error."""
    for record in reversed(said):
        if "code:" in str(record.msg):  # "Failed to export spans batch code: 400, reason: ..."
            return f" ({record.getMessage()[:300]})"
    for record in said:
        if str(record.msg).startswith("Transient error") and record.args:
            text = str(record.args[0] if isinstance(record.args, tuple) else record.args)
            found = _ERRNO.search(text)
            return f" ({found.group(1).strip() if found else text[:300]})"
    return ""
