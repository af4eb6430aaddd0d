"""procrecord's helper threads leave external signals to the main thread (procrecord.writer.threads):
a SIGTERM for ``procrecord run``'s command must reach the main thread's wait for it, which takes only
signals no other thread took."""

from __future__ import annotations

import signal
import threading

import pytest

from procrecord.writer import runner
from procrecord.writer.threads import EXTERNAL, block_external_signals

pytestmark = pytest.mark.skipif(not hasattr(signal, "pthread_sigmask"), reason="no per-thread signal masks here")


def _mask_in_thread(target) -> set[int]:
    seen: list[set[int]] = []

    def body() -> None:
        target()
        seen.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, [])))

    thread = threading.Thread(target=body)
    thread.start()
    thread.join(10)
    return seen[0]


def test_a_helper_thread_blocks_external_signals_and_the_main_thread_keeps_them():
    assert set(EXTERNAL) >= {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
    assert _mask_in_thread(block_external_signals) >= set(EXTERNAL)
    assert not set(signal.pthread_sigmask(signal.SIG_BLOCK, [])) & {signal.SIGTERM, signal.SIGINT}


def test_the_flushing_thread_of_procrecord_run_blocks_them():
    masks: list[set[int]] = []
    stop = threading.Event()

    class Recorder:
        def flush(self) -> None:
            masks.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
            stop.set()

    thread = threading.Thread(target=runner._flush_every, args=(Recorder(), 0.01, stop))
    thread.start()
    thread.join(10)
    assert masks and masks[0] >= set(runner.FORWARDED)


def test_the_usage_sampler_thread_blocks_them(monkeypatch):
    from procrecord.writer import usage

    masks: list[set[int]] = []
    monkeypatch.setattr(usage.Sampler, "sample",
                        lambda self, record=True, last=False: masks.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, []))) or {})
    sampler = usage.Sampler(0.05, gpus=False)
    sampler.start()
    sampler.stop()
    assert masks and all(mask >= set(EXTERNAL) for mask in masks)


def test_the_hashing_thread_blocks_them():
    from procrecord.writer import artifacts

    masks: list[set[int]] = []
    done = threading.Event()

    class Work:
        def work(self, index: int) -> None:
            masks.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, [])))
            done.set()

    artifacts._submit(Work(), 0)  # type: ignore[arg-type]
    assert done.wait(10)
    assert masks[0] >= set(EXTERNAL)


def test_a_quietly_started_thread_has_them_blocked_from_its_first_instruction(monkeypatch, tmp_path):
    """Blocked by the thread itself, a signal that came before it did would stay with it (and the main
    thread's wait4 would not see it): start_quiet blocks them around start(), so the thread is born so."""
    from procrecord.writer.threads import start_quiet

    first: list[set[int]] = []
    thread = threading.Thread(target=lambda: first.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, []))))
    start_quiet(thread)
    thread.join(10)
    assert first and first[0] >= set(EXTERNAL)
    assert not set(signal.pthread_sigmask(signal.SIG_BLOCK, [])) & {signal.SIGTERM, signal.SIGINT}, "the caller's mask is back"
    # the git collector's dirty check, which runs a git command in a thread of its own, is started so
    import subprocess

    from procrecord.collectors import git

    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    seen: list[set[int]] = []
    monkeypatch.setattr(git, "is_dirty", lambda root: seen.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, []))) or False)
    started: list[str] = []
    real = git.start_quiet
    monkeypatch.setattr(git, "start_quiet", lambda t: (started.append(t.name), real(t))[1])
    collector = git.GitCollector(path=str(tmp_path))
    assert isinstance(collector.collect(None), dict)
    assert collector._thread is not None
    collector._thread.join(10)
    assert started == ["procrecord-git"] and seen and seen[0] >= set(EXTERNAL)


def test_the_energy_estimators_threads_block_them(tmp_path):
    """codecarbon samples in threads of its own, started by its tracker: born with the signals blocked,
    they leave them to ``procrecord run``'s wait (else one taken there is passed on blindly)."""
    from procrecord.collectors.emissions import EmissionsCollector

    masks: list[set[int]] = []

    class Tracker:
        def start(self) -> None:
            thread = threading.Thread(target=lambda: masks.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, []))))
            thread.start()
            thread.join(10)

    collector = EmissionsCollector(country_iso_code="FRA", tracker_factory=lambda **kw: Tracker(),
                                   rapl_root=str(tmp_path), nvml=False)
    collector.collect(None)
    assert masks and masks[0] >= set(EXTERNAL)
    assert not set(signal.pthread_sigmask(signal.SIG_BLOCK, [])) & set(EXTERNAL), "the caller's mask is restored"
