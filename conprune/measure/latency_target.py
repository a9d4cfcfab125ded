"""Did a latency-targeted student land where it was aimed, measured rather than predicted?

The prune stage steers by the latency table's interpolated prediction; what a user gets is the
compact model's measured time. So the teacher and each compact student are timed interleaved in
one process (batch 1, `seconds` of audio, `threads` CPU threads) and each student's latency is
reported as a ratio to the teacher's, next to what the table predicts for its shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from conprune.errors import ConpruneError
from conprune.measure.latency import example_batch, model_call, side_by_side
from conprune.models.package import load_model
from conprune.pruning.latency_cost import LatencyTable, exact_latency
from conprune.stages.checkpoint_io import load_ctc_model


def measured_latency_ratios(teacher: str, students: dict[str, str], seconds: float = 10.0, repeats: int = 20,
                            threads: int = 1) -> dict[str, float]:
    """name -> the student's median latency ÷ the teacher's, timed side by side."""
    torch.set_num_threads(threads)
    teacher_model, _ = load_ctc_model(teacher)
    feats, lengths = example_batch(seconds, 1, teacher_model.config.input_dim)
    calls = {"teacher": model_call(teacher_model.eval(), feats, lengths)}
    for name, path in students.items():
        calls[name] = model_call(load_model(path)[0].eval(), feats, lengths)
    timed = side_by_side(calls, repeats=repeats)
    base = timed["teacher"]["median_s"]
    return {name: timed[name]["median_s"] / base for name in students}


def predicted_latency_ratios(teacher: str, students: dict[str, str], table_path: str | Path) -> dict[str, float]:
    """name -> the latency table's prediction for the student's shape ÷ its prediction for the
    teacher's (for the params-50 student: the floor its allocation allows on that device)."""
    table = LatencyTable.load(table_path)
    dense = exact_latency(load_ctc_model(teacher)[0].config, table)
    return {name: exact_latency(load_model(path)[0].config, table) / dense for name, path in students.items()}


def matched_target(bench_json: str | Path) -> str:
    """The sweep target at the params-50 student's measured latency, e.g. `latency43` for a ratio of
    0.57 in `make bench`'s results: a latency-targeted student of that name costs what the params-50
    one costs on this device, so their WERs compare at equal latency."""
    try:
        ratio = json.loads(Path(bench_json).read_text()).get("latency_ratio_params50")
    except (OSError, ValueError) as exc:
        raise ConpruneError(f"cannot read {bench_json} ({exc}): run `make bench` first") from None
    if not isinstance(ratio, (int, float)) or not 0 < ratio < 1:
        raise ConpruneError(f"{bench_json} has no latency_ratio_params50 in (0, 1): run `make bench` first")
    return f"latency{100 - round(100 * ratio)}"
