"""Merging the clean outcomes of consecutive JSONL lines (``engine.compress``) keeps every outcome."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.bulk.engine import Outcome, compress, expand
from procrecord.bulk.status import Status
from procrecord.record.validation import Violation


def _mergeable(last: Outcome, outcome: Outcome) -> bool:
    """The rule, said plainly: both clean (no findings, message, output or info), JSONL lines in a row
    of one source, with the same status and version."""
    def clean(o: Outcome) -> bool:
        return (o.ok and o.line is not None and o.output is None and not o.violations and o.message is None
                and o.info is None)
    return (clean(last) and clean(outcome) and last.source == outcome.source and last.status == outcome.status
            and last.version == outcome.version and last.line is not None
            and last.line + last.records == outcome.line)


def _reference(outcomes: list[Outcome]) -> list[Outcome]:
    merged: list[Outcome] = []
    for outcome in outcomes:
        if merged and _mergeable(merged[-1], outcome):
            merged[-1] = merged[-1]._replace(records=merged[-1].records + outcome.records)
        else:
            merged.append(outcome)
    return merged


@st.composite
def outcome_lists(draw: Any) -> list[Outcome]:
    outcomes, line = [], draw(st.integers(1, 3))
    for _ in range(draw(st.integers(0, 12))):
        line += draw(st.sampled_from([1, 1, 1, 2, 0]))  # mostly the next line; sometimes a gap or the same
        status = draw(st.sampled_from([Status.VALID, Status.VALID, Status.INVALID, Status.ERROR, Status.REDACTED]))
        where = draw(st.sampled_from([line, line, None]))
        outcomes.append(Outcome(
            draw(st.sampled_from(["a.jsonl", "b.jsonl"])), where, status,
            draw(st.sampled_from(["1.0", "1.0", "1.1", None])),
            draw(st.sampled_from([(), (), (Violation("$", "bad", "type"),)])),
            draw(st.sampled_from([None, None, "note"])), draw(st.sampled_from([None, None, b"x"])),
            True, draw(st.sampled_from([None, None, {"n": 1}])), draw(st.sampled_from([1, 1, 3])) if where else 1))
    return outcomes


@settings(max_examples=300, deadline=None)
@given(outcome_lists())
def test_compress_merges_exactly_what_the_rule_allows(outcomes):
    merged = compress(iter(outcomes))
    assert merged == _reference(outcomes)
    assert [o for m in merged for o in expand(m)] == [o for m in outcomes for o in expand(m)]
