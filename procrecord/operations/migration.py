"""Upgrade and downgrade: chains of pure ``dict -> dict`` steps found in one table.

Every step is validated before and after (a caller that validates what it makes of the result
may skip the last check: ``check_result=False``), must change the version, and is pure (the input
is never modified). ``upgrade`` brings any known version to the current one; ``downgrade`` goes back
(to ``0``, the legacy shape) and says what it had to drop.
"""

from __future__ import annotations

import collections
import functools
from typing import Any, Callable

from procrecord.errors import UpgradeError
from procrecord.record.schemas import current_version, version_key
from procrecord.record.validation import explain, is_valid
from procrecord.record.versions import detect_version

Step = Callable[[dict[str, Any]], dict[str, Any]]


@functools.lru_cache(maxsize=None)
def _steps() -> dict[tuple[str, str], Step]:
    from procrecord.operations import legacy, minor

    steps: dict[tuple[str, str], Step] = {
        ("0", "1.0"): legacy.upgrade_0_to_1_0,
        ("1.0", "0"): legacy.downgrade_1_0_to_0,
    }
    for older, newer in minor.minor_pairs():
        steps[(older, newer)] = minor.upgrade_step(newer)
        steps[(newer, older)] = minor.downgrade_step(older)
    for version in minor.later_minors():
        steps[("0", version)] = minor.from_legacy(version)
        steps[(version, "0")] = minor.to_legacy(version)[0]
    return steps


@functools.lru_cache(maxsize=None)
def _dropped() -> dict[tuple[str, str], Callable[[dict[str, Any]], list[str]]]:
    from procrecord.operations import legacy, minor

    table: dict[tuple[str, str], Callable[[dict[str, Any]], list[str]]] = {("1.0", "0"): legacy.dropped_by_downgrade}
    for older, newer in minor.minor_pairs():
        table[(newer, older)] = minor.dropped_by(older)
    for version in minor.later_minors():
        table[(version, "0")] = minor.to_legacy(version)[1]
    return table


def chain(source: str, target: str) -> list[tuple[str, str]]:
    """The shortest list of registered steps from ``source`` to ``target`` (empty when equal)."""
    return list(_chain(source, target))


@functools.lru_cache(maxsize=256)
def _chain(source: str, target: str) -> tuple[tuple[str, str], ...]:
    if source == target:
        return ()
    steps = _steps()
    graph: dict[str, list[str]] = collections.defaultdict(list)
    for a, b in steps:
        graph[a].append(b)
    queue: collections.deque[tuple[str, list[tuple[str, str]]]] = collections.deque([(source, [])])
    seen = {source}
    while queue:
        version, path = queue.popleft()
        for nxt in graph[version]:
            if nxt in seen:
                continue
            route = path + [(version, nxt)]
            if nxt == target:
                return tuple(route)
            seen.add(nxt)
            queue.append((nxt, route))
    raise UpgradeError(f"no conversion from version {source} to {target}")


def _apply(record: dict[str, Any], source: str, target: str, dropped: list[str] | None = None,
           checked: bool = False, check_result: bool = True) -> dict[str, Any]:
    """Run the chain from ``source`` to ``target``, validating the input and each step's result.

    ``checked``: the caller has just validated ``record`` against ``source`` (the bulk commands do),
    so the first step does not validate it again. ``check_result=False``: the last step's result is
    not validated, because the caller validates what it makes of it anyway (a redacted record).
    A step's validated result is the next step's input and is not validated twice.
    """
    steps = _steps()
    route = _chain(source, target)
    for index, (a, b) in enumerate(route):
        if not checked and not is_valid(record, a):
            v = explain(record, a)[0]
            raise UpgradeError(f"input is not a valid version {a} record: {v.path}: {v.message}")
        result = steps[(a, b)](record)
        if dropped is not None and (a, b) in _dropped():
            dropped.extend(_dropped()[(a, b)](record))
        if b == a or detect_version(result) != b:
            raise UpgradeError(f"step {a} -> {b} did not change the version (bug)")
        if (check_result or index < len(route) - 1) and not is_valid(result, b):
            v = explain(result, b)[0]
            raise UpgradeError(f"step {a} -> {b} produced an invalid record: {v.path}: {v.message}")
        checked = True
        record = result
    return record


def upgrade(record: dict[str, Any], to: str | None = None, *, checked: bool = False,
            check_result: bool = True) -> dict[str, Any]:
    """Upgrade ``record`` to version ``to`` (default: current). A current record comes back as is.

    The input is never modified; values a step moves as they are (config, extra, argv, leftovers
    kept in ``provenance.legacy``) are shared with it, so copy the result before changing those.
    ``checked=True`` says the caller has just validated ``record`` against its own version;
    ``check_result=False`` that it validates what it makes of the result (the result itself is then
    not validated: an invalid one must not be written as it is).
    """
    target = to or current_version()
    source = detect_version(record)
    if source == target:
        return record
    if version_key(target) < version_key(source):
        raise UpgradeError(f"cannot upgrade version {source} to older {target}: use downgrade")
    return _apply(record, source, target, checked=checked, check_result=check_result)


def downgrade(record: dict[str, Any], to: str = "0", *, checked: bool = False,
              check_result: bool = True) -> tuple[dict[str, Any], list[str]]:
    """Downgrade ``record`` to version ``to``; return it and the JSON pointers of what was dropped
    (``checked``, ``check_result``: as for :func:`upgrade`)."""
    source = detect_version(record)
    if version_key(to) > version_key(source):
        raise UpgradeError(f"cannot downgrade version {source} to newer {to}: use upgrade")
    dropped: list[str] = []
    result = _apply(record, source, to, dropped, checked, check_result)
    return result, outermost(dropped)


def outermost(pointers: list[str]) -> list[str]:
    """``pointers`` sorted, without those below another one (``/a`` covers ``/a/b``: a step that drops a
    section's fields and the next that drops the section report the section once)."""
    given = set(pointers)

    def covered(pointer: str) -> bool:
        cut = pointer.rfind("/")
        while cut > 0:
            if pointer[:cut] in given:
                return True
            cut = pointer.rfind("/", 0, cut)
        return False

    return sorted(p for p in given if not covered(p))
