"""CPU eager latency of two models with today's kernels against the previous ones, side by side.

Today (`new`) the front end runs on channels-last feature maps with in-place ReLUs and its 1×1
pointwise conv as a matmul over the channels-last buffer, and the conv module's depthwise conv is
a (K, 1) conv2d on a channels-last view. `prev`: the same but with out-of-place ReLUs and the
1×1 conv through oneDNN. `old`: the front end NCHW and the depthwise conv `nn.Conv1d`. All give
the same values (the probe checks), so the earlier kernels are patched back in per call and
every variant is timed interleaved in one process (1 thread, batch 1).

    python scripts/probes/cpu_kernel_probe.py --teacher pretrained/demo-teacher-v1/model.pt \
        --student runs/demo/sweep/conprune-params50/model.pt >> bench/cpu_kernels_ab_cpu.jsonl
"""

from __future__ import annotations

import argparse
import copy
import json

import torch
import torch.nn.functional as F

from conprune.measure.latency import example_batch, side_by_side
from conprune.models import conformer, subsampling
from conprune.models.package import load_model

NEW = (subsampling.Subsampling.forward, conformer.ConvModule.depthwise)


def nchw_front_end(self: subsampling.Subsampling, x: torch.Tensor) -> torch.Tensor:
    x = x.unsqueeze(1)
    for i in range(1, len(self.strides) + 1):
        x = F.relu(getattr(self, f"conv{i}")(x))
    b, c, t, f = x.shape
    return self.proj(x.transpose(1, 2).reshape(b, t, c * f))


def prev_front_end(self: subsampling.Subsampling, x: torch.Tensor) -> torch.Tensor:
    x = x.unsqueeze(1).contiguous(memory_format=torch.channels_last)
    for i in range(1, len(self.strides) + 1):
        x = F.relu(getattr(self, f"conv{i}")(x))
    b, c, t, f = x.shape
    return self.proj(x.transpose(1, 2).reshape(b, t, c * f))


def conv1d_depthwise(self: conformer.ConvModule, y: torch.Tensor) -> torch.Tensor:
    return self.dw(y)


KERNELS = {"new": NEW, "prev": (prev_front_end, NEW[1]), "old": (nchw_front_end, conv1d_depthwise)}


def use(variant: str) -> None:
    subsampling.Subsampling.forward, conformer.ConvModule.depthwise = KERNELS[variant]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--repeats", type=int, default=30)
    args = p.parse_args()
    torch.set_num_threads(1)
    models = {}
    for name, path in (("teacher", args.teacher), ("student", args.student)):
        model = load_model(path)[0].eval().float()
        models[f"{name}_new"] = model
        models[f"{name}_prev"] = model
        models[f"{name}_old"] = copy.deepcopy(model)
        models[f"{name}_old"].subsampling.to(memory_format=torch.contiguous_format)
    feats, _ = example_batch(args.seconds, 1, 80)

    def call(name: str):
        def run():
            use(name.rsplit("_", 1)[1])
            return models[name](feats, None).log_probs
        return run

    with torch.inference_mode():
        gap = max(float((call(f"{m}_new")() - call(f"{m}_{v}")()).abs().max())
                  for m in ("teacher", "student") for v in ("prev", "old"))
        timed = side_by_side({name: call(name) for name in models}, repeats=args.repeats)
    ms = {k: 1000 * v["median_s"] for k, v in timed.items()}
    print(json.dumps({"name": "CPU kernels: today's front end + (K,1) conv2d depthwise (new) vs out-of-place ReLUs and a "
                              "oneDNN 1x1 conv in the front end (prev) vs NCHW + Conv1d (old)",
                      "command": "python scripts/probes/cpu_kernel_probe.py --teacher " + args.teacher + " --student " + args.student,
                      "threads": 1, "batch": 1, "seconds": args.seconds, "max_abs_log_prob_gap": gap, "ms": ms,
                      "teacher_new_over_old": ms["teacher_new"] / ms["teacher_old"],
                      "student_new_over_old": ms["student_new"] / ms["student_old"],
                      "teacher_new_over_prev": ms["teacher_new"] / ms["teacher_prev"],
                      "student_new_over_prev": ms["student_new"] / ms["student_prev"],
                      "student_over_teacher_old": ms["student_old"] / ms["teacher_old"],
                      "student_over_teacher_prev": ms["student_prev"] / ms["teacher_prev"],
                      "student_over_teacher_new": ms["student_new"] / ms["teacher_new"]}))


if __name__ == "__main__":
    main()
