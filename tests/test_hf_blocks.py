"""transformers' Parakeet and LASR CTC models, tiny and randomly initialised, mapped into conprune
(conprune.interop.hf_weights) compute the same log-probabilities on a padded batch and the same
greedy transcripts; the reverse mapping loads back into transformers; a model the family cannot
express is refused naming the field."""

from __future__ import annotations

import math

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.interop.hf_weights import from_hf, to_hf
from conprune.models.conformer import ConformerCTC
from conprune.models.ctc import greedy_decode

transformers = pytest.importorskip("transformers")
# transformers' own LASR conv module pads an even kernel with padding="same", which warns
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")

VOCAB = 13
LENGTHS = (160, 111, 67)
TINY = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64}
PARAKEET = {**TINY, "conv_kernel_size": 9, "subsampling_conv_channels": 8, "num_mel_bins": 80}
# LASR: an even depthwise kernel (PyTorch's "same" padding) and a non-default rotary base
LASR = {**TINY, "conv_kernel_size": 8, "subsampling_conv_channels": 16, "num_mel_bins": 40,
        "rope_parameters": {"rope_theta": 500.0, "rope_type": "default"}}


def randomise(model: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Weights of unit-scale activations, non-trivial norms and BatchNorm statistics, so the
    log-probabilities spread out (transformers' init gives a near-uniform output)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, buf in model.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(0.3 * torch.randn(buf.shape, generator=g))
            elif name.endswith("running_var"):
                buf.copy_(0.5 + torch.rand(buf.shape, generator=g))
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(0.3 * torch.randn(p.shape, generator=g) + (1.0 if name.endswith("weight") else 0.0))
            elif p.dim() >= 2:
                p.copy_(torch.randn(p.shape, generator=g) * (1.5 if "ctc_head" in name else 1.0) / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))
    return model.eval()


def hf_model(family: str, **encoder) -> torch.nn.Module:
    torch.manual_seed(0)
    if family == "parakeet":
        config = transformers.ParakeetCTCConfig(vocab_size=VOCAB, pad_token_id=VOCAB - 1,
                                                encoder_config={**PARAKEET, **encoder})
        return randomise(transformers.ParakeetForCTC(config))
    config = transformers.LasrCTCConfig(vocab_size=VOCAB, encoder_config={**LASR, **encoder})
    return randomise(transformers.LasrForCTC(config))


def padded_batch(bins: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Three utterances of different lengths, zero-padded, with transformers' attention mask."""
    x = torch.randn(len(LENGTHS), max(LENGTHS), bins, generator=torch.Generator().manual_seed(2))
    lengths = torch.tensor(LENGTHS)
    mask = torch.arange(max(LENGTHS))[None, :] < lengths[:, None]
    return x * mask[..., None], lengths, mask.long()


def assert_same_model(hf: torch.nn.Module, ours: ConformerCTC, order: list[int]) -> None:
    """Log-probs within 1e-4 on valid frames (after moving transformers' blank to id 0), the same
    output lengths, and the same greedy transcripts through the token order."""
    x, lengths, mask = padded_batch(ours.config.input_dim)
    with torch.no_grad():
        theirs = hf(input_features=x, attention_mask=mask).logits.float().log_softmax(-1)
        their_lengths = hf.encoder(input_features=x, attention_mask=mask,
                                   output_attention_mask=True).attention_mask.sum(-1)
        out = ours(x, lengths)
    assert out.lengths.tolist() == their_lengths.tolist()
    for b, n in enumerate(out.lengths.tolist()):
        diff = (theirs[b, :n, order] - out.log_probs[b, :n]).abs().max().item()
        assert diff < 1e-4, f"utterance {b}: max abs log-prob difference {diff}"
    hyps = greedy_decode(theirs, out.lengths, blank=hf.config.pad_token_id)
    assert [[order.index(t) for t in h] for h in hyps] == greedy_decode(out.log_probs, out.lengths)


def imported(hf: torch.nn.Module) -> tuple[ConformerCTC, list[int]]:
    result = from_hf(hf.config.to_dict(), hf.state_dict())
    model = ConformerCTC(result.config).eval()
    model.load_state_dict(result.state_dict, strict=True)
    return model, result.token_order


@pytest.mark.parametrize("encoder", [{}, {"attention_bias": False, "convolution_bias": False, "scale_input": False,
                                          "subsampling_factor": 4, "hidden_act": "relu"}],
                         ids=["defaults", "no-bias-4x-relu"])
def test_parakeet_ctc_parity(encoder: dict) -> None:
    hf = hf_model("parakeet", **encoder)
    ours, order = imported(hf)
    cfg = ours.config
    assert cfg.pos_enc == "rel_xl" and cfg.subsampling_padded and order == [VOCAB - 1, *range(VOCAB - 1)]
    assert cfg.input_scale == (math.sqrt(32) if encoder.get("scale_input", True) else 1.0)
    assert cfg.attn_bias == cfg.conv_bias == encoder.get("attention_bias", True)
    assert_same_model(hf, ours, order)


def test_lasr_ctc_parity() -> None:
    hf = hf_model("lasr")
    ours, order = imported(hf)
    cfg = ours.config
    assert (cfg.subsampling, cfg.rope_theta, cfg.conv_kernel, cfg.final_norm) == ("conv1d", 500.0, 8, True)
    assert order == list(range(VOCAB))  # LASR's blank is already id 0
    assert_same_model(hf, ours, order)


@pytest.mark.parametrize("family", ["parakeet", "lasr"])
def test_round_trip_through_transformers(family: str) -> None:
    """conprune -> transformers loads strictly and computes the same; importing it again gives
    back the same config and tensors."""
    ours, order = imported(hf_model(family))
    config_dict, state = to_hf(ours.config, ours.state_dict())
    cls = transformers.ParakeetForCTC if family == "parakeet" else transformers.LasrForCTC
    back = cls(cls.config_class.from_dict(config_dict)).eval()
    back.load_state_dict(state, strict=True)
    assert_same_model(back, ours, order)
    again = from_hf(back.config.to_dict(), back.state_dict())
    assert again.config == ours.config and again.token_order == order
    assert all(torch.equal(again.state_dict[k], v) for k, v in ours.state_dict().items())


def test_minimal_config_file_uses_the_family_defaults() -> None:
    """A config.json holding only what differs from transformers' defaults imports the same."""
    hf = hf_model("parakeet")
    minimal = {"model_type": "parakeet_ctc", "vocab_size": VOCAB, "pad_token_id": VOCAB - 1, "encoder_config": PARAKEET}
    assert from_hf(minimal, hf.state_dict()).config == from_hf(hf.config.to_dict(), hf.state_dict()).config


def test_what_a_family_cannot_express_is_refused() -> None:
    ours, _ = imported(hf_model("parakeet"))
    cfg, state = ours.config, ours.state_dict()
    refusals = {"'heads' is \\[4, 2\\]": cfg.replace(heads=[4, 2]),
                "'conv_channels' is \\[16, 16\\]": cfg.replace(conv_channels=[16, 16]),
                "'ffn2_dim' is \\[32, 32\\]": cfg.replace(ffn2_dim=[32, 32]),
                "'final_norm' is True": cfg.replace(final_norm=True),
                "'input_scale' is 2.0": cfg.replace(input_scale=2.0),
                "'pos_enc' is 'rope' with subsampling 'dw_striding'": cfg.replace(pos_enc="rope")}
    for message, config in refusals.items():
        with pytest.raises(ConpruneError, match=message):
            to_hf(config, state)
    hf = hf_model("lasr")
    with pytest.raises(ConpruneError, match="'model_type' is 'wav2vec2'"):
        from_hf({"model_type": "wav2vec2"}, hf.state_dict())
    with pytest.raises(ConpruneError, match="cannot place: 'encoder.extra'"):
        from_hf(hf.config.to_dict(), {**hf.state_dict(), "encoder.extra": torch.ones(1)})
    partial = {k: v for k, v in hf.state_dict().items() if "out_norm" not in k}
    with pytest.raises(ConpruneError, match=r"does not fit its config: missing \['final_norm.weight'\]"):
        from_hf(hf.config.to_dict(), partial)
