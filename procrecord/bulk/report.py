"""Reporters: how outcomes of a bulk run are shown (text for people, JSON for machines)."""

from __future__ import annotations

import collections
import sys
from typing import IO, Any

import orjson

from procrecord.bulk.engine import SKIPPED, Outcome, expand
from procrecord.bulk.status import Status, severity


class Summary:
    """Counts of outcomes by status and the number of distinct sources."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._sources: set[str] = set()
        self.total = 0
        self.totals: collections.Counter[str] = collections.Counter()
        #: Further facts of the run for the machine-readable summary (files not written, conflicts).
        self.notes: dict[str, Any] = {}

    def add_totals(self, totals: dict[str, int]) -> None:
        """Count the summed ``info`` of a block of outputs."""
        for name, value in totals.items():
            self.totals[name] += value

    def add(self, outcome: Outcome) -> None:
        """Count one (possibly merged) outcome (a path a walk left alone is no record)."""
        self.counts[str(outcome.status)] += outcome.records  # the text: JSON keys must be plain str
        if outcome.status == SKIPPED:
            return
        self._sources.add(outcome.source)
        self.total += outcome.records
        if outcome.status == Status.SHOWN:
            return  # ``show``'s info are one record's facts (its exit code, its package count): no totals
        for name, value in (outcome.info or {}).items():
            if isinstance(value, int) and not isinstance(value, bool):
                self.totals[name] += value

    @property
    def records_found(self) -> int:
        """Outcomes that were records (a result file read with ``--embedded`` that holds none is not one)."""
        return self.total - self.counts.get(str(Status.NO_RECORDS), 0)

    @property
    def failed(self) -> bool:
        """True when any outcome has a finding or an error."""
        return any(severity(status) for status in self.counts)

    def line(self, verb: str) -> str:
        """One-line human summary, e.g. ``validated 10 records from 2 sources: 9 valid, 1 invalid``."""
        # (paths a walk left alone are no records: said apart, so that the parts add up to the records)
        parts = ", ".join(f"{n} {status}" for status, n in sorted(self.counts.items()) if status != SKIPPED)
        skipped = self.counts.get(str(SKIPPED), 0)
        noun = "record" if self.total == 1 else "records"
        src = "source" if len(self._sources) == 1 else "sources"
        embedded = self.totals.get("embedded_records", 0)
        if embedded:  # --embedded: outcomes are per host file; say how many records they held
            noun = ("document" if self.total == 1 else "documents") + f" holding {embedded} embedded " + \
                ("record" if embedded == 1 else "records")
        counted = dict(self.totals)
        redacted = self.counts.get(str(Status.REDACTED), 0)
        if redacted and "changed" in counted and redacted > counted["changed"]:
            counted["unchanged"] = redacted - counted["changed"]  # "1 redacted" alone read as a change made
        totals = ", ".join(f"{name} {n}" for name, n in sorted(counted.items()) if n and name != "embedded_records")
        nothing = ": no record found" if not self.records_found else ""  # a mistyped folder in a CI gate
        return (f"{verb} {self.total} {noun} from {len(self._sources)} {src}" + (f": {parts}" if parts else "")
                + (f" ({totals})" if totals else "") + (f"; {skipped} skipped" if skipped else "") + nothing)

    def to_dict(self) -> dict[str, Any]:
        """Machine-readable summary. With ``--embedded`` the outcomes are documents (result files):
        ``documents`` counts them (``by_status`` adds up to it) and ``records`` the records they held."""
        counted: dict[str, Any] = {"records": self.total}
        if "embedded_records" in self.totals:
            counted = {"records": self.totals["embedded_records"], "documents": self.total}
        return {**counted, "sources": len(self._sources), "by_status": dict(self.counts),
                "totals": dict(self.totals), **self.notes}


class Reporter:
    """Base reporter: writes outcomes to ``out`` and the summary to ``err``."""

    def __init__(self, out: IO[str] | None = None, err: IO[str] | None = None, verbose: bool = False) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr
        self.verbose = verbose
        self.summary = Summary()

    def outcome(self, outcome: Outcome) -> None:
        """Report one outcome."""
        self.summary.add(outcome)

    def finish(self, verb: str) -> None:
        """Report the summary."""
        self.err.write(self.summary.line(verb) + "\n")


class TextReporter(Reporter):
    """``path[:line]::$.json.path: message (keyword)``, one line per violation or error."""

    def outcome(self, outcome: Outcome) -> None:
        super().outcome(outcome)
        if outcome.records > 1:
            if self.verbose:
                for single in expand(outcome):
                    self.out.write(f"{single.where()}:: {single.status}\n")
            return
        where = outcome.where()
        if outcome.status == Status.ERROR:
            self.out.write(f"{where}:: error: {outcome.message}\n")
        for v in outcome.violations:
            self.out.write(f"{where}::{v.path}: {v.message} ({v.keyword})\n")
        if outcome.message and outcome.status != Status.ERROR:
            self.out.write(f"{where}:: {outcome.status}: {outcome.message}\n")
        if self.verbose and outcome.ok and not outcome.message:
            self.out.write(f"{where}:: {outcome.status}\n")


class JsonReporter(Reporter):
    """A JSON document listing every record (streamed, so memory stays flat), then the summary."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._first = True
        self.out.write('{"records": [')

    def outcome(self, outcome: Outcome) -> None:
        super().outcome(outcome)
        for single in expand(outcome):
            self._entry(single)

    def _entry(self, outcome: Outcome) -> None:
        entry: dict[str, Any] = {"source": outcome.source, "line": outcome.line, "status": outcome.status}
        if outcome.version is not None:
            entry["version"] = outcome.version
        if outcome.violations:
            entry["violations"] = [v.to_dict() for v in outcome.violations]
        if outcome.message:
            entry["message"] = outcome.message
        if outcome.info:
            entry["info"] = outcome.info
        self.out.write(("\n  " if self._first else ",\n  ") + orjson.dumps(entry).decode())
        self._first = False

    def finish(self, verb: str) -> None:
        self.out.write('\n], "summary": ' + orjson.dumps(self.summary.to_dict()).decode() + "}\n")
        super().finish(verb)

    def interrupted(self, verb: str) -> None:
        """End the document of a run stopped by Ctrl-C: the records so far, then the summary with
        ``"interrupted": true`` (a machine reading the report gets JSON, never a torn document)."""
        self.summary.notes["interrupted"] = True
        self.finish(verb)


REPORTERS: dict[str, type[Reporter]] = {"text": TextReporter, "json": JsonReporter}
