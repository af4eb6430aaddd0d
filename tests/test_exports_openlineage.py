"""OpenLineage RunEvents: built and serialised by openlineage-python, read back as the spec's JSON."""

from __future__ import annotations

import json
import time

import pytest
from exportdata import CHILD_ID, DIGEST, ROOT_ID, current, failed, pipeline
from httpsink import closed_port, receiver

from procrecord.exports import ExportOptions, export
from procrecord.record.schemas import current_version, schema_id

pytest.importorskip("openlineage.client")


def _events(tmp_path, records, level=None, **options):
    out = tmp_path / "events.jsonl"
    findings = export(records, "openlineage", ExportOptions(output=str(out), **options), level=level)
    return [json.loads(line) for line in out.read_text().splitlines()], findings


def test_a_pipeline_becomes_start_and_complete_events_with_lineage_and_datasets(tmp_path):
    root, child = pipeline()
    events, findings = _events(tmp_path, [root, child], namespace="lab")
    assert findings == []
    assert [(e["eventType"], e["run"]["runId"]) for e in events] == [
        ("START", ROOT_ID), ("COMPLETE", ROOT_ID), ("START", CHILD_ID), ("COMPLETE", CHILD_ID)]
    start, complete = events[2], events[3]
    assert start["eventTime"] == child["timing"]["start_time"] and complete["eventTime"] == child["timing"]["stop_time"]
    assert complete["job"] == {"namespace": "lab", "name": "fit", "facets": complete["job"]["facets"]}
    parent = complete["run"]["facets"]["parent"]
    assert parent["run"]["runId"] == ROOT_ID
    assert (parent["job"]["namespace"], parent["job"]["name"]) == ("lab", "prepare")
    assert parent["root"]["run"]["runId"] == ROOT_ID
    inputs = {(d["namespace"], d["name"]): d for d in complete["inputs"]}
    assert set(inputs) == {("file", "/data/prepared"), ("s3://bucket", "weights/base.pt")}
    assert inputs[("file", "/data/prepared")]["facets"]["version"]["datasetVersion"] == "sha256:" + DIGEST
    assert inputs[("file", "/data/prepared")]["inputFacets"]["inputStatistics"]["fileCount"] == 3
    [output] = complete["outputs"]
    assert output["name"] == "/runs/fit/model.pt" and output["outputFacets"]["outputStatistics"]["size"] == 1234
    # The root's output is the child's input: the same dataset, so lineage servers join them.
    assert (events[1]["outputs"][0]["namespace"], events[1]["outputs"][0]["name"]) == ("file", "/data/prepared")
    location = complete["job"]["facets"]["sourceCodeLocation"]
    assert location["version"] == child["git"]["commit"] and location["branch"] == child["git"]["branch"]
    env = complete["run"]["facets"]["environmentVariables"]["environmentVariables"]
    assert {"name": "OMP_NUM_THREADS", "value": "8"} in env
    facet = complete["run"]["facets"]["procrecord"]
    assert facet["_schemaURL"] == schema_id(current_version())
    assert facet["record"] == json.loads(json.dumps(child))


@pytest.mark.parametrize(("name", "end"), [("failed-traceback.json", "FAIL"), ("interrupted-sigterm.json", "ABORT"),
                                           ("running-flushed.json", None)])
def test_the_status_picks_the_final_event(tmp_path, name, end):
    record = current(name)
    events, _ = _events(tmp_path, [record])
    assert [e["eventType"] for e in events] == ["START"] + ([end] if end else [])
    if end == "FAIL":
        error = events[-1]["run"]["facets"]["errorMessage"]
        assert error["message"].startswith("FileNotFoundError: [Errno 2]")
        assert "Traceback" in error["stackTrace"] and error["programmingLanguage"] == "python"


def test_what_the_serialiser_drops_is_a_finding(tmp_path):
    events, findings = _events(tmp_path, [current("minimal.json")])
    kinds = {f.kind for f in findings}
    assert kinds == {"dropped"}
    assert any("name" in f.message and "null" in f.message for f in findings)
    assert any("no timing" in f.message for f in findings)


def test_level_all_leaves_only_identity_in_the_events(tmp_path):
    root, child = pipeline()
    events, _ = _events(tmp_path, [child], job_name="fixed")
    assert "environmentVariables" in events[0]["run"]["facets"]
    events, _ = _events(tmp_path, [child], level="all")
    facets = events[0]["run"]["facets"]
    assert "environmentVariables" not in facets and "parent" not in facets
    assert set(facets["procrecord"]["record"]) <= {"schema_version", "record_type", "type", "id", "name", "status",
                                                   "producer", "redaction"}


