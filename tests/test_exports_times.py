"""Timestamps: one parser for every export, taking every form the schema's date-time format takes; a time a
target cannot hold is a note on that record, never the end of the export. Read back with each target's library."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import random

import pytest
from exportdata import pipeline

from procrecord.exports import ExportOptions, export
from procrecord.exports.times import NS, TimeError, normalized, parse_ns, utc_text
from procrecord.record.validation import validate

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


def _ns(moment: dt.datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86400 + delta.seconds) * NS + delta.microseconds * 1000


@pytest.mark.parametrize(("text", "expected"), [
    ("2026-01-01T00:00:00Z", _ns(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))),
    ("2026-01-01t00:00:00z", _ns(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))),
    ("2026-01-01T00:00:00.123456789+00:00", _ns(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) + 123456789),
    ("2026-01-01T00:00:00.1234567891234Z", _ns(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)) + 123456789),
    ("2026-01-01T05:30:00+05:30", _ns(dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))),
    ("1969-12-31T23:59:59.5+00:00", -NS // 2),
    ("2026-12-31T23:59:60Z", _ns(dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc))),  # POSIX: the next second
    ("0000-01-01T00:00:00Z", -62167219200 * NS),
    ("9999-12-31T23:59:59-23:59", _ns(dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.timezone.utc)) + 86340 * NS),
])
def test_rfc3339_forms_become_nanoseconds(text, expected):
    assert parse_ns(text) == expected


@pytest.mark.parametrize("text", ["2026-02-30T00:00:00Z", "2026-01-01T24:00:00Z", "2026-13-01T00:00:00Z",
                                  "2026-01-01T00:00:00+24:00", "yesterday", "2026-01-01", "2026-01-01T00:00Z"])
def test_text_that_is_no_time_is_an_error(text):
    with pytest.raises(TimeError):
        parse_ns(text)


def test_the_parser_agrees_with_datetime_over_many_instants_and_offsets():
    rng = random.Random(7)
    for _ in range(5000):
        moment = EPOCH.replace(year=1) + dt.timedelta(seconds=rng.randrange(315537897599), microseconds=rng.randrange(10**6))
        zone = dt.timezone(dt.timedelta(minutes=rng.randrange(-1439, 1440)))
        try:
            text = moment.astimezone(zone).isoformat()
        except OverflowError:
            continue
        assert parse_ns(text) == _ns(moment), text
        assert parse_ns(utc_text(parse_ns(text))) == _ns(moment)
        assert parse_ns(normalized(text)) == _ns(moment)


def _forms():
    """Odd spellings of date-times: cases, fraction lengths, offsets, leap seconds, edge dates."""
    dates = ["2026-01-01", "2024-02-29", "2026-02-29", "0000-01-01", "9999-12-31", "1969-12-31", "2026-12-31",
             "2026-06-30"]
    times = ["00:00:00", "23:59:59", "23:59:60", "12:30:60", "24:00:00"]
    fractions = ["", ".5", ".123456", ".1234567", ".123456789", ".1234567890123456", "."]
    zones = ["Z", "z", "+00:00", "-00:00", "+05:30", "-23:59", "+23:59", "+24:00", "", "+0530"]
    for date, time, fraction, zone, sep in itertools.product(dates, times, fractions, zones, "Tt "):
        yield f"{date}{sep}{time}{fraction}{zone}"


def test_every_form_the_schemas_date_time_checkers_accept_is_read():
    import jsonschema
    import jsonschema_rs

    fast = jsonschema_rs.validator_for({"type": "string", "format": "date-time"}, validate_formats=True)
    checker = jsonschema.Draft202012Validator.FORMAT_CHECKER
    accepted = 0
    for text in _forms():
        if fast.is_valid(text) or checker.conforms(text, "date-time"):
            accepted += 1
            parse_ns(text)  # no TimeError
    assert accepted > 500


def _record(number: int, start: str, stop: str | None = None) -> dict:
    root, _ = pipeline()
    record = copy.deepcopy(root)
    record["id"] = f"00000000-0000-4000-8000-{number:012d}"
    record["name"] = f"ts{number}"
    record["timing"] = {"start_time": start, "stop_time": stop or start, "duration_s": 0.0}
    assert validate(record) == [], start
    return record


STAMPS = {1: "2026-01-01t00:00:00z", 2: "2026-01-01T00:00:00.123456789+00:00", 3: "2026-12-31T23:59:60Z",
          4: "1969-12-31T23:59:59.5+00:00", 5: "2026-01-01T00:00:00.5-05:00"}


def test_parquet_takes_every_form_and_truncates_to_microseconds(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    records = [_record(n, s) for n, s in STAMPS.items()]
    out = tmp_path / "runs.parquet"
    assert export(records, "parquet", ExportOptions(output=str(out))) == []
    rows = dict(duckdb.sql(f"SELECT name, epoch_us(\"timing.start_time\") FROM '{out}'").fetchall())
    assert rows == {f"ts{n}": parse_ns(s) // 1000 for n, s in STAMPS.items()}
    assert rows["ts2"] % 1_000_000 == 123456


def test_parquet_with_several_workers_too(tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from click.testing import CliRunner

    from procrecord.cli import cli

    folder = tmp_path / "in"
    folder.mkdir()
    for n, s in STAMPS.items():
        (folder / f"{n}.json").write_text(json.dumps(_record(n, s)))
    out = tmp_path / "runs.parquet"
    result = CliRunner().invoke(cli, ["export", "--to", "parquet", "--jobs", "2", "-o", str(out), str(folder)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    table = pq.read_table(out, columns=["name", "timing.start_time"]).to_pylist()
    assert {r["name"]: _ns(r["timing.start_time"]) for r in table} == {f"ts{n}": parse_ns(s) // 1000 * 1000
                                                                       for n, s in STAMPS.items()}


def test_a_time_parquet_cannot_hold_is_a_note_on_its_record_and_the_rest_is_exported(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    pytest.importorskip("pyarrow")
    late = _record(9, "2026-01-01T00:00:00Z", "9999-12-31T23:59:59.5-23:59")  # year 10000 in UTC
    out = tmp_path / "runs.parquet"
    findings = export([_record(1, STAMPS[1]), late], "parquet", ExportOptions(output=str(out)))
    assert [(f.record_id, f.kind) for f in findings] == [(late["id"], "dropped")]
    assert "timing.stop_time left out" in findings[0].message and "10000" in findings[0].message
    rows = duckdb.sql(f"SELECT name, \"timing.stop_time\" IS NULL FROM '{out}' ORDER BY name").fetchall()
    assert rows == [("ts1", False), ("ts9", True)]


def _otel_spans(path):
    from google.protobuf.json_format import Parse
    from opentelemetry.proto.trace.v1 import trace_pb2

    spans = {}
    for line in path.read_text().splitlines():
        data = json.loads(line)
        for rs in data["resourceSpans"]:  # ids are hex in OTLP/JSON, base64 in protobuf's mapping: not needed here
            for ss in rs["scopeSpans"]:
                for span in ss["spans"]:
                    for key in ("traceId", "spanId", "parentSpanId"):
                        span.pop(key, None)
        message = Parse(json.dumps(data), trace_pb2.TracesData())
        spans.update({s.name: s for rs in message.resource_spans for ss in rs.scope_spans for s in ss.spans})
    return spans


def test_otel_spans_carry_every_form_with_nanoseconds(tmp_path):
    pytest.importorskip("opentelemetry.sdk.trace")
    records = [_record(n, s) for n, s in STAMPS.items() if n != 4]
    out = tmp_path / "spans.jsonl"
    assert export(records, "otel", ExportOptions(output=str(out))) == []
    spans = _otel_spans(out)
    for n, s in STAMPS.items():
        if n != 4:
            assert spans[f"ts{n}"].start_time_unix_nano == parse_ns(s) > 0
    assert spans["ts2"].start_time_unix_nano % NS == 123456789


def test_a_pre_1970_time_is_a_note_on_its_span_and_the_rest_is_exported(tmp_path):
    pytest.importorskip("opentelemetry.sdk.trace")
    from click.testing import CliRunner

    from procrecord.cli import cli

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps(_record(4, STAMPS[4])))
    (folder / "b.json").write_text(json.dumps(_record(1, STAMPS[1])))
    out = tmp_path / "spans.jsonl"
    result = CliRunner().invoke(cli, ["export", "--to", "otel", "-o", str(out), str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "dropped: [00000000-0000-4000-8000-000000000004] the span's start time left out: before 1970" in result.output
    spans = _otel_spans(out)
    assert spans["ts4"].start_time_unix_nano == 0 and spans["ts1"].start_time_unix_nano == parse_ns(STAMPS[1])


def test_mlflow_runs_carry_every_form(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    uri = (tmp_path / "mlruns").as_uri()
    records = [_record(n, s) for n, s in STAMPS.items()]
    assert export(records, "mlflow", ExportOptions(endpoint=uri)) == []
    client = MlflowClient(tracking_uri=uri)
    runs = client.search_runs([client.get_experiment_by_name("procrecord").experiment_id])
    got = {r.info.run_name: (r.info.start_time, r.info.end_time) for r in runs}
    assert got == {f"ts{n}": (parse_ns(s) // 1_000_000,) * 2 for n, s in STAMPS.items()}


def test_openlineage_event_times_are_ones_its_client_reads(tmp_path):
    pytest.importorskip("openlineage.client")
    from openlineage.client.event_v2 import RunEvent
    from openlineage.client.serde import Serde  # noqa: F401 - the client that wrote them

    records = [_record(n, s) for n, s in STAMPS.items()]
    out = tmp_path / "events.jsonl"
    assert export(records, "openlineage", ExportOptions(output=str(out))) == []
    times = {}
    for line in out.read_text().splitlines():
        event = json.loads(line)
        RunEvent.eventtime_check(None, None, event["eventTime"])
        times[event["job"]["name"]] = event["eventTime"]
    assert {name: parse_ns(text) for name, text in times.items()} == {f"ts{n}": parse_ns(s) for n, s in STAMPS.items()}
    assert times["ts1"] == "2026-01-01T00:00:00Z" and times["ts3"] == "2027-01-01T00:00:00Z"
    assert times["ts5"] == STAMPS[5]  # a plain form is kept as the record has it
