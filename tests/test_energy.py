"""Energy over the job's whole interval: RAPL and NVML counters, the estimator, and bad options."""

from __future__ import annotations

import os
import time
import types

import pytest

from procrecord import Recorder, validate
from procrecord.collectors import energy
from procrecord.collectors.emissions import EmissionsCollector, check_options
from procrecord.errors import ProcrecordError

QUIET = {"use_plugins": False, "handle_signals": False, "git_dirty": False, "collectors": []}
NO_NVML = types.SimpleNamespace(nvmlDeviceGetCount=lambda: 0)


def _zone(root, name, label, energy_uj, max_uj=262143328850):
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text(label + "\n")
    (zone / "energy_uj").write_text(f"{energy_uj}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_uj}\n")
    return zone


class _State:
    stopping = False


def test_rapl_packages_and_dram_are_read_at_start_and_stop(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 1_000_000)
    dram = _zone(tmp_path, "intel-rapl:0:1", "dram", 500_000)
    _zone(tmp_path, "intel-rapl:0:0", "core", 10)  # inside the package: not counted twice
    _zone(tmp_path, "intel-rapl:1", "psys", 10)  # the whole platform: not counted again
    counters, problem = energy.rapl_counters(str(tmp_path))
    assert problem is None and [(c.component, c.source) for c in counters] == [("cpu", "intel-rapl:0"), ("ram", "intel-rapl:0:1")]
    interval = energy.Interval(counters)
    (pkg / "energy_uj").write_text("37_000_000".replace("_", ""))
    (dram / "energy_uj").write_text("3_600_500_000".replace("_", ""))
    cpu, ram = interval.measurements()
    assert cpu["method"] == "rapl" and cpu["energy_kwh"] == pytest.approx(36.0 / 3.6e6)
    assert ram["component"] == "ram" and ram["energy_kwh"] == pytest.approx(3600.0 / 3.6e6)
    assert cpu["start_time"] <= cpu["stop_time"] and cpu["duration_s"] >= 0


def test_a_rapl_counter_that_wraps_is_counted_modulo_its_range(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000_000, max_uj=1_000_000_000)
    interval = energy.Interval(energy.rapl_counters(str(tmp_path))[0])
    (pkg / "energy_uj").write_text("2000000")  # wrapped past 1e9 µJ: 1 J before the wrap + 2 J after
    (entry,) = interval.measurements()
    assert entry["energy_kwh"] == pytest.approx(3.0 / 3.6e6)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_root_only_rapl_counters_are_said_not_guessed(tmp_path):
    pkg = _zone(tmp_path, "intel-rapl:0", "package-0", 1)
    (pkg / "energy_uj").chmod(0o000)
    counters, problem = energy.rapl_counters(str(tmp_path))
    assert counters == [] and "root" in problem


def _fake_nvml(readings):
    reads = iter(readings)
    return types.SimpleNamespace(nvmlDeviceGetCount=lambda: 1, nvmlDeviceGetHandleByIndex=lambda i: f"h{i}",
                                 nvmlDeviceGetTotalEnergyConsumption=lambda h: next(reads))


def test_nvml_counters_give_the_gpu_energy_of_the_interval(tmp_path):
    from helpers import FakeTracker

    collector = EmissionsCollector(rapl_root=str(tmp_path), nvml=_fake_nvml([5, 1_000, 3_600_001_000]),
                                   tracker_factory=FakeTracker)
    assert collector.collect(_State()) is None
    stopping = _State()
    stopping.stopping = True
    section = collector.update(stopping)
    (gpu,) = [m for m in section["measurements"] if m["component"] == "gpu"]  # the CPU and RAM are estimated
    assert (gpu["component"], gpu["source"], gpu["method"]) == ("gpu", "gpu:0", "nvml")
    assert gpu["energy_kwh"] == pytest.approx(1.0) and section["gpu_energy_kwh"] == pytest.approx(1.0)


def test_real_nvml_where_there_is_a_gpu():
    pynvml = pytest.importorskip("pynvml")
    try:
        pynvml.nvmlInit()
    except Exception as exc:
        pytest.skip(f"no NVML here: {exc}")
    counters, _ = energy.nvml_counters(pynvml)
    if not counters:
        pytest.skip("no GPU with an energy counter")
    interval = energy.Interval(counters)
    time.sleep(0.5)
    assert all(m["energy_kwh"] > 0 and m["method"] == "nvml" for m in interval.measurements())


