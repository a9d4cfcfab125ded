"""GPU latency of the LibriSpeech-size Conformer-CTC, dense and cut to a conprune-learned shape.

The shape: per-layer keep ratios of heads, FFN units and conv channels of a learned student
(`bench/keep_ratios_*.json`, written from a compact model against its teacher), stretched over
the deeper model by relative depth; weights are random (timing only: a compact model's cost
depends only on its shape). Each variant runs batch 1 and batch 32 of 10 s utterances, fp32
and bf16 autocast, eagerly, replayed as one CUDA graph, and (when time is left) through
torch.compile; the dense and pruned model are timed interleaved with CUDA events, so every
pruned ÷ dense ratio is measured side by side.

    python3 scripts/probes/gpu_latency.py --ratios bench/keep_ratios_demo_params50.json --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from conprune.models.config import ConformerConfig, build_config
from conprune.models.conformer import ConformerCTC
from conprune.pruning.cost import count_macs, count_params, ref_frames
from conprune.pruning.hardconcrete import HardConcrete

KEYS = ("heads", "ffn1_dim", "ffn2_dim", "conv_channels")


def aligned_count(kept: int, n: int, align: int) -> int:
    """`kept` of `n` units rounded as the pruning gates round theirs under `gates.align`.

    A gate whose first `kept` units are certain keeps and the rest certain drops expects exactly
    `kept` units, so its `kept_count` is the package's own rounding: the timed shape is the one
    `--model.init_args.gates.align` would give, not a copy of that rule that could drift from it."""
    gate = HardConcrete(n, init_std=0.0, align=align)
    with torch.no_grad():
        gate.log_alpha.copy_(torch.where(torch.arange(n) < kept, 50.0, -50.0) + gate.shift)
    return gate.kept_count()


def shaped(config: ConformerConfig, ratios: dict[str, list[float]], align: int = 1) -> ConformerConfig:
    """`config` with each layer keeping the ratio of the learned layer at the same relative depth;
    `align` > 1 rounds kept FFN units and conv channels (not heads, as the gates) to a multiple of it."""
    out = {}
    for key in KEYS:
        learned, full = ratios[key], getattr(config, key)
        kept = [round(n * learned[i * len(learned) // len(full)]) for i, n in enumerate(full)]
        if align > 1 and key != "heads":
            kept = [aligned_count(k, n, align) for k, n in zip(kept, full)]
        out[key] = kept
    return config.replace(**out)


def timed(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median milliseconds per call of each function, interleaved, with CUDA events."""
    for fn in fns.values():
        for _ in range(3):
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times[name].append(start.elapsed_time(end))
    return {name: statistics.median(t) for name, t in times.items()}


def graphed(model: torch.nn.Module, feats: torch.Tensor, bf16: bool) -> Callable[[], object]:
    """The forward captured once as a CUDA graph; a call replays it (no per-kernel launches)."""
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream), torch.autocast("cuda", torch.bfloat16, enabled=bf16):
        for _ in range(3):
            model(feats, None)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph), torch.autocast("cuda", torch.bfloat16, enabled=bf16):
        model(feats, None)
    return graph.replay


def eager(model: torch.nn.Module, feats: torch.Tensor, bf16: bool) -> Callable[[], object]:
    def call() -> object:
        with torch.autocast("cuda", torch.bfloat16, enabled=bf16):
            return model(feats, None)
    return call


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ratios", required=True)
    p.add_argument("--preset", default="small", help="experiments/librispeech/teacher.yaml's preset")
    p.add_argument("--vocab", type=int, default=257)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=50)
    p.add_argument("--compile-budget-s", type=float, default=300.0, help="skip torch.compile after this many seconds")
    p.add_argument("--align", type=int, default=0, help="also time the shape with widths rounded to this multiple")
    p.add_argument("--no-compile", action="store_true")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.manual_seed(0)
    began = time.time()
    dense_cfg = build_config(args.preset, args.vocab, {"dropout": 0.0, "attn_dropout": 0.0})
    pruned_cfg = shaped(dense_cfg, json.loads(Path(args.ratios).read_text()))
    frames = ref_frames(args.seconds)
    models = {"dense": ConformerCTC(dense_cfg).cuda().eval(), "pruned": ConformerCTC(pruned_cfg).cuda().eval()}
    aligned_cfg = shaped(dense_cfg, json.loads(Path(args.ratios).read_text()), args.align) if args.align > 1 else None
    if aligned_cfg is not None:
        models[f"aligned{args.align}"] = ConformerCTC(aligned_cfg).cuda().eval()
    results: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "preset": args.preset,
                     "seconds": args.seconds, "repeats": args.repeats, "pruned_config": pruned_cfg.to_dict(),
                     "params_ratio": count_params(pruned_cfg) / count_params(dense_cfg),
                     "mac_ratio": count_macs(pruned_cfg, frames) / count_macs(dense_cfg, frames),
                     "dense_params": count_params(dense_cfg), "runs": []}
    if aligned_cfg is not None:
        results.update(aligned_config=aligned_cfg.to_dict(),
                       aligned_params_ratio=count_params(aligned_cfg) / count_params(dense_cfg))
    with torch.inference_mode():
        for batch in (1, 32):
            feats = torch.randn(batch, round(args.seconds * 100), dense_cfg.input_dim, device="cuda")
            for bf16 in (False, True):
                for mode, wrap in (("eager", eager), ("cuda_graph", graphed)):
                    row = {"batch": batch, "dtype": "bf16" if bf16 else "fp32", "mode": mode}
                    try:
                        ms = timed({name: wrap(m, feats, bf16) for name, m in models.items()}, args.repeats)
                        row.update(dense_ms=ms["dense"], pruned_ms=ms["pruned"], ratio=ms["pruned"] / ms["dense"])
                        row.update({f"{k}_ms": v for k, v in ms.items() if k.startswith("aligned")})
                        row.update({f"{k}_ratio": v / ms["dense"] for k, v in ms.items() if k.startswith("aligned")})
                    except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:  # a failed capture is a result too
                        row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
                    results["runs"].append(row)
                    print(json.dumps(row), flush=True)
    for batch in () if args.no_compile else (32, 1):
        if time.time() - began > args.compile_budget_s:
            results["runs"].append({"batch": batch, "mode": "compile", "error": "skipped: time budget"})
            continue
        feats = torch.randn(batch, round(args.seconds * 100), dense_cfg.input_dim, device="cuda")
        row = {"batch": batch, "dtype": "bf16", "mode": "compile"}
        try:
            start = time.time()
            compiled = {name: torch.compile(models[name]) for name in ("dense", "pruned")}
            with torch.no_grad():
                ms = timed({name: eager(m, feats, True) for name, m in compiled.items()}, args.repeats)
            row.update(dense_ms=ms["dense"], pruned_ms=ms["pruned"], ratio=ms["pruned"] / ms["dense"],
                       compile_and_time_s=time.time() - start)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as exc:  # compile errors are RuntimeErrors
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        results["runs"].append(row)
        print(json.dumps(row), flush=True)
    results["wall_s"] = time.time() - began
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
