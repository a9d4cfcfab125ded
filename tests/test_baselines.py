"""Pruning baselines: magnitude keeps the largest units, random is seeded, and both cut the teacher
to exactly the per-layer shapes of a conprune student file."""

from __future__ import annotations

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.models.config import PER_LAYER, ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import load_model, save_model
from conprune.pruning.allocation import global_kept, solve_uniform
from conprune.pruning.baselines import baseline_gates, kept_from_config, structure_scores
from conprune.pruning.compact import compact
from conprune.pruning.cost import count_macs, count_params, ref_frames
from conprune.pruning.cost_model import CostModel
from conprune.stages.baseline_export import baseline_command
from conprune.stages.checkpoint_io import save_ctc_checkpoint

BASE = {"d_model": 32, "num_layers": 3, "vocab_size": 13, "head_dim": 8, "heads": [4, 2, 4],
        "ffn1_dim": [24, 16, 0], "ffn2_dim": [16, 24, 12], "conv_channels": [12, 8, 0],
        "input_dim": 40, "conv_kernel": 5, "subsampling_channels": 8, "dropout": 0.0, "attn_dropout": 0.0}
DENSE = ConformerConfig(**BASE)
# A student shape: fewer units everywhere, layer 1's conv and ffn1 removed entirely.
SMALL = ConformerConfig(**{**BASE, "heads": [2, 1, 3], "ffn1_dim": [10, 0, 0], "ffn2_dim": [5, 24, 1],
                           "conv_channels": [6, 0, 0]})
# Wide enough that one unit is < 1 % of the model, as in the real teachers (the allocating baselines).
WIDE = ConformerConfig.uniform(d_model=64, num_layers=3, heads=8, head_dim=8, ffn_dim=256, conv_channels=64,
                               vocab_size=13, input_dim=40, conv_kernel=5, subsampling_channels=8)
# What the teacher checkpoints below carry beside the weights (the baselines copy it to their files).
TOKENIZER, CMVN = b"spm", {"mean": [0.0] * 40, "std": [1.0] * 40}


def dense_model(seed: int = 0) -> ConformerCTC:
    torch.manual_seed(seed)
    return ConformerCTC(DENSE).eval()


def test_structure_scores_shapes_and_values() -> None:
    model = dense_model()
    scores = structure_scores(model)
    units = {k: s for k, s in model.gate_shapes().items() if s and k != "hidden"}
    assert {k: tuple(v.shape) for k, v in scores.items()} == units
    mhsa, ffn, conv = model.layers[0].mhsa, model.layers[0].ffn2, model.layers[0].conv
    head1 = sum(p.weight[8:16].abs().sum() for p in (mhsa.q, mhsa.k, mhsa.v)) + mhsa.out.weight[:, 8:16].abs().sum()
    assert scores["layers.0.mhsa.heads"][1].item() == pytest.approx(head1.item(), rel=1e-5)
    unit3 = ffn.fc1.weight[3].abs().sum() + ffn.fc2.weight[:, 3].abs().sum()
    assert scores["layers.0.ffn2.units"][3].item() == pytest.approx(unit3.item(), rel=1e-5)
    chan5 = (conv.pw1.weight[[5, 17]].abs().sum() + conv.dw.weight[5].abs().sum()
             + conv.pw2.weight[:, 5].abs().sum())
    assert scores["layers.0.conv.channels"][5].item() == pytest.approx(chan5.item(), rel=1e-5)


def test_magnitude_drops_zeroed_units() -> None:
    model = dense_model()
    dead = {"layers.0.mhsa.heads": [0, 3], "layers.1.ffn2.units": [2, 7, 20], "layers.0.conv.channels": [1, 11]}
    with torch.no_grad():
        m = model.layers[0].mhsa
        for h in dead["layers.0.mhsa.heads"]:
            for p in (m.q, m.k, m.v):
                p.weight[h * 8:(h + 1) * 8] = 0.0
            m.out.weight[:, h * 8:(h + 1) * 8] *= 1e-3
        f = model.layers[1].ffn2
        f.fc1.weight[dead["layers.1.ffn2.units"]] = 0.0
        f.fc2.weight[:, dead["layers.1.ffn2.units"]] = 0.0
        c = model.layers[0].conv
        for ch in dead["layers.0.conv.channels"]:
            c.pw1.weight[[ch, ch + 12]] = 0.0
            c.dw.weight[ch] = 0.0
            c.pw2.weight[:, ch] = 0.0
    kept = {"layers.0.mhsa.heads": 2, "layers.1.ffn2.units": 21, "layers.0.conv.channels": 10}
    gates = baseline_gates(model, kept, "magnitude")
    assert set(gates) == set(kept)
    for key, units in dead.items():
        g = gates[key]
        assert int(g.sum()) == kept[key] and set(g.unique().tolist()) <= {0.0, 1.0}
        assert torch.nonzero(g == 0).flatten().tolist() == units, key


