"""The registry of comparison methods: every name the sweep runs, the report groups and the verdicts judge.

A method is conprune itself, an ablation of it (conprune with one part switched off by overlays in
`experiments/ablations/<name>/`), or a baseline: a model cut from the teacher by a rule
(`conprune baseline`, `stages/baseline_export.py`) and then trained under the same budget, or
pruned gradually by a rule during a prune-like run of its own (`gradual`: gradual magnitude
pruning, experiments/gmp.yaml) and then compacted and fine-tuned like conprune. The
sweep (`commands/sweep.py`) builds each method's commands from its entry, the report and its
verdicts (`report/verdicts.py`) group rows by `role`, and the Makefile names groups (`standard`,
`ablations`, `headline`) that `conprune sweep --methods` resolves here, so a new method is one entry below.
"""

from __future__ import annotations

from dataclasses import dataclass

from conprune.errors import ConpruneError

CONPRUNE = "conprune"
TEACHER = "teacher"  # the report's reference row, not a method
ROLES = ("method", "ablation", "baseline", "same_shape")


@dataclass(frozen=True)
class Method:
    """One comparison method.

    role: `method` (conprune), `ablation` (conprune without one part), `baseline` (a standard
    rival with its own allocation or architecture) or `same_shape` (a rival cut to conprune's own
    per-layer shapes: an ablation of *which* units, given conprune's allocation).
    cut: the `conprune baseline --method` that makes its starting model ('' for conprune, its
    ablations and the gradual baselines, which prune while they train); units / allocation: which units that cut keeps (magnitude,
    random, or dense for a new randomly initialised model) and how many per layer (shapes:
    conprune's, uniform, global).
    train: how the cut model is trained, as config files under experiments/ (the profile's
    overlays are added by the sweep): distillation like conprune's finetune stage, or the teacher
    recipe from scratch; `init` is the argument that hands it the cut model.
    gradual: the stage (experiments/<gradual>.yaml) of a baseline that prunes while it trains, as
    conprune's prune stage does, by the rule `units` / `allocation`, with the prune stage's
    schedule; its run is compacted and fine-tuned like conprune's, so its budget is conprune's.
    rank, marker: where the report lists it and how its plots draw it.
    budget: `steps` (conprune's step count) or `compute` (trained for as many steps as use
    conprune's training compute, `pruning/training_compute.py`; `sweep --budget-from`).
    """

    name: str
    role: str
    cut: str = ""
    units: str = ""
    allocation: str = ""
    train: tuple[str, ...] = ("finetune.yaml", "baseline.yaml")
    init: str = "--model.init_args.student_model"
    gradual: str = ""
    rank: int = 4
    marker: str = "x"
    budget: str = "steps"

    @property
    def learned(self) -> bool:
        """conprune or one of its ablations: pruned by the gates, not cut by a rule."""
        return self.role in ("method", "ablation")

    @property
    def prunes_itself(self) -> bool:
        """Pruned during a run of its own (conprune, its ablations, the gradual baselines), which is
        then compacted and fine-tuned by the finetune stage."""
        return self.learned or bool(self.gradual)

    @property
    def needs_prune_run(self) -> bool:
        """Whether it starts from a prune run: its own, or conprune's (the shapes/size it reached)."""
        return self.prunes_itself or self.allocation == "shapes"

    @property
    def ablation(self) -> str:
        """The folder of its overlays under experiments/ablations/ ('' when not an ablation)."""
        return self.name.removeprefix(f"{CONPRUNE}_") if self.role == "ablation" else ""

    @property
    def prune_run(self) -> str:
        """The name (before `-<target>`) of the prune run it starts from: conprune's `prune`, an
        ablation's `prune_<part>`, a gradual baseline's `prune_<method>`; '' when it needs none."""
        if self.gradual:
            return f"prune_{self.name}"
        if self.ablation:
            return f"prune_{self.ablation}"
        return "prune" if self.needs_prune_run else ""

    @property
    def prune_configs(self) -> tuple[str, ...]:
        """The config files of its prune run under experiments/ (`{profile}` the schedule's folder)."""
        if self.gradual:
            return (f"{self.gradual}.yaml", f"{{profile}}/{self.gradual}.yaml")
        return ("prune.yaml", "{profile}/prune.yaml", *self._overlay("prune"))

    @property
    def prune_args(self) -> tuple[str, ...]:
        """Its prune run's arguments beyond the teacher and the target: a gradual rule's allocation."""
        return ("--model.init_args.allocation", self.allocation) if self.gradual else ()

    @property
    def train_configs(self) -> tuple[str, ...]:
        """The config files of its final training run: the finetune stage after its own prune run
        (and an ablation's overlay); else `train` with the profile's baseline schedule, which is
        conprune's prune + finetune in one run."""
        if self.prunes_itself:
            return ("finetune.yaml", "{profile}/finetune.yaml", *self._overlay("finetune"))
        return (*self.train, "{profile}/baseline.yaml")

    def _overlay(self, stage: str) -> tuple[str, ...]:
        return (f"ablations/{self.ablation}/{stage}.yaml",) if self.ablation else ()

    @property
    def teacher_free(self) -> bool:
        """Trained without the teacher (from scratch), so no teacher checkpoint is passed."""
        return self.init == "--model.init_args.init_model"


