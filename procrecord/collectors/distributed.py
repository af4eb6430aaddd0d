"""The distributed section: this process as one of the N processes of a job, from the launcher's variables.

Launchers are tried in the order that makes the innermost one win: torchrun (``torch.distributed``'s
variables: when torchrun runs under SLURM or MPI, its ranks are the ones the job uses), then MPI
(Open MPI, MPICH/Intel MPI's PMI, PMIx), then SLURM's task variables. Only variables that parse as
integers are used; nothing is guessed.
"""

from __future__ import annotations

import os
from typing import Any, Mapping

from procrecord.collectors.interface import Collector


def _int(env: Mapping[str, str], *names: str) -> int | None:
    for name in names:
        value = env.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


def _first(env: Mapping[str, str], *names: str) -> str | None:
    for name in names:
        value = env.get(name, "").strip()
        if value:
            return value
    return None


def torch_launch(env: Mapping[str, str]) -> dict[str, Any] | None:
    """torchrun / torch.distributed ``env://`` variables."""
    if _int(env, "RANK") is None or _int(env, "WORLD_SIZE") is None:
        return None
    run_id = _first(env, "TORCHELASTIC_RUN_ID")
    # torchrun's default --rdzv-id is the literal 'none': not an identifier of anything
    group = run_id if run_id and run_id.lower() != "none" else _first(env, "SLURM_JOB_ID")
    launcher = "torchrun" if ("TORCHELASTIC_RUN_ID" in env or "GROUP_RANK" in env) else "other"
    return {"launcher": launcher, "rank": _int(env, "RANK"), "local_rank": _int(env, "LOCAL_RANK"),
            "world_size": _int(env, "WORLD_SIZE"), "local_world_size": _int(env, "LOCAL_WORLD_SIZE"),
            "node_rank": _int(env, "GROUP_RANK", "NODE_RANK"), "group_id": group}


def mpi_launch(env: Mapping[str, str]) -> dict[str, Any] | None:
    """Open MPI (``OMPI_COMM_WORLD_*``), MPICH / Intel MPI (``PMI_*``, ``MPI_LOCAL*``) and PMIx variables."""
    rank = _int(env, "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")
    if rank is None:
        return None
    return {"launcher": "mpi", "rank": rank,
            "local_rank": _int(env, "OMPI_COMM_WORLD_LOCAL_RANK", "MPI_LOCALRANKID"),
            "world_size": _int(env, "OMPI_COMM_WORLD_SIZE", "PMI_SIZE"),
            "local_world_size": _int(env, "OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"),
            "node_rank": _int(env, "OMPI_COMM_WORLD_NODE_RANK"),
            "group_id": _first(env, "PMIX_NAMESPACE", "OMPI_MCA_orte_ess_jobid", "SLURM_JOB_ID")}


def slurm_launch(env: Mapping[str, str]) -> dict[str, Any] | None:
    """SLURM task variables (srun, and the batch step as task 0 of 1)."""
    rank = _int(env, "SLURM_PROCID")
    if rank is None:
        return None
    job = _first(env, "SLURM_JOB_ID", "SLURM_JOBID")
    step = _first(env, "SLURM_STEP_ID", "SLURM_STEPID")
    return {"launcher": "slurm", "rank": rank, "local_rank": _int(env, "SLURM_LOCALID"),
            "world_size": _int(env, "SLURM_NTASKS", "SLURM_NPROCS"),
            # SLURM_NTASKS_PER_NODE may read '2(x3)': only a plain number is one node's count
            "local_world_size": _int(env, "SLURM_NTASKS_PER_NODE"),
            "node_rank": _int(env, "SLURM_NODEID"),
            "group_id": f"{job}.{step}" if job and step else job}


def distributed(environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """The distributed section for ``environ`` (default: ours), or None outside a distributed launch."""
    env = os.environ if environ is None else environ
    for probe in (torch_launch, mpi_launch, slurm_launch):
        found = probe(env)
        if found is not None:
            return _valid({k: v for k, v in found.items() if v is not None})
    return None


def _valid(section: dict[str, Any]) -> dict[str, Any]:
    # the schema's lower bounds: a size of 0 is a broken variable, not a fact
    for key in ("world_size", "local_world_size"):
        if section.get(key) == 0:
            del section[key]
    return section


class DistributedCollector(Collector):
    """Rank, local rank, world size and group id of a distributed job."""

    name = section = "distributed"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = environ

    def collect(self, state: Any) -> Any:
        return distributed(self.environ)
