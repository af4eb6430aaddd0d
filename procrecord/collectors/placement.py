"""Where a job ran: the container and the batch allocation, as far as visible from inside, offline.

Only what the runtime or scheduler puts in front of the job is used: files the runtime writes
(``/.dockerenv``, Podman's ``/run/.containerenv``, the Kubernetes service-account namespace file),
``/proc/self`` cgroup and mount tables, and environment variables. No socket, no network, no guess:
Docker shows no image name inside the container, so none is recorded; a digest appears only when
the runtime wrote it down. Every function takes a ``root`` folder and an ``environ`` for testing.
"""

from __future__ import annotations

import os
import re
from typing import Any, Mapping

_CONTAINER_ID = re.compile(r"(?:docker|libpod|crio|cri-containerd|containerd|containers)[-/:]([0-9a-f]{64})")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_MIB = 1024 * 1024


def _read(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, path.lstrip("/")), encoding="utf-8", errors="replace") as handle:
            return handle.read(1 << 20)
    except OSError:
        return None


def _exists(root: str, path: str) -> bool:
    return os.path.exists(os.path.join(root, path.lstrip("/")))


def containerenv(text: str) -> dict[str, str]:
    """The ``key="value"`` lines of Podman's ``/run/.containerenv``."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            found[key.strip()] = value.strip().strip('"')
    return found


def container_id(root: str = "/") -> str | None:
    """The container id from the cgroup or mount table of this process, where the runtime shows it."""
    for path in ("/proc/self/cgroup", "/proc/self/mountinfo"):
        text = _read(root, path) or ""
        match = _CONTAINER_ID.search(text)
        if match:
            return match.group(1)
    return None


def _cgroup_runtime(root: str) -> str | None:
    text = _read(root, "/proc/1/cgroup") or ""
    for marker, runtime in (("kubepods", "kubernetes"), ("docker", "docker"), ("containerd", "containerd"),
                            ("libpod", "podman"), ("lxc", "lxc")):
        if marker in text:
            return runtime
    return None


def container(root: str = "/", environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The ``host.container`` section: runtime, id, image name/digest, pod and namespace where visible."""
    env = os.environ if environ is None else environ
    found: dict[str, Any] = {}
    apptainer = env.get("APPTAINER_CONTAINER") or env.get("APPTAINER_NAME")
    singularity = env.get("SINGULARITY_CONTAINER") or env.get("SINGULARITY_NAME")
    if apptainer or singularity:
        # Apptainer sets both families for compatibility; its own names say which runtime it is.
        found["runtime"] = "apptainer" if apptainer else "singularity"
        image = (env.get("APPTAINER_NAME") or env.get("SINGULARITY_NAME")
                 or os.path.basename(env.get("APPTAINER_CONTAINER") or env.get("SINGULARITY_CONTAINER") or ""))
        found["image_name"] = image or None
        return _clean(found)
    if env.get("KUBERNETES_SERVICE_HOST"):
        found["runtime"] = "kubernetes"
        # The downward API names the pod where the spec asks; else the hostname is the pod name
        # (unless the spec sets another hostname, which we cannot see).
        found["pod_name"] = (env.get("POD_NAME") or env.get("K8S_POD_NAME") or env.get("MY_POD_NAME")
                             or env.get("HOSTNAME"))
        namespace = _read(root, "/var/run/secrets/kubernetes.io/serviceaccount/namespace")
        found["namespace"] = (env.get("POD_NAMESPACE") or env.get("K8S_NAMESPACE")
                              or (namespace.strip() if namespace else None))
    elif _exists(root, "/run/.containerenv"):
        found["runtime"] = "podman"
        keys = containerenv(_read(root, "/run/.containerenv") or "")
        found["id"] = keys.get("id") if _HEX64.match(keys.get("id", "")) else None
        found["image_name"] = keys.get("image")
        if _HEX64.match(keys.get("imageid", "")):
            found["image_digest"] = f"sha256:{keys['imageid']}"  # the image id Podman shows: sha256 of its config
    elif _exists(root, "/.dockerenv"):
        found["runtime"] = "docker"
    else:
        runtime = _cgroup_runtime(root)
        if runtime is None:
            return None
        found["runtime"] = runtime
    found.setdefault("id", None)
    found["id"] = found["id"] or container_id(root)
    return _clean(found)


def _int(value: str | None) -> int | None:
    value = (value or "").strip()
    return int(value) if value.isdigit() else None


