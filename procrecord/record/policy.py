"""The tools' policy, read from the schema's annotations (``x-redact``, ``x-scrub``, ``x-volatile``, ``x-key``).

Kept apart from :mod:`procrecord.operations.redaction` so the writer can ask "is this section removed at
this level?" without loading the scrubbing rules.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

from procrecord.record.schemas import load_schema

LEVELS = ("none", "most", "all")
RANK = {"none": 0, "most": 1, "all": 2}


def removes(annotation: str, level: str) -> bool:
    """True when a property annotated ``x-redact: annotation`` is removed at ``level``."""
    return annotation != "never" and RANK[annotation] <= RANK[level]


class Node(NamedTuple):
    """The annotations of one schema location that drive the tools (a tuple: the writer imports no attrs).

    ``redact``/``scrub``/``pseudonymize``/``identifier`` drive redaction; ``volatile`` and ``key``
    (identity of array items) drive diff.
    """

    redact: str = "never"
    scrub: bool = False
    pseudonymize: bool = False
    identifier: Optional[str] = None
    children: Optional[dict[str, Node]] = None
    items: Optional[Node] = None
    volatile: bool = False
    #: The field(s) that identify an array's items: one name, or a tuple of names (artifacts by role and uri).
    key: Optional[str | tuple[str, ...]] = None
    #: Lowest level rank at which something below this node is removed (3: never), and whether
    #: anything below is scrubbed: lets redaction skip subtrees it would leave unchanged.
    touch_below: int = 3
    scrub_below: bool = False
    #: Per level rank (none, most, all): names of the children redaction must remove, scrub or enter.
    active: tuple[frozenset[str], ...] = (frozenset(), frozenset(), frozenset())


#: Keywords that make a string field a value of a known form rather than free text.
_FORMS = ("enum", "const", "pattern", "format")


def is_free_text(schema: dict[str, Any]) -> bool:
    """True for a string field whose form the schema does not fix (no enum, const, pattern or format),
    or an array of such strings: text that may hold anything, so it is scrubbed wherever it is kept.

    Released schemas are immutable, so this rule (not an ``x-scrub`` on each field) is how such fields
    of 1.0 are scrubbed; a test walks every schema and fails on a free-text field this misses.
    """
    kind = schema.get("type")
    if kind == "array" and isinstance(schema.get("items"), dict):
        return is_free_text(schema["items"])
    if kind != "string" and not (isinstance(kind, list) and "string" in kind):
        return False
    return not any(word in schema for word in _FORMS)


def _node(schema: dict[str, Any], free: bool = True) -> Node:
    children = None
    if "properties" in schema:
        # The redaction note is the tool's own (pointers to what it changed), not the job's text.
        children = {name: _node(sub, free and name != "redaction") for name, sub in schema["properties"].items()}
    items = schema.get("items")
    item_node = _node(items, free) if isinstance(items, dict) else None
    below = list((children or {}).values()) + ([item_node] if item_node is not None else [])
    touch = min([RANK.get(n.redact, 3) if n.redact != "never" else 3 for n in below]
                + [n.touch_below for n in below] + [3])
    scrub_below = any(n.scrub or n.scrub_below for n in below)
    active = tuple(
        frozenset(name for name, child in (children or {}).items()
                  if (child.redact != "never" and RANK[child.redact] <= rank) or child.scrub or child.scrub_below
                  or child.touch_below <= rank)
        for rank in range(3)
    )
    return Node(
        redact=schema.get("x-redact", "never"),
        scrub=bool(schema.get("x-scrub", False)) or (free and is_free_text(schema)),
        pseudonymize=bool(schema.get("x-pseudonymize", False)),
        identifier=schema.get("x-identifier"),
        children=children,
        items=item_node,
        volatile=bool(schema.get("x-volatile", False)),
        key=_key(schema.get("x-key")),
        touch_below=touch,
        scrub_below=scrub_below,
        active=active,
    )


def _key(annotation: Any) -> str | tuple[str, ...] | None:
    return tuple(annotation) if isinstance(annotation, list) else annotation


#: Identity fields that released schemas (immutable files) annotate wrongly, by location: a disk is the
#: path the job asked about (``path``, required); its ``x-key`` ``mount_point`` is optional, and two
#: paths on one mount share it, so disks listed in another order were compared by position.
_KEY_FIXES: dict[tuple[str, ...], str] = {("disks",): "path"}


def _fixed(root: Node) -> Node:
    """``root`` with the identity fields of ``_KEY_FIXES`` put in (new nodes on the way, none changed)."""
    for location, key in _KEY_FIXES.items():
        nodes = [root]
        for name in location:
            child = (nodes[-1].children or {}).get(name)
            if child is None:
                break
            nodes.append(child)
        else:
            node = nodes[-1]._replace(key=key)
            for name, above in zip(reversed(location), reversed(nodes[:-1])):
                node = above._replace(children={**(above.children or {}), name: node})
            root = node
    return root


@functools.lru_cache(maxsize=None)
def policy(version: str) -> Node:
    """The redaction policy tree of schema ``version``, read from its annotations."""
    return _fixed(_node(load_schema(version)))
