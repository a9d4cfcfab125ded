"""Which runs hold which method at which target: one discovery function for the summary and the report.

The stage-by-stage runs (`make teacher prune finetune`) have stage names (runs/finetune is
conprune at -50 % params), so they are a fixed mapping; sweep runs are named `<method>-<target>[-s<seed>]` (runs/sweep/magnitude_uniform-params30/,
runs/sweep/conprune-params50-s1/) and are found by globbing. A run whose results.json does not exist yet is skipped with a logged note, so a
half-finished sweep still gives a report of what is there.
"""

from __future__ import annotations

import csv
import glob
import logging
import re
from dataclasses import dataclass
from pathlib import Path

from conprune.errors import ConpruneError
from conprune.pruning.cost_model import METRICS
from conprune.stages.methods import CONPRUNE, TEACHER

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunRef:
    """One evaluated model: the method that made it, the sparsity target, its results.json."""

    method: str
    target: str
    path: Path
    seed: int = 0
    lr: str = ""  # the learning rate of a `sweep --lrs` run, as its name writes it ('' : the configs')

    @property
    def label(self) -> str:
        """How log lines name the run: `magnitude params30`, or just `teacher`."""
        name = self.method if self.target == "none" else f"{self.method} {self.target}"
        return f"{name} seed {self.seed}" if self.seed else name


DEMO_RUNS = ((TEACHER, "none", "runs/teacher/results.json"),
             (CONPRUNE, "params50", "runs/finetune/results.json"),
             (CONPRUNE, "macs50", "runs/prune-macs/results.json"))
SWEEP_GLOB = "sweep/*/results.json"
NAME = re.compile(rf"^(?P<method>.+)-(?P<target>(?:{'|'.join(METRICS)})\d+)(?:-s(?P<seed>\d+))?"
                  r"(?:-lr(?P<lr>\d[\w.+-]*))?$")
SPEC = re.compile(r"^(?P<method>[\w-]+):(?P<target>\w+)=(?P<path>.+)$")


def parse_run_name(name: str) -> tuple[str, str, int] | None:
    """(method, target, seed) from a sweep run directory name such as `dense-kd-params30`,
    `conprune-params50-s2` or `magnitude_shapes-params50-lr6e-4`; None if it is not one."""
    match = NAME.match(name)
    if not match:
        return None
    return match["method"].replace("-", "_"), match["target"], int(match["seed"] or 0)


def run_lr(name: str) -> str:
    """The learning rate a `sweep --lrs` run directory's name carries ('' for none)."""
    match = NAME.match(name)
    return (match["lr"] or "") if match else ""


def refs_from_specs(specs: list[str]) -> list[RunRef]:
    """Runs named on the command line: `METHOD:TARGET=PATH`, or a path/glob of results.json files
    whose directory is named `<method>-<target>`."""
    refs = []
    for spec in specs:
        match = SPEC.match(spec)
        if match:
            refs.append(RunRef(match["method"].replace("-", "_"), match["target"], Path(match["path"]), 0))
            continue
        paths = sorted(glob.glob(spec)) or [spec]
        for path in map(Path, paths):
            parsed = parse_run_name(path.parent.name)
            if parsed is None:
                raise ConpruneError(f"cannot tell method and target from {path}: name its directory "
                                    f"<method>-<target> (e.g. magnitude-params30) or pass METHOD:TARGET={path}")
            method, target, seed = parsed
            refs.append(RunRef(method, target, path, seed, run_lr(path.parent.name)))
    return refs


def discover_runs(runs_dir: str | Path = "runs", specs: list[str] | None = None,
                  mapping: tuple[tuple[str, str, str], ...] | None = DEMO_RUNS,
                  sweep: bool = True) -> list[RunRef]:
    """Every existing run: the fixed `mapping` (its runs/ paths moved under runs_dir), then the sweep
    under runs_dir, then `specs`. A later run of the same (method, target) replaces an earlier one,
    so a sweep rerun of the demo's point supersedes it. Missing results files are logged and skipped."""
    runs_dir = Path(runs_dir)
    refs = [RunRef(m, t, runs_dir / Path(p).relative_to("runs")) for m, t, p in (mapping or ())]
    if sweep:
        for path in sorted(runs_dir.glob(SWEEP_GLOB)):
            parsed = parse_run_name(path.parent.name)
            if parsed is None:
                log.info("report: skipping %s (directory name is not <method>-<target>)", path)
                continue
            method, target, seed = parsed
            refs.append(RunRef(method, target, path, seed, run_lr(path.parent.name)))
    refs += refs_from_specs(specs or [])
    found: dict[tuple[str, str, int, str], RunRef] = {}
    for ref in refs:
        if not ref.path.is_file():
            log.info("report: %s has no results yet (%s), skipped", ref.label, ref.path)
            continue
        key = (ref.method, ref.target, ref.seed, ref.lr)
        if key in found:
            log.info("report: %s from %s replaces %s", ref.label, ref.path, found[key].path)
        found[key] = ref
    return list(found.values())


def curve_runs(runs_dir: str | Path = "runs") -> list[Path]:
    """Run directories whose Lightning CSV log has the Lagrangian columns, i.e. the prune stages
    (runs/prune, runs/prune-macs, runs/sweep/prune-params30, ...) whose sparsity/λ curves are plotted."""
    runs_dir = Path(runs_dir)
    found = []
    for run in sorted([*runs_dir.glob("*/"), *runs_dir.glob("sweep/*/")]):
        logs = sorted(run.glob("csv/**/metrics.csv"))
        if logs:
            with open(logs[-1]) as fh:
                header = next(csv.reader(fh), [])
            if "lagrangian/lambda1" in header:
                found.append(run)
    return found
