"""``procrecord.bulk.output.Sink``: what writing many small files costs, and what it keeps."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from click.testing import CliRunner

from procrecord import atomic
from procrecord.cli import cli
from procrecord.record.schemas import current_version

from helpers import FIXTURES, forking

GPU = FIXTURES / "1.0" / "valid" / "gpu-training.json"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def tree(tmp_path):
    src = tmp_path / "src"
    for i, mode in enumerate([0o640, 0o604, 0o600, 0o644]):
        folder = src / f"d{i % 2}"
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(GPU, folder / f"r{i}.json")
        (folder / f"r{i}.json").chmod(mode)
    return src


@pytest.fixture
def looked(monkeypatch):
    """Every path ``os.stat`` or ``os.lstat`` was asked about."""
    seen: list[str] = []
    real_stat, real_lstat = os.stat, os.lstat

    def stat(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real_stat(path, *args, **kwargs)

    def lstat(path, *args, **kwargs):
        seen.append(os.fspath(path))
        return real_lstat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    monkeypatch.setattr(os, "lstat", lstat)
    return seen


def test_outputs_take_their_sources_modes_without_looking_again(tree, tmp_path, looked):
    out = tmp_path / "out"
    result = invoke("redact", "--level", "most", "-o", out, tree)
    assert result.exit_code == 0, result.stderr
    files = [p for p in looked if p.endswith(".json")]
    assert files == [], "a source looked at again by name (the walk's entry has its stat), or an output looked up"
    for source in tree.rglob("*.json"):
        output = out / source.relative_to(tree)
        assert output.stat().st_mode & 0o7777 == source.stat().st_mode & 0o7777
        assert json.loads(output.read_text())["schema_version"] == current_version()


def test_an_output_that_exists_already_keeps_its_owner(tree, tmp_path):
    out = tmp_path / "out"
    assert invoke("redact", "--level", "most", "-o", out, tree).exit_code == 0
    kept = out / "d0" / "r0.json"
    if os.geteuid() == 0:
        os.chown(kept, 1234, 2345)
    owner = kept.stat().st_uid, kept.stat().st_gid
    assert invoke("redact", "--level", "all", "-o", out, tree).exit_code == 0
    assert (kept.stat().st_uid, kept.stat().st_gid) == owner
    assert kept.stat().st_mode & 0o777 == 0o640
    assert "redaction" in json.loads(kept.read_text()) and json.loads(kept.read_text())["redaction"]["level"] == "all"


def test_a_killed_runs_temp_file_in_an_output_folder_is_removed(tree, tmp_path):
    out = tmp_path / "out"
    (out / "d0").mkdir(parents=True)
    host = atomic.creator().rsplit("-", 1)[0]
    dead = out / "d0" / f".r0.json.procrecord-{host}-{2**22 + 12345}-0badf00d.tmp"
    dead.write_text("partial")
    assert invoke("redact", "--level", "most", "-o", out, tree).exit_code == 0
    assert not dead.exists()
    assert sorted(p.name for p in (out / "d0").iterdir()) == ["r0.json", "r2.json"]


def test_every_output_is_complete_and_no_temp_file_is_left(tree, tmp_path, monkeypatch):
    """Many files in several batches, written by the worker threads: each output is the whole record."""
    from procrecord.bulk.output import Sink

    monkeypatch.setattr(Sink, "BATCH_FILES", 3)
    out = tmp_path / "out"
    for i in range(20):
        shutil.copy(GPU, tree / "d1" / f"x{i:02d}.json")
    assert invoke("redact", "--level", "most", "-o", out, tree).exit_code == 0
    outputs = sorted(out.rglob("*"))
    assert [p for p in outputs if p.name.startswith(".")] == []
    assert len([p for p in outputs if p.suffix == ".json"]) == 24
    assert all(json.loads(p.read_text())["schema_version"] == current_version() for p in outputs if p.is_file())


@pytest.mark.parametrize("args", [["redact", "--level", "most"], ["upgrade"]])
def test_the_committing_thread_writes_what_the_main_thread_wrote(tree, tmp_path, monkeypatch, args):
    """Outputs committed by the background thread or process are the same bytes and permission bits,
    with the same messages and exit code, as when every batch is committed in the main thread."""
    from procrecord.bulk.output import Sink

    monkeypatch.setattr(Sink, "BATCH_FILES", 3)
    for i in range(8):
        shutil.copy(GPU, tree / "d0" / f"x{i}.json")
    (tree / "d1" / "bad.json").write_text("{")
    results = {}
    for committer in ("main", "thread", "process"):
        if committer == "process":
            forking(monkeypatch)
        monkeypatch.setattr(Sink, "BACKGROUND", committer != "main")
        monkeypatch.setattr(Sink, "PROCESS", committer == "process")
        out = tmp_path / f"out-{committer}"
        result = CliRunner().invoke(cli, [*args, "-o", str(out), str(tree)], catch_exceptions=False)
        files = {p.relative_to(out).as_posix(): (p.read_bytes(), p.stat().st_mode)
                 for p in sorted(out.rglob("*")) if p.is_file()}
        results[committer] = (result.exit_code, result.output.replace(str(out), "OUT"), files)
    assert results["thread"] == results["main"] and results["process"] == results["main"]
    exit_code, _, files = results["process"]
    assert exit_code == 1 and len([name for name in files if name.endswith(".json")]) == 12