def _slurm_gpus(env: Mapping[str, str]) -> int | None:
    # --gpus=N or --gpus=type:N is the job's total; else what this node got
    total = env.get("SLURM_GPUS", "").strip()
    if total:
        count = _int(total.rpartition(":")[2])
        if count is not None:
            return count
    on_node = _int(env.get("SLURM_GPUS_ON_NODE"))
    if on_node is not None:
        return on_node
    listed = env.get("SLURM_JOB_GPUS", "").strip()
    return len([g for g in listed.split(",") if g.strip()]) if listed else None


def _slurm_memory(env: Mapping[str, str]) -> int | None:
    per_node = _int(env.get("SLURM_MEM_PER_NODE"))  # megabytes (--mem)
    if per_node is not None:
        return per_node * _MIB
    per_cpu, cpus = _int(env.get("SLURM_MEM_PER_CPU")), _int(env.get("SLURM_CPUS_ON_NODE"))
    return per_cpu * cpus * _MIB if per_cpu is not None and cpus is not None else None


def slurm_details(env: Mapping[str, str]) -> dict[str, Any]:
    """SLURM's allocation as its job environment shows it (no submit time: none of its variables is one)."""
    start, end = _int(env.get("SLURM_JOB_START_TIME")), _int(env.get("SLURM_JOB_END_TIME"))
    return {
        "array_job_id": env.get("SLURM_ARRAY_JOB_ID"),
        "partition": env.get("SLURM_JOB_PARTITION"),
        "node_list": env.get("SLURM_JOB_NODELIST") or env.get("SLURM_NODELIST"),
        "node_count": _int(env.get("SLURM_JOB_NUM_NODES") or env.get("SLURM_NNODES")),
        "requested_cpus": _int(env.get("SLURM_CPUS_PER_TASK")) or _int(env.get("SLURM_CPUS_ON_NODE")),
        "requested_memory_bytes": _slurm_memory(env),
        "requested_gpus": _slurm_gpus(env),
        # the scheduled end is start + time limit (both set by SLURM 23.02 and later)
        "time_limit_s": end - start if start is not None and end is not None and end >= start else None,
    }


def pbs_details(env: Mapping[str, str]) -> dict[str, Any]:
    """PBS Pro / Torque: array id, queue, node and CPU counts, wall time (Torque's PBS_WALLTIME, seconds)."""
    return {"array_job_id": env.get("PBS_ARRAY_ID"), "partition": env.get("PBS_QUEUE"),
            "node_count": _int(env.get("PBS_NUM_NODES")),
            "requested_cpus": _int(env.get("NCPUS")) or _int(env.get("PBS_NP")),
            "time_limit_s": _int(env.get("PBS_WALLTIME"))}


def lsf_details(env: Mapping[str, str]) -> dict[str, Any]:
    """LSF: queue, hosts and slots from LSB_MCPU_HOSTS ('hostA 4 hostB 4'), the array's job id."""
    pairs = env.get("LSB_MCPU_HOSTS", "").split()
    hosts = pairs[0::2]
    slots = [_int(n) for n in pairs[1::2]]
    index = _int(env.get("LSB_JOBINDEX"))
    return {"array_job_id": env.get("LSB_JOBID") if index else None, "partition": env.get("LSB_QUEUE"),
            "node_list": ",".join(hosts) or None, "node_count": len(hosts) or None,
            "requested_cpus": _int(env.get("LSB_DJOB_NUMPROC")) or (sum(s for s in slots if s) or None)}


def sge_details(env: Mapping[str, str]) -> dict[str, Any]:
    """SGE / Grid Engine: queue, slots, hosts; an array task's job id is the array's."""
    task = env.get("SGE_TASK_ID", "")
    return {"array_job_id": env.get("JOB_ID") if task and task != "undefined" else None,
            "partition": env.get("QUEUE"), "node_count": _int(env.get("NHOSTS")),
            "requested_cpus": _int(env.get("NSLOTS"))}


def scheduler_details(name: str | None, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The 1.1 allocation fields of ``host.scheduler`` for scheduler ``name`` (absent ones left out)."""
    env = os.environ if environ is None else environ
    probe = {"slurm": slurm_details, "pbs": pbs_details, "lsf": lsf_details, "sge": sge_details}.get(name or "")
    if probe is None:
        return {}
    found = probe(env)
    if found.get("node_count") == 0:
        found["node_count"] = None
    return _clean(found)


def _clean(section: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in section.items() if v not in (None, "", "undefined")}
