"""Hypothesis strategies shared by the property tests: records of the generated model and raw JSON."""

from __future__ import annotations

import datetime as dt
import string

from hypothesis import strategies as st

from procrecord.record import model as m

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=20)
names = st.text(string.ascii_lowercase + string.digits + "-_.", min_size=1, max_size=12)
maybe = lambda s: st.none() | s
#: a field the schema lets be null: left out (ABSENT), null (None) or a value
nullable = lambda s: st.just(m.ABSENT) | st.none() | s
nonneg = st.integers(min_value=0, max_value=2**53)
secs = st.floats(min_value=0, max_value=1e7, allow_nan=False, allow_infinity=False)
count = st.integers(min_value=1, max_value=4096)
uuids = st.uuids().map(str)
timestamps = st.datetimes(
    min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2100, 1, 1),
    timezones=st.sampled_from([dt.timezone.utc, dt.timezone(dt.timedelta(hours=-5)), dt.timezone(dt.timedelta(hours=5, minutes=30))]),
).map(lambda d: d.isoformat(timespec="microseconds"))
json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(text, inner, max_size=4), max_leaves=12)
json_objects = st.dictionaries(text, json_values, max_size=5)

producers = st.builds(m.Producer, name=names, version=names)
redactions = st.builds(
    m.Redaction, level=st.sampled_from(["none", "most", "all"]), tool=names, tool_version=names,
    removed=st.lists(text, max_size=3),
    scrubbed=st.lists(st.builds(m.ScrubEntry, path=text, rule=names, count=count), max_size=3),
    pseudonymized=maybe(st.lists(text, max_size=2)),
    key_fingerprint=maybe(st.from_regex(r"\Asha256:[0-9a-f]{16}\Z")),
)
provenances = st.builds(m.Provenance, upgraded_from=maybe(st.sampled_from(["0", "1.0"])), upgraded_by=maybe(names), legacy=maybe(json_objects))
collections_ = st.builds(m.Collection, level=maybe(st.sampled_from(["none", "most", "all"])), collectors=maybe(st.lists(
    st.builds(m.CollectorResult, name=names, status=st.sampled_from(["ok", "skipped", "failed"]), reason=maybe(text), duration_s=maybe(secs)), max_size=3)))
timings = st.builds(m.Timing, start_time=maybe(timestamps), stop_time=maybe(timestamps), update_time=maybe(timestamps), duration_s=maybe(secs))
invocations = st.builds(
    m.Invocation, argv=maybe(st.lists(text, max_size=5)), executable=maybe(text), cwd=maybe(text), pid=maybe(nonneg),
    config=nullable(json_values), config_notes=maybe(st.lists(text, max_size=2)), environment=maybe(st.dictionaries(text, text, max_size=3)),
)
outcomes = st.builds(m.Outcome, exit_code=nullable(st.integers(-255, 255)), signal=maybe(names),
                     error=maybe(st.builds(m.ErrorInfo, type=names, message=maybe(text), traceback=maybe(text))))
hosts = st.builds(
    m.Host, hostname=maybe(names), user=maybe(names), home=maybe(text),
    os=maybe(st.builds(m.OS, name=maybe(names), release=maybe(names), version=maybe(text), distribution=maybe(text))),
    arch=maybe(names),
    cpu=maybe(st.builds(m.CPU, model=maybe(text), logical_count=maybe(count), physical_count=maybe(count), affinity_count=maybe(count))),
    memory_total_bytes=maybe(nonneg),
    container=maybe(st.builds(m.Container, runtime=maybe(st.sampled_from(["docker", "podman", "kubernetes", "containerd", "lxc", "apptainer", "singularity", "other"])),
                              id=maybe(names), image_name=maybe(text), image_digest=maybe(st.from_regex(r"\Asha256:[0-9a-f]{64}\Z")),
                              pod_name=maybe(names), namespace=maybe(names))),
    scheduler=maybe(st.builds(m.Scheduler, name=maybe(st.sampled_from(["slurm", "pbs", "lsf", "sge", "kubernetes", "other"])), job_id=maybe(names), array_task_id=maybe(names), cluster=maybe(names),
                              array_job_id=maybe(names), partition=maybe(names), node_list=maybe(names), node_count=maybe(count),
                              requested_cpus=maybe(nonneg), requested_memory_bytes=maybe(nonneg), requested_gpus=maybe(nonneg),
                              time_limit_s=maybe(secs), submit_time=maybe(timestamps))),
)
pythons = st.builds(m.Python, implementation=maybe(names), version=maybe(names), executable=maybe(text),
                    packages=maybe(st.lists(st.builds(m.Package, name=names, version=names, installer=maybe(names), editable=maybe(st.booleans())), max_size=5)))
