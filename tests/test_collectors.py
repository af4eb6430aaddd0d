"""Collectors one by one, on fake inputs where the real thing is not on this machine (GPU, NVML)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from procrecord.collectors import builtin, disks, git, host, invocation, plugins, python_env
from procrecord.collectors import devices as dev
from procrecord.collectors.interface import Skipped

from helpers import FakeTracker


class State:
    argv = None
    config = None
    config_notes: list = []
    executable = None
    pid = None
    stopping = True


# --- git ----------------------------------------------------------------------------------------

def _git(cwd, *args):
    subprocess.run(["git", "-C", str(cwd), *args], check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@e", "GIT_COMMITTER_NAME": "t",
                        "GIT_COMMITTER_EMAIL": "t@e"})


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    _git(root, "init", "-q", "-b", "main")
    (root / "a.txt").write_text("a")
    _git(root, "add", "a.txt")
    _git(root, "commit", "-q", "-m", "one")
    _git(root, "remote", "add", "origin", "https://user:ghp_secret123@github.com/org/repo.git")
    return root


def _head(root):
    return subprocess.run(["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()


def test_git_loose_ref_and_remote_without_credentials(repo):
    collector = builtin("git", path=str(repo))
    section = collector.collect(State())
    assert section["commit"] == _head(repo) and section["branch"] == "main"
    assert section["remote_url"] == "https://github.com/org/repo.git"
    final = collector.update(State())
    assert final["dirty"] is False
    (repo / "a.txt").write_text("changed")
    assert git.is_dirty(repo) is True


def test_git_packed_refs_detached_and_worktree(repo, tmp_path):
    _git(repo, "pack-refs", "--all")
    assert not (repo / ".git" / "refs" / "heads" / "main").exists()
    assert git.head(repo / ".git") == (_head(repo), "main")
    _git(repo, "checkout", "-q", "--detach")
    assert git.head(repo / ".git") == (_head(repo), None)
    _git(repo, "checkout", "-q", "main")
    _git(repo, "worktree", "add", "-q", "-b", "side", str(tmp_path / "wt"))
    root, git_dir = git.find_git_dir(tmp_path / "wt")
    assert root == (tmp_path / "wt").resolve() and git.head(git_dir) == (_head(repo), "side")
    assert git.remote_url(git_dir) == "https://github.com/org/repo.git"


def test_no_repository_is_a_skip(tmp_path):
    assert builtin("git", path=str(tmp_path)).collect(State()) == Skipped("not in a git repository")


@pytest.mark.parametrize("url, clean", [
    ("https://user:pw@host/x.git", "https://host/x.git"), ("https://token@host/x.git", "https://host/x.git"),
    ("git@github.com:org/x.git", "git@github.com:org/x.git"), ("ssh://git@host/x", "ssh://host/x"),
    ("https://host/x.git", "https://host/x.git"),
])
def test_strip_credentials(url, clean):
    assert git.strip_credentials(url) == clean


# --- host, invocation, python -------------------------------------------------------------------

def test_host_section():
    section = builtin("host").collect(State())
    cpu = section["cpu"]
    assert section["arch"] == os.uname().machine and cpu["model"]
    assert 1 <= cpu["physical_count"] <= cpu["logical_count"] and 1 <= cpu["affinity_count"] <= cpu["logical_count"]
    assert section["memory_total_bytes"] > 0 and section["os"]["name"] == os.uname().sysname


@pytest.mark.parametrize("env, expected", [
    ({"SLURM_JOB_ID": "42", "SLURM_ARRAY_TASK_ID": "3", "SLURM_CLUSTER_NAME": "c"}, {"name": "slurm", "job_id": "42", "array_task_id": "3", "cluster": "c"}),
    ({"PBS_JOBID": "7.srv"}, {"name": "pbs", "job_id": "7.srv"}),
    ({"LSB_JOBID": "9", "LSB_JOBINDEX": "0"}, {"name": "lsf", "job_id": "9", "array_task_id": "0"}),
    ({"JOB_ID": "5", "SGE_ROOT": "/sge"}, {"name": "sge", "job_id": "5"}),
    ({"KUBERNETES_SERVICE_HOST": "10.0.0.1", "HOSTNAME": "pod-abc"}, {"name": "kubernetes", "job_id": "pod-abc"}),
    ({}, None),
])
def test_scheduler_detection(env, expected):
    assert host.scheduler(env) == expected


def test_physical_cores_agree_with_psutil():
    import psutil

    theirs = psutil.cpu_count(logical=False)
    if theirs is None:
        pytest.skip("psutil cannot count physical cores here")
    assert host.physical_cores() == theirs


def test_io_counters_agree_with_psutil():
    import psutil

    from procrecord.collectors import resources

    ours = resources.io_counters()
    io = psutil.Process().io_counters()
    assert set(ours) == {"io_read_bytes", "io_write_bytes", "io_read_count", "io_write_count"}
    assert ours["io_read_bytes"] <= io.read_bytes and ours["io_write_bytes"] <= io.write_bytes
    # the counts move with every system call in between, never backwards
    assert ours["io_read_count"] <= io.read_count <= ours["io_read_count"] + 100
    assert ours["io_write_count"] <= io.write_count <= ours["io_write_count"] + 100


def test_io_counters_fall_back_to_psutil_without_proc(monkeypatch):
    from procrecord.collectors import resources

    real_open = open

    def no_proc(path, *args, **kwargs):
        if str(path) == "/proc/self/io":
            raise FileNotFoundError(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr("builtins.open", no_proc)
    assert set(resources.io_counters()) == {"io_read_bytes", "io_write_bytes", "io_read_count", "io_write_count"}


def test_distribution_comes_from_os_release():
    import platform

    try:
        expected = platform.freedesktop_os_release().get("PRETTY_NAME")
    except OSError:
        pytest.skip("no os-release here")
    assert host.distribution() == expected and expected


def test_cpuinfo_parsing():
    text = "processor\t: 0\nmodel name\t: Fancy CPU\nphysical id\t: 0\ncore id\t: 0\n\nprocessor\t: 1\nphysical id\t: 0\ncore id\t: 0\n\nprocessor\t: 2\nphysical id\t: 1\ncore id\t: 0\n"
    assert host.cpu_model(text) == "Fancy CPU" and host.physical_cores(text) == 2


def test_environment_allow_list_never_takes_secrets():
    env = {"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "4", "TORCH_HOME": "/x", "AWS_SECRET_ACCESS_KEY": "s",
           "NCCL_IB_TOKEN": "t", "NCCL_SESSION_COOKIE": "c", "HOME": "/root", "PATH": "/bin", "SLURM_JOB_ID": "1"}
    assert invocation.allowed_environment(env) == {"CUDA_VISIBLE_DEVICES": "0", "OMP_NUM_THREADS": "4",
                                                   "SLURM_JOB_ID": "1", "TORCH_HOME": "/x"}


def test_package_scan(tmp_path):
    for name in ("numpy-2.1.0.dist-info", "Typing_Extensions-4.15.0.dist-info", "old_pkg-1.0-py3.9.egg-info", "notes.txt"):
        (tmp_path / name).mkdir()
    shadow = tmp_path / "later"
    shadow.mkdir()
    (shadow / "numpy-1.0.0.dist-info").mkdir()
    found = python_env.scan_packages([str(tmp_path), str(shadow)])
    assert found == [{"name": "numpy", "version": "2.1.0"}, {"name": "old-pkg", "version": "1.0"},
                     {"name": "typing-extensions", "version": "4.15.0"}]


def test_full_package_metadata_mode():
    packages = builtin("python", packages="full").collect(State())["packages"]
    names = {p["name"] for p in packages}
    assert {"attrs", "click"} <= names
    assert all(isinstance(p["version"], str) for p in packages)


def test_scan_agrees_with_importlib_metadata():
    import importlib.metadata as md

    scanned = {p["name"]: p["version"] for p in python_env.scan_packages()}
    wanted = {"attrs", "click", "orjson", "jsonschema"}
    compared = set()
    for dist in md.distributions():
        name = python_env.canonical_name(dist.metadata["Name"])
        if name in wanted and name not in compared:
            assert scanned[name] == dist.version
            compared.add(name)
    assert compared == wanted


# --- disks --------------------------------------------------------------------------------------

MOUNTINFO = """\
22 1 252:1 / / rw,relatime - ext4 /dev/nvme0n1p1 rw
30 22 0:40 / /data rw - nfs4 fs01:/export/data rw
31 22 0:41 / /dev/shm rw - tmpfs tmpfs rw
32 22 0:42 / /var/lib/docker/overlay2/x/merged rw - overlay overlay rw
33 22 8:17 / /mnt/my\\040disk rw - xfs /dev/sdb1 rw
"""


@pytest.mark.parametrize("path, point, fs, kind", [
    ("/data/x/y", "/data", "nfs4", "network"), ("/dev/shm/q", "/dev/shm", "tmpfs", "memory"),
    ("/var/lib/docker/overlay2/x/merged/etc", "/var/lib/docker/overlay2/x/merged", "overlay", "overlay"),
    ("/mnt/my disk/f", "/mnt/my disk", "xfs", None), ("/home/u", "/", "ext4", None),
])
def test_mountinfo(tmp_path, monkeypatch, path, point, fs, kind):
    info = tmp_path / "mountinfo"
    info.write_text(MOUNTINFO)
    monkeypatch.setattr(os.path, "realpath", lambda p: p)
    mount = disks.mount_for(path, str(info))
    assert (mount["mount_point"], mount["filesystem"]) == (point, fs)
    if kind:
        assert disks.storage_kind(fs, mount["devno"]) == kind


def _block(sys_root: Path, devno: str, disk: str, rotational: str | None, partition: str | None = None, driver: str = "nvme"):
    device = sys_root / "devices" / "pci0000:00" / disk
    (device / "queue").mkdir(parents=True)
    if rotational is not None:
        (device / "queue" / "rotational").write_text(rotational + "\n")
    (device / "device").mkdir()
    (sys_root / "bus" / driver).mkdir(parents=True, exist_ok=True)
    os.symlink(sys_root / "bus" / driver, device / "device" / "driver")
    target = device
    if partition:
        target = device / partition
        target.mkdir()
    (sys_root / "dev" / "block").mkdir(parents=True, exist_ok=True)
    os.symlink(target, sys_root / "dev" / "block" / devno)


def test_storage_kind_from_sys(tmp_path):
    _block(tmp_path, "259:1", "nvme0n1", "0", partition="nvme0n1p1")
    _block(tmp_path, "8:0", "sda", "1")
    _block(tmp_path, "253:0", "vda", "1", driver="virtio_blk")
    assert disks.storage_kind("ext4", "259:1", str(tmp_path)) == "ssd"
    assert disks.storage_kind("xfs", "8:0", str(tmp_path)) == "hdd"
    assert disks.storage_kind("ext4", "253:0", str(tmp_path)) == "unknown", "virtio reports rotational=1 regardless"
    assert disks.storage_kind("ext4", "1:99", str(tmp_path)) == "unknown"


def test_disk_info_real_path(tmp_path):
    entry = disks.disk_info(tmp_path)
    assert entry["path"] == str(tmp_path) and entry["total_bytes"] >= entry["free_bytes"] > 0
    with pytest.raises(OSError):
        disks.disk_info(tmp_path / "missing")


# --- devices with a fake NVML -----------------------------------------------------------------

def fake_nvml(used_samples=(4_640_997_376,), energy=(1_000_000, 18_200_000)):
    """A stand-in for pynvml reporting what gpu-facts.md measured on an H100."""
    energy_reads = iter(energy)
    samples = iter(used_samples)

    def energy_counter(handle):
        return next(energy_reads, energy[-1])
    me = os.getpid()

    def running(handle):
        try:
            used = next(samples)
        except StopIteration:
            used = used_samples[-1]
        return [types.SimpleNamespace(pid=me, usedGpuMemory=used), types.SimpleNamespace(pid=1, usedGpuMemory=10**9)]

    return types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlDeviceGetHandleByIndex=lambda i: f"h{i}",
        nvmlDeviceGetName=lambda h: "NVIDIA H100 80GB HBM3",
        nvmlDeviceGetUUID=lambda h: "GPU-5b1f0c2e-7d3a-4e9b-8c6f-1a2b3c4d5e6f",
        nvmlDeviceGetSerial=lambda h: "1652023010447",
        nvmlDeviceGetPciInfo=lambda h: types.SimpleNamespace(busId=b"00000000:18:00.0"),
        nvmlDeviceGetCudaComputeCapability=lambda h: (9, 0),
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=85_520_809_984, used=500_000_000),
        nvmlSystemGetDriverVersion=lambda: "580.159.04",
        nvmlSystemGetCudaDriverVersion_v2=lambda: 13000,
        nvmlDeviceGetComputeRunningProcesses=running,
        nvmlDeviceGetTotalEnergyConsumption=energy_counter,
    )


def test_gpu_device_through_nvml():
    collector = dev.DevicesCollector(["cuda:0"], nvml=fake_nvml(used_samples=(100, 4_640_997_376, 2_000)))
    state = State()
    state.stopping = False
    collector.collect(state)
    collector.update(state)
    (entry,) = collector.update(state)
    assert entry["name"] == "NVIDIA H100 80GB HBM3" and entry["compute_capability"] == "9.0"
    assert entry["memory_total_bytes"] == 85_520_809_984 and entry["memory_used_peak_bytes"] == 4_640_997_376
    assert entry["driver_version"] == "580.159.04" and entry["cuda_driver_version"] == "13.0"
    assert entry["uuid"].startswith("GPU-") and entry["serial"] == "1652023010447" and entry["pci_bus_id"] == "00000000:18:00.0"
    assert entry["energy_kwh"] == pytest.approx(17_200_000 / 3.6e9)


def test_missing_process_entry_means_unknown_not_zero():
    nvml = fake_nvml()
    nvml.nvmlDeviceGetComputeRunningProcesses = lambda h: []
    collector = dev.DevicesCollector([0], nvml=nvml)
    (entry,) = collector.collect(State())
    assert "memory_used_peak_bytes" not in entry


def test_one_failing_nvml_query_loses_nothing_else():
    nvml = fake_nvml()

    def broken(h):
        raise RuntimeError("not supported")

    nvml.nvmlDeviceGetSerial = broken
    nvml.nvmlDeviceGetTotalEnergyConsumption = broken
    (entry,) = dev.DevicesCollector([0], nvml=nvml).collect(State())
    assert "serial" not in entry and "energy_kwh" not in entry and entry["compute_capability"] == "9.0"


def test_torch_facts_when_torch_is_imported(monkeypatch):
    cuda = types.SimpleNamespace(
        is_available=lambda: True, is_initialized=lambda: True,
        get_device_properties=lambda i: types.SimpleNamespace(name="NVIDIA H100 80GB HBM3", major=9, minor=0, multi_processor_count=132, total_memory=85_520_809_984),
        max_memory_allocated=lambda i: 4_000_000_000, max_memory_reserved=lambda i: 4_001_366_016)
    monkeypatch.setitem(sys.modules, "torch", types.SimpleNamespace(cuda=cuda))
    (entry,) = dev.DevicesCollector(["cuda:0"], nvml=fake_nvml()).collect(State())
    assert entry["torch_max_allocated_bytes"] == 4_000_000_000 and entry["torch_max_reserved_bytes"] == 4_001_366_016
    assert entry["multiprocessor_count"] == 132
    assert entry["memory_used_peak_bytes"] > entry["torch_max_allocated_bytes"]


def test_no_nvml_is_skipped(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)
    assert isinstance(dev.load_nvml(), Skipped)
    collector = dev.DevicesCollector(["cuda:0"])
    (entry,) = collector.collect(State())
    assert entry["index"] == 0 and entry["type"] == "gpu" and "nvidia-ml-py" in entry["error"]
    assert collector.problems and "nvidia-ml-py" in collector.problems[0]


def test_an_unreadable_gpu_is_recorded_beside_other_devices(monkeypatch):
    """cuda:0 on a machine without GPU does not vanish when the CPU is also requested."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    entries = dev.DevicesCollector(["cpu", "cuda:0"]).collect(State())
    assert [(e["type"], e["index"]) for e in entries] == [("gpu", 0), ("cpu", 0)]
    assert "error" in entries[0] and "error" not in entries[1]


