"""Model contracts the pruning code relies on: padding invariance, gates that are exact to
compact (a zero gate equals the sliced weights), per-layer heterogeneous configs, and configs
that round-trip through JSON with errors naming the bad field."""

import json

import pytest
import torch

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig, preset
from conprune.models.conformer import ConformerCTC, MaskedBatchNorm1d
from conprune.models.ctc import greedy_decode

ATOL = 1e-5


def tiny_config(**kw) -> ConformerConfig:
    base = {"d_model": 32, "num_layers": 2, "heads": 4, "ffn_dim": 48, "conv_channels": 24, "vocab_size": 11,
            "head_dim": 8, "conv_kernel": 5, "subsampling_channels": 8, "dropout": 0.0, "attn_dropout": 0.0}
    return ConformerConfig.uniform(**{**base, **kw})


def hetero_config(**kw) -> ConformerConfig:
    base = {"d_model": 32, "num_layers": 3, "vocab_size": 11, "head_dim": 8, "heads": [4, 0, 2],
            "ffn1_dim": [48, 0, 16], "ffn2_dim": [40, 8, 16], "conv_channels": [24, 16, 0], "conv_kernel": 5,
            "subsampling_channels": 8, "dropout": 0.0, "attn_dropout": 0.0}
    return ConformerConfig(**{**base, **kw})


# Parakeet's options (rel_xl, padded 8x front end, input scale) and LASR's (conv1d front end, residual weights...)
PARAKEET = {"pos_enc": "rel_xl", "subsampling": "dw_striding", "subsampling_factor": 8, "subsampling_padded": True,
            "input_scale": 32 ** 0.5, "attn_bias": False, "ffn_bias": False, "conv_bias": False}
LASR = {"subsampling": "conv1d", "subsampling_kernel": 5, "rope_theta": 500.0, "attn_bias": False, "ffn_bias": False,
        "conv_bias": False, "norm_bias": False, "norm_eps": 1e-6, "bn_momentum": 0.01, "ffn_residual": [1.5, 0.5],
        "conv_residual": [2.0, 1.0], "final_norm": True, "conv_kernel": 6, "conv_padding": "same", "activation": "gelu"}


def randomise_norms(model: ConformerCTC) -> ConformerCTC:
    """Non-trivial BatchNorm running stats and norm affine params so slicing tests mean something."""
    torch.manual_seed(1)
    for name, buf in model.named_buffers():
        if name.endswith("running_mean"):
            buf.normal_()
        elif name.endswith("running_var"):
            buf.uniform_(0.5, 2.0)
    for name, p in model.named_parameters():
        if "norm" in name or "pos_bias" in name:
            p.data.normal_(1.0 if "norm" in name and name.endswith("weight") else 0.0, 0.3)
    return model.eval()


