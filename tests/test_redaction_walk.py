"""The generated redaction walk (code written and exec'd per schema version and level, kept for speed:
benchmarks/bench_transforms.py) against a plain interpreted walk of the same policy tree, written here."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord import reader
from procrecord.pointer import escape
from procrecord.policy import RANK, Node, policy
from procrecord.redaction import _Context, _scrub_any, _walker, scrubber_for
from procrecord.schemas import current_version
from strategies import json_values, records

CONVERTER = reader.make_converter()
KEY = b"k" * 40


def plain_walk(value: Any, node: Node, rank: int, ctx: _Context, pointer: str = "", scrub: bool = False) -> Any:
    """What redaction does to ``value`` at ``pointer``, read straight from the policy tree."""
    if node.children is not None:
        return _plain_object(value, node, rank, ctx, pointer, scrub)
    items = node.items
    if items is None or items.children is None:
        return _scrub_any(value, pointer, ctx) if scrub else value
    if not isinstance(value, list) or type(value) is not list:
        return _scrub_any(value, pointer, ctx) if scrub else value
    return [plain_walk(x, items, rank, ctx, f"{pointer}/{i}", scrub) for i, x in enumerate(value)]


def _plain_object(value: Any, node: Node, rank: int, ctx: _Context, pointer: str, scrub: bool) -> Any:
    children = node.children or {}
    if type(value) is not dict:
        return _scrub_any(value, pointer, ctx) if scrub else value
    if scrub:  # names the schema does not know are free-form: scrubbed as such
        out = {k: v if k in children else _scrub_any(v, f"{pointer}/{escape(k)}", ctx) for k, v in value.items()}
    else:
        out = dict(value)
    for name, child in children.items():
        if name not in out:
            continue
        here = f"{pointer}/{escape(name)}"
        if child.redact != "never" and RANK[child.redact] <= rank:
            token = ctx.pseudonymize(out[name], here) if child.pseudonymize else None
            if not child.pseudonymize:
                ctx.removed.append(here)
            if token is None:
                del out[name]
            else:
                out[name] = token
        elif scrub or child.scrub:
            out[name] = plain_walk(out[name], child, rank, ctx, here, True)
        else:
            out[name] = plain_walk(out[name], child, rank, ctx, here, False)
    return out


def _context(record: dict[str, Any], level: str, key: bytes | None) -> _Context:
    return _Context(level, scrubber_for(record, current_version()), key, set())


sections = st.sampled_from(["host", "invocation", "outcome", "python", "git", "devices", "disks", "extra", "emissions"])


@st.composite
def record_dicts(draw: Any) -> dict[str, Any]:
    """Valid records, some with a section (or a value inside one) replaced by arbitrary JSON."""
    record = reader.to_dict(draw(records), CONVERTER)
    for section in draw(st.lists(sections, max_size=2, unique=True)):
        if draw(st.booleans()) and isinstance(record.get(section), dict) and record[section]:
            field = draw(st.sampled_from(sorted(record[section])))
            record[section][field] = draw(json_values)
        else:
            record[section] = draw(json_values)
    return record


@settings(max_examples=300, deadline=None)
@given(record_dicts(), st.sampled_from(["most", "all"]), st.sampled_from([None, KEY]))
def test_generated_walk_equals_the_plain_walk(record, level, key):
    before = copy.deepcopy(record)
    generated_ctx, plain_ctx = _context(record, level, key), _context(record, level, key)
    generated = _walker(current_version(), level)(record, generated_ctx)
    plain = plain_walk(record, policy(current_version()), RANK[level], plain_ctx)
    assert generated == plain
    assert generated_ctx.removed == plain_ctx.removed
    assert generated_ctx.found == plain_ctx.found
    assert generated_ctx.pseudonymized == plain_ctx.pseudonymized
    assert record == before, "the input is never modified"