@pytest.mark.parametrize("options, message", [
    ({"country": "FRA"}, "unknown option"), ({"country_iso_code": "XYZ"}, "not a country"),
    ({"country_iso_code": "FRANCE"}, "not a country"), ({"tracking_mode": "gpu"}, "tracking_mode"),
])
def test_bad_emissions_options_are_errors_when_the_recorder_is_created(options, message):
    if options.get("country_iso_code") == "XYZ":
        pytest.importorskip("codecarbon", reason="the countries known come from codecarbon (emissions extra)")
    with pytest.raises(ProcrecordError, match=message):
        Recorder("x", emissions=options, **QUIET)
    with pytest.raises(ProcrecordError, match=message):
        check_options(options)


def test_a_4s_busy_job_gets_the_energy_of_all_4s_from_the_estimator(tmp_path):
    """No RAPL, no GPU here: codecarbon estimates, and the whole busy loop is inside its interval."""
    pytest.importorskip("codecarbon")
    rec = Recorder("busy", emissions={"country_iso_code": "FRA"}, **QUIET)
    for collector in rec._collectors:
        if isinstance(collector, EmissionsCollector):
            collector._rapl_root, collector._nvml = str(tmp_path), NO_NVML  # the estimator, even on a machine with counters
    before = time.monotonic()
    rec.start()  # codecarbon probes the hardware for seconds before the job may run
    setup_s = time.monotonic() - before
    job = time.monotonic()
    end = time.perf_counter() + 4
    while time.perf_counter() < end:
        pass
    job_s = time.monotonic() - job
    record = rec.stop()
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "emissions"]
    assert note["status"] == "ok", note
    section = record["emissions"]
    cpu = next(m for m in section["measurements"] if m["component"] == "cpu")
    assert cpu["method"] == "estimate" and cpu["source"] == "codecarbon"
    assert job_s <= cpu["duration_s"], "the estimate covers all 4 s"
    # it starts before the job's interval, ready, and ends when the tracker stops, after the job's stop time
    assert cpu["start_time"] <= record["timing"]["start_time"] and record["timing"]["duration_s"] >= job_s
    # the job's timing is the job's own: the estimator's seconds of start-up are not in it
    assert record["timing"]["duration_s"] < job_s + setup_s / 2, (record["timing"], job_s, setup_s)
    assert cpu["duration_s"] >= record["timing"]["duration_s"], "the estimate covers the job's whole interval"
    assert section["cpu_energy_kwh"] > 0 and section["energy_kwh"] >= section["cpu_energy_kwh"]
    assert section["emissions_kg"] > 0
    assert validate(record) == []


def _with_tracker(rec, tracker):
    for collector in rec._collectors:
        if isinstance(collector, EmissionsCollector):
            collector._rapl_root, collector._nvml, collector._factory = "/nonexistent", NO_NVML, tracker
    return rec


@pytest.mark.parametrize("emissions", [True, {"tracking_mode": "machine"}, {}])
def test_emissions_switched_on_without_a_country_record_the_energy(emissions, monkeypatch):
    """``emissions=True`` used to record only ``tracking_mode``, and say ``ok`` with no reason."""
    from helpers import FakeTracker

    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    record = _with_tracker(Recorder("x", emissions=emissions, **QUIET), FakeTracker).start().stop()
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "emissions"]
    assert note["status"] == "ok" and "no CO2-eq: it needs a country" in note["reason"]
    assert record["emissions"]["energy_kwh"] == pytest.approx(0.5) and "emissions_kg" not in record["emissions"]
    assert validate(record) == []


def test_emissions_that_measured_nothing_are_not_ok():
    from helpers import FakeTracker

    class Silent(FakeTracker):
        def stop(self):
            return None

    record = _with_tracker(Recorder("x", emissions={"country_iso_code": "USA"}, **QUIET), Silent).start().stop()
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "emissions"]
    assert note["status"] == "failed" and "no energy measured" in note["reason"]
    assert "energy_kwh" not in record.get("emissions", {})
    assert validate(record) == []


@pytest.mark.parametrize("emissions", ["no", "yes", 1, ["USA"]])
def test_emissions_must_be_a_bool_or_a_dict(emissions):
    with pytest.raises(TypeError, match="use True, False or a dict"):
        Recorder("x", emissions=emissions, **QUIET)


@pytest.mark.parametrize("emissions", [False, None])
def test_emissions_off(emissions):
    record = Recorder("x", emissions=emissions, **QUIET).start().stop()
    assert "emissions" not in record and "emissions" not in {c["name"] for c in record["collection"]["collectors"]}


