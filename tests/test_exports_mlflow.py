"""MLflow runs: created through MLflow's client in a folder store and read back with it."""

from __future__ import annotations

import json

import pytest
from exportdata import CHILD_ID, ROOT_ID, failed, pipeline, with_config

from procrecord.exports import ExportOptions, export

mlflow = pytest.importorskip("mlflow")


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


def _runs(uri, experiment="procrecord"):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=100)
    return client, {r.data.tags["procrecord.record_id"]: r for r in runs}


def test_runs_read_back_with_mlflows_client(store, tmp_path):
    root, child = pipeline()
    bad = failed()
    assert export([root, child, bad], "mlflow", ExportOptions(endpoint=store)) == []
    client, runs = _runs(store)
    assert set(runs) == {ROOT_ID, CHILD_ID, bad["id"]}
    fit = runs[CHILD_ID]
    tags = fit.data.tags
    assert tags["mlflow.runName"] == "fit" and tags["mlflow.user"] == "jdoe"
    assert tags["mlflow.source.git.commit"] == child["git"]["commit"]
    assert tags["mlflow.parentRunId"] == runs[ROOT_ID].info.run_id
    assert fit.data.params["data.batch_size"] == "16" and fit.data.params["data.chip_dims"] == "[224,224]"
    assert fit.data.metrics["timing.duration_s"] == child["timing"]["duration_s"]
    assert fit.data.metrics["emissions.energy_kwh"] == 2.4113
    assert fit.data.metrics["devices.memory_used_peak_bytes.max"] == 61203283968
    assert fit.info.status == "FINISHED" and runs[bad["id"]].info.status == "FAILED"
    path = client.download_artifacts(fit.info.run_id, "procrecord.json", str(tmp_path))
    with open(path) as handle:
        assert json.load(handle) == json.loads(json.dumps(child))


def test_re_export_does_not_duplicate_runs(store):
    root, child = pipeline()
    export([root, child], "mlflow", ExportOptions(endpoint=store))
    findings = export([root, child], "mlflow", ExportOptions(endpoint=store))
    assert [f.kind for f in findings] == ["skipped", "skipped"]
    assert len(_runs(store)[1]) == 2


def test_level_most_keeps_the_user_out_and_long_params_are_cut(store):
    root, _ = pipeline()
    record = with_config(root, {"notes": "x" * 7000, "bad{key}": 1}, ROOT_ID)
    findings = export([record], "mlflow", ExportOptions(endpoint=store, experiment="shared"), level="most")
    messages = " ".join(f.message for f in findings)
    assert "cut to MLflow's 6000" in messages and "bad{key}" in messages
    run = _runs(store, "shared")[1][ROOT_ID]
    assert "mlflow.user" not in run.data.tags
    assert len(run.data.params["notes"]) == 6000