def test_random_is_seeded() -> None:
    model = dense_model()
    kept = kept_from_config(DENSE, SMALL)
    a = baseline_gates(model, kept, "random", seed=1)
    b = baseline_gates(model, kept, "random", seed=1)
    c = baseline_gates(model, kept, "random", seed=2)
    assert a.keys() == b.keys() == c.keys() == kept.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert all(int(a[k].sum()) == n for k, n in kept.items())
    magnitude = baseline_gates(model, kept, "magnitude")
    assert any(not torch.equal(a[k], magnitude[k]) for k in a)


def test_kept_from_config_and_absent_modules() -> None:
    kept = kept_from_config(DENSE, SMALL)
    assert kept["layers.0.mhsa.heads"] == 2
    assert kept["layers.1.conv.channels"] == 0 and kept["layers.1.conv.module"] == 0
    assert kept["layers.1.ffn1.units"] == 0 and kept["layers.1.ffn1.module"] == 0
    assert kept["layers.1.ffn2.units"] == 24 and kept["layers.1.ffn2.module"] == 1
    assert "layers.2.conv.channels" not in kept and "layers.2.ffn1.module" not in kept  # absent in dense
    model = dense_model()
    gates = baseline_gates(model, kept, "magnitude")
    assert float(gates["layers.1.conv.module"]) == 0.0 and float(gates["layers.0.mhsa.module"]) == 1.0
    small = compact(model, gates)
    assert all(getattr(small.config, f) == getattr(SMALL, f) for f in PER_LAYER)
    assert small.layers[1].conv is None and small.layers[1].ffn1 is None
    assert count_params(small.config) == small.count_params()
    x = torch.randn(2, 50, DENSE.input_dim)
    lengths = torch.tensor([50, 31])
    with torch.no_grad():  # the binary gates fold away: compact == gated dense model
        want, got = model(x, lengths, gates=gates), small(x, lengths)
    for i, n in enumerate(got.lengths.tolist()):
        assert torch.allclose(got.log_probs[i, :n], want.log_probs[i, :n], atol=1e-4)


def test_bad_keys_and_counts_refused() -> None:
    model = dense_model()
    with pytest.raises(ConpruneError, match="unknown kept key.*layers.2.conv.channels"):
        baseline_gates(model, {"layers.2.conv.channels": 3}, "magnitude")  # absent module
    with pytest.raises(ConpruneError, match="unknown kept key.*layers.0.mhsa.units"):
        baseline_gates(model, {"layers.0.mhsa.units": 1}, "random")
    with pytest.raises(ConpruneError, match=r"layers.0.mhsa.heads.*\[0, 4\].*got 5"):
        baseline_gates(model, {"layers.0.mhsa.heads": 5}, "magnitude")
    with pytest.raises(ConpruneError, match="got -1"):
        baseline_gates(model, {"layers.0.ffn1.units": -1}, "magnitude")
    with pytest.raises(ConpruneError, match="0 or 1.*got 2"):
        baseline_gates(model, {"layers.0.conv.module": 2}, "magnitude")
    with pytest.raises(ConpruneError, match="model width"):
        baseline_gates(model, {"hidden": 16}, "magnitude")
    assert baseline_gates(model, {"hidden": 32}, "magnitude") == {}
    with pytest.raises(ConpruneError, match="method 'l2'"):
        baseline_gates(model, {}, "l2")
    with pytest.raises(ConpruneError, match="layer 0: shape source has heads=5"):
        kept_from_config(DENSE, ConformerConfig(**{**BASE, "heads": [5, 2, 4]}))
    with pytest.raises(ConpruneError, match="d_model=16"):
        kept_from_config(DENSE, ConformerConfig(**{**BASE, "d_model": 16}))


