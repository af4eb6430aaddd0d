"""The host section: name, user, OS, arch, CPU, memory, container and batch scheduler.

Everything comes from the kernel and the standard library (``/proc/cpuinfo``, os-release through
``platform``, ``os.uname``): no py-cpuinfo, no subprocesses, and no psutil at start (importing it
costs more than the writer's whole start+stop budget, see ``benchmarks/bench_writer.py``).
"""

from __future__ import annotations

import getpass
import os
import platform
import socket
from typing import Any

from procrecord.collectors.interface import Collector


def _cpuinfo() -> str:
    try:
        with open("/proc/cpuinfo", "rb") as handle:
            return handle.read().decode("utf-8", "replace")
    except OSError:
        return ""


def cpu_model(cpuinfo: str | None = None) -> str | None:
    """The CPU model name from /proc/cpuinfo (Linux) or platform (elsewhere)."""
    head = (cpuinfo if cpuinfo is not None else _cpuinfo())[:16384]
    for line in head.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("model name", "Model", "cpu model", "Hardware") and value.strip():
            return value.strip()
    return platform.processor() or None


def physical_cores(cpuinfo: str | None = None) -> int | None:
    """Physical core count: distinct (package, core) pairs of /proc/cpuinfo, else psutil's answer.

    Kept by hand on Linux for start-up speed: the /proc/cpuinfo text is read once for the model
    name too, while ``import psutil`` alone costs several times the writer's start+stop goal
    (``benchmarks/bench_writer.py``). ``test_physical_cores_agree_with_psutil`` compares the two.
    """
    text = cpuinfo if cpuinfo is not None else _cpuinfo()
    cores, package = set(), None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "physical id":
            package = value.strip()
        elif key == "core id":
            cores.add((package, value.strip()))
    if cores:
        return len(cores)
    try:
        import psutil  # other platforms (and Linux kernels that hide the topology)

        return psutil.cpu_count(logical=False)
    except Exception:  # noqa: BLE001 - an unknown count is not an error
        return None


def distribution() -> str | None:
    """``PRETTY_NAME`` of os-release (``platform.freedesktop_os_release``), e.g. 'Debian GNU/Linux 12 (bookworm)'."""
    try:
        return platform.freedesktop_os_release().get("PRETTY_NAME") or None
    except OSError:  # no /etc/os-release nor /usr/lib/os-release: not a freedesktop system
        pass
    if platform.system() == "Darwin":
        release = platform.mac_ver()[0]
        return f"macOS {release}" if release else None
    return None


def container_runtime() -> str | None:
    """The container runtime the job runs in, if any."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return "kubernetes"
    if os.path.exists("/run/.containerenv"):
        return "podman"
    if os.path.exists("/.dockerenv"):
        return "docker"
    try:
        with open("/proc/1/cgroup", encoding="utf-8") as handle:
            text = handle.read()
    except OSError:
        return None
    for marker, runtime in (("kubepods", "kubernetes"), ("docker", "docker"), ("containerd", "containerd"),
                            ("libpod", "podman"), ("lxc", "lxc")):
        if marker in text:
            return runtime
    return None


def scheduler(environ: dict[str, str] | None = None) -> dict[str, str] | None:
    """The batch scheduler's job identifiers, when the job was started by one."""
    env = os.environ if environ is None else environ
    if "SLURM_JOB_ID" in env:
        found = {"name": "slurm", "job_id": env["SLURM_JOB_ID"], "array_task_id": env.get("SLURM_ARRAY_TASK_ID"),
                 "cluster": env.get("SLURM_CLUSTER_NAME") or env.get("SLURM_JOB_PARTITION")}
    elif "PBS_JOBID" in env:
        found = {"name": "pbs", "job_id": env["PBS_JOBID"], "array_task_id": env.get("PBS_ARRAY_INDEX"),
                 "cluster": env.get("PBS_QUEUE")}
    elif "LSB_JOBID" in env:
        found = {"name": "lsf", "job_id": env["LSB_JOBID"], "array_task_id": env.get("LSB_JOBINDEX"),
                 "cluster": env.get("LSB_QUEUE")}
    elif "JOB_ID" in env and "SGE_ROOT" in env:
        found = {"name": "sge", "job_id": env["JOB_ID"], "array_task_id": env.get("SGE_TASK_ID"),
                 "cluster": env.get("SGE_CELL")}
    elif "KUBERNETES_SERVICE_HOST" in env and env.get("HOSTNAME"):
        found = {"name": "kubernetes", "job_id": env["HOSTNAME"]}
    else:
        return None
    return {k: v for k, v in found.items() if v not in (None, "", "undefined")}


def login_name() -> str | None:
    """The login name (not the basename of $HOME, which the legacy record used)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user database entry (some containers)
        return None


def memory_total() -> int | None:
    """Physical memory in bytes."""
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        try:
            import psutil

            return int(psutil.virtual_memory().total)
        except Exception:  # noqa: BLE001
            return None


def _affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return None


class HostCollector(Collector):
    """The machine the job runs on."""

    name = section = "host"

    def collect(self, state: Any) -> dict[str, Any]:
        uname = platform.uname()
        cpuinfo = _cpuinfo()
        section: dict[str, Any] = {
            "hostname": socket.gethostname() or None,
            "user": login_name(),
            "home": os.path.expanduser("~") or None,
            "os": _clean({"name": uname.system, "release": uname.release, "version": uname.version,
                          "distribution": distribution()}),
            "arch": uname.machine or None,
            "cpu": _clean({"model": cpu_model(cpuinfo), "logical_count": os.cpu_count(), "physical_count": physical_cores(cpuinfo),
                           "affinity_count": _affinity()}),
            "memory_total_bytes": memory_total(),
        }
        from procrecord.collectors import placement

        box = placement.container()
        if box:
            section["container"] = box
        sched = scheduler()
        if sched:
            section["scheduler"] = {**sched, **placement.scheduler_details(sched.get("name"))}
        return _clean(section)


def _clean(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if v not in (None, "", {})}
