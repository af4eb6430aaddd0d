"""The devices section: GPUs through NVML (``gpu`` extra) and torch if the job imported it, or a CPU.

NVML facts are read once; memory used by this process is sampled at every flush and at stop and the
peak is kept; the energy counter is read at start and at stop. No NVML and no GPU are a clean
"skipped", never an error. See ``shared/reference/gpu-facts.md`` for what NVML reports on an H100.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from procrecord.collectors.interface import Collector, Skipped

_KINDS = {"cuda": "gpu", "gpu": "gpu", "cpu": "cpu", "mps": "mps"}
#: The order of the devices in the record: GPUs first, each kind by index.
_ORDER = {"gpu": 0, "cpu": 1, "mps": 2}


def parse_device(device: Any) -> tuple[str, int]:
    """``("gpu"|"cpu"|"mps", index)`` from a torch.device, ``"cuda:1"``, ``"cpu"`` or an int.

    Anything else raises :class:`~procrecord.errors.ProcrecordError`: a misspelt device would
    otherwise be recorded as something it is not.
    """
    if device is None:
        return "gpu", 0
    if isinstance(device, int) and not isinstance(device, bool):
        if device < 0:
            raise _bad_device(device)
        return "gpu", device
    kind = getattr(device, "type", None)
    index = getattr(device, "index", None)
    if kind is None:
        if not isinstance(device, str):
            raise _bad_device(device)
        kind, colon, rest = device.strip().lower().partition(":")
        if colon and not rest.isdigit():
            raise _bad_device(device)
        index = int(rest) if colon else None
    if str(kind) not in _KINDS:
        raise _bad_device(device)
    return _KINDS[str(kind)], int(index or 0)


def _bad_device(device: Any) -> Exception:
    from procrecord.errors import ProcrecordError

    return ProcrecordError(f"add_device_info({device!r}): not a device; give 'cuda:N', 'gpu:N', 'cpu', 'mps', "
                           "an index or a torch.device")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class NvmlDevice:
    """One GPU seen through NVML: static facts, then samples of this process's memory and energy."""

    def __init__(self, nvml: Any, index: int) -> None:
        self.nvml = nvml
        self.index = index
        self.handle = nvml.nvmlDeviceGetHandleByIndex(index)
        self.peak_used: int | None = None
        self.energy_start = self._energy()

    def _try(self, name: str, *args: Any) -> Any:
        try:
            return getattr(self.nvml, name)(*args)
        except Exception:  # noqa: BLE001 - one unsupported query must not lose the others
            return None

    def _energy(self) -> int | None:
        energy = self._try("nvmlDeviceGetTotalEnergyConsumption", self.handle)
        return energy if isinstance(energy, int) else None

    def static(self) -> dict[str, Any]:
        """Facts that do not change while the job runs."""
        h = self.handle
        entry: dict[str, Any] = {"index": self.index, "type": "gpu"}
        name = self._try("nvmlDeviceGetName", h)
        if name is not None:
            entry["name"] = _text(name)
        for key, call in (("uuid", "nvmlDeviceGetUUID"), ("serial", "nvmlDeviceGetSerial")):
            value = self._try(call, h)
            if value:
                entry[key] = _text(value)
        pci = self._try("nvmlDeviceGetPciInfo", h)
        bus = getattr(pci, "busId", None) if pci is not None else None
        if bus:
            entry["pci_bus_id"] = _text(bus)
        cc = self._try("nvmlDeviceGetCudaComputeCapability", h)
        if cc:
            entry["compute_capability"] = f"{int(cc[0])}.{int(cc[1])}"
        memory = self._try("nvmlDeviceGetMemoryInfo", h)
        if memory is not None:
            entry["memory_total_bytes"] = int(memory.total)
        driver = self._try("nvmlSystemGetDriverVersion")
        if driver:
            entry["driver_version"] = _text(driver)
        cuda = self._try("nvmlSystemGetCudaDriverVersion_v2") or self._try("nvmlSystemGetCudaDriverVersion")
        if cuda:
            entry["cuda_driver_version"] = f"{int(cuda) // 1000}.{int(cuda) % 1000 // 10}"
        return entry

    def sample(self) -> None:
        """Take one sample of the memory this process uses on the device (peak is kept)."""
        procs = self._try("nvmlDeviceGetComputeRunningProcesses", self.handle) or []
        pid = os.getpid()
        for proc in procs:
            used = getattr(proc, "usedGpuMemory", None)
            if getattr(proc, "pid", None) == pid and isinstance(used, int) and used >= 0:
                self.peak_used = max(self.peak_used or 0, used)

    def dynamic(self) -> dict[str, Any]:
        """Peak memory of this process and energy since start, as far as NVML tells."""
        self.sample()
        entry: dict[str, Any] = {}
        if self.peak_used is not None:
            entry["memory_used_peak_bytes"] = self.peak_used
        end = self._energy()
        if self.energy_start is not None and end is not None and end >= self.energy_start:
            entry["energy_kwh"] = (end - self.energy_start) / 3.6e9  # millijoules to kWh
        return entry


