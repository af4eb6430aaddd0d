"""Object storage: outputs stay under -o whatever the keys, and what is copied is what was checked."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

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


@pytest.mark.parametrize("executor", [[], ["--executor", "dask"]])
def test_local_output_symlinked_folder(tmp_path, s3, endpoint, executor, monkeypatch):  # noqa: F811
    """Objects mirrored to a local output folder never go through a symlink in it (as a local run's
    outputs): a folder ``sub`` linked elsewhere sent the objects below ``sub/`` out of the output folder."""
    monkeypatch.setenv("PROCRECORD_DASK_WORKERS", "1")
    fs, bucket = s3
    record = valid_fixtures(current_version())[0].read_bytes()
    fs.pipe_file(f"{bucket}/runs/a.json", record)
    fs.pipe_file(f"{bucket}/runs/sub/b.json", record)
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    (out / "sub").symlink_to(elsewhere)
    result = invoke("upgrade", *executor, f"s3://{bucket}/runs/", "-o", out, *_opt(endpoint))
    assert result.exit_code == 1, result.output
    assert list(elsewhere.iterdir()) == []
    assert (out / "a.json").read_bytes() == record
    assert (f"s3://{bucket}/runs/sub/b.json:: error: cannot write {out / 'sub'}: a symlink in the output folder: "
            "outputs never go through one") in result.output
    assert "1 not written (error)" in result.output.splitlines()[-1]


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


OTHER = b'{"other": "writer", "secret": "AKIAOTHERWRITERSECRET"}\n'


def _redacted(path) -> bytes:
    """A record that ``redact --level most`` leaves as it is (it was redacted already)."""
    return invoke("redact", "--level", "most", path).stdout_bytes


def _change_first_before(monkeypatch, cls, method, change) -> list[str]:
    """Another writer changes the first source a sink finishes, just before the sink writes its output."""
    original = getattr(cls, method)
    fired: list[str] = []

    def patched(self, *args):
        source = self._source
        if source is not None and not fired:
            change(source)
            fired.append(source)
        return original(self, *args)

    monkeypatch.setattr(cls, method, patched)
    return fired


def test_an_unchanged_object_copied_to_the_output_is_the_bytes_that_were_checked(tmp_path, s3, endpoint, monkeypatch):  # noqa: F811
    from procrecord.bulk.objectsink import ObjectSink

    fs, bucket = s3
    checked = {f"{bucket}/runs/{p.name}": _redacted(p) for p in valid_fixtures(current_version())[:3]}
    for key, data in checked.items():
        fs.pipe_file(key, data)
    fired = _change_first_before(monkeypatch, ObjectSink, "_finish", lambda url: fs.pipe_file(url[5:], OTHER))
    result = invoke("redact", "--level", "most", "--jobs", "1", f"s3://{bucket}/runs/", "-o", tmp_path / "out",
                    *_opt(endpoint))
    assert fired and result.exit_code == 0, result.output
    assert "3 redacted (unchanged 3)" in result.output
    out = {f"{bucket}/runs/{p.name}": p.read_bytes() for p in (tmp_path / "out").iterdir()}
    assert out == checked  # never the other writer's bytes, which were not checked


def test_an_unchanged_object_read_again_is_copied_only_if_it_is_still_the_version_read(tmp_path, s3, endpoint, monkeypatch):  # noqa: F811
    from procrecord.bulk import objectio
    from procrecord.bulk.objectsink import ObjectSink

    monkeypatch.setattr(objectio, "AHEAD_MAX_OBJECT", 16)  # the JSONL objects are streamed: their bytes not kept
    fs, bucket = s3
    lines = [_redacted(p) for p in valid_fixtures(current_version())[:2]]
    data = b"".join(json.dumps(json.loads(line)).encode() + b"\n" for line in lines)
    fs.pipe_file(f"{bucket}/runs/a.jsonl", data)
    fs.pipe_file(f"{bucket}/runs/b.jsonl", data)
    fired = _change_first_before(monkeypatch, ObjectSink, "_finish", lambda url: fs.pipe_file(url[5:], OTHER))
    result = invoke("redact", "--level", "most", "--jobs", "1", f"s3://{bucket}/runs/", "-o", f"s3://{bucket}/out/",
                    *_opt(endpoint))
    assert fired == [f"s3://{bucket}/runs/a.jsonl"] and result.exit_code == 1, result.output
    assert f"s3://{bucket}/runs/a.jsonl:: error: not copied: it changed since it was read" in result.output
    fs.invalidate_cache()
    assert not fs.exists(f"{bucket}/out/a.jsonl") and fs.cat_file(f"{bucket}/out/b.jsonl") == data
    assert "not written (error)" in result.output.splitlines()[-1]


@pytest.mark.parametrize("output", ["local", "url"])
def test_an_unchanged_local_file_is_copied_only_if_it_is_still_the_file_read(tmp_path, monkeypatch, output):
    from procrecord.bulk.objectsink import ObjectSink
    from procrecord.bulk.output import Sink

    src = tmp_path / "in"
    src.mkdir()
    checked = {p.name: _redacted(p) for p in valid_fixtures(current_version())[:2]}
    for name, data in checked.items():
        (src / name).write_bytes(data)
    cls, method, target = (Sink, "_finish", str(tmp_path / "out")) if output == "local" else (
        ObjectSink, "_finish", f"memory://s15st-{uuid.uuid4().hex}/out")
    fired = _change_first_before(monkeypatch, cls, method, lambda path: Path(path).write_bytes(OTHER))
    result = invoke("redact", "--level", "most", "--jobs", "1", src, "-o", target)
    assert len(fired) == 1 and result.exit_code == 1, result.output
    changed = os.path.basename(fired[0])
    assert f"{fired[0]}:: error: not copied: it changed since it was read" in result.output
    if output == "local":
        written = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    else:
        import fsspec

        fs = fsspec.filesystem("memory")
        written = {k.rsplit("/", 1)[1]: fs.cat_file(k) for k in fs.find(target.split("://", 1)[1])}
    assert written == {name: data for name, data in checked.items() if name != changed}


def test_an_export_that_cannot_be_uploaded_says_its_records_were_not_written(tmp_path, s3, endpoint):  # noqa: F811
    fs, bucket = s3
    for path in valid_fixtures(current_version())[:2]:
        fs.pipe_file(f"{bucket}/runs/{path.name}", path.read_bytes())
    result = invoke("export", "--to", "csv", f"s3://{bucket}/runs/", "-o", "s3://no-such-bucket-s15st/x.csv",
                    *_opt(endpoint))
    assert result.exit_code == 1, result.output
    assert "s3://no-such-bucket-s15st/x.csv:: error: cannot write" in result.output
    assert result.output.splitlines()[-1] == "export --to csv: 2 records: 2 not written (error)"
    done = invoke("export", "--to", "csv", f"s3://{bucket}/runs/", "-o", f"s3://{bucket}/x.csv", *_opt(endpoint))
    assert done.exit_code == 0 and done.output.splitlines()[-1] == "export --to csv: 2 records: 2 exported"


@pytest.fixture()
def blackhole():
    """A TCP listener on 127.0.0.1 that accepts connections and never answers: its endpoint URL."""
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_an_endpoint_that_never_answers_is_a_finding_within_the_timeouts(tmp_path, blackhole):
    import subprocess
    import sys
    import time

    # The defaults made small (as --storage-option config_kwargs could): each request gives up after
    # 1 s without a byte, and s3fs tries it 5 times.
    script = ("import sys; from procrecord.bulk import storage\n"
              "storage.S3_CONFIG_DEFAULTS = {**getattr(storage, 'S3_CONFIG_DEFAULTS', {}), 'read_timeout': 1, 'connect_timeout': 1}\n"
              "from procrecord.cli import main; sys.argv[0] = 'procrecord'; main()\n")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_DEFAULT_REGION": "us-east-1"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-c", script, "validate", "s3://quiet/runs/",
                           "--storage-option", f"endpoint_url={blackhole}"],
                          capture_output=True, text=True, timeout=90, env=env)
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "s3://quiet/runs/:: error: storage error:" in output and "timeout" in output.lower()
    assert time.monotonic() - start < 60


def test_s3_timeouts_are_defaults_under_the_users_config():
    from procrecord.bulk import storage
    from procrecord.bulk.storage import S3_CONFIG_DEFAULTS, with_defaults

    assert with_defaults("s3://b/k", {})["config_kwargs"] == S3_CONFIG_DEFAULTS
    assert S3_CONFIG_DEFAULTS["read_timeout"] <= 15 and S3_CONFIG_DEFAULTS["connect_timeout"] <= 15
    mine = with_defaults("s3://b/k", {"config_kwargs": {"read_timeout": 300, "retries": {"max_attempts": 9}},
                                      "anon": True})
    assert mine == {"anon": True, "config_kwargs": {**S3_CONFIG_DEFAULTS, "read_timeout": 300,
                                                    "retries": {"max_attempts": 9}}}
    own_config = {"client_kwargs": {"config": object()}}
    assert with_defaults("s3://b/k", own_config) == own_config  # the user's botocore Config decides
    assert with_defaults("memory://b/k", {}) == {} and with_defaults("gs://b/k", {"x": 1}) == {"x": 1}
    storage.set_options({"config_kwargs": {"read_timeout": 42}, "skip_instance_cache": True})
    try:
        fs, _ = storage.filesystem("s3://b/k")
        assert fs.config_kwargs == {**S3_CONFIG_DEFAULTS, "read_timeout": 42}
    finally:
        storage.set_options({})


def test_a_slow_transfer_is_not_cut_while_bytes_keep_coming():
    """read_timeout is per socket read: a body dripping for longer than it in all is read whole."""
    import threading
    import time
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    body = b"x" * 10

    class Drip(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"e"')
            self.end_headers()
            for byte in body:  # 10 x 0.3 s: 3 s in all, never 1 s without a byte
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
                time.sleep(0.3)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drip)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    from procrecord.bulk import objectio, storage

    storage.set_options({"endpoint_url": f"http://127.0.0.1:{server.server_address[1]}", "key": "k", "secret": "s",
                         "skip_instance_cache": True, "config_kwargs": {"read_timeout": 1}})
    try:
        fs, path = storage.filesystem("s3://drip/a.json")
        assert objectio.read_whole(fs, path) == body
    finally:
        storage.set_options({})
        server.shutdown()


def test_a_dask_address_that_accepts_and_never_speaks_is_an_error_within_the_connect_timeout(tmp_path, blackhole):
    import subprocess
    import sys
    import time

    pytest.importorskip("distributed")
    address = blackhole.replace("http://", "tcp://")
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    start = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "procrecord", "redact", "--level", "most", str(valid_fixtures()[0]),
                           "-o", str(tmp_path / "out"), "--executor", f"dask:{address}"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 3, done.stderr
    assert f"Timed out trying to connect to {address} after 2 s" in done.stderr
    assert time.monotonic() - start < 30 and not (tmp_path / "out").exists()


def test_export_help_names_only_the_executors_export_takes_and_the_dask_key_message_names_what_exists():
    from procrecord.bulk.executors import run_dask
    from procrecord.bulk.loader import Walk
    from procrecord.errors import ProcrecordError
    from procrecord.operations.transforms import RedactRecord

    text = invoke("export", "--help").output
    assert "--executor local[:N]" in text and "dask:tcp" not in text and "jobqueue" not in text
    assert "dask:tcp://HOST:PORT" in invoke("redact", "--help").output
    with pytest.raises(ProcrecordError) as refused:
        list(run_dask(None, ["x"], RedactRecord("most", b"k" * 40, False), 1 << 20, Walk(), "out"))
    assert "--key-from-worker-env" not in str(refused.value) and "WorkerKey" in str(refused.value)
