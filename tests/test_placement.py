"""Where a job ran: containers and scheduler allocations from fake roots and environments; distributed ranks."""

from __future__ import annotations

import pytest

from procrecord.collectors import host, placement
from procrecord.collectors.distributed import distributed
from procrecord.collectors.placement import container, scheduler_details
from procrecord.record.validation import validate
from procrecord.writer.recorder import Recorder

CID = "3f4e" * 16
IMAGE_ID = "9a8b" * 16


def _write(root, path, text):
    target = root / path.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)


def test_no_container(tmp_path):
    assert container(str(tmp_path), {}) is None


def test_docker_shows_runtime_and_id_but_no_image(tmp_path):
    _write(tmp_path, "/.dockerenv", "")
    _write(tmp_path, "/proc/self/mountinfo",
           f"612 590 0:23 /var/lib/docker/containers/{CID}/hostname /etc/hostname rw - ext4 /dev/sda1 rw\n")
    assert container(str(tmp_path), {}) == {"runtime": "docker", "id": CID}


def test_podman_containerenv_gives_image_and_its_id(tmp_path):
    _write(tmp_path, "/run/.containerenv",
           f'engine="podman-4.9.3"\nname="fit"\nid="{CID}"\nimage="quay.io/lab/train:2.1"\nimageid="{IMAGE_ID}"\nrootless=1\n')
    found = container(str(tmp_path), {})
    assert found == {"runtime": "podman", "id": CID, "image_name": "quay.io/lab/train:2.1",
                     "image_digest": f"sha256:{IMAGE_ID}"}


def test_rootless_podman_without_keys_guesses_nothing(tmp_path):
    _write(tmp_path, "/run/.containerenv", 'engine="podman-4.9.3"\n')
    assert container(str(tmp_path), {}) == {"runtime": "podman"}


def test_kubernetes_pod_and_namespace(tmp_path):
    _write(tmp_path, "/var/run/secrets/kubernetes.io/serviceaccount/namespace", "ml-team\n")
    _write(tmp_path, "/proc/self/cgroup", f"0::/kubepods/burstable/pod1234/cri-containerd-{CID}.scope\n")
    env = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "train-7f9c-abcde"}
    assert container(str(tmp_path), env) == {"runtime": "kubernetes", "pod_name": "train-7f9c-abcde",
                                             "namespace": "ml-team", "id": CID}
    env.update(POD_NAME="from-downward-api", POD_NAMESPACE="other")
    found = container(str(tmp_path), env)
    assert found["pod_name"] == "from-downward-api" and found["namespace"] == "other"


@pytest.mark.parametrize("env, expected", [
    ({"APPTAINER_CONTAINER": "/scratch/img/train.sif", "APPTAINER_NAME": "train.sif",
      "SINGULARITY_CONTAINER": "/scratch/img/train.sif", "SINGULARITY_NAME": "train.sif"},
     {"runtime": "apptainer", "image_name": "train.sif"}),
    ({"SINGULARITY_CONTAINER": "/scratch/img/old.simg", "SINGULARITY_NAME": "old.simg"},
     {"runtime": "singularity", "image_name": "old.simg"}),
    ({"SINGULARITY_CONTAINER": "/scratch/img/bare.sif"}, {"runtime": "singularity", "image_name": "bare.sif"}),
])
def test_apptainer_and_singularity(tmp_path, env, expected):
    assert container(str(tmp_path), env) == expected


def test_cgroup_marker_alone(tmp_path):
    _write(tmp_path, "/proc/1/cgroup", "12:pids:/lxc/box\n")
    assert container(str(tmp_path), {}) == {"runtime": "lxc"}


SLURM = {"SLURM_JOB_ID": "4412987", "SLURM_ARRAY_JOB_ID": "4412980", "SLURM_ARRAY_TASK_ID": "7",
         "SLURM_JOB_PARTITION": "gpu", "SLURM_JOB_NODELIST": "gpu-node[07-08]", "SLURM_JOB_NUM_NODES": "2",
         "SLURM_CPUS_PER_TASK": "8", "SLURM_CPUS_ON_NODE": "32", "SLURM_MEM_PER_NODE": "64000",
         "SLURM_GPUS": "a100:4", "SLURM_JOB_GPUS": "0,1", "SLURM_JOB_START_TIME": "1700000000",
         "SLURM_JOB_END_TIME": "1700086400"}


def test_slurm_allocation():
    assert scheduler_details("slurm", SLURM) == {
        "array_job_id": "4412980", "partition": "gpu", "node_list": "gpu-node[07-08]", "node_count": 2,
        "requested_cpus": 8, "requested_memory_bytes": 64000 * 1024 * 1024, "requested_gpus": 4,
        "time_limit_s": 86400}


def test_slurm_fallbacks_per_cpu_memory_and_gpus_on_node():
    env = {"SLURM_JOB_ID": "1", "SLURM_CPUS_ON_NODE": "4", "SLURM_MEM_PER_CPU": "2000", "SLURM_JOB_GPUS": "2,3"}
    assert scheduler_details("slurm", env) == {"requested_cpus": 4, "requested_memory_bytes": 8000 * 1024 * 1024,
                                               "requested_gpus": 2}


