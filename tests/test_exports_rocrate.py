"""RO-Crate Process Run Crates: read back with ro-crate-py and checked against the profile's MUST rules."""

from __future__ import annotations

import json

import pytest
from exportdata import CHILD_ID, DIGEST, ROOT_ID, failed, pipeline

from procrecord.exports import ExportOptions, export
from procrecord.exports.rocrate import PROFILE, WFRUN_CONTEXT

rocrate = pytest.importorskip("rocrate.rocrate")

ACTION_TYPES = {"CreateAction", "ActivateAction", "UpdateAction"}
INSTRUMENT_TYPES = {"SoftwareApplication", "SoftwareSourceCode", "ComputationalWorkflow"}
STATUSES = {f"http://schema.org/{s}" for s in ("PotentialActionStatus", "ActiveActionStatus",
                                                "CompletedActionStatus", "FailedActionStatus")}


def _types(entity) -> set[str]:
    kind = entity.type
    return set(kind if isinstance(kind, list) else [kind])


def check_process_run_crate(crate) -> list:
    """The Process Run Crate 0.5 MUST rules (and the SHOULDs this exporter promises); returns the actions."""
    root = crate.root_dataset
    conforms = root.get("conformsTo")
    conforms = conforms if isinstance(conforms, list) else [conforms]
    assert PROFILE in {c.id if hasattr(c, "id") else c["@id"] for c in conforms}
    profile = crate.get(PROFILE)
    assert profile is not None and "CreativeWork" in _types(profile) and profile["version"] == "0.5"
    actions = [e for e in crate.get_entities() if _types(e) & ACTION_TYPES]
    assert actions
    mentions = {m.id for m in root.get("mentions") or []}
    for action in actions:
        assert action.id in mentions  # MUST: the root mentions every action
        instrument = action["instrument"]
        assert instrument is not None and _types(instrument) & INSTRUMENT_TYPES  # MUST: an instrument
        assert action["actionStatus"]["@id"] in STATUSES if isinstance(action["actionStatus"], dict) \
            else action["actionStatus"] in STATUSES
        for prop in ("object", "result"):
            for item in action.get(prop) or []:
                assert crate.get(item.id) is not None  # referenced entities are in the graph
        if "FailedActionStatus" in str(action["actionStatus"]):
            assert action["error"]  # SHOULD: a failed action says why
    return actions


@pytest.mark.parametrize("name", ["crate", "crate.zip"])
def test_a_crate_of_a_pipeline_follows_the_profile(tmp_path, name):
    root, child = pipeline()
    out = tmp_path / name
    assert export([root, child, failed()], "ro-crate", ExportOptions(output=str(out))) == []
    crate = rocrate.ROCrate(str(out))
    actions = {a.id: a for a in check_process_run_crate(crate)}
    fit = actions[f"#run-{CHILD_ID}"]
    assert fit["startTime"] == child["timing"]["start_time"] and fit["endTime"] == child["timing"]["stop_time"]
    assert fit["agent"]["name"] == "jdoe"
    [model] = fit["result"]
    assert model.id == "file:///runs/fit/model.pt" and model["sha256"] == "cd" * 32 and model["contentSize"] == "1234"
    objects = {o.id: o for o in fit["object"]}
    assert objects["file:///data/prepared/"]["sha256"] == DIGEST and "Dataset" in _types(objects["file:///data/prepared/"])
    assert "s3://bucket/weights/base.pt" in objects
    # The prepare step's result is the fit step's object: one entity.
    assert actions[f"#run-{ROOT_ID}"]["result"][0].id == "file:///data/prepared/"
    image = fit["containerImage"]
    assert image["name"] == "ghcr.io/geo/train:1.2" and image["sha256"] == "ef" * 32
    env = {e["name"]: e["value"] for e in fit["environment"]}
    assert env["OMP_NUM_THREADS"] == "8"
    record_file = fit["subjectOf"]
    assert record_file.id == f"records/{CHILD_ID}.json"
    if name == "crate":
        assert json.loads((out / "records" / f"{CHILD_ID}.json").read_text()) == json.loads(json.dumps(child))
        context = json.loads((out / "ro-crate-metadata.json").read_text())["@context"]
        assert WFRUN_CONTEXT in context


def test_re_export_replaces_the_crate_without_duplicates(tmp_path):
    root, child = pipeline()
    out = tmp_path / "crate"
    export([root, child], "ro-crate", ExportOptions(output=str(out)))
    findings = export([root, child, child], "ro-crate", ExportOptions(output=str(out)))
    assert [f.kind for f in findings] == ["skipped"]
    crate = rocrate.ROCrate(str(out))
    assert len(check_process_run_crate(crate)) == 2


def test_level_most_keeps_the_agent_out(tmp_path):
    root, child = pipeline()
    out = tmp_path / "crate"
    export([child], "ro-crate", ExportOptions(output=str(out)), level="most")
    [action] = check_process_run_crate(rocrate.ROCrate(str(out)))
    assert action.get("agent") is None and action.get("environment") is None