def torch_facts(index: int) -> dict[str, Any]:
    """What torch says about a CUDA device, only if the job already imported torch."""
    torch = sys.modules.get("torch")
    if torch is None:
        return {}
    try:
        if not torch.cuda.is_available() or not torch.cuda.is_initialized():
            return {}
        props = torch.cuda.get_device_properties(index)
        return {"name": props.name, "compute_capability": f"{props.major}.{props.minor}",
                "multiprocessor_count": int(props.multi_processor_count),
                "memory_total_bytes": int(props.total_memory),
                "torch_max_allocated_bytes": int(torch.cuda.max_memory_allocated(index)),
                "torch_max_reserved_bytes": int(torch.cuda.max_memory_reserved(index))}
    except Exception:  # noqa: BLE001 - torch without a working CUDA runtime
        return {}


def load_nvml() -> Any:
    """The initialised ``pynvml`` module, or a Skipped saying why not."""
    try:
        import pynvml
    except ImportError:
        return Skipped("nvidia-ml-py is not installed (install the 'gpu' extra)")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # noqa: BLE001 - no driver, no GPU, container without devices
        return Skipped(f"NVML unavailable: {exc}")
    return pynvml


class DevicesCollector(Collector):
    """Devices the job asked to be recorded (``add_device_info``), refreshed at flush and stop."""

    name = section = "devices"

    def __init__(self, devices: list[Any] | None = None, nvml: Any = None) -> None:
        self.requested = list(devices or [])
        self._nvml = nvml
        self._gpus: dict[int, NvmlDevice] = {}
        #: By (kind, index): "cpu" and "mps" are both index 0, and each is a device of its own.
        self._static: dict[tuple[str, int], dict[str, Any]] = {}
        #: Requested devices that could not be read (shown as the collector's reason).
        self.problems: list[str] = []

    def add(self, device: Any, state: Any) -> None:
        """Record one more device (torch.device, 'cuda:0', 'cpu', index)."""
        self.requested.append(device)
        self._open(device, state)

    def _nvml_module(self) -> Any:
        if self._nvml is None:
            self._nvml = load_nvml()
        return self._nvml

    def _open(self, device: Any, state: Any) -> None:
        kind, index = parse_device(device)
        key = (kind, index)
        if key in self._static:
            return
        if kind != "gpu":
            from procrecord.collectors.host import cpu_model

            self._static[key] = {"index": index, "type": kind, **({"name": cpu_model()} if kind == "cpu" and cpu_model() else {})}
            return
        nvml = self._nvml_module()
        entry: dict[str, Any] = {"index": index, "type": "gpu"}
        problem = None
        if isinstance(nvml, Skipped):
            problem = nvml.reason
        else:
            try:
                gpu = NvmlDevice(nvml, index)
            except Exception as exc:  # noqa: BLE001 - index out of range, lost device
                problem = f"NVML has no device {index}: {exc}"
            else:
                self._gpus[index] = gpu
                entry.update(gpu.static())
        facts = torch_facts(index)
        entry.update({k: v for k, v in facts.items() if k not in entry or k.startswith("torch_") or k == "multiprocessor_count"})
        if problem is not None and len(entry) == 2:
            # Asked for and not readable: say so in the record rather than drop the device.
            entry["error"] = problem
            self.problems.append(f"gpu {index}: {problem}")
        self._static[key] = entry

    def collect(self, state: Any) -> Any:
        for device in self.requested:
            self._open(device, state)
        return self._section()

    def update(self, state: Any) -> Any:
        if not self._static:
            return None
        return self._section()

    def _section(self) -> Any:
        if not self._static:
            return Skipped("no device requested (use add_device_info)")
        entries = []
        for key in sorted(self._static, key=lambda k: (_ORDER[k[0]], k[1])):
            entry = dict(self._static[key])
            gpu = self._gpus.get(key[1]) if key[0] == "gpu" else None
            if gpu is not None:
                entry.update(gpu.dynamic())
                torch = torch_facts(key[1])
                entry.update({k: v for k, v in torch.items() if k.startswith("torch_")})
            entries.append(entry)
        return entries

    def close(self) -> None:
        if self._gpus and not isinstance(self._nvml, Skipped) and self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except Exception:  # noqa: BLE001
                pass
