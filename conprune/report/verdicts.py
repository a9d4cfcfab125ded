"""Who wins, read from the paired comparisons: a verdict per row and a paragraph per target, so
the README states the central result with its intervals and no number typed by hand.

A row differs from conprune only where the paired 95 % interval of Δ (the row's pooled test WER
minus conprune's) excludes 0; otherwise it is a tie. A row whose size differs from conprune's by
more than SIZE_TOLERANCE (one of the two missed its target: a fixed L0 penalty, a Lagrangian that
had not converged) is comparable only when the smaller model wins: a larger model beating a
smaller one says nothing about the method.
"""

from __future__ import annotations

SIZE_TOLERANCE = 0.02
BASELINES = ("magnitude_uniform", "magnitude_global", "random_uniform", "dense_kd", "dense_scratch")
SAME_SHAPES = ("magnitude_shapes", "random_shapes")
GOAL_TARGETS = ("params50", "params70")
BETTER, WORSE, TIE = "conprune better", "conprune worse", "tie"


def delta_text(row: dict) -> str:
    """Δ vs conprune in WER points with its 95 % interval, e.g. '+7.8 [+7.3, +8.3]'; '–' if none."""
    if "delta_vs_conprune" not in row:
        return "–"
    lo, hi = row["delta_ci95"]
    return f"{100 * row['delta_vs_conprune']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def size_metric(target: str) -> str:
    """The row key a target's size is compared in: `macs` for a MACs target, else `params`."""
    return "macs" if target.startswith("macs") else "params"


def row_verdict(row: dict, conprune: dict) -> str:
    """'conprune better', 'conprune worse' or 'tie', qualified when the row's size (in the target's
    metric) differs from the `conprune` row's of the same target."""
    lo, hi = row["delta_ci95"]
    verdict = BETTER if lo > 0 else WORSE if hi < 0 else TIE
    key = size_metric(row["target"])
    ratio = row[key] / conprune[key]
    if abs(ratio - 1) <= SIZE_TOLERANCE:
        return verdict
    larger_wins = (ratio > 1) == (verdict == WORSE)
    name, scale, unit = ("MACs", 1e9, "G") if key == "macs" else ("params", 1e6, "M")
    if larger_wins or verdict == TIE:
        return f"not comparable: {row[key] / scale:.2f} {unit} vs {conprune[key] / scale:.2f} {unit} {name}"
    return f"{verdict} (row has {100 * (ratio - 1):+.0f} % {name})"


def _group_text(label: str, rows: list[dict], conprune: dict) -> str:
    """'label: conprune better than a +x [lo, hi], b …; tie with c …' for the rows of one group."""
    parts: dict[str, list[str]] = {}
    for row in rows:
        verdict = row_verdict(row, conprune)
        kind = next((k for k in (BETTER, WORSE, TIE) if verdict.startswith(k)), "not comparable")
        note = verdict[len(kind):].strip(" ()") if kind != "not comparable" else verdict[len(kind) + 2:]
        parts.setdefault(kind, []).append(f"{row['method']} {delta_text(row)}" + (f" ({note})" if note else ""))
    phrases = {BETTER: "conprune better than", WORSE: "conprune worse than", TIE: "tie with",
               "not comparable": "not comparable (sizes differ):"}
    said = [f"{phrases[k]} {', '.join(v)}" for k, v in parts.items()]
    return f"{label.capitalize()}: {'; '.join(said)}."


def target_verdict(rows: list[dict], target: str) -> str | None:
    """One paragraph for `target`: conprune's WER, then each group of rows by verdict."""
    conprune = next((r for r in rows if r["target"] == target and r["method"] == "conprune"), None)
    if conprune is None:
        return None
    compared = sorted((r for r in rows if r["target"] == target and "delta_ci95" in r),
                      key=lambda r: -r["delta_vs_conprune"])
    groups = [("baselines", [r for r in compared if r["method"] in BASELINES]),
              ("same-shape ablations", [r for r in compared if r["method"] in SAME_SHAPES]),
              ("ablations (conprune without one part)", [r for r in compared if r["method"].startswith("conprune_")]),
              ("other", [r for r in compared if r["method"] not in BASELINES + SAME_SHAPES
                         and not r["method"].startswith("conprune_")])]
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
        conprune = next((r for r in rows if r["target"] == target and r["method"] == "conprune"), None)
        for method in BASELINES:
            row = next((r for r in rows if r["target"] == target and r["method"] == method), None)
            if conprune is None or row is None or "delta_ci95" not in row:
                missing.append(f"{method} at {target}")
            elif not row_verdict(row, conprune).startswith(BETTER):
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