@pytest.mark.parametrize("method", ["magnitude_shapes", "random_shapes"])
def test_baseline_command_end_to_end(tmp_path, method: str) -> None:
    teacher = dense_model(seed=3)
    save_ctc_checkpoint(tmp_path / "teacher.ckpt", teacher, TOKENIZER, CMVN)
    torch.manual_seed(4)  # the student file's weights are irrelevant: only its config is read
    save_model(tmp_path / "student.pt", ConformerCTC(SMALL), b"other", None, {"stage": "prune"})
    out = tmp_path / f"{method}.pt"
    summary = baseline_command(str(tmp_path / "teacher.ckpt"), method, str(out),
                               shapes_from=str(tmp_path / "student.pt"), seed=7)
    model, info = load_model(out)
    assert model.config == SMALL
    assert summary["params"] == model.count_params() == count_params(SMALL) < summary["dense_params"]
    assert summary["kept"] == {f: getattr(SMALL, f) for f in PER_LAYER}
    meta = info["meta"]
    assert meta["stage"] == f"baseline-{method}" and meta["params"] == summary["params"]
    assert meta["dense_config"] == DENSE.to_dict() and meta["source"].endswith("teacher.ckpt")
    assert meta["shapes_from"].endswith("student.pt") and meta["seed"] == 7
    assert info["tokenizer"] == b"spm" and info["cmvn"]["std"] == [1.0] * 40
    kept = kept_from_config(DENSE, SMALL)
    gates = baseline_gates(teacher, kept, method.split("_")[0], seed=7)
    x, lengths = torch.randn(1, 40, 40), torch.tensor([40])
    with torch.no_grad():  # the file is the teacher cut by exactly these gates
        assert torch.allclose(model(x, lengths).log_probs, teacher(x, lengths, gates=gates).log_probs, atol=1e-4)
    if method == "random_shapes":
        baseline_command(str(tmp_path / "teacher.ckpt"), method, str(tmp_path / "again.pt"),
                         shapes_from=str(tmp_path / "student.pt"), seed=7)
        again, _ = load_model(tmp_path / "again.pt")
        assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())


def test_baseline_command_refuses_foreign_shapes(tmp_path) -> None:
    save_ctc_checkpoint(tmp_path / "teacher.ckpt", dense_model(), TOKENIZER, CMVN)
    save_model(tmp_path / "other.pt", ConformerCTC(ConformerConfig(**{**BASE, "num_layers": 2, "heads": [1, 1],
               "ffn1_dim": [1, 1], "ffn2_dim": [1, 1], "conv_channels": [1, 1]})))
    with pytest.raises(ConpruneError, match="num_layers=2"):
        baseline_command(str(tmp_path / "teacher.ckpt"), "magnitude_shapes", str(tmp_path / "out.pt"),
                         shapes_from=str(tmp_path / "other.pt"))
    assert not (tmp_path / "out.pt").exists()


def test_dense_baseline_matches_the_student_size_and_trains_as_teacher(tmp_path) -> None:
    from conprune.lit.teacher import TeacherModule
    from conprune.pruning.baselines import dense_config_like

    big = ConformerConfig.uniform(vocab_size=13, d_model=64, num_layers=2, heads=4, head_dim=16, ffn_dim=256,
                                  conv_channels=64, input_dim=40, conv_kernel=5, subsampling_channels=8)
    target = count_params(big) // 2
    small = dense_config_like(big, target, CostModel.from_target("params"))
    assert small.num_layers == 2 and small.d_model < 64 and small.heads == [4, 4]
    assert abs(count_params(small) - target) / target < 0.15
    teacher = ConformerCTC(big).eval()
    save_ctc_checkpoint(tmp_path / "teacher.ckpt", teacher, TOKENIZER, CMVN)
    save_model(tmp_path / "student.pt", ConformerCTC(SMALL.replace(vocab_size=13)), None, None, None)
    summary = baseline_command(str(tmp_path / "teacher.ckpt"), "dense", str(tmp_path / "dense.pt"),
                               shapes_from=str(tmp_path / "student.pt"))
    model, info = load_model(tmp_path / "dense.pt")
    assert info["meta"]["stage"] == "baseline-dense" and summary["params"] == model.count_params()
    module = TeacherModule(vocab_size=13, init_model=str(tmp_path / "dense.pt"))
    assert module.config == model.config and module.model.training
    with pytest.raises(ConpruneError, match="vocabulary 13"):
        TeacherModule(vocab_size=41, init_model=str(tmp_path / "dense.pt"))