def test_events_are_sent_with_the_clients_transport_and_retried(tmp_path):
    root, child = pipeline()
    with receiver(statuses=[503]) as sink:
        findings = export([root, child], "openlineage", ExportOptions(endpoint=sink.url, timeout_s=5, retries=2))
    assert findings == []
    bodies = [json.loads(body) for path, _, body in sink.requests]
    assert all(path == "/api/v1/lineage" for path, _, _ in sink.requests)
    assert len(bodies) == 5  # the first POST got 503 and was tried again
    assert [b["eventType"] for b in bodies[1:]] == ["START", "COMPLETE", "START", "COMPLETE"]



def test_what_is_sent_is_what_the_file_holds_whatever_the_exporting_process_openlineage_configuration(
        tmp_path, monkeypatch):
    """The events POSTed are the events the file target writes, at every level: the OpenLineage configuration of
    the process that exports (``OPENLINEAGE_*`` variables, an openlineage.yml) is for its own lineage, not the
    records'. Through ``OpenLineageClient.emit`` it sent nothing at all (``OPENLINEAGE_DISABLED``, counted as
    exported) or added this machine's environment variables and the git remote (credentials included) and commit
    of the folder it ran in to every event, also at ``--level all``."""
    import subprocess

    repo = tmp_path / "checkout"
    repo.mkdir()
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", "https://alice:ghp_exporterstoken@github.com/a/b.git"],
                   check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "--allow-empty",
                    "-m", "x"], check=True)
    monkeypatch.chdir(repo)
    monkeypatch.setenv("EXPORTER_SECRET", "s3cr3t-of-the-exporter")
    monkeypatch.setenv("OPENLINEAGE__FACETS__ENVIRONMENT_VARIABLES", '["EXPORTER_SECRET"]')
    monkeypatch.setenv("OPENLINEAGE__FACETS__SOURCE_CODE_LOCATION__DISABLED", "false")
    monkeypatch.setenv("OPENLINEAGE__TAGS__JOB__team", "exporters")
    root, child = pipeline()
    for level in ("none", "all"):
        for disabled in ("", "true"):
            monkeypatch.setenv("OPENLINEAGE_DISABLED", disabled)
            written, _ = _events(tmp_path, [root, child], level=level)
            with receiver() as sink:
                findings = export([root, child], "openlineage", ExportOptions(endpoint=sink.url), level=level)
            assert not [f for f in findings if f.kind == "error"]
            sent = [json.loads(body) for _, _, body in sink.requests]
            if level == "all":  # no timing: each export stamps its events with its own time
                for event in written + sent:
                    event.pop("eventTime")
            assert sent == written and len(sent) == 4
            text = json.dumps(sent)
            assert "exporter" not in text and "ghp_" not in text


def test_an_endpoint_that_is_not_there_is_a_finding_not_a_hang(tmp_path):
    begin = time.monotonic()
    findings = export([failed()], "openlineage", ExportOptions(endpoint=closed_port(), timeout_s=1, retries=1))
    assert [f.kind for f in findings] == ["error"] and "not sent" in findings[0].message
    assert time.monotonic() - begin < 30


@pytest.mark.parametrize(("uri", "expected"), [
    ("/data/x.tif", ("file", "/data/x.tif")),
    ("file:///data/x.tif", ("file", "/data/x.tif")),
    ("s3://bucket/a/b.parquet", ("s3://bucket", "a/b.parquet")),
    ("C:\\data\\x.tif", ("file", "C:\\data\\x.tif")),
])
def test_artifact_uris_follow_openlineage_dataset_naming(uri, expected):
    from procrecord.exports.lineage import split_uri

    assert split_uri(uri) == expected


@pytest.mark.parametrize(("suffix", "path"), [
    ("", "/api/v1/lineage"),
    ("/", "/api/v1/lineage"),
    ("/api/v1/lineage", "/api/v1/lineage"),
    ("/api/v1/lineage/", "/api/v1/lineage"),
    ("/marquez", "/marquez/api/v1/lineage"),
    ("/marquez/api/v1/lineage", "/marquez/api/v1/lineage"),
])
def test_the_endpoint_is_a_base_url_or_the_full_lineage_url(suffix, path):
    root, _ = pipeline()
    with receiver() as sink:
        assert export([root], "openlineage", ExportOptions(endpoint=sink.url + suffix, timeout_s=5, retries=0)) == []
    assert [p for p, _, _ in sink.requests] == [path, path]  # START and COMPLETE