@pytest.mark.parametrize("order", [["cpu", "mps"], ["mps", "cpu"]])
def test_cpu_and_mps_are_two_devices(order, monkeypatch):
    """Both are index 0: the second one requested used to vanish."""
    monkeypatch.setitem(sys.modules, "pynvml", None)
    entries = dev.DevicesCollector([*order, "cuda:0", "cpu"]).collect(State())
    assert [(e["type"], e["index"]) for e in entries] == [("gpu", 0), ("cpu", 0), ("mps", 0)]


def test_cpu_and_mps_added_while_the_job_runs():
    from procrecord.record.validation import validate
    from procrecord.writer.recorder import Recorder

    with Recorder("d", collectors=[], use_plugins=False, handle_signals=False) as rec:
        rec.add_device_info("cpu")
        rec.add_device_info("mps")
    assert [(d["type"], d["index"]) for d in rec.record["devices"]] == [("cpu", 0), ("mps", 0)]
    assert validate(rec.record) == []


@pytest.mark.parametrize("device", ["bogus", "cuda:x", "", -1, 1.5, True])
def test_something_that_is_not_a_device_is_an_error(device):
    from procrecord.errors import ProcrecordError

    with pytest.raises(ProcrecordError, match="not a device"):
        dev.parse_device(device)