def test_dense_baseline_is_sized_in_the_targets_metric(tmp_path) -> None:
    """A student that kept its attention but lost its FFNs has few params for its MACs: the dense
    baseline of a MACs target matches its MACs, not its params, so the comparison is at equal cost."""
    big = ConformerConfig.uniform(vocab_size=13, d_model=128, num_layers=2, heads=4, head_dim=32, ffn_dim=512,
                                  conv_channels=128, input_dim=40, conv_kernel=5, subsampling_channels=8)
    student = big.replace(ffn1_dim=[0, 0], ffn2_dim=[0, 0])
    frames = ref_frames(10.0)
    save_ctc_checkpoint(tmp_path / "teacher.ckpt", ConformerCTC(big), TOKENIZER, CMVN)
    save_model(tmp_path / "student.pt", ConformerCTC(student), None, None, None)
    made = {}
    for metric in ("params", "macs"):
        baseline_command(str(tmp_path / "teacher.ckpt"), "dense", str(tmp_path / f"{metric}.pt"),
                         shapes_from=str(tmp_path / "student.pt"), metric=metric)
        model, info = load_model(tmp_path / f"{metric}.pt")
        assert info["meta"]["metric"] == metric
        made[metric] = model.config
    goal_macs = count_macs(student, frames)
    assert made["macs"].d_model > made["params"].d_model
    assert abs(count_macs(made["macs"], frames) - goal_macs) < abs(count_macs(made["params"], frames) - goal_macs)
    goal_params = count_params(student)
    assert abs(count_params(made["params"]) - goal_params) < abs(count_params(made["macs"]) - goal_params)
    # one d_model step misses by > 1 %, so the FFN width is tuned to land within it, as the pruned baselines do
    assert abs(count_params(made["params"]) / goal_params - 1) <= 0.01
    assert abs(count_macs(made["macs"], frames) / goal_macs - 1) <= 0.01


@pytest.mark.parametrize("method", ["magnitude_uniform", "random_uniform", "magnitude_global"])
@pytest.mark.parametrize("metric, target", [("params", 0.5), ("params", 0.7), ("macs", 0.5)])
def test_baselines_that_allocate_hit_the_target(tmp_path, method: str, metric: str, target: float) -> None:
    """Their own per-layer counts, within 1 % of the target through the analytic cost model; uniform
    keeps one ratio everywhere, global gives layers different shares."""
    torch.manual_seed(3)
    save_ctc_checkpoint(tmp_path / "teacher.ckpt", ConformerCTC(WIDE), TOKENIZER, CMVN)
    summary = baseline_command(str(tmp_path / "teacher.ckpt"), method, str(tmp_path / "b.pt"), target=target,
                               metric=metric, seed=1)
    assert abs(summary["reached_sparsity"] - target) <= 0.01
    model, info = load_model(tmp_path / "b.pt")
    frames = ref_frames(10.0)
    count = count_params if metric == "params" else lambda cfg: count_macs(cfg, frames)
    assert 1 - count(model.config) / count(WIDE) == pytest.approx(summary["reached_sparsity"])
    assert info["meta"]["method"] == method and info["meta"]["shapes_from"] is None
    if method.endswith("uniform"):
        ratios = {round(n / d, 1) for f in ("ffn1_dim", "ffn2_dim", "conv_channels")
                  for n, d in zip(getattr(model.config, f), getattr(WIDE, f))}
        assert len(ratios) == 1


def test_global_ranking_removes_the_lowest_normalised_units() -> None:
    torch.manual_seed(3)
    teacher = ConformerCTC(WIDE)
    scores = structure_scores(teacher)
    kept = global_kept(teacher.config, scores, 0.5, CostModel.from_target("params"))
    shapes = teacher.gate_shapes()
    groups = {}
    for key, score in scores.items():
        groups.setdefault(key.rsplit(".", 1)[1], []).append(score)
    means = {g: torch.cat(v).mean() for g, v in groups.items()}
    dropped = [float(scores[k][i] / means[k.rsplit(".", 1)[1]]) for k in scores
               for i in torch.sort(scores[k], descending=True, stable=True).indices[kept[k]:]]
    held = [float(scores[k][i] / means[k.rsplit(".", 1)[1]]) for k in scores
            for i in torch.sort(scores[k], descending=True, stable=True).indices[:kept[k]]]
    assert max(dropped) <= min(held) and sum(kept[k] for k in scores) < sum(s[0] for k, s in shapes.items()
                                                                           if k in scores)
    with pytest.raises(ConpruneError, match="no uniform keep ratio lands within"):
        solve_uniform(teacher.config, 0.999, CostModel.from_target("params"))


def test_allocating_methods_need_a_target_and_shapes_methods_a_student(tmp_path) -> None:
    save_ctc_checkpoint(tmp_path / "teacher.ckpt", dense_model(), TOKENIZER, CMVN)
    with pytest.raises(ConpruneError, match="pass --target"):
        baseline_command(str(tmp_path / "teacher.ckpt"), "magnitude_uniform", str(tmp_path / "x.pt"))
    with pytest.raises(ConpruneError, match="pass --shapes-from"):
        baseline_command(str(tmp_path / "teacher.ckpt"), "random_shapes", str(tmp_path / "x.pt"))
    with pytest.raises(ConpruneError, match="use one of"):
        baseline_command(str(tmp_path / "teacher.ckpt"), "l2", str(tmp_path / "x.pt"))