def test_credentials_in_a_uri_redacted_or_not_are_never_part_of_a_dataset_or_repository_id(tmp_path):
    from openlineage.client.event_v2 import InputDataset

    from procrecord.operations.redaction import redact

    _, child = pipeline()
    child["inputs"][1]["uri"] = "s3://AKIAIOSFODNN7EXAMPLE:wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY@lab-models/weights/base.pt"
    child["git"]["remote_url"] = "https://ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/geo/train.git"
    redacted = redact(child, "most")
    assert "<redacted" in redacted["inputs"][1]["uri"]  # the form the audit saw: s3://<redacted:credentials>@lab-models
    seen = []
    for record, level in ((child, None), (child, "most")):
        events, _ = _events(tmp_path, [record], level=level)
        datasets = {(d["namespace"], d["name"]) for d in events[-1]["inputs"]}
        assert ("s3://lab-models", "weights/base.pt") in datasets, datasets
        assert not any("@" in ns or "redacted" in ns for ns, _ in datasets)
        assert InputDataset(namespace="s3://lab-models", name="weights/base.pt").namespace == "s3://lab-models"
        location = events[-1]["job"]["facets"]["sourceCodeLocation"]
        seen.append((location["url"], location["repoUrl"]))
    assert seen == [("https://github.com/geo/train.git",) * 2] * 2


def test_a_grandchild_names_its_root_in_its_parent_facet(tmp_path):
    from openlineage.client.facet_v2 import parent_run

    from procrecord.exports.openlineage import run_events

    root, child = pipeline()
    grandchild = dict(child, id="99999999-7777-4888-9999-aaaaaaaaaaaa", name="evaluate",
                      parent={"id": CHILD_ID, "name": "fit"}, root={"id": ROOT_ID})
    events, _ = _events(tmp_path, [root, child, grandchild], namespace="lab")
    facets = {e["run"]["runId"]: e["run"]["facets"].get("parent") for e in events}
    leaf = facets[grandchild["id"]]
    assert leaf["run"]["runId"] == CHILD_ID and leaf["job"]["name"] == "fit"
    assert leaf["root"]["run"]["runId"] == ROOT_ID
    assert (leaf["root"]["job"]["namespace"], leaf["root"]["job"]["name"]) == ("lab", "prepare")
    assert facets[CHILD_ID]["root"]["run"]["runId"] == ROOT_ID  # the root is the parent: as before
    # The client's own classes: a ParentRunFacet whose root is the tree's first run.
    [start, _] = run_events(grandchild, ExportOptions(namespace="lab"))[0]
    facet = start.run.facets["parent"]
    assert isinstance(facet, parent_run.ParentRunFacet) and isinstance(facet.root, parent_run.Root)
    assert facet.root.run.runId == ROOT_ID and facet.run.runId == CHILD_ID
    assert facet.root.job.name == "evaluate"  # exported alone, the root's name is unknown: this run's job name


def test_uris_with_an_unbalanced_bracket_are_exported_without_their_credentials(tmp_path):
    """Text urlsplit refuses (``s3://KEY:SECRET@[bucket/k``, a git remote ``https://u:t@[host/x``) in a valid record
    stopped the whole export with a traceback. The dataset keeps its name and loses the userinfo; the repository,
    which the client's facet refuses as a URL, is left out with a note."""
    from procrecord.record.validation import validate

    _, child = pipeline()
    child["git"]["remote_url"] = "https://alice:tok3n-of-alice@[git.lab/geo/train.git"
    child["inputs"][1]["uri"] = "s3://KEY:SECRET-of-alice@[bucket/weights/base.pt"
    assert validate(child) == []
    events, findings = _events(tmp_path, [child])
    assert [(f.kind, f.message) for f in findings] == [
        ("dropped", "sourceCodeLocation left out: git.remote_url is not a URL the facet takes (Invalid IPv6 URL)")]
    assert [e["eventType"] for e in events] == ["START", "COMPLETE"]
    datasets = {(d["namespace"], d["name"]) for d in events[-1]["inputs"]}
    assert ("s3://[bucket", "weights/base.pt") in datasets
    assert "sourceCodeLocation" not in events[-1]["job"]["facets"]
    assert "alice" not in json.dumps([e for e in events if e.pop("run")])



@pytest.mark.parametrize("endpoint", ["marquez:5000", "http://[marquez:5000"])
def test_an_endpoint_that_is_no_url_is_an_export_error_before_any_record(endpoint):
    """It was the client's ValueError (or urlsplit's), a traceback on the command line."""
    from procrecord.exports import ExportError

    with pytest.raises(ExportError, match=f"endpoint {endpoint.replace('[', '.')}: not a URL to send to"):
        export([failed()], "openlineage", ExportOptions(endpoint=endpoint))
