"""Generate ``procrecord/record/model.py`` (attrs classes of one schema version) from that version's schema.

The model is derived, never hand-kept: ``python -m procrecord.record._modelgen`` rewrites it from the newest
bundled schema (``--version V`` for another, ``--check`` to only compare), and a test fails when the
committed file differs from what this module generates. Naming: a nested object's class is named after
its property (``host`` -> ``Host``, array items singular: ``packages`` -> ``Package``); ``_NAMES`` keeps
the few established names that rule would change, and a clash is resolved by prefixing the parent's
name, so any new section of a future schema gets a class without editing this module.
"""

from __future__ import annotations

import argparse
import json
import keyword
import sys
import textwrap
from pathlib import Path
from typing import Any

from procrecord.errors import SchemaError

#: Class names kept from the hand-written model that preceded the generator (by JSON pointer).
_NAMES = {
    "": "Record",
    "/redaction/scrubbed/*": "ScrubEntry",
    "/collection/collectors/*": "CollectorResult",
    "/outcome/error": "ErrorInfo",
    "/host/os": "OS",
    "/host/cpu": "CPU",
    "/inputs/*": "Artifact",
    "/usage/cpu_percent": "Summary",
    "/usage/series/*": "UsagePoint",
}
_SCALARS = {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "None"}
_WIDTH = 100


def _shape(node: Any) -> Any:
    """``node`` without what does not change the Python type: descriptions and ``x-`` annotations."""
    if isinstance(node, dict):
        return {k: _shape(v) for k, v in node.items() if k not in ("description", "title") and not k.startswith("x-")}
    if isinstance(node, list):
        return [_shape(v) for v in node]
    return node


class _Class:
    """One attrs class to emit: its name, docstring and ``(field, annotation, default, rename)`` rows."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.doc = doc
        self.fields: list[tuple[str, str, str | None, str | None]] = []


class _Generator:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self.classes: list[_Class] = []
        self.taken: set[str] = set()
        #: Objects of one shape (annotations and descriptions aside) share a class: inputs and
        #: outputs are both ``Artifact``s, the usage summaries all ``Summary``s.
        self.by_shape: dict[str, str] = {}

    def class_for(self, node: dict[str, Any], pointer: str, parent: str) -> str:
        shape = json.dumps(_shape(node), sort_keys=True)
        if shape in self.by_shape:
            return self.by_shape[shape]
        name = self._name(pointer, parent)
        self.by_shape[shape] = name
        cls = _Class(name, node.get("description") or node.get("title") or f"The object at {pointer or '/'}.")
        required = set(node.get("required", ()))
        for prop, sub in node.get("properties", {}).items():
            sub = self.resolve(sub, f"{pointer}/{prop}")
            annotation = self.annotation(sub, f"{pointer}/{prop}", name)
            nullable = _allows_null(sub)
            if prop in required:
                default = _lit(sub["const"]) if "const" in sub else None
            elif nullable:
                annotation = f"{annotation} | Absent"
                default = "ABSENT"
            else:
                annotation = f"{annotation} | None"
                default = "None"
            attr = f"{prop}_" if keyword.iskeyword(prop) else prop
            if not attr.isidentifier():
                raise SchemaError(f"{pointer}/{prop}: property name is not a Python identifier")
            cls.fields.append((attr, annotation, default, prop if attr != prop else None))
        self.classes.append(cls)
        return name

    def _name(self, pointer: str, parent: str) -> str:
        if pointer in _NAMES:
            name = _NAMES[pointer]
        else:
            last = pointer.rsplit("/", 2)
            word = last[-2] if last[-1] == "*" else last[-1]
            if last[-1] == "*" and word.endswith("s") and not word.endswith("ss"):
                word = word[:-1]
            name = "".join(part[:1].upper() + part[1:] for part in word.replace("-", "_").split("_"))
        if name in self.taken:
            name = parent + name
        if name in self.taken or not name.isidentifier():
            raise SchemaError(f"{pointer}: cannot name a model class for it ({name!r})")
        self.taken.add(name)
        return name

    def resolve(self, node: dict[str, Any], pointer: str) -> dict[str, Any]:
        ref = node.get("$ref")
        if ref is None:
            return node
        if not ref.startswith("#/"):
            raise SchemaError(f"{pointer}: only local $ref is supported by the model generator, not {ref!r}")
        target: Any = self.schema
        for token in ref[2:].split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return {**target, **{k: v for k, v in node.items() if k != "$ref"}}

    def annotation(self, node: dict[str, Any], pointer: str, parent: str) -> str:
        node = self.resolve(node, pointer)
        if "const" in node:
            return f"Literal[{_lit(node['const'])}]"
        if "enum" in node:
            values = [v for v in node["enum"] if v is not None]
            inner = f"Literal[{', '.join(_lit(v) for v in values)}]"
            return f"{inner} | None" if None in node["enum"] else inner
        for combiner in ("anyOf", "oneOf"):
            if combiner in node:
                parts = [self.annotation(sub, pointer, parent) for sub in node[combiner]]
                return " | ".join(dict.fromkeys(parts))
        kind = node.get("type")
        if kind is None:
            return "Any"
        if isinstance(kind, list):
            parts = [self.annotation({**node, "type": k}, pointer, parent) for k in kind if k != "null"]
            joined = " | ".join(dict.fromkeys(parts)) or "None"
            return f"{joined} | None" if "null" in kind and parts else joined
        if kind == "array":
            items = node.get("items")
            inner = self.annotation(items, f"{pointer}/*", parent) if isinstance(items, dict) else "Any"
            return f"list[{inner}]"
        if kind == "object":
            if node.get("properties"):
                return self.class_for(node, pointer, parent)
            extra = node.get("additionalProperties", True)
            value = self.annotation(extra, f"{pointer}/+", parent) if isinstance(extra, dict) else "Any"
            return f"dict[str, {value}]"
        if kind in _SCALARS:
            return _SCALARS[kind]
        raise SchemaError(f"{pointer}: type {kind!r} has no model type")


def _lit(value: Any) -> str:
    """A Python literal of a JSON scalar, strings in double quotes like the rest of the code."""
    return json.dumps(value) if isinstance(value, str) else repr(value)


def _allows_null(node: dict[str, Any]) -> bool:
    kind = node.get("type")
    if kind is None and "const" not in node and "enum" not in node and "properties" not in node:
        return True  # an untyped value (config) may be null
    if isinstance(kind, list) and "null" in kind:
        return True
    return None in node.get("enum", ()) or ("const" in node and node["const"] is None)


def generate(schema: dict[str, Any], version: str) -> str:
    """The source text of ``model.py`` for ``schema`` (a whole record schema of ``version``)."""
    gen = _Generator(schema)
    gen.class_for(schema, "", "")
    out = [
        f'"""The record model of schema version {version}: attrs classes, one per object of the schema.',
        "",
        f"GENERATED by procrecord.record._modelgen from procrecord-{version}.schema.json; do not edit. Regenerate",
        "with ``python -m procrecord.record._modelgen``. An optional field the record leaves out is ``None``, or",
        "``ABSENT`` where the schema also allows ``null`` (there ``None`` means ``null``). Convert with",
        "``procrecord.record.reader.make_converter()``.",
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "import enum",
        "from typing import Any, Literal",
        "",
        "import attrs",
        "",
        f"SCHEMA_VERSION = {_lit(version)}",
        "",
        "",
        "class Absent(enum.Enum):",
        '    """The type of ``ABSENT``: a field left out where ``None`` would mean JSON ``null``."""',
        "",
        '    ABSENT = "absent"',
        "",
        "    def __bool__(self) -> bool:",
        '        """False, as ``None`` is: ``if rec.outcome.exit_code:`` and ``rec.name or default`` read it as nothing."""',
        "        return False",
        "",
        "",
        "ABSENT = Absent.ABSENT",
        "",
        "#: JSON names that differ from the attribute names (Python keywords get a trailing ``_``).",
        f"RENAMED: dict[str, dict[str, str]] = {_renamed(gen.classes)!r}",
    ]
    for cls in gen.classes:
        out += ["", "", "@attrs.define(kw_only=True)", f"class {cls.name}:"]
        out += _docstring(cls.doc)
        out.append("")
        for attr, annotation, default, _ in cls.fields:
            row = f"    {attr}: {annotation}" + ("" if default is None else f" = {default}")
            out.append(row)
    return "\n".join(out) + "\n"


