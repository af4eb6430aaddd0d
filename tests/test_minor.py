"""Steps between minor versions (1.0 <-> 1.1): derived from the schemas, lossless up, reported down."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from procrecord.operations.migration import chain, downgrade, upgrade
from procrecord.operations.minor import minor_pairs, prune
from procrecord.record.validation import validate

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
V10 = sorted((FIXTURES / "1.0" / "valid").glob("*.json"))


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def test_every_minor_pair_is_registered_both_ways():
    assert ("1.0", "1.1") in minor_pairs()
    for older, newer in minor_pairs():
        assert chain(older, newer) == [(older, newer)]
        assert chain(newer, older) == [(newer, older)]
    # legacy records go to and from a later minor in one step (validated once after it)
    assert chain("0", "1.1") == [("0", "1.1")]
    assert chain("1.1", "0") == [("1.1", "0")]


def test_legacy_to_1_1_in_one_step_equals_the_chain_through_1_0():
    for path in sorted((FIXTURES / "0" / "valid").glob("*.json")):
        record = _load(path)
        direct = upgrade(record, "1.1")
        through = upgrade(upgrade(record, "1.0"), "1.1")
        assert direct == through, path.name
        assert downgrade(direct, "0") == downgrade(through, "0")


@pytest.mark.parametrize("path", V10, ids=lambda p: p.stem)
def test_1_0_to_1_1_to_1_0_is_the_identity(path):
    record = _load(path)
    before = copy.deepcopy(record)
    up = upgrade(record, "1.1")
    assert up["schema_version"] == "1.1" and up["type"] == "procrecord"
    assert {k: v for k, v in up.items() if k not in ("schema_version", "type")} == {
        k: v for k, v in record.items() if k != "schema_version"}
    assert validate(up, "1.1") == []
    down, dropped = downgrade(up, "1.0")
    assert down == record and dropped == []
    assert record == before  # the input is never modified


def _with_new_fields(record: dict) -> dict:
    out = upgrade(record, "1.1")
    out = copy.deepcopy(out)
    out["inputs"] = [{"uri": "/data/train.csv", "role": "train-data", "kind": "file", "size_bytes": 3,
                      "sha256": "a" * 64}]
    out["parent"] = {"id": "0b0e3c1e-8a31-4f0a-9d52-3f3f4bd5e2a1", "name": "pipeline"}
    out.setdefault("host", {})["container"] = {"runtime": "apptainer", "image_name": "train.sif"}
    return out


def test_downgrade_to_1_0_drops_only_the_new_fields_and_says_which():
    record = _load(FIXTURES / "1.0" / "valid" / "cpu-batch.json")
    newer = _with_new_fields(record)
    assert validate(newer, "1.1") == []
    down, dropped = downgrade(newer, "1.0")
    assert validate(down, "1.0") == []
    assert dropped == sorted(["/inputs", "/parent", "/host/container/runtime",
                              "/host/container/image_name"])
    assert down["host"]["container"] == {}
    assert {k: v for k, v in down.items() if k != "host"} == {k: v for k, v in record.items() if k != "host"}


@pytest.mark.parametrize("path", sorted((FIXTURES / "1.1" / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_1_1_to_1_0_to_1_1_keeps_all_but_what_the_downgrade_reports(path):
    """The item type the writer writes comes back (key order too); what the downgrade drops is listed."""
    record = _load(path)
    down, dropped = downgrade(record, "1.0")
    back = upgrade(down, "1.1")
    assert back["type"] == record["type"] == "procrecord" and "/type" not in dropped
    assert list(back) == [k for k in record if f"/{k}" not in dropped]
    if not dropped:
        assert back == record


def test_an_upgrade_from_0_puts_the_item_type_where_the_writer_does():
    for path in sorted((FIXTURES / "0" / "valid").glob("*.json")):
        out = upgrade(_load(path), "1.1")
        assert list(out)[:3] == ["schema_version", "record_type", "type"] and out["type"] == "procrecord", path.name


def test_downgrade_of_1_1_reaches_the_legacy_shape():
    record = _with_new_fields(_load(FIXTURES / "1.0" / "valid" / "cpu-batch.json"))
    legacy, dropped = downgrade(record, "0")
    assert legacy["type"] == "process" and "properties" in legacy
    assert "/inputs" in dropped and "/parent" in dropped


def test_prune_shares_untouched_subtrees_and_never_modifies_its_input():
    record = _with_new_fields(_load(FIXTURES / "1.0" / "valid" / "gpu-training.json"))
    before = copy.deepcopy(record)
    out, _ = prune(record, "1.0")
    assert record == before
    assert out["python"] is record["python"]
