"""Hugging Face transformers <-> conprune mapping for Parakeet (FastConformer-CTC) and LASR-CTC.

It reads and writes what a checkpoint holds, a config dict (`config.json`, `PreTrainedConfig.to_dict()`)
and a state_dict, so importing a model needs neither transformers nor the model's code. Parakeet
maps to pos_enc "rel_xl" with the padded "dw_striding" front end and √d input scaling; LASR to
"rope" with the "conv1d" front end, bias-free LayerNorms, residual weights and a final norm (see
ConformerConfig). A transformers CTC head is a kernel-1 Conv1d; conprune's a Linear.

Vocabulary: a transformers CTC model's blank is its `pad_token_id` (Parakeet: the last id, LASR: 0);
conprune's is id 0. Import reorders the head rows to [blank, every other id in order] and returns
that order: conprune id i is the checkpoint's id `token_order[i]` (for Parakeet, id + 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import PER_LAYER, ConformerConfig
from conprune.models.conformer import ConformerCTC

FAMILIES = {"parakeet_ctc": "parakeet", "lasr_ctc": "lasr"}
# transformers 5.x defaults of each family's CTC and encoder configs: a config file written with
# only the values that differ may leave any of them out.
_DEFAULTS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "parakeet": ({"vocab_size": 1025, "pad_token_id": 1024},
                 {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 8, "intermediate_size": 4096,
                  "hidden_act": "silu", "attention_bias": True, "convolution_bias": True, "conv_kernel_size": 9,
                  "subsampling_factor": 8, "subsampling_conv_channels": 256, "num_mel_bins": 80,
                  "subsampling_conv_kernel_size": 3, "subsampling_conv_stride": 2, "dropout": 0.1,
                  "attention_dropout": 0.1, "scale_input": True}),
    "lasr": ({"vocab_size": 512, "pad_token_id": 0},
             {"hidden_size": 512, "num_hidden_layers": 17, "num_attention_heads": 8, "intermediate_size": 2048,
              "hidden_act": "silu", "attention_bias": False, "convolution_bias": False, "conv_kernel_size": 32,
              "subsampling_conv_channels": 256, "num_mel_bins": 128, "subsampling_conv_kernel_size": 5,
              "subsampling_conv_stride": 2, "dropout": 0.1, "attention_dropout": 0.1, "layer_norm_eps": 1e-6,
              "feed_forward_residual_weights": [1.5, 0.5], "conv_residual_weights": [2.0, 1.0],
              "batch_norm_momentum": 0.01, "rope_parameters": {"rope_theta": 10000.0, "rope_type": "default"}}),
}
_ACTIVATIONS = {"silu": "silu", "swish": "silu", "relu": "relu", "gelu": "gelu"}
# Per block: transformers name prefix -> conprune name prefix.
_BLOCK = (("feed_forward1.linear1.", "ffn1.fc1."), ("feed_forward1.linear2.", "ffn1.fc2."),
          ("norm_feed_forward1.", "ffn1.norm."), ("self_attn.q_proj.", "mhsa.q."), ("self_attn.k_proj.", "mhsa.k."),
          ("self_attn.v_proj.", "mhsa.v."), ("self_attn.o_proj.", "mhsa.out."),
          ("self_attn.relative_k_proj.", "mhsa.linear_pos."), ("self_attn.bias_u", "mhsa.pos_bias_u"),
          ("self_attn.bias_v", "mhsa.pos_bias_v"), ("norm_self_att.", "mhsa.norm."),
          ("conv.pointwise_conv1.", "conv.pw1."), ("conv.depthwise_conv.", "conv.dw."), ("conv.norm.", "conv.dw_norm."),
          ("conv.pointwise_conv2.", "conv.pw2."), ("norm_conv.", "conv.norm."),
          ("feed_forward2.linear1.", "ffn2.fc1."), ("feed_forward2.linear2.", "ffn2.fc2."),
          ("norm_feed_forward2.", "ffn2.norm."), ("norm_out.", "norm_out."))
# conprune Linear weights that transformers stores as kernel-1 Conv1d weights [out, in, 1].
_KERNEL_1 = (".conv.pw1.weight", ".conv.pw2.weight")
# What each family fixes in a conprune config (checked by `to_hf`).
_NEEDS: dict[str, dict[str, Any]] = {
    "parakeet": {"subsampling": "dw_striding", "subsampling_padded": True, "conv_norm": "batchnorm",
                 "norm_bias": True, "norm_eps": 1e-5, "bn_eps": 1e-5, "bn_momentum": 0.1,
                 "ffn_residual": [1.0, 0.5], "conv_residual": [1.0, 1.0], "final_norm": False},
    "lasr": {"subsampling": "conv1d", "pos_enc": "rope", "conv_norm": "batchnorm", "norm_bias": False,
             "bn_eps": 1e-5, "input_scale": 1.0, "final_norm": True},
}


class Imported(NamedTuple):
    """A transformers checkpoint as conprune sees it: `ConformerCTC(config).load_state_dict(state_dict)`
    gives the same model; conprune token id i is the checkpoint's id `token_order[i]` (0: the blank)."""

    config: ConformerConfig
    state_dict: dict[str, Tensor]
    token_order: list[int]


