"""The emissions section: energy from the machine's counters, else estimated by codecarbon; CO2-eq.

Energy counters (RAPL for CPU packages and DRAM, NVML for GPUs; see
:mod:`procrecord.collectors.energy`) are read at ``start()`` and at ``stop()``: exact for the
job's whole interval and cheap. What no counter covers (the CPU on a VM without RAPL) is estimated
by codecarbon's offline tracker (``emissions`` extra; nothing is fetched, no file is written). The
energy needs no country; CO2-eq does: a country sets the carbon intensity, and without one the
record has the energy and the collector's reason says why there is no ``emissions_kg``.

codecarbon probes the hardware for 1-5 s before it measures anything. Started in the background,
it missed most of a short busy job (``benchmarks/bench_energy.py``: 0.6% of a 4 s job seen, and
scaling that tail up was off by 10-50%). So where the estimator is needed, ``start()`` waits for
it: the job's code then runs entirely inside the estimated interval, and each figure in
``measurements`` gives the interval it covers (from the moment the estimator measured to stop).
"""

from __future__ import annotations

import functools
import json
import os
import re
import tempfile
import time
from typing import Any

from procrecord.collectors.energy import Interval, nvml_counters, rapl_counters
from procrecord.collectors.interface import Collector, Skipped, now_iso
from procrecord.writer.threads import quiet

COUNTRY_ENV = "PROCRECORD_EMISSIONS_COUNTRY"
REGION_ENV = "PROCRECORD_EMISSIONS_REGION"
#: What ``Recorder(emissions={...})`` accepts.
OPTIONS = ("country_iso_code", "region", "tracking_mode")
TRACKING_MODES = ("process", "machine")
#: codecarbon's offline tracker will not start without a country, though its energy figures do not
#: depend on it: without the job's country it gets this one, and no CO2-eq is recorded.
_ENERGY_ONLY_COUNTRY = "USA"
_NO_COUNTRY = f"no CO2-eq: it needs a country (country_iso_code='USA', ISO 3166 alpha-3, or {COUNTRY_ENV})"


