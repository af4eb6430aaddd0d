"""--executor dask:jobqueue.slurm through the real dask-jobqueue, with SLURM's commands faked on PATH.

The fake ``sbatch`` runs the job script dask-jobqueue wrote as a local background process (its own
session, as a batch job would be) and prints what SLURM prints; ``scancel`` ends that process group;
``squeue`` lists the jobs still running. Everything else (the job script, the scheduler, the workers
connecting, adaptive scaling, closing the jobs) is dask-jobqueue's own code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from test_storage import _tree

pytest.importorskip("dask_jobqueue")

SBATCH = '''\
import os, subprocess, sys
state = os.environ["FAKE_SLURM_STATE"]
script = open(sys.argv[-1]).read()  # dask-jobqueue deletes its temp file once sbatch returns
# dask-jobqueue submits several jobs at once: each sbatch takes the next free job id atomically (two
# taking the same one gave two workers of one name, and the scheduler kept one: "Only 1/2 workers arrived")
number = 1000
while True:
    try:
        fd = os.open(os.path.join(state, f"{number}.sh"), os.O_WRONLY | os.O_CREAT | os.O_EXCL)
        break
    except FileExistsError:
        number += 1
job = str(number)
path = os.path.join(state, job + ".sh")
with os.fdopen(fd, "w") as handle:
    handle.write(script)
log = open(os.path.join(state, job + ".log"), "wb")
proc = subprocess.Popen(["bash", path], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
                        env={**os.environ, "SLURM_JOB_ID": job}, start_new_session=True)
open(os.path.join(state, job + ".pid"), "w").write(str(proc.pid))
print("Submitted batch job " + job)
'''

SCANCEL = '''\
import os, signal, sys
state = os.environ["FAKE_SLURM_STATE"]
for job in sys.argv[1:]:
    pid = int(open(os.path.join(state, job + ".pid")).read())
    open(os.path.join(state, job + ".cancelled"), "w").write("")
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
'''

SQUEUE = '''\
import os
state = os.environ["FAKE_SLURM_STATE"]
print("JOBID PARTITION NAME USER ST TIME NODES NODELIST(REASON)")
for name in sorted(os.listdir(state)):
    if name.endswith(".pid") and not os.path.exists(os.path.join(state, name[:-4] + ".cancelled")):
        print(name[:-4] + " debug dask-worker user R 0:01 1 localhost")
'''


def _fake_slurm(root: Path) -> dict[str, str]:
    """``sbatch``, ``scancel`` and ``squeue`` in ``root/bin``; the environment that puts them first on PATH."""
    bin_dir, state = root / "bin", root / "state"
    bin_dir.mkdir()
    state.mkdir()
    for name, body in (("sbatch", SBATCH), ("scancel", SCANCEL), ("squeue", SQUEUE)):
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n{body}")
        path.chmod(0o755)
    return {"PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "FAKE_SLURM_STATE": str(state)}


def _readme_config(tmp_path: Path) -> Path:
    """The README's example SLURM configuration, made to run here: two one-core jobs of one worker each."""
    import yaml

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    start = readme.index("    jobqueue:\n      slurm:")
    block = readme[start:readme.index("\n\n", start)]
    config = yaml.safe_load(textwrap.dedent(block))
    slurm = config["jobqueue"]["slurm"]
    assert slurm["adapt"] and slurm["job-script-prologue"]  # the documented keys are the ones run here
    slurm.update({"cores": 1, "processes": 1, "memory": "1GiB", "death-timeout": 30,
                  "job-script-prologue": [], "adapt": {"minimum_jobs": 2, "maximum_jobs": 2},
                  "scheduler-options": {"dashboard_address": ":0"}})
    folder = tmp_path / "dask"
    folder.mkdir()
    (folder / "jobqueue.yaml").write_text(yaml.safe_dump(config))
    return folder


