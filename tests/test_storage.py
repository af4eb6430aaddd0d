"""Records in object storage: a real S3 API (moto's server) through s3fs, and fsspec's memory filesystem."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from procrecord.bulk.storage import parse_option
from procrecord.cli import cli
from procrecord.record.schemas import current_version

from helpers import moto_s3, valid_fixtures

s3fs = pytest.importorskip("s3fs")
pytest.importorskip("moto.server")


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def endpoint():
    """A moto S3 server on 127.0.0.1 (a random free port) for this module's tests."""
    saved = {k: os.environ.get(k) for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION")}
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
    try:
        with moto_s3() as url:
            yield url
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture()
def s3(endpoint, request):
    """An s3fs filesystem on the moto server and a fresh bucket named after the test."""
    fs = s3fs.S3FileSystem(endpoint_url=endpoint, skip_instance_cache=True)
    bucket = "b-" + re.sub(r"[^a-z0-9-]", "-", request.node.name.lower())[:50]
    fs.mkdir(bucket)
    return fs, bucket


def _tree(root: Path) -> Path:
    """A local input tree: JSON records in two folders and a JSONL of several records."""
    files = valid_fixtures(current_version())  # current records: an upgrade has nothing to change
    (root / "sub").mkdir(parents=True)
    for index, path in enumerate(files[:4]):
        (root / ("sub" if index % 2 else "") / path.name).write_bytes(path.read_bytes())
    lines = [json.dumps(json.loads(p.read_text())) for p in files[:3]]
    (root / "many.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _upload(fs, local: Path, prefix: str) -> None:
    for path in sorted(local.rglob("*")):
        if path.is_file():
            fs.pipe_file(f"{prefix}/{path.relative_to(local).as_posix()}", path.read_bytes())


def _opt(endpoint: str) -> list[str]:
    # Credentials as options too: pool workers come from a forkserver that may have started (in an
    # earlier test) before the fixture set the AWS_* variables, and options travel with the tasks.
    return ["--storage-option", f"endpoint_url={endpoint}", "--storage-option", "key=testing",
            "--storage-option", "secret=testing"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_s3_redact_output_equals_local_run(tmp_path, s3, endpoint, jobs):
    fs, bucket = s3
    local = _tree(tmp_path / "in")
    _upload(fs, local, f"{bucket}/in")
    expected = invoke("redact", "--level", "all", local, "-o", tmp_path / "out")
    result = invoke("redact", "--level", "all", "--jobs", jobs, f"s3://{bucket}/in", "-o", f"s3://{bucket}/out",
                    *_opt(endpoint))
    assert result.exit_code == expected.exit_code == 0, result.output
    local_out = {p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
                 for p in (tmp_path / "out").rglob("*") if p.is_file()}
    remote_out = {k[len(f"{bucket}/out/"):]: fs.cat_file(k) for k in fs.find(f"{bucket}/out")}
    assert remote_out == local_out and len(local_out) == 5


def test_s3_glob_source_and_local_output(tmp_path, s3, endpoint):
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    result = invoke("validate", f"s3://{bucket}/in/**/*.json", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    result = invoke("upgrade", f"s3://{bucket}/in/sub/*.json", "-o", tmp_path / "up", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "up").iterdir()) == sorted(
        k.rsplit("/", 1)[1] for k in fs.glob(f"{bucket}/in/sub/*.json"))


def test_s3_bad_object_and_missing_bucket_are_findings(tmp_path, s3, endpoint):
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    fs.pipe_file(f"{bucket}/in/broken.json", b"{not json")
    result = invoke("validate", f"s3://{bucket}/in", *_opt(endpoint))
    assert result.exit_code == 1
    assert f"s3://{bucket}/in/broken.json:: error:" in result.output
    assert "6 records" in result.output or "broken.json" in result.output
    missing = invoke("validate", "s3://no-such-bucket-here/x", *_opt(endpoint))
    assert missing.exit_code == 1
    assert "s3://no-such-bucket-here/x:: error: no such object or bucket" in missing.output
    # a broken object in a transform: its output is not written, the others are
    result = invoke("redact", "--level", "all", f"s3://{bucket}/in", "-o", f"s3://{bucket}/out", *_opt(endpoint))
    assert result.exit_code == 1
    assert not fs.exists(f"{bucket}/out/broken.json") and fs.exists(f"{bucket}/out/many.jsonl")


def test_denied_access_is_a_finding(monkeypatch, tmp_path):
    from procrecord.bulk import storage

    class Denied:
        protocol = ("denied",)

        def cat_file(self, path):
            raise PermissionError(13, "Access Denied")

    monkeypatch.setattr(storage, "filesystem", lambda url, opts=None: (Denied(), url))
    item = storage.ObjectTask("s3://b/x.json", False).fetch()
    assert item.message.startswith("access denied")


def test_in_place_on_s3_rewrites_only_changed_objects(tmp_path, s3, endpoint):
    fs, bucket = s3
    fs.call_s3("put_bucket_versioning", Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    local = _tree(tmp_path / "in")
    invoke("redact", "--level", "all", local, "-o", tmp_path / "done")
    _upload(fs, local, f"{bucket}/in")

    def versions():
        fs.invalidate_cache()
        return {k: fs.call_s3("head_object", Bucket=bucket, Key=k.split("/", 1)[1])["VersionId"]
                for k in fs.find(f"{bucket}/in")}

    before = versions()
    # every record is current already: upgrade --in-place rewrites nothing
    result = invoke("upgrade", "--in-place", f"s3://{bucket}/in", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    assert versions() == before
    result = invoke("redact", "--level", "all", "--in-place", f"s3://{bucket}/in", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    after = versions()
    assert all(after[k] != before[k] for k in before) and len(before) == 5
    for key in before:  # one new version per object, equal to the local run's output
        listed = fs.call_s3("list_object_versions", Bucket=bucket, Prefix=key.split("/", 1)[1])["Versions"]
        assert len(listed) == 2
        assert fs.cat_file(key) == (tmp_path / "done" / key[len(f"{bucket}/in/"):]).read_bytes()


def test_in_place_concurrent_change_is_reported_not_overwritten(tmp_path, s3, endpoint):
    from procrecord.bulk import objectsink, storage
    from procrecord.bulk.engine import run
    from procrecord.operations.transforms import RedactRecord

    fs, bucket = s3
    record = valid_fixtures("1.0")[0].read_bytes()
    fs.pipe_file(f"{bucket}/r.json", record)
    storage.set_options({"endpoint_url": endpoint})
    try:
        items = list(run([f"s3://{bucket}/r.json"], RedactRecord("all")))
        fs.pipe_file(f"{bucket}/r.json", record + b"\n")  # someone else writes it meanwhile
        sink = objectsink.ObjectSink([f"s3://{bucket}/r.json"], None, in_place=True)
        for item in items:
            sink.add(item)
        sink.close()
    finally:
        storage.set_options({})
    assert sink.failures == [(f"s3://{bucket}/r.json", "not rewritten: the object changed since it was read")]
    assert fs.cat_file(f"{bucket}/r.json") == record + b"\n"


def test_memory_and_file_urls(tmp_path):
    import fsspec

    mem = fsspec.filesystem("memory")
    record = valid_fixtures("1.0")[0].read_bytes()
    mem.pipe_file("/h19/in/a.json", record)
    result = invoke("redact", "--level", "all", "memory://h19/in", "-o", f"file://{tmp_path}/out")
    assert result.exit_code == 0, result.output
    local = invoke("redact", "--level", "all", valid_fixtures("1.0")[0])
    assert (tmp_path / "out" / "a.json").read_bytes() == local.stdout_bytes
    assert invoke("show", "memory://h19/in/*.json").exit_code == 0
    assert invoke("diff", "--baseline", "memory://h19/in/a.json", f"file://{tmp_path}/out/a.json").exit_code in (0, 1)


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_json_object_storage_option_reaches_s3(tmp_path, s3, endpoint, jobs):
    """The README's own form, ``client_kwargs={"region_name": ...}``, used to end in a traceback (an
    unhashable value in the planner's memory of listed sources)."""
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    result = invoke("validate", "--jobs", jobs, f"s3://{bucket}/in", *_opt(endpoint),
                    "--storage-option", 'client_kwargs={"region_name": "eu-west-1"}')
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "valid" in result.output
    result = invoke("upgrade", f"s3://{bucket}/in", "-o", f"s3://{bucket}/up", *_opt(endpoint),
                    "--storage-option", 'client_kwargs={"region_name": "eu-west-1"}')
    assert result.exit_code == 0, result.output
    assert fs.find(f"{bucket}/up")


def test_the_options_check_session_serves_the_run(tmp_path, s3, endpoint, monkeypatch):
    """Checking the options makes an S3 session; the run's filesystems are made with that one, not a
    second (loading botocore's models again costs ~90 ms before the first request), and only for the
    options it was made with."""
    import aiobotocore.session

    from procrecord.bulk import storage

    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    made = []
    original = aiobotocore.session.AioSession.__init__

    def counted(self, *args, **kwargs):
        made.append(self)
        original(self, *args, **kwargs)

    monkeypatch.setattr(aiobotocore.session.AioSession, "__init__", counted)
    s3fs.S3FileSystem.clear_instance_cache()  # no filesystem of an earlier test answers for this run
    result = invoke("validate", f"s3://{bucket}/in", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    assert "valid" in result.output
    assert len(made) == 1
    options, session = storage._PROBED[0]
    assert session is made[0]
    assert storage.filesystem(f"s3://{bucket}/in", options)[0].session is session
    # other options, another scheme, or a session of the user's own: not this one
    assert storage._probed_session(f"s3://{bucket}/in", {**options, "anon": True}) is None
    assert storage._probed_session(f"gs://{bucket}/in", options) is None
    assert storage._probed_session(f"s3://{bucket}/in", {**options, "session": object()}) is None


def test_storage_option_values():
    assert parse_option("anon=true") == ("anon", True)
    assert parse_option("client_kwargs={\"region_name\": \"x\"}") == ("client_kwargs", {"region_name": "x"})
    assert parse_option("endpoint_url=http://h:1") == ("endpoint_url", "http://h:1")
    with pytest.raises(ValueError):
        parse_option("novalue")
    assert invoke("validate", "--storage-option", "bad", "x").exit_code == 2


@pytest.mark.parametrize("where", ["source", "output"])
def test_mistyped_storage_option_usage_error(tmp_path, s3, endpoint, where):
    """A mistyped key (endpont_url) would fail every source with the same TypeError: one usage line."""
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    mistyped = ["--storage-option", f"endpont_url={endpoint}", "--storage-option", "key=testing",
                "--storage-option", "secret=testing"]
    if where == "source":
        result = invoke("validate", f"s3://{bucket}/in", *mistyped)
    else:
        result = invoke("upgrade", tmp_path / "in", "-o", f"s3://{bucket}/up", *mistyped)
    assert result.exit_code == 2, result.output
    (line,) = [text for text in result.output.splitlines() if "endpont_url" in text]
    assert line.startswith("Error: --storage-option endpont_url: not an option of s3:// storage")
    assert not fs.find(f"{bucket}/up")


def test_a_storage_option_with_local_paths_only_is_a_warning(tmp_path):
    path = tmp_path / "a.json"
    path.write_text(json.dumps(json.loads(valid_fixtures(current_version())[0].read_text())))
    result = invoke("validate", "--storage-option", "endpoint_url=http://127.0.0.1:1", path)
    assert result.exit_code == 0, result.output
    assert "warning: --storage-option is for URL sources and outputs" in result.stderr
    assert "warning" not in invoke("validate", path).stderr  # the options of one run are not the next one's


def test_local_runs_do_not_import_fsspec(tmp_path):
    code = ("import sys\nfrom click.testing import CliRunner\nfrom procrecord.cli import cli\n"
            f"r = CliRunner().invoke(cli, ['validate', {str(valid_fixtures('1.0')[0])!r}])\n"
            "assert r.exit_code == 0, r.output\nprint('fsspec' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_in_place_put_carries_if_match_and_a_412_is_a_finding(tmp_path, s3, endpoint, monkeypatch):
    """The store itself refuses an in-place PUT over an object changed since it was listed, even
    when the change comes after the sink's own check: no check-then-write window."""
    from procrecord.bulk import objectio, objectsink, storage
    from procrecord.bulk.engine import run
    from procrecord.operations.transforms import RedactRecord

    fs, bucket = s3
    record = valid_fixtures("1.0")[0].read_bytes()
    fs.pipe_file(f"{bucket}/r.json", record)
    fs.pipe_file(f"{bucket}/s.json", record)
    etag = fs.info(f"{bucket}/r.json")["ETag"]
    fs.pipe_file(f"{bucket}/r.json", record + b" ")  # changed after "listing": the old ETag no longer matches
    assert objectio.conditional_put(fs, f"{bucket}/r.json", b"{}", etag) is False
    assert fs.cat_file(f"{bucket}/r.json") == record + b" "
    storage.set_options({"endpoint_url": endpoint})
    try:
        listed = {k: fs.info(k) for k in (f"{bucket}/r.json", f"{bucket}/s.json")}
        items = list(run([f"s3://{bucket}/r.json", f"s3://{bucket}/s.json"], RedactRecord("all")))
        fs.pipe_file(f"{bucket}/r.json", record + b"\n")  # someone else writes r.json meanwhile
        # ... just after the sink's check (which saw the object as listed): only If-Match can catch it
        monkeypatch.setattr(s3fs.S3FileSystem, "info", lambda self, path, **k: listed[path])
        sink = objectsink.ObjectSink([f"s3://{bucket}/r.json", f"s3://{bucket}/s.json"], None, in_place=True)
        for item in items:
            sink.add(item)
        sink.close()
    finally:
        storage.set_options({})
    assert sink.failures == [(f"s3://{bucket}/r.json", objectsink.CHANGED)]
    assert sink.written == [f"s3://{bucket}/s.json"]
    assert fs.cat_file(f"{bucket}/r.json") == record + b"\n"
    assert fs.cat_file(f"{bucket}/s.json") != record  # redacted, written with If-Match of its listed ETag


def test_in_place_without_conditional_writes_checks_before_writing(tmp_path):
    """memory:// has no conditional writes: the object's identity is checked before the write."""
    import fsspec

    from procrecord.bulk import objectio, objectsink
    from procrecord.bulk.engine import run
    from procrecord.operations.transforms import RedactRecord

    mem = fsspec.filesystem("memory")
    record = valid_fixtures("1.0")[0].read_bytes()
    mem.pipe_file("/h19ip/r.json", record)
    assert objectio.conditional_put(mem, "/h19ip/r.json", b"{}", "x") is None
    items = list(run(["memory://h19ip/r.json"], RedactRecord("all")))
    mem.pipe_file("/h19ip/r.json", record + b"\n\n")
    sink = objectsink.ObjectSink(["memory://h19ip/r.json"], None, in_place=True)
    for item in items:
        sink.add(item)
    sink.close()
    assert sink.failures == [("memory://h19ip/r.json", objectsink.CHANGED)]
    assert mem.cat_file("/h19ip/r.json") == record + b"\n\n"


def test_output_prefix_inside_the_source_prefix_is_not_read(tmp_path, s3, endpoint):
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    first = invoke("redact", "--level", "all", f"s3://{bucket}/in/", "-o", f"s3://{bucket}/in/out/", *_opt(endpoint))
    assert first.exit_code == 0, first.output
    written = sorted(fs.find(f"{bucket}/in/out"))
    assert len(written) == 5
    fs.invalidate_cache()
    again = invoke("redact", "--level", "all", f"s3://{bucket}/in", "-o", f"s3://{bucket}/in/out", *_opt(endpoint))
    assert again.exit_code == 0, again.output
    assert again.output.splitlines()[-1] == first.output.splitlines()[-1]  # the same records, none of out/
    fs.invalidate_cache()
    assert sorted(fs.find(f"{bucket}/in/out")) == written  # no in/out/out/...
    inside = invoke("validate", f"s3://{bucket}/in/out/many.jsonl", *_opt(endpoint))
    assert inside.exit_code == 0  # a source named on its own is read when it is not a run's output


def test_export_reads_and_writes_urls(tmp_path, s3, endpoint):
    pytest.importorskip("pyarrow")
    fs, bucket = s3
    local = _tree(tmp_path / "in")
    _upload(fs, local, f"{bucket}/in")
    expected = invoke("export", "--to", "jsonl-flat", "-o", tmp_path / "flat.jsonl", local)
    assert expected.exit_code == 0, expected.output
    result = invoke("export", "--to", "jsonl-flat", "-o", f"s3://{bucket}/exports/flat.jsonl", f"s3://{bucket}/in",
                    *_opt(endpoint))
    assert result.exit_code == 0, result.output
    remote = fs.cat_file(f"{bucket}/exports/flat.jsonl").replace(f"s3://{bucket}/in".encode(), str(local).encode())
    assert len(remote.splitlines()) == len((tmp_path / "flat.jsonl").read_bytes().splitlines()) == 7
    result = invoke("export", "--to", "parquet", "-o", f"s3://{bucket}/exports/runs.parquet", f"s3://{bucket}/in",
                    *_opt(endpoint))
    assert result.exit_code == 0, result.output
    import io

    import pyarrow.parquet as pq

    assert pq.read_table(io.BytesIO(fs.cat_file(f"{bucket}/exports/runs.parquet"))).num_rows == 7
    result = invoke("export", "--to", "ro-crate", "-o", f"s3://{bucket}/crate", f"s3://{bucket}/in", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    assert fs.exists(f"{bucket}/crate/ro-crate-metadata.json")
    assert not list(Path.cwd().glob("s3:*"))  # nothing written to a local folder named after the URL


def test_re_exporting_a_crate_to_object_storage_removes_the_earlier_crates_records(tmp_path, s3, endpoint):
    pytest.importorskip("rocrate.rocrate")
    fs, bucket = s3
    files = valid_fixtures(current_version())[:3]
    records = [{**json.loads(p.read_text()), "id": f"00000000-0000-4000-8000-00000000000{i}"} for i, p in enumerate(files)]
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    first.write_text("".join(json.dumps(r) + "\n" for r in records))
    second.write_text(json.dumps(records[0]) + "\n")
    prefix = f"{bucket}/crate"
    assert invoke("export", "--to", "ro-crate", "-o", f"s3://{prefix}/", first, *_opt(endpoint)).exit_code == 0
    fs.pipe_file(f"{prefix}/README.md", b"mine")  # not the crate's: stays
    fs.invalidate_cache()
    assert len(fs.find(f"{prefix}/records")) == 3
    result = invoke("export", "--to", "ro-crate", "-o", f"s3://{prefix}/", second, *_opt(endpoint))
    assert result.exit_code == 0, result.output
    fs.invalidate_cache()
    assert sorted(p.rsplit("/", 1)[-1] for p in fs.find(f"{prefix}/records")) == [f"{records[0]['id']}.json"]
    assert fs.cat_file(f"{prefix}/README.md") == b"mine"
    metadata = json.loads(fs.cat_file(f"{prefix}/ro-crate-metadata.json"))
    assert {e["@id"] for e in metadata["@graph"] if e["@id"].startswith("records/")} == {f"records/{records[0]['id']}.json"}


def test_a_crate_is_not_exported_over_objects_of_another_kind(tmp_path, s3, endpoint):
    pytest.importorskip("rocrate.rocrate")
    fs, bucket = s3
    fs.pipe_file(f"{bucket}/data/thesis.tex", b"important")
    src = valid_fixtures(current_version())[0]
    result = invoke("export", "--to", "ro-crate", "-o", f"s3://{bucket}/data", src, *_opt(endpoint))
    assert result.exit_code == 2 and "no crate procrecord wrote" in result.output
    fs.invalidate_cache()
    assert fs.find(f"{bucket}/data") == [f"{bucket}/data/thesis.tex"]


def test_a_crate_zip_is_not_exported_over_a_zip_of_another_kind(tmp_path, s3, endpoint):
    pytest.importorskip("rocrate.rocrate")
    import io
    import zipfile

    fs, bucket = s3
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("chapter1.tex", b"important")
    fs.pipe_file(f"{bucket}/thesis.zip", buffer.getvalue())
    src = valid_fixtures(current_version())[0]
    result = invoke("export", "--to", "ro-crate", "-o", f"s3://{bucket}/thesis.zip", src, *_opt(endpoint))
    assert result.exit_code == 2 and f"s3://{bucket}/thesis.zip is a zip that is neither empty nor a crate" in result.output
    fs.invalidate_cache()
    assert fs.cat_file(f"{bucket}/thesis.zip") == buffer.getvalue()
    result = invoke("export", "--to", "ro-crate", "-o", f"s3://{bucket}/crate.zip", src, *_opt(endpoint))
    assert result.exit_code == 0, result.output
    result = invoke("export", "--to", "ro-crate", "-o", f"s3://{bucket}/crate.zip", src, *_opt(endpoint))
    assert result.exit_code == 0, result.output  # our own crate: replaced
    fs.invalidate_cache()
    names = zipfile.ZipFile(io.BytesIO(fs.cat_file(f"{bucket}/crate.zip"))).namelist()
    assert sorted(names) == [f"records/{json.loads(src.read_text())['id']}.json", "ro-crate-metadata.json"]


def test_a_crate_to_a_bucket_that_is_not_there_is_one_line_and_exit_3(tmp_path, endpoint):
    pytest.importorskip("rocrate.rocrate")
    src = valid_fixtures(current_version())[0]
    result = invoke("export", "--to", "ro-crate", "-o", "s3://no-such-bucket-hexp/crate", src, *_opt(endpoint))
    assert result.exit_code == 3 and "Traceback" not in result.output
    assert "s3://no-such-bucket-hexp/crate" in result.output


def _lines_of(sources, chunk_bytes):
    """(source, line, record or message) of every document, planned with ``chunk_bytes``, as load() does."""
    from procrecord.bulk.loader import LineTracker, Span, iter_task, plan, shift

    tracker, found = LineTracker(), []
    for task in plan(sources, chunk_bytes=chunk_bytes):
        base, span = tracker.base_for(task), Span()
        for item in iter_task(task, span):
            item = shift(item, base)
            found.append((item.line, item.record["n"] if hasattr(item, "record") else item.message))
        tracker.advance(task, span.lines)
    return found


@given(sizes=st.lists(st.integers(0, 40), min_size=1, max_size=30), step=st.integers(1, 64),
       trailing=st.booleans())
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_ranges_of_a_big_jsonl_object_read_every_line_once(monkeypatch, sizes, step, trailing):
    """Cut into ranges anywhere (even inside a line), an object's lines are each read once, numbered as in the file."""
    import fsspec

    from procrecord.bulk import objectio, storage

    monkeypatch.setattr(storage, "OBJECT_RANGE_BYTES", 1)
    monkeypatch.setattr(objectio, "AHEAD_MAX_OBJECT", 0)  # streamed, even whole
    monkeypatch.setattr(objectio, "BLOCK_BYTES", 16)  # lines cross blocks
    lines = [(b'{"n": %d, "pad": "%s"}' % (i, b"x" * size)) if size % 7 else b"" for i, size in enumerate(sizes)]
    data = b"\n".join(lines) + (b"\n" if trailing else b"")
    fsspec.filesystem("memory").pipe_file("/h19r/big.jsonl", data)
    expected = [(i + 1, i) for i, line in enumerate(lines) if line]
    assert _lines_of(["memory://h19r/big.jsonl"], step) == expected
    assert _lines_of(["memory://h19r/big.jsonl"], 1 << 62) == expected  # one task (Dask): streamed whole


def test_big_jsonl_object_is_read_in_bounded_blocks(tmp_path, s3, endpoint, monkeypatch):
    """A JSONL object far bigger than a block is read block by block (never whole), by ranged reads
    that each ask for at most one block, and its findings keep their line numbers."""
    from procrecord.bulk import objectio, storage

    fs, bucket = s3
    record = json.dumps(json.loads(valid_fixtures(current_version())[0].read_text())).encode()
    count = 3000
    lines = [record] * count
    lines[2500] = b"{broken"
    data = b"\n".join(lines) + b"\n"
    fs.pipe_file(f"{bucket}/big.jsonl", data)
    block = 64 * 1024
    monkeypatch.setattr(objectio, "BLOCK_BYTES", block)
    monkeypatch.setattr(objectio, "AHEAD_MAX_OBJECT", block)
    monkeypatch.setattr(storage, "OBJECT_RANGE_BYTES", len(data) // 3)
    reads: list[int] = []
    original = objectio._Blocks.readinto

    def counted(self, buffer):
        size = original(self, buffer)
        reads.append(size)
        return size

    monkeypatch.setattr(objectio._Blocks, "readinto", counted)
    monkeypatch.setattr(s3fs.S3FileSystem, "cat_file", lambda *a, **k: pytest.fail("an object read whole"))
    result = invoke("validate", f"s3://{bucket}/big.jsonl", *_opt(endpoint))
    assert result.exit_code == 1
    assert f"s3://{bucket}/big.jsonl:2501:: error:" in result.output
    assert f"{count} records" in result.output and "2999 valid" in result.output
    assert max(reads) <= block and len(reads) >= len(data) // block  # incremental: one block per read
    assert sum(reads) <= len(data) + 3 * (block + len(record) + 1)  # each range reads at most a block past its end


def test_read_ahead_is_bounded_and_only_in_the_planning_process(monkeypatch):
    import threading

    from procrecord.bulk import objectio

    class Slow:
        """A filesystem whose reads wait until released, counting how many are in flight at most."""

        def __init__(self):
            self.flying = self.most = 0
            self.lock = threading.Lock()
            self.go = threading.Event()

        def cat_file(self, path):
            with self.lock:
                self.flying += 1
                self.most = max(self.most, self.flying)
            self.go.wait(5)
            with self.lock:
                self.flying -= 1
            return path.encode()

    monkeypatch.setattr(objectio, "AHEAD_OBJECTS", 4)
    monkeypatch.setattr(objectio, "AHEAD_BYTES", 100)
    fs = Slow()
    paths = [f"o{i}" for i in range(20)]
    ahead = objectio.ReadAhead(fs, paths, [30] * 20)
    try:
        assert objectio.lookup(ahead.key) is ahead
        first = threading.Thread(target=lambda: ahead.take("o0"))
        first.start()
        threading.Event().wait(0.2)
        assert fs.most <= 1 + 3  # o0 itself and at most 100 bytes (3 objects of 30) ahead of it
        fs.go.set()
        first.join()
        assert [ahead.take(p) for p in paths[1:10]] == [p.encode() for p in paths[1:10]]
        assert ahead.take("o15") == b"o15"  # o10-o14 were never taken (their tasks read nothing) ...
        assert all(int(p[1:]) > 15 for p in ahead._flight) and ahead._flight  # ... and hold no place
        monkeypatch.setattr(objectio.os, "getpid", lambda: -1)  # another process (a worker): no read-ahead
        assert objectio.lookup(ahead.key) is None
    finally:
        ahead.close()
    assert objectio.lookup(ahead.key) is None


def test_small_objects_are_read_with_one_get_each_in_a_worker_and_ahead(s3, endpoint):
    """A process that did not list the objects (a pool or Dask worker) reads each in one GET, no HEAD
    first; the planner's read-ahead too (its requests run on s3fs's event loop)."""
    from procrecord.bulk import objectio
    from procrecord.bulk.loader import InlineTask
    from procrecord.bulk.storage import ObjectTask, filesystem

    fs, bucket = s3
    body = b'{"a": 1}\n' * 50
    keys = [f"{bucket}/o{i}.jsonl" for i in range(3)]
    fs.pipe(dict.fromkeys(keys, body))
    options = (("endpoint_url", endpoint),)
    worker_fs, _ = filesystem(f"s3://{keys[0]}", dict(options))
    worker_fs.invalidate_cache()  # as in a fresh worker: no listing cached
    calls = []
    real = worker_fs._call_s3

    async def spy(method, *args, **kwargs):
        calls.append(method)
        return await real(method, *args, **kwargs)

    worker_fs._call_s3 = spy
    try:
        task = ObjectTask(f"s3://{keys[0]}", True, options, identity=("etag", len(body)))
        fetched = task.fetch()
        assert isinstance(fetched, InlineTask) and b"".join(fetched.payloads) == body
        assert calls == ["get_object"]
        calls.clear()
        ahead = objectio.ReadAhead(worker_fs, keys, [len(body)] * 3)
        try:
            assert [ahead.take(key) for key in keys] == [body] * 3
        finally:
            ahead.close()
        assert calls == ["get_object"] * 3
    finally:
        del worker_fs._call_s3


def test_read_ahead_asks_for_the_object_a_task_waits_on_first(monkeypatch):
    """The first object's request goes out before the window's (a store answering many requests at
    once would otherwise send it back last, and parsing could not start before every read was done)."""
    from concurrent.futures import Future

    from procrecord.bulk import objectio

    asked: list[str] = []

    def submit(self, path):
        asked.append(path)
        done: Future[bytes] = Future()
        done.set_result(path.encode())
        return done

    monkeypatch.setattr(objectio.ReadAhead, "_submit", submit)
    monkeypatch.setattr(objectio, "read_whole", lambda fs, path: asked.append("now " + path) or path.encode())
    paths = [f"b/o{index}" for index in range(40)]
    ahead = objectio.ReadAhead(object(), paths, [10] * 40)
    try:
        assert ahead.take("b/o0") == b"b/o0"
        assert asked[0] == "b/o0" and len(asked) == objectio.AHEAD_OBJECTS + 1  # then the window
        assert ahead.take("b/o1") == b"b/o1" and len(asked) == objectio.AHEAD_OBJECTS + 2
        assert ahead.take("b/o39") == b"b/o39"  # past the window: asked for at once, the rest dropped
        assert asked[-1] == "b/o39" and not any(entry.startswith("now") for entry in asked)
    finally:
        ahead.close()


# -- in-place on stores without conditional writes; walks of prefixes; option values ----------------


@pytest.mark.parametrize("jobs", [[], ["--jobs", "1"]])
def test_in_place_on_memory_rewrites_objects_no_one_changed(jobs):
    """memory:// lists an object's ``created`` as a number and ``info()`` gives it as a datetime:
    the same object must still compare equal, or no in-place rewrite could ever be made there."""
    import fsspec

    mem = fsspec.filesystem("memory")
    record = valid_fixtures("1.0")[0].read_bytes()
    expected = invoke("redact", "--level", "all", valid_fixtures("1.0")[0]).stdout_bytes
    prefix = f"/s13ip{len(jobs)}"
    for name in ("a.json", "sub/b.json", "one.json"):
        mem.pipe_file(f"{prefix}/{name}", record)
    result = invoke("redact", "--level", "all", "--in-place", *jobs, f"memory:/{prefix}/one.json")
    assert result.exit_code == 0, result.output
    assert mem.cat_file(f"{prefix}/one.json") == expected
    mem.pipe_file(f"{prefix}/one.json", record)
    result = invoke("redact", "--level", "all", "--in-place", *jobs, f"memory:/{prefix}/")
    assert result.exit_code == 0, result.output
    assert "changed since it was read" not in result.output
    assert all(mem.cat_file(f"{prefix}/{name}") == expected for name in ("a.json", "sub/b.json", "one.json"))


def test_in_place_on_memory_reports_an_object_changed_since_it_was_read():
    """A change of the same size, made between the read and the write, is still caught (a new
    version has a new time), and the object is left as the other writer made it."""
    import time

    import fsspec

    from procrecord.bulk import objectsink
    from procrecord.bulk.engine import run
    from procrecord.operations.transforms import RedactRecord

    mem = fsspec.filesystem("memory")
    record = valid_fixtures("1.0")[0].read_bytes()
    for name in ("r.json", "s.json"):
        mem.pipe_file(f"/s13chg/{name}", record)
    sources = ["memory://s13chg/r.json", "memory://s13chg/s.json"]
    items = list(run(sources, RedactRecord("all")))
    time.sleep(0.001)
    other = bytes(reversed(record))  # same size, other bytes
    assert len(other) == len(record) and other != record
    mem.pipe_file("/s13chg/r.json", other)
    sink = objectsink.ObjectSink(sources, None, in_place=True)
    for item in items:
        sink.add(item)
    sink.close()
    assert sink.failures == [("memory://s13chg/r.json", objectsink.CHANGED)]
    assert sink.written == ["memory://s13chg/s.json"]
    assert mem.cat_file("/s13chg/r.json") == other and mem.cat_file("/s13chg/s.json") != record


@pytest.mark.parametrize("store", ["memory", "file", "s3"])
def test_identity_of_one_version(tmp_path, s3, endpoint, store):
    """The listing's details and ``info()`` of one object give one identity; a new version another."""
    import fsspec

    from procrecord.bulk.storage import identity

    if store == "s3":
        fs, bucket = s3
        folder = f"{bucket}/id"
    elif store == "file":
        fs, folder = fsspec.filesystem("file"), str(tmp_path / "id")
        fs.mkdir(folder)
    else:
        fs, folder = fsspec.filesystem("memory"), f"/s13id-{os.getpid()}"
    fs.pipe_file(f"{folder}/r.json", b'{"a": 1}')
    listed = fs.find(folder, detail=True)[f"{folder}/r.json"]
    fs.invalidate_cache()
    assert identity(listed) == identity(fs.info(f"{folder}/r.json")) == identity(fs.ls(folder, detail=True)[0])
    fs.pipe_file(f"{folder}/r.json", b'{"a": 22}')
    fs.invalidate_cache()
    assert identity(fs.info(f"{folder}/r.json")) != identity(listed)
    if store == "s3":
        assert identity(listed)[0] == listed["ETag"]  # what the PUT's If-Match carries, as listed


#: A tree, and which files each set of walk options selects from it (the same locally and in storage).
_WALK_TREE = ("a.json", "s1.json", ".hidden.json", ".git/g.json", "node_modules/n.json", "sub/d.json",
              "sub/node_modules/m.json", "sub/old/o.json", "sub/.cache/c.json", "deep/a/b/x.jsonl", "old/p.json",
              "notes.txt")
_VISIBLE = {"a.json", "s1.json", "node_modules/n.json", "sub/d.json", "sub/node_modules/m.json", "sub/old/o.json",
            "deep/a/b/x.jsonl", "old/p.json"}
_WALK_CASES = [
    ({}, _VISIBLE),
    ({"hidden": True}, _VISIBLE | {".hidden.json", ".git/g.json", "sub/.cache/c.json"}),
    ({"hidden": True, "exclude": (".git",)}, _VISIBLE | {".hidden.json", "sub/.cache/c.json"}),
    ({"exclude": ("node_modules",)}, _VISIBLE - {"node_modules/n.json", "sub/node_modules/m.json"}),
    ({"exclude": ("node_modules/",)}, _VISIBLE - {"node_modules/n.json", "sub/node_modules/m.json"}),
    ({"exclude": ("sub/*",)}, _VISIBLE - {"sub/d.json", "sub/node_modules/m.json", "sub/old/o.json"}),
    ({"exclude": ("old",)}, _VISIBLE - {"sub/old/o.json", "old/p.json"}),
    ({"exclude": ("o*",)}, _VISIBLE - {"sub/old/o.json", "old/p.json"}),
    ({"exclude": ("sub/old",)}, _VISIBLE - {"sub/old/o.json"}),
    ({"exclude": ("/old",)}, _VISIBLE - {"old/p.json"}),
    ({"exclude": ("d.json",)}, _VISIBLE - {"sub/d.json"}),
    ({"exclude": ("deep/**/b",)}, _VISIBLE - {"deep/a/b/x.jsonl"}),
    ({"exclude": ("a.json/",)}, _VISIBLE),  # a trailing slash: folders only
    ({"include": ("*.json",)}, _VISIBLE - {"deep/a/b/x.jsonl"}),
    ({"include": ("sub/*.json",)}, {"sub/d.json"}),
    ({"include": ("*/d.json",)}, {"sub/d.json"}),
    ({"include": ("s*.json",)}, {"s1.json"}),
    ({"include": ("sub/**",)}, {"sub/d.json", "sub/node_modules/m.json", "sub/old/o.json"}),
    ({"include": ("**/o.json",)}, {"sub/old/o.json"}),
    ({"include": ("deep/**/*.jsonl",)}, {"deep/a/b/x.jsonl"}),
    ({"include": ("deep/*.jsonl",)}, set()),
    ({"include": ("*.json",), "exclude": ("sub/old/*",)}, _VISIBLE - {"deep/a/b/x.jsonl", "sub/old/o.json"}),
    ({"include": ("s?.json", "[ab].json")}, {"s1.json", "a.json"}),
]


def _selected(source: str, root: str, walk) -> set[str]:
    from procrecord.bulk.loader import plan

    found = set()
    for task in plan([source], walk=walk, read_ahead=False):
        where = getattr(task, "url", None) or getattr(task, "path", None)
        assert where is not None, task
        found.add(where.split("://", 1)[-1].removeprefix(root).lstrip("/"))
    return found


@pytest.mark.parametrize("store", ["local", "memory", "s3"])
def test_prefix_walk_rules(tmp_path, s3, endpoint, store):
    """--exclude/--include/--hidden select the same files from a folder and from the same tree in
    storage; a pattern without ``/`` matches a name at any depth, one with ``/`` the path below the
    source; ``*`` does not cross ``/``, ``**`` does."""
    from procrecord.bulk import storage
    from procrecord.bulk.loader import Walk

    local = tmp_path / "tree"
    for name in _WALK_TREE:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_text("{}\n")
    if store == "local":
        source, root = str(local), str(local)
    elif store == "memory":
        import fsspec

        root = f"/s13walk-{os.getpid()}"
        _upload(fsspec.filesystem("memory"), local, root)
        source = f"memory:/{root}/"
    else:
        fs, bucket = s3
        _upload(fs, local, f"{bucket}/tree")
        storage.set_options({"endpoint_url": endpoint})
        source, root = f"s3://{bucket}/tree", f"{bucket}/tree"
    try:
        for options, expected in _WALK_CASES:
            assert _selected(source, root, Walk(**options)) == expected, options
    finally:
        storage.set_options({})


@pytest.mark.parametrize("store", ["local", "memory"])
@pytest.mark.parametrize("pattern", ["**/*.json*", "*"])
def test_glob_walk_rules(tmp_path, store, pattern):
    """A glob's files, and the files in the folders it matches, are selected by the same rules below the
    folder the pattern starts from, locally and in storage (hidden names apart: a local glob matches them
    only where the pattern spells the dot)."""
    from procrecord.bulk.loader import Walk

    local = tmp_path / "tree"
    for name in _WALK_TREE:
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_text("{}\n")
    if store == "local":
        source, root = f"{local}/{pattern}", str(local)
    else:
        import fsspec

        root = f"/s13glob-{os.getpid()}-{len(pattern)}"
        _upload(fsspec.filesystem("memory"), local, root)
        source = f"memory:/{root}/{pattern}"
    for options, expected in _WALK_CASES:
        if "hidden" not in options:
            # (a local glob reads a file it names whatever its suffix, as a path named alone)
            assert _selected(source, root, Walk(**options)) - {"notes.txt"} == expected, options


def test_an_object_whose_key_looks_like_a_pattern_is_that_object_when_named(tmp_path, s3, endpoint):
    """A key may hold ``[``, ``*`` or ``?``: named, it is that object, as an existing local file named so
    is that file (not the pattern, which here matches another object, or none)."""
    fs, bucket = s3
    record = valid_fixtures(current_version())[0].read_bytes()
    fs.pipe_file(f"{bucket}/runs/run[1].json", record)
    fs.pipe_file(f"{bucket}/runs/run1.json", b"{broken")
    (tmp_path / "run[1].json").write_bytes(record)
    (tmp_path / "run1.json").write_bytes(b"{broken")
    for source in (tmp_path / "run[1].json", f"s3://{bucket}/runs/run[1].json"):
        result = invoke("validate", source, *_opt(endpoint))
        assert result.exit_code == 0, result.output
        assert "1 valid" in result.output
    result = invoke("upgrade", f"s3://{bucket}/runs/run[1].json", "-o", f"s3://{bucket}/out", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    assert fs.cat_file(f"{bucket}/out/run[1].json") == record
    # a pattern that names no object is still a pattern
    result = invoke("validate", f"s3://{bucket}/runs/run[0-9].json", *_opt(endpoint))
    assert result.exit_code == 1 and f"s3://{bucket}/runs/run1.json:: error: invalid JSON" in result.output


@pytest.mark.parametrize("how", [["--in-place"], ["-o", "OUT"]])
def test_an_object_reached_twice_is_read_once(tmp_path, s3, endpoint, how):
    """An object below two prefixes given (or named twice) is one source read once, as a local file
    reached twice: its output held its records twice (a JSON object rewritten in place as two documents,
    invalid, reported upgraded)."""
    fs, bucket = s3
    record = valid_fixtures("1.0")[0].read_bytes()
    fs.pipe_file(f"{bucket}/runs/sub/a.json", record)
    (tmp_path / "runs" / "sub").mkdir(parents=True)
    (tmp_path / "runs" / "sub" / "a.json").write_bytes(record)
    local = invoke("upgrade", *[str(tmp_path / "local") if a == "OUT" else a for a in how],
                   tmp_path / "runs" / "sub", tmp_path / "runs")
    result = invoke("upgrade", *[f"s3://{bucket}/out" if a == "OUT" else a for a in how],
                    f"s3://{bucket}/runs/sub/", f"s3://{bucket}/runs/", f"s3://{bucket}/runs/sub/a.json", *_opt(endpoint))
    assert result.exit_code == local.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == local.output.splitlines()[-1] == (
        "upgraded 1 record from 1 source: 1 upgraded (changed 1)")
    written = fs.cat_file(f"{bucket}/out/a.json" if "-o" in how else f"{bucket}/runs/sub/a.json")
    assert written == (tmp_path / ("local/a.json" if "-o" in how else "runs/sub/a.json")).read_bytes()
    assert json.loads(written)["schema_version"] == current_version()


def test_a_glob_matching_nested_folders_lists_each_outermost_one_once(monkeypatch):
    import fsspec
    from fsspec.implementations.memory import MemoryFileSystem

    from procrecord.bulk import storage

    fs = fsspec.filesystem("memory")
    root = f"/s13nest-{os.getpid()}"
    for a in range(5):
        for b in range(4):
            fs.pipe_file(f"{root}/runs/a{a}/b{b}/f.json", b"{}")
    calls = []
    real = MemoryFileSystem.find

    def counting(self, path, *args, **kwargs):
        calls.append(path)
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(MemoryFileSystem, "find", counting)
    entries, _ = storage._listing(fs, f"{root}/runs/**")
    assert len(entries) == 20 and len(calls) <= 2, calls  # not one listing per matched folder (25)
    calls.clear()
    entries, _ = storage._listing(fs, f"{root}/runs/*")
    assert len(entries) == 20 and len(calls) <= 6, calls  # the glob's own, then each of a0 .. a4 once


def test_exclude_drops_a_folder_below_a_prefix_on_the_command_line():
    import fsspec

    mem = fsspec.filesystem("memory")
    record = valid_fixtures(current_version())[0].read_bytes()
    mem.pipe_file("/s13ex/runs/a.json", record)
    mem.pipe_file("/s13ex/runs/node_modules/n.json", b"{}")
    result = invoke("validate", "-v", "memory://s13ex/runs/", "--exclude", "node_modules")
    assert result.exit_code == 0, result.output
    assert "node_modules" not in result.output


def test_a_prefix_takes_record_files_whatever_the_case_of_their_suffix_as_a_local_folder_does(tmp_path):
    import fsspec

    mem = fsspec.filesystem("memory")
    record = valid_fixtures(current_version())[0].read_bytes()
    line = json.dumps(json.loads(record)).encode() + b"\n"
    for name, data in (("A.JSON", record), ("b.Json", record), ("c.JSONL", line + line), ("d.txt", b"{}")):
        mem.pipe_file(f"/s13case/runs/{name}", data)
        (tmp_path / name).write_bytes(data)
    remote = invoke("validate", "-v", "memory://s13case/runs/")
    local = invoke("validate", "-v", str(tmp_path))
    assert remote.exit_code == local.exit_code == 0, remote.output + local.output
    assert remote.stdout.replace("memory:///s13case/runs/", "") == local.stdout.replace(f"{tmp_path}/", "")
    assert "c.JSONL:2:: valid" in remote.stdout and "d.txt" not in remote.stdout


@pytest.mark.parametrize("scheme", ["memory", "file"])
def test_an_unknown_storage_option_is_refused_for_every_store(tmp_path, scheme):
    import fsspec

    fsspec.filesystem("memory").pipe_file("/s13opt/a.json", valid_fixtures(current_version())[0].read_bytes())
    (tmp_path / "a.json").write_bytes(valid_fixtures(current_version())[0].read_bytes())
    url = "memory://s13opt/a.json" if scheme == "memory" else f"file://{tmp_path}/a.json"
    result = invoke("validate", url, "--storage-option", "endpont_url=x")
    assert result.exit_code == 2, result.output
    (line,) = [text for text in result.output.splitlines() if "endpont_url" in text]
    assert line.startswith(f"Error: --storage-option endpont_url: not an option of {scheme}:// storage")
    # an option the store does take is fine
    good = "use_listings_cache=false" if scheme == "memory" else "auto_mkdir=true"
    assert invoke("validate", url, "--storage-option", good).exit_code == 0


@pytest.mark.parametrize("value", ['{"region_name": "eu-west-1"', "5"], ids=["unclosed", "number"])
@pytest.mark.parametrize("where", ["source", "output"])
def test_bad_option_value(tmp_path, s3, endpoint, value, where):
    """A value the store cannot use (a JSON object missing its ``}`` is read as a string) fails
    every object the same way: one usage line naming the option, nothing written."""
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    options = [*_opt(endpoint), "--storage-option", f"client_kwargs={value}"]
    if where == "source":
        result = invoke("validate", f"s3://{bucket}/in", *options)
    else:
        result = invoke("redact", "--level", "all", tmp_path / "in", "-o", f"s3://{bucket}/out", *options)
    assert result.exit_code == 2, result.output
    lines = [text for text in result.output.splitlines() if text.strip()]
    assert len([text for text in lines if "client_kwargs" in text]) == 1, result.output
    assert any(text.startswith("Error: --storage-option client_kwargs:") for text in lines), result.output
    assert "not written" not in result.output and "storage error" not in result.output
    fs.invalidate_cache()
    assert not fs.find(f"{bucket}/out")


def test_an_option_value_that_fails_on_first_use_is_said_once(tmp_path, s3, endpoint):
    """s3fs takes ``s3_additional_kwargs=5`` when it is made and fails on the first request."""
    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    _upload(fs, _tree(tmp_path / "in2"), f"{bucket}/in2")
    result = invoke("validate", f"s3://{bucket}/in", f"s3://{bucket}/in2", *_opt(endpoint),
                    "--storage-option", "s3_additional_kwargs=5")
    assert result.exit_code == 2, result.output
    assert "storage error" not in result.output
    lines = [text for text in result.output.splitlines() if "s3_additional_kwargs" in text]
    assert len(lines) == 1 and lines[0].startswith("Error: --storage-option"), result.output


def test_options_are_checked_against_every_url_of_the_run(tmp_path, s3, endpoint):
    """One set of options goes to every URL: an s3 option with a file:// output is fine (the local
    filesystem ignores it), and a name that no store of the run takes is refused, with a hint."""
    from procrecord.bulk.storage import accepted_options

    fs, bucket = s3
    _upload(fs, _tree(tmp_path / "in"), f"{bucket}/in")
    result = invoke("upgrade", f"s3://{bucket}/in", "-o", f"file://{tmp_path}/out", *_opt(endpoint))
    assert result.exit_code == 0, result.output
    assert len(list((tmp_path / "out").rglob("*.json*"))) == 5
    result = invoke("upgrade", f"s3://{bucket}/in", "-o", f"file://{tmp_path}/out2", *_opt(endpoint),
                    "--storage-option", "auto_mkdri=true")
    assert result.exit_code == 2, result.output
    assert ("Error: --storage-option auto_mkdri: not an option of s3:// or file:// storage "
            "(did you mean auto_mkdir?)") in result.output
    known = accepted_options(s3fs.S3FileSystem)
    assert known is not None and {"endpoint_url", "client_kwargs", "profile", "skip_instance_cache"} <= known