def _baseline(name: str, units: str, allocation: str, role: str = "baseline", **kw) -> Method:
    return Method(name, role, cut=kw.pop("cut", name), units=units, allocation=allocation, **kw)


_ENTRIES = (
    Method(CONPRUNE, "method", rank=1, marker="o"),
    *(Method(f"{CONPRUNE}_{part}", "ablation")
      for part in ("no_layer_kd", "no_posterior_kd", "fixed_l0", "no_ramp", "ffn_only")),
    _baseline("magnitude_shapes", "magnitude", "shapes", role="same_shape"),
    _baseline("random_shapes", "random", "shapes", role="same_shape"),
    _baseline("magnitude_uniform", "magnitude", "uniform"),
    _baseline("magnitude_global", "magnitude", "global"),
    _baseline("random_uniform", "random", "uniform"),
    *(Method(f"gmp_{allocation}", "baseline", units="magnitude", allocation=allocation, gradual="gmp", marker="^")
      for allocation in ("uniform", "global")),
    *(_baseline(f"magnitude_{allocation}_compute", "magnitude", allocation, cut=f"magnitude_{allocation}",
                budget="compute", marker="s", role="same_shape" if allocation == "shapes" else "baseline")
      for allocation in ("shapes", "global")),
    _baseline("dense_kd", "dense", "shapes", cut="dense", train=("finetune.yaml", "finetune_dense-kd.yaml"),
              rank=3, marker="D"),
    _baseline("dense_scratch", "dense", "shapes", cut="dense", train=("teacher.yaml", "dense_scratch.yaml"),
              init="--model.init_args.init_model", rank=2, marker="v"),
)
METHODS: dict[str, Method] = {m.name: m for m in _ENTRIES}
# The cuts `conprune baseline --method` makes: name -> (units, allocation).
CUTS: dict[str, tuple[str, str]] = {m.cut: (m.units, m.allocation) for m in _ENTRIES if m.cut}
# Named groups for `conprune sweep --methods`: the standard comparison, the ablations, and the headline
# pair (conprune against the textbook structured baseline) that the demo and the extra seeds run.
GROUPS: dict[str, tuple[str, ...]] = {
    "standard": tuple(m.name for m in _ENTRIES if m.role != "ablation" and m.budget == "steps"),
    "compute": tuple(m.name for m in _ENTRIES if m.budget == "compute"),
    "ablations": tuple(m.name for m in _ENTRIES if m.role == "ablation"),
    "headline": (CONPRUNE, "magnitude_uniform"),
}


def names(role: str) -> tuple[str, ...]:
    """The methods of one role, in registry order."""
    if role not in ROLES:
        raise ConpruneError(f"unknown method role {role!r}; use one of {', '.join(ROLES)}")
    return tuple(m.name for m in _ENTRIES if m.role == role)


def resolve(spec: str, where: str = "--methods") -> list[str]:
    """Method names from a comma-separated list of names and group names (`standard`,
    `ablations`), each once, in the order given; an unknown name is a one-line error."""
    out: list[str] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        if item not in METHODS and item not in GROUPS:
            raise ConpruneError(f"{where}: unknown method {item!r}; use any of {', '.join(METHODS)} "
                                f"or a group ({', '.join(GROUPS)})")
        out += [m for m in GROUPS.get(item, (item,)) if m not in out]
    return out


def shares_conprune_shape(method: str) -> bool:
    """conprune itself or a rival cut to its per-layer shapes: the same model size, speed and
    latency as conprune's student at a target."""
    return method == CONPRUNE or (method in METHODS and METHODS[method].role == "same_shape")


def report_key(method: str) -> tuple[int, str]:
    """Sort key of the report's rows: the teacher, conprune, the dense baselines, then the rest by
    name (unknown methods too)."""
    entry = METHODS.get(method)
    return (0 if method == TEACHER else entry.rank if entry else 4, method)


def marker(method: str) -> str:
    """The plot marker of a method (a star for the teacher)."""
    return "*" if method == TEACHER else METHODS[method].marker if method in METHODS else "x"
