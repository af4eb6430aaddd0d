"""The facts ``procrecord show`` prints, formatted for its table."""

from __future__ import annotations

import pytest

from procrecord.operations.summary import escape, format_facts, width


@pytest.mark.parametrize(("start_time", "shown"), [
    ("2024-12-31T23:59:59+05:30", "2024-12-31T18:29:59Z"),
    ("2026-11-20T09:14:03.512844+00:00", "2026-11-20T09:14:03Z"),
    ("2026-11-20T09:14:03.5Z", "2026-11-20T09:14:03Z"),  # forms Python 3.10's fromisoformat refuses
    ("2026-11-20T09:14:03.123456789-02:00", "2026-11-20T11:14:03Z"),
    ("2026-11-20T09:14:03", "2026-11-20T09:14:03"),  # no offset: its zone is unknown, shown as written
    ("not a time", "not a time"),
    # valid times whose UTC a datetime cannot hold: shown as written (``show`` failed on them)
    ("0001-01-01T00:30:00+01:00", "0001-01-01T00:30:00+01:00"), ("9999-12-31T23:59:59-01:00", "9999-12-31T23:59:59-01:00"),
])
def test_start_times_are_shown_in_utc(start_time, shown):
    assert format_facts({"name": None, "status": "completed", "start_time": start_time})["start"] == shown


def test_cells_stay_on_one_line_and_wide_characters_count_twice():
    assert escape("a\nb\tc\x1b[0m\u2028") == "a\\nb\\tc\\x1b[0m\\u2028"
    assert escape("学習 naïve") == "学習 naïve"
    # characters that reorder or hide what a terminal shows (a name could rearrange its row)
    assert escape("fit\u202egnp.exe\u200b\u2066x\ufeff") == "fit\\u202egnp.exe\\u200b\\u2066x\\ufeff"
    assert width("学習") == 4 and width("naïve") == 5 and width("abc") == 3
    assert format_facts({"name": None, "status": "running"})["name"] == "(unnamed)"