def _stop_jobs(state: Path) -> None:
    for pid_file in state.glob("*.pid"):
        try:
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
def test_jobqueue_slurm_runs_workers_as_jobs_and_reports_like_a_local_run(tmp_path):
    env = {**os.environ, **_fake_slurm(tmp_path), "DASK_CONFIG": str(_readme_config(tmp_path))}
    state = tmp_path / "state"
    tree = _tree(tmp_path / "in")
    (tree / "sub" / "broken.json").write_text("{not json")
    cli = [sys.executable, "-m", "procrecord"]
    # each Dask run submits its jobs into a state folder of its own, so what each run did is known
    runs = {name: state / name for name in ("validate", "redact")}
    for folder in runs.values():
        folder.mkdir()
    try:
        local = subprocess.run([*cli, "validate", str(tree)], capture_output=True, text=True, env=env, timeout=120)
        dask = subprocess.run([*cli, "validate", "--executor", "dask:jobqueue.slurm", str(tree)], capture_output=True,
                              text=True, env={**env, "FAKE_SLURM_STATE": str(runs["validate"])}, timeout=240)
        expected = subprocess.run([*cli, "redact", "--level", "all", str(tree), "-o", str(tmp_path / "expected")],
                                  capture_output=True, text=True, env=env, timeout=120)
        redact = subprocess.run([*cli, "redact", "--level", "all", "--executor", "dask:jobqueue.slurm", str(tree),
                                 "-o", str(tmp_path / "out")], capture_output=True, text=True,
                                env={**env, "FAKE_SLURM_STATE": str(runs["redact"])}, timeout=240)
    finally:
        for folder in runs.values():
            _stop_jobs(folder)
    assert local.returncode == dask.returncode == 1, dask.stderr[-2000:]
    assert dask.stdout == local.stdout and "broken.json" in dask.stdout
    for name, folder in runs.items():
        scripts = sorted(folder.glob("*.sh"))
        # adapt (minimum_jobs 2, maximum_jobs 2) submits its jobs while the run goes on; a five-file run
        # can end with one worker before the second job is submitted (the test below waits for both)
        assert 1 <= len(scripts) <= 2, (name, scripts)
        assert all("distributed.cli.dask_worker" in s.read_text() for s in scripts)
        # the run's end cancelled its jobs (dask-jobqueue called scancel for each)
        assert sorted(p.stem for p in folder.glob("*.cancelled")) == sorted(p.stem for p in scripts), name
        # the jobs' workers really connected to the run's scheduler (a run may end before its second
        # job's worker has registered: that job is cancelled all the same)
        assert any("Registered to" in (folder / f"{s.stem}.log").read_text() for s in scripts), name
    # and they wrote the outputs: the same files, byte for byte, as a local run
    assert redact.returncode == expected.returncode == 1, redact.stderr[-2000:]
    assert redact.stderr == expected.stderr.replace(str(tmp_path / "expected"), str(tmp_path / "out"))
    files = {p.relative_to(tmp_path / "expected"): p.read_bytes() for p in (tmp_path / "expected").rglob("*") if p.is_file()}
    assert {p.relative_to(tmp_path / "out"): p.read_bytes() for p in (tmp_path / "out").rglob("*") if p.is_file()} == files
    assert len(files) == 5


ADAPT_PROBE = """\
import sys, time
from pathlib import Path
from procrecord.bulk import executors
state = Path(sys.argv[1])
client = executors.client("jobqueue.slurm")
try:
    deadline = time.monotonic() + 90
    while len(list(state.glob("*.sh"))) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    client.wait_for_workers(2, timeout=90)
    time.sleep(3)  # adapt runs every second: time enough to submit a third job if the maximum were not kept
    print(len(list(state.glob("*.sh"))))
finally:
    client.close()
    client.cluster.close()
"""


@pytest.mark.slow
def test_jobqueue_adapt_settings_from_the_config_are_kept(tmp_path):
    env = {**os.environ, **_fake_slurm(tmp_path), "DASK_CONFIG": str(_readme_config(tmp_path))}
    state = tmp_path / "state"
    try:
        probe = subprocess.run([sys.executable, "-c", ADAPT_PROBE, str(state)], capture_output=True, text=True,
                               env=env, timeout=240)
    finally:
        _stop_jobs(state)
    assert probe.returncode == 0, probe.stderr[-2000:]
    # minimum_jobs 2 and maximum_jobs 2 of the README's configuration: exactly two jobs, both cancelled at the end
    assert probe.stdout.split()[-1] == "2", probe.stdout
    scripts = sorted(p.stem for p in state.glob("*.sh"))
    assert len(scripts) == 2 and sorted(p.stem for p in state.glob("*.cancelled")) == scripts
