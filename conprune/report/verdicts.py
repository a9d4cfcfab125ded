"""Who wins, read from the paired comparisons: a verdict per row and a paragraph per target, so
the README states the central result with its intervals and no number typed by hand.

A row differs from conprune only where the paired 95 % interval of Δ (the row's pooled test WER
minus conprune's) excludes 0; otherwise it is a tie. A row whose size differs from conprune's by
more than SIZE_TOLERANCE (one of the two missed its target: a fixed L0 penalty, a Lagrangian that
had not converged) is comparable only when the smaller model wins: a larger model beating a
smaller one says nothing about the method.
"""

from __future__ import annotations

from conprune.stages.methods import CONPRUNE, METHODS, names

SIZE_TOLERANCE = 0.02
BASELINES = names("baseline")
SAME_SHAPES = names("same_shape")
ABLATIONS = names("ablation")
GOAL_TARGETS = ("params50", "params70")
BETTER, WORSE, TIE, NOT_COMPARABLE = "conprune better", "conprune worse", "tie", "not comparable"
PHRASES = {BETTER: "conprune better than", WORSE: "conprune worse than", TIE: "tie with",
           NOT_COMPARABLE: "not comparable (sizes differ):"}


def delta_text(row: dict) -> str:
    """Δ vs conprune in WER points with its 95 % interval, e.g. '+7.8 [+7.3, +8.3]'; '–' if none."""
    if "delta_vs_conprune" not in row:
        return "–"
    lo, hi = row["delta_ci95"]
    return f"{100 * row['delta_vs_conprune']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def size_metric(target: str) -> str:
    """The row key a target's size is compared in: `macs` for a MACs target, else `params`."""
    return "macs" if target.startswith("macs") else "params"


def classify(row: dict, conprune: dict) -> tuple[str, str]:
    """(kind, size note) of `row` against the `conprune` row of its target: kind is BETTER, WORSE,
    TIE or NOT_COMPARABLE; the note says how the size (in the target's metric) differs, '' if not."""
    lo, hi = row["delta_ci95"]
    kind = BETTER if lo > 0 else WORSE if hi < 0 else TIE
    key = size_metric(row["target"])
    ratio = row[key] / conprune[key]
    if abs(ratio - 1) <= SIZE_TOLERANCE:
        return kind, ""
    name, scale, unit = ("MACs", 1e9, "G") if key == "macs" else ("params", 1e6, "M")
    if kind == TIE or (ratio > 1) == (kind == WORSE):  # a tie, or the larger model wins
        return NOT_COMPARABLE, f"{row[key] / scale:.2f} {unit} vs {conprune[key] / scale:.2f} {unit} {name}"
    return kind, f"row has {100 * (ratio - 1):+.0f} % {name}"


def row_verdict(row: dict, conprune: dict) -> str:
    """'conprune better', 'conprune worse' or 'tie', qualified when the row's size (in the target's
    metric) differs from the `conprune` row's of the same target."""
    kind, note = classify(row, conprune)
    if kind == NOT_COMPARABLE:
        return f"{kind}: {note}"
    return f"{kind} ({note})" if note else kind


def _group_text(label: str, rows: list[dict], conprune: dict) -> str:
    """'label: conprune better than a +x [lo, hi], b …; tie with c …' for the rows of one group."""
    parts: dict[str, list[str]] = {}
    for row in rows:
        kind, note = classify(row, conprune)
        parts.setdefault(kind, []).append(f"{row['method']} {delta_text(row)}" + (f" ({note})" if note else ""))
    said = [f"{PHRASES[k]} {', '.join(v)}" for k, v in parts.items()]
    return f"{label.capitalize()}: {'; '.join(said)}."


def conprune_row(rows: list[dict], target: str) -> dict | None:
    """conprune's row at `target`, if it ran there."""
    return next((r for r in rows if r["target"] == target and r["method"] == CONPRUNE), None)


def target_verdict(rows: list[dict], target: str) -> str | None:
    """One paragraph for `target`: conprune's WER, then each group of rows by verdict."""
    conprune = conprune_row(rows, target)
    if conprune is None:
        return None
    compared = sorted((r for r in rows if r["target"] == target and "delta_ci95" in r),
                      key=lambda r: -r["delta_vs_conprune"])
    groups = [("baselines", [r for r in compared if r["method"] in BASELINES]),
              ("same-shape ablations", [r for r in compared if r["method"] in SAME_SHAPES]),
              ("ablations (conprune without one part)", [r for r in compared if r["method"] in ABLATIONS]),
              ("other", [r for r in compared if r["method"] not in METHODS])]
    seeds = ""
    if "test_wer_sd" in conprune:
        seeds = (f", {100 * conprune['test_wer_mean']:.1f} ± {100 * conprune['test_wer_sd']:.1f} "
                 f"over {len(conprune['seeds'])} seeds")
    head = f"**{target}**: conprune {100 * conprune['test_wer']:.1f} % test WER{seeds}."
    return " ".join([head] + [_group_text(label, group, conprune) for label, group in groups if group])


def goal_verdict(rows: list[dict]) -> str:
    """Whether conprune beats every standard baseline at −50 % and −70 % params, CI excluding 0."""
    missing, not_beaten = [], []
    for target in GOAL_TARGETS:
        conprune = conprune_row(rows, target)
        for method in BASELINES:
            row = next((r for r in rows if r["target"] == target and r["method"] == method), None)
            if conprune is None or row is None or "delta_ci95" not in row:
                missing.append(f"{method} at {target}")
            elif classify(row, conprune)[0] != BETTER:
                not_beaten.append(f"{method} at {target} ({delta_text(row)})")
    goal = f"Goal: conprune beats {', '.join(BASELINES)} at {' and '.join(GOAL_TARGETS)}, each 95 % CI excluding 0"
    if not_beaten:
        return f"{goal}: **not met**; not beaten: {', '.join(not_beaten)}."
    if missing:
        return f"{goal}: not decided yet; no comparison for {', '.join(missing)}."
    return f"{goal}: **met**."


def verdict_section(rows: list[dict], targets: list[str]) -> str:
    """The goal line, then one paragraph per target in `targets` (the table's order)."""
    paragraphs = [goal_verdict(rows)] + [t for t in (target_verdict(rows, x) for x in targets) if t]
    return "\n\n".join(paragraphs)