def random_gates(model: ConformerCTC, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {k: torch.rand(s, generator=g) for k, s in model.gate_shapes().items()}


def features(*lengths: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(len(lengths), max(lengths), 80, generator=g)


@pytest.mark.parametrize("cfg", [tiny_config(), hetero_config(), tiny_config(pos_enc="abs", conv_norm="layernorm"),
                                 tiny_config(pos_enc="none"), hetero_config(**PARAKEET), hetero_config(**LASR)])
@pytest.mark.parametrize("with_gates", [False, True])
def test_padding_invariance_eval(cfg: ConformerConfig, with_gates: bool) -> None:
    model = randomise_norms(ConformerCTC(cfg))
    gates = random_gates(model) if with_gates else None
    short = features(53, seed=3)
    alone = model(short, torch.tensor([53]), gates)
    for pad in ("zeros", "garbage"):
        batch = torch.cat([features(97, seed=4), torch.zeros(1, 97, 80)])
        batch[1, :53] = short[0]
        if pad == "garbage":
            batch[1, 53:] = 100 * torch.randn(44, 80)
        out = model(batch, torch.tensor([97, 53]), gates)
        n = int(alone.lengths[0])
        assert int(out.lengths[1]) == n
        torch.testing.assert_close(out.log_probs[1, :n], alone.log_probs[0], atol=ATOL, rtol=0)


def test_padding_invariance_train_batchnorm() -> None:
    """Masked BatchNorm: training statistics (and running stats) ignore padded frames."""
    batch = features(97, 53)
    outs, stats = [], []
    for fill in (0.0, 50.0):
        torch.manual_seed(0)
        model = ConformerCTC(tiny_config()).train()
        x = batch.clone()
        x[1, 53:] = fill
        outs.append(model(x, torch.tensor([97, 53])))
        stats.append(model.layers[0].conv.dw_norm.running_var.clone())
    n = int(outs[0].lengths[1])
    torch.testing.assert_close(outs[0].log_probs[1, :n], outs[1].log_probs[1, :n], atol=ATOL, rtol=0)
    torch.testing.assert_close(stats[0], stats[1], atol=ATOL, rtol=0)


@pytest.mark.parametrize("cfg", [tiny_config(), hetero_config(), tiny_config(conv_norm="layernorm"),
                                 hetero_config(**PARAKEET), hetero_config(**LASR)])
def test_unpadded_batch_without_lengths_equals_full_lengths(cfg: ConformerConfig) -> None:
    """lengths=None (no masks, no padding fills: the deployed batch-1 path) computes what full
    lengths compute, in eval and in training (BatchNorm statistics over every frame)."""
    batch = features(61, 61, seed=5)
    full = torch.tensor([61, 61])
    model = randomise_norms(ConformerCTC(cfg))
    torch.testing.assert_close(model(batch, None).log_probs, model(batch, full).log_probs, atol=ATOL, rtol=0)
    model.train()
    torch.manual_seed(0)
    without = model(batch, None).log_probs
    torch.manual_seed(0)
    torch.testing.assert_close(without, model(batch, full).log_probs, atol=ATOL, rtol=0)


def test_front_end_pointwise_matmul_equals_the_conv() -> None:
    """The dw_striding front end's 1×1 conv runs as a matmul over the channels-last buffer: same
    values as the Conv2d it stands for, and gradients reach its weight."""
    from torch.nn import functional as F

    model = ConformerCTC(tiny_config(subsampling="dw_striding"))
    front = model.subsampling
    x = features(40, 33, seed=6)
    out = front(x)
    h = F.relu(front.conv1(x.unsqueeze(1)))
    h = F.relu(front.conv2[1](front.conv2[0](h)))
    b, c, t, f = h.shape
    torch.testing.assert_close(out, front.proj(h.transpose(1, 2).reshape(b, t, c * f)), atol=ATOL, rtol=0)
    out.sum().backward()
    assert front.conv2[1].weight.grad is not None and front.conv2[1].weight.grad.abs().sum() > 0


def test_masked_batchnorm_equals_batchnorm_without_padding() -> None:
    masked, plain = MaskedBatchNorm1d(5), torch.nn.BatchNorm1d(5)
    x = torch.randn(3, 5, 20)
    for _ in range(3):
        torch.testing.assert_close(masked(x, torch.ones(3, 20, dtype=torch.bool)), plain(x))
    torch.testing.assert_close(masked.state_dict(), plain.state_dict())


def test_hetero_config_builds_and_skips_absent_modules() -> None:
    model = ConformerCTC(hetero_config())
    assert model.layers[1].mhsa is None and model.layers[1].ffn1 is None
    assert model.layers[2].conv is None
    assert model.layers[0].mhsa.q.out_features == 32 and model.layers[2].mhsa.out.in_features == 16
    out = model(features(40, 33), torch.tensor([40, 33]), return_hidden=True)
    assert out.log_probs.shape == (2, 9, 11)
    assert len(out.hidden) == 3 and all(h.shape == (2, 9, 32) for h in out.hidden)
    assert torch.allclose(out.log_probs.exp().sum(-1), torch.ones(2, 9), atol=1e-5)
    assert "layers.1.mhsa.heads" not in model.gate_shapes()
    assert model.gate_shapes()["layers.2.mhsa.heads"] == (2,)


def test_gates_of_ones_equal_no_gates_exactly() -> None:
    model = randomise_norms(ConformerCTC(hetero_config()))
    x, lengths = features(60, 41), torch.tensor([60, 41])
    ones = {k: torch.ones(s) for k, s in model.gate_shapes().items()}
    assert torch.equal(model(x, lengths, ones).log_probs, model(x, lengths).log_probs)


def test_bad_gates_raise() -> None:
    model = ConformerCTC(hetero_config())
    x, lengths = features(30), torch.tensor([30])
    with pytest.raises(ConpruneError, match="layers.1.mhsa.heads"):
        model(x, lengths, {"layers.1.mhsa.heads": torch.ones(4)})
    with pytest.raises(ConpruneError, match=r"shape \[24\]"):
        model(x, lengths, {"layers.0.conv.channels": torch.ones(23)})
    model(x, lengths, {"layers.0.conv.module": torch.ones(1)})
    with pytest.raises(ConpruneError, match="at least 7 frames"):
        model(features(6), torch.tensor([6]))


def sliced_state(model: ConformerCTC, layer: int, kind: str, drop: int) -> dict[str, torch.Tensor]:
    """The state_dict with one head / FFN unit / conv channel removed (what compaction will do)."""
    state = {k: v.clone() for k, v in model.state_dict().items()}
    cfg, p = model.config, f"layers.{layer}."

    def keep(n: int, width: int = 1) -> torch.Tensor:
        idx = torch.arange(n * width).view(n, width)
        return torch.cat([idx[:drop], idx[drop + 1:]]).flatten()

    if kind == "mhsa":
        rows = keep(cfg.heads[layer], cfg.head_dim)
        for proj in "qkv":
            for suffix in ("weight", "bias"):
                state[f"{p}mhsa.{proj}.{suffix}"] = state[f"{p}mhsa.{proj}.{suffix}"][rows]
        state[f"{p}mhsa.out.weight"] = state[f"{p}mhsa.out.weight"][:, rows]
    elif kind == "ffn1":
        rows = keep(cfg.ffn1_dim[layer])
        state[f"{p}ffn1.fc1.weight"] = state[f"{p}ffn1.fc1.weight"][rows]
        state[f"{p}ffn1.fc1.bias"] = state[f"{p}ffn1.fc1.bias"][rows]
        state[f"{p}ffn1.fc2.weight"] = state[f"{p}ffn1.fc2.weight"][:, rows]
    else:
        c = cfg.conv_channels[layer]
        rows = keep(c)
        glu = torch.cat([rows, rows + c])
        state[f"{p}conv.pw1.weight"] = state[f"{p}conv.pw1.weight"][glu]
        state[f"{p}conv.pw1.bias"] = state[f"{p}conv.pw1.bias"][glu]
        for name in ("dw.weight", "dw.bias", "dw_norm.weight", "dw_norm.bias", "dw_norm.running_mean",
                     "dw_norm.running_var"):
            state[f"{p}conv.{name}"] = state[f"{p}conv.{name}"][rows]
        state[f"{p}conv.pw2.weight"] = state[f"{p}conv.pw2.weight"][:, rows]
    return state


@pytest.mark.parametrize("kind,gate,field", [("mhsa", "heads", "heads"), ("ffn1", "units", "ffn1_dim"),
                                             ("conv", "channels", "conv_channels")])
def test_zero_gate_equals_sliced_model(kind: str, gate: str, field: str) -> None:
    cfg = hetero_config()
    model = randomise_norms(ConformerCTC(cfg))
    layer, drop = 0, 1
    shape = model.gate_shapes()[f"layers.{layer}.{kind}.{gate}"]
    mask = torch.ones(shape)
    mask[drop] = 0.0
    counts = list(getattr(cfg, field))
    counts[layer] -= 1
    small = ConformerCTC(cfg.replace(**{field: counts})).eval()
    small.load_state_dict(sliced_state(model, layer, kind, drop), strict=True)
    x, lengths = features(60, 41), torch.tensor([60, 41])
    gated = model(x, lengths, {f"layers.{layer}.{kind}.{gate}": mask})
    torch.testing.assert_close(small(x, lengths).log_probs, gated.log_probs, atol=ATOL, rtol=0)


@pytest.mark.parametrize("options", [{}, LASR], ids=["default", "residual-weights"])
def test_zero_module_gate_equals_absent_module(options: dict) -> None:
    """An absent module still applies its residual weight a (x <- a*x): LASR's conv has a = 2."""
    cfg = hetero_config(**options)
    model = randomise_norms(ConformerCTC(cfg))
    small = ConformerCTC(cfg.replace(conv_channels=[0, 16, 0])).eval()
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("layers.0.conv.")}
    small.load_state_dict(state, strict=True)
    x, lengths = features(60, 41), torch.tensor([60, 41])
    gated = model(x, lengths, {"layers.0.conv.module": torch.tensor(0.0)})
    torch.testing.assert_close(small(x, lengths).log_probs, gated.log_probs, atol=ATOL, rtol=0)


def test_param_counts() -> None:
    model = ConformerCTC(hetero_config())
    total = sum(p.numel() for p in model.parameters())
    assert model.count_params() == total == sum(model.param_breakdown().values())
    assert "layers.1.mhsa" not in model.param_breakdown()
    assert ConformerCTC(preset("tiny", 256)).count_params() == 260_224
    assert 3_500_000 < ConformerCTC(preset("demo", 256)).count_params() < 5_500_000


def test_output_lengths_match_actual_frames() -> None:
    model = ConformerCTC(tiny_config()).eval()
    for n in range(7, 40):
        out = model(features(n), torch.tensor([n]))
        assert out.log_probs.shape[1] == int(out.lengths[0]) == int(model.output_lengths(torch.tensor(n)))
    assert model.output_lengths(torch.tensor([0, 1, 3, 7, 8, 1000])).tolist() == [0, 0, 0, 1, 1, 249]


@pytest.mark.parametrize("factor,kind", [(6, "conv2d"), (8, "dw_striding"), (8, "conv2d")])
def test_subsampling_factor_lengths_and_padding(factor: int, kind: str) -> None:
    """Each front end's output length is exact, about T/factor, and padded frames do not leak."""
    model = ConformerCTC(tiny_config().replace(subsampling_factor=factor, subsampling=kind)).eval()
    low = model.config.min_input_frames
    for n in range(low, low + 30):
        out = model(features(n), torch.tensor([n]))
        assert out.log_probs.shape[1] == int(out.lengths[0]) == int(model.output_lengths(torch.tensor(n))) >= 1
    assert abs(int(model.output_lengths(torch.tensor(1000))) - 1000 / factor) <= 2
    short, padded = features(60), torch.zeros(1, 90, 80)
    padded[:, :60] = short
    with torch.no_grad():
        a = model(short, torch.tensor([60]))
        b = model(padded, torch.tensor([60]))
    k = int(a.lengths[0])
    assert torch.allclose(a.log_probs[0, :k], b.log_probs[0, :k], atol=1e-5)


def test_config_round_trip_and_validation() -> None:
    cfg = hetero_config(pos_enc="abs", conv_norm="layernorm")
    again = ConformerConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    assert preset("small", 128).conv_kernel == 31 and preset("demo", 64, num_layers=2).num_layers == 2
    bad = {
        "heads": ([4, 4], "'heads' must be a list of 3"),
        "ffn2_dim": ([4, -1, 4], r"'ffn2_dim\[1\]' must be an int >= 0"),
        "conv_kernel": (4, "'conv_kernel' must be odd"),
        "pos_enc": ("xl", "'pos_enc' must be one of"),
        "conv_norm": ("group", "'conv_norm' must be one of"),
        "d_model": (0, "'d_model' must be an int >= 1"),
        "dropout": (1.5, "'dropout' must be a float"),
        "colour": ("red", r"unknown field\(s\) \['colour'\]"),
    }
    for key, (value, message) in bad.items():
        with pytest.raises(ConpruneError, match=message):
            ConformerConfig.from_dict({**cfg.to_dict(), key: value})
    with pytest.raises(ConpruneError, match=r"missing field\(s\) \['vocab_size'\]"):
        ConformerConfig.from_dict({k: v for k, v in cfg.to_dict().items() if k != "vocab_size"})
    with pytest.raises(ConpruneError, match="unknown model preset"):
        preset("huge", 10)


def test_greedy_decode() -> None:
    paths = torch.tensor([[1, 1, 0, 1, 2, 2, 0, 0, 3], [0, 0, 0, 0, 0, 0, 0, 0, 0], [2, 0, 2, 2, 5, 5, 5, 5, 5]])
    log_probs = torch.nn.functional.one_hot(paths, 6).float().log()
    assert greedy_decode(log_probs, torch.tensor([9, 9, 4])) == [[1, 1, 2, 3], [], [2, 2]]
    assert greedy_decode(log_probs, torch.tensor([9, 9, 9]), blank=5) == [[1, 0, 1, 2, 0, 3], [0], [2, 0, 2]]
