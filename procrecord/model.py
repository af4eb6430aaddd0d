"""The record model of the current schema version (1.1) as attrs classes, and its converter.

Only the current version has a model; everything else works on plain dicts. ``None`` means
"absent": the converter leaves such fields out of the JSON, so a record built here validates.
"""

from __future__ import annotations

from typing import Any, Optional

import attrs

from procrecord.versions import RECORD_TYPE

SCHEMA_VERSION = "1.1"



def _opt() -> Any:
    return attrs.field(default=None)


@attrs.define
class Producer:
    name: str
    version: str


@attrs.define
class ScrubEntry:
    path: str
    rule: str
    count: int


@attrs.define
class Redaction:
    level: str
    tool: str
    tool_version: str
    removed: list[str]
    scrubbed: list[ScrubEntry]
    pseudonymized: Optional[list[str]] = _opt()
    key_fingerprint: Optional[str] = _opt()


@attrs.define
class Provenance:
    upgraded_from: Optional[str] = _opt()
    upgraded_by: Optional[str] = _opt()
    legacy: Optional[dict[str, Any]] = _opt()


@attrs.define
class CollectorResult:
    name: str
    status: str
    reason: Optional[str] = _opt()
    duration_s: Optional[float] = _opt()


@attrs.define
class Collection:
    level: Optional[str] = _opt()
    collectors: Optional[list[CollectorResult]] = _opt()


@attrs.define
class Timing:
    start_time: Optional[str] = _opt()
    stop_time: Optional[str] = _opt()
    update_time: Optional[str] = _opt()
    duration_s: Optional[float] = _opt()


@attrs.define
class Invocation:
    argv: Optional[list[str]] = _opt()
    executable: Optional[str] = _opt()
    cwd: Optional[str] = _opt()
    pid: Optional[int] = _opt()
    config: Any = _opt()
    config_notes: Optional[list[str]] = _opt()
    environment: Optional[dict[str, str]] = _opt()


@attrs.define
class ErrorInfo:
    type: str
    message: Optional[str] = _opt()
    traceback: Optional[str] = _opt()


@attrs.define
class Outcome:
    exit_code: Optional[int] = _opt()
    signal: Optional[str] = _opt()
    error: Optional[ErrorInfo] = _opt()


@attrs.define
class OS:
    name: Optional[str] = _opt()
    release: Optional[str] = _opt()
    version: Optional[str] = _opt()
    distribution: Optional[str] = _opt()


@attrs.define
class CPU:
    model: Optional[str] = _opt()
    logical_count: Optional[int] = _opt()
    physical_count: Optional[int] = _opt()
    affinity_count: Optional[int] = _opt()


@attrs.define
class Container:
    runtime: Optional[str] = _opt()
    id: Optional[str] = _opt()
    image_name: Optional[str] = _opt()
    image_digest: Optional[str] = _opt()
    pod_name: Optional[str] = _opt()
    namespace: Optional[str] = _opt()


@attrs.define
class Scheduler:
    name: Optional[str] = _opt()
    job_id: Optional[str] = _opt()
    array_task_id: Optional[str] = _opt()
    cluster: Optional[str] = _opt()
    array_job_id: Optional[str] = _opt()
    partition: Optional[str] = _opt()
    node_list: Optional[str] = _opt()
    node_count: Optional[int] = _opt()
    requested_cpus: Optional[int] = _opt()
    requested_memory_bytes: Optional[int] = _opt()
    requested_gpus: Optional[int] = _opt()
    time_limit_s: Optional[float] = _opt()
    submit_time: Optional[str] = _opt()


@attrs.define
class Host:
    hostname: Optional[str] = _opt()
    user: Optional[str] = _opt()
    home: Optional[str] = _opt()
    os: Optional[OS] = _opt()
    arch: Optional[str] = _opt()
    cpu: Optional[CPU] = _opt()
    memory_total_bytes: Optional[int] = _opt()
    container: Optional[Container] = _opt()
    scheduler: Optional[Scheduler] = _opt()


@attrs.define
class Package:
    name: str
    version: str
    installer: Optional[str] = _opt()
    editable: Optional[bool] = _opt()


@attrs.define
class Python:
    implementation: Optional[str] = _opt()
    version: Optional[str] = _opt()
    executable: Optional[str] = _opt()
    packages: Optional[list[Package]] = _opt()


@attrs.define
class Git:
    commit: Optional[str] = _opt()
    branch: Optional[str] = _opt()
    dirty: Optional[bool] = _opt()
    remote_url: Optional[str] = _opt()
    root: Optional[str] = _opt()


@attrs.define
class Resources:
    cpu_user_s: Optional[float] = _opt()
    cpu_system_s: Optional[float] = _opt()
    children_cpu_user_s: Optional[float] = _opt()
    children_cpu_system_s: Optional[float] = _opt()
    peak_rss_bytes: Optional[int] = _opt()
    children_peak_rss_bytes: Optional[int] = _opt()
    io_read_bytes: Optional[int] = _opt()
    io_write_bytes: Optional[int] = _opt()
    io_read_count: Optional[int] = _opt()
    io_write_count: Optional[int] = _opt()


@attrs.define
class Disk:
    path: str
    mount_point: Optional[str] = _opt()
    filesystem: Optional[str] = _opt()
    device: Optional[str] = _opt()
    kind: Optional[str] = _opt()
    total_bytes: Optional[int] = _opt()
    free_bytes: Optional[int] = _opt()


