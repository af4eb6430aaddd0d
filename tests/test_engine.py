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
