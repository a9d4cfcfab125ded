"""Gradual magnitude pruning (the gmp_uniform / gmp_global baselines): the schedule of kept counts
and masks, the stage through `conprune fit`, its compaction, its resume, and its config's match
with the prune stage's."""

from __future__ import annotations

import csv
import itertools
from pathlib import Path

import pytest
import torch
import yaml
from lit_probes import ramp

from conprune.cli import run_lightning
from conprune.errors import ConpruneError
from conprune.lit.callbacks.ramp import ramp_value
from conprune.lit.config_files import expand_bases
from conprune.lit.gmp import GradualMagnitudeModule
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model
from conprune.pruning.allocation import global_kept, solve_uniform
from conprune.pruning.baselines import baseline_gates, structure_scores
from conprune.pruning.cost import pruned_config
from conprune.pruning.cost_model import CostModel
from conprune.pruning.gmp import GradualMasks, stored_masks, update_due
from conprune.stages.checkpoint_io import load_checkpoint, load_ctc_model, model_from_checkpoint
from conprune.stages.export import compact_checkpoint

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
WIDE = ConformerConfig.uniform(d_model=64, num_layers=3, heads=8, head_dim=8, ffn_dim=256, conv_channels=64,
                               vocab_size=13, input_dim=40, conv_kernel=5, subsampling_channels=8)
RAMP, EVERY, STEPS = 40, 5, 60


def wide_model(seed: int = 0) -> ConformerCTC:
    torch.manual_seed(seed)
    return ConformerCTC(WIDE).eval()


def run_schedule(masks: GradualMasks, model: ConformerCTC, target: float, drift: float = 0.0,
                 ramp_steps: int = RAMP) -> list[tuple[int, dict[str, torch.Tensor]]]:
    """Step through a linear ramp as the stage does; `drift` perturbs the weights between updates
    (training moves the scores). Returns (step, masks) after every update."""
    generator = torch.Generator().manual_seed(1)
    history = []
    for step in range(STEPS):
        value = ramp_value(step, target, ramp_steps)
        if update_due(step, EVERY, value, target, masks.at_final):
            masks.update(model, value)
            history.append((step, {k: v.clone() for k, v in masks.gates().items()}))
        if drift:
            with torch.no_grad():
                for p in model.parameters():
                    p.mul_(1 + drift * torch.randn(p.shape, generator=generator))
    return history


@pytest.mark.parametrize("allocation", ["uniform", "global"])
@pytest.mark.parametrize("metric", ["params", "macs"])
def test_schedule_only_removes_and_lands_on_the_target_when_the_ramp_ends(allocation, metric):
    model, cost = wide_model(), CostModel.from_target(metric)
    masks = GradualMasks(WIDE, 0.5, cost, allocation, structure_scores(model))
    history = run_schedule(masks, model, 0.5, drift=0.05)
    steps = [s for s, _ in history]
    assert steps == [*range(EVERY, RAMP + 1, EVERY)]  # on the grid while the ramp rises, the last at its end
    for (_, before), (step, after) in itertools.pairwise(history):
        for key in after:
            assert bool((after[key] <= before[key]).all()), f"{key} re-grew at step {step}"
    reached = [cost.sparsity(pruned_config(WIDE, m), WIDE) for _, m in history]
    assert reached == sorted(reached) and reached[0] > 0
    for (step, _), value in zip(history, reached, strict=True):  # each update follows the ramp in the metric
        # within half a step of one head per layer: uniform moves every group by the same fraction
        assert value == pytest.approx(ramp_value(step, 0.5, RAMP), abs=0.025)
    assert masks.at_final and abs(masks.sparsity() - 0.5) <= 0.01
    if allocation == "uniform":  # the one-shot magnitude_uniform's counts, whatever the weights did
        assert masks.kept_counts() == solve_uniform(WIDE, 0.5, cost)[1]
    assert all(set(v.unique().tolist()) <= {0.0, 1.0} for v in masks.gates().values())


@pytest.mark.parametrize("allocation", ["uniform", "global"])
def test_with_fixed_weights_the_end_is_the_one_shot_cut(allocation):
    """Without training in between, gradual and one-shot magnitude pruning keep the same units."""
    model, cost = wide_model(2), CostModel.from_target("params")
    scores = structure_scores(model)
    masks = GradualMasks(WIDE, 0.5, cost, allocation, scores)
    run_schedule(masks, model, 0.5)
    kept = solve_uniform(WIDE, 0.5, cost)[1] if allocation == "uniform" else global_kept(WIDE, scores, 0.5, cost)
    assert masks.kept_counts() == kept
    one_shot = baseline_gates(model, kept, "magnitude")
    assert all(torch.equal(masks.gates()[k], one_shot[k].reshape(masks.gates()[k].shape)) for k in one_shot)


