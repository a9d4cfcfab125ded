"""Lagrangian target control and distillation losses."""

import itertools

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.pruning.distill import LayerDistiller, default_layer_map, masked_mean, posterior_kd_loss
from conprune.pruning.lagrangian import LagrangianController, check_target


def test_lambda_rises_while_below_target_and_pushes_sparsity_up():
    control = LagrangianController()
    logit = torch.nn.Parameter(torch.tensor(-2.0))  # sparsity = sigmoid(logit) ~ 0.12
    opt = torch.optim.SGD([{"params": control.parameters(), "lr": 0.1}, {"params": [logit], "lr": 0.5}])
    lambdas = []
    for _ in range(60):
        sparsity = torch.sigmoid(logit)
        loss = control(sparsity, 0.5)
        opt.zero_grad()
        loss.backward()
        opt.step()
        lambdas.append(control.lambda1.item())
    assert all(b > a for a, b in itertools.pairwise(lambdas[:11]))
    assert control.lambda2.item() > 0
    assert torch.sigmoid(logit).item() > 0.3


def test_penalty_is_zero_at_target():
    control = LagrangianController()
    with torch.no_grad():
        control.lambda1.fill_(3.0)
        control.lambda2.fill_(2.0)
    assert control(torch.tensor(0.5), 0.5).item() == 0.0
    assert control(torch.tensor(0.4), 0.5).item() == pytest.approx(3 * 0.1 + 2 * 0.01)


@pytest.mark.parametrize("bad", [0.0, 1.0, 1.5, -0.1, "half", True])
def test_impossible_targets_are_refused(bad):
    with pytest.raises(ConpruneError, match="sparsity fraction"):
        check_target(bad)


def test_layer_distiller_identity_init_and_masking():
    torch.manual_seed(0)
    hidden = [torch.randn(2, 5, 8) for _ in range(3)]
    valid = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)
    for loss in ("mse", "l1_cos"):
        distiller = LayerDistiller({1: 1, 2: 2}, 8, 8, loss)
        assert distiller(hidden, hidden, valid).abs().item() < 1e-6
        garbage = [h.clone() for h in hidden]
        for h in garbage:
            h[1, 3:] = 100.0
        assert distiller(garbage, hidden, valid).abs().item() < 1e-6
        assert distiller([h + 1 for h in hidden], hidden, valid).item() > 0.1
    with pytest.raises(ConpruneError, match="layer loss"):
        LayerDistiller({0: 0}, 8, 8, "bogus")


def test_default_layer_map():
    assert default_layer_map(8, 8, every=3) == {2: 2, 5: 5, 7: 7}
    with pytest.raises(ConpruneError, match="layer_map"):
        default_layer_map(6, 8)


def test_posterior_kd_is_zero_for_equal_posteriors_and_masks_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 10)
    logp = logits.log_softmax(-1)
    valid = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])
    assert posterior_kd_loss(logp, logp, valid, 2.0).abs().item() < 1e-6
    other = logp.clone()
    other[1, 4:] = torch.randn(2, 10).log_softmax(-1)
    assert posterior_kd_loss(other, logp, valid).abs().item() < 1e-6
    student = torch.randn(2, 6, 10, requires_grad=True)
    loss = posterior_kd_loss(student.log_softmax(-1), logp, valid, 2.0)
    loss.backward()
    assert loss.item() > 0 and student.grad.abs().sum() > 0


def test_masked_mean():
    values = torch.tensor([[[1.0, 3.0], [5.0, 7.0]]])
    assert masked_mean(values, torch.tensor([[True, False]])).item() == 2.0