@pytest.mark.parametrize("device, expected", [
    ("cuda:1", ("gpu", 1)), ("cpu", ("cpu", 0)), (2, ("gpu", 2)), (None, ("gpu", 0)), ("mps", ("mps", 0)),
    (types.SimpleNamespace(type="cuda", index=3), ("gpu", 3)),
])
def test_parse_device(device, expected):
    assert dev.parse_device(device) == expected


NO_NVML = types.SimpleNamespace(nvmlDeviceGetCount=lambda: 0)

# --- emissions with a fake tracker -------------------------------------------------------------

def test_emissions_with_explicit_country(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    collector = builtin("emissions", country_iso_code="fra", region=None, tracker_factory=FakeTracker,
                        rapl_root=str(tmp_path / "no-rapl"), nvml=NO_NVML)
    assert collector.collect(State()) is None
    stopping = State()
    stopping.stopping = True
    section = collector.update(stopping)
    assert section["energy_kwh"] == pytest.approx(0.5) and section["gpu_energy_kwh"] == 0.25
    assert section["emissions_kg"] == pytest.approx(0.19)
    assert section["country_iso_code"] == "FRA" and section["tool"] == "codecarbon"
    assert {(m["component"], m["method"]) for m in section["measurements"]} == {("cpu", "estimate"), ("gpu", "estimate"), ("ram", "estimate")}
    assert list(tmp_path.iterdir()) == [], "nothing written into the job's folder"


class SlowTracker(FakeTracker):
    def start(self):
        time.sleep(0.4)  # codecarbon probes the hardware before it measures


def test_start_waits_for_the_estimator_so_the_job_runs_inside_its_interval(tmp_path):
    collector = builtin("emissions", country_iso_code="FRA", tracker_factory=SlowTracker, rapl_root=str(tmp_path), nvml=NO_NVML)
    collector.collect(State())  # returns once the tracker measures (0.4 s of probing)
    job = time.monotonic()
    time.sleep(0.5)
    job_s = time.monotonic() - job
    stopping = State()
    stopping.stopping = True
    section = collector.update(stopping)
    cpu = next(m for m in section["measurements"] if m["component"] == "cpu")
    assert cpu["duration_s"] >= job_s, "the whole job is inside the estimated interval"
    assert cpu["start_time"] > collector._interval.start_time, "the interval starts once the estimator measures"


def test_emissions_without_country_give_the_energy_and_say_why_there_is_no_co2(monkeypatch):
    """The energy needs no country (README); the CO2-eq does, and the collector's reason says so."""
    monkeypatch.delenv("PROCRECORD_EMISSIONS_COUNTRY", raising=False)
    collector = builtin("emissions", tracker_factory=FakeTracker, rapl_root="/nonexistent", nvml=NO_NVML)
    assert collector.collect(State()) is None
    section = collector.update(State())
    assert section["energy_kwh"] == pytest.approx(0.5) and section["cpu_energy_kwh"] == pytest.approx(0.2)
    assert "emissions_kg" not in section and "country_iso_code" not in section
    assert any("no CO2-eq: it needs a country" in p for p in collector.problems)


def test_emissions_that_cannot_measure_say_skipped_at_every_update(monkeypatch):
    """No counter and no codecarbon: skipped at start, and still skipped at stop (was an empty "ok")."""
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "codecarbon" else real(name, *a))
    collector = builtin("emissions", country_iso_code="USA", rapl_root="/nonexistent", nvml=NO_NVML)
    first = collector.collect(State())
    assert isinstance(first, Skipped) and "codecarbon is not installed" in first.reason
    assert collector.update(State()) == first


