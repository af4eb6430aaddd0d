"""Diff of two records by meaning: schema-driven, keyed arrays, volatile fields ignored.

Both records are brought to the current version first. Fields marked ``x-volatile`` (ids,
timestamps, pids, the record's own metadata) are skipped unless asked for; arrays whose items have
an ``x-key`` (packages by name, devices by index, disks by path) are matched by that key,
so reordering is not a change; numbers within ``rtol`` are equal.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Iterator, Sequence

import attrs

from procrecord.operations import fieldpath
from procrecord.operations.fieldpath import Segment, Step
from procrecord.pointer import escape, resolve_pointer, unescape
from procrecord.record.policy import Node, policy
from procrecord.record.schemas import current_version

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
    """What to compare: volatile fields, ignored paths, the only paths compared, numeric tolerance.

    Paths are written as the text output prints them (``disks[/].free_bytes``), dotted or as JSON
    pointers, ``*`` allowed (see :mod:`procrecord.operations.fieldpath`); :meth:`problems` says which of them
    name nothing the schema knows.
    """

    include_volatile: bool = False
    ignore: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    only: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    rtol: float = 0.0
    _ignore: tuple[tuple[Segment, ...], ...] = attrs.field(init=False, eq=False, repr=False)
    _only: tuple[tuple[Segment, ...], ...] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_ignore", tuple(_parsed(p) for p in self.ignore))
        object.__setattr__(self, "_only", tuple(_parsed(p) for p in self.only))

    def problems(self, version: str | None = None) -> list[str]:
        """One message per ``--ignore``/``--only`` path that names nothing in the schema."""
        from procrecord.record.schemas import load_schema

        schema = load_schema(version or current_version())
        out = []
        for option, patterns in (("--ignore", self.ignore), ("--only", self.only)):
            for pattern in patterns:
                message = fieldpath.check(pattern, schema)
                if message is not None:
                    out.append(f"{option} {pattern}: {message}")
        if out:
            return out
        for only, only_path in zip(self.only, self._only):
            for ignore, ignore_path in zip(self.ignore, self._ignore):
                if fieldpath.contains(ignore_path, only_path):
                    out.append(f"--only {only}: --ignore {ignore} leaves nothing of it to compare")
        return out

    def unproven(self, version: str | None = None) -> tuple[str, ...]:
        """The ``--ignore``/``--only`` paths the schema cannot vouch for (an item of a list, a name in an
        open bag): each must match something in a record compared (see :class:`PathEvidence`)."""
        from procrecord.record.schemas import load_schema

        schema = load_schema(version or current_version())
        return tuple(dict.fromkeys(p for p in self.ignore + self.only
                                   if fieldpath.check(p, schema) is None and fieldpath.needs_record(p, schema)))

    @property
    def filtered(self) -> bool:
        """True when some path is ignored or only some are compared."""
        return bool(self._ignore or self._only)

    def ignored(self, path: Sequence[Step]) -> bool:
        """True when a user path covers the location ``path``, or ``--only`` leaves it out."""
        if self._only and not any(fieldpath.covers(s, path) or fieldpath.leads_to(s, path) for s in self._only):
            return True
        return any(fieldpath.covers(s, path) for s in self._ignore)

    def asked(self, path: Sequence[Step]) -> bool:
        """True when an ``--only`` path names the location ``path`` itself, by name, or something inside it:
        a volatile field so named is compared (``--only id``), one in a section named is not (``--only timing``),
        nor one a ``*`` matches (``--only 'timing.*'``: as ``--only timing``)."""
        depth = len(path)
        return any(len(s) >= depth and (s[depth - 1].exact or "*" not in s[depth - 1].text)
                   and (fieldpath.leads_to(s, path) or fieldpath.covers(s, path) and not fieldpath.covers(s, path[:-1]))
                   for s in self._only)

    def ignores_within(self, path: Sequence[Step]) -> bool:
        """True when an ``--ignore`` path names something below the location ``path`` (an item of a list)."""
        return any(fieldpath.leads_to(s, path) for s in self._ignore)

    def wanted_whole(self, path: Sequence[Step]) -> bool:
        """True when ``--only`` covers ``path`` itself (not just something below it)."""
        return not self._only or any(fieldpath.covers(s, path) for s in self._only)


class PathEvidence:
    """Which of the paths only a record can vouch for have matched something in the records seen so far.

    A path inside an open bag or naming one list item (``invocation.config.lrr``,
    ``python.packages[numpyy].version``) cannot be checked against the schema; one that matches nothing
    in any record compared is a typo, and must not make a diff say "same".
    """

    def __init__(self, options: Options, version: str | None = None) -> None:
        self.waiting = {pattern: fieldpath.parse(pattern) for pattern in options.unproven(version)}
        self._node = policy(version or current_version())
        #: For a path still waiting, the first spelling of it with a key holding dots or brackets
        #: (``invocation.config["a.b"]`` for ``invocation.config.a.b``) that matched something.
        self.meant: dict[str, str] = {}

    def see(self, record: dict[str, Any]) -> None:
        """Note the paths that match something in ``record`` (upgraded to the current version)."""
        for pattern, segments in list(self.waiting.items()):
            if _present(segments, record, self._node, ()):
                del self.waiting[pattern]
                self.meant.pop(pattern, None)
            elif pattern not in self.meant:
                for other in fieldpath.respellings(segments):
                    if _present(other, record, self._node, ()):
                        self.meant[pattern] = fieldpath.spelled(other)
                        break

    def problems(self, options: Options) -> list[str]:
        """One message per path that matched nothing in any record seen."""
        return [f"{option} {pattern}: matches nothing in the records compared"
                + (f" (a key with dots or brackets in it is written quoted: {self.meant[pattern]})"
                   if pattern in self.meant else "")
                for option, patterns in (("--ignore", options.ignore), ("--only", options.only))
                for pattern in patterns if pattern in self.waiting]


def _present(segments: tuple[Segment, ...], value: Any, node: Node, path: tuple[Step, ...]) -> bool:
    """True when some location of ``value`` (at ``path``) is the one ``segments`` names or lies below it."""
    if path and fieldpath.covers(segments, path):
        return True
    if path and not fieldpath.leads_to(segments, path):
        return False
    if isinstance(value, dict):
        children = node.children
        return any(_present(segments, v, children.get(k, _OPEN) if children is not None else _OPEN, path + ((k, None),))
                   for k, v in value.items())
    if isinstance(value, list):
        keyed = _keyed(value, node.key) if node.key else None
        steps = [(str(i), str(k)) for k, (i, _) in keyed.items()] if keyed is not None else \
            [(str(i), str(i)) for i in range(len(value))]
        items = node.items or _OPEN
        return any(_present(segments, value[int(step[0])], items, path + (step,)) for step in steps)
    return False


def _parsed(pattern: str) -> tuple[Segment, ...]:
    try:
        return fieldpath.parse(pattern)
    except ValueError:
        return (Segment("\0 never matches"),)  # reported by Options.problems


def _numbers_close(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, (int, float)) or not isinstance(b, (int, float)):
        return False
    return a == b or (rtol > 0 and math.isclose(a, b, rel_tol=rtol, abs_tol=0.0))


def _keyed(items: list[Any], key: str | tuple[str, ...]) -> dict[Any, tuple[int, Any]] | None:
    """``{key value: (index, item)}`` when every item has a distinct hashable key, else None.

    A key of several fields (``x-key: [role, uri]``) gives values written ``role/uri``; a field an item
    lacks counts as empty there, but the last one (the most specific) must be present.
    """
    out: dict[Any, tuple[int, Any]] = {}
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            return None
        if isinstance(key, tuple):
            if key[-1] not in item:
                return None
            parts = [item.get(k) for k in key]
            if any(isinstance(p, (dict, list)) for p in parts):
                return None
            value: Any = "/".join("" if p is None else str(p) for p in parts)
        else:
            if key not in item:
                return None
            value = item[key]
        if isinstance(value, (dict, list)) or value in out:
            return None
        out[value] = (index, item)
    return out


def _walk(a: Any, b: Any, node: Node, pointer: str, label: str, opts: Options,
          path: tuple[Step, ...] = ()) -> Iterator[Change]:
    filtered = opts.filtered
    if filtered and path and opts.ignored(path):
        return
    if node.volatile and not opts.include_volatile and not (path and opts.asked(path)):
        return
    if isinstance(a, dict) and isinstance(b, dict):
        children = node.children
        for key in list(a) + [k for k in b if k not in a]:
            child = children.get(key, _OPEN) if children is not None else _OPEN
            step = path + ((key, None),) if filtered else path
            if child.volatile and not opts.include_volatile and not (opts._only and opts.asked(step)):
                continue
            here, name = f"{pointer}/{escape(key)}", fieldpath.child(label, key)
            if filtered and opts.ignored(step):
                continue
            if key not in b:
                if _wanted(a[key], step, opts):
                    yield Change(here, "removed", a[key], None, name)
            elif key not in a:
                if _wanted(b[key], step, opts):
                    yield Change(here, "added", None, b[key], name)
            else:
                yield from _walk(a[key], b[key], child, here, name, opts, step)
        return
    if isinstance(a, list) and isinstance(b, list):
        items = node.items or _OPEN
        if node.key:
            left, right = _keyed(a, node.key), _keyed(b, node.key)
            if left is not None and right is not None:
                for value, (i, item) in left.items():
                    name = fieldpath.item(label, value)
                    step = path + ((str(i), str(value)),) if filtered else path
                    if value not in right:
                        if not filtered or not opts.ignored(step) and _wanted(item, step, opts):
                            yield Change(f"{pointer}/{i}", "removed", item, None, name)
                    else:
                        yield from _walk(item, right[value][1], items, f"{pointer}/{i}", name, opts, step)
                for value, (j, item) in right.items():
                    step = path + ((str(j), str(value)),) if filtered else path
                    if value not in left and (not filtered or not opts.ignored(step) and _wanted(item, step, opts)):
                        yield Change(f"{pointer}/{j}", "added", None, item, fieldpath.item(label, value))
                return
        if a == b:
            return
        if len(a) == len(b) and all(isinstance(x, dict) for x in a + b):
            for i, (x, y) in enumerate(zip(a, b)):
                step = path + ((str(i), str(i)),) if filtered else path
                yield from _walk(x, y, items, f"{pointer}/{i}", fieldpath.item(label, i), opts, step)
            return
        if len(a) == len(b) and len(a) and all(_numbers_close(x, y, opts.rtol) or x == y for x, y in zip(a, b)):
            return
        if filtered and (not opts.wanted_whole(path) or opts.ignores_within(path)):
            yield from _walk_lists(a, b, items, pointer, label, opts, path)
            return
        yield Change(pointer, "changed", a, b, label)
        return
    if a == b and type(a) is type(b) or _numbers_close(a, b, opts.rtol):
        return
    if filtered and not opts.wanted_whole(path) and not _wanted(a, path, opts) and not _wanted(b, path, opts):
        return  # above an --only path, and neither value holds it (a dict or list that became a number may)
    yield Change(pointer, "changed", a, b, label)


def _walk_lists(a: list[Any], b: list[Any], items: Node, pointer: str, label: str, opts: Options,
                path: tuple[Step, ...]) -> Iterator[Change]:
    """Lists above an ``--only`` or ``--ignore`` path: compare item by item (by index), so only the named
    items count, or the ignored ones do not."""
    for i in range(max(len(a), len(b))):
        step = path + ((str(i), str(i)),)
        if opts.ignored(step):
            continue
        here, name = f"{pointer}/{i}", fieldpath.item(label, i)
        if i >= len(b):
            if _wanted(a[i], step, opts):
                yield Change(here, "removed", a[i], None, name)
        elif i >= len(a):
            if _wanted(b[i], step, opts):
                yield Change(here, "added", None, b[i], name)
        else:
            yield from _walk(a[i], b[i], items, here, name, opts, step)


def _wanted(value: Any, path: tuple[Step, ...], opts: Options) -> bool:
    """Whether a value added or removed at ``path`` holds something ``--only`` asks for."""
    if opts.wanted_whole(path):
        return True
    if isinstance(value, dict):
        return any(not opts.ignored(path + ((k, None),)) and _wanted(v, path + ((k, None),), opts)
                   for k, v in value.items())
    if isinstance(value, list):
        return any(not opts.ignored(path + ((str(i), str(i)),)) and _wanted(v, path + ((str(i), str(i)),), opts)
                   for i, v in enumerate(value))
    return False


def prepare(record: dict[str, Any]) -> dict[str, Any]:
    """Bring a record to the current version (legacy included); one that does not validate against its
    own version is refused (:class:`ProcrecordError`): a diff by the schema's meaning of a record that breaks
    the schema would be no answer."""
    from procrecord.errors import ProcrecordError
    from procrecord.operations.migration import upgrade
    from procrecord.record.validation import validate_versioned

    version, violations = validate_versioned(record)
    if violations:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise ProcrecordError(f"does not validate against schema {version}: {first.path}: {first.message}{more}")
    return upgrade(record, checked=True)


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

    patched: dict[str, Any] = jsonpatch.apply_patch(doc, patch, in_place=False)
    return patched


def verify_patch(patch: list[dict[str, Any]], a: dict[str, Any], b: dict[str, Any], options: Options) -> bool:
    """True when applying ``patch`` to ``a`` leaves no reported difference to ``b``."""
    return not list(_walk(apply_patch(a, patch), b, policy(current_version()), "", "", options))
