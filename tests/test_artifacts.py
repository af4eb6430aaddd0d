"""Inputs and outputs: digests agree with sha256sum, folders and globs, size limits, the writer and diff."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import threading

import pytest

from procrecord.operations.comparison import diff
from procrecord.operations.diffreport import write_text
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate
from procrecord.writer import artifacts
from procrecord.writer.artifacts import Artifacts, describe, expand, sha256_file
from procrecord.writer.recorder import Recorder

needs_sha256sum = pytest.mark.skipif(shutil.which("sha256sum") is None, reason="sha256sum not installed")


def _tree(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "a.txt").write_bytes(b"alpha\n")
    (root / "sub" / "b.bin").write_bytes(bytes(range(256)) * 4000)
    (root / "sub" / "deeper" / "c d.csv").write_text("x,y\n1,2\n")
    (root / "Z-upper.txt").write_text("upper sorts before lower in byte order\n")
    return root


@needs_sha256sum
def test_file_digest_is_what_sha256sum_says(tmp_path):
    path = tmp_path / "data.bin"
    path.write_bytes(os.urandom(3 * (1 << 20) + 17))  # several buffers and a ragged end
    expected = subprocess.run(["sha256sum", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert sha256_file(str(path)) == expected
    assert describe(str(path))["sha256"] == expected


@pytest.mark.parametrize("size", [0, 1, (1 << 16) - 1, 1 << 16, (1 << 16) + 1, 1 << 20, (1 << 20) + 3])
def test_file_digest_at_every_buffer_boundary(tmp_path, size):
    import hashlib

    path = tmp_path / "x.bin"
    data = os.urandom(size)
    path.write_bytes(data)
    assert sha256_file(str(path)) == hashlib.sha256(data).hexdigest()


@needs_sha256sum
def test_folder_digest_is_sha256sum_over_its_sorted_listing(tmp_path):
    folder = _tree(tmp_path / "ds")
    # the promise in the README, checked by the tools a user would use
    listing = subprocess.run("find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
                             shell=True, cwd=folder, capture_output=True, text=True, check=True).stdout.split()[0]
    found = describe(str(folder), "train-data")
    assert found["kind"] == "folder" and found["file_count"] == 4
    assert found["size_bytes"] == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    assert found["sha256"] == listing


def _linked_tree(tmp_path):
    """The tree plus every kind of symlink: to a file inside, to a file and a folder outside, dangling, a loop."""
    folder = _tree(tmp_path / "ds")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("not part of the folder\n")
    (folder / "link.txt").symlink_to("a.txt")
    (folder / "sub" / "out.txt").symlink_to(outside / "secret.txt")
    (folder / "out-dir").symlink_to(outside)
    (folder / "dangling").symlink_to(tmp_path / "nowhere")
    (folder / "loop1").symlink_to(folder / "loop2")
    (folder / "loop2").symlink_to(folder / "loop1")
    (folder / "sub" / "up").symlink_to(folder)
    os.mkfifo(folder / "pipe")  # never opened (it would block)
    return folder


def test_a_folder_digest_leaves_symlinks_out_as_find_type_f_does(tmp_path):
    """The README's command lists regular files only: a symlink is neither followed nor counted."""
    folder = _linked_tree(tmp_path)
    found = describe(str(folder))
    regular = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file() and not p.is_symlink())
    assert found["file_count"] == len(regular) == 4
    assert found["sha256"] == artifacts.folder_digest([(rel, sha256_file(str(folder / rel))) for rel in regular])
    assert found["size_bytes"] == sum((folder / rel).stat().st_size for rel in regular)
    for path in [p for p in folder.rglob("*") if p.is_symlink()]:
        path.unlink()
    assert describe(str(folder))["sha256"] == found["sha256"], "the links added nothing"


@needs_sha256sum
def test_a_folder_with_symlinks_has_the_digest_the_readme_command_prints(tmp_path):
    folder = _linked_tree(tmp_path)
    listing = subprocess.run("find . -type f -printf '%P\\n' | LC_ALL=C sort | xargs -d '\\n' sha256sum | sha256sum",
                             shell=True, cwd=folder, capture_output=True, text=True, check=True).stdout.split()[0]
    assert describe(str(folder))["sha256"] == listing


def test_a_folder_digest_changes_with_a_rename_or_a_content_change(tmp_path):
    folder = _tree(tmp_path / "ds")
    first = describe(str(folder))["sha256"]
    (folder / "a.txt").rename(folder / "a2.txt")
    second = describe(str(folder))["sha256"]
    (folder / "a2.txt").write_bytes(b"alphA\n")
    third = describe(str(folder))["sha256"]
    assert len({first, second, third}) == 3


