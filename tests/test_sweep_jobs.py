"""`conprune sweep --jobs N`: chains run in parallel slots, shared steps once, dependencies kept."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from conprune.commands.sweep_jobs import run_chains, slot_settings
from conprune.errors import ConpruneError


@dataclass(frozen=True)
class FakeStep:
    argv: list[str]
    done: Path


def step(tmp: Path, name: str, needs: Path | None = None, fail: bool = False) -> FakeStep:
    """A command that appends its name to tmp/order.txt, checks `needs` exists, then writes its done file."""
    done = tmp / name / "out.txt"
    code = (f"import pathlib, sys; p = pathlib.Path({str(tmp / 'order.txt')!r});"
            f"p.open('a').write({name!r} + chr(10));"
            f"sys.exit(3) if {fail!r} else None;"
            f"assert {needs is None!r} or pathlib.Path({str(needs)!r}).exists();"
            f"pathlib.Path({str(done)!r}).write_text('ok')")
    return FakeStep([sys.executable, "-c", code], done)


def test_chains_share_steps_once_and_keep_their_order(tmp_path: Path) -> None:
    prune = step(tmp_path, "prune")
    chains = [[prune, step(tmp_path, "a_final", needs=prune.done)],
              [prune, step(tmp_path, "b_final", needs=prune.done)],
              [step(tmp_path, "c_cut"), step(tmp_path, "c_final", needs=tmp_path / "c_cut" / "out.txt")]]
    run_chains(chains, jobs=2, poll_s=0.05, cores=[0, 1])
    order = (tmp_path / "order.txt").read_text().split()
    assert sorted(order) == ["a_final", "b_final", "c_cut", "c_final", "prune"]
    assert order.index("prune") < order.index("a_final") and order.index("prune") < order.index("b_final")
    assert order.index("c_cut") < order.index("c_final")
    assert "import pathlib" in (tmp_path / "prune" / "sweep.log").read_text()
    run_chains(chains, jobs=2, poll_s=0.05, cores=[0, 1])  # everything done: nothing runs again
    assert len((tmp_path / "order.txt").read_text().split()) == 5


def test_a_failed_step_stops_its_chain_and_is_named(tmp_path: Path) -> None:
    bad = step(tmp_path, "bad", fail=True)
    chains = [[bad, step(tmp_path, "after_bad")], [step(tmp_path, "other")]]
    with pytest.raises(ConpruneError, match="sweep stopped: this command failed"):
        run_chains(chains, jobs=2, poll_s=0.05, cores=[0, 1])
    order = (tmp_path / "order.txt").read_text().split()
    assert "after_bad" not in order and not bad.done.exists()


def test_slot_settings_split_cores_and_gpus() -> None:
    assert slot_settings(0, 1, range(8), 0) == ({}, None)
    env, cores = slot_settings(1, 2, range(8), 0)
    assert env == {"OMP_NUM_THREADS": "4", "MKL_NUM_THREADS": "4"} and cores == {4, 5, 6, 7}
    env, cores = slot_settings(1, 2, [6, 2], 2)  # the cores this process may use, not 0..n-1
    assert env["CUDA_VISIBLE_DEVICES"] == "1" and env["OMP_NUM_THREADS"] == "1" and cores == {6}
    assert slot_settings(2, 3, [0, 1], 0)[1] is None  # more slots than cores: no pinning


def test_a_step_that_exits_0_without_its_output_is_a_failure(tmp_path: Path) -> None:
    silent = FakeStep([sys.executable, "-c", "pass"], tmp_path / "silent" / "model.pt")
    with pytest.raises(ConpruneError, match="this command failed"):
        run_chains([[silent, step(tmp_path, "next")]], jobs=2, poll_s=0.05, cores=[0, 1])
    assert not (tmp_path / "order.txt").exists()


def test_an_interrupt_stops_the_running_steps(tmp_path: Path, monkeypatch) -> None:
    import os

    import conprune.commands.sweep_jobs as jobs

    pid_file = tmp_path / "pid"
    staged = tmp_path / "pid.partial"  # written then renamed, so the parent never reads a half-written pid
    code = (f"import os, pathlib, time; pathlib.Path({str(staged)!r}).write_text(str(os.getpid()));"
            f"os.replace({str(staged)!r}, {str(pid_file)!r}); time.sleep(60); pathlib.Path({str(tmp_path / 'slow.txt')!r}).write_text('ok')")
    slow = FakeStep([sys.executable, "-c", code], tmp_path / "slow.txt")

    def interrupt(_: float) -> None:
        while not pid_file.exists():
            jobs.time.perf_counter()
        raise KeyboardInterrupt

    monkeypatch.setattr(jobs.time, "sleep", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_chains([[slow]], jobs=2, poll_s=0.05, cores=[0, 1])
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)
    assert not slow.done.exists()
