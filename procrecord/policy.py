"""The tools' policy, read from the schema's annotations (``x-redact``, ``x-scrub``, ``x-volatile``, ``x-key``).

Kept apart from :mod:`procrecord.redaction` so the writer can ask "is this section removed at
this level?" without loading the scrubbing rules.
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple, Optional

from procrecord.schemas import load_schema

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
    children: Optional[dict[str, "Node"]] = None
    items: Optional["Node"] = None
    volatile: bool = False
    key: Optional[str] = None


def _node(schema: dict[str, Any]) -> Node:
    children = None
    if "properties" in schema:
        children = {name: _node(sub) for name, sub in schema["properties"].items()}
    items = schema.get("items")
    return Node(
        redact=schema.get("x-redact", "never"),
        scrub=bool(schema.get("x-scrub", False)),
        pseudonymize=bool(schema.get("x-pseudonymize", False)),
        identifier=schema.get("x-identifier"),
        children=children,
        items=_node(items) if isinstance(items, dict) else None,
        volatile=bool(schema.get("x-volatile", False)),
        key=schema.get("x-key"),
    )


@functools.lru_cache(maxsize=None)
def policy(version: str) -> Node:
    """The redaction policy tree of schema ``version``, read from its annotations."""
    return _node(load_schema(version))