def test_pbs_lsf_sge():
    assert scheduler_details("pbs", {"PBS_JOBID": "9.srv", "PBS_QUEUE": "long", "PBS_ARRAY_ID": "8[].srv",
                                     "NCPUS": "16", "PBS_NUM_NODES": "1", "PBS_WALLTIME": "3600"}) == {
        "array_job_id": "8[].srv", "partition": "long", "node_count": 1, "requested_cpus": 16, "time_limit_s": 3600}
    assert scheduler_details("lsf", {"LSB_JOBID": "77", "LSB_JOBINDEX": "3", "LSB_QUEUE": "normal",
                                     "LSB_MCPU_HOSTS": "hostA 4 hostB 4"}) == {
        "array_job_id": "77", "partition": "normal", "node_list": "hostA,hostB", "node_count": 2, "requested_cpus": 8}
    assert scheduler_details("lsf", {"LSB_JOBID": "77", "LSB_JOBINDEX": "0"}) == {}
    assert scheduler_details("sge", {"JOB_ID": "5", "SGE_TASK_ID": "undefined", "QUEUE": "all.q", "NSLOTS": "4",
                                     "NHOSTS": "1"}) == {"partition": "all.q", "node_count": 1, "requested_cpus": 4}
    assert scheduler_details(None, SLURM) == {}


def test_host_section_with_container_and_scheduler_validates(monkeypatch):
    monkeypatch.setattr(placement, "container", lambda root="/", environ=None: {"runtime": "apptainer", "image_name": "t.sif"})
    monkeypatch.setattr(host, "scheduler", lambda environ=None: {"name": "slurm", "job_id": "4412987"})
    monkeypatch.setattr(placement, "scheduler_details", lambda name, environ=None: scheduler_details(name, SLURM))
    record = Recorder("job", collectors=["host"], use_plugins=False).start().stop()
    assert record["host"]["container"] == {"runtime": "apptainer", "image_name": "t.sif"}
    assert record["host"]["scheduler"]["requested_gpus"] == 4 and record["host"]["scheduler"]["job_id"] == "4412987"
    assert validate(record) == []


# -- distributed ---------------------------------------------------------------------------------

def test_torchrun():
    env = {"RANK": "5", "LOCAL_RANK": "1", "WORLD_SIZE": "8", "LOCAL_WORLD_SIZE": "4", "GROUP_RANK": "1",
           "TORCHELASTIC_RUN_ID": "fit-42", "SLURM_PROCID": "1", "SLURM_JOB_ID": "99"}
    assert distributed(env) == {"launcher": "torchrun", "rank": 5, "local_rank": 1, "world_size": 8,
                                "local_world_size": 4, "node_rank": 1, "group_id": "fit-42"}


def test_torchrun_default_run_id_is_no_group_and_plain_env_is_other():
    env = {"RANK": "0", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "none"}
    assert "group_id" not in distributed(env)
    assert distributed({"RANK": "1", "WORLD_SIZE": "2"})["launcher"] == "other"


def test_slurm_tasks():
    env = {"SLURM_PROCID": "3", "SLURM_LOCALID": "1", "SLURM_NTASKS": "4", "SLURM_NODEID": "1",
           "SLURM_NTASKS_PER_NODE": "2(x2)", "SLURM_JOB_ID": "4412987", "SLURM_STEP_ID": "0"}
    assert distributed(env) == {"launcher": "slurm", "rank": 3, "local_rank": 1, "world_size": 4, "node_rank": 1,
                                "group_id": "4412987.0"}


@pytest.mark.parametrize("env, expected", [
    ({"OMPI_COMM_WORLD_RANK": "2", "OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_LOCAL_RANK": "0",
      "OMPI_COMM_WORLD_LOCAL_SIZE": "2", "OMPI_COMM_WORLD_NODE_RANK": "1", "PMIX_NAMESPACE": "prterun-x-1@1"},
     {"launcher": "mpi", "rank": 2, "world_size": 4, "local_rank": 0, "local_world_size": 2, "node_rank": 1,
      "group_id": "prterun-x-1@1"}),
    ({"PMI_RANK": "1", "PMI_SIZE": "2", "MPI_LOCALRANKID": "1", "MPI_LOCALNRANKS": "2"},
     {"launcher": "mpi", "rank": 1, "world_size": 2, "local_rank": 1, "local_world_size": 2}),
])
def test_mpi(env, expected):
    assert distributed(env) == expected


def test_not_distributed_and_broken_values():
    assert distributed({}) is None
    assert distributed({"RANK": "x", "WORLD_SIZE": "2"}) is None
    assert distributed({"SLURM_PROCID": "0", "SLURM_NTASKS": "0"}) == {"launcher": "slurm", "rank": 0}


def test_distributed_section_in_a_record_validates(monkeypatch):
    for key, value in {"RANK": "1", "LOCAL_RANK": "1", "WORLD_SIZE": "2", "TORCHELASTIC_RUN_ID": "r1"}.items():
        monkeypatch.setenv(key, value)
    record = Recorder("job", collectors=["distributed"], use_plugins=False).start().stop()
    assert record["distributed"]["rank"] == 1 and validate(record) == []
