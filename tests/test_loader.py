"""The one loader: every kind of source, and every bad input as a value."""

from __future__ import annotations

import io
import json
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.bulk.loader import Loaded, LoadError, Note, Walk, load, plan

from helpers import ROOT, spy_stat

REC = {"schema_version": "1.0", "id": "x"}


def _one(tmp_path, name, data: bytes, **kw):
    path = tmp_path / name
    path.write_bytes(data)
    items = list(load([str(path)], **kw))
    assert len(items) == 1
    return items[0]


def test_json_file_loads(tmp_path):
    item = _one(tmp_path, "a.json", json.dumps(REC).encode())
    assert isinstance(item, Loaded) and item.record == REC and item.line is None


@pytest.mark.parametrize(
    "data, expected",
    [
        (b'{"a": 1,\n "b": }', "invalid JSON at line 2, column"),
        (b"", "empty file"),
        (b"   \n", "empty file"),
        (b'{"a": "\xff\xfe"}', "not valid UTF-8 at line 1, column 8 (byte offset 7: 0xff)"),
        (b'{\n  "a": 1,\n  "b": "x\xc3"\n}', "not valid UTF-8 at line 3, column 10 (byte offset 21: 0xc3)"),
        (b'{"a": NaN}', "invalid JSON at line 1, column 7: NaN (JSON has no NaN or Infinity"),
        (b'{"a": -Infinity}', "invalid JSON at line 1, column 8: Infinity (JSON has no NaN or Infinity"),
        (b"[" * 2000 + b"]" * 2000, "nested deeper than the parser allows"),
        (b"[1, 2]", "top-level value is an array, expected an object"),
        (b'"text"', "top-level value is a string"),
        (b"null", "top-level value is null"),
    ],
)
def test_bad_json_is_a_value(tmp_path, data, expected):
    item = _one(tmp_path, "bad.json", data)
    assert isinstance(item, LoadError)
    assert expected in item.message
    assert item.source.endswith("bad.json")


def test_bom_is_accepted(tmp_path):
    item = _one(tmp_path, "bom.json", b"\xef\xbb\xbf" + json.dumps(REC).encode())
    assert isinstance(item, Loaded) and item.record == REC


def test_size_limit(tmp_path):
    item = _one(tmp_path, "big.json", json.dumps({"x": "y" * 1000}).encode(), max_bytes=100)
    assert isinstance(item, LoadError) and "over the limit of 100" in item.message


