"""The one builder of a run's command lines: `conprune stage` (the Makefile's stages) and the sweep.

A stage is `conprune fit` over experiments/*.yaml config files into one run directory. Every run,
whether the Makefile starts it (`make prune`) or the sweep does, gets the same command line: the
configs that exist (a profile's overlay `{profile}/<stage>.yaml` only where the profile has one),
`--run_dir`, the corpus and tokenizer size, the seed, the teacher's data arguments, the caller's
extra arguments, and `--ckpt_path <run>/checkpoints/last.ckpt` when a killed run left one, so a
rerun resumes it. A finished fit is stamped `<run>/DONE` with its wall time, and a stamped run is
skipped: rerunning the same command finishes what is missing and nothing else.

    conprune stage runs/prune prune.yaml '{profile}/prune.yaml' --profile quick --fit-args "..."
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from conprune.errors import ConpruneError

EXPERIMENTS = Path("experiments")
CONPRUNE = [sys.executable, "-m", "conprune"]


@dataclass(frozen=True)
class Step:
    """One command and the file that shows it is done."""

    argv: list[str]
    done: Path


@dataclass(frozen=True)
class RunSettings:
    """What every fit of one invocation shares: corpus root, tokenizer size, schedule profile and
    the extra `--data.*` arguments (a shipped teacher's tokenizer and CMVN)."""

    data: str = "data/synth"
    pieces: int = 64
    profile: str = "full"
    data_args: tuple[str, ...] = ()


def config_files(configs: Iterable[str], profile: str) -> list[str]:
    """`--config` arguments of the files among `configs` (relative to experiments/, `{profile}`
    filled in) that exist: a profile overlays only the stages it has a file for."""
    paths = [EXPERIMENTS / c.format(profile=profile) for c in configs]
    return [a for path in paths if path.is_file() for a in ("--config", str(path))]


def lightning_argv(verb: str, configs: Iterable[str], settings: RunSettings, seed: int | None = None,
                   extra: Iterable[str] = ()) -> list[str]:
    """`conprune <verb>` (fit, test, ...) over `configs` with the shared data arguments."""
    return [*CONPRUNE, verb, *config_files(configs, settings.profile), "--data.root", settings.data,
            "--data.num_pieces", str(settings.pieces), *(["--seed_everything", str(seed)] if seed is not None else []),
            *settings.data_args, *extra]


def fit_step(run: Path, configs: Iterable[str], settings: RunSettings, seed: int | None = None,
             extra: Iterable[str] = ()) -> Step:
    """The `conprune fit` of one run directory (see the module docstring); done = `<run>/DONE`."""
    last = run / "checkpoints" / "last.ckpt"
    argv = lightning_argv("fit", configs, settings, seed, ["--run_dir", str(run), *extra])
    return Step(argv + (["--ckpt_path", str(last)] if last.is_file() else []), run / "DONE")


def compact_step(run: Path, checkpoint: str = "best.ckpt") -> Step:
    """`conprune compact` of a run's checkpoint into `<run>/model.pt`."""
    return Step([*CONPRUNE, "compact", "--ckpt", str(run / "checkpoints" / checkpoint), "--out",
                 str(run / "model.pt")], run / "model.pt")


def stamp_done(step: Step, seconds: float) -> None:
    """Mark a finished fit: a fit has no single output file, so its `DONE` stamp (with the wall
    time) is what a rerun sees; other steps are done once their output file exists."""
    if step.done.name == "DONE":
        step.done.write_text(f"fit wall time: {seconds:.0f} s\n")


def run_in_order(steps: Iterable[Step], dry_run: bool = False, what: str = "sweep") -> None:
    """Run each step that is not done yet, one after another, its output to the terminal; stop
    at the first failure with the command to rerun."""
    for step in steps:
        if step.done.exists():
            continue
        print(" ".join(step.argv), flush=True)
        if dry_run:
            continue
        start = time.time()
        if subprocess.run(step.argv, check=False).returncode != 0:
            raise ConpruneError(f"{what} stopped: this command failed (rerun to resume): {' '.join(step.argv)}")
        stamp_done(step, time.time() - start)


def stage_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("run", type=Path, help="run directory (checkpoints, logs, DONE)")
    p.add_argument("configs", nargs="+", help="config files under experiments/, in order; '{profile}/x.yaml' "
                   "is the profile's overlay, used where it exists")
    p.add_argument("--profile", default="full", help="schedule profile: a folder of overlays under experiments/")
    p.add_argument("--data", default="data/synth", help="corpus root")
    p.add_argument("--pieces", type=int, default=64, help="data.num_pieces")
    p.add_argument("--seed", type=int, help="--seed_everything (default: the config's)")
    p.add_argument("--fit-args", default="", help="further `conprune fit` arguments, e.g. the teacher and its "
                   "--data.tokenizer / --data.cmvn")
    p.add_argument("--test", action="store_true", help="`conprune test` a checkpoint (--fit-args names it) with the "
                   "same configs, every time, instead of fitting into RUN (resumed, stamped DONE)")
    p.add_argument("--dry-run", action="store_true", help="print the command, run nothing")


def stage(args: argparse.Namespace) -> None:
    settings, extra = RunSettings(args.data, args.pieces, args.profile), shlex.split(args.fit_args)
    if args.test:
        step = Step(lightning_argv("test", args.configs, settings, args.seed, extra), args.run / "never-done")
    else:
        step = fit_step(args.run, args.configs, settings, args.seed, extra)
    run_in_order([step], args.dry_run, what=f"stage {args.run}")
