"""Who wins, read from the paired comparisons: a verdict per row and a paragraph per target, so
the README states the central result with its intervals and no number typed by hand.

A row differs from conprune only where the 95 % interval of Δ (the row's pooled test WER minus
conprune's) excludes 0; otherwise it is a tie. The interval is the seed-aware, speaker-clustered
one where the row has it (either method ran several seeds; Δ is then the difference of the means
over seeds), else the paired bootstrap over the utterances of the seed-0 runs, and the paragraph
says which. A row whose size differs from conprune's by
more than SIZE_TOLERANCE (one of the two missed its target: a fixed L0 penalty, a Lagrangian that
had not converged) is comparable only when the smaller model wins: a larger model beating a
smaller one says nothing about the method.

Where the runs were also decoded with an n-gram LM (`lm_comparison`: the same comparison on the
LM's hypotheses), each verdict says whether its ranking holds under the LM: the LM interval
excludes 0 on the same side ('holds'), includes it ('tie under LM') or excludes it on the other
side ('reverses'). The verdicts themselves stay greedy: the LM is one more check, not the protocol.
"""

from __future__ import annotations

import json

from conprune.report.clustered import MIN_CLUSTERS, few_clusters
from conprune.report.comparisons import LM_COMPARISON
from conprune.stages.methods import CONPRUNE, METHODS, names

SIZE_TOLERANCE = 0.02
BASELINES = names("baseline")
SAME_SHAPES = names("same_shape")
ABLATIONS = names("ablation")
GOAL_TARGETS = ("params50", "params70")
BETTER, WORSE, TIE, NOT_COMPARABLE = "conprune better", "conprune worse", "tie", "not comparable"
PHRASES = {BETTER: "conprune better than", WORSE: "conprune worse than", TIE: "tie with",
           NOT_COMPARABLE: "not comparable (sizes differ):"}
HOLDS, TIE_UNDER_LM, REVERSES = "holds", "tie under LM", "reverses"


def chosen(row: dict) -> tuple[float, list[float]]:
    """(Δ, 95 % interval) that the verdict reads: the seed-aware clustered pair where the row has
    it, else the seed-0 paired one."""
    if "delta_ci95_seeds_clustered" in row:
        return row["delta_seeds_clustered"], row["delta_ci95_seeds_clustered"]
    return row["delta_vs_conprune"], row["delta_ci95"]


def _interval(delta: float, ci: list[float]) -> str:
    return f"{100 * delta:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def delta_text(row: dict) -> str:
    """Δ vs conprune in WER points with the 95 % interval the verdict reads, e.g. '+7.8 [+7.3,
    +8.3]'; '–' if none."""
    if "delta_vs_conprune" not in row:
        return "–"
    return _interval(*chosen(row))


def paired_text(row: dict) -> str:
    """Δ of the seed-0 runs with the paired utterance interval; '–' if none."""
    return _interval(row["delta_vs_conprune"], row["delta_ci95"]) if "delta_vs_conprune" in row else "–"


def seeds_clusters_text(row: dict) -> str:
    """'3 × 3 · 9 + 4': seeds of the row and of conprune, then speakers per test split; '–' if the
    row has no seed-aware interval."""
    if "seeds_compared" not in row:
        return "–"
    return f"{row['seeds_compared'][0]} × {row['seeds_compared'][1]} · {' + '.join(map(str, row['clusters'].values()))}"


def _clusters_phrase(rows: list[dict]) -> str:
    """'9 test-clean and 4 test-other voices', with a warning when a split has too few of them."""
    row = next(r for r in rows if "clusters" in r)
    unit = row.get("cluster_unit", "speaker")
    text = " and ".join(f"{n} {split}" for split, n in row["clusters"].items()) + f" {unit}s"
    few = sorted({x for r in rows if "clusters" in r for x in few_clusters(r["clusters"])})
    if few:
        text += (f": too few clusters (under {MIN_CLUSTERS} in {', '.join(few)}) for the interval to mean much, "
                 f"read it as indicative")
    return text


