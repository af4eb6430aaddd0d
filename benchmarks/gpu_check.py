"""GPU check for the device collector: run on a machine with an NVIDIA GPU (torch + nvidia-ml-py).

    python benchmarks/gpu_check.py [OUTPUT_DIR]

Records a job that allocates 4 GB with torch and checks the device section: the name, compute
capability 9.0 on an H100 (NVML's answer, not the legacy multiprocessor count), total memory, peak
memory used by this process (at least what torch allocated), driver and CUDA versions, torch's own
peak, and the energy the GPU used between start and stop. Writes gpu-check.json (the record) and
gpu-check.txt (the checks) into OUTPUT_DIR (default: $OUT, else the current folder).
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("OUT", ".")
    os.makedirs(out_dir, exist_ok=True)
    import torch  # the job imports torch: the collector then reads torch's peaks too

    from procrecord import Recorder
    from procrecord.validation import validate

    record_path = os.path.join(out_dir, "gpu-check.json")
    rec = Recorder("gpu-check", output=record_path, handle_signals=False)
    rec.add_device_info(torch.device("cuda", 0))
    rec.start()
    block = torch.empty(int(4e9), dtype=torch.uint8, device="cuda")
    a = torch.randn(8192, 8192, device="cuda")
    for _ in range(50):
        a = a @ a
        a = a / a.norm()
    torch.cuda.synchronize()
    rec.flush()  # NVML samples this process's memory at flush and stop
    time.sleep(1.0)
    record = rec.stop()
    del block, a
    device = record["devices"][0]
    checks = {
        "record validates": validate(record) == [],
        "name from NVML": "H100" in device.get("name", "") or bool(device.get("name")),
        "compute capability 9.0 on an H100": device.get("compute_capability") == "9.0" if "H100" in device.get("name", "") else bool(device.get("compute_capability")),
        "total memory > 70 GB": device.get("memory_total_bytes", 0) > 70e9,
        "peak memory used >= 4e9 allocated": device.get("memory_used_peak_bytes", 0) >= 4e9,
        "torch peak allocated >= 4e9": device.get("torch_max_allocated_bytes", 0) >= 4e9,
        "driver and CUDA versions": bool(device.get("driver_version")) and bool(device.get("cuda_driver_version")),
        "measured energy > 0": device.get("energy_kwh", 0) > 0,
    }
    lines = [f"{'ok ' if passed else 'FAIL'} {name}" for name, passed in checks.items()]
    lines.append(json.dumps(device, indent=2))
    text = "\n".join(lines) + "\n"
    with open(os.path.join(out_dir, "gpu-check.txt"), "w") as handle:
        handle.write(text)
    print(text)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