gits = st.builds(m.Git, commit=maybe(st.from_regex(r"\A[0-9a-f]{40}\Z")), branch=maybe(names), dirty=maybe(st.booleans()), remote_url=maybe(text), root=maybe(text))
resources = st.builds(m.Resources, **{f: maybe(secs) for f in ("cpu_user_s", "cpu_system_s", "children_cpu_user_s", "children_cpu_system_s")},
                      **{f: maybe(nonneg) for f in ("peak_rss_bytes", "children_peak_rss_bytes", "io_read_bytes", "io_write_bytes", "io_read_count", "io_write_count")})
disks = st.builds(m.Disk, path=text, mount_point=maybe(text), filesystem=maybe(names), device=maybe(text),
                  kind=maybe(st.sampled_from(["ssd", "hdd", "network", "memory", "overlay", "unknown"])), total_bytes=maybe(nonneg), free_bytes=maybe(nonneg))
devices = st.builds(m.Device, index=st.integers(0, 16), type=st.sampled_from(["cpu", "gpu", "mps", "other"]), name=maybe(text), uuid=maybe(names), serial=maybe(names),
                    pci_bus_id=maybe(names), compute_capability=maybe(st.from_regex(r"\A[0-9]{1,2}\.[0-9]\Z")), multiprocessor_count=maybe(nonneg),
                    memory_total_bytes=maybe(nonneg), memory_used_peak_bytes=maybe(nonneg), torch_max_allocated_bytes=maybe(nonneg),
                    torch_max_reserved_bytes=maybe(nonneg), driver_version=maybe(names), cuda_driver_version=maybe(names), energy_kwh=maybe(secs))
emissions = st.builds(m.Emissions, **{f: maybe(secs) for f in ("energy_kwh", "cpu_energy_kwh", "gpu_energy_kwh", "ram_energy_kwh", "emissions_kg")},
                      country_iso_code=maybe(st.from_regex(r"\A[A-Z]{3}\Z")), region=maybe(text), tracking_mode=maybe(st.sampled_from(["machine", "process", "offline", "unknown"])),
                      tool=maybe(names), tool_version=maybe(names), run_id=maybe(names))
artifacts_ = st.builds(m.Artifact, uri=text.filter(bool), role=maybe(names), kind=maybe(st.sampled_from(["file", "folder", "uri", "missing"])),
                      size_bytes=maybe(nonneg), file_count=maybe(nonneg), sha256=maybe(st.from_regex(r"\A[0-9a-f]{64}\Z")),
                      media_type=maybe(names), mtime=maybe(timestamps), digest_skipped=maybe(text))
summaries = st.builds(m.Summary, mean=maybe(secs), p95=maybe(secs), max=maybe(secs))
usages = st.builds(m.Usage, interval_s=maybe(st.floats(0.001, 3600)), sample_count=maybe(nonneg), cpu_percent=maybe(summaries),
                   rss_bytes=maybe(summaries), series=maybe(st.lists(st.builds(m.UsagePoint, t_s=secs, cpu_percent=maybe(secs), rss_bytes=maybe(secs)), max_size=3)))
distributeds = st.builds(m.Distributed, launcher=maybe(st.sampled_from(["torchrun", "slurm", "mpi", "other"])), rank=maybe(nonneg),
                         local_rank=maybe(nonneg), world_size=maybe(count), local_world_size=maybe(count), node_rank=maybe(nonneg), group_id=maybe(names))
records = st.builds(
    m.Record, id=uuids, name=maybe(text), status=st.sampled_from(["running", "completed", "failed", "interrupted"]), producer=producers,
    redaction=maybe(redactions), provenance=maybe(provenances), collection=maybe(collections_), timing=maybe(timings),
    invocation=maybe(invocations), outcome=maybe(outcomes), host=maybe(hosts), python=maybe(pythons), git=maybe(gits),
    resources=maybe(resources), disks=maybe(st.lists(disks, max_size=2)), devices=maybe(st.lists(devices, max_size=2)),
    emissions=maybe(emissions), extensions=maybe(json_objects), extra=maybe(json_objects),
    type=maybe(st.just("procrecord")), inputs=maybe(st.lists(artifacts_, max_size=2)), outputs=maybe(st.lists(artifacts_, max_size=2)),
    parent=maybe(st.builds(m.Parent, id=uuids, name=maybe(text))), root=maybe(st.builds(m.Root, id=uuids)),
    distributed=maybe(distributeds), usage=maybe(usages),
)