def clustered_note(rows: list[dict]) -> str:
    """The table note for seed-aware intervals."""
    return (f"Where the row or conprune ran several seeds, Δ is the difference of their mean test WERs and its "
            f"interval a bootstrap (10,000 resamples) that draws test {rows_unit(rows)}s within each split "
            f"(every utterance of a drawn one) and one seed of each method, all with replacement "
            f"({_clusters_phrase(rows)}); seeds · clusters gives the seeds of the row and of conprune and the "
            f"{rows_unit(rows)}s per test split, and the last Δ column the paired bootstrap over the utterances of "
            f"the seed-0 runs.")


def rows_unit(rows: list[dict]) -> str:
    """What a cluster is in these rows: 'voice' (synthesised corpus) or 'speaker'."""
    return next((r.get("cluster_unit", "speaker") for r in rows if "clusters" in r), "speaker")


def size_metric(target: str) -> str:
    """The row key a target's size is compared in: `macs` for a MACs target, else `params`."""
    return "macs" if target.startswith("macs") else "params"


def interval_kind(ci: list[float]) -> str:
    """BETTER or WORSE (for conprune) where the interval of Δ excludes 0, else TIE."""
    return BETTER if ci[0] > 0 else WORSE if ci[1] < 0 else TIE


def lm_delta_text(row: dict) -> str:
    """Δ vs conprune under LM decoding with the interval the LM ranking reads; '–' if none."""
    return _interval(*chosen(row[LM_COMPARISON])) if LM_COMPARISON in row else "–"


def lm_ranking(row: dict) -> str | None:
    """Whether the row's greedy ranking against conprune holds under LM decoding: HOLDS (same
    verdict, a tie staying a tie included), TIE_UNDER_LM, REVERSES, or, where greedy decoding
    found a tie, 'conprune better under LM' / 'conprune worse under LM'; None without both."""
    if LM_COMPARISON not in row or "delta_ci95" not in row:
        return None
    greedy, lm = interval_kind(chosen(row)[1]), interval_kind(chosen(row[LM_COMPARISON])[1])
    if lm == greedy:
        return HOLDS
    if lm == TIE:
        return TIE_UNDER_LM
    return f"{lm} under LM" if greedy == TIE else REVERSES


def lm_text(row: dict) -> str:
    """'LM +5.0 [+4.1, +5.9]: holds', '' without an LM comparison."""
    ranking = lm_ranking(row)
    return f"LM {lm_delta_text(row)}: {ranking}" if ranking else ""


def lm_note(rows: list[dict]) -> str:
    """The table note for the LM columns: the decoder setting every row used (or that they differ)."""
    settings = {json.dumps(r["lm_decoder"], sort_keys=True) for r in rows if r.get("lm_decoder")}
    if len(settings) == 1:
        decoder = json.loads(settings.pop())
        parts = [f"`{decoder['lm']}`" if "lm" in decoder else "",
                 *(f"{label} {decoder[key]:g}" for key, label in (("lm_weight", "LM weight"),
                                                                   ("word_score", "word score"), ("beam", "beam"))
                   if key in decoder)]
        used = f"the same for every row ({', '.join(p for p in parts if p)})"
    elif settings:
        used = f"**not the same for every row** ({len(settings)} settings in summary.json's `lm_decoder`)"
    else:
        used = "its settings not recorded in the results files"
    return (f"LM test WER: beam search with an n-gram LM, {used}; `conprune sweep --lm` gives every row the LM "
            f"weight and word score that `conprune tune-lm` chose on dev for the teacher, unless set with "
            f"--lm-weight/--word-score. LM Δ: the same comparison with conprune, on the LM's hypotheses; each "
            f"verdict says whether its ranking holds under the LM, is a tie under it or reverses.")


