"""The conv module's depthwise norm: padded frames stay out of BatchNorm's training statistics, and
in eval the BatchNorm folds into the depthwise filter without changing the model's output."""

from __future__ import annotations

import torch

from conprune.models.conformer import ConvModule
from conprune.models.norms import MaskedBatchNorm1d


def test_masked_batchnorm_equals_batchnorm_without_padding() -> None:
    masked, plain = MaskedBatchNorm1d(5), torch.nn.BatchNorm1d(5)
    x = torch.randn(3, 5, 20)
    for _ in range(3):
        torch.testing.assert_close(masked(x, torch.ones(3, 20, dtype=torch.bool)), plain(x))
    torch.testing.assert_close(masked.state_dict(), plain.state_dict())


def test_eval_batchnorm_is_folded_into_the_depthwise_conv_with_the_same_values(tiny_model) -> None:
    model = tiny_model()
    torch.manual_seed(0)
    with torch.no_grad():
        for norm in (m for m in model.modules() if isinstance(m, MaskedBatchNorm1d)):
            norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2)
            norm.weight.uniform_(0.5, 1.5), norm.bias.uniform_(-0.5, 0.5)
    convs = [layer.conv for layer in model.layers if layer.conv is not None]
    assert convs and not any(conv.folds_norm() for conv in convs)
    model.eval()
    assert all(conv.folds_norm() for conv in convs)
    x, lengths = torch.randn(2, 90, 80), torch.tensor([90, 61])
    with torch.no_grad():
        folded = model(x, lengths).log_probs
        unpadded = model(x, None).log_probs
        original = ConvModule.folds_norm
        ConvModule.folds_norm = lambda self: False
        try:
            unfolded, unfolded_unpadded = model(x, lengths).log_probs, model(x, None).log_probs
        finally:
            ConvModule.folds_norm = original
    assert torch.allclose(folded, unfolded, atol=1e-5) and torch.allclose(unpadded, unfolded_unpadded, atol=1e-5)
    assert not torch.allclose(folded, unpadded, atol=1e-3)
