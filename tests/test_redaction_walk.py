"""The generated redaction walk (code written and exec'd per schema version and level, kept for speed:
benchmarks/bench_transforms.py) against a plain interpreted walk of the same policy tree, written here."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.operations import redaction
from procrecord.operations.redaction import _Context, _scrub_any, _walker, scrubber_for
from procrecord.pointer import escape
from procrecord.record import reader
from procrecord.record.policy import RANK, Node, _node, policy
from procrecord.record.schemas import current_version, iter_properties, load_schema

from helpers import FIXTURES
from strategies import json_values, names, records

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


def _objects(value: Any) -> list[dict[str, Any]]:
    found = [value] if isinstance(value, dict) else []
    for sub in value.values() if isinstance(value, dict) else value if isinstance(value, list) else ():
        found += _objects(sub)
    return found


@st.composite
def record_dicts(draw: Any) -> dict[str, Any]:
    """Valid records, some with a section (or a value inside one) replaced by arbitrary JSON, and some
    objects given keys the schema does not name."""
    record = reader.to_dict(draw(records), CONVERTER)
    for section in draw(st.lists(sections, max_size=2, unique=True)):
        if draw(st.booleans()) and isinstance(record.get(section), dict) and record[section]:
            field = draw(st.sampled_from(sorted(record[section])))
            record[section][field] = draw(json_values)
        else:
            record[section] = draw(json_values)
    objects = _objects(record)
    for _ in range(draw(st.integers(0, 3))):
        draw(st.sampled_from(objects))[draw(names)] = draw(json_values | st.just("token ghp_" + "a" * 36))
    return record


#: Objects (and arrays of objects) of the schema: a variant policy may mark any of them ``x-scrub``.
_STRUCTURED = sorted(p for p, sub, _ in iter_properties(load_schema(current_version()))
                     if "*" not in p and ("properties" in sub or "properties" in (sub.get("items") or {})))


@st.composite
def variant_cases(draw: Any) -> tuple[Node, dict[str, Any]]:
    """The current schema's policy with some structured properties marked ``x-scrub: true`` (as a
    later schema may), so the generator's scrubbed-object and scrubbed-array branches run too; and a
    record whose objects there carry keys the schema does not name."""
    schema = json.loads(json.dumps(load_schema(current_version())))
    record = draw(record_dicts())
    for pointer in draw(st.lists(st.sampled_from(_STRUCTURED), min_size=1, max_size=3, unique=True)):
        node, value = schema, record
        for token in pointer.split("/")[1:]:
            node = node["properties"][token]
            value = value.get(token) if isinstance(value, dict) else None
        node["x-scrub"] = True
        for target in _objects(value)[:2]:
            target[draw(names)] = draw(st.sampled_from(["token ghp_" + "a" * 36, "/home/alice/x", 3]))
    return _node(schema), record


def _check(record: dict[str, Any], tree: Node, level: str, key: bytes | None, walk: Any) -> None:
    before = copy.deepcopy(record)
    generated_ctx, plain_ctx = _context(record, level, key), _context(record, level, key)
    generated = walk(record, generated_ctx)
    plain = plain_walk(record, tree, RANK[level], plain_ctx)
    assert generated == plain
    assert generated_ctx.removed == plain_ctx.removed
    assert generated_ctx.found == plain_ctx.found
    assert generated_ctx.pseudonymized == plain_ctx.pseudonymized
    assert record == before, "the input is never modified"


@settings(max_examples=100, deadline=None)
@given(record_dicts(), st.sampled_from(["most", "all"]), st.sampled_from([None, KEY]))
def test_generated_walk_equals_the_plain_walk(record, level, key):
    _check(record, policy(current_version()), level, key, _walker(current_version(), level))


@settings(max_examples=60, deadline=None)
@given(variant_cases(), st.sampled_from(["most", "all"]), st.sampled_from([None, KEY]))
def test_generated_walk_of_a_variant_policy_equals_the_plain_walk(case, level, key):
    tree, record = case
    version = current_version()
    original = redaction.policy
    redaction.policy = lambda v: tree if v == version else original(v)  # the walk of this tree, generated
    try:
        walk = _walker(version, level)
    finally:
        redaction.policy = original
    _check(record, tree, level, key, walk)


def test_a_clean_list_of_free_text_objects_is_shared_and_remembered_at_first_sight():
    """Package entries seen for the first time are scrubbed, found clean, and the list is the input's (not
    a copy of it); its text is then known clean, so the next record of another host skips the items."""
    record = json.loads((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text())
    record.pop("redaction", None)
    record["host"]["hostname"] = "first-sight-node"
    packages = [{"name": f"firstsight-pkg-{i}", "version": f"1.{i}.0"} for i in range(5)]
    record["python"]["packages"] = packages
    out = redaction.redact(record, "most")
    assert out["python"]["packages"] is packages
    other = copy.deepcopy(record)
    other["host"]["hostname"] = "second-sight-node"
    assert scrubber_for(other, "1.0").known_clean(json.dumps(packages, separators=(",", ":")).encode())


def _with_config(config: dict) -> dict:
    record = json.loads((FIXTURES / "1.0" / "valid" / "gpu-training.json").read_text())
    record.pop("redaction", None)
    record["host"]["hostname"] = "memo-test-node"
    record["invocation"]["config"] = config
    return record


def test_a_section_scrubbed_again_gives_the_same_result_as_the_first_time_and_a_copy_of_its_own():
    """A config section that holds a secret is the same in every run: from its second sight its result is
    remembered (Scrubber.scrubbed). Every record gets what a fresh scrubber makes of it, in objects of its own."""
    section = {"wandb_token": "wandb-remembered-secret-123", "project": "geo", "paths": {"out": "/home/jdoe/x"}}
    outs = [redaction.redact(_with_config({"logging": copy.deepcopy(section), "seed": i}), "most") for i in range(6)]
    redaction._scrubber.cache_clear()
    fresh = redaction.redact(_with_config({"logging": copy.deepcopy(section), "seed": 3}), "most")
    assert outs[3] == fresh and outs[3]["redaction"] == fresh["redaction"]  # (records 3 to 5: the remembered result)
    assert "wandb-remembered-secret-123" not in json.dumps(outs)
    outs[4]["invocation"]["config"]["logging"]["project"] = "changed"
    assert outs[5]["invocation"]["config"]["logging"]["project"] == "geo"
    assert outs[4]["invocation"]["config"]["logging"]["paths"] is not outs[5]["invocation"]["config"]["logging"]["paths"]


def test_a_remembered_section_keeps_a_nan_it_holds():
    """JSON text has no NaN (orjson writes null): a section holding one is never given back from its text."""
    section = {"api_key": "sk-nan-section-secret-0001", "score": float("nan")}
    for _ in range(5):  # (remembered at its second sight in a known mapping: the third record's)
        out = redaction.redact(_with_config({"logging": dict(section)}), "most")
        score = out["invocation"]["config"]["logging"]["score"]
        assert isinstance(score, float) and score != score
