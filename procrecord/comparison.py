"""Diff of two records by meaning: schema-driven, keyed arrays, volatile fields ignored.

Both records are brought to the current version first. Fields marked ``x-volatile`` (ids,
timestamps, pids, the record's own metadata) are skipped unless asked for; arrays whose items have
an ``x-key`` (packages by name, devices by index, disks by mount point) are matched by that key,
so reordering is not a change; numbers within ``rtol`` are equal.
"""

from __future__ import annotations

import fnmatch
import math
from typing import Any, Iterable, Iterator

import attrs

from procrecord.pointer import escape, resolve_pointer, unescape
from procrecord.policy import Node, policy
from procrecord.schemas import current_version

_OPEN = Node()  # open bags (config, extra, ...): no annotations below


@attrs.frozen
class Change:
    """One difference: where (RFC 6901 pointer), what kind, the old and the new value."""

    pointer: str
    kind: str  # "added" | "removed" | "changed"
    old: Any = None
    new: Any = None
    #: Human label of the location (``python.packages[numpy].version``), keys instead of indices.
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON form for ``--format json``."""
        out: dict[str, Any] = {"pointer": self.pointer, "kind": self.kind, "path": self.label}
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        return out

    @property
    def section(self) -> str:
        """The top-level key the change is under."""
        return self.pointer.split("/")[1] if self.pointer.count("/") else ""


@attrs.frozen
class Options:
    """What to compare: volatile fields, ignored paths (globs), sections, numeric tolerance."""

    include_volatile: bool = False
    #: Field patterns to ignore, stored as JSON-pointer globs (``timing.duration_s`` -> ``/timing/duration_s``).
    ignore: tuple[str, ...] = attrs.field(default=(), converter=lambda ps: tuple(normalise_pattern(p) for p in ps))
    only: tuple[str, ...] = ()
    rtol: float = 0.0

    def ignored(self, pointer: str) -> bool:
        """True when a user pattern covers ``pointer`` (or one of its ancestors)."""
        if self.only and pointer.count("/") >= 1 and pointer.split("/")[1] not in self.only:
            return True
        return any(fnmatch.fnmatchcase(pointer, pattern) or fnmatch.fnmatchcase(pointer, pattern.rstrip("/") + "/*")
                   for pattern in self.ignore)


def normalise_pattern(pattern: str) -> str:
    """``timing.duration_s`` or ``/timing/duration_s`` (wildcards allowed) as a pointer pattern."""
    if pattern.startswith("/"):
        return pattern
    return "/" + pattern.replace(".", "/")


def _numbers_close(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return False
    return a == b or (rtol > 0 and math.isclose(a, b, rel_tol=rtol, abs_tol=0.0))


def _keyed(items: list[Any], key: str) -> dict[Any, tuple[int, Any]] | None:
    """``{key value: (index, item)}`` when every item has a distinct hashable key, else None."""
    out: dict[Any, tuple[int, Any]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict) or key not in item:
            return None
        value = item[key]
        if isinstance(value, (dict, list)) or value in out:
            return None
        out[value] = (index, item)
    return out


def _walk(a: Any, b: Any, node: Node, pointer: str, label: str, opts: Options) -> Iterator[Change]:
    if pointer and opts.ignored(pointer):
        return
    if node.volatile and not opts.include_volatile:
        return
    if isinstance(a, dict) and isinstance(b, dict):
        children = node.children
        for key in list(a) + [k for k in b if k not in a]:
            child = children.get(key, _OPEN) if children is not None else _OPEN
            here, name = f"{pointer}/{escape(key)}", f"{label}.{key}" if label else key
            if child.volatile and not opts.include_volatile or opts.ignored(here):
                continue
            if key not in b:
                yield Change(here, "removed", a[key], None, name)
            elif key not in a:
                yield Change(here, "added", None, b[key], name)
            else:
                yield from _walk(a[key], b[key], child, here, name, opts)
        return
    if isinstance(a, list) and isinstance(b, list):
        items = node.items or _OPEN
        if node.key:
            left, right = _keyed(a, node.key), _keyed(b, node.key)
            if left is not None and right is not None:
                for value, (i, item) in left.items():
                    name = f"{label}[{value}]"
                    if value not in right:
                        yield Change(f"{pointer}/{i}", "removed", item, None, name)
                    else:
                        yield from _walk(item, right[value][1], items, f"{pointer}/{i}", name, opts)
                for value, (j, item) in right.items():
                    if value not in left:
                        yield Change(f"{pointer}/{j}", "added", None, item, f"{label}[{value}]")
                return
        if a == b:
            return
        if len(a) == len(b) and all(isinstance(x, dict) for x in a + b):
            for i, (x, y) in enumerate(zip(a, b)):
                yield from _walk(x, y, items, f"{pointer}/{i}", f"{label}[{i}]", opts)
            return
        if len(a) == len(b) and len(a) and all(_numbers_close(x, y, opts.rtol) or x == y for x, y in zip(a, b)):
            return
        yield Change(pointer, "changed", a, b, label)
        return
    if a == b and type(a) is type(b) or _numbers_close(a, b, opts.rtol):
        return
    yield Change(pointer, "changed", a, b, label)


def prepare(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record to the current version (legacy included), validating on the way."""
    from procrecord.migration import upgrade

    return upgrade(record)