def test_updates_wait_for_the_ramp_and_stop_at_the_target():
    assert not update_due(0, 5, 0.0, 0.5, False)  # the ramp has not started: nothing to remove
    assert update_due(10, 5, 0.2, 0.5, False) and not update_due(11, 5, 0.22, 0.5, False)
    assert update_due(13, 5, 0.5, 0.5, False)  # the ramp's end is off the grid: update there anyway
    assert not update_due(15, 5, 0.5, 0.5, True)  # at the target the masks stay as they are
    model = wide_model()
    masks = GradualMasks(WIDE, 0.5, CostModel.from_target("params"), "uniform", structure_scores(model))
    history = run_schedule(masks, model, 0.5, ramp_steps=23)
    assert [s for s, _ in history][-2:] == [20, 23] and masks.at_final


def test_bad_settings_name_their_field(teacher_ckpt):
    base = {"teacher_ckpt": str(teacher_ckpt), "vocab_size": 41}
    cases = [({"allocation": "random"}, "model.init_args.allocation must be one of uniform, global"),
             ({"update_every": 0}, "model.init_args.update_every must be an int >= 1"),
             ({"target": {"structures": {"heads": 0.5}}}, "target.structures does not apply"),
             ({"target": {"metric": "latency"}}, "model.init_args.target.metric must be one of params, macs"),
             ({"target": {"sparsity": 1.2}}, "model.init_args.target.sparsity must be a sparsity fraction")]
    for extra, message in cases:
        with pytest.raises(ConpruneError, match=message):
            GradualMagnitudeModule(**base, **extra)


def gmp_fit(stage_args, out: Path, *extra: str, logger: str = "false") -> list[str]:
    """A deterministic tiny GMP fit: 8 steps, the ramp over 4, re-scoring every 2, validation at 4
    and 8, a checkpoint after every step."""
    checkpoint = ("{class_path: lightning.pytorch.callbacks.ModelCheckpoint, init_args: "
                  f"{{dirpath: {out}/ckpt, filename: 'step{{step}}', monitor: null, save_top_k: -1, "
                  "every_n_train_steps: 1, save_last: true, auto_insert_metric_name: false}}")
    return stage_args("gmp", out, "--data.batching.max_frames", "250", "--data.augment.freq_masks", "0",
                      "--data.augment.time_masks", "0", "--data.augment.freq_warp", "0.0",
                      "--trainer.max_steps", "8", "--trainer.val_check_interval", "4",
                      "--trainer.deterministic", "true", "--model.init_args.update_every", "2",
                      "--trainer.callbacks", f"[{ramp(4)}, {checkpoint}]", *extra, logger=logger)


def test_fit_reaches_the_target_and_compacts_to_the_masked_model(tmp_path, stage_args, teacher_ckpt):
    out = tmp_path / "run"
    cli = run_lightning(gmp_fit(stage_args, out, logger="csv"))
    module = cli.model
    teacher, _ = load_ctc_model(teacher_ckpt)
    assert module.masks.at_final and abs(module.masks.sparsity() - 0.5) <= 0.01
    assert module.masks.kept_counts() == solve_uniform(teacher.config, 0.5, CostModel.from_target("params"))[1]
    with open(next(out.rglob("metrics.csv"))) as fh:
        val = [r for r in csv.DictReader(fh) if r.get("val/wer_at_target")]
    assert len(val) == 2  # step 4 is before the ramp's end: never selected; step 8 scores its WER
    masked = float(val[0]["sparsity/masked"])
    assert masked < 0.49 and float(val[0]["val/wer_at_target"]) == pytest.approx(1 + 0.5 - masked)
    assert float(val[1]["val/wer_at_target"]) == float(val[1]["val/wer"])
    ckpt = load_checkpoint(out / "ckpt" / "last.ckpt")
    assert ckpt["conprune"]["stage"] == "gmp" and ckpt["conprune"]["kept_counts"] == module.masks.kept_counts()
    small, meta = compact_checkpoint(out / "ckpt" / "last.ckpt", tmp_path / "model.pt")
    assert meta["compacted"] and 1 - meta["params"] / meta["dense_params"] == pytest.approx(0.5, abs=0.01)
    dense = model_from_checkpoint(ckpt, "last.ckpt").eval()
    features, lengths = torch.randn(2, 120, 80), torch.tensor([120, 90])
    with torch.no_grad():
        masked = dense(features, lengths, gates=stored_masks(ckpt["state_dict"])).log_probs
        loaded, _ = load_model(tmp_path / "model.pt")
        assert torch.allclose(loaded.eval()(features, lengths).log_probs, masked, atol=1e-4)
    assert sum(p.numel() for p in small.parameters()) == meta["params"]


