"""Upgrade and downgrade: golden pairs, laws, and the legacy quirks."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from procrecord.errors import UpgradeError
from procrecord.operations import legacy
from procrecord.operations.migration import chain, downgrade, upgrade
from procrecord.record.schemas import current_version, known_versions
from procrecord.record.validation import validate

import strategies
from helpers import FIXTURES, load_json

PAIRS = sorted((FIXTURES / "upgrade").glob("*/*/"))
EVERY_FIXTURE = sorted(p for v in known_versions() for p in (FIXTURES / v / "valid").glob("*.json"))
LEGACY = sorted((FIXTURES / "0" / "valid").glob("*.json"))
READER_MACHINE_KEYS = {"host", "user", "cwd", "userhome", "mem_total", "cpu_brand", "cpu_count", "os_name",
                       "os_release", "os_version", "arch", "py_impl", "py_version"}


def _normalise(record: dict) -> dict:
    """Drop what legitimately changes with every release (the producer's version)."""
    record = copy.deepcopy(record)
    record.get("producer", {}).pop("version", None)
    record.get("provenance", {}).pop("upgraded_by", None)
    return record


def _expected(case) -> dict:
    """The released ``expected.json`` of a pair, with a later issue's correction (``errata.json``, an
    RFC 6902 patch) applied where there is one: released fixtures are never edited, only added."""
    import jsonpatch

    expected = load_json(case / "expected.json")
    if (case / "errata.json").exists():
        expected = jsonpatch.apply_patch(expected, load_json(case / "errata.json")["patch"])
    return expected


@pytest.mark.parametrize("case", PAIRS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_golden_upgrade_pairs(case):
    source, target = case.parent.name.split("-to-")
    record = load_json(case / "input.json")
    expected = _expected(case)
    assert validate(record, source) == [] and validate(expected, target) == []
    assert _normalise(upgrade(record, target)) == _normalise(expected)


@pytest.mark.parametrize("errata", sorted((FIXTURES / "upgrade").glob("*/*/errata.json")),
                         ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
def test_upgrade_errata_name_their_issue_and_correct_the_released_file(errata):
    """Each errata file says why, names the issue, and its ``test`` operations hold on the released file."""
    import jsonpatch

    found = load_json(errata)
    assert found["fixture"] == "expected.json" and isinstance(found["issue"], int) and found["why"]
    released = load_json(errata.parent / "expected.json")
    assert any(op["op"] == "test" for op in found["patch"])
    assert jsonpatch.apply_patch(released, found["patch"]) != released


def test_every_legacy_fixture_has_a_golden_pair():
    cases = {p.name for p in (FIXTURES / "upgrade" / "0-to-1.0").iterdir()}
    assert {p.stem for p in LEGACY} <= cases


@pytest.mark.parametrize("path", EVERY_FIXTURE, ids=lambda p: f"{p.parent.parent.name}/{p.stem}")
def test_every_fixture_upgrades_to_current_and_validates(path):
    out = upgrade(load_json(path))
    assert out["schema_version"] == current_version()
    assert validate(out, all_errors=True) == []


@pytest.mark.parametrize("path", sorted((FIXTURES / "1.0" / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_upgrading_a_record_to_its_own_version_is_the_identity(path):
    record = load_json(path)
    before = copy.deepcopy(record)
    assert upgrade(record, record["schema_version"]) is record
    assert record == before


EVERY_LEGACY = LEGACY + sorted((FIXTURES / "upgrade").glob("0-to-*/*/input.json"))


@pytest.mark.parametrize("path", EVERY_LEGACY, ids=lambda p: p.stem if p.stem != "input" else f"upgrade/{p.parent.name}")
def test_downgrade_of_upgrade_gives_every_legacy_record_back(path):
    record = load_json(path)
    back, _dropped = downgrade(upgrade(record))
    assert back == record  # telemetry off included: a null machine, no args or config
    assert validate(back, "0") == []


@pytest.mark.parametrize("path", EVERY_LEGACY, ids=lambda p: p.stem if p.stem != "input" else f"upgrade/{p.parent.name}")
@pytest.mark.parametrize("to", ["1.0", None])
def test_downgrade_of_upgrade_keeps_the_key_order_and_reports_nothing_the_upgrade_made(path, to):
    """Found by an audit: ``machine.arch`` of ``""`` (kept in the legacy bag) came back last in its object, so an
    item in a result file changed its bytes, and every such downgrade reported "dropped /producer, /status",
    which the upgrade itself had filled in."""
    record = load_json(path)
    back, dropped = downgrade(upgrade(record, to))
    assert json.dumps(back) == json.dumps(record)
    assert dropped == []


def test_a_status_changed_after_the_upgrade_is_still_reported_dropped():
    record = upgrade(load_json(FIXTURES / "0" / "valid" / "full-telemetry.json"))
    assert downgrade({**record, "status": "failed"})[1] == ["/status"]
    assert downgrade({**record, "producer": {"name": "mytool", "version": "2"}})[1] == ["/producer"]


@settings(max_examples=300, deadline=None)
@given(strategies.legacy_records())
def test_downgrade_of_upgrade_is_the_identity_on_legacy_records(record):
    before = copy.deepcopy(record)
    back, _ = downgrade(upgrade(record))
    assert record == before
    assert back == record


@pytest.mark.parametrize("path", sorted((FIXTURES / "1.0" / "valid").glob("*.json")), ids=lambda p: p.stem)
def test_downgrade_of_native_records_is_readable_and_reports_drops(path):
    record = load_json(path)
    back, dropped = downgrade(record)
    assert validate(back, "0") == []
    machine = back["properties"]["machine"]
    level = record.get("collection", {}).get("level") or record.get("redaction", {}).get("level")
    if level == "all":
        assert machine is None, "as the legacy writer wrote with all telemetry off"
    else:
        assert set(machine) >= READER_MACHINE_KEYS, "readers index machine keys directly"
        # Readers pass these to string functions (geowatch: re.sub on cpu_brand); kwutil always wrote text.
        assert isinstance(machine["cpu_brand"], str) and isinstance(machine["arch"], str)
    assert "/status" in dropped
    if "git" in record:
        assert "/git" in dropped
    if record.get("python", {}).get("packages"):
        assert "/python/packages" in dropped


def test_a_cpu_devices_fields_the_legacy_shape_has_no_place_for_are_reported_dropped():
    record = load_json(FIXTURES / "1.0" / "valid" / "cpu-batch.json")
    record["devices"][0]["name"] = "a CPU named apart from host.cpu.model"
    back, dropped = downgrade(record)
    assert back["properties"]["device_info"] == {"device_index": 0, "device_type": "cpu"}
    assert "/devices/0/name" in dropped
    # an item upgraded from the legacy shape keeps what it had: nothing of its device is dropped
    legacy = upgrade(back)
    assert "/devices/0/name" not in downgrade(legacy)[1]


@pytest.mark.parametrize("level", ["none", "most"])
def test_downgrade_writes_text_for_an_unknown_cpu(gpu_record, level):
    gpu_record["collection"]["level"] = level
    del gpu_record["host"]["cpu"]["model"]
    gpu_record["host"].pop("arch", None)
    machine = downgrade(gpu_record)[0]["properties"]["machine"]
    assert machine["cpu_brand"] == "" and machine["arch"] == ""
    assert machine.get("telemetry_disabled") is (True if level == "most" else None)


def test_downgrade_at_level_all_is_what_the_legacy_writer_wrote():
    record = {"schema_version": "1.0", "record_type": "procrecord.process", "id": "07aaa071-d9f2-43a9-be36-2ad03fa2887c",
              "name": "x", "status": "completed", "producer": {"name": "procrecord", "version": "1"},
              "collection": {"level": "all"}}
    props = downgrade(record)[0]["properties"]
    assert props == {"name": "x", "machine": None, "start_timestamp": None, "stop_timestamp": None, "duration": None,
                     "uuid": record["id"], "extra": None}


def test_bogus_compute_capability_is_not_passed_off():
    record = load_json(FIXTURES / "0" / "valid" / "handmade-gpu-device-info.json")
    out = upgrade(record)
    assert "compute_capability" not in out["devices"][0]
    assert out["devices"][0]["multiprocessor_count"] == 132
    assert out["provenance"]["legacy"]["/properties/device_info/device_capabilities"] == [132, 0]


def test_units_are_explicit_after_upgrade():
    out = upgrade(load_json(FIXTURES / "0" / "valid" / "handmade-gpu-device-info.json"))
    assert out["emissions"]["energy_kwh"] == 2.4113 and out["emissions"]["emissions_kg"] == 0.9163
    assert out["devices"][0]["memory_total_bytes"] == 85520809984
    assert out["timing"]["duration_s"] == 95738.0
    assert out["provenance"]["legacy"]["/properties/emissions/co2_ton"] == 0.0009163


@pytest.mark.parametrize(
    "compact, rfc3339",
    [
        ("2026-11-26T143634+0", "2026-11-26T14:36:34+00:00"),
        ("2023-06-01T235930-5", "2023-06-01T23:59:30-05:00"),
        ("2024-12-31T235959+0530", "2024-12-31T23:59:59+05:30"),
        ("2023-06-02T001501.250000-5", "2023-06-02T00:15:01.250000-05:00"),
        ("2026-11-26T14:36:34Z", "2026-11-26T14:36:34+00:00"),
    ],
)
def test_legacy_timestamps(compact, rfc3339):
    assert legacy.parse_timestamp(compact) == rfc3339
    assert legacy.parse_timestamp(legacy.format_timestamp(rfc3339)) == rfc3339


@pytest.mark.parametrize("bad", ["2026-13-26T143634+0", "yesterday", "2026-11-26T256034+0", "2026-11-26T143634+99"])
def test_bad_legacy_timestamps_are_refused(bad):
    assert legacy.parse_timestamp(bad) is None


@pytest.mark.parametrize("text, seconds", [("0:00:02", 2), ("1 day, 2:03:04", 93784), ("3 days, 0:00:00.500000", 259200.5), (7.5, 7.5)])
def test_legacy_durations(text, seconds):
    assert legacy.parse_duration(text) == seconds
    if isinstance(text, str):
        assert legacy.format_duration(seconds) == text


# The writer's usual forms take a fast path; it must give what the general parser gives.
zones = st.sampled_from(["+0", "-0", "+5", "-5", "+05", "+11", "+23", "+24", "+0530", "-0930", "+123", "+2400", "+0560", "+0500"])
stamp_dates = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2100, 12, 31)).map(lambda d: d.isoformat())


@settings(max_examples=400, deadline=None)
@given(stamp_dates | st.sampled_from(["2023-02-29", "2024-02-30", "2025-13-01", "2025-00-10", "2025-04-31"]),
       st.integers(0, 25), st.integers(0, 61), st.integers(0, 61), zones)
def test_fast_timestamps_agree_with_the_general_parser(date, h, m, s, zone):
    text = f"{date}T{h:02d}{m:02d}{s:02d}{zone}"
    assert legacy._parse_compact(text) == legacy._parse_compact_general(text)
    assert legacy._parse_compact(text) == legacy._parse_compact(text)  # again, from the remembered date and zone


@settings(max_examples=400, deadline=None)
@given((st.integers(0, 86399) | st.integers(0, 86400 * 10**6)).map(lambda n: str(dt.timedelta(seconds=n))),
    st.sampled_from(["", "0", "1 day, ", "1 days, ", "2 day, ", "0 days, ", "01 day, "]))
def test_fast_durations_agree_with_the_general_parser(text, prefix):
    text = prefix + text if ", " not in text else text
    seconds, exact = legacy._duration(text)
    general, _ = legacy._duration(" " + text)  # leading space: the general parser (it strips)
    assert seconds == general
    assert exact == (general is not None and legacy.format_duration(general) == text)


def test_durations_beyond_a_timedelta_are_kept_not_fatal():
    record = {"type": "process", "properties": {"duration": "1000000000 days, 0:00:00"}}
    out = upgrade(record)
    assert out["timing"]["duration_s"] == 86400 * 10**9
    assert out["provenance"]["legacy"]["/properties/duration"] == "1000000000 days, 0:00:00"


def test_downgrade_of_a_duration_beyond_a_timedelta_writes_the_seconds(gpu_record):
    gpu_record["timing"]["duration_s"] = 1e15  # ~31 million years: more than a timedelta holds
    legacy_record, _ = downgrade(gpu_record)
    assert legacy_record["properties"]["duration"] == 1e15  # schema 0 takes a number
    assert upgrade(legacy_record)["timing"]["duration_s"] == 1e15


def test_chain_and_errors(monkeypatch):
    assert chain("0", "1.0") == [("0", "1.0")]
    assert chain("1.0", "1.0") == []
    with pytest.raises(UpgradeError):
        chain("1.0", "7.0")
    with pytest.raises(UpgradeError, match="older"):
        upgrade(load_json(FIXTURES / "1.0" / "valid" / "minimal.json"), "0")
    with pytest.raises(UpgradeError, match="not a valid version 0"):
        upgrade({"type": "process", "properties": {"args": 5}})
    from procrecord.operations import migration

    monkeypatch.setattr(migration, "_steps", lambda: {("0", "1.0"): lambda r: copy.deepcopy(r)})
    with pytest.raises(UpgradeError, match="did not change the version"):
        upgrade(load_json(LEGACY[0]), "1.0")


# --- Hypothesis: legacy records with random quirks -------------------------------------------

opt_str = st.none() | st.text(max_size=12)
compact_ts = st.builds(
    lambda d, frac, tz: d.strftime("%Y-%m-%dT%H%M%S") + frac + tz,
    st.datetimes(min_value=dt.datetime(1900, 1, 1)), st.sampled_from(["", ".250000"]), st.sampled_from(["+0", "-5", "+0530", "+11", "Z", ""]),
)
durations = st.sampled_from(["0:00:02", "1 day, 2:03:04", "12:00:00.500000"]) | st.none() | st.text(max_size=5)
machines = st.none() | st.just({"telemetry_disabled": True}) | st.fixed_dictionaries({}, optional={
    "host": opt_str, "user": opt_str, "cwd": opt_str, "userhome": opt_str, "cpu_brand": opt_str,
    "mem_total": st.none() | st.integers(-5, 2**40), "cpu_count": st.none() | st.integers(-1, 256),
    "os_name": opt_str, "os_release": opt_str, "os_version": opt_str,
    "arch": st.sampled_from(["", "x86_64", "i386", "arm"]), "py_impl": opt_str, "py_version": opt_str,
})
json_leaf = st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=6)
legacy_records = st.builds(
    lambda t, props: {"type": t, "properties": props},
    st.sampled_from(["process", "process_context"]),
    st.fixed_dictionaries({}, optional={
        "name": opt_str, "uuid": st.none() | st.uuids().map(str) | st.text(max_size=8),
        "args": st.none() | st.lists(st.text(max_size=8), max_size=4) | st.text(max_size=20),
        "config": st.dictionaries(st.text(max_size=5), json_leaf, max_size=3) | json_leaf,
        "extra": st.dictionaries(st.text(max_size=5), json_leaf, max_size=3) | json_leaf,
        "machine": machines, "start_timestamp": st.none() | compact_ts, "stop_timestamp": st.none() | compact_ts,
        "end_timestamp": st.none() | compact_ts, "duration": durations, "iters_per_second": st.none() | st.floats(0, 1e6),
        "emissions": st.none() | st.fixed_dictionaries({}, optional={"co2_kg": st.none() | st.floats(-1, 10), "total_kWH": st.none() | st.floats(0, 10), "run_id": opt_str, "co2_ton": st.floats(0, 1)}),
        "disk_info": st.none() | st.text(max_size=20) | st.fixed_dictionaries({}, optional={"path": opt_str, "source": opt_str, "filesystem": opt_str, "hwtype": opt_str, "names": st.lists(st.text(max_size=4), max_size=2)}),
        "device_info": st.none() | st.fixed_dictionaries({"device_type": st.sampled_from(["cuda", "cpu", "mps", "xla"])}, optional={
            "device_index": st.none() | st.integers(-1, 7), "device_name": opt_str, "total_vram": st.none() | st.integers(0, 2**40),
            "allocated_vram": st.none() | st.integers(0, 2**40), "device_capabilities": st.lists(st.integers(0, 200), max_size=2),
            "device_multi_processor_count": st.none() | st.integers(-1, 200)}),
    }),
)


def _leaves(value, pointer, out):
    if isinstance(value, dict) and value:
        for key, sub in value.items():
            _leaves(sub, f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}", out)
    elif value is not None and value != {}:
        out[pointer] = value


def _at(record, pointer):
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(record, dict) or part not in record:
            return KeyError
        record = record[part]
    return record


@settings(max_examples=300, deadline=None)
@given(legacy_records)
def test_upgrade_never_crashes_and_never_drops_a_value(record):
    before = copy.deepcopy(record)
    out = upgrade(record)
    assert record == before, "upgrade must not modify its input"
    assert validate(out, all_errors=True) == []
    back, _ = downgrade(out)
    leaves: dict = {}
    _leaves(record, "", leaves)
    for pointer, value in leaves.items():
        if pointer == "/type":
            continue
        assert _at(back, pointer) == value or json.dumps(_at(back, pointer)) == json.dumps(value), pointer


def test_a_record_built_in_python_with_non_string_keys_still_gets_an_id():
    record = load_json(LEGACY[0])
    record["properties"]["uuid"] = "not-a-real-uuid"
    record["properties"]["extra"] = {1: "one", "b": 2}
    out = upgrade(record)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", out["id"])
    assert out["id"] == upgrade(copy.deepcopy(record))["id"]


POINTERS = st.lists(st.lists(st.sampled_from(["a", "b", "a-b", "ab", "0"]), min_size=1, max_size=4)
                    .map(lambda parts: "/" + "/".join(parts)), max_size=12)


@given(POINTERS)
def test_outermost_keeps_one_pointer_per_dropped_subtree(pointers):
    from procrecord.operations.migration import outermost

    kept = outermost(pointers)
    assert kept == sorted(set(kept)) and set(kept) <= set(pointers)
    assert all(any(p == k or p.startswith(k + "/") for k in kept) for p in pointers)
    assert not any(a != b and b.startswith(a + "/") for a in kept for b in kept)


@pytest.mark.parametrize("path", sorted((FIXTURES / "1.1" / "valid").glob("*.json")), ids=lambda p: p.name)
def test_a_downgrade_reports_a_dropped_section_not_also_its_fields(path):
    """1.1 -> 1.0 drops a section's new fields, 1.0 -> 0 the section: reported once, as the section."""
    _, dropped = downgrade(load_json(path), "0")
    assert not any(a != b and b.startswith(a + "/") for a in dropped for b in dropped), dropped
    if path.name == "gpu-torchrun-usage.json":
        assert "/host/container" in dropped and "/host/scheduler" in dropped
