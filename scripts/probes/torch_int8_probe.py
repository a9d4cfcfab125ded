"""PyTorch's own dynamic int8 (torch.ao quantize_dynamic on every nn.Linear) of a compact student,
timed against its fp32 self and the teacher in one process (1 thread, batch 1), per quantized
engine: the int8 path that stays in PyTorch, next to ONNX Runtime's (scripts/probes/ort_graph_probe.py).

    python scripts/probes/torch_int8_probe.py --teacher pretrained/demo-teacher-v1/model.pt \
        --student runs/demo/sweep/conprune-params50/model.pt >> bench/ort_graph_ab_cpu.jsonl
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json

import torch

from conprune.measure.latency import example_batch, model_call, side_by_side
from conprune.models.package import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--teacher", required=True)
    p.add_argument("--student", required=True)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    torch.set_num_threads(1)
    teacher, student = load_model(args.teacher)[0].eval(), load_model(args.student)[0].eval()
    feats, lengths = example_batch(10.0)
    row = {"name": "torch.ao dynamic int8 (every nn.Linear) of the student, 1 thread, batch 1, 10 s, per engine",
           "command": f"python scripts/probes/torch_int8_probe.py --teacher {args.teacher} --student {args.student}",
           "ratio_to_teacher_eager": {}, "argmax_agreement": {}, "date": datetime.date.today().isoformat()}
    with torch.inference_mode():
        reference = student(feats, None).log_probs.argmax(-1)
    for engine in torch.backends.quantized.supported_engines:
        if engine in ("none", "qnnpack"):
            continue
        torch.backends.quantized.engine = engine
        quantized = torch.ao.quantization.quantize_dynamic(copy.deepcopy(student), {torch.nn.Linear}, dtype=torch.qint8)
        timed = side_by_side({"teacher": model_call(teacher, feats, lengths), "student": model_call(student, feats, lengths),
                              "int8": model_call(quantized, feats, lengths)}, repeats=args.repeats)
        with torch.inference_mode():
            agree = (quantized(feats, None).log_probs.argmax(-1) == reference).float().mean().item()
        base = timed["teacher"]["median_s"]
        row["ratio_to_teacher_eager"][engine] = {k: round(v["median_s"] / base, 4) for k, v in timed.items()}
        row["argmax_agreement"][engine] = round(agree, 4)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
