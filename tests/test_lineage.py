"""Lineage: PROCRECORD_PARENT links recorded jobs into one tree, across real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.record.validation import validate
from procrecord.writer import lineage
from procrecord.writer.lineage import PARENT_ENV, PARENT_NAME_ENV, parse
from procrecord.writer.recorder import Recorder

A = "0b0e3c1e-8a31-4f0a-9d52-3f3f4bd5e2a1"
B = "7d9f1c2a-1111-4a0a-8d52-000000000002"


def test_parse_takes_root_slash_parent_and_ignores_anything_else():
    assert parse(f"{A}/{B}") == (A, B)
    assert parse(f" {A.upper()}/{B} ") == (A, B)
    for bad in (None, "", A, f"{A}/", f"{A}/{B}/x", "00-abc-def-01", f"{A}/not-a-uuid"):
        assert parse(bad) is None, bad


def test_sections_of_a_root_and_of_a_child():
    assert lineage.sections(B, {}) == {"root": {"id": B}}
    assert lineage.sections(B, {PARENT_ENV: "garbage"}) == {"root": {"id": B}}
    child = lineage.sections(B, {PARENT_ENV: f"{A}/{A}", PARENT_NAME_ENV: "prep"})
    assert child == {"parent": {"id": A, "name": "prep"}, "root": {"id": A}}


def test_a_recorder_exports_while_it_runs_and_restores_at_stop(monkeypatch):
    monkeypatch.setenv(PARENT_ENV, f"{A}/{B}")
    monkeypatch.delenv(PARENT_NAME_ENV, raising=False)
    outer = Recorder("outer", collectors=[], use_plugins=False).start()
    assert outer.record["parent"] == {"id": B, "name": None} and outer.record["root"] == {"id": A}
    assert os.environ[PARENT_ENV] == f"{A}/{outer.id}" and os.environ[PARENT_NAME_ENV] == "outer"
    with Recorder("inner", collectors=[], use_plugins=False) as inner:
        assert os.environ[PARENT_ENV] == f"{A}/{inner.id}"
    assert inner.record["parent"] == {"id": outer.id, "name": "outer"} and inner.record["root"] == {"id": A}
    assert os.environ[PARENT_ENV] == f"{A}/{outer.id}"  # the inner one gave back the outer's value
    record = outer.stop()
    assert os.environ[PARENT_ENV] == f"{A}/{B}" and PARENT_NAME_ENV not in os.environ
    assert validate(record) == []


def test_a_top_level_job_is_its_own_root_and_leaves_no_variable():
    with Recorder("top", collectors=[], use_plugins=False) as rec:
        pass
    assert rec.record["root"] == {"id": rec.id} and "parent" not in rec.record
    assert PARENT_ENV not in os.environ and PARENT_NAME_ENV not in os.environ


QUIET = {"collectors": [], "use_plugins": False, "handle_signals": False}


def test_recorders_that_stop_out_of_order_leave_no_stale_parent(monkeypatch):
    monkeypatch.delenv(PARENT_ENV, raising=False)
    monkeypatch.delenv(PARENT_NAME_ENV, raising=False)
    a = Recorder("a", **QUIET).start()
    b = Recorder("b", **QUIET).start()
    a.stop()
    assert os.environ[PARENT_ENV].endswith(f"/{b.id}"), "b still runs: its children are b's"
    b.stop()
    assert PARENT_ENV not in os.environ and PARENT_NAME_ENV not in os.environ
    c = Recorder("c", **QUIET).start()
    record = c.stop()
    assert "parent" not in record and record["root"] == {"id": c.id}


@given(st.integers(1, 5).flatmap(lambda n: st.permutations(range(n))), st.sampled_from([None, f"{A}/{B}"]))
@settings(max_examples=40, deadline=None)
def test_the_environment_names_the_newest_running_job_whatever_the_stop_order(order, outside):
    saved = {key: os.environ.get(key) for key in (PARENT_ENV, PARENT_NAME_ENV)}
    try:
        lineage._set(PARENT_ENV, outside)
        lineage._set(PARENT_NAME_ENV, "outside" if outside else None)
        jobs = [Recorder(f"j{i}", **QUIET).start() for i in range(len(order))]
        running = list(jobs)
        for i in order:
            jobs[i].stop()
            running.remove(jobs[i])
            if running:
                assert os.environ[PARENT_ENV].endswith(f"/{running[-1].id}")
                assert os.environ[PARENT_NAME_ENV] == running[-1].state.name
            else:
                assert os.environ.get(PARENT_ENV) == outside
                assert os.environ.get(PARENT_NAME_ENV) == ("outside" if outside else None)
    finally:
        for key, value in saved.items():
            lineage._set(key, value)


STEP2 = textwrap.dedent("""
    import subprocess, sys
    from procrecord.writer.recorder import Recorder
    with Recorder("step2", output=sys.argv[1], collectors=[], use_plugins=False):
        subprocess.run([sys.executable, "-m", "procrecord", "run", "-n", "step3", "-o", sys.argv[2], "--",
                        sys.executable, "-c", "pass"], check=True)
""")


def test_a_three_step_pipeline_of_real_processes_is_one_tree(tmp_path):
    """procrecord run -> shell script -> Recorder in python -> procrecord run -> python."""
    (tmp_path / "step2.py").write_text(STEP2)
    script = tmp_path / "pipeline.sh"
    script.write_text(f'#!/bin/sh\nset -e\n"{sys.executable}" step2.py s2.json s3.json\n')
    script.chmod(0o755)
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-n", "step1", "-o", "s1.json", "--",
                           str(script)], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    s1, s2, s3 = (json.loads((tmp_path / f"s{i}.json").read_text()) for i in (1, 2, 3))
    assert all(validate(r) == [] for r in (s1, s2, s3))
    assert "parent" not in s1 and s1["root"] == {"id": s1["id"]}
    assert s2["parent"] == {"id": s1["id"], "name": "step1"} and s2["root"] == {"id": s1["id"]}
    assert s3["parent"] == {"id": s2["id"], "name": "step2"} and s3["root"] == {"id": s1["id"]}
    # walking the tree from the root reaches every step
    children = {r["parent"]["id"]: r["id"] for r in (s2, s3)}
    walk, node = [s1["id"]], s1["id"]
    while node in children:
        node = children[node]
        walk.append(node)
    assert walk == [s1["id"], s2["id"], s3["id"]]