def _renamed(classes: list[_Class]) -> dict[str, dict[str, str]]:
    return {c.name: {a: r for a, _, _, r in c.fields if r} for c in classes if any(r for *_, r in c.fields)}


def _docstring(text: str) -> list[str]:
    text = " ".join(text.split()).replace('"""', "'''").replace("\\", "\\\\")
    if len(text) + 10 <= _WIDTH:
        return [f'    """{text}"""']
    lines = textwrap.wrap(text, _WIDTH - 4)
    return ['    """' + lines[0], *("    " + line for line in lines[1:]), '    """']


def model_path() -> Path:
    """Where the committed model lives (next to this module)."""
    return Path(__file__).resolve().parent / "model.py"


def main(argv: list[str] | None = None) -> int:
    """Write (or with ``--check`` compare) ``model.py`` for a schema version; exit 1 when it differs."""
    from procrecord.record.schemas import current_version, schema_path

    parser = argparse.ArgumentParser(prog="python -m procrecord.record._modelgen", description=main.__doc__)
    parser.add_argument("--version", default=None, help="schema version (default: the newest bundled)")
    parser.add_argument("--check", action="store_true", help="only compare with the committed model.py")
    parser.add_argument("--output", type=Path, default=None, help="write here instead of procrecord/record/model.py")
    args = parser.parse_args(argv)
    version = args.version or current_version()
    text = generate(json.loads(schema_path(version).read_text(encoding="utf-8")), version)
    target = args.output or model_path()
    if args.check:
        same = target.is_file() and target.read_text(encoding="utf-8") == text
        if not same:
            print(f"{target} is out of date: run python -m procrecord.record._modelgen", file=sys.stderr)
        return 0 if same else 1
    target.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