def test_an_estimator_that_gives_no_figure_is_a_failure_not_an_empty_ok():
    class Silent(FakeTracker):
        def stop(self):
            return None

    collector = builtin("emissions", country_iso_code="USA", tracker_factory=Silent, rapl_root="/nonexistent", nvml=NO_NVML)
    assert collector.collect(State()) is None
    with pytest.raises(RuntimeError, match="no energy measured; codecarbon gave no figures"):
        collector.update(State())


def test_emissions_tracker_failure_is_reported():
    def broken(**kwargs):
        raise OSError("no RAPL")

    collector = builtin("emissions", country_iso_code="USA", tracker_factory=broken, rapl_root="/nonexistent", nvml=NO_NVML)
    with pytest.raises(RuntimeError, match="no RAPL"):
        collector.collect(State())
    with pytest.raises(RuntimeError, match="no RAPL"):
        collector.update(State())


@pytest.mark.slow
def test_real_codecarbon_offline(tmp_path, monkeypatch):
    pytest.importorskip("codecarbon")
    monkeypatch.chdir(tmp_path)
    from procrecord.writer.recorder import Recorder

    rec = Recorder("cc", emissions={"country_iso_code": "USA", "region": "new york"}, use_plugins=False,
                   git_dirty=False, handle_signals=False)
    rec.start()  # waits for codecarbon's hardware probe, so the job's work is inside the estimate
    job = time.monotonic()
    sum(i * i for i in range(200_000))
    job_s = time.monotonic() - job
    out = rec.stop()
    from procrecord.record.validation import validate

    assert validate(out) == []
    section = out["emissions"]
    assert section["country_iso_code"] == "USA" and section["energy_kwh"] >= 0 and section["emissions_kg"] >= 0
    assert all(m["duration_s"] >= job_s for m in section["measurements"])
    assert not list(tmp_path.iterdir()), "codecarbon wrote nothing into the job's folder"


