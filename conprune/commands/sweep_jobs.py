"""Run a sweep's commands in parallel slots (`conprune sweep --jobs N`), dependencies kept.

A sweep is a set of chains, one per final run (method × target × seed): prune, compact, finetune,
compact, evaluate, or cut, finetune, compact, evaluate. Chains share steps (one prune run feeds
conprune, the same-shape baselines and the dense ones), and a step may start only when the steps
before it in its chain are done. Each free slot takes the first chain whose next step is neither
done nor running. On a CPU machine each slot gets its own share of the cores (thread count and
affinity), since small fits side by side, one thread each, finish more runs per hour than one fit
on every core (measured: docs/pruning.md); on a machine with at least N GPUs each slot gets its
own GPU. A step's output goes to `sweep.log` in its run directory; a failed step stops new
launches, lets the running ones finish, and is reported in one line.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from conprune.commands.run_steps import stamp_done
from conprune.errors import ConpruneError


class SweepStep(Protocol):
    argv: list[str]
    done: Path


def slot_settings(slot: int, jobs: int, cores: Sequence[int], gpus: int) -> tuple[dict[str, str], set[int] | None]:
    """Environment and CPU affinity of one slot among the usable `cores`: len(cores) // jobs threads
    on its own cores, and its own GPU when there are at least `jobs` of them (None: no pinning)."""
    if jobs <= 1:
        return {}, None
    per = max(1, len(cores) // jobs)
    env = {"OMP_NUM_THREADS": str(per), "MKL_NUM_THREADS": str(per)}
    if gpus >= jobs:
        env["CUDA_VISIBLE_DEVICES"] = str(slot)
    mine = set(sorted(cores)[slot * per:(slot + 1) * per]) if len(cores) >= jobs else None
    return env, mine


def usable_cores() -> list[int]:
    """The CPU ids this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def _launch(step: SweepStep, env: dict[str, str], cores: set[int] | None) -> subprocess.Popen:
    """Start one step, its output appended to its run's sweep.log; pinned to `cores` right after it
    starts (before it loads torch and starts its worker threads, which inherit the mask)."""
    log = step.done.parent / "sweep.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a") as out:
        out.write(" ".join(step.argv) + "\n")
        out.flush()
        proc = subprocess.Popen(step.argv, stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **env})
    if cores is not None and hasattr(os, "sched_setaffinity"):
        try:
            os.sched_setaffinity(proc.pid, cores)
        except OSError:  # the step already exited, or the cores are not ours: run unpinned
            pass
    return proc


def run_chains(chains: Sequence[Sequence[SweepStep]], jobs: int, poll_s: float = 1.0,
               cores: Sequence[int] | None = None, gpus: int = 0) -> None:
    """Run every chain's steps to done in `jobs` parallel slots (see the module docstring). An
    interrupt (Ctrl-C) stops the running steps too, so a rerun never finds a step still running."""
    cores = list(cores) if cores is not None else usable_cores()
    running: dict[Path, tuple[subprocess.Popen, int, SweepStep, float]] = {}
    try:
        _schedule(chains, jobs, poll_s, cores, gpus, running)
    except BaseException:
        for proc, *_ in running.values():
            proc.terminate()
        for proc, *_ in running.values():
            proc.wait()
        raise


def _schedule(chains: Sequence[Sequence[SweepStep]], jobs: int, poll_s: float, cores: list[int], gpus: int,
              running: dict[Path, tuple[subprocess.Popen, int, SweepStep, float]]) -> None:
    free = list(range(jobs))
    failed: list[str] = []
    while True:
        for key, (proc, slot, step, start) in list(running.items()):
            code = proc.poll()
            if code is None:
                continue
            del running[key]
            free.append(slot)
            if code == 0:
                stamp_done(step, time.time() - start)
            if code != 0 or not step.done.exists():
                why = f"exit {code}" if code else f"exit 0 without writing {step.done}"
                failed.append(" ".join(step.argv))
                print(f"failed ({why}, log {step.done.parent / 'sweep.log'}): {' '.join(step.argv)}", flush=True)
            else:
                print(f"done in {time.time() - start:.0f} s: {step.done}", flush=True)
        nexts = [next((s for s in chain if not s.done.exists()), None) for chain in chains]
        if failed and not running:
            raise ConpruneError(f"sweep stopped: this command failed (rerun the sweep to resume): {failed[0]}")
        if not running and all(step is None for step in nexts):
            return
        for step in nexts:
            if failed or not free or step is None or step.done in running:
                continue
            slot = free.pop(0)
            env, pinned = slot_settings(slot, jobs, cores, gpus)
            print(f"slot {slot}: {' '.join(step.argv)}", flush=True)
            running[step.done] = (_launch(step, env, pinned), slot, step, time.time())
        time.sleep(poll_s)
