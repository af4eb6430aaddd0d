"""Object storage: outputs stay under -o whatever the keys, and what is copied is what was checked."""

from __future__ import annotations

import os
import uuid

import pytest
from test_storage import _opt, endpoint, invoke, s3  # noqa: F401  (fixtures)

from procrecord.record.schemas import current_version

from helpers import valid_fixtures

pytest.importorskip("s3fs")


def _files(root) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


@pytest.fixture()
def odd_keys(endpoint):  # noqa: F811 - fixtures
    """A bucket holding one plain object and objects whose keys cannot be mirrored as they are."""
    import s3fs

    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    bucket = f"odd-{uuid.uuid4().hex[:12]}"
    fs.mkdir(bucket)
    record = valid_fixtures(current_version())[0].read_bytes()
    rooted = f"s15-double-{uuid.uuid4().hex}.json"  # joined as an absolute path, it would land in /
    bad = [f"runs//{rooted}", "runs/../escape.json", "runs/x/../../../escape-deep.json", "runs/./dot.json"]
    for key in ["runs/ok.json", *bad]:
        fs.pipe_file(f"{bucket}/{key}", record)
    yield fs, bucket, bad
    if os.path.exists(os.sep + rooted):  # (a regression: cleaned up all the same)
        os.unlink(os.sep + rooted)


@pytest.mark.parametrize("hidden", [[], ["--hidden"]])
@pytest.mark.parametrize("executor", [[], ["--executor", "dask"]])
def test_keys_that_cannot_be_mirrored_are_findings_and_nothing_is_written_outside_the_output(
        tmp_path, odd_keys, endpoint, hidden, executor, monkeypatch):  # noqa: F811 - fixtures
    monkeypatch.setenv("PROCRECORD_DASK_WORKERS", "1")
    fs, bucket, bad = odd_keys
    out = tmp_path / "a" / "b" / "out"
    result = invoke("redact", "--level", "most", *hidden, *executor, f"s3://{bucket}/runs/", "-o", out, *_opt(endpoint))
    assert result.exit_code == 1, result.output
    assert _files(tmp_path) == ["a/b/out/ok.json"]  # nothing beside or above the output folder
    for key in bad:  # each one line naming the object and why (hidden or not: "." and ".." are no names)
        line = next(line for line in result.output.splitlines() if line.startswith(f"s3://{bucket}/{key}::"))
        assert "cannot be mirrored under the output" in line and ("'.' or '..'" in line or "empty path segment" in line)
    assert "4 not written (error), 1 redacted" in result.output.splitlines()[-1]


def test_keys_that_cannot_be_mirrored_to_an_object_store_are_the_same_findings(tmp_path, odd_keys, endpoint):  # noqa: F811
    fs, bucket, bad = odd_keys
    before = set(fs.find(bucket))
    result = invoke("redact", "--level", "most", "--hidden", f"s3://{bucket}/runs/", "-o", f"s3://{bucket}/out/",
                    *_opt(endpoint))
    assert result.exit_code == 1, result.output
    fs.invalidate_cache()
    assert set(fs.find(bucket)) - before == {f"{bucket}/out/ok.json"}
    assert "ParamValidationError" not in result.output
    assert sum("cannot be mirrored under the output" in line for line in result.output.splitlines()) == len(bad)


def test_a_key_that_resolves_onto_another_objects_output_loses_no_record_and_leaves_no_folder(tmp_path, s3, endpoint):  # noqa: F811
    fs, bucket = s3
    first, second = valid_fixtures(current_version())[:2]
    fs.pipe_file(f"{bucket}/runs/b.json", first.read_bytes())
    fs.pipe_file(f"{bucket}/runs/a.json/../b.json", second.read_bytes())
    expected = invoke("redact", "--level", "most", first).stdout_bytes
    result = invoke("redact", "--level", "most", f"s3://{bucket}/runs/", "-o", tmp_path / "o2", *_opt(endpoint))
    assert result.exit_code == 1, result.output
    assert f"s3://{bucket}/runs/a.json/../b.json:: error: not written: its name has a '.' or '..'" in result.output
    assert _files(tmp_path / "o2") == ["b.json"] and (tmp_path / "o2" / "b.json").read_bytes() == expected
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["b.json"]  # no stray a.json/ folder


def test_two_sources_with_one_output_are_the_output_taken_conflict(tmp_path, s3, endpoint):  # noqa: F811
    fs, bucket = s3
    first, second = valid_fixtures(current_version())[:2]
    fs.pipe_file(f"{bucket}/one/same.json", first.read_bytes())
    fs.pipe_file(f"{bucket}/two/same.json", second.read_bytes())
    result = invoke("redact", "--level", "most", f"s3://{bucket}/one/same.json", f"s3://{bucket}/two/same.json",
                    "-o", tmp_path / "o", *_opt(endpoint))
    assert result.exit_code == 1, result.output
    assert f"s3://{bucket}/two/same.json:: error: not written: its output" in result.output
    assert "1 not written (output taken)" in result.output.splitlines()[-1]
    assert (tmp_path / "o" / "same.json").read_bytes() == invoke("redact", "--level", "most", first).stdout_bytes


def test_unsafe_names():
    from procrecord.bulk.objectsink import unsafe

    for name in ("", "/a.json", "a//b.json", "a/", "..", "a/../b.json", "./a.json", "a/./b.json", "a\0.json"):
        assert unsafe(name, False) is not None, name
        assert unsafe(name, True) is not None, name
    for name in ("a.json", "a/b.json", "..a.json", "a../b.json", "...", ".hidden/a.json", "a\\b.json"):
        assert unsafe(name, False) is None, name
    assert unsafe("x" * 256 + ".json", True) is not None and unsafe("x" * 256 + ".json", False) is None
