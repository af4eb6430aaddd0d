"""GPU check for the device collector: run on a machine with an NVIDIA GPU (torch + nvidia-ml-py).

    python benchmarks/gpu_check.py [OUTPUT_DIR]

Records a job that allocates 4 GB with torch and checks the device section: the name, compute
capability 9.0 on an H100 (NVML's answer, not the legacy multiprocessor count), total memory, peak
memory used by this process (at least what torch allocated), driver and CUDA versions, torch's own
peak, and the energy the GPU used between start and stop. Schema 1.1: the usage sampler's GPU
series (utilisation, memory, power) while the job computes, and NVML's energy counter read directly
around the job. Writes gpu-check.json (the record) and gpu-check.txt (the checks) into OUTPUT_DIR
(default: $OUT, else the current folder). On a machine without a GPU (no torch, no CUDA, no NVML)
it prints one "skipped: ..." line and exits 0, so it can sit in any script.
"""

from __future__ import annotations

import json
import os
import sys
import time


def _why_not() -> str | None:
    """None when a CUDA GPU, torch and NVML are all there; else why the check is skipped."""
    try:
        import torch
    except ImportError:
        return "torch is not installed"
    if not torch.cuda.is_available():
        return "no CUDA device visible to torch"
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
    except Exception as exc:  # noqa: BLE001 - any NVML failure means no check here
        return f"NVML unavailable ({type(exc).__name__}: {exc})"
    return None


def _energy_mj() -> float | None:
    """NVML's energy counter of GPU 0 (millijoules since the driver loaded), where the board has one."""
    import pynvml

    pynvml.nvmlInit()
    try:
        return float(pynvml.nvmlDeviceGetTotalEnergyConsumption(pynvml.nvmlDeviceGetHandleByIndex(0)))
    except Exception:  # noqa: BLE001 - pre-Volta boards have no counter
        return None
    finally:
        pynvml.nvmlShutdown()


def main() -> int:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", ".")
    os.makedirs(out_dir, exist_ok=True)
    reason = _why_not()
    if reason is not None:
        print(f"skipped: {reason}")
        return 0
    import torch  # the job imports torch: the collector then reads torch's peaks too

    from procrecord import Recorder
    from procrecord.record.validation import validate

    record_path = os.path.join(out_dir, "gpu-check.json")
    rec = Recorder("gpu-check", output=record_path, handle_signals=False, usage_interval=0.2)
    rec.add_device_info(torch.device("cuda", 0))
    energy_before = _energy_mj()
    rec.start()
    block = torch.empty(int(4e9), dtype=torch.uint8, device="cuda")
    a = torch.randn(8192, 8192, device="cuda")
    busy_until = time.monotonic() + 3.0  # long enough for the sampler to see the GPU busy
    while time.monotonic() < busy_until:
        for _ in range(50):
            a = a @ a
            a = a / a.norm()
        torch.cuda.synchronize()
    rec.flush()  # NVML samples this process's memory at flush and stop
    time.sleep(1.0)
    record = rec.stop()
    energy_after = _energy_mj()
    del block, a
    device = record["devices"][0]
    usage = record.get("usage", {})
    series = usage.get("series", [])
    gpu_points = [p for p in series if "gpu_utilization_percent" in p]
    checks = {
        "record validates": validate(record) == [],
        "name from NVML": "H100" in device.get("name", "") or bool(device.get("name")),
        "compute capability 9.0 on an H100/H200": device.get("compute_capability") == "9.0" if any(n in device.get("name", "") for n in ("H100", "H200")) else bool(device.get("compute_capability")),
        "total memory > 70 GB": device.get("memory_total_bytes", 0) > 70e9,
        "peak memory used >= 4e9 allocated": device.get("memory_used_peak_bytes", 0) >= 4e9,
        "torch peak allocated >= 4e9": device.get("torch_max_allocated_bytes", 0) >= 4e9,
        "driver and CUDA versions": bool(device.get("driver_version")) and bool(device.get("cuda_driver_version")),
        "measured energy > 0": device.get("energy_kwh", 0) > 0,
        "usage: GPU samples in the series": len(gpu_points) >= 3,
        "usage: GPU busy while computing (max utilisation > 50%)": usage.get("gpu_utilization_percent", {}).get("max", 0) > 50,
        "usage: GPU memory max >= 4e9": usage.get("gpu_memory_bytes", {}).get("max", 0) >= 4e9,
        "usage: GPU power reported (max > 0 W)": usage.get("gpu_power_w", {}).get("max", 0) > 0,
        "NVML energy counter grew during the job": (energy_before is not None and energy_after is not None
                                                    and energy_after > energy_before),
    }
    lines_extra = [f"usage summary: {json.dumps({k: v for k, v in usage.items() if k != 'series'})}",
                   "NVML energy counter: not available" if energy_before is None or energy_after is None
                   else f"NVML energy counter delta: {(energy_after - energy_before) / 3.6e9:.6g} kWh"]
    lines = [f"{'ok ' if passed else 'FAIL'} {name}" for name, passed in checks.items()]
    lines.extend(lines_extra)
    lines.append(json.dumps(device, indent=2))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "gpu-check.txt"), "w") as handle:
        handle.write(text)
    print(text)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
