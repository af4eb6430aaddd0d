"""The bulk export: sources -> (workers) validate, upgrade, redact -> (this process) the exporter.

Workers do the per-record work that needs no shared state and hand back each prepared record as
a JSON line tagged with where it came from (or, for an exporter with a :meth:`~.interface.Exporter.stage`,
what that stage made of it: a table row); the single exporter in this process converts, writes or
sends them in input order, so one output file or one client session serves the whole run.
"""

from __future__ import annotations

import collections
import io
import pickle
from typing import Any, Callable, Iterator, NamedTuple

import attrs

from procrecord.bulk.engine import Block, Outcome
from procrecord.bulk.jsoncodec import dumps, loads_exact
from procrecord.bulk.loader import Loaded, where
from procrecord.bulk.status import Status
from procrecord.exports.interface import Exporter, Finding, record_id
from procrecord.operations.transforms import redactor, to_current


@attrs.frozen
class PrepareRecord:
    """Validate one record, bring it to the current version and redact it at ``level`` (bulk operation)."""

    #: Integers beyond 64 bits are read exactly (a 128-bit seed in a config): an export never makes one a float.
    exact_integers = True
    #: A key written twice is an error and the record is not exported, as in validate and redact: the parser
    #: kept one of the values, and which one was meant is unknown.
    unique_keys = True
    level: str | None = None
    key: bytes | None = attrs.field(default=None, repr=False)
    #: The exporter's :meth:`~procrecord.exports.interface.Exporter.stage`, run here on each prepared record.
    stage: Callable[[dict[str, Any]], Any] | None = None
    #: With ``--jobs 1`` (operation and exporter in one process): where staged rows are handed over as
    #: they are, instead of pickled into the task's block (the block then only says "rows are ready").
    handoff: list[tuple[str, int | None, Any]] | None = attrs.field(default=None, eq=False, repr=False)

    def __call__(self, item: Loaded) -> Outcome:
        version, record, failed = to_current(item)
        if failed is not None:
            return failed
        if self.level and self.level != "none":
            record = redactor()(record, self.level, self.key)
        if self.stage is not None and self.handoff is not None:
            self.handoff.append((item.source, item.line, self.stage(record)))
            line = b""
        elif self.stage is not None:
            # What the stage makes (a table row: values, not a record) goes to the exporter pickled:
            # one C call each way, where a JSON round trip of the record cost as much as its parse.
            line = pickle.dumps((item.source, item.line, self.stage(record)), pickle.HIGHEST_PROTOCOL)
        else:
            line = dumps({"s": item.source, "l": item.line, "r": record}) + b"\n"
        return Outcome(item.source, item.line, Status.PREPARED, version, output=line, jsonl=item.jsonl, info={"changed": 1})


class Where(NamedTuple):
    """A finding of the export and the record it is about."""

    source: str
    line: int | None
    finding: Finding

    def where(self) -> str:
        """``path[:line]`` as reported to users."""
        return where(self.source, self.line)


class Counts(NamedTuple):
    """How a bulk export went."""

    exported: int
    failed: int
    skipped: int
    dropped: int
    rejected: int  # records that could not be read, validated or prepared


def _entries(data: bytes, exporter: Exporter, staged: bool, handoff: list[tuple[str, int | None, Any]] | None
             ) -> Iterator[tuple[str, int | None, str | None, list[Finding]]]:
    """Hand a block's records (or staged rows) to ``exporter``; yield where each came from, its id (None
    for a staged row: its findings are all its own) and the findings of the call."""
    if handoff is not None:  # the rows of this block's task, made in this process
        rows = handoff[:]
        handoff.clear()
        for source, line, row in rows:
            yield source, line, None, exporter.add_staged(row)
        return
    if not staged:
        for text in data.splitlines():
            entry: dict[str, Any] = loads_exact(text)
            yield entry["s"], entry["l"], record_id(entry["r"]), exporter.add(entry["r"])
        return
    stream = io.BytesIO(data)
    unpickler = pickle.Unpickler(stream)  # blocks made by our own workers (see PrepareRecord)
    while stream.tell() < len(data):
        source, line, row = unpickler.load()
        yield source, line, None, exporter.add_staged(row)


#: How many records' places (by id) are kept for findings that come later than their record: an
#: exporter that sends in batches (OTel: 512) reports a batch's failures when it sends it.
RECENT = 4096


def run_export(sources: list[str], exporter: Exporter, operation: PrepareRecord, jobs: int, max_bytes: int,
               on_outcome: Callable[[Outcome], None], on_finding: Callable[[Where], None],
               progress: Callable[[int], None] | None = None, empty_ok: bool = True) -> Counts:
    """Drive ``operation`` over ``sources`` into ``exporter``; report outcomes and findings as they come.

    A run that finds no record at all abandons the output (:meth:`~.interface.Exporter.abort`: no file
    written, an existing one left as it was) unless ``empty_ok`` (``--allow-empty``: the empty table is written).
    """
    from procrecord.bulk.engine import run

    exported = failed = skipped = dropped = rejected = 0
    stage = exporter.stage()
    if stage is not None:
        operation = attrs.evolve(operation, stage=stage, handoff=[] if jobs <= 1 else None)

    def count(findings: list[Finding]) -> None:
        """Count one record's findings: each count is of records, however many notes a record has."""
        nonlocal failed, skipped, dropped
        kinds = {f.kind for f in findings}
        failed += "error" in kinds
        skipped += "skipped" in kinds
        dropped += "dropped" in kinds

    #: Where the records handed over last came from, by id (see RECENT).
    places: collections.OrderedDict[str, tuple[str, int | None]] = collections.OrderedDict()

    def settle(findings: list[Finding]) -> None:
        """Findings of records handed over earlier (and counted as exported then), per record, at their place."""
        nonlocal exported
        late: dict[str, list[Finding]] = {}
        for finding in findings:
            late.setdefault(finding.record_id, []).append(finding)
            source, line = places.get(finding.record_id, ("", None))
            on_finding(Where(source, line, finding))
        for each in late.values():
            count(each)
            exported -= any(f.failed for f in each)

    found = False
    try:
        for item in run(sources, operation, jobs, max_bytes, progress):
            found = True
            if isinstance(item, Block):
                for source, line, rid, findings in _entries(item.data, exporter, stage is not None, operation.handoff):
                    if rid is not None:
                        places[rid] = (source, line)
                        places.move_to_end(rid)
                        if len(places) > RECENT:
                            places.popitem(last=False)
                    if not findings:  # most records: exported, nothing to say
                        exported += 1
                        continue
                    own = [f for f in findings if rid is None or f.record_id == rid]
                    settle([f for f in findings if rid is not None and f.record_id != rid])  # a batch sent now
                    exported += not any(f.kind in ("error", "skipped") for f in own)
                    count(own)
                    for finding in own:
                        on_finding(Where(source, line, finding))
            else:
                if not item.ok:
                    rejected += item.records
                on_outcome(item)
    except BaseException:
        exporter.abort()
        raise
    if not found and not empty_ok or found and not exported and not skipped and (failed or rejected):
        # The run fails for finding nothing, or every record it found failed: no output of nothing, and
        # an earlier export of the same name is not replaced by an empty one.
        exporter.abort()
        return Counts(0, failed, 0, 0, rejected)
    # Findings only known when the output is finished (a batch an endpoint refused, ...), per record.
    settle(exporter.close())
    return Counts(exported, failed, skipped, dropped, rejected)