def test_jsonl_reports_each_line(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": 2\n[3]\n{"a": 4}')
    items = list(load([str(path)]))
    assert [type(i).__name__ for i in items] == ["Loaded", "LoadError", "LoadError", "Loaded"]
    assert [i.line for i in items] == [1, 3, 4, 5]
    assert "column" in items[1].message


def test_jsonl_long_line_is_skipped_not_fatal(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "' + b"x" * 5000 + b'"}\n{"a": 3}\n')
    items = list(load([str(path)], max_bytes=100))
    assert isinstance(items[1], LoadError) and items[1].line == 2
    assert isinstance(items[2], Loaded) and items[2].record == {"a": 3} and items[2].line == 3


def test_jsonl_chunks_keep_absolute_line_numbers(tmp_path):
    path = tmp_path / "many.jsonl"
    path.write_text("".join(json.dumps({"n": i}) + "\n" for i in range(1, 2001)))
    tasks = list(plan([str(path)], chunk_bytes=1000))
    assert len(tasks) > 10
    items = list(load([str(path)]))
    assert [i.line for i in items] == list(range(1, 2001))
    from procrecord.bulk.loader import LineTracker, Span, iter_task, shift

    tracker, seen = LineTracker(), []
    for task in tasks:
        base, span = tracker.base_for(task), Span()
        seen.extend((shift(i, base).line, i.record["n"]) for i in iter_task(task, span))
        tracker.advance(task, span.lines)
    assert all(line == n for line, n in seen) and len(seen) == 2000


def test_directory_recursive_and_sorted(tmp_path):
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x.json").write_text(json.dumps(REC))
    (tmp_path / "a.jsonl").write_text(json.dumps(REC) + "\n")
    (tmp_path / "notes.txt").write_text("ignored")
    sources = [i.source for i in load([str(tmp_path)])]
    assert sources == [str(tmp_path / "a.jsonl"), str(tmp_path / "b" / "x.json")]


def test_glob(tmp_path):
    for n in range(3):
        (tmp_path / f"r{n}.json").write_text(json.dumps(REC))
    assert len(list(load([str(tmp_path / "r*.json")]))) == 3
    (item,) = list(load([str(tmp_path / "nothing*.json")]))
    assert isinstance(item, LoadError) and "no files match" in item.message


def test_missing_file(tmp_path):
    (item,) = list(load([str(tmp_path / "absent.json")]))
    assert isinstance(item, LoadError) and "no such file" in item.message


def test_broken_symlink(tmp_path):
    os.symlink(tmp_path / "gone.json", tmp_path / "link.json")
    (item,) = list(load([str(tmp_path / "link.json")]))
    assert isinstance(item, LoadError) and "broken symlink" in item.message


def test_symlink_loop_file_and_folder(tmp_path):
    os.symlink(tmp_path / "b.json", tmp_path / "a.json")
    os.symlink(tmp_path / "a.json", tmp_path / "b.json")
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path, tmp_path / "sub" / "up")
    items = list(load([str(tmp_path)], walk=Walk(follow_symlinks=True)))
    messages = [i.message for i in items if isinstance(i, LoadError)]
    assert any("symlink loop" in m for m in messages)
    assert len(items) < 10  # the folder loop is visited once, not forever


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_unreadable_file(tmp_path):
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0)
    (item,) = list(load([str(path)]))
    assert isinstance(item, LoadError) and "cannot read" in item.message


def test_unreadable_file_as_root_simulated(tmp_path, monkeypatch):
    path = tmp_path / "secret.json"
    path.write_text("{}")
    real_open, real_os_open = open, os.open

    def deny(file, *args, **kwargs):
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_open(file, *args, **kwargs)

    def deny_fd(file, *args, **kwargs):  # whole JSON files are read through a file descriptor
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied")
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", deny)
    monkeypatch.setattr(os, "open", deny_fd)
    (item,) = list(load([str(path)]))
    assert isinstance(item, LoadError) and "Permission denied" in item.message


def test_stdin_single_document(monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(json.dumps(REC, indent=2).encode())))
    (item,) = list(load(["-"]))
    assert isinstance(item, Loaded) and item.source == "-" and item.line is None


def test_stdin_jsonl(monkeypatch):
    data = "".join(json.dumps({"n": i}) + "\n" for i in range(1000)).encode()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    items = list(load(["-"]))
    assert [i.line for i in items] == list(range(1, 1001))
    assert [i.record["n"] for i in items] == list(range(1000))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_in_a_folder_or_glob_is_reported_not_waited_on(tmp_path):
    """Opening a FIFO blocks until something writes to it: a folder walk must not open one."""
    import subprocess

    os.mkfifo(tmp_path / "pipe.json")
    (tmp_path / "ok.json").write_text(json.dumps({"schema_version": "1.0"}))
    for source in (str(tmp_path), str(tmp_path / "*.json")):
        proc = subprocess.run([sys.executable, "-m", "procrecord", "validate", source], capture_output=True, text=True,
                              timeout=60, env=dict(os.environ, PYTHONPATH=str(ROOT)))
        assert "pipe.json:: error: not a regular file" in proc.stdout, proc.stdout + proc.stderr
        assert "ok.json" in proc.stdout  # the rest is read as usual


