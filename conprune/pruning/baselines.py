"""Pruning baselines: structured magnitude pruning and random structured pruning.

Both baselines cut the *teacher* to exactly the per-layer shapes a conprune student reached
(`kept_from_config`), so any WER gap between them and the student is due to *which* units were
kept and to distillation, not to a different size or a different layer-wise allocation. The
gates they return are plain binary masks in the model's gate format, so `compact()` slices
the dense model exactly like it slices a pruned student (kept values of 1.0 fold to no-ops).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from conprune.errors import ConpruneError
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.gate_keys import MODULES, gate_shapes, module_key, unit_key
from conprune.pruning.cost_model import CostModel

METHODS = ("magnitude", "random")


@torch.no_grad()
def structure_scores(model: ConformerCTC) -> dict[str, Tensor]:
    """L1 norm of every prunable unit's weights, keyed like the model's unit gates.

    head h: |q/k/v rows of h| (and its `linear_pos` rows under relative attention) + |`out` columns of h|;
    FFN unit i: |fc1 row i| + |fc2 column i|;
    conv channel c: |pw1 rows c and c+C| + |depthwise filter c| + |pw2 column c|. Weights only,
    no biases and no norm affine parameters: the output biases are shared by all units of a
    module, and the classic structured L1 criterion (Li et al., 2017) ranks by weights, so this
    baseline stays the textbook one. Returns float32 CPU tensors, one entry per unit.
    """
    scores: dict[str, Tensor] = {}
    for i, layer in enumerate(model.layers):
        prefix = f"layers.{i}."
        if layer.mhsa is not None:
            m = layer.mhsa
            projections = (m.q, m.k, m.v, *((m.linear_pos,) if hasattr(m, "linear_pos") else ()))
            rows = sum(p.weight.abs().sum(1) for p in projections) + m.out.weight.abs().sum(0)
            scores[f"{prefix}mhsa.heads"] = rows.view(m.heads, m.head_dim).sum(1)
        for name in ("ffn1", "ffn2"):
            f = getattr(layer, name)
            if f is not None:
                scores[f"{prefix}{name}.units"] = f.fc1.weight.abs().sum(1) + f.fc2.weight.abs().sum(0)
        if layer.conv is not None:
            c = layer.conv
            n = c.dw.out_channels
            pw1 = c.pw1.weight.abs().sum(1)
            scores[f"{prefix}conv.channels"] = (pw1[:n] + pw1[n:] + c.dw.weight.abs().flatten(1).sum(1)
                                                + c.pw2.weight.abs().sum(0))
    return {k: v.detach().float().cpu() for k, v in scores.items()}


def baseline_gates(model: ConformerCTC, kept: Mapping[str, int], method: str,
                   seed: int = 0) -> dict[str, Tensor]:
    """Binary gates (1.0 keep, 0.0 drop) keeping exactly `kept[key]` units per unit key.

    `kept` has `ConformerGates.kept_counts()` keys: unit keys map to a count (the top-scoring
    units for "magnitude", ties to the lower index; a uniform draw for "random"), module keys to
    0 (module removed: gate 0.0) or 1 (gate 1.0). Keys left out stay dense (no gate). "hidden"
    is accepted only at full width, since `compact` cannot remove model channels. Random draws
    come from one generator seeded with `seed` and walked in gate-key order, so a seed gives the
    same model on every machine. Gates live on CPU; the model accepts them on any device.
    """
    if method not in METHODS:
        raise ConpruneError(f"baseline method {method!r}: use one of {METHODS}")
    shapes = model.gate_shapes()
    unknown = sorted(set(kept) - set(shapes))
    if unknown:
        raise ConpruneError(f"unknown kept key(s) {unknown} (absent module or typo); valid keys are "
                            "those of ConformerCTC.gate_shapes()")
    scores = structure_scores(model) if method == "magnitude" else {}
    generator = torch.Generator().manual_seed(int(seed))
    gates: dict[str, Tensor] = {}
    for key, shape in shapes.items():
        if key not in kept:
            continue
        count = kept[key]
        total = shape[0] if shape else 1
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= total:
            what = "0 or 1 (module removed or kept)" if not shape else f"an int in [0, {total}]"
            raise ConpruneError(f"kept[{key!r}] must be {what} (the layer has {total} units), got {count!r}")
        if key == "hidden":
            if count != total:
                raise ConpruneError(f"kept['hidden'] = {count}: baselines cannot prune the model width "
                                    f"(d_model {total}); compact() refuses a 'hidden' gate")
            continue
        if not shape:
            gates[key] = torch.tensor(float(count))
            continue
        if method == "magnitude":
            order = torch.sort(scores[key], descending=True, stable=True).indices
        else:
            order = torch.randperm(total, generator=generator)
        mask = torch.zeros(total)
        mask[order[:count]] = 1.0
        gates[key] = mask
    return gates


def kept_from_config(dense: ConformerConfig, small: ConformerConfig) -> dict[str, int]:
    """Per-layer kept counts that turn `dense` into `small` (a compact model's config).

    Lets a baseline copy the exact shapes of a conprune student file: every unit key of `dense`
    gets the student's count and every module key 1 if that count is > 0 else 0. The two configs
    must share everything pruning cannot change (layers, width, head size, vocabulary, input).
    """
    for field in ("num_layers", "d_model", "head_dim", "vocab_size", "input_dim"):
        a, b = getattr(dense, field), getattr(small, field)
        if a != b:
            raise ConpruneError(f"shape source has {field}={b} but the dense model has {field}={a}: "
                                "it was not pruned from this teacher")
    shapes = gate_shapes(dense)
    kept: dict[str, int] = {}
    for i in range(dense.num_layers):
        for name, (field, _) in MODULES.items():
            full, count = getattr(dense, field)[i], getattr(small, field)[i]
            if count > full:
                raise ConpruneError(f"layer {i}: shape source has {field}={count} but the dense model "
                                    f"only {full}: it was not pruned from this teacher")
            key = unit_key(i, name)
            if key in shapes:
                kept[key] = count
                kept[module_key(i, name)] = int(count > 0)
    return kept


DENSE_TOLERANCE = 0.01


def dense_config_like(teacher: ConformerConfig, goal: float, cost: CostModel) -> ConformerConfig:
    """A uniform dense Conformer with the teacher's depth and recipe, narrowed to about `goal` of
    `cost` (parameters, or MACs of one reference utterance).

    The dense baselines (from scratch, distillation only): the same architecture family trained
    without pruning, at the pruned student's cost in the metric its target was set in, so a -50 %
    MACs row is compared at equal MACs, not equal parameters. Width d_model runs over multiples of
    8 with the usual ratios (FFN 4·d, conv channels d, the teacher's head count with head_dim =
    d / heads); the closest cost wins. Where that width misses the goal by more than
    DENSE_TOLERANCE (one step of 8 in d_model changes the cost by ~15 %), the FFN width of every
    layer moves in steps of 8 until the cost is closest to the goal, as the pruned baselines are
    held to their target within 1 %.
    """
    heads = max(teacher.heads)
    best: ConformerConfig | None = None
    for d in range(8 * heads, teacher.d_model + 1, 8):
        cfg = teacher.replace(d_model=d, head_dim=max(1, d // heads), heads=[heads] * teacher.num_layers,
                              ffn1_dim=[4 * d] * teacher.num_layers, ffn2_dim=[4 * d] * teacher.num_layers,
                              conv_channels=[d] * teacher.num_layers)
        if best is None or abs(cost.exact(cfg) - goal) < abs(cost.exact(best) - goal):
            best = cfg
    if best is None:
        raise ConpruneError(f"no dense config near {goal} {cost.metric} for a {teacher.d_model}-wide teacher")
    if abs(cost.exact(best) - goal) <= DENSE_TOLERANCE * goal:
        return best
    layers = teacher.num_layers
    for ffn in range(8, 8 * best.d_model + 1, 8):
        cfg = best.replace(ffn1_dim=[ffn] * layers, ffn2_dim=[ffn] * layers)
        if abs(cost.exact(cfg) - goal) < abs(cost.exact(best) - goal):
            best = cfg
    return best