# --- Legacy (version 0) records as kwutil 0.3.8's ProcessContext wrote them ----------------------

_legacy_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_legacy_zones = st.sampled_from(["+0", "-5", "+0530", "+11", "-0930"])
_legacy_moments = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2099, 12, 31))
legacy_timestamps = st.builds(lambda d, z: d.strftime("%Y-%m-%dT%H%M%S") + z, _legacy_moments, _legacy_zones)
#: str(timedelta) of a stop minus a start: whole seconds, or with microseconds, over a day or not.
legacy_durations = st.builds(lambda s, us: str(dt.timedelta(seconds=s, microseconds=us)),
                             st.integers(0, 10 * 86400), st.sampled_from([0, 0, 1, 250000, 999999]))
legacy_machines = st.fixed_dictionaries({
    "host": _legacy_text, "user": _legacy_text, "cwd": _legacy_text, "userhome": _legacy_text,
    "mem_total": st.integers(0, 2**44), "cpu_brand": _legacy_text, "cpu_count": st.integers(1, 512),
    "os_name": st.sampled_from(["Linux", "Darwin", "Windows"]), "os_release": _legacy_text, "os_version": _legacy_text,
    "arch": st.sampled_from(["", "", "x86_64", "i386"]), "py_impl": st.sampled_from(["CPython", "PyPy"]),
    "py_version": st.sampled_from(["3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]", "3.10.4", ""]),
})
_amounts = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
legacy_emissions = st.fixed_dictionaries(
    {"co2_kg": _amounts, "total_kWH": _amounts, "run_id": uuids},
    optional={"co2_ton": _amounts, "est_dollar_to_offset": _amounts})
legacy_disks = _legacy_text.map(lambda p: f"path {p!r} does not exist") | st.fixed_dictionaries(
    {"path": _legacy_text, "source": _legacy_text, "filesystem": st.sampled_from(["ext4", "xfs", "overlay", "nfs"]),
     "names": st.lists(_legacy_text, max_size=2)}, optional={"hwtype": st.sampled_from(["hdd", "ssd"])})
legacy_devices = st.fixed_dictionaries({"device_index": st.integers(0, 7), "device_type": st.just("cpu")}) | st.fixed_dictionaries({
    "device_index": st.integers(0, 7), "device_type": st.just("cuda"), "device_name": _legacy_text,
    "total_vram": st.integers(0, 2**40), "reserved_vram": st.integers(0, 2**40), "allocated_vram": st.integers(0, 2**40),
    "device_capabilities": st.tuples(st.integers(1, 200), st.integers(0, 9)).map(list),
    "device_multi_processor_count": st.integers(1, 200)})
_configs = st.none() | st.dictionaries(_legacy_text, json_values, max_size=4)
_extras = st.none() | st.dictionaries(_legacy_text, json_values, max_size=3)


@st.composite
def legacy_records(draw: st.DrawFn) -> dict:
    """A record of kwutil's ``ProcessContext`` at one of its telemetry modes (none, most, all disabled),
    with the optional sections it adds (emissions, disk, device) and the oldest form's quirks."""
    mode = draw(st.sampled_from(["none", "most", "all"]))
    props: dict = {"name": draw(st.none() | _legacy_text)}
    if mode != "all":
        props["args"] = draw(st.lists(_legacy_text, max_size=4) | st.text(max_size=20))
        props["config"] = draw(_configs)
    props["machine"] = {"none": lambda: draw(legacy_machines), "most": lambda: {"telemetry_disabled": True},
                        "all": lambda: None}[mode]()
    oldest = draw(st.booleans()) and mode == "none"
    if mode == "all":
        props.update(start_timestamp=None, stop_timestamp=None, duration=None)
    else:
        props["start_timestamp"] = draw(legacy_timestamps)
        props["end_timestamp" if oldest else "stop_timestamp"] = draw(legacy_timestamps)
        props["duration"] = draw(legacy_durations)
    if oldest and draw(st.booleans()):
        props["iters_per_second"] = draw(_amounts)
    props["uuid"] = draw(uuids)
    props["extra"] = draw(_extras)
    if mode != "all" and draw(st.booleans()):
        props["emissions"] = draw(legacy_emissions)
    if mode == "none":
        if draw(st.booleans()):
            props["disk_info"] = draw(legacy_disks)
        if draw(st.booleans()):
            props["device_info"] = draw(legacy_devices)
    return {"type": "process_context" if oldest and draw(st.booleans()) else "process", "properties": props}
