"""geowatch's own readers on kwutil's record, the compat record and the downgraded record of one job.

Real clients, not imitations: kwutil 0.3.8 writes its record and geowatch 0.20.0's mlops readers
(``smart_result_parser``, ``aggregate_loader``) read all three, in a scratch interpreter named by
``PROCRECORD_TEST_GEOWATCH_PYTHON`` (``PROCRECORD_TEST_KWUTIL_PYTHON`` for kwutil, default the same).
Neither package is a dependency of the project: the tests skip, saying why, when the variable is
unset or the interpreter lacks the package. See README ("Testing against geowatch/kwcoco").

For every telemetry mode, every column a reader produces from kwutil's record must come out of ours
with the same type (None in kwutil's may be anything in ours); values that differ run to run
(ids, times, measured resources) are not compared.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from procrecord.compat import ProcessContext
from procrecord.operations.migration import downgrade
from procrecord.writer.recorder import Recorder

CHILD = Path(__file__).with_name("legacy_readers_child.py")
MODES = ("none", "most", "all")
JOB = {
    "name": "geowatch.tasks.fusion.predict",
    "args": ["predict.py", "--package_fpath=/models/m.pt", "--test_dataset=/data/test.kwcoco.json"],
    "config": {"package_fpath": "/models/m.pt", "test_dataset": "/data/test.kwcoco.json", "chip_overlap": 0.3,
               "datamodule_defaults": {"batch_size": 4}},
    "extra": {"fit_config": {"data": {"train_dataset": "/data/train.kwcoco.json"}, "lr": 0.001}},
    "track_emissions": "offline",
}
TRACK = {"name": "geowatch.cli.run_tracker", "args": ["run_tracker.py"],
         "config": {"in_file": "/data/pred.kwcoco.json", "track_kwargs": "{\"thresh\": 0.1}"}}


def _interpreter(variable: str, fallback: str | None = None) -> str:
    python = os.environ.get(variable) or fallback
    if not python:
        pytest.skip(f"{variable} is not set (a scratch Python with kwutil 0.3.8 and geowatch 0.20.0; see README)")
    return python


def _has(python: str, module: str) -> bool:
    env = dict(os.environ, GEOWATCH_PREIMPORT="0")
    return subprocess.run([python, "-c", f"import {module}"], env=env, capture_output=True).returncode == 0


def _ask(python: str, request: dict, tmp: Path) -> dict:
    env = dict(os.environ, GEOWATCH_PREIMPORT="0")
    proc = subprocess.run([python, str(CHILD)], input=json.dumps(request), capture_output=True, text=True,
                          cwd=tmp, env=env, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(f"{python} {CHILD.name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def kwutil_python() -> str:
    python = _interpreter("PROCRECORD_TEST_KWUTIL_PYTHON", os.environ.get("PROCRECORD_TEST_GEOWATCH_PYTHON"))
    if not _has(python, "kwutil.process_context"):
        pytest.skip(f"{python} has no kwutil (pip install kwutil==0.3.8)")
    return python


@pytest.fixture(scope="module")
def geowatch_python() -> str:
    python = _interpreter("PROCRECORD_TEST_GEOWATCH_PYTHON")
    if not _has(python, "geowatch.mlops.aggregate_loader"):
        pytest.skip(f"{python} cannot import geowatch.mlops.aggregate_loader (pip install geowatch==0.20.0)")
    return python


@pytest.fixture(scope="module")
def kwutil_made(kwutil_python, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("kwutil")
    made = _ask(kwutil_python, {"do": "kwutil-records", "job": JOB, "modes": list(MODES), "dir": str(tmp)}, tmp)
    tracks = _ask(kwutil_python, {"do": "kwutil-records", "job": dict(TRACK, extra=None, track_emissions="offline"),
                                  "modes": list(MODES), "dir": str(tmp)}, tmp)
    return {"public": made["public"], "pred": made["records"], "track": tracks["records"], "dir": tmp}


def _ours(mode: str, job: dict, folder: Path) -> dict[str, dict]:
    """The compat record and the downgraded record of the job, at one telemetry mode."""
    switches = {"none": {}, "most": {"request_most_telemetry": False}, "all": {"request_all_telemetry": False}}[mode]
    ctx = ProcessContext(name=job["name"], args=job["args"], config=job["config"], extra=job.get("extra"),
                         track_emissions=job.get("track_emissions", False), **switches)
    ctx.start()
    ctx.add_disk_info(str(folder))
    ctx.add_device_info("cpu")
    compat = json.loads(json.dumps(ctx.stop()))
    emissions = {"country_iso_code": "USA"} if job.get("track_emissions") else False
    rec = Recorder(job["name"], config=job["config"], argv=job["args"], extra=job.get("extra"), emissions=emissions,
                   level=None if mode == "none" else mode, use_plugins=False, handle_signals=False)
    rec.start()
    rec.add_disk_info(str(folder))
    rec.add_device_info("cpu")
    downgraded, _ = downgrade(rec.stop())
    return {"compat": compat, "downgraded": downgraded}


@pytest.fixture(scope="module")
def answers(kwutil_made, geowatch_python) -> dict:
    tmp = kwutil_made["dir"]
    cases: dict = {}
    for mode in MODES:
        cases[f"kwutil-{mode}"] = {"pred": kwutil_made["pred"][mode], "track": kwutil_made["track"][mode]}
        ours = _ours(mode, JOB, tmp)
        our_tracks = _ours(mode, dict(TRACK, extra=None, track_emissions="offline"), tmp)
        for variant in ("compat", "downgraded"):
            cases[f"{variant}-{mode}"] = {"pred": ours[variant], "track": our_tracks[variant]}
    read = _ask(geowatch_python, {"do": "read", "dir": str(tmp / "nodes"), "cases": cases}, tmp)["answers"]
    return {"read": read, "cases": cases}


def test_every_public_name_of_the_real_kwutil_class_is_in_compat(kwutil_made):
    ours = {n for n in dir(ProcessContext(args=["x"])) if not n.startswith("_")}
    assert set(kwutil_made["public"]) <= ours, sorted(set(kwutil_made["public"]) - ours)


def _shape(value):
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    return type(value).__name__


@pytest.mark.parametrize("mode", MODES)
def test_compat_obj_has_every_key_of_kwutils_record_with_its_type(kwutil_made, mode):
    theirs = _shape(kwutil_made["pred"][mode])
    ours = _shape(_ours(mode, JOB, kwutil_made["dir"])["compat"])
    problems = []

    def walk(a, b, path):
        for key, kind in a.items():
            if key not in b:
                problems.append(f"{path}{key} missing")
            elif isinstance(kind, dict) and isinstance(b[key], dict):
                if not path.endswith(("config/", "extra/")):
                    walk(kind, b[key], f"{path}{key}/")
            elif kind != b[key] and kind != "NoneType" and not (kind == "list" and key == "device_capabilities"):
                problems.append(f"{path}{key}: {b[key]}, kwutil's {kind}")

    if mode == "all":
        # kwutil kept the job's extra with all telemetry off; procrecord's policy (the schema's x-redact)
        # removes it at level all, as it does from the 1.x record: the privacy switch means what it says.
        theirs["properties"].pop("extra")
    walk(theirs, ours, "/")
    assert problems == []


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("variant", ["compat", "downgraded"])
def test_geowatch_readers_give_kwutils_columns_and_types(answers, mode, variant):
    theirs, ours = answers["read"][f"kwutil-{mode}"], answers["read"][f"{variant}-{mode}"]
    problems = []
    for reader, result in theirs.items():
        if "error" in result:
            continue  # kwutil's own record breaks this reader at this mode: nothing to match
        if "error" in ours[reader]:
            problems.append(f"{reader}: {ours[reader]['error']} (kwutil's record reads)")
            continue
        for column, kind in result["columns"].items():
            got = ours[reader]["columns"].get(column)
            if got is None:
                problems.append(f"{reader}: column {column} missing")
            elif got != kind and kind != "NoneType":
                problems.append(f"{reader}: column {column} is {got}, kwutil's is {kind}")
        if reader.startswith(("parse_resource_item", "load_result_resolved", "new_process_context_parser")):
            extra = set(ours[reader]["columns"]) - set(result["columns"])
            if extra:
                problems.append(f"{reader}: columns kwutil's record does not give: {sorted(extra)}")
    assert problems == []


def test_readers_that_kwutils_most_disabled_record_breaks_read_ours(answers):
    """kwutil's record with most telemetry off has no machine.cpu_brand: geowatch's resource parser fails
    on it. The downgraded record keeps the coarse machine facts and reads."""
    theirs, ours = answers["read"]["kwutil-most"], answers["read"]["downgraded-most"]
    assert "error" in theirs["parse_resource_item"], "kwutil's record was expected to break this reader"
    assert "columns" in ours["parse_resource_item"] and ours["parse_resource_item"]["columns"]["resource.cpu_name"] == "str"


def test_emissions_reach_the_readers(answers):
    for label in ("kwutil-none", "compat-none", "downgraded-none"):
        columns = answers["read"][label]["parse_resource_item"]["columns"]
        assert columns.get("resource.co2_kg") == "float" and columns.get("resource.kwh") == "float", label
        assert "error" not in answers["read"][label]["trace_json_lineage"], label


if __name__ == "__main__":  # a quick look at what the readers give: python tests/test_legacy_readers.py
    sys.exit(pytest.main([__file__, "-v", "-p", "no:cacheprovider"]))
