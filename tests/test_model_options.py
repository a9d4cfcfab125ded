"""The model options that express other Conformer-CTC families (Parakeet, LASR): a config without
them is today's model, bad values are refused naming the field, the new front ends' lengths are
their real output frames, and rel_xl attention is the Transformer-XL formula."""

import json
import math

import pytest
import torch
from test_model import LASR, features, hetero_config, tiny_config

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC


def test_family_options_default_to_todays_model_and_validate() -> None:
    """A config dict written before the family options loads as the same model; bad option values
    are refused naming the field."""
    cfg = hetero_config()
    old = cfg.to_dict()
    assert list(old)[-1] == "pos_enc" and ConformerConfig.from_dict(old) == cfg  # options at defaults: left out
    assert ConformerConfig.from_dict({**old, "input_scale": 1, "ffn_residual": [1, 0.5]}).to_dict() == old
    lasr = hetero_config(**LASR)
    assert ConformerConfig.from_dict(json.loads(json.dumps(lasr.to_dict()))) == lasr
    bad = {
        "conv_kernel": (6, r"'conv_kernel' must be odd \(or set conv_padding: same\)"),
        "conv_padding": ("valid", "'conv_padding' must be one of"),
        "activation": ("tanh", "'activation' must be one of"),
        "ffn_residual": ([1.0], r"'ffn_residual' must be a list \[a, b\]"),
        "conv_residual": ([0.0, 1.0], r"'conv_residual\[0\]' must be a finite number > 0"),
        "input_scale": (-1.0, "'input_scale' must be a finite number > 0"),
        "attn_bias": ("yes", "'attn_bias' must be true or false"),
        "bn_momentum": (1.5, "'bn_momentum' must be in"),
        "subsampling_kernel": (0, "'subsampling_kernel' must be an int >= 1"),
    }
    for key, (value, message) in bad.items():
        with pytest.raises(ConpruneError, match=message):
            ConformerConfig.from_dict({**cfg.to_dict(), key: value})
    with pytest.raises(ConpruneError, match="'d_model' must be even for pos_enc='rel_xl'"):
        ConformerConfig.from_dict({**cfg.to_dict(), "pos_enc": "rel_xl", "d_model": 33})
    with pytest.raises(ConpruneError, match="subsampling='conv1d'.*subsampling_factor 4"):
        ConformerConfig.from_dict({**cfg.to_dict(), "subsampling": "conv1d", "subsampling_factor": 8})


@pytest.mark.parametrize("options,step", [
    ({"subsampling": "dw_striding", "subsampling_padded": True}, lambda n: (n - 1) // 2 + 1),
    ({"subsampling": "conv2d", "subsampling_padded": True, "subsampling_factor": 8}, lambda n: (n - 1) // 2 + 1),
    ({"subsampling": "conv1d", "subsampling_kernel": 5}, lambda n: max((n - 5) // 2 + 1, 0))],
    ids=["padded-dw-4x", "padded-conv2d-8x", "conv1d-k5"])
def test_family_front_end_lengths(options: dict, step) -> None:
    """Padded 3×3 convs map n frames to ⌊(n−1)/2⌋+1 each (Parakeet), LASR's kernel-5 convs to
    ⌊(n−5)/2⌋+1; the model's lengths are its real output frames, from its fewest frames up."""
    model = ConformerCTC(tiny_config(**options)).eval()
    low = model.config.min_input_frames
    assert low == (1 if model.config.subsampling_padded else 13)
    for n in range(low, low + 25):
        want = n
        for _ in model.config.strides:
            want = step(want)
        with torch.no_grad():
            out = model(features(n), torch.tensor([n]))
        assert out.log_probs.shape[1] == int(out.lengths[0]) == want >= 1


def test_rel_xl_attention_equals_the_transformer_xl_formula() -> None:
    """Scores ((q+u)·k_j + (q+v)·W_pos r_{i−j}) / √hd, computed pair by pair from the sinusoid of
    each distance i−j (sin/cos interleaved), against the module's shifted, SDPA-fused form."""
    from conprune.models.attention import SelfAttention

    torch.manual_seed(0)
    d, heads, hd, t = 16, 2, 4, 7
    attn = SelfAttention(d, heads, hd, 0.0, 0.0, rel_xl=True).eval()
    torch.nn.init.normal_(attn.pos_bias_u, std=0.5)
    torch.nn.init.normal_(attn.pos_bias_v, std=0.5)
    x = torch.randn(1, t, d)
    y = attn.norm(x)
    q, k, v = (p(y).view(t, heads, hd) for p in (attn.q, attn.k, attn.v))
    inv = 1.0 / (1e4 ** (torch.arange(0, d, 2).float() / d))
    distance = (torch.arange(t)[:, None] - torch.arange(t)[None, :]).float()  # i − j
    table = torch.stack([(distance[..., None] * inv).sin(), (distance[..., None] * inv).cos()], -1).view(t, t, d)
    r = attn.linear_pos(table).view(t, t, heads, hd)
    scores = (torch.einsum("ihc,jhc->hij", q + attn.pos_bias_u, k)
              + torch.einsum("ihc,ijhc->hij", q + attn.pos_bias_v, r)) / math.sqrt(hd)
    mixed = torch.einsum("hij,jhc->ihc", scores.softmax(-1), v).reshape(1, t, heads * hd)
    with torch.no_grad():
        torch.testing.assert_close(attn(x, None, None), attn.out(mixed), atol=1e-5, rtol=0)
