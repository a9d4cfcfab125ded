"""PrunedStudentModule: gates + Lagrangian + distillation through `conprune fit`."""

import csv

import pytest
import torch

from conprune.cli import run_lightning
from conprune.errors import ConpruneError
from conprune.lit.student import PrunedStudentModule
from conprune.stages.checkpoint_io import save_ctc_checkpoint


def test_prune_fit_logs_sparsity_and_lambda(tmp_path, stage_args):
    out = tmp_path / "run"
    cli = run_lightning(stage_args(
        "prune", out, "--data.batching.max_frames", "800",
        "--trainer.max_steps", "12", "--trainer.val_check_interval", "6", "--trainer.log_every_n_steps", "1",
        "--trainer.callbacks", "[{class_path: conprune.lit.callbacks.SparsityRamp, init_args: {ramp_steps: 8}}]",
        "--trainer.enable_checkpointing", "false", logger="csv"))
    module = cli.model
    assert module.sparsity_target == pytest.approx(0.5)
    with open(next(out.rglob("metrics.csv"))) as fh:
        rows = list(csv.DictReader(fh))
    columns = set(rows[0])
    for name in ("sparsity/target", "sparsity/expected", "sparsity/deterministic", "lagrangian/lambda1",
                 "lagrangian/lambda2", "loss/layer", "loss/kd", "loss/lagrangian", "val/wer_at_target"):
        assert name in columns, name
    lambdas = [float(r["lagrangian/lambda1"]) for r in rows if r.get("lagrangian/lambda1")]
    assert lambdas[-1] > 0  # the target stayed above the expected sparsity, so λ1 rose
    assert not hasattr(module, "teacher") or "teacher" not in dict(module.named_children())


def test_teacher_vocab_mismatch_is_clear(tmp_path, tiny_model):
    ckpt = save_ctc_checkpoint(tmp_path / "teacher.ckpt", tiny_model(30))
    with pytest.raises(ConpruneError, match="vocabulary 30"):
        PrunedStudentModule(teacher_ckpt=str(ckpt), vocab_size=41)


def test_bad_targets_and_files(tmp_path, teacher_ckpt):
    with pytest.raises(ConpruneError, match="not found"):
        PrunedStudentModule(teacher_ckpt=str(tmp_path / "missing.ckpt"))
    (tmp_path / "junk.ckpt").write_bytes(b"junk")
    with pytest.raises(ConpruneError, match="cannot load checkpoint"):
        PrunedStudentModule(teacher_ckpt=str(tmp_path / "junk.ckpt"))
    with pytest.raises(ConpruneError, match="sparsity fraction"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41, target={"sparsity": 1.0})
    with pytest.raises(ConpruneError, match=r"target\.metric must be one of"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41, target={"metric": "flops"})


def test_gradients_reach_log_alpha_from_task_and_lagrangian(teacher_ckpt):
    module = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41)
    feats, lengths = torch.randn(2, 80, 80), torch.tensor([80, 60])
    out = module.model(feats, lengths, gates=module.gates(), return_hidden=True)
    out.log_probs.mean().backward()
    task = [p.grad for p in module.gates.log_alpha_parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in task)
    module.zero_grad()
    module.lagrangian.lambda1.data.fill_(1.0)
    module.lagrangian(module.expected_sparsity(), 0.5).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in module.gates.log_alpha_parameters())


def test_step_ratio_reports_both_steps(teacher_ckpt):
    from conprune.lit.step_ratio import step_ratio

    result = step_ratio(str(teacher_ckpt), batch_size=2, frames=120, repeats=1)
    assert result["teacher_step_s"] > 0 and result["prune_step_s"] > 0
    assert result["prune_step_ratio"] == pytest.approx(result["prune_step_s"] / result["teacher_step_s"])


@pytest.mark.parametrize("gap", [0.3, -0.2])
def test_sgd_lambda_step_is_proportional_to_the_gap(teacher_ckpt, gap):
    module = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                                 lagrangian={"lambda_lr": 2.0, "lambda_optimizer": "sgd"})
    expected = module.expected_sparsity().detach()
    module.lagrangian(expected, float(expected) + gap).backward()
    module.on_before_optimizer_step(None)
    assert module.lagrangian.lambda1.item() == pytest.approx(2.0 * gap, rel=1e-5)
    assert module.lagrangian.lambda2.item() == pytest.approx(2.0 * gap * gap, rel=1e-5)
    assert module.lagrangian.lambda1.grad is None


def test_unknown_lambda_optimizer_is_refused(teacher_ckpt):
    with pytest.raises(ConpruneError, match="lambda_optimizer"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                            lagrangian={"lambda_optimizer": "rmsprop"})


def test_fixed_rho_is_a_constant_quadratic_force(teacher_ckpt):
    module = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                                 lagrangian={"penalty_rho": 40.0, "lambda_optimizer": "sgd"})
    expected = module.expected_sparsity()
    penalty = module.lagrangian(expected, float(expected) + 0.1)
    assert penalty.item() == pytest.approx(40.0 * 0.01, rel=1e-4)
    penalty.backward()
    module.on_before_optimizer_step(None)
    assert module.lagrangian.lambda2.item() == 40.0 and not module.lagrangian.lambda2.requires_grad
    assert module.lagrangian.lambda1.item() == pytest.approx(0.01 * 0.1, rel=1e-4)


def test_structure_targets_push_only_their_group(teacher_ckpt):
    from conprune.pruning.structure_targets import removed_fraction

    module = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                                 target={"structures": {"heads": 0.5}})
    ones = {k: torch.ones_like(v) for k, v in module.gates.keep_probs().items()}
    assert removed_fraction(ones, "heads", module.dense_units).item() == 0.0
    half = dict(ones)
    first = next(k for k in ones if k.endswith("mhsa.module"))
    half[first] = torch.zeros(())  # one of the two layers' MHSA off: half of all heads removed
    assert removed_fraction(half, "heads", module.dense_units).item() == pytest.approx(0.5)
    module.sparsity_target = module.target.sparsity
    module.structure_lagrangians["heads"].lambda1.data.fill_(5.0)
    keep = module.gates.keep_probs()
    module.structure_lagrangians["heads"](removed_fraction(keep, "heads", module.dense_units), 0.5).backward()
    grads = {k: module.gates[k].log_alpha.grad for k in module.gates}
    assert any(g is not None and g.abs().sum() > 0 for k, g in grads.items() if k.endswith("heads"))
    assert all(g is None or g.abs().sum() == 0 for k, g in grads.items() if k.endswith("units"))
    assert len(module.lambda_parameters()) == 4


def test_structure_targets_are_checked(teacher_ckpt):
    with pytest.raises(ConpruneError, match="unknown group 'attention'"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                            target={"structures": {"attention": 0.5}})
    with pytest.raises(ConpruneError, match="target.structures.heads"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), vocab_size=41,
                            target={"structures": {"heads": 1.5}})