def diff(a: dict[str, Any], b: dict[str, Any], options: Options | None = None, *, upgrade: bool = True) -> list[Change]:
    """The changes that turn record ``a`` into record ``b`` (both upgraded to the current version)."""
    opts = options or Options()
    if upgrade:
        a, b = prepare(a), prepare(b)
    return list(_walk(a, b, policy(current_version()), "", "", opts))


def to_patch(changes: Iterable[Change], a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """An RFC 6902 patch that applies ``changes`` to ``a``.

    Keyed arrays can reorder and change length, so array edits are written as a ``replace`` of the
    smallest array holding them, with the array taken from ``b``; other edits are fine-grained.
    """
    ops: list[dict[str, Any]] = []
    replaced: list[str] = []
    for change in changes:
        array = _enclosing_array(a, b, change.pointer)
        if array is not None:
            if not any(array == r or array.startswith(r + "/") for r in replaced):
                replaced = [r for r in replaced if not r.startswith(array + "/")] + [array]
            continue
        if change.kind == "removed":
            ops.append({"op": "remove", "path": change.pointer})
        elif change.kind == "added":
            ops.append({"op": "add", "path": change.pointer, "value": change.new})
        else:
            ops.append({"op": "replace", "path": change.pointer, "value": change.new})
    for pointer in replaced:
        ops = [op for op in ops if not op["path"].startswith(pointer + "/")]
        ops.append({"op": "replace", "path": pointer, "value": _at(b, pointer)})
    return ops


def _enclosing_array(a: dict[str, Any], b: dict[str, Any], pointer: str) -> str | None:
    """The outermost array on the way to ``pointer`` in ``a`` (or ``b``), if any."""
    parts = pointer.split("/")[1:]
    for doc in (a, b):
        node: Any = doc
        for depth, raw in enumerate(parts):
            if isinstance(node, list):
                return "/" + "/".join(parts[:depth])
            key = unescape(raw)
            if not isinstance(node, dict) or key not in node:
                break
            node = node[key]
    return None


def _at(doc: Any, pointer: str) -> Any:
    return resolve_pointer(doc, pointer)


def apply_patch(doc: dict[str, Any], patch: list[dict[str, Any]]) -> dict[str, Any]:
    """Apply an RFC 6902 patch (jsonpatch), returning a new document."""
    import jsonpatch

    return jsonpatch.apply_patch(doc, patch, in_place=False)


def verify_patch(patch: list[dict[str, Any]], a: dict[str, Any], b: dict[str, Any], options: Options) -> bool:
    """True when applying ``patch`` to ``a`` leaves no reported difference to ``b``."""
    return not list(_walk(apply_patch(a, patch), b, policy(current_version()), "", "", options))
