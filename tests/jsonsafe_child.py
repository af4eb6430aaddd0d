"""Object graphs for tests/test_jsonsafe.py, built from a JSON spec; run as a script, it converts them.

Not a test module: as a script it reads one spec per line on stdin and answers each with one line,
``procrecord.jsonsafe.to_json`` of the graph, so that two fresh processes (other addresses, other
string hashes) can be compared.

A spec is a list of nodes ``{"cls": name, "attrs": {name: ref}}``; a ref is ``["node", i]``,
``["int", n]``, ``["str", s]``, ``["list", [ref, ...]]``, ``["key", i]`` (``{node i: 1}``) or
``["set", [i, ...]]`` (a set of nodes and strings). The config is ``{"root": node 0, "all": nodes}``.
"""

from __future__ import annotations

import json
import sys
from typing import Any


class Plain:
    pass


class Slotted:
    __slots__ = ("a", "b", "c", "d", "_hidden")


class HexRepr:  # its own repr, with an address in it
    def __repr__(self) -> str:
        return f"HexRepr(id={hex(id(self))})"


class AtRepr:  # its own repr, address in the usual shape
    def __repr__(self) -> str:
        return f"<AtRepr at {hex(id(self))}>"


class NoRepr:  # nothing public, object's repr
    def __init__(self) -> None:
        self._private = 1


CLASSES = {cls.__name__: cls for cls in (Plain, Slotted, HexRepr, AtRepr, NoRepr)}


def build(spec: list[dict[str, Any]]) -> dict[str, Any]:
    nodes = [CLASSES[node["cls"]]() for node in spec]

    def value(ref: list[Any]) -> Any:
        kind, arg = ref
        if kind == "node":
            return nodes[arg]
        if kind in ("int", "str"):
            return arg
        if kind == "list":
            return [value(r) for r in arg]
        if kind == "key":
            return {nodes[arg]: 1}
        return {nodes[i] for i in arg} | {f"s{i}" for i in arg}

    for node, part in zip(nodes, spec):
        for name, ref in part["attrs"].items():
            if not isinstance(node, Slotted) or name in Slotted.__slots__:
                setattr(node, name, value(ref))
    return {"root": nodes[0], "all": nodes}


if __name__ == "__main__":
    from procrecord.jsonsafe import to_json

    for line in sys.stdin:
        print(json.dumps(to_json(build(json.loads(line))), sort_keys=False), flush=True)
