"""The bulk engine's outcomes: merging clean JSONL outcomes and expanding them again."""

from __future__ import annotations

from procrecord.bulk.engine import Outcome, compress, expand


def test_clean_consecutive_lines_merge_into_one_outcome_and_expand_back():
    singles = [Outcome("a.jsonl", line, "valid", "1.0") for line in (1, 2, 3)]
    (merged,) = compress(iter(singles))
    assert merged.line == 1 and merged.records == 3
    assert list(expand(merged)) == singles


def test_the_record_count_does_not_shadow_tuple_count():
    outcome = Outcome("a.json", None, "valid")
    assert outcome.records == 1
    assert outcome.count("valid") == 1  # a tuple's own method, as on every NamedTuple
