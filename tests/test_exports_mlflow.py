"""MLflow runs: created through MLflow's client in a folder store, a database and a tracking server, read back with it."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
from exportdata import CHILD_ID, ROOT_ID, failed, pipeline, with_config

from procrecord.exports import ExportOptions, export

mlflow = pytest.importorskip("mlflow")


@pytest.fixture(scope="session")
def empty_database(tmp_path_factory):
    """An SQLite tracking database with MLflow's tables (made once: the migrations take seconds)."""
    pytest.importorskip("sqlalchemy")
    pytest.importorskip("alembic")
    from mlflow.tracking import MlflowClient

    path = tmp_path_factory.mktemp("mlflow-db") / "empty.db"
    MlflowClient(tracking_uri=f"sqlite:///{path}").search_experiments()
    return path


@pytest.fixture(params=["folder", "sqlite"])
def store(request, tmp_path, monkeypatch):
    """A tracking URI: a folder store, or a database (its artifacts go under ./mlruns: the test's folder)."""
    monkeypatch.chdir(tmp_path)
    if request.param == "folder":
        monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
        return (tmp_path / "mlruns").as_uri()
    database = tmp_path / "tracking.db"
    shutil.copy(request.getfixturevalue("empty_database"), database)
    return f"sqlite:///{database}"


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


def test_a_record_without_timing_says_its_run_starts_at_the_export(store):
    root, _ = pipeline()
    del root["timing"]
    findings = export([root], "mlflow", ExportOptions(endpoint=store))
    assert [(f.kind, f.message) for f in findings] == [
        ("dropped", "no timing (redacted?): the run's start time is the export time")]
    assert export([pipeline()[1]], "mlflow", ExportOptions(endpoint=store)) == []  # with timing: no note


def test_config_keys_that_flatten_to_one_param_keep_the_first_and_say_so(store):
    root, _ = pipeline()
    record = with_config(root, {"model": {"depth": 3}, "model.depth": 7}, ROOT_ID)
    findings = export([record], "mlflow", ExportOptions(endpoint=store))
    assert [(f.kind, f.message) for f in findings] == [
        ("dropped", 'config ["model.depth"] left out: its param model.depth holds config ["model","depth"]')]
    assert _runs(store)[1][ROOT_ID].data.params["model.depth"] == "3"


def test_integers_outside_int64_are_exact_params_and_never_float_metrics(store):
    root, _ = pipeline()
    record = with_config(root, {"seed": 302196688505940393327012328349340327281, "step": 2**63}, ROOT_ID)
    record["resources"]["io_read_bytes"] = 2**70
    record["extra"] = {"neg": -2**63 - 5}
    findings = export([record], "mlflow", ExportOptions(endpoint=store))
    assert [(f.kind, f.message) for f in findings] == [
        ("dropped", f"metric 'resources.io_read_bytes' left out: {2**70} is an integer outside int64 "
                    "(MLflow keeps floats)")]
    client, runs = _runs(store)
    run = runs[ROOT_ID]
    assert run.data.params == {"seed": "302196688505940393327012328349340327281", "step": str(2**63)}
    assert "resources.io_read_bytes" not in run.data.metrics and "resources.peak_rss_bytes" in run.data.metrics
    stored = json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/procrecord.json"))
    assert stored["extra"] == {"neg": -2**63 - 5} and stored["resources"]["io_read_bytes"] == 2**70