def test_globs_uris_and_missing_paths(tmp_path):
    _tree(tmp_path)
    matches = expand(str(tmp_path / "**" / "*.txt"))
    assert matches == sorted(matches) and len(matches) == 2
    assert describe("s3://bucket/key.parquet", "model") == {"uri": "s3://bucket/key.parquet", "role": "model", "kind": "uri"}
    assert expand(str(tmp_path / "nothing-*.x")) == [str(tmp_path / "nothing-*.x")]
    assert describe(str(tmp_path / "gone.txt"))["kind"] == "missing"
    assert describe(f"file://{tmp_path / 'a.txt'}")["kind"] == "file"
    assert describe(str(tmp_path / "a.txt"))["media_type"] == "text/plain"


def test_above_the_size_limit_only_size_and_mtime_unless_asked(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 1000)
    skipped = describe(str(path), max_digest_bytes=999)
    assert "sha256" not in skipped and skipped["size_bytes"] == 1000 and "mtime" in skipped
    assert "max_digest_bytes" in skipped["digest_skipped"]
    assert "sha256" in describe(str(path), max_digest_bytes=999, digest=True)
    assert "sha256" in describe(str(path), max_digest_bytes=None)
    assert describe(str(path), digest=False)["digest_skipped"] == "not asked for"


def test_an_unreadable_file_is_described_not_raised(tmp_path, monkeypatch):
    path = tmp_path / "locked.bin"
    path.write_bytes(b"x")

    def refuse(_path):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(artifacts, "sha256_file", refuse)
    found = describe(str(path))
    assert found["digest_skipped"] == "unreadable: Permission denied" and "sha256" not in found


def test_inputs_are_hashed_in_the_background_without_stalling_the_caller(tmp_path, monkeypatch):
    path = tmp_path / "in.bin"
    path.write_bytes(b"payload")
    release, started = threading.Event(), threading.Event()
    real = artifacts.sha256_file

    def slow(p):
        started.set()
        release.wait(10)
        return real(p)

    monkeypatch.setattr(artifacts, "sha256_file", slow)
    inputs = Artifacts(background=True)
    inputs.add(str(path), "raw")
    assert started.wait(10)  # the worker is hashing, the caller already went on
    pending = inputs.current()
    assert pending[0]["size_bytes"] == 7 and "sha256" not in pending[0]
    release.set()
    assert inputs.final()[0]["sha256"] == real(str(path))
    inputs.close()