def test_real_codecarbon_without_a_country_estimates_the_energy(tmp_path, monkeypatch):
    pytest.importorskip("codecarbon")
    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    monkeypatch.chdir(tmp_path)
    rec = Recorder("busy", emissions=True, **QUIET)
    for collector in rec._collectors:
        if isinstance(collector, EmissionsCollector):
            collector._rapl_root, collector._nvml = str(tmp_path), NO_NVML  # the estimator, even with counters
    rec.start()
    end = time.perf_counter() + 1
    while time.perf_counter() < end:
        pass
    record = rec.stop()
    section = record["emissions"]
    assert section["cpu_energy_kwh"] > 0 and "emissions_kg" not in section and "country_iso_code" not in section
    assert validate(record) == []
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("options, message", [
    ({"country_iso_code": "USA", "region": "nowhere"}, "region='nowhere': not a region codecarbon knows for USA"),
    ({"country_iso_code": "CHN", "region": "atlantis"}, "not a region codecarbon knows for CHN"),
    ({"country_iso_code": "SWE", "region": "SE9"}, "not a region codecarbon knows for SWE"),
    ({"country_iso_code": "FRA", "region": "idf"}, "no regional data for FRA"),
    ({"region": "california"}, r"a region needs a country.*for USA: country_iso_code='USA'"),
    ({"region": "nowhere"}, "a region needs a country: codecarbon cannot place a region without one$"),
])
def test_a_region_codecarbon_would_not_use_is_an_error_when_the_recorder_is_created(options, message, monkeypatch):
    """codecarbon logged a traceback, used the country's figure, and the record said ok with the region."""
    pytest.importorskip("codecarbon", reason="the regions known come from codecarbon (emissions extra)")
    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    monkeypatch.delenv("PROCRECORD_EMISSIONS_REGION", raising=False)
    with pytest.raises(ProcrecordError, match=message):
        Recorder("x", emissions=options, **QUIET)
    with pytest.raises(ProcrecordError, match=message):
        EmissionsCollector(**options)


@pytest.mark.parametrize("country, region", [("USA", "California"), ("usa", "new york"), ("CAN", "Ontario"),
                                             ("CHN", "Guangdong Province"), ("SWE", "se3"), ("FIN", "FI")])
def test_regions_codecarbon_knows_are_accepted_as_it_spells_them(country, region):
    pytest.importorskip("codecarbon")
    check_options({"country_iso_code": country, "region": region})


def test_the_environments_region_is_checked_too(monkeypatch):
    pytest.importorskip("codecarbon")
    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    monkeypatch.setenv("PROCRECORD_EMISSIONS_REGION", "california")
    with pytest.raises(ProcrecordError, match="PROCRECORD_EMISSIONS_REGION='california': a region needs a country"):
        Recorder("x", emissions=True, **QUIET)
    monkeypatch.setenv("PROCRECORD_EMISSIONS_COUNTRY", "USA")
    Recorder("x", emissions=True, **QUIET)


@pytest.mark.parametrize("options, message", [
    ({"country_iso_code": 840}, "country_iso_code=840: a string"), ({"region": ["ny"]}, r"region=\['ny'\]: a string"),
    ({"tracking_mode": None}, "tracking_mode=None"), ({1: "x", "regoin": "y"}, r"\{'regoin': \.\.\., 1: \.\.\.\}: unknown option"),
])
def test_emissions_options_of_the_wrong_type_are_clear_errors(options, message):
    with pytest.raises(ProcrecordError, match=message):
        Recorder("x", emissions=options, **QUIET)


def test_a_co2_estimate_that_fell_back_says_failed_with_the_reason(tmp_path, monkeypatch, capfd):
    """Where codecarbon still falls back (its data and procrecord's check disagree), the collector says so."""
    import logging

    pytest.importorskip("codecarbon")
    from procrecord.collectors import emissions

    real = emissions._known_regions()
    monkeypatch.setattr(emissions, "_known_regions", lambda: {**real, "USA": real["USA"] | {"nowhere"}})
    filters = list(logging.getLogger("codecarbon").filters)
    rec = Recorder("x", emissions={"country_iso_code": "USA", "region": "nowhere"}, **QUIET)
    for collector in rec._collectors:
        if isinstance(collector, EmissionsCollector):
            collector._rapl_root, collector._nvml = str(tmp_path), NO_NVML  # the estimator, even with counters
    record = rec.start().stop()
    (note,) = [c for c in record["collection"]["collectors"] if c["name"] == "emissions"]
    assert note["status"] == "failed", note
    assert "region nowhere" in note["reason"] and "Region: nowhere not found" in note["reason"]
    assert "emissions_kg" not in record.get("emissions", {})
    err = capfd.readouterr().err
    assert "Traceback" not in err and "not found" not in err, "said in the record, not as codecarbon's traceback"
    assert logging.getLogger("codecarbon").filters == filters
    assert validate(record) == []
