"""The step count of a rival trained at conprune's compute (`budget: compute` methods of the registry).

A `*_compute` rival is the same cut and the same training as its equal-steps twin, with more steps:
as many as make its training cost what conprune's prune + finetune cost at that target and seed, by
the MACs rule of `conprune/pruning/training_compute.py`. The costs need the models: the teacher,
conprune's compact prune-run student at the target (its per-layer shapes set the finetune's step
cost) and the rival's own cut. So the compute rows run after the equal-steps sweep has made those
(one line says so otherwise), and the step counts are read from the same config files the runs
use, so a profile's schedule changes them too.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import yaml

from conprune.commands.run_steps import config_files
from conprune.errors import ConpruneError
from conprune.lit.config_files import expand_bases
from conprune.pruning.cost_model import CostModel
from conprune.pruning.training_compute import equal_compute_steps


def trainer_setting(configs: tuple[str, ...], profile: str, key: str) -> int:
    """trainer.<key> that `configs` (experiments/ names, `{profile}` filled) end up with: the
    last file (bases first) that sets it."""
    argv = expand_bases(config_files(configs, profile))
    values = [((yaml.safe_load(Path(c).read_text()) or {}).get("trainer") or {}).get(key)
              for flag, c in itertools.pairwise(argv) if flag == "--config"]
    found = [v for v in values if v is not None]
    if not found:
        raise ConpruneError(f"no trainer.{key} in {', '.join(configs)} (profile {profile})")
    return int(found[-1])


def model_macs(path: Path, what: str) -> float:
    """Forward MACs per 10 s of audio of a model file or checkpoint, from the analytic cost model."""
    from conprune.stages.checkpoint_io import load_ctc_model

    if not Path(path).is_file():
        raise ConpruneError(f"equal-compute rows need {what} ({path}): run the equal-steps sweep at this "
                            f"target and seed first (its conprune and the rival's twin)")
    return CostModel.from_target("macs").exact(load_ctc_model(path)[0].config)


def compute_args(teacher: str, prune_model: Path, rival_cut: Path, prune_configs: tuple[str, ...],
                 finetune_configs: tuple[str, ...], rival_configs: tuple[str, ...], profile: str) -> list[str]:
    """`--trainer.max_steps` (and a validation interval scaled alike) that give the rival
    conprune's training compute at this target and seed."""
    gate, finetune = (trainer_setting(c, profile, "max_steps") for c in (prune_configs, finetune_configs))
    base_steps = trainer_setting(rival_configs, profile, "max_steps")
    base_val = trainer_setting(rival_configs, profile, "val_check_interval")
    steps = equal_compute_steps(model_macs(Path(teacher), "the teacher"),
                                model_macs(prune_model, "conprune's compact prune-run student"), gate, finetune,
                                model_macs(rival_cut, "the rival's cut"))
    val = max(1, round(steps * base_val / base_steps))
    return ["--trainer.max_steps", str(steps), "--trainer.val_check_interval", str(val)]
