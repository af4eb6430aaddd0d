"""kwcoco info lists: a record is an item with type 'procrecord' that type-dispatching readers skip."""

from __future__ import annotations

import copy

import pytest

from procrecord.kwcoco import embed
from procrecord.operations.migration import downgrade
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate
from procrecord.writer.recorder import Recorder

from helpers import FIXTURES, load_json


def find_info_items(info, query_type, query_name=None):
    """What geowatch's reader does: index item['type'] on every item of the list."""
    for item in info:
        if item["type"] == query_type and (query_name is None or item["properties"]["name"] == query_name):
            yield item


def test_a_written_record_carries_the_item_type():
    record = Recorder("job", collectors=[], use_plugins=False).start().stop()
    assert record["type"] == "procrecord"


def test_embed_a_1_0_record_into_a_dataset_dict_keeps_the_reader_working():
    legacy = load_json(FIXTURES / "0" / "valid" / sorted(p.name for p in (FIXTURES / "0" / "valid").glob("*.json"))[0])
    dataset = {"info": [legacy], "images": []}
    record = load_json(FIXTURES / "1.0" / "valid" / "cpu-batch.json")
    before = copy.deepcopy(record)
    item = embed(record, dataset)
    assert record == before  # the caller's record is untouched
    assert item["type"] == "procrecord" and item["schema_version"] == current_version()
    assert validate(item) == []
    assert list(find_info_items(dataset["info"], "process")) == [legacy]
    with pytest.raises(KeyError):  # what a 1.0 record without a type did to that reader
        list(find_info_items([dict(record)], "process"))


def test_embed_into_a_result_dict_and_replace_by_id():
    result = {"meta": {"info": []}, "result": [1, 2]}
    record = Recorder("job", collectors=[], use_plugins=False).start().stop()
    embed(record, result)
    embed(record, result)
    assert len(result["meta"]["info"]) == 1 and "info" not in result
    empty = {}
    embed(record, empty)
    assert empty["info"][0]["id"] == record["id"]


def test_embed_into_an_object_with_a_dataset_attribute():
    class Coco:
        def __init__(self):
            self.dataset = {"images": []}

    coco = Coco()
    record = Recorder("job", collectors=[], use_plugins=False).start().stop()
    embed(record, coco)
    assert coco.dataset["info"][0]["type"] == "procrecord"
    with pytest.raises(TypeError):
        embed(record, [])
    with pytest.raises(TypeError):
        embed(record, {"info": {"not": "a list"}})


def test_a_1_1_record_downgraded_to_legacy_reads_as_a_process_item():
    record = Recorder("job", config={"lr": 0.1}, collectors=["invocation"], use_plugins=False).start().stop()
    legacy, _ = downgrade(record, "0")
    found = list(find_info_items([legacy], "process", "job"))
    assert found and found[0]["properties"]["config"] == {"lr": 0.1}
