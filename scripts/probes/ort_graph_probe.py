"""ONNX Runtime latency of one model's exported graph, variant by variant, side by side.

Each variant changes how the model is written before export (patched in for that export only)
or how the ONNX Runtime session is set up; each is timed interleaved in one process (1 thread,
batch 1, with the `lengths` input), fp32 and dynamic int8, as a ratio to the first variant
(today's export and session). One JSON row per run, for `bench/ort_graph_ab_cpu.jsonl`.

Variants: `today`; `bool_mask` (a boolean key mask per attention layer, as before: ONNX gets a
Where and a NaN guard per layer); `skip_ln_fusion` (ONNX Runtime's SkipLayerNormalization fusion
on); `conv_mask_mul` (the conv module's padding mask as a product, not a Where); `ffn_2d` (FFN
linears on [B·T, d], so ONNX Runtime fuses the bias into a Gemm); `fused_qkv_rope` (one q|k|v
matmul with the rotary half-swap folded into extra weight rows); `no_nchwc` (ONNX Runtime's
NCHWc layout transformer off); `ort_transformers` (onnxruntime.transformers' optimizer, model
type conformer, no SkipLayerNorm); `opset20` (torch.onnx's default opset, as exported before
today's opset 23: attention as MatMul, Add, Softmax, MatMul, with the [B, 1, 1, T] key mask, and
each rotary embedding as Slice, Neg, Concat, Mul, Add instead of one RotaryEmbedding node). For
today's export also two other dynamic int8 settings:
`conv_integer` (the depthwise convs quantised too) and `activation_matmuls` (the attention's
activation × activation matmuls quantised too).

    python scripts/probes/ort_graph_probe.py --model runs/demo/sweep/conprune-params50/model.pt \
        --teacher pretrained/demo-teacher-v1/model.pt >> bench/ort_graph_ab_cpu.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F

from conprune.inference.onnx_model import DISABLED_FUSIONS, OPSET, export_onnx
from conprune.inference.quantize import quantize_onnx
from conprune.measure.latency import example_batch, model_call, side_by_side
from conprune.models import conformer
from conprune.models.package import load_model

VARIANTS = ("today", "bool_mask", "skip_ln_fusion", "conv_mask_mul", "ffn_2d", "fused_qkv_rope", "no_nchwc",
            "ort_transformers", "opset20")


def bool_mask_attention(self, x, key_bias, rope, heads=None):
    b, t, _ = x.shape
    y = self.norm(x)
    q, k, v = (p(y).view(b, t, self.heads, self.head_dim).transpose(1, 2) for p in (self.q, self.k, self.v))
    if rope is not None:
        q, k = conformer.rotate(q, *rope), conformer.rotate(k, *rope)
    mask = key_bias == 0 if key_bias is not None else None
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return self.out(a.transpose(1, 2).reshape(b, t, self.heads * self.head_dim))


def fused_qkv_rope_attention(self, x, key_bias, rope, heads=None):
    b, t, _ = x.shape
    h, d = self.heads, self.head_dim
    y = self.norm(x)
    half = d // 2
    swap = (torch.arange(h)[:, None] * d + torch.cat([torch.arange(half, d), torch.arange(half)])).reshape(-1)
    weight = torch.cat([self.q.weight, self.k.weight, self.q.weight[swap], self.k.weight[swap], self.v.weight])
    bias = torch.cat([self.q.bias, self.k.bias, self.q.bias[swap], self.k.bias[swap], self.v.bias])
    proj = F.linear(y, weight, bias)
    cos, sin = rope
    sign = torch.cat([-torch.ones(half), torch.ones(d - half)])
    qk = proj[..., :2 * h * d].view(b, t, 2 * h, d) * cos[:, None, :] \
        + proj[..., 2 * h * d:4 * h * d].view(b, t, 2 * h, d) * (sin * sign)[:, None, :]
    q, k = qk[:, :, :h].transpose(1, 2), qk[:, :, h:].transpose(1, 2)
    v = proj[..., 4 * h * d:].view(b, t, h, d).transpose(1, 2)
    a = F.scaled_dot_product_attention(q, k, v, attn_mask=key_bias)
    return self.out(a.transpose(1, 2).reshape(b, t, h * d))


def conv_mask_mul(self, x, valid, channels=None):
    y = F.glu(self.pw1(self.norm(x)), dim=-1).transpose(1, 2)
    if valid is not None:
        y = y * valid[:, None, :].to(y.dtype)
    return self.pw2(F.silu(self.dw_norm(self.depthwise(y), valid)).transpose(1, 2))


def ffn_2d(self, x, units=None):
    def linear(layer, h):
        return F.linear(h.reshape(-1, h.shape[-1]), layer.weight, layer.bias).view(*h.shape[:-1], -1)
    return linear(self.fc2, F.silu(linear(self.fc1, self.norm(x))))


PATCHES = {"bool_mask": (conformer.SelfAttention, "forward", bool_mask_attention),
           "fused_qkv_rope": (conformer.SelfAttention, "forward", fused_qkv_rope_attention),
           "conv_mask_mul": (conformer.ConvModule, "forward", conv_mask_mul),
           "ffn_2d": (conformer.FeedForward, "forward", ffn_2d)}


@contextlib.contextmanager
def opset20() -> Iterator[None]:
    """Export as before opset 23: the key mask stays [B, 1, 1, T] (no expansion over queries)."""
    attention_bias = conformer.attention_bias
    conformer.attention_bias = lambda valid, over_queries=False: attention_bias(valid)
    try:
        yield
    finally:
        conformer.attention_bias = attention_bias


@contextlib.contextmanager
def patched(variant: str) -> Iterator[None]:
    if variant == "opset20":
        with opset20():
            yield
        return
    if variant not in PATCHES:
        yield
        return
    owner, name, fn = PATCHES[variant]
    original = getattr(owner, name)
    setattr(owner, name, fn)
    try:
        yield
    finally:
        setattr(owner, name, original)


def export(variant: str, model_file: str, workdir: Path) -> Path:
    model, info = load_model(model_file)
    with patched(variant):
        path = export_onnx(model, info, workdir / f"{variant}.onnx", opset=20 if variant == "opset20" else OPSET)
    if variant == "ort_transformers":
        from onnxruntime.transformers.fusion_options import FusionOptions
        from onnxruntime.transformers.optimizer import optimize_model

        options = FusionOptions("conformer")
        options.enable_skip_layer_norm = False
        optimized = optimize_model(str(path), model_type="conformer", num_heads=0, hidden_size=0,
                                   optimization_options=options, opt_level=0)
        optimized.save_model_to_file(str(path))
    return path


def session(path: Path, variant: str, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    disabled = {"skip_ln_fusion": [], "no_nchwc": [*DISABLED_FUSIONS, "NchwcTransformer"]}.get(variant, DISABLED_FUSIONS)
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled)


# Other dynamic int8 settings of today's export (rows "<name>_int8_int8" against "today_int8").
INT8_OPTIONS = {"conv_integer": {"op_types_to_quantize": ["MatMul", "Gemm", "Conv"]},
                "activation_matmuls": {"op_types_to_quantize": ["MatMul", "Gemm"],
                                       "extra_options": {"MatMulConstBOnly": False}}}


def dynamic_int8(source: Path, out: Path, **options) -> Path:
    """Dynamic int8 with other options than `quantize_onnx`'s (ONNX Runtime's pre-processing first)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    prepared = out.with_suffix(".prepared.onnx")
    quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
    quantize_dynamic(str(prepared), str(out), weight_type=QuantType.QInt8, per_channel=True, **options)
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--teacher", required=True, help="timed beside the variants, for ratios to its eager latency")
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    variants = args.variants.split(",")
    feats, lengths = example_batch(args.seconds)
    inputs = {"features": feats.numpy(), "lengths": lengths.numpy()}
    calls, outputs = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in variants:
            fp32 = export(variant, args.model, Path(tmp))
            int8 = quantize_onnx(fp32, Path(tmp) / f"{variant}.int8.onnx", "dynamic")
            files = [("fp32", fp32), ("int8", int8)]
            if variant == "today":
                files += [(f"{name}_int8", dynamic_int8(fp32, Path(tmp) / f"{name}.onnx", **options))
                          for name, options in INT8_OPTIONS.items()]
            for tag, path in files:
                run = session(path, variant, 1)
                outputs[f"{variant}_{tag}"] = torch.from_numpy(run.run(None, inputs)[0])
                calls[f"{variant}_{tag}"] = (lambda run=run: run.run(None, inputs))
        calls["teacher_eager"] = model_call(load_model(args.teacher)[0].eval(), feats, lengths)
        timed = side_by_side(calls, repeats=args.repeats)
    teacher = timed["teacher_eager"]["median_s"]
    row = {"name": "ONNX Runtime graph and session variants of one exported model, 1 thread, batch 1, "
                   f"{args.seconds:g} s, interleaved", "model": args.model,
           "command": "python scripts/probes/ort_graph_probe.py --model " + args.model + " --teacher " + args.teacher,
           "ms": {k: round(v["median_s"] * 1000, 3) for k, v in timed.items()},
           "ratio_to_teacher_eager": {k: round(v["median_s"] / teacher, 4) for k, v in timed.items()},
           "over_today": {k: round(v["median_s"] / timed[f"today_{k.rsplit('_', 1)[1]}"]["median_s"], 4)
                          for k, v in timed.items() if k != "teacher_eager"},
           "max_abs_vs_today": {k: float((v - outputs[f"today_{k.rsplit('_', 1)[1]}"]).abs().max())
                                for k, v in outputs.items()},
           "date": datetime.date.today().isoformat()}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
