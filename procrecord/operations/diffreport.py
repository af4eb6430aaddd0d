"""How differences are shown: grouped by what they mean to a user, with relative numeric change."""

from __future__ import annotations

import collections
import re
from typing import IO, Any, Iterable

from packaging.version import InvalidVersion, Version

from procrecord.bulk.jsoncodec import dumps
from procrecord.operations.comparison import Change

#: Display groups, in order, by top-level section (presentation only; what differs comes from the schema).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("invocation and config", ("invocation", "name", "extra")),
    ("code", ("git",)),
    ("data", ("inputs", "outputs")),
    ("pipeline", ("parent", "root")),
    ("software", ("python",)),
    ("hardware and host", ("host", "devices", "disks", "distributed")),
    ("outcome", ("status", "outcome")),
    ("resources and emissions", ("resources", "emissions", "timing", "usage")),
)
OTHER = "other"
_ITEM = re.compile(r'^(?P<array>.*)\[(?P<key>[^\]"]*)\](?:\.(?P<field>.*))?$')  # not a quoted key


def group_of(change: Change) -> str:
    """The display group of a change."""
    for name, sections in GROUPS:
        if change.section in sections:
            return name
    return OTHER


def _short(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else dumps(value).decode()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _version_key(text: Any) -> Version | None:
    """A PEP 440 version to order package versions by; None (just "changed") for anything else."""
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def describe(change: Change) -> str:
    """One human line for a change."""
    match = _ITEM.match(change.label)
    if match and match["field"] is None and change.kind in ("added", "removed"):
        item = change.new if change.kind == "added" else change.old
        version = item.get("version") if isinstance(item, dict) else None
        what = f"{match['key']} {version}" if version is not None else f"{match['key']} {_short(item)}"
        return f"{change.kind} {match['array']}: {what}"
    if match and match["field"] == "version" and change.kind == "changed":
        old, new = _version_key(change.old), _version_key(change.new)
        verb = "upgraded" if old and new and new > old else "downgraded" if old and new and new < old else "changed"
        return f"{verb} {match['key']} {change.old} -> {change.new}"
    if match and match["field"] == "sha256" and change.kind == "changed":
        return f"different data: {match['array']}[{match['key']}] sha256 {str(change.old)[:12]}… -> {str(change.new)[:12]}…"
    if change.kind == "added":
        return f"+ {change.label} = {_short(change.new)}"
    if change.kind == "removed":
        return f"- {change.label} (was {_short(change.old)})"
    old, new = change.old, change.new
    if isinstance(old, (int, float)) and isinstance(new, (int, float)) and not isinstance(old, bool) and not isinstance(new, bool):
        rel = f" ({(new - old) / abs(old) * 100:+.1f}%)" if old else ""
        return f"{change.label} {old} -> {new}{rel}"
    return f"{change.label}: {_short(old)} -> {_short(new)}"


def summary(changes: list[Change]) -> str:
    """``3 differences: 2 software, 1 outcome`` or ``no differences``."""
    if not changes:
        return "no differences"
    counts = collections.Counter(group_of(c) for c in changes)
    order = [name for name, _ in GROUPS] + [OTHER]
    parts = ", ".join(f"{counts[g]} {g}" for g in order if counts[g])
    noun = "difference" if len(changes) == 1 else "differences"
    return f"{len(changes)} {noun}: {parts}"


def write_text(changes: list[Change], out: IO[str], heading: str | None = None) -> None:
    """Changes grouped by meaning, then a one-line summary."""
    if heading:
        out.write(f"== {heading}\n")
    by_group: dict[str, list[Change]] = collections.defaultdict(list)
    for change in changes:
        by_group[group_of(change)].append(change)
    for name in [g for g, _ in GROUPS] + [OTHER]:
        if by_group.get(name):
            out.write(f"{name}:\n")
            for change in by_group[name]:
                out.write(f"  {describe(change)}\n")
    out.write(summary(changes) + "\n")


class Variation:
    """Which fields vary across a set of records compared with one baseline (bounded memory)."""

    MAX_VALUES = 20

    def __init__(self) -> None:
        self.records = 0
        self.differing: collections.Counter[str] = collections.Counter()
        self.values: dict[str, set[str]] = {}

    def add(self, changes: Iterable[Change]) -> None:
        """Count the fields one record changes."""
        self.records += 1
        for change in changes:
            label = change.label or change.pointer
            self.differing[label] += 1
            seen = self.values.setdefault(label, set())
            if len(seen) <= self.MAX_VALUES:
                seen.add(_short(change.new if change.kind != "removed" else None, 40))

    def rows(self) -> list[tuple[str, int, str]]:
        """``(field, records that differ, distinct values)`` sorted by how often it differs."""
        return [(label, count, f"{n}+" if more else str(n)) for label, count, n, more in self.counts()]

    def counts(self) -> list[tuple[str, int, int, bool]]:
        """``(field, records that differ, distinct values seen, more than that?)``, as numbers."""
        out = []
        for label, count in self.differing.most_common():
            n = len(self.values[label])
            out.append((label, count, min(n, self.MAX_VALUES), n > self.MAX_VALUES))
        return out

    def write(self, out: IO[str], limit: int = 50) -> None:
        """The table, most often differing fields first."""
        rows = self.rows()
        out.write(f"fields that vary across {self.records} records (vs the baseline):\n")
        if not rows:
            out.write("  none\n")
            return
        width = min(max(len(r[0]) for r in rows[:limit]), 60)
        out.write(f"  {'field':<{width}}  differ  values\n")
        for label, count, values in rows[:limit]:
            out.write(f"  {label:<{width}}  {count:>6}  {values:>6}\n")
        if len(rows) > limit:
            out.write(f"  ... and {len(rows) - limit} more fields\n")


class BaselineReport:
    """``diff --baseline``: each record's changes as they come, then what varies, as text or JSON.

    JSON is streamed (``{"baseline": ..., "comparisons": [...], "varying": [...]}``) so memory stays
    bounded however many records are compared; counts in it are numbers.
    """

    def __init__(self, baseline: str, out: IO[str], fmt: str = "text") -> None:
        self.baseline, self.out, self.fmt = baseline, out, fmt
        self.variation = Variation()
        self.differing = self.broken = 0
        self._first = True
        if fmt == "json":
            out.write('{"baseline": ' + dumps(baseline).decode() + ', "comparisons": [')

    def add(self, source: str, line: int | None, changes: list[Change]) -> None:
        """One compared record."""
        self.variation.add(changes)
        self.differing += bool(changes)
        if self.fmt == "json":
            entry = {"source": source, "line": line, "changes": [c.to_dict() for c in changes]}
            self.out.write(("\n  " if self._first else ",\n  ") + dumps(entry).decode())
            self._first = False
        elif changes:
            where = source if line is None else f"{source}:{line}"
            write_text(changes, self.out, heading=f"{where} vs {self.baseline}")

    def finish(self) -> str:
        """Close the output and return the one-line summary (for stderr)."""
        if self.fmt == "json":
            rows = [{"path": label, "records": count, "values": n, "more_values": more}
                    for label, count, n, more in self.variation.counts()]
            self.out.write('\n], "varying": ' + dumps(rows).decode() + "}\n")
        else:
            self.variation.write(self.out)
        records = self.variation.records
        return (f"compared {records} records with {self.baseline}: {self.differing} differ, {records - self.differing} same"
                + (f", {self.broken} could not be compared" if self.broken else "")
                + ("" if records or self.broken else ": no record found"))
