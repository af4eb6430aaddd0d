"""Records for the export tests: released fixtures upgraded to the current version, with 1.1 fields added."""

from __future__ import annotations

import copy

from procrecord.operations.migration import upgrade
from procrecord.record.schemas import current_version
from procrecord.record.validation import validate

from helpers import FIXTURES, load_json

ROOT_ID = "11111111-2222-4333-8444-555555555555"
CHILD_ID = "66666666-7777-4888-9999-aaaaaaaaaaaa"
DIGEST = "ab" * 32


def current(name: str, version: str = "1.0") -> dict:
    """A released fixture upgraded to the version the writer writes."""
    return upgrade(load_json(FIXTURES / version / "valid" / name), current_version())


def pipeline() -> tuple[dict, dict]:
    """A root run (prepare) and its child (fit) that reads the root's output: lineage, artifacts, container."""
    root = current("cpu-batch.json")
    root.update(id=ROOT_ID, name="prepare", status="completed")
    root["outputs"] = [{"uri": "/data/prepared", "role": "train-data", "kind": "folder", "size_bytes": 4096,
                        "file_count": 3, "sha256": DIGEST}]
    child = current("gpu-training.json")
    child.update(id=CHILD_ID, name="fit")
    child["parent"] = {"id": ROOT_ID, "name": "prepare"}
    child["root"] = {"id": ROOT_ID}
    child["inputs"] = [{"uri": "/data/prepared", "role": "train-data", "kind": "folder", "size_bytes": 4096,
                        "file_count": 3, "sha256": DIGEST},
                       {"uri": "s3://bucket/weights/base.pt", "role": "model", "kind": "uri"}]
    child["outputs"] = [{"uri": "/runs/fit/model.pt", "role": "model", "kind": "file", "size_bytes": 1234,
                         "sha256": "cd" * 32, "media_type": "application/octet-stream",
                         "mtime": "2026-11-20T11:49:40+00:00"}]
    child["distributed"] = {"launcher": "torchrun", "rank": 0, "local_rank": 0, "world_size": 2,
                            "local_world_size": 2, "node_rank": 0, "group_id": "job-4412987"}
    child["host"]["container"] = {"runtime": "docker", "image_name": "ghcr.io/geo/train:1.2",
                                  "image_digest": "sha256:" + "ef" * 32}
    for record in (root, child):
        assert validate(record) == [], validate(record)
    return root, child


def failed() -> dict:
    """A failed run with an error and traceback."""
    return current("failed-traceback.json")


def with_config(record: dict, config: dict, record_id: str) -> dict:
    """A copy of ``record`` with another config and id."""
    out = copy.deepcopy(record)
    out["id"] = record_id
    out["invocation"]["config"] = config
    return out