@attrs.define
class Device:
    index: int
    type: str
    name: Optional[str] = _opt()
    uuid: Optional[str] = _opt()
    serial: Optional[str] = _opt()
    pci_bus_id: Optional[str] = _opt()
    compute_capability: Optional[str] = _opt()
    multiprocessor_count: Optional[int] = _opt()
    memory_total_bytes: Optional[int] = _opt()
    memory_used_peak_bytes: Optional[int] = _opt()
    torch_max_allocated_bytes: Optional[int] = _opt()
    torch_max_reserved_bytes: Optional[int] = _opt()
    driver_version: Optional[str] = _opt()
    cuda_driver_version: Optional[str] = _opt()
    energy_kwh: Optional[float] = _opt()


@attrs.define
class EnergyMeasurement:
    component: str
    method: str
    energy_kwh: float
    source: Optional[str] = _opt()
    start_time: Optional[str] = _opt()
    stop_time: Optional[str] = _opt()
    duration_s: Optional[float] = _opt()


@attrs.define
class Emissions:
    energy_kwh: Optional[float] = _opt()
    cpu_energy_kwh: Optional[float] = _opt()
    gpu_energy_kwh: Optional[float] = _opt()
    ram_energy_kwh: Optional[float] = _opt()
    emissions_kg: Optional[float] = _opt()
    country_iso_code: Optional[str] = _opt()
    region: Optional[str] = _opt()
    tracking_mode: Optional[str] = _opt()
    tool: Optional[str] = _opt()
    tool_version: Optional[str] = _opt()
    run_id: Optional[str] = _opt()
    country_assumed: Optional[bool] = _opt()
    measurements: Optional[list[EnergyMeasurement]] = _opt()


@attrs.define
class Artifact:
    uri: str
    role: Optional[str] = _opt()
    kind: Optional[str] = _opt()
    size_bytes: Optional[int] = _opt()
    file_count: Optional[int] = _opt()
    sha256: Optional[str] = _opt()
    media_type: Optional[str] = _opt()
    mtime: Optional[str] = _opt()
    digest_skipped: Optional[str] = _opt()


@attrs.define
class Parent:
    id: str
    name: Optional[str] = _opt()


@attrs.define
class Root:
    id: str


@attrs.define
class Distributed:
    launcher: Optional[str] = _opt()
    rank: Optional[int] = _opt()
    local_rank: Optional[int] = _opt()
    world_size: Optional[int] = _opt()
    local_world_size: Optional[int] = _opt()
    node_rank: Optional[int] = _opt()
    group_id: Optional[str] = _opt()


@attrs.define
class Summary:
    mean: Optional[float] = _opt()
    p95: Optional[float] = _opt()
    max: Optional[float] = _opt()


@attrs.define
class UsagePoint:
    t_s: float
    cpu_percent: Optional[float] = _opt()
    rss_bytes: Optional[float] = _opt()
    gpu_utilization_percent: Optional[float] = _opt()
    gpu_memory_bytes: Optional[float] = _opt()
    gpu_power_w: Optional[float] = _opt()


@attrs.define
class Usage:
    interval_s: Optional[float] = _opt()
    sample_count: Optional[int] = _opt()
    cpu_percent: Optional[Summary] = _opt()
    rss_bytes: Optional[Summary] = _opt()
    gpu_utilization_percent: Optional[Summary] = _opt()
    gpu_memory_bytes: Optional[Summary] = _opt()
    gpu_power_w: Optional[Summary] = _opt()
    series: Optional[list[UsagePoint]] = _opt()


@attrs.define(kw_only=True)
class Record:
    """One procrecord 1.1 record."""

    schema_version: str = SCHEMA_VERSION
    record_type: str = RECORD_TYPE
    type: Optional[str] = _opt()
    id: str
    name: Optional[str]
    status: str
    producer: Producer
    redaction: Optional[Redaction] = _opt()
    provenance: Optional[Provenance] = _opt()
    collection: Optional[Collection] = _opt()
    timing: Optional[Timing] = _opt()
    invocation: Optional[Invocation] = _opt()
    outcome: Optional[Outcome] = _opt()
    host: Optional[Host] = _opt()
    python: Optional[Python] = _opt()
    git: Optional[Git] = _opt()
    resources: Optional[Resources] = _opt()
    disks: Optional[list[Disk]] = _opt()
    devices: Optional[list[Device]] = _opt()
    emissions: Optional[Emissions] = _opt()
    inputs: Optional[list[Artifact]] = _opt()
    outputs: Optional[list[Artifact]] = _opt()
    parent: Optional[Parent] = _opt()
    root: Optional[Root] = _opt()
    distributed: Optional[Distributed] = _opt()
    usage: Optional[Usage] = _opt()
    extensions: Optional[dict[str, Any]] = _opt()
    extra: Optional[dict[str, Any]] = _opt()


def make_converter() -> Any:
    """Build a cattrs converter for the model: absent (None) fields are left out, unknown keys rejected."""
    import cattrs
    from cattrs.gen import make_dict_unstructure_fn, override

    converter = cattrs.Converter(omit_if_default=True, forbid_extra_keys=True)
    converter.register_unstructure_hook(
        Record,
        make_dict_unstructure_fn(
            Record, converter, _cattrs_omit_if_default=True,
            schema_version=override(omit_if_default=False),
            record_type=override(omit_if_default=False),
            name=override(omit_if_default=False),
        ),
    )
    return converter


def to_dict(record: Record, converter: Any = None) -> dict[str, Any]:
    """Unstructure a :class:`Record` into a JSON-ready dict."""
    return (converter or make_converter()).unstructure(record)


def from_dict(data: dict[str, Any], converter: Any = None) -> Record:
    """Structure a dict of the current version into a :class:`Record`."""
    return (converter or make_converter()).structure(data, Record)