def test_a_named_pipe_source_is_read(tmp_path):
    """A path given by name is read whatever it is: ``<(cmd)`` hands over a pipe."""
    read, write = os.pipe()
    os.write(write, json.dumps({"schema_version": "1.0"}).encode())
    os.close(write)
    items = list(load([f"/dev/fd/{read}"]))
    os.close(read)
    assert len(items) == 1 and isinstance(items[0], Loaded)


def test_planning_a_json_file_does_not_open_it(tmp_path, monkeypatch):
    """A whole-file task reads its file itself: the planner only stats it (one open per small file)."""
    from procrecord.bulk import loader

    path = tmp_path / "one.json"
    path.write_text(json.dumps(REC))
    opened: list[str] = []
    real_open, real_os_open = open, os.open

    def counting(file, *args, **kwargs):
        opened.append(str(file))
        return real_open(file, *args, **kwargs)

    def counting_fd(file, *args, **kwargs):
        opened.append(str(file))
        return real_os_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", counting)
    monkeypatch.setattr(os, "open", counting_fd)
    (task,) = list(plan([str(path)]))
    assert opened == [] and task.identity is not None
    assert [isinstance(item, Loaded) for item in loader.iter_task(task)] == [True] and opened == [str(path)]
    path.unlink()  # gone between planning and reading: the reading says so
    (item,) = list(loader.iter_task(task))
    assert isinstance(item, LoadError) and "no such file" in item.message


# -- issue 15: the planner and reader of many small files ---------------------------------------------

@given(size=st.integers(0, 70_000), hint=st.sampled_from(["exact", "smaller", "larger", "none"]),
       limit=st.integers(1, 80_000))
