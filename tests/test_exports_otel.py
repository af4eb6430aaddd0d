"""OpenTelemetry spans: OTLP/JSON files, and OTLP/HTTP to a local receiver decoded with opentelemetry-proto."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from exportdata import CHILD_ID, ROOT_ID, failed, pipeline
from httpsink import closed_port, receiver

from procrecord.exports import ExportOptions, export
from procrecord.exports.otel import span_id, to_ns

pytest.importorskip("opentelemetry.sdk.trace")
trace_pb2 = pytest.importorskip("opentelemetry.proto.collector.trace.v1.trace_service_pb2")


def _attrs(items):
    out = {}
    for item in items:
        value = item["value"]
        out[item["key"]] = next(iter(value.values())) if value else None
    return out


def _spans(path):
    found = []
    for line in path.read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    found.append((_attrs(rs["resource"]["attributes"]), span))
    return found


def test_a_pipeline_is_one_trace_with_parent_links(tmp_path):
    root, child = pipeline()
    out = tmp_path / "spans.jsonl"
    assert export([root, child], "otel", ExportOptions(output=str(out))) == []
    (root_res, root_span), (child_res, child_span) = _spans(out)
    assert root_span["traceId"] == child_span["traceId"] == uuid.UUID(ROOT_ID).hex
    assert root_span["spanId"] == f"{span_id(ROOT_ID):016x}"
    assert child_span["parentSpanId"] == root_span["spanId"] and "parentSpanId" not in root_span
    assert child_span["name"] == "fit" and child_span["status"]["code"] == 1  # OK
    assert child_span["startTimeUnixNano"] == str(to_ns(child["timing"]["start_time"]))
    # Resource attributes from the schema's x-otel annotations.
    assert child_res["host.name"] == "gpu-node07.lab.example.org"
    assert child_res["process.working_directory"] == "/home/jdoe/projects/seg"
    assert child_res["process.exit.time"] == child["timing"]["stop_time"]
    assert child_res["container.image.name"] == "ghcr.io/geo/train:1.2"
    assert child_res["service.instance.id"] == CHILD_ID and child_res["service.name"] == "fit"
    span_attrs = _attrs(child_span["attributes"])
    assert span_attrs["vcs.ref.head.revision"] == child["git"]["commit"]
    assert span_attrs["procrecord.emissions.energy_kwh"] == 2.4113
    assert span_attrs["procrecord.distributed.world_size"] == "2"  # OTLP/JSON writes 64-bit ints as text
    assert span_attrs["hw.model"] == {"values": [{"stringValue": "NVIDIA H100 80GB HBM3"}]}


def test_config_keys_that_flatten_to_one_attribute_keep_the_first_and_say_so(tmp_path):
    root, _ = pipeline()
    root["invocation"]["config"] = {"model": {"depth": 3}, "model.depth": 7}
    out = tmp_path / "spans.jsonl"
    findings = export([root], "otel", ExportOptions(output=str(out)))
    assert [(f.kind, f.message) for f in findings] == [("dropped", 'config ["model.depth"] left out: its attribute '
                                                                   'procrecord.config.model.depth holds config ["model","depth"]')]
    [(_, span)] = _spans(out)
    assert _attrs(span["attributes"])["procrecord.config.model.depth"] == "3"


def test_failed_runs_get_an_error_status_and_an_exception_event(tmp_path):
    out = tmp_path / "spans.jsonl"
    export([failed()], "otel", ExportOptions(output=str(out)))
    [(_, span)] = _spans(out)
    assert span["status"]["code"] == 2 and "No such file" in span["status"]["message"]
    [event] = span["events"]
    assert event["name"] == "exception"
    assert _attrs(event["attributes"])["exception.type"] == "FileNotFoundError"


def test_re_exports_repeat_the_same_ids(tmp_path):
    root, child = pipeline()
    a, b = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    export([root, child], "otel", ExportOptions(output=str(a)))
    export([child, root], "otel", ExportOptions(output=str(b)))
    ids = lambda p: sorted((s["traceId"], s["spanId"]) for _, s in _spans(p))
    assert ids(a) == ids(b)


def test_spans_are_sent_with_the_sdk_exporter_and_decode_with_opentelemetry_proto():
    root, child = pipeline()
    with receiver() as sink:
        findings = export([root, child], "otel", ExportOptions(endpoint=sink.url + "/v1/traces", timeout_s=5),
                          level="most")
    assert findings == []
    [(path, headers, body)] = sink.requests
    headers = {k.lower(): v for k, v in headers.items()}
    assert path == "/v1/traces" and headers["content-type"] == "application/x-protobuf"
    request = trace_pb2.ExportTraceServiceRequest.FromString(body)
    spans = {s.name: (rs, s) for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans}
    rs, span = spans["fit"]
    assert span.trace_id == uuid.UUID(ROOT_ID).bytes and span.parent_span_id == span_id(ROOT_ID).to_bytes(8, "big")
    resource = {a.key for a in rs.resource.attributes}
    assert "host.cpu.model.name" in resource
    assert "host.name" not in resource and "process.owner" not in resource  # removed by --level most


def test_an_endpoint_that_is_not_there_fails_each_record_in_bounded_time():
    begin = time.monotonic()
    findings = export([failed()], "otel", ExportOptions(endpoint=closed_port() + "/v1/traces", timeout_s=2))
    assert [f.kind for f in findings] == ["error"]
    assert time.monotonic() - begin < 30


_EXPORT_IN_BATCHES_OF_TWO = """
import sys
import procrecord.exports.otel as otel
from procrecord.cli import cli
otel.BATCH = 2  # the second record sends a batch of two; the third is sent at the end
# (a timeout of 3 s leaves room for the SDK's first retry, ~1 s on: its log line gives the reason)
sys.argv = ["procrecord", "export", "--to", "otel", "--timeout", "3", "--endpoint", sys.argv[1], *sys.argv[2:]]
cli()
"""


def test_records_an_endpoint_refused_are_named_by_source_and_the_sdk_says_nothing(tmp_path):
    """A real closed port: one line per record, naming its file (also for records sent in a batch
    with another one), and none of the SDK's own retry and failure log lines on stderr."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root, child = pipeline()
    third = failed()
    paths = []
    for name, record in (("a.json", root), ("b.json", child), ("c.json", third)):
        (tmp_path / "in").mkdir(exist_ok=True)
        (tmp_path / "in" / name).write_text(json.dumps(record), encoding="utf-8")
        paths.append(f"in/{name}")
    done = subprocess.run([sys.executable, "-c", _EXPORT_IN_BATCHES_OF_TWO, closed_port() + "/v1/traces", *paths],
                          capture_output=True, text=True, cwd=tmp_path, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines == [
        f"in/a.json:: error: [{root['id']}] not sent: the endpoint refused it or did not answer in time (Connection refused)",
        f"in/b.json:: error: [{child['id']}] not sent: the endpoint refused it or did not answer in time (Connection refused)",
        f"in/c.json:: error: [{third['id']}] not sent: the endpoint refused it or did not answer in time (Connection refused)",
        "export --to otel: 3 records: 0 exported, 3 failed",
    ], done.stderr


@pytest.mark.parametrize(("stamp", "expected"), [
    ("1970-01-01T00:00:01Z", 1_000_000_000),
    ("1970-01-01T00:00:01.5+00:00", 1_500_000_000),
    ("1970-01-01T01:00:00.000000123+01:00", 123),  # offsets applied, nanoseconds kept
    ("1970-01-01t00:00:01.5z", 1_500_000_000),
    ("", None),
])
def test_timestamps_become_nanoseconds(stamp, expected):
    assert to_ns(stamp) == expected


def test_text_that_is_no_time_is_an_error_not_a_missing_time():
    from procrecord.exports.times import TimeError

    with pytest.raises(TimeError, match="not an RFC 3339 date-time"):
        to_ns("not a time")


def _otlp_json_to_proto3_json(value, key=None):
    """OTLP/JSON differs from protobuf's JSON mapping in one place: trace and span ids are hex, not base64."""
    import base64

    if isinstance(value, dict):
        return {k: _otlp_json_to_proto3_json(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_otlp_json_to_proto3_json(v) for v in value]
    if key in ("traceId", "spanId", "parentSpanId") and value:
        return base64.b64encode(bytes.fromhex(value)).decode()
    return value


def test_the_otlp_json_file_decodes_with_opentelemetry_protos_json_mapping(tmp_path):
    from google.protobuf.json_format import MessageToDict, Parse
    from opentelemetry.proto.trace.v1 import trace_pb2 as spans_pb2

    root, child = pipeline()
    out = tmp_path / "spans.jsonl"
    export([root, child, failed()], "otel", ExportOptions(output=str(out)))
    lines = out.read_text().splitlines()
    assert lines
    spans = {}
    for line in lines:
        written = json.loads(line)
        # Unknown or misspelt keys, enums as names where ints are due, bad int64 text: Parse refuses them all.
        request = Parse(json.dumps(_otlp_json_to_proto3_json(written)), trace_pb2.ExportTraceServiceRequest(),
                        ignore_unknown_fields=False)
        # Nothing lost or added on the way: the decoded message writes back the same JSON.
        again = MessageToDict(request, use_integers_for_enums=True)
        assert again == _otlp_json_to_proto3_json(written)
        spans.update({s.name: s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans})
    fit = spans["fit"]
    assert fit.trace_id == uuid.UUID(ROOT_ID).bytes
    assert fit.span_id == span_id(CHILD_ID).to_bytes(8, "big")
    assert fit.parent_span_id == span_id(ROOT_ID).to_bytes(8, "big")
    assert fit.start_time_unix_nano == to_ns(child["timing"]["start_time"])
    assert fit.kind == spans_pb2.Span.SPAN_KIND_INTERNAL
    assert spans["prepare"].status.code == spans_pb2.Status.STATUS_CODE_OK
    attributes = {a.key: a.value for a in fit.attributes}
    assert attributes["procrecord.distributed.world_size"].int_value == 2  # int64 written as text, read back as a number


def test_integers_outside_int64_become_exact_text_attributes_with_a_note_and_no_sdk_traceback(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = pipeline()[0]
    root["invocation"]["config"] = {"step": 2**63, "lr": 0.5}
    root["invocation"]["pid"] = 2**64  # process.pid, a resource attribute
    root["extra"] = {"neg": -2**63 - 5}
    src = tmp_path / "R.json"
    src.write_text(json.dumps(root))
    out = tmp_path / "spans.jsonl"

    def run(*args):
        return subprocess.run([sys.executable, "-m", "procrecord", "export", "--to", "otel", "-o", str(out), *args,
                               str(src)], capture_output=True, text=True, timeout=120,
                              env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parent.parent)))

    done = run()
    assert done.returncode == 0, done.stderr
    assert done.stderr.splitlines() == [
        f"{src}:: dropped: [{ROOT_ID}] process.pid: an integer outside int64 (which OTLP cannot carry) written as text",
        f"{src}:: dropped: [{ROOT_ID}] procrecord.config.step: an integer outside int64 (which OTLP cannot carry) "
        "written as text",
        "export --to otel: 1 record: 1 exported, 1 with dropped fields"], done.stderr
    ((resource, span),) = _spans(out)
    attributes = _attrs(span["attributes"])
    assert attributes["procrecord.config.step"] == str(2**63) and attributes["procrecord.config.lr"] == 0.5
    assert resource["process.pid"] == str(2**64)
    assert json.loads(attributes["procrecord.extra"]) == {"neg": -2**63 - 5}
    assert run("--strict").returncode == 1


def test_the_repository_url_attribute_never_holds_credentials_redacted_or_not(tmp_path):
    _, child = pipeline()
    child["git"]["remote_url"] = "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/geo/train.git"
    for level in (None, "most"):
        out = tmp_path / f"spans-{level}.jsonl"
        export([child], "otel", ExportOptions(output=str(out)), level=level)
        [(_, span)] = _spans(out)
        assert _attrs(span["attributes"])["vcs.repository.url.full"] == "https://github.com/geo/train.git"


def test_the_readmes_library_snippet_runs_as_written():
    """The Export section's per-target library calls, taken from the README and run (build_span needs no private sdk)."""
    from pathlib import Path

    from opentelemetry.sdk.trace import ReadableSpan

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    at = readme.index("span, notes = otel.build_span(")
    snippet = readme[readme.rindex("```", 0, at):readme.index("```", at)].split("\n", 1)[1]
    root, _ = pipeline()
    scope = {"record": root}
    exec(snippet, scope)  # our own README's example
    assert isinstance(scope["span"], ReadableSpan) and scope["span"].name == "prepare"
    assert [e.eventType.name for e in scope["events"]] == ["START", "COMPLETE"]
    from procrecord.exports import otel

    span, _ = otel.build_span(root, otel.sdk_classes())
    assert span.context.span_id == scope["span"].context.span_id


def test_a_repository_url_with_an_unbalanced_bracket_is_exported_without_its_credentials(tmp_path):
    """``https://user:token@[host/x`` is text a valid record may hold (``git.remote_url``), which urlsplit refuses
    ("Invalid IPv6 URL"): the whole export stopped with a traceback. Its userinfo is still left out."""
    from google.protobuf import json_format
    from opentelemetry.proto.trace.v1.trace_pb2 import TracesData

    from procrecord.record.validation import validate

    _, child = pipeline()
    child["git"]["remote_url"] = "https://alice:tok3n-of-alice@[git.lab/geo/train.git"
    child["inputs"][1]["uri"] = "s3://KEY:SECRET-of-alice@[bucket/weights/base.pt"
    assert validate(child) == []
    out = tmp_path / "spans.jsonl"
    assert export([child], "otel", ExportOptions(output=str(out))) == []
    [line] = out.read_text().splitlines()
    data = json_format.Parse(line, TracesData())  # opentelemetry-proto's reading of OTLP/JSON
    [span] = data.resource_spans[0].scope_spans[0].spans
    attributes = {a.key: a.value.string_value for a in span.attributes}
    assert attributes["vcs.repository.url.full"] == "https://[git.lab/geo/train.git"  # (the record's own copy, in
    # procrecord.git.remote_url and procrecord.inputs at level none, is the record as it is)
