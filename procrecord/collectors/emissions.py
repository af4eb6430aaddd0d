"""The emissions section: energy and CO2-eq from codecarbon's offline tracker (``emissions`` extra).

Offline only: an explicit country (and optional region) sets the carbon intensity, nothing is
fetched, and no ``emissions.csv`` is written. codecarbon's start probes the hardware for over a
second, so the tracker is created and started in a background thread: ``start()`` of the job is
not delayed, and ``flush()``/``stop()`` read it once it is ready.
"""

from __future__ import annotations

import os
import tempfile
import threading
from typing import Any

from procrecord.collectors.interface import Collector, Skipped

COUNTRY_ENV = "PROCRECORD_EMISSIONS_COUNTRY"
REGION_ENV = "PROCRECORD_EMISSIONS_REGION"


def _kwh(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number >= 0 else None


class EmissionsCollector(Collector):
    """Energy per component and CO2-eq of this process, estimated by codecarbon."""

    name = section = "emissions"

    def __init__(self, country_iso_code: str | None = None, region: str | None = None,
                 tracking_mode: str = "process", tracker_factory: Any = None) -> None:
        self.country = (country_iso_code or os.environ.get(COUNTRY_ENV) or "").upper() or None
        self.region = region or os.environ.get(REGION_ENV) or None
        self.tracking_mode = tracking_mode
        self._factory = tracker_factory
        self._tracker: Any = None
        self._error: str | None = None
        self._thread: threading.Thread | None = None
        self._workdir: tempfile.TemporaryDirectory[str] | None = None
        self._latest: Any = None

    def collect(self, state: Any) -> Any:
        if not self.country:
            return Skipped(f"emissions need a country: pass country_iso_code='USA' (ISO 3166 alpha-3) or set {COUNTRY_ENV}")
        if self._factory is None:
            import importlib.util

            # Only look for it here: importing codecarbon takes ~0.1 s, the background thread does it.
            if importlib.util.find_spec("codecarbon") is None:
                return Skipped("codecarbon is not installed (install the 'emissions' extra)")
        self._thread = threading.Thread(target=self._start_tracker, name="procrecord-emissions", daemon=True)
        self._thread.start()
        return None

    def _start_tracker(self) -> None:
        try:
            if self._factory is not None:
                tracker = self._factory(country_iso_code=self.country, region=self.region)
            else:
                import logging

                from codecarbon import OfflineEmissionsTracker
                from codecarbon.output import BaseOutput

                collector = self

                class Capture(BaseOutput):  # the public way to receive codecarbon's totals
                    def out(self, total: Any, delta: Any) -> None:
                        collector._latest = total

                # codecarbon may still look for files in its output dir: give it a private one.
                self._workdir = tempfile.TemporaryDirectory(prefix="procrecord-codecarbon-")
                kwargs: dict[str, Any] = {"country_iso_code": self.country, "log_level": "error",
                                          "tracking_mode": self.tracking_mode, "output_dir": self._workdir.name,
                                          "output_handlers": [Capture()]}
                try:  # codecarbon 3: no output method at all; codecarbon 2: no CSV file
                    from codecarbon.output import OutputMethod  # noqa: F401

                    kwargs["output_methods"] = []
                except ImportError:
                    kwargs["save_to_file"] = False
                if self.region:
                    kwargs["region"] = self.region
                logging.getLogger("codecarbon").setLevel(logging.ERROR)
                tracker = OfflineEmissionsTracker(**kwargs)
            tracker.start()
            self._tracker = tracker
        except Exception as exc:  # noqa: BLE001 - a broken tracker must not break the job
            self._error = f"{type(exc).__name__}: {exc}"

    def _ready(self, wait: bool) -> bool:
        if self._thread is None:
            return False
        self._thread.join(timeout=None if wait else 0)
        return self._tracker is not None

    def update(self, state: Any) -> Any:
        if self._thread is None:
            return None
        if not self._ready(wait=state.stopping):
            if self._error:
                raise RuntimeError(f"codecarbon failed: {self._error}")
            return None
        tracker = self._tracker
        if state.stopping:
            tracker.stop()
        else:
            tracker.flush()
        data = self._latest if self._latest is not None else getattr(tracker, "final_emissions_data", None)
        return self._section(data)

    def _section(self, data: Any) -> dict[str, Any]:
        section: dict[str, Any] = {"tool": "codecarbon", "country_iso_code": self.country,
                                   "tracking_mode": self.tracking_mode if self.tracking_mode in ("machine", "process") else "unknown"}
        if self.region:
            section["region"] = self.region
        try:
            import codecarbon

            section["tool_version"] = codecarbon.__version__
        except Exception:  # noqa: BLE001
            pass
        if data is not None:
            for ours, theirs in (("energy_kwh", "energy_consumed"), ("cpu_energy_kwh", "cpu_energy"),
                                 ("gpu_energy_kwh", "gpu_energy"), ("ram_energy_kwh", "ram_energy"),
                                 ("emissions_kg", "emissions")):
                value = _kwh(getattr(data, theirs, None))
                if value is not None:
                    section[ours] = value
            run_id = getattr(data, "run_id", None)
            if run_id:
                section["run_id"] = str(run_id)
        return section

    def close(self) -> None:
        if self._workdir is not None:
            self._workdir.cleanup()