def test_a_child_exported_before_its_parent_gets_its_parent_run_id(store, tmp_path):
    from click.testing import CliRunner

    from procrecord.cli import cli

    root, child = pipeline()
    export([child, root], "mlflow", ExportOptions(endpoint=store, experiment="child-first"))
    _, runs = _runs(store, "child-first")
    assert runs[CHILD_ID].data.tags["mlflow.parentRunId"] == runs[ROOT_ID].info.run_id
    # A folder read alphabetically (the child's file first), through the command.
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a-fit.json").write_text(json.dumps(child))
    (folder / "b-prepare.json").write_text(json.dumps(root))
    result = CliRunner().invoke(cli, ["export", "--to", "mlflow", "--tracking-uri", store, "--experiment", "folder",
                                      str(folder)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    _, runs = _runs(store, "folder")
    assert runs[CHILD_ID].data.tags["mlflow.parentRunId"] == runs[ROOT_ID].info.run_id
    # An earlier export of the child alone: exporting the parent later (or again with both) mends it.
    assert export([child], "mlflow", ExportOptions(endpoint=store, experiment="later")) == []
    assert "mlflow.parentRunId" not in _runs(store, "later")[1][CHILD_ID].data.tags
    findings = export([child, root], "mlflow", ExportOptions(endpoint=store, experiment="later"))
    assert [(f.record_id, f.kind) for f in findings] == [(CHILD_ID, "skipped")]
    _, runs = _runs(store, "later")
    assert len(runs) == 2 and runs[CHILD_ID].data.tags["mlflow.parentRunId"] == runs[ROOT_ID].info.run_id
    export([child], "mlflow", ExportOptions(endpoint=store, experiment="again"))
    export([root], "mlflow", ExportOptions(endpoint=store, experiment="again"))
    _, runs = _runs(store, "again")
    assert runs[CHILD_ID].data.tags["mlflow.parentRunId"] == runs[ROOT_ID].info.run_id
    from mlflow.tracking import MlflowClient

    tagged = []
    real = MlflowClient.set_tag
    try:
        MlflowClient.set_tag = lambda self, run_id, key, value, *a, **k: (tagged.append((run_id, key)),
                                                                          real(self, run_id, key, value, *a, **k))[1]
        export([child], "mlflow", ExportOptions(endpoint=store, experiment="again"))
    finally:
        MlflowClient.set_tag = real
    assert tagged == [], "the store mends nothing twice"


def test_a_parent_run_id_the_store_refuses_is_a_note_on_the_child_never_a_failed_parent(store, tmp_path, monkeypatch):
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from procrecord.cli import cli

    root, child = pipeline()

    def refuse(self, run_id, key, value, *args, **kwargs):
        raise ConnectionError("the store is read-only for tags")

    monkeypatch.setattr(MlflowClient, "set_tag", refuse)
    findings = export([child, root], "mlflow", ExportOptions(endpoint=store, experiment="refused"))
    assert [(f.record_id, f.kind) for f in findings] == [(CHILD_ID, "dropped")]
    assert "mlflow.parentRunId not set" in findings[0].message and "read-only" in findings[0].message
    _, runs = _runs(store, "refused")
    assert set(runs) == {ROOT_ID, CHILD_ID} and "mlflow.parentRunId" not in runs[CHILD_ID].data.tags
    # At the start of a later export the mending is tried again; a refusal does not stop the export
    other = dict(root, id="77777777-7777-4777-8777-777777777777", parent=None)
    other.pop("parent")
    findings = export([other], "mlflow", ExportOptions(endpoint=store, experiment="refused"))
    assert [(f.record_id, f.kind) for f in findings] == [(CHILD_ID, "dropped")]
    assert len(_runs(store, "refused")[1]) == 3
    # A run that finds no record writes nothing to the store, not even the mending
    calls = []
    monkeypatch.setattr(MlflowClient, "set_tag", lambda self, *a, **k: calls.append(a))
    empty = tmp_path / "empty"
    empty.mkdir()
    result = CliRunner().invoke(cli, ["export", "--to", "mlflow", "--tracking-uri", store, "--experiment", "refused",
                                      str(empty)], catch_exceptions=False)
    assert result.exit_code == 1 and calls == [], result.output


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory):
    """``mlflow server`` (MLflow's REST API, from mlflow-skinny with Flask) on a free local port."""
    pytest.importorskip("flask")
    pytest.importorskip("sqlalchemy")
    import urllib.request

    home = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    env = {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    log = open(home / "server.log", "wb")  # noqa: SIM115 - closed when the server stops
    server = subprocess.Popen([sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
                               "--workers", "1", "--backend-store-uri", (home / "store").as_uri(),
                               "--artifacts-destination", str(home / "artifacts")],
                              stdout=log, stderr=subprocess.STDOUT, env=env, cwd=home)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240  # a loaded machine takes a minute or more to start it
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start: " + (home / "server.log").read_text()[-2000:])
            time.sleep(1)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


@pytest.mark.slow
def test_runs_go_to_a_tracking_server_once(tracking_server, tmp_path):
    root, child = pipeline()
    bad = failed()
    assert export([root, child, bad], "mlflow", ExportOptions(endpoint=tracking_server, experiment="served")) == []
    findings = export([root, child], "mlflow", ExportOptions(endpoint=tracking_server, experiment="served"))
    assert [f.kind for f in findings] == ["skipped", "skipped"]
    client, runs = _runs(tracking_server, "served")
    assert set(runs) == {ROOT_ID, CHILD_ID, bad["id"]}
    fit = runs[CHILD_ID]
    assert fit.data.tags["mlflow.parentRunId"] == runs[ROOT_ID].info.run_id
    assert fit.data.metrics["emissions.energy_kwh"] == 2.4113 and runs[bad["id"]].info.status == "FAILED"
    path = client.download_artifacts(fit.info.run_id, "procrecord.json", str(tmp_path))
    with open(path) as handle:
        assert json.load(handle) == json.loads(json.dumps(child))


def _running_then_finished():
    """A record flushed while its job ran (status running, no stop time), and the same record once it ended."""
    import copy

    root, _ = pipeline()
    root = with_config(root, {"lr": 0.1, "epochs": 3}, ROOT_ID)
    running = copy.deepcopy(root)
    running["status"] = "running"
    running["timing"] = {"start_time": "2026-01-01T00:00:00+00:00", "update_time": "2026-01-01T00:00:02+00:00",
                         "duration_s": 2.0}
    running.pop("outcome", None)
    done = copy.deepcopy(root)
    done["status"] = "completed"
    done["timing"] = {"start_time": "2026-01-01T00:00:00+00:00", "update_time": "2026-01-01T00:00:10+00:00",
                      "stop_time": "2026-01-01T00:00:10+00:00", "duration_s": 10.0}
    done["invocation"]["config"] = {"lr": 0.1, "epochs": 3, "seed": 7}
    return running, done


def test_a_run_exported_while_running_is_brought_up_to_date_when_its_record_changed(store, tmp_path):
    from click.testing import CliRunner

    from procrecord.cli import cli
    from procrecord.record.validation import validate

    running, done = _running_then_finished()
    assert validate(running) == [] and validate(done) == []
    assert export([running], "mlflow", ExportOptions(endpoint=store)) == []
    client, runs = _runs(store)
    first = runs[ROOT_ID]
    assert first.info.status == "RUNNING" and first.data.metrics["timing.duration_s"] == 2.0
    assert export([done], "mlflow", ExportOptions(endpoint=store)) == []  # exported (an update), nothing to say
    client, runs = _runs(store)
    assert list(runs) == [ROOT_ID]
    run = runs[ROOT_ID]
    assert run.info.run_id == first.info.run_id
    assert run.info.status == "FINISHED" and run.info.end_time == 1767225610000
    assert run.data.metrics["timing.duration_s"] == 10.0
    assert run.data.params["seed"] == "7" and run.data.params["lr"] == "0.1"
    assert run.data.tags["procrecord.status"] == "completed"
    stored = json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/procrecord.json"))
    assert stored["status"] == "completed"
    # The same record again: nothing changed, nothing done ("already there" on the command line).
    (tmp_path / "done.json").write_text(json.dumps(done))
    result = CliRunner().invoke(cli, ["export", "--to", "mlflow", "--tracking-uri", store, str(tmp_path / "done.json")],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "0 exported, 1 already there" in result.output and "skipped" in result.output


def test_a_changed_param_of_an_exported_run_is_a_note_naming_it(store):
    running, done = _running_then_finished()
    export([running], "mlflow", ExportOptions(endpoint=store))
    done["invocation"]["config"]["lr"] = 0.2
    findings = export([done], "mlflow", ExportOptions(endpoint=store))
    assert [(f.kind, f.message) for f in findings] == [
        ("dropped", "param 'lr' not updated: MLflow keeps a param's first value (3 characters, not repeated here), "
                    "the record now has '0.2'")]
    run = _runs(store)[1][ROOT_ID]
    assert run.data.params["lr"] == "0.1" and run.info.status == "FINISHED"
    assert run.data.metrics["timing.duration_s"] == 10.0
    # Noted once: the run holds this content now, so a third export skips it.
    assert [f.kind for f in export([done], "mlflow", ExportOptions(endpoint=store))] == ["skipped"]


def test_a_run_made_without_a_digest_is_brought_up_to_date_once(store, monkeypatch):
    """Runs of an earlier procrecord have no digest tag: the first re-export compares and fills in what is missing."""
    from procrecord.exports import mlflow as target

    running, done = _running_then_finished()
    monkeypatch.setattr(target, "DIGEST_TAG", "procrecord.unused")
    export([running], "mlflow", ExportOptions(endpoint=store))
    monkeypatch.undo()
    assert "procrecord.digest" not in _runs(store)[1][ROOT_ID].data.tags
    assert export([done], "mlflow", ExportOptions(endpoint=store)) == []
    run = _runs(store)[1][ROOT_ID]
    assert run.info.status == "FINISHED" and run.data.tags["procrecord.digest"]
    assert [f.kind for f in export([done], "mlflow", ExportOptions(endpoint=store))] == ["skipped"]


def test_config_names_mlflow_refuses_are_notes_and_the_rest_of_the_record_is_exported(store):
    root, _ = pipeline()
    config = {"/abs": 1, "a/../b": 2, "a//b": 3, "a/": 4, "": 5, ".": 6, "x/./y": 7, "bad{key}": 8, "lr": 0.1,
              "model": {"depth": 3}, "path/ok": "fine"}
    record = with_config(root, config, ROOT_ID)
    findings = export([record], "mlflow", ExportOptions(endpoint=store))
    assert {f.kind for f in findings} == {"dropped"}
    assert len(findings) == 8 and all("name not allowed by MLflow, left out" in f.message for f in findings), findings
    said = " ".join(f.message for f in findings)
    for name in ("/abs", "a/../b", "a//b", "a/", "", ".", "x/./y", "bad{key}"):
        assert f"param {name!r}: name not allowed" in said
    assert "would resolve to 'b'" in said
    run = _runs(store)[1][ROOT_ID]
    assert run.data.params == {"lr": "0.1", "model.depth": "3", "path/ok": "fine"}


def _odd_names():
    import itertools

    alphabet = ["a", "/", ".", " ", ":", "-", "_", "{", "é"]
    names = ["".join(p) for n in range(4) for p in itertools.product(alphabet, repeat=n)]
    return names + ["../x", "x/..", "./x", "a/b/../c", "a\\b", "a\nb", "a\tb", "ü/ß", "x" * 250, "x" * 251, "%2F", "~"]


def test_the_param_name_check_says_what_mlflow_itself_says():
    """Every name our check passes MLflow takes, and every one it refuses MLflow refuses: by MLflow's validation
    function, by the rule mirrored for an MLflow without that function, and by a store for a sample."""
    import types

    from mlflow.exceptions import MlflowException
    from mlflow.utils import validation

    from procrecord.exports.mlflow import name_refused

    mirror = types.SimpleNamespace(MAX_ENTITY_KEY_LENGTH=validation.MAX_ENTITY_KEY_LENGTH)

    def mlflow_refuses(name):
        try:
            validation._validate_param(name, "1")
        except MlflowException:
            return True
        return False

    names = _odd_names()
    assert len(names) > 800
    for name in names:
        expected = mlflow_refuses(name)
        assert (name_refused(name, validation) is not None) == expected, name
        assert (name_refused(name, mirror) is not None) == expected, name


def test_the_param_name_check_agrees_with_a_store(tmp_path, monkeypatch):
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient
    from mlflow.utils import validation

    from procrecord.exports.mlflow import name_refused

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run_id = client.create_run(client.create_experiment("names")).info.run_id
    for name in _odd_names()[::7]:
        try:
            client.log_batch(run_id, params=[Param(name, "1")])
            taken = True
        except Exception:  # whatever the store says
            taken = False
        assert (name_refused(name, validation) is None) == taken, name


def test_exported_again_at_level_most_the_run_keeps_no_tag_of_what_the_level_removes(store):
    """A run exported at level none, then again at ``most``: its tags are the redacted record's, the user and host
    tags (which MLflow shows as the run's user) are removed, not left from the first export. Params cannot
    change in MLflow: a differing one stays, with a note naming it."""
    _, child = pipeline()
    assert export([child], "mlflow", ExportOptions(endpoint=store)) == []
    first = _runs(store)[1][CHILD_ID]
    assert first.data.tags["mlflow.user"] == "jdoe" and first.data.tags["procrecord.hostname"] == child["host"]["hostname"]
    findings = export([child], "mlflow", ExportOptions(endpoint=store), level="most")
    assert {f.kind for f in findings} == {"dropped"}
    assert any(f.message.startswith("the run's user_id not updated") for f in findings)
    run = _runs(store)[1][CHILD_ID]
    assert run.info.run_id == first.info.run_id
    assert "mlflow.user" not in run.data.tags and "procrecord.hostname" not in run.data.tags
    assert not [v for v in run.data.tags.values() if "jdoe" in v or child["host"]["hostname"] in v]
    assert run.data.tags["mlflow.source.git.commit"] == child["git"]["commit"]  # kept at most: still there
    stored = json.loads(mlflow.artifacts.load_text(f"{run.info.artifact_uri}/procrecord.json"))
    assert stored["redaction"]["level"] == "most" and "user" not in stored["host"]
    # Nothing left to change: the third export skips it.
    assert [f.kind for f in export([child], "mlflow", ExportOptions(endpoint=store), level="most")] == ["skipped"]


def test_a_deleted_experiment_stops_the_export_at_the_start_with_one_line(store, tmp_path):
    """An experiment in the store's trash takes no run and keeps its name: exit 3 and one line saying so, before
    any record (each record was an error line of its own, 'Could not create run under non-active experiment')."""
    from click.testing import CliRunner
    from mlflow.tracking import MlflowClient

    from procrecord.cli import cli
    from procrecord.exports import ExportError

    root, child = pipeline()
    assert export([root], "mlflow", ExportOptions(endpoint=store)) == []
    client = MlflowClient(tracking_uri=store)
    experiment = client.get_experiment_by_name("procrecord").experiment_id
    client.delete_experiment(experiment)
    with pytest.raises(ExportError, match=f"MLflow experiment 'procrecord' is deleted \\(id {experiment}\\)"):
        export([child], "mlflow", ExportOptions(endpoint=store))
    (tmp_path / "child.json").write_text(json.dumps(child))
    result = CliRunner().invoke(cli, ["export", "--to", "mlflow", "--tracking-uri", store, str(tmp_path / "child.json")],
                                catch_exceptions=False)
    assert result.exit_code == 3, result.output
    assert [line for line in result.output.splitlines() if line.strip()] == [
        f"procrecord: error: MLflow experiment 'procrecord' is deleted (id {experiment}): restore it (mlflow "
        f"experiments restore --experiment-id {experiment}) or give another --experiment"]
    client.restore_experiment(experiment)
    assert [f.kind for f in export([root, child], "mlflow", ExportOptions(endpoint=store))] == ["skipped"]


def test_each_export_uses_its_own_timeout_and_retries_and_leaves_the_environment_as_it_was(tmp_path, monkeypatch):
    """``timeout_s``/``retries`` (``--timeout``/``--retries``) are what the export's requests use: not the values
    an earlier export in the process left in MLflow's environment variables, nor ones the user set there (those
    were only set when missing, and stayed set: the second export below waited 10 s a try, 4 tries)."""
    from procrecord.exports import ExportError

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    for name in ("MLFLOW_HTTP_REQUEST_TIMEOUT", "MLFLOW_HTTP_REQUEST_MAX_RETRIES"):
        monkeypatch.delenv(name, raising=False)
    root, _ = pipeline()
    assert export([root], "mlflow", ExportOptions(endpoint=(tmp_path / "mlruns").as_uri())) == []
    assert "MLFLOW_HTTP_REQUEST_TIMEOUT" not in os.environ and "MLFLOW_HTTP_REQUEST_MAX_RETRIES" not in os.environ
    with socket.socket() as silent:  # takes connections (its backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        for env in ({}, {"MLFLOW_HTTP_REQUEST_TIMEOUT": "60", "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "5"}):
            for name, value in env.items():
                monkeypatch.setenv(name, value)
            began = time.monotonic()
            with pytest.raises(ExportError, match=f"MLflow tracking store {url}"):
                export([root], "mlflow", ExportOptions(endpoint=url, timeout_s=1, retries=0))
            assert time.monotonic() - began < 8
            assert {n: os.environ.get(n) for n in env} == env



def test_notes_of_a_run_exported_again_at_level_most_repeat_nothing_the_level_removes(store):
    """The note on a param MLflow keeps named its stored value: exported at level none, then again at ``most``, the
    token and home folder the level removes were printed in the findings of the ``most`` export."""
    _, child = pipeline()
    secret, home = child["invocation"]["config"]["logging"]["wandb_token"], child["host"]["home"]
    assert export([child], "mlflow", ExportOptions(endpoint=store)) == []
    findings = export([child], "mlflow", ExportOptions(endpoint=store), level="most")
    kept = [f.message for f in findings if "not updated" in f.message and f.message.startswith("param")]
    assert any("'logging.wandb_token'" in m and "'<redacted:token>'" in m for m in kept), findings
    assert not [f for f in findings if secret in f.message or home in f.message]
