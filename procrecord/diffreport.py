"""How differences are shown: grouped by what they mean to a user, with relative numeric change."""

from __future__ import annotations

import collections
import re
from typing import IO, Any, Iterable

from packaging.version import InvalidVersion, Version

from procrecord.comparison import Change
from procrecord.jsoncodec import dumps

#: Display groups, in order, by top-level section (presentation only; what differs comes from the schema).
GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("invocation and config", ("invocation", "name", "extra")),
    ("code", ("git",)),
    ("software", ("python",)),
    ("hardware and host", ("host", "devices", "disks")),
    ("outcome", ("status", "outcome")),
    ("resources and emissions", ("resources", "emissions", "timing")),
)
OTHER = "other"
_ITEM = re.compile(r"^(?P<array>.*)\[(?P<key>[^\]]*)\](?:\.(?P<field>.*))?$")


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
        out = []
        for label, count in self.differing.most_common():
            n = len(self.values[label])
            out.append((label, count, f"{self.MAX_VALUES}+" if n > self.MAX_VALUES else str(n)))
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
