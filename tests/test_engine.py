"""The bulk engine's outcomes: merging clean JSONL outcomes and expanding them again."""

from __future__ import annotations

import json

import orjson

from procrecord.bulk.engine import Outcome, compress, expand
from procrecord.bulk.report import Summary
from procrecord.bulk.status import Status


def test_clean_consecutive_lines_merge_into_one_outcome_and_expand_back():
    singles = [Outcome("a.jsonl", line, "valid", "1.0") for line in (1, 2, 3)]
    (merged,) = compress(iter(singles))
    assert merged.line == 1 and merged.records == 3
    assert list(expand(merged)) == singles


def test_the_record_count_does_not_shadow_tuple_count():
    outcome = Outcome("a.json", None, "valid")
    assert outcome.records == 1
    assert outcome.count("valid") == 1  # a tuple's own method, as on every NamedTuple


def test_a_status_is_a_finding_exactly_when_it_has_a_severity():
    findings = {s.value for s in Status if s.severity}
    assert findings == {"error", "invalid", "leak", "needs-upgrade", "different"}
    for status in Status:
        assert Outcome("a.json", None, status).ok is (status.severity == 0)
        assert Outcome("a.json", None, status.value).ok is (status.severity == 0)  # the text means the same
        assert f"{status}" == str(status) == status.value
    assert Status.ERROR.severity > Status.INVALID.severity == Status.LEAK.severity > Status.NEEDS_UPGRADE.severity


def test_a_summary_of_status_outcomes_is_plain_json():
    summary = Summary()
    summary.add(Outcome("a.json", None, Status.LEAK))
    summary.add(Outcome("b.json", None, Status.VALID))
    assert summary.failed
    assert json.loads(orjson.dumps(summary.to_dict()))["by_status"] == {"leak": 1, "valid": 1}


_RECORD_LINE = json.dumps({"schema_version": "1.0", "record_type": "procrecord.process",
                           "id": "3f2b8a71-4c1e-4d8a-9b0f-2a6c5e7d9f10", "name": "x", "status": "completed",
                           "producer": {"name": "procrecord", "version": "0.1.0"}})


def _outputs(path, chunk_bytes):
    """The bytes a rewrite of ``path`` writes: the run's blocks, in order, with tasks of ``chunk_bytes``."""
    import functools

    from procrecord.bulk import engine
    from procrecord.bulk.engine import Block
    from procrecord.bulk.loader import plan
    from procrecord.operations.transforms import UpgradeRecord

    original = engine.plan
    engine.plan = functools.partial(plan, chunk_bytes=chunk_bytes)
    try:
        items = list(engine.run([str(path)], UpgradeRecord()))
    finally:
        engine.plan = original
    return b"".join(item.data for item in items if isinstance(item, Block))


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None)
@given(lines=st.lists(st.sampled_from([_RECORD_LINE, "", "  ", "\t"]), min_size=1, max_size=12).filter(
    lambda lines: _RECORD_LINE in lines), chunk_bytes=st.sampled_from([1, 150, 1 << 20]))
def test_a_rewritten_jsonl_file_keeps_its_blank_lines_and_line_numbers(tmp_path_factory, lines, chunk_bytes):
    """However the file is cut into tasks, each record is written back at its own line number."""
    path = tmp_path_factory.mktemp("blank") / "a.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    out = _outputs(path, chunk_bytes).decode().split("\n")
    assert out[-1] == "" and len(out) - 1 == len(lines)
    for before, after in zip(lines, out):
        assert (before == _RECORD_LINE) == bool(after.strip())
        if after.strip():
            assert json.loads(after)["schema_version"] == "1.1"


class _BrokenOn:
    """An operation (picklable for pool workers) that finds the tool broken on one file."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, item):
        from procrecord.errors import SchemaError

        if item.source.endswith(self.name):
            raise SchemaError(f"broken on {self.name}")
        return Outcome(item.source, item.line, Status.VALID)


def _run_until_broken(folder, jobs):
    import pytest

    from procrecord.bulk.engine import run
    from procrecord.errors import SchemaError

    yielded, done = [], []
    with pytest.raises(SchemaError, match="broken on r3.json"):
        for item in run([str(folder)], _BrokenOn("r3.json"), jobs=jobs, source_done=done.append):
            if isinstance(item, Outcome):
                yielded.append(item.source.rsplit("/", 1)[1])
    return yielded, [path.rsplit("/", 1)[1] for path in done]


def test_a_run_stopped_by_a_broken_tool_has_done_the_same_files_with_workers(tmp_path):
    """Pool workers get small files in groups: the files before the one that stops the run come back
    with the error, as with one process (their outputs are written, their sources done)."""
    for i in range(1, 6):
        (tmp_path / f"r{i}.json").write_text(json.dumps({"n": i}))
    one = _run_until_broken(tmp_path, 1)
    assert one == (["r1.json", "r2.json"], ["r1.json", "r2.json"])
    assert _run_until_broken(tmp_path, 2) == one


def test_stdin_tasks_count_their_bytes_for_the_groups_of_workers():
    from procrecord.bulk.executors import _size, batches
    from procrecord.bulk.loader import InlineTask

    line = b"x" * 4096
    tasks = [InlineTask("-", True, 1 + 512 * i, (line,) * 512) for i in range(20)]
    assert _size(tasks[0]) == 512 * 4096
    groups = list(batches(tasks, 64, 1 << 20, slots=lambda: 2))
    assert [len(g) for g in groups] == [1] * 20  # 2 MiB each: alone in its group, not 64 in one message


class _InterruptHandling:
    """An operation (picklable for pool workers) that reports how its process handles SIGINT."""

    def __call__(self, item):
        import signal

        handler = signal.getsignal(signal.SIGINT)
        return Outcome(item.source, item.line, Status.VALID, message="ignored" if handler == signal.SIG_IGN else "raised")


def test_pool_workers_leave_an_interrupt_to_the_command(tmp_path):
    """Ctrl-C reaches the whole process group: a worker that died of it while holding the pool's queue
    lock, or half way through sending a result, made the pool's shutdown wait for ever. Workers ignore
    it; the command handles it and ends them."""
    from procrecord.bulk.engine import run

    for i in range(4):
        (tmp_path / f"r{i}.json").write_text(json.dumps({"n": i}))
    outcomes = [item for item in run([str(tmp_path)], _InterruptHandling(), jobs=2) if isinstance(item, Outcome)]
    assert [o.message for o in outcomes] == ["ignored"] * 4
