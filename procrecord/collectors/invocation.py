"""The invocation section: argv, executable, cwd, pid, config and allow-listed environment variables."""

from __future__ import annotations

import os
import sys
from typing import Any, Mapping

from procrecord.collectors.interface import Collector
from procrecord.operations.secretnames import may_name_secret

#: Environment variables worth recording (patterns). Never the whole environment: values can hold secrets.
ENV_ALLOW = (
    "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "NVIDIA_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
    "ROCR_VISIBLE_DEVICES", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS", "TORCH_*", "PYTORCH_CUDA_ALLOC_CONF", "NCCL_*",
    "XLA_FLAGS", "TF_NUM_*", "CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED", "PYTHONOPTIMIZE",
    "SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_JOB_NAME", "SLURM_JOB_PARTITION",
    "SLURM_NTASKS", "SLURM_CPUS_PER_TASK", "SLURM_GPUS*", "SLURM_NNODES", "SLURM_PROCID", "SLURM_LOCALID",
    "PBS_JOBID", "PBS_ARRAY_INDEX", "PBS_QUEUE", "LSB_JOBID", "LSB_JOBINDEX", "JOB_ID", "SGE_TASK_ID",
    "WORLD_SIZE", "RANK", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_PORT",
)


def allowed_environment(environ: Mapping[str, str] | None = None, allow: tuple[str, ...] = ENV_ALLOW) -> dict[str, str]:
    """The allow-listed subset of ``environ`` (``NAME`` or ``PREFIX*`` patterns).

    Names that look like secrets (``*TOKEN*``, ``*KEY*``, ``*SESSION*``...: the scrubbing rules' list)
    are never taken, whatever the list says.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    exact = {p for p in allow if not p.endswith("*")}
    prefixes = tuple(p[:-1] for p in allow if p.endswith("*"))
    out = {}
    for name, value in env.items():
        if (name in exact or name.startswith(prefixes)) and not may_name_secret(name):
            out[name] = value
    return dict(sorted(out.items()))


class InvocationCollector(Collector):
    """How the job was started."""

    name = section = "invocation"

    def __init__(self, allow: tuple[str, ...] = ENV_ALLOW) -> None:
        self.allow = allow

    def collect(self, state: Any) -> dict[str, Any]:
        argv = state.argv if state.argv is not None else list(sys.argv)
        executable = state.executable if state.executable is not None else (sys.executable or None)
        pid = state.pid if state.pid is not None else os.getpid()
        section: dict[str, Any] = {"argv": [str(a) for a in argv], "executable": executable, "cwd": working_folder(), "pid": pid}
        if state.config is not None:
            section["config"] = state.config
            if state.config_notes:
                section["config_notes"] = state.config_notes
        env = allowed_environment(allow=self.allow)
        if env:
            section["environment"] = env
        return {k: v for k, v in section.items() if v is not None}


def working_folder() -> str | None:
    """The working folder, or None when it is gone (deleted under the job)."""
    try:
        return os.getcwd()
    except OSError:
        return None