# --- plugins --------------------------------------------------------------------------------------

ENTRY_POINTS = """\
[console_scripts]
x = y:z

[procrecord.collectors]
# a comment
lab = labplugin:LabCollector
 spaced  =  pkg.mod : Factory.make [extra]

[other.group]
nope = a:b
"""


def test_plugins_agree_with_importlib_metadata(tmp_path, monkeypatch):
    """The hand-read entry points (kept for start-up speed) are the library's, name for name."""
    import importlib.metadata as md

    from procrecord.collectors import ENTRY_POINT_GROUP, _section

    dist = tmp_path / "procrecord_demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: procrecord-demo-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(ENTRY_POINTS)
    monkeypatch.syspath_prepend(str(tmp_path))
    library = {(ep.name, ep.value) for ep in md.entry_points(group=ENTRY_POINT_GROUP)}
    assert {"lab", "spaced"} <= {name for name, _ in library}
    assert set(_section(ENTRY_POINTS, f"[{ENTRY_POINT_GROUP}]")) == {(n, v) for n, v in library if n in ("lab", "spaced")}
    assert [name for name, _ in plugins()] == sorted(name for name, _ in library)


def test_plugin_collectors_land_under_extensions(tmp_path, monkeypatch):
    dist = tmp_path / "procrecord_demo_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[console_scripts]\nx = y:z\n\n[procrecord.collectors]\nlab = labplugin:LabCollector\n")
    (tmp_path / "labplugin.py").write_text(
        "class LabCollector:\n    def collect(self, state):\n        return {'room': 'B12', 'instrument': 'scope-3'}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert [name for name, _ in plugins([str(tmp_path)])] == ["lab"]
    from procrecord.record.validation import validate
    from procrecord.writer.recorder import Recorder

    out = Recorder("x", collectors=[], handle_signals=False).start().stop()
    assert out["extensions"]["lab"] == {"room": "B12", "instrument": "scope-3"}
    assert validate(out) == []
    assert "extensions" not in Recorder("x", collectors=[], level="most", handle_signals=False).start().stop()


def _nonjson_plugin(folder):
    dist = folder / "nonjson_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "entry_points.txt").write_text("[procrecord.collectors]\nodd = oddplugin:Odd\n")
    (folder / "oddplugin.py").write_text(
        "class Odd:\n    def collect(self, state):\n        return {'v': {1, 2}, 'o': object()}\n")


def test_a_plugin_whose_result_is_not_json_fails_alone(tmp_path, monkeypatch):
    """A set from an installed plugin used to raise TypeError in start(): the job never ran."""
    import json

    from procrecord.record.validation import validate
    from procrecord.writer.recorder import Recorder

    _nonjson_plugin(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    ran = False
    with Recorder("x", collectors=["invocation"], output=tmp_path / "r.json", handle_signals=False):
        ran = True
    record = json.loads((tmp_path / "r.json").read_text())
    assert ran and record["status"] == "completed" and "extensions" not in record
    outcome = {c["name"]: c for c in record["collection"]["collectors"]}
    assert outcome["odd"]["status"] == "failed" and outcome["odd"]["reason"].endswith("/v: set")
    assert outcome["invocation"]["status"] == "ok"
    assert validate(record) == []


def test_procrecord_run_starts_the_command_despite_a_non_json_plugin(tmp_path):
    import json

    from procrecord.record.validation import validate

    from helpers import ROOT

    _nonjson_plugin(tmp_path)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]))
    proc = subprocess.run([sys.executable, "-m", "procrecord", "run", "-o", str(tmp_path / "r.json"), "--",
                           sys.executable, "-c", "print('child-ran')"],
                          capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "child-ran" in proc.stdout
    record = json.loads((tmp_path / "r.json").read_text())
    assert {c["name"]: c["status"] for c in record["collection"]["collectors"]}["odd"] == "failed"
    assert validate(record) == []




def test_a_collector_whose_value_is_not_json_fails_at_start_flush_and_stop(tmp_path):
    import json

    from procrecord.collectors.interface import Collector
    from procrecord.record.validation import validate
    from procrecord.writer.recorder import Recorder

    class Later(Collector):
        name = "later"
        calls = 0

        def collect(self, state):
            return {"ok": 1}

        def update(self, state):
            Later.calls += 1
            return {"when": {Path("/a")}} if Later.calls == 1 else {(1, 2): "tuple key"}

    class Early(Collector):
        name = "early"

        def collect(self, state):
            return {"p": [Path("/x")]}

    class Dated(Collector):
        name = "dated"

        def collect(self, state):
            import datetime as dt

            return {"when": dt.date(2026, 1, 2)}

    class Big(Collector):  # what the record's writer writes, though orjson alone does not
        name = "big"

        def collect(self, state):
            return {"big": 2**70, "text": "\udcff"}

    out = tmp_path / "r.json"
    rec = Recorder("x", collectors=[Early(), Later(), Dated(), Big()], output=out, use_plugins=False,
                   handle_signals=False).start()
    reasons = {c["name"]: c.get("reason") for c in rec.record["collection"]["collectors"] if c["status"] == "failed"}
    path_type = f"{type(Path()).__module__}.{type(Path()).__qualname__}"  # pathlib._local.PosixPath on 3.13
    assert reasons == {"early": f"its result cannot be written as JSON: /p/0: {path_type}",
                       "dated": "its result cannot be written as JSON: /when: datetime.date"}
    assert rec.record["extensions"] == {"later": {"ok": 1}, "big": {"big": 2**70, "text": "\udcff"}}
    rec.flush()
    reasons = {c["name"]: c.get("reason") for c in rec.record["collection"]["collectors"] if c["status"] == "failed"}
    assert reasons["later"] == "its result cannot be written as JSON: /when: set"
    record = rec.stop()
    written = json.loads(out.read_text())
    assert written["extensions"].pop("big") == {"big": 2**70, "text": "\\xff"}  # odd characters escaped
    assert written == json.loads(json.dumps({**record, "extensions": {"later": {"ok": 1}}}))
    outcome = {c["name"]: c for c in record["collection"]["collectors"]}
    assert outcome["later"]["status"] == "failed" and "key of type tuple" in outcome["later"]["reason"]
    assert record["status"] == "completed" and record["extensions"]["later"] == {"ok": 1}
    assert validate(record) == []