@settings(max_examples=60, deadline=None)
def test_read_whole_reads_what_a_plain_read_reads(tmp_path_factory, size, hint, limit):
    """Whatever the planned size says (the file may have grown or shrunk since), the reader returns
    the file's first ``limit`` bytes, like a buffered read."""
    from procrecord.bulk.loader import read_whole

    path = tmp_path_factory.mktemp("read") / "f.json"
    path.write_bytes(os.urandom(size))
    planned = {"exact": size, "smaller": size // 2, "larger": size * 2 + 10, "none": None}[hint]
    with open(path, "rb") as handle:
        expected = handle.read(limit)
    assert read_whole(str(path), limit, planned) == expected


def test_a_file_read_at_its_planned_size_takes_one_read(tmp_path, monkeypatch):
    """A short read of exactly the planned size is the end of a regular file: no second read to find it."""
    from procrecord.bulk import loader

    path = tmp_path / "r.json"
    path.write_bytes(b"x" * 1000)
    reads = []
    real = os.read

    def counting(fd, n):
        reads.append(n)
        return real(fd, n)

    monkeypatch.setattr(os, "read", counting)
    assert loader.read_whole(str(path), 10_000, 1000) == b"x" * 1000 and reads == [1001]
    reads.clear()
    assert loader.read_whole(str(path), 10_000, 400) == b"x" * 1000 and len(reads) > 1  # it grew: read on
    reads.clear()
    assert loader.read_whole(str(path), 10_000, 2000) == b"x" * 1000 and len(reads) == 2  # it shrank: confirmed


def test_a_folder_walk_looks_at_each_file_once(tmp_path, monkeypatch):
    """One ``stat`` per file (the walk's own entry's), kept in its task: the mode the outputs get and
    the identity an in-place rewrite checks."""
    from procrecord.bulk import loader

    for i in range(5):
        (tmp_path / f"r{i}.json").write_text(json.dumps(REC))
        (tmp_path / f"r{i}.json").chmod(0o640 if i % 2 else 0o604)
    looked = spy_stat(monkeypatch, loader)
    tasks = list(plan([str(tmp_path)]))
    assert [p for p in looked if p.endswith(".json")] == [], "a file stat'ed again by name"
    assert [t.mode for t in tasks] == [0o604, 0o640, 0o604, 0o640, 0o604]
    assert all(t.identity == _identity_of(t.path) for t in tasks)


def _identity_of(path: str) -> tuple[int, int, int, int]:
    from procrecord.atomic import identity

    return identity(os.stat(path))


def test_a_walk_without_globs_works_out_no_relative_paths(tmp_path, monkeypatch):
    from procrecord.bulk import loader

    (tmp_path / "sub").mkdir()
    for name in ("a.json", "sub/b.json", "sub/skip.json"):
        (tmp_path / name).write_text(json.dumps(REC))

    def forbidden(*args):
        raise AssertionError("a relative path worked out for every entry")

    real = os.path.relpath
    monkeypatch.setattr(loader.os.path, "relpath", forbidden)
    assert len(list(plan([str(tmp_path)]))) == 3
    monkeypatch.setattr(loader.os.path, "relpath", real)  # globs need them
    kept = [os.path.basename(t.path) for t in plan([str(tmp_path)], walk=Walk(exclude=("sub/skip.json",)))]
    assert kept == ["a.json", "b.json"]


_RECORD_LINES = [json.dumps(REC), json.dumps({"schema_version": "1.1", "n": 2})]
_LINES = st.sampled_from(_RECORD_LINES + ["", "  ", "{bad", '{"a": 1', "5", "[1, 2]", "not json", '{"a": NaN}'])


@settings(max_examples=60, deadline=None)
@given(lines=st.lists(_LINES, min_size=1, max_size=8), ending=st.sampled_from(["\n", "\r\n"]))
def test_jsonl_on_stdin_is_read_as_the_same_bytes_in_a_jsonl_file(tmp_path_factory, lines, ending):
    """Blank or bad lines first or anywhere: stdin gives the findings a .jsonl file of the same bytes
    gives (per line, with line numbers, the good lines read)."""
    if not any(line in _RECORD_LINES for line in lines):
        return  # no line is a record: nothing tells these bytes from one broken document
    data = (ending.join(lines) + ending).encode()
    path = tmp_path_factory.mktemp("stdin") / "same.jsonl"
    path.write_bytes(data)
    expected = [item._replace(source="-") for item in load([str(path)])]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
        assert list(load(["-"])) == expected


def test_a_broken_pretty_printed_document_on_stdin_stays_one_document(monkeypatch):
    """Its lines are no JSONL: one finding with the document's line, not one per line."""
    text = json.dumps({"schema_version": "1.1", "host": {"os": "Linux"}, "packages": [{"name": "a"}]}, indent=2)
    text = text.replace('"os"', "os")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    (item,) = list(load(["-"]))
    assert isinstance(item, LoadError) and item.line is None and "invalid JSON at line 4" in item.message


@pytest.mark.parametrize("text", [
    json.dumps({**REC, "extra": {"runs": [{}, {"a": {}}]}}, indent=0),  # nested objects from the first column
    "[\n" + ",\n".join([json.dumps(REC), json.dumps(REC)]) + "\n]\n",  # a list of records, one a line
])
def test_one_document_on_stdin_whose_lines_look_like_jsonl_stays_one_document(tmp_path, monkeypatch, text):
    """As the same bytes in a ``.json`` file: ``json.dumps(indent=0)`` and a list written one record a line
    are one document (a reviewer saw 901 errors for one valid record, and a list's last line read as a record)."""
    path = tmp_path / "same.json"
    path.write_text(text)
    expected = [item._replace(source="-") for item in load([str(path)])]
    assert len(expected) == 1
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    assert list(load(["-"])) == expected


def test_include_reads_a_path_as_a_source_glob_does(tmp_path):
    """``*`` stops at ``/``: ``--include 'sub/*.json'`` takes what the source glob ``sub/*.json``
    takes, not ``sub/old/o.json``; a pattern without ``/`` is matched against names only."""
    for name in ("a.json", "s1.json", "sub/d.json", "sub/old/o.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(REC))

    def paths(sources, walk=None):
        return sorted(os.path.relpath(t.path, tmp_path) for t in plan(sources, walk=walk))

    assert paths([str(tmp_path)], Walk(include=("sub/*.json",))) == paths([str(tmp_path / "sub" / "*.json")]) \
        == ["sub/d.json"]
    assert paths([str(tmp_path)], Walk(include=("s*.json",))) == ["s1.json"]
    assert paths([str(tmp_path)], Walk(include=("sub/**",))) == ["sub/d.json", "sub/old/o.json"]
    assert paths([str(tmp_path)], Walk(exclude=("old/",))) == ["a.json", "s1.json", "sub/d.json"]


def test_a_glob_that_spells_a_dot_reads_the_hidden_names_it_matches_and_links_are_said(tmp_path):
    for name in ("runs/.c/x.json", "runs/.h.json", "runs/a.json", "jobs/j1/.pc/p.json", "runs/sub/s.json"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(json.dumps(REC))
    (tmp_path / "runs" / "linkdir").symlink_to(tmp_path / "runs" / "sub")

    def paths(pattern, walk=None):
        found = []
        for task in plan([str(tmp_path / pattern)], walk=walk):
            found.append(os.path.relpath(getattr(task, "path", None) or task.source, tmp_path))
        return sorted(found)

    assert paths("runs/.*/*.json") == ["runs/.c/x.json"]
    assert paths("runs/.*.json") == ["runs/.h.json"]
    assert paths("runs/.c*") == ["runs/.c/x.json"]
    assert paths("jobs/*/.pc/*.json") == ["jobs/j1/.pc/p.json"]
    assert paths("runs/*") == ["runs/a.json", "runs/linkdir", "runs/sub/s.json"]  # the link: a note, not entered
    notes = [t for t in plan([str(tmp_path / "runs" / "l*")], walk=Walk(include=("*.json",))) if not hasattr(t, "path")]
    assert len(notes) == 1 and "symlink" in notes[0].message


@pytest.mark.parametrize(("pattern", "path", "is_dir", "expected"), [
    ("*.json", "a/b/c.json", False, True),  # a name at any depth
    ("sub/*.json", "sub/old/o.json", False, False),  # * stops at /
    ("sub/*/*.json", "sub/old/o.json", False, True),
    ("**/o.json", "o.json", False, True),  # ** is any number of folders, none included
    ("a/**/b", "a/x/y/b", True, True),
    ("a/**", "a/x/y", False, True),
    ("/old", "old", True, True),
    ("/old", "sub/old", True, False),  # a / in front anchors
    ("old/", "sub/old", True, True),
    ("old/", "old", False, False),  # a / at the end: folders only
    ("[!a]b.json", "cb.json", False, True),
    ("[!a]b.json", "ab.json", False, False),
    ("a?c", "a/c", False, False),
    ("x[", "x[", False, True),  # an open bracket stands for itself
    ("*.JSON", "a.json", False, False),  # case-sensitive
])
def test_walk_patterns(pattern, path, is_dir, expected):
    from procrecord.bulk.globs import compile_glob

    assert compile_glob(pattern).matches(path, is_dir) is expected


def test_invalid_utf8_in_a_jsonl_line_says_its_column(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(REC).encode() + b'\n{"name": "a\xffb"}\n')
    items = list(load([str(path)]))
    assert isinstance(items[1], LoadError) and items[1].line == 2
    assert items[1].message == "invalid JSON: not valid UTF-8 at column 12 (0xff)"


def test_a_dangling_symlink_is_not_called_a_symlink_to_a_file(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "gone.json").symlink_to(tmp_path / "missing.json")
    (note,) = [n for task in plan([str(tmp_path / "d")]) for n in [task]]
    assert isinstance(note, Note) and note.message == "a symlink to nothing (its target does not exist): left as it is"