def classify(row: dict, conprune: dict) -> tuple[str, str]:
    """(kind, size note) of `row` against the `conprune` row of its target: kind is BETTER, WORSE,
    TIE or NOT_COMPARABLE; the note says how the size (in the target's metric) differs, '' if not."""
    kind = interval_kind(chosen(row)[1])
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
    lm = f"; {lm_text(row)}" if lm_text(row) else ""
    if kind == NOT_COMPARABLE:
        return f"{kind}: {note}{lm}"
    return (f"{kind} ({note})" if note else kind) + lm


def _group_text(label: str, rows: list[dict], conprune: dict) -> str:
    """'label: conprune better than a +x [lo, hi], b …; tie with c …' for the rows of one group."""
    parts: dict[str, list[str]] = {}
    for row in rows:
        kind, note = classify(row, conprune)
        notes = "; ".join(x for x in (note, lm_text(row)) if x)
        parts.setdefault(kind, []).append(f"{row['method']} {delta_text(row)}" + (f" ({notes})" if notes else ""))
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
                      key=lambda r: -chosen(r)[0])
    groups = [("baselines", [r for r in compared if r["method"] in BASELINES]),
              ("same-shape ablations", [r for r in compared if r["method"] in SAME_SHAPES]),
              ("ablations (conprune without one part)", [r for r in compared if r["method"] in ABLATIONS]),
              ("other", [r for r in compared if r["method"] not in METHODS])]
    seeds = ""
    if "test_wer_sd" in conprune:
        seeds = (f", {100 * conprune['test_wer_mean']:.1f} ± {100 * conprune['test_wer_sd']:.1f} "
                 f"over {len(conprune['seeds'])} seeds")
    head = f"**{target}**: conprune {100 * conprune['test_wer']:.1f} % test WER{seeds}."
    intervals = [which_intervals(compared)] if any("seeds_compared" in r for r in compared) else []
    return " ".join([head, *intervals] + [_group_text(label, group, conprune) for label, group in groups if group])


def which_intervals(compared: list[dict]) -> str:
    """Which interval each row's verdict reads, said once per target."""
    seeded = [r for r in compared if "seeds_compared" in r]
    unit = rows_unit(seeded)
    what = f"seeds and test {unit}s ({_clusters_phrase(seeded)})"
    if len(seeded) == len(compared):
        return f"Intervals resample {what}."
    return (f"Intervals resample {what} for {', '.join(r['method'] for r in seeded)}; the utterances of the "
            f"seed-0 runs for the others.")


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
        return f"{goal}: **not met**; not beaten: {', '.join(not_beaten)}.{lm_goal_text(rows)}"
    if missing:
        return f"{goal}: not decided yet; no comparison for {', '.join(missing)}.{lm_goal_text(rows)}"
    return f"{goal}: **met**.{lm_goal_text(rows)}"


def lm_goal_text(rows: list[dict]) -> str:
    """' Under LM decoding the ranking holds for 9 of these 10 comparisons; tie under LM: …' for the
    goal's comparisons that were repeated with an LM; '' where none was."""
    found: dict[str, list[str]] = {}
    for target in GOAL_TARGETS:
        for method in BASELINES:
            row = next((r for r in rows if r["target"] == target and r["method"] == method), None)
            ranking = lm_ranking(row) if row else None
            if ranking:
                found.setdefault(ranking, []).append(f"{row['method']} at {target} ({lm_delta_text(row)})")
    if not found:
        return ""
    held, rest = found.pop(HOLDS, []), sum(map(len, found.values()))
    others = "".join(f"; {ranking}: {', '.join(listed)}" for ranking, listed in found.items())
    return f" Under LM decoding the ranking holds for {len(held)} of these {len(held) + rest} comparisons{others}."


def verdict_section(rows: list[dict], targets: list[str]) -> str:
    """The goal line, then one paragraph per target in `targets` (the table's order)."""
    paragraphs = [goal_verdict(rows)] + [t for t in (target_verdict(rows, x) for x in targets) if t]
    return "\n\n".join(paragraphs)