def test_resume_from_a_mid_ramp_checkpoint_gives_the_same_masks(tmp_path, stage_args):
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    run_lightning(gmp_fit(stage_args, straight, "--model.init_args.allocation", "global"))
    mid = straight / "ckpt" / "step3.ckpt"
    state = torch.load(mid, weights_only=False)
    assert 0 < state["callbacks"]["SparsityRamp"]["current"] < 0.5 and int(state["state_dict"]["masks.done"]) == 0
    assert stored_masks(state["state_dict"])["layers.0.ffn1.units"].sum() < 128  # pruning had begun
    run_lightning(gmp_fit(stage_args, resumed, "--model.init_args.allocation", "global", "--ckpt_path", str(mid)))
    a, b = (torch.load(run / "ckpt" / "last.ckpt", weights_only=False) for run in (straight, resumed))
    assert a["global_step"] == b["global_step"] == 8
    masks_a, masks_b = stored_masks(a["state_dict"]), stored_masks(b["state_dict"])
    assert masks_a.keys() == masks_b.keys() and all(torch.equal(masks_a[k], masks_b[k]) for k in masks_a)
    assert int(b["state_dict"]["masks.done"]) == 1
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"] if k.startswith("model."))


def test_export_refuses_masks_that_do_not_fit(tmp_path, teacher_ckpt):
    ckpt = torch.load(teacher_ckpt, weights_only=False)
    ckpt["state_dict"]["masks.values.layers__0__ffn1__units"] = torch.ones(7)
    torch.save(ckpt, tmp_path / "bad.ckpt")
    with pytest.raises(ConpruneError, match=r"gradual-pruning masks \['layers.0.ffn1.units'\] do not fit"):
        compact_checkpoint(tmp_path / "bad.ckpt", tmp_path / "model.pt")


def merged(*files: Path) -> dict:
    """The settings `conprune fit --config ...` merges from `files` and their bases (lists replaced)."""
    out: dict = {}

    def merge(into: dict, new: dict) -> None:
        for key, value in new.items():
            if isinstance(value, dict) and isinstance(into.get(key), dict):
                merge(into[key], value)
            else:
                into[key] = value

    args = expand_bases([a for f in files for a in ("--config", str(f))])
    for path in args[1::2]:
        merge(out, yaml.safe_load(Path(path).read_text()) or {})
    return out


@pytest.mark.parametrize("profile", ["full", "quick"])
def test_gmp_config_is_the_prune_stage_but_for_the_pruning_rule(profile):
    overlays = {"full": [], "quick": ["quick"]}[profile]
    gmp = merged(EXPERIMENTS / "gmp.yaml", *(EXPERIMENTS / o / "gmp.yaml" for o in overlays))
    prune = merged(EXPERIMENTS / "prune.yaml", *(EXPERIMENTS / o / "prune.yaml" for o in overlays))
    same = ("max_steps", "val_check_interval", "precision", "gradient_clip_val", "log_every_n_steps")
    assert {k: gmp["trainer"][k] for k in same} == {k: prune["trainer"][k] for k in same}
    ramps = [[c for c in cfg["trainer"]["callbacks"] if c["class_path"].endswith("SparsityRamp")] for cfg in (gmp, prune)]
    assert ramps[0] == ramps[1] and len(ramps[0]) == 1
    checkpoints = [next(c for c in cfg["trainer"]["callbacks"] if c["class_path"].endswith("ModelCheckpoint"))
                   for cfg in (gmp, prune)]
    assert checkpoints[0]["init_args"]["monitor"] == checkpoints[1]["init_args"]["monitor"] == "val/wer_at_target"
    g, p = gmp["model"]["init_args"], prune["model"]["init_args"]
    assert g["distill"] == p["distill"] and g["optim"] == p["optim"]
    assert g["target"] == {k: v for k, v in p["target"].items() if k != "structures"}
    assert gmp["trainer"]["default_root_dir"] != prune["trainer"]["default_root_dir"]