def _kwh(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


def _private_infra() -> str | None:
    """codecarbon's offline data folder (None: codecarbon not installed); read without importing it."""
    import importlib.util

    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        return None
    return os.path.join(list(spec.submodule_search_locations)[0], "data", "private_infra")


def _load(path: str) -> Any:
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


@functools.lru_cache(maxsize=1)
def _known_countries() -> frozenset[str] | None:
    """The ISO 3166 alpha-3 codes codecarbon has an energy mix for (None: codecarbon not installed)."""
    folder = _private_infra()
    if folder is None:
        return None
    try:
        return frozenset(_load(os.path.join(folder, "global_energy_mix.json")))
    except (OSError, ValueError):
        return None


#: codecarbon's Nordic bidding zones (nordic_emissions.json) by country: the zones' prefixes.
_NORDIC = {"SWE": "SE", "NOR": "NO", "FIN": "FI"}
_CHINA_SUFFIX = re.compile(r"\s+(autonomous region|municipality|province|sheng|shi|zizhiqu)$")


@functools.lru_cache(maxsize=1)
def _known_regions() -> dict[str, frozenset[str]] | None:
    """The regions codecarbon's offline data has a carbon intensity for, by country, as codecarbon
    matches them (see :func:`_region_key`); a country not in it has no regional data: codecarbon
    uses the country's figure whatever region is given. None: codecarbon or its data not found."""
    folder = _private_infra()
    if folder is None or not os.path.isdir(folder):
        return None
    regions: dict[str, frozenset[str]] = {}
    try:
        years = sorted(name for name in os.listdir(folder) if name.isdigit())  # codecarbon 2: 2016, 3: 2023
        for year in reversed(years):
            usa, canada = (os.path.join(folder, year, name) for name in ("usa_emissions.json", "canada_energy_mix.json"))
            if "USA" not in regions and os.path.exists(usa):
                regions["USA"] = frozenset(k for k in _load(usa) if not k.startswith("_"))
            if "CAN" not in regions and os.path.exists(canada):
                regions["CAN"] = frozenset(k for k in _load(canada) if not k.startswith("_"))
            china = os.path.join(folder, year, "china_provincial_emissions.json")
            if "CHN" not in regions and os.path.exists(china):
                regions["CHN"] = frozenset(n for p in _load(china)["data"].values() for n in p["names"])
        nordic = os.path.join(folder, "nordic_emissions.json")
        if os.path.exists(nordic):
            zones = list(_load(nordic)["data"])
            for country, prefix in _NORDIC.items():
                regions[country] = frozenset(z for z in zones if z.startswith(prefix))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return regions


def _region_key(country: str, region: str) -> str:
    """``region`` as codecarbon looks it up for ``country`` (it lower-cases every region)."""
    if country in _NORDIC:
        return region.upper()
    if country == "CHN":
        return _CHINA_SUFFIX.sub("", " ".join(region.lower().split()))
    return region.lower()


def options_of(emissions: Any) -> dict[str, Any]:
    """The collector's options for ``Recorder(emissions=...)`` switched on: ``{}`` for True, a copy of
    the mapping; anything else (``'no'``, ``1``) raises :class:`TypeError`."""
    if emissions is True:
        return {}
    if isinstance(emissions, dict):
        return dict(emissions)
    raise TypeError(f"emissions={emissions!r}: use True, False or a dict of options ({', '.join(OPTIONS)})")


def check_options(options: dict[str, Any]) -> None:
    """Raise :class:`ProcrecordError` for options the collector would misread: an unknown key, a
    value of the wrong type, a country codecarbon does not know, a region it does not know for the
    country (codecarbon would log a traceback and use the country's figure) or a region without a
    country (codecarbon cannot place it offline). The environment's country and region count."""
    from procrecord.errors import ProcrecordError

    unknown = sorted(set(options) - set(OPTIONS), key=repr)
    if unknown:
        raise ProcrecordError(f"emissions={{{', '.join(repr(k) + ': ...' for k in unknown)}}}: unknown option; "
                              f"accepted: {', '.join(OPTIONS)}")
    for key in OPTIONS:
        if options.get(key) is not None and not isinstance(options[key], str):
            raise ProcrecordError(f"emissions {key}={options[key]!r}: a string, or None "
                                  f"({type(options[key]).__name__} given)")
    mode = options.get("tracking_mode", "process")
    if mode not in TRACKING_MODES:
        raise ProcrecordError(f"emissions tracking_mode={mode!r}: choose from {', '.join(TRACKING_MODES)}")
    country = options.get("country_iso_code") or os.environ.get(COUNTRY_ENV)
    code = str(country).upper() if country else None
    if country:
        known = _known_countries()
        if len(str(code)) != 3 or not str(code).isalpha() or (known is not None and code not in known):
            origin = "country_iso_code" if options.get("country_iso_code") else COUNTRY_ENV
            raise ProcrecordError(f"{origin}={country!r}: not a country codecarbon knows (ISO 3166 alpha-3, e.g. USA, FRA)")
    region = options.get("region") or os.environ.get(REGION_ENV)
    if region:
        origin = "region" if options.get("region") else REGION_ENV
        problem = region_problem(code, region)
        if problem:
            raise ProcrecordError(f"{origin}={region!r}: {problem}")


def region_problem(country: str | None, region: str) -> str | None:
    """Why codecarbon would not use ``region`` for ``country`` (None: it would, or its data cannot be read)."""
    regions = _known_regions()
    if country is None:
        where = sorted(c for c, names in (regions or {}).items() if _region_key(c, region) in names)
        hint = f" (codecarbon has it for {' and '.join(where)}: country_iso_code={where[0]!r})" if where else ""
        return f"a region needs a country: codecarbon cannot place a region without one{hint}"
    if regions is None:
        return None
    if country not in regions:
        return (f"codecarbon has no regional data for {country} (only for {', '.join(sorted(regions))}), "
                "it would use the country's figure: leave the region out")
    if _region_key(country, region) in regions[country]:
        return None
    examples = ", ".join(repr(name) for name in sorted(regions[country])[:3])
    return (f"not a region codecarbon knows for {country} ({len(regions[country])} known, e.g. {examples}); "
            "it would use the country's figure")


class _Fallbacks:
    """A filter on codecarbon's logger: keeps (and takes off stderr) the errors codecarbon logs while
    computing the CO2-eq, after which it uses another carbon intensity than the one asked for."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen

    def filter(self, record: Any) -> bool:
        import logging

        if record.levelno >= logging.ERROR and record.module == "emissions":  # codecarbon/core/emissions.py
            message = record.getMessage()
            if message not in self.seen:
                self.seen.append(message)
            return False
        return True


class EmissionsCollector(Collector):
    """Energy per component over the job's interval (counters, else codecarbon) and its CO2-eq."""

    name = section = "emissions"

    def __init__(self, country_iso_code: str | None = None, region: str | None = None,
                 tracking_mode: str = "process", tracker_factory: Any = None, rapl_root: str | None = None,
                 nvml: Any = None) -> None:
        check_options({"country_iso_code": country_iso_code, "region": region, "tracking_mode": tracking_mode})
        self.country = (country_iso_code or os.environ.get(COUNTRY_ENV) or "").upper() or None
        self.region = region or os.environ.get(REGION_ENV) or None
        self.tracking_mode = tracking_mode
        self._factory = tracker_factory
        self._rapl_root = rapl_root
        self._nvml = nvml
        self._interval: Interval | None = None
        self._tracker: Any = None
        self._tracker_start = ""
        self._tracker_t0 = 0.0
        self._error: str | None = None
        self._skipped: Skipped | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._latest: Any = None
        self._notes: list[str] = []
        #: Errors codecarbon logged computing the CO2-eq (it then falls back on another figure).
        self._fallbacks: list[str] = []
        self._filter: Any = None
        self.problems: list[str] = []
        #: Set by a caller that chose the country for the job (the legacy ProcessContext assumes
        #: kwutil's): the record says ``country_assumed`` and this note says why.
        self.country_assumed: str | None = None

    def collect(self, state: Any) -> Any:
        counters, problem = rapl_counters(self._rapl_root) if self._rapl_root else rapl_counters()
        gpus, gpu_problem = nvml_counters(self._nvml)
        counters += gpus
        self._notes = [p for p in (problem, gpu_problem) if p]
        self._interval = Interval(counters)
        self._skipped = None
        if any(c.component == "cpu" for c in counters):
            return None  # the CPU is measured: no estimator needed
        if self._factory is None:
            import importlib.util

            if importlib.util.find_spec("codecarbon") is None:
                if counters:
                    self._notes.append("CPU energy not estimated: codecarbon is not installed")
                    return None
                # Nothing can measure: every later update says so too, never an empty "ok".
                self._skipped = Skipped("no energy counter readable here and codecarbon is not installed "
                                        "(install the 'emissions' extra)")
                return self._skipped
        try:
            tracker = self._factory(country_iso_code=self.country, region=self.region) if self._factory else self._codecarbon()
            with quiet():  # its sampling threads leave the job's signals to the main thread
                tracker.start()
        except Exception as exc:  # a broken tracker must not break the job
            self._error = f"{type(exc).__name__}: {exc}"
            raise RuntimeError(f"codecarbon failed: {self._error}") from exc
        self._tracker, self._tracker_start = tracker, now_iso()
        self._tracker_t0 = time.monotonic()
        return None

    def _codecarbon(self) -> Any:
        import logging

        from codecarbon import OfflineEmissionsTracker
        from codecarbon.output import BaseOutput

        collector = self

        class Capture(BaseOutput):  # the public way to receive codecarbon's totals
            def out(self, total: Any, delta: Any) -> None:
                collector._latest = total

        # codecarbon may still look for files in its output dir: give it a private one.
        self._workdir = tempfile.TemporaryDirectory(prefix="procrecord-codecarbon-")
        kwargs: dict[str, Any] = {"country_iso_code": self.country or _ENERGY_ONLY_COUNTRY, "log_level": "error",
                                  "tracking_mode": self.tracking_mode, "output_dir": self._workdir.name,
                                  "output_handlers": [Capture()]}
        try:  # codecarbon 3: no output method at all; codecarbon 2: no CSV file
            from codecarbon.output import OutputMethod  # noqa: F401

            kwargs["output_methods"] = []
        except ImportError:
            kwargs["save_to_file"] = False
        if self.region and self.country:
            kwargs["region"] = self.region
        logger = logging.getLogger("codecarbon")
        logger.setLevel(logging.ERROR)
        self._filter = _Fallbacks(self._fallbacks)
        logger.addFilter(self._filter)  # said by the collector, not as a traceback on the job's stderr
        return OfflineEmissionsTracker(**kwargs)

    def sample(self) -> None:
        """Have the estimator measure now (``procrecord run``: when the command has ended, before it
        is reaped: codecarbon's process mode counts the CPU time of the processes it still sees)."""
        if self._tracker is not None and not self._error:
            self._tracker.flush()

    def update(self, state: Any) -> Any:
        if self._interval is None:
            return None
        if self._skipped is not None:
            return self._skipped
        if self._error:
            raise RuntimeError(f"codecarbon failed: {self._error}")
        data = None
        if self._tracker is not None:
            if state.stopping:
                self._tracker.stop()
            else:
                self._tracker.flush()
            data = self._latest if self._latest is not None else getattr(self._tracker, "final_emissions_data", None)
            if self._fallbacks:
                asked = ", ".join(f"{k} {v}" for k, v in (("country", self.country), ("region", self.region)) if v)
                raise RuntimeError(f"codecarbon did not compute the CO2-eq for what was asked ({asked}): "
                                   f"{self._fallbacks[0]}; it fell back on another figure")
        section = self._section(self._interval.measurements(), data)
        if "energy_kwh" not in section:
            # A section without a figure is no measurement: say why instead of an empty "ok".
            source = "codecarbon gave no figures" if self._tracker is not None else "no energy counter gave a figure"
            raise RuntimeError("; ".join(["no energy measured", source, *self.problems]))
        return section

    def _section(self, measured: list[dict[str, Any]], data: Any) -> dict[str, Any]:
        section: dict[str, Any] = {"tracking_mode": self.tracking_mode}
        if self.country:
            section["country_iso_code"] = self.country
            if self.country_assumed:
                section["country_assumed"] = True
        if self.region:
            section["region"] = self.region
        totals: dict[str, float] = {}
        for entry in measured:
            totals[entry["component"]] = totals.get(entry["component"], 0.0) + entry["energy_kwh"]
        if data is not None:
            section["tool"] = "codecarbon"
            try:
                import codecarbon

                section["tool_version"] = codecarbon.__version__
            except Exception:  # noqa: BLE001
                pass
            stop_time, duration = now_iso(), round(time.monotonic() - self._tracker_t0, 6)
            for component, theirs in (("cpu", "cpu_energy"), ("gpu", "gpu_energy"), ("ram", "ram_energy")):
                value = _kwh(getattr(data, theirs, None))
                if value is None or component in totals or (component == "gpu" and not value):
                    continue  # a counter measured it already, or there is no GPU
                totals[component] = value
                measured.append({"component": component, "source": "codecarbon", "method": "estimate",
                                 "energy_kwh": value, "start_time": self._tracker_start, "stop_time": stop_time,
                                 "duration_s": duration})
            emissions, energy = _kwh(getattr(data, "emissions", None)), _kwh(getattr(data, "energy_consumed", None))
            if emissions is not None and energy and self.country:
                # The carbon intensity codecarbon used, applied to the energy recorded here.
                section["emissions_kg"] = emissions / energy * sum(totals.values())
            run_id = getattr(data, "run_id", None)
            if run_id:
                section["run_id"] = str(run_id)
        for component, value in totals.items():
            section[f"{component}_energy_kwh"] = value
        if totals:
            section["energy_kwh"] = sum(totals.values())
        if measured:
            section["measurements"] = measured
        self.problems = list(self._notes) + ([self.country_assumed] if self.country_assumed else [])
        if not self.country and "energy_kwh" in section:
            self.problems.append(_NO_COUNTRY)
        return section

    def close(self) -> None:
        if self._filter is not None:
            import logging

            logging.getLogger("codecarbon").removeFilter(self._filter)
            self._filter = None
        if self._workdir is not None:
            self._workdir.cleanup()