def from_hf(hf_config: Mapping[str, Any], state_dict: Mapping[str, Tensor]) -> Imported:
    """A ParakeetForCTC or LasrForCTC checkpoint (its config dict and state_dict) as a conprune model."""
    family, ctc, enc = _read_config(hf_config)
    config = _parakeet_config(ctc, enc) if family == "parakeet" else _lasr_config(ctc, enc)
    order = _token_order(config.vocab_size, ctc["pad_token_id"])
    pairs = _prefixes(family, config)
    out = {}
    for key, value in state_dict.items():
        name = _rename(key, pairs)
        if name is None:
            raise ConpruneError(f"transformers {family} checkpoint has a tensor conprune cannot place: {key!r}")
        if name.endswith(_KERNEL_1) or name == "head.weight":
            value = value.squeeze(-1)
        if name.startswith("head."):
            value = value.index_select(0, torch.tensor(order, device=value.device))
        out[name] = value.detach()
    _check_state(config, out)
    return Imported(config, out, order)


def to_hf(config: ConformerConfig, state_dict: Mapping[str, Tensor]) -> tuple[dict[str, Any], dict[str, Tensor]]:
    """(transformers config dict, state_dict) of a conprune model its family expresses (same width,
    heads and FFN size in every layer, conv channels = d_model, the family's options); otherwise a
    ConpruneError naming the first field that does not fit. `ParakeetCTCConfig.from_dict` /
    `LasrCTCConfig.from_dict` of the dict builds the model the state_dict loads into."""
    family = family_of(config)
    _check_expressible(config, family)
    blank = config.vocab_size - 1 if family == "parakeet" else 0
    order = torch.tensor(_token_order(config.vocab_size, blank))
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(len(order))
    pairs = [(c, h) for h, c in _prefixes(family, config)]
    out = {}
    for key, value in state_dict.items():
        name = _rename(key, pairs)
        if name is None:
            raise ConpruneError(f"state_dict key {key!r} is not part of a {config.subsampling} conprune model")
        if key.startswith("head."):
            value = value.index_select(0, inverse.to(value.device))
        out[name] = value.unsqueeze(-1) if key.endswith(_KERNEL_1) or key == "head.weight" else value.detach()
    return _hf_config(config, family, blank), out


def family_of(config: ConformerConfig) -> str:
    """"parakeet" or "lasr": the transformers family whose front end and positions `config` has."""
    if config.subsampling == "conv1d":
        return "lasr"
    if config.pos_enc == "rel_xl":
        return "parakeet"
    raise ConpruneError(f"model config field 'pos_enc' is {config.pos_enc!r} with subsampling {config.subsampling!r}: "
                        "no transformers family has it (Parakeet: rel_xl + dw_striding, LASR: rope + conv1d)")