def test_a_failure_while_describing_is_recorded_and_never_hangs_stop(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(artifacts, "describe", broken)
    for background in (True, False):
        found = Artifacts(background=background)
        found.add(str(tmp_path), "data")
        assert found.final() == [{"uri": str(tmp_path), "role": "data", "digest_skipped": "failed: RuntimeError: boom"}]
        found.close()


def test_recorder_records_inputs_and_outputs(tmp_path):
    data = _tree(tmp_path / "data")
    out = tmp_path / "out"
    with Recorder("job", output=tmp_path / "rec.json", collectors=[], use_plugins=False) as rec:
        rec.add_input(data, role="train-data")
        rec.add_input(str(data / "*.txt"), role="notes")
        rec.add_output(out / "model.pt", role="model")
        out.mkdir()
        (out / "model.pt").write_bytes(b"weights")
    record = json.loads((tmp_path / "rec.json").read_text())
    assert record["schema_version"] == current_version() and validate(record) == []
    roles = [(a["role"], os.path.basename(a["uri"])) for a in record["inputs"]]
    assert roles == [("train-data", "data"), ("notes", "Z-upper.txt"), ("notes", "a.txt")]
    assert all("sha256" in a for a in record["inputs"])
    assert record["outputs"] == [{"uri": str(out / "model.pt"), "role": "model", "mtime": record["outputs"][0]["mtime"],
                                  "kind": "file", "size_bytes": 7, "sha256": sha256_file(str(out / "model.pt"))}]


def test_no_artifact_no_section_and_nothing_after_stop(tmp_path):
    rec = Recorder("job", collectors=[], use_plugins=False).start()
    record = rec.stop()
    assert "inputs" not in record and "outputs" not in record
    assert not any(c["name"] in ("inputs", "outputs") for c in record["collection"]["collectors"])
    from procrecord.errors import RecorderStateError

    with pytest.raises(RecorderStateError):
        rec.add_output(tmp_path)


def test_level_all_collects_no_artifact(tmp_path):
    with Recorder("job", collectors=[], use_plugins=False, level="all") as rec:
        rec.add_input(tmp_path)
    assert "inputs" not in rec.record


def test_cli_run_records_input_and_output_artifacts(tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("hello\n")
    dst = tmp_path / "copy.txt"
    out = tmp_path / "rec.json"
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(out), "--input", str(src),
                           "--output-artifact", str(dst), "--", sys.executable, "-c",
                           f"import shutil; shutil.copy({str(src)!r}, {str(dst)!r})"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    record = json.loads(out.read_text())
    assert validate(record) == []
    assert record["inputs"][0]["sha256"] == record["outputs"][0]["sha256"] == sha256_file(str(src))


def test_cli_run_digest_options_contradict(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "--digest-all", "--max-digest-bytes", "5",
                           "--", "true"], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and "contradict" in proc.stderr


@pytest.mark.parametrize("option", [["--digest-all"], ["--max-digest-bytes", "10"]])
def test_cli_run_digest_options_without_artifacts_are_usage_errors(tmp_path, option):
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(tmp_path / "r.json"), *option, "--", "true"],
                          capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 2 and option[0] in proc.stderr and "--input or --output-artifact" in proc.stderr
    assert not (tmp_path / "r.json").exists()


def test_diff_shows_same_code_different_data(tmp_path):
    (tmp_path / "d.csv").write_text("1\n")
    base = {"schema_version": current_version(), "record_type": "procrecord.process",
            "id": "00000000-0000-4000-8000-000000000001", "name": "fit", "status": "completed",
            "producer": {"name": "procrecord", "version": "1"},
            "git": {"commit": "a" * 40},
            "inputs": [describe(str(tmp_path / "d.csv"), "train-data"), describe("s3://b/k", "model")]}
    (tmp_path / "d.csv").write_text("2\n")
    other = json.loads(json.dumps(base))
    other["id"] = "00000000-0000-4000-8000-000000000002"
    other["inputs"] = [describe("s3://b/k", "model"), describe(str(tmp_path / "d.csv"), "train-data")]  # reordered
    changes = diff(base, other)
    assert [c.pointer for c in changes] == ["/inputs/0/sha256"], changes
    text = io.StringIO()
    write_text(changes, text)
    assert "different data: inputs[train-data/" in text.getvalue() and "1 data" in text.getvalue()


@pytest.mark.parametrize("pointer, group", [("/inputs/0/sha256", "data"), ("/outputs/1/size_bytes", "data"),
                                            ("/parent/name", "pipeline"), ("/distributed/world_size", "hardware and host"),
                                            ("/usage/cpu_percent/mean", "resources and emissions")])
def test_1_1_sections_have_a_display_group(pointer, group):
    from procrecord.operations.comparison import Change
    from procrecord.operations.diffreport import group_of

    assert group_of(Change(pointer, "changed", 1, 2, "")) == group


def test_relative_artifacts_are_taken_where_they_were_added(tmp_path, monkeypatch):
    """A job that changes folder after adding them (Hydra's run folders) records the files it added, not
    files of the same name in its new folder."""
    start, later = tmp_path / "start", tmp_path / "later"
    start.mkdir()
    later.mkdir()
    (start / "train.csv").write_text("a,b\n1,2\n")
    (start / "parts").mkdir()
    (start / "parts" / "p1.txt").write_text("one")
    monkeypatch.chdir(start)
    with Recorder("job", output=str(tmp_path / "rec.json"), argv=["job"]) as rec:
        rec.add_input("train.csv", role="train-data")
        rec.add_input("parts/*.txt", role="parts")
        rec.add_output("model.bin", role="model")
        os.chdir(later)
        (start / "model.bin").write_text("the real weights")
        (later / "model.bin").write_text("an unrelated file")
        (later / "train.csv").write_text("other")
    record = json.loads((tmp_path / "rec.json").read_text())
    assert [(a["uri"], a["kind"]) for a in record["inputs"]] == [
        (str(start / "train.csv"), "file"), (str(start / "parts" / "p1.txt"), "file")]
    assert record["inputs"][0]["sha256"] == sha256_file(str(start / "train.csv"))
    (output,) = record["outputs"]
    assert output["uri"] == str(start / "model.bin") and output["size_bytes"] == len("the real weights")