def _read_config(hf_config: Mapping[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    model_type = hf_config.get("model_type")
    if model_type not in FAMILIES:
        raise ConpruneError(f"transformers config field 'model_type' is {model_type!r}; conprune imports "
                            f"{sorted(FAMILIES)}")
    family = FAMILIES[model_type]
    ctc_defaults, enc_defaults = _DEFAULTS[family]
    ctc = {k: hf_config.get(k, v) for k, v in ctc_defaults.items()}
    enc = {**enc_defaults, **(hf_config.get("encoder_config") or {})}
    if enc.get("num_key_value_heads", enc["num_attention_heads"]) != enc["num_attention_heads"]:
        raise ConpruneError("transformers config field 'num_key_value_heads' differs from num_attention_heads: "
                            "grouped key/value heads are not supported")
    if not isinstance(ctc["pad_token_id"], int) or not 0 <= ctc["pad_token_id"] < ctc["vocab_size"]:
        raise ConpruneError(f"transformers config field 'pad_token_id' (the CTC blank) must be an id below "
                            f"vocab_size {ctc['vocab_size']}, got {ctc['pad_token_id']!r}")
    return family, ctc, enc


def _common(ctc: dict[str, Any], enc: dict[str, Any]) -> dict[str, Any]:
    """The config fields both families set alike."""
    d, heads, layers = enc["hidden_size"], enc["num_attention_heads"], enc["num_hidden_layers"]
    if enc["hidden_act"] not in _ACTIVATIONS:
        raise ConpruneError(f"transformers config field 'hidden_act' is {enc['hidden_act']!r}; conprune has "
                            f"{sorted(_ACTIVATIONS)}")
    return {"d_model": d, "num_layers": layers, "vocab_size": ctc["vocab_size"], "heads": [heads] * layers,
            "head_dim": enc.get("head_dim") or d // heads, "ffn1_dim": [enc["intermediate_size"]] * layers,
            "ffn2_dim": [enc["intermediate_size"]] * layers, "conv_channels": [d] * layers,
            "input_dim": enc["num_mel_bins"], "conv_kernel": enc["conv_kernel_size"],
            "dropout": float(enc["dropout"]), "attn_dropout": float(enc["attention_dropout"]),
            "subsampling_channels": enc["subsampling_conv_channels"],
            "subsampling_kernel": enc["subsampling_conv_kernel_size"], "activation": _ACTIVATIONS[enc["hidden_act"]],
            "attn_bias": enc["attention_bias"], "ffn_bias": enc["attention_bias"], "conv_bias": enc["convolution_bias"]}


def _parakeet_config(ctc: dict[str, Any], enc: dict[str, Any]) -> ConformerConfig:
    factor, stride, kernel = enc["subsampling_factor"], enc["subsampling_conv_stride"], enc["conv_kernel_size"]
    if stride != 2 or factor not in (4, 8):
        raise ConpruneError(f"transformers config fields 'subsampling_factor'/'subsampling_conv_stride' are "
                            f"{factor}/{stride}; conprune's padded front end has stride 2 and factor 4 or 8")
    if kernel % 2 == 0:
        raise ConpruneError(f"transformers config field 'conv_kernel_size' is {kernel}: Parakeet's conv module "
                            "needs an odd kernel")
    config = ConformerConfig(**_common(ctc, enc), subsampling="dw_striding", subsampling_factor=factor,
                             subsampling_padded=True, pos_enc="rel_xl",
                             input_scale=math.sqrt(enc["hidden_size"]) if enc["scale_input"] else 1.0)
    mel = enc["num_mel_bins"]
    if mel // stride ** len(config.strides) != config.subsampled_length(mel):
        raise ConpruneError(f"transformers config field 'num_mel_bins' ({mel}) must be divisible by {factor}: "
                            "Parakeet sizes its projection for that")
    return config


def _lasr_config(ctc: dict[str, Any], enc: dict[str, Any]) -> ConformerConfig:
    rope = enc["rope_parameters"] or {}
    if enc["subsampling_conv_stride"] != 2:
        raise ConpruneError(f"transformers config field 'subsampling_conv_stride' is {enc['subsampling_conv_stride']}; "
                            "conprune's conv1d front end has stride 2")
    if rope.get("rope_type", "default") != "default":
        raise ConpruneError(f"transformers config field 'rope_parameters' has rope_type {rope.get('rope_type')!r}; "
                            "conprune has the default rotary embedding only")
    return ConformerConfig(**_common(ctc, enc), subsampling="conv1d", subsampling_factor=4, pos_enc="rope",
                           rope_theta=float(rope.get("rope_theta", 10000.0)), norm_bias=False,
                           norm_eps=float(enc["layer_norm_eps"]), bn_momentum=float(enc["batch_norm_momentum"]),
                           ffn_residual=[float(w) for w in enc["feed_forward_residual_weights"]],
                           conv_residual=[float(w) for w in enc["conv_residual_weights"]], final_norm=True,
                           conv_padding="same")


def _token_order(vocab_size: int, blank: int) -> list[int]:
    return [blank] + [i for i in range(vocab_size) if i != blank]


def _prefixes(family: str, config: ConformerConfig) -> list[tuple[str, str]]:
    """(transformers prefix, conprune prefix) of every tensor of a `family` model of `config`."""
    if family == "parakeet":  # Sequential: conv, ReLU, then per further stride depthwise, pointwise, ReLU
        pairs = [("encoder.subsampling.layers.0.", "subsampling.conv1."),
                 ("encoder.subsampling.linear.", "subsampling.proj.")]
        for i in range(2, len(config.strides) + 1):
            pairs += [(f"encoder.subsampling.layers.{3 * i - 4}.", f"subsampling.conv{i}.0."),
                      (f"encoder.subsampling.layers.{3 * i - 3}.", f"subsampling.conv{i}.1.")]
    else:
        pairs = [("encoder.subsampler.dense_0.", "subsampling.dense_in."), ("encoder.subsampler.conv_0.", "subsampling.conv1."),
                 ("encoder.subsampler.conv_1.", "subsampling.conv2."), ("encoder.subsampler.dense_1.", "subsampling.proj."),
                 ("encoder.out_norm.", "final_norm.")]
    for layer in range(config.num_layers):
        pairs += [(f"encoder.layers.{layer}.{h}", f"layers.{layer}.{c}") for h, c in _BLOCK]
    return pairs + [("ctc_head.", "head.")]


def _rename(key: str, pairs: list[tuple[str, str]]) -> str | None:
    for source, target in pairs:
        if key.startswith(source) and (source.endswith(".") or key == source):
            return target + key[len(source):]
    return None


def _check_state(config: ConformerConfig, state: Mapping[str, Tensor]) -> None:
    """The mapped state_dict has exactly the tensors and shapes `ConformerCTC(config)` has (built on
    the meta device: no memory, however large the model)."""
    with torch.device("meta"):
        want = ConformerCTC(config).state_dict()
    missing, extra = sorted(set(want) - set(state)), sorted(set(state) - set(want))
    if missing or extra:
        raise ConpruneError(f"transformers checkpoint does not fit its config: missing {missing[:3]}, "
                            f"unexpected {extra[:3]}")
    for key, value in want.items():
        if tuple(state[key].shape) != tuple(value.shape):
            raise ConpruneError(f"transformers checkpoint tensor for {key!r} has shape {tuple(state[key].shape)}, "
                                f"its config gives {tuple(value.shape)}")


def _check_expressible(config: ConformerConfig, family: str) -> None:
    """Raise naming the first field a transformers `family` model cannot have."""
    for name in PER_LAYER:
        values = getattr(config, name)
        if len(set(values)) != 1 or values[0] == 0:
            raise ConpruneError(f"model config field '{name}' is {values}: a transformers {family} model has the "
                                "same nonzero count in every layer")
    if config.ffn2_dim != config.ffn1_dim or config.conv_channels[0] != config.d_model:
        name = "ffn2_dim" if config.ffn2_dim != config.ffn1_dim else "conv_channels"
        raise ConpruneError(f"model config field '{name}' is {getattr(config, name)}: a transformers {family} "
                            "model has ffn2_dim = ffn1_dim and conv_channels = d_model")
    checks = [(name, getattr(config, name) == value, repr(value)) for name, value in _NEEDS[family].items()]
    checks.append(("ffn_bias", config.ffn_bias == config.attn_bias, "the same as attn_bias"))
    if family == "parakeet":
        checks += [("subsampling_factor", config.subsampling_factor in (4, 8), "4 or 8"),
                   ("input_scale", config.input_scale in (1.0, math.sqrt(config.d_model)), "1 or sqrt(d_model)"),
                   ("input_dim", config.input_dim % config.subsampling_factor == 0,
                    "a multiple of the subsampling factor"),
                   ("conv_kernel", config.conv_kernel % 2 == 1, "an odd kernel")]
    for name, ok, wanted in checks:
        if not ok:
            raise ConpruneError(f"model config field '{name}' is {getattr(config, name)!r}; a transformers "
                                f"{family} model needs {wanted}")


def _hf_config(config: ConformerConfig, family: str, blank: int) -> dict[str, Any]:
    """The transformers config dict (CTC config with its encoder_config) of an expressible `config`."""
    enc: dict[str, Any] = {
        "model_type": f"{family}_encoder", "hidden_size": config.d_model, "num_hidden_layers": config.num_layers,
        "num_attention_heads": config.heads[0], "intermediate_size": config.ffn1_dim[0],
        "hidden_act": config.activation, "attention_bias": config.attn_bias, "convolution_bias": config.conv_bias,
        "conv_kernel_size": config.conv_kernel, "subsampling_conv_channels": config.subsampling_channels,
        "num_mel_bins": config.input_dim, "subsampling_conv_kernel_size": config.subsampling_kernel,
        "subsampling_conv_stride": 2, "dropout": config.dropout, "attention_dropout": config.attn_dropout,
        "activation_dropout": config.dropout, "layerdrop": 0.0}
    if config.heads[0] * config.head_dim != config.d_model:
        enc["head_dim"] = config.head_dim
    if family == "parakeet":
        enc.update(subsampling_factor=config.subsampling_factor, scale_input=config.input_scale != 1.0)
    else:
        enc.update(layer_norm_eps=config.norm_eps, feed_forward_residual_weights=list(config.ffn_residual),
                   conv_residual_weights=list(config.conv_residual), batch_norm_momentum=config.bn_momentum,
                   rope_parameters={"rope_theta": config.rope_theta, "rope_type": "default"})
    return {"model_type": f"{family}_ctc", "vocab_size": config.vocab_size, "pad_token_id": blank,
            "encoder_config": enc}
