"""`conprune report` / `make report`: every method × target side by side: summary, table, plots, W&B.

Reads what the stages already wrote — each run's results.json (`conprune evaluate`), the prune
runs' CSV logs (sparsity, λ), `make bench`'s latency ratios — and writes `<out>/summary.json`,
`<out>/report.md` and four PNGs. Runs are found by `conprune.report.runs.discover_runs` (the
demo's fixed mapping plus runs/sweep/<method>-<target>/), so the same command reports a sweep.
The README's copy of the table is regenerated only by `conprune readme report`.

Each row's per-utterance hypotheses (every seed) are copied, compressed, to
`<out>/predictions/<run>/`, so `conprune report --verify` can recompute every number of the
summary from the committed files alone (`verify.py`).

    conprune report [--runs runs] [--results 'runs/other/*/results.json' ...] [--out results/demo] [--no-wandb]
    conprune report --verify [--results results/full] [--data data/synth]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
from pathlib import Path

from conprune.io_atomic import atomic_write_text
from conprune.pruning.cost_model import metric_order
from conprune.report.comparisons import GREEDY, LM, add_budgets, add_comparisons, add_scores, merge_seeds
from conprune.report.logs import series, trained_steps
from conprune.report.lr_choice import choose_learning_rates
from conprune.report.plots import plot_curves, plot_kept, plot_latency, plot_pareto
from conprune.report.runs import DEMO_RUNS, curve_runs, discover_runs
from conprune.report.scoring import commit_predictions, read_corpus
from conprune.report.summary import split_words, summary_rows, write_summary
from conprune.report.table_notes import steps_note, table_note
from conprune.report.verdicts import (
    delta_text,
    lm_delta_text,
    paired_text,
    seeds_clusters_text,
    verdict_section,
)
from conprune.stages.methods import TEACHER, report_key

log = logging.getLogger(__name__)
PLOTS = {"pareto": "pareto_wer_params.png", "latency": "wer_latency.png", "curves": "sparsity_lambda.png",
         "kept": "kept_per_layer.png"}
CURVE_METRICS = ["sparsity/expected", "sparsity/deterministic", "sparsity/target", "lagrangian/lambda1",
                 "lagrangian/lambda2"]


def target_key(target: str) -> tuple[int, int, str, int]:
    """Teacher first, then params, MACs and latency targets, each by increasing sparsity."""
    match = re.match(r"([a-z]+)(\d+)$", target)
    if target == "none" or not match:
        return (0 if target == "none" else 2, 0, target, 0)
    return (1, metric_order(match[1]), match[1], int(match[2]))


def sort_rows(rows: list[dict]) -> list[dict]:
    """Rows grouped by target, methods in a fixed order, so tables of different sweeps line up."""
    return sorted(rows, key=lambda r: (target_key(r["target"]), report_key(r["method"])))


def kept_maps(rows: list[dict]) -> dict[str, list[dict]]:
    """Per-layer kept structure of each distinct pruned shape. Baselines that copy a student's
    shapes would repeat its row, and dense baselines keep everything of their own smaller model,
    so neither is shown."""
    maps: dict[str, list[dict]] = {}
    for row in rows:
        if row["target"] == "none" or row["method"].startswith("dense") or not row.get("kept"):
            continue
        if row["kept"] not in maps.values():
            maps[f"{row['method']} {row['target']}"] = row["kept"]
    return maps


def training_steps(runs_dir: Path) -> dict[str, int]:
    """The optimizer steps of every run with a CSV log, to state each method's training budget.

    A sweep run counts once its fit has finished (its DONE stamp): one still training, or killed,
    would state a budget no row was trained with."""
    steps = {}
    finished = [p.parent for p in runs_dir.glob("sweep/*/csv") if (p.parent / "DONE").exists()]
    for run in sorted({p.parent for p in runs_dir.glob("*/csv")} | set(finished)):
        found = trained_steps(run)
        if found:
            steps[run.relative_to(runs_dir).as_posix()] = found
    return steps


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _run_name(row: dict) -> str:
    """The run directory a row came from (runs/prune-macs is a student before any finetune)."""
    path = Path(row.get("source", ""))
    return f"{path.parent.parent.name}/{path.parent.name}" if path.parent.parent.name == "sweep" else path.parent.name


def _test_cell(r: dict) -> str:
    """Pooled test WER, with the mean ± sd over seeds where several ran."""
    cell = _pct(r["test_wer"])
    if "test_wer_mean" in r:
        cell += f" ({100 * r['test_wer_mean']:.1f} ± {100 * r['test_wer_sd']:.1f}, {len(r['seeds'])} seeds)"
    return cell


def markdown_table(rows: list[dict]) -> str:
    """The method × target table; ratios are to the teacher row when there is one. A confirm WER
    column appears where a row has one, and the seeds · clusters and seed-0 utterance-interval
    columns where a comparison has a seed-aware interval, and the LM test WER and its Δ where a row
    was evaluated with an LM, so a report without any of them is as before."""
    teacher = next((r for r in rows if r["method"] == TEACHER), None)
    confirm = any("confirm_wer" in r for r in rows)
    clustered = any("delta_ci95_seeds_clustered" in r for r in rows)
    lm = any("lm_test_wer" in r for r in rows)
    header = ["method", "target", "params", "params ÷ teacher", "MACs / 10 s", "latency ÷ teacher", "dev WER",
              "test WER", *(["confirm WER"] if confirm else []), "Δ test WER vs conprune [95 % CI]",
              "P(conprune better)", *(["seeds · clusters", "Δ seed 0 [95 % CI, utterances]"] if clustered else []),
              *(["LM test WER", "LM Δ vs conprune [95 % CI]"] if lm else []), "steps", "run"]
    align = ["---"] * 2 + ["---:"] * (len(header) - 3) + ["---"]
    lines = [f"| {' | '.join(header)} |", f"|{'|'.join(align)}|"]
    for r in sort_rows(rows):
        size = f"{r['params'] / teacher['params']:.2f}" if teacher else "–"
        latency = "–" if r["latency_ratio"] is None else f"{r['latency_ratio']:.2f}"
        p = chosen_p(r)
        cells = [r["method"], r["target"], f"{r['params'] / 1e6:.2f} M", size, f"{r['macs'] / 1e9:.2f} G", latency,
                 _pct(r["dev_wer"]), _test_cell(r), *([_pct(r.get("confirm_wer"))] if confirm else []),
                 delta_text(r), "–" if p is None else f"{p:.2f}",
                 *([seeds_clusters_text(r), paired_text(r)] if clustered else []),
                 *([_pct(r.get("lm_test_wer")), lm_delta_text(r)] if lm else []),
                 str(r.get("train_steps", "–")), _run_name(r)]
        lines.append(f"| {' | '.join(cells)} |")
    return "\n".join(lines)


def chosen_p(row: dict) -> float | None:
    """P(conprune better) of the interval the verdict reads (seed-aware where the row has one)."""
    return row.get("p_conprune_better_clustered", row.get("p_conprune_better"))


def targets_in_order(rows: list[dict]) -> list[str]:
    """The targets of `rows` in the table's order, teacher excluded."""
    return list(dict.fromkeys(r["target"] for r in sort_rows(rows) if r["target"] != "none"))


def report_markdown(rows: list[dict], steps: dict[str, int]) -> str:
    """results/.../report.md: the table, its notes and the four plots, readable on its own."""
    images = "\n".join(f"![{name}]({file})" for name, file in PLOTS.items())
    return (f"# conprune report\n\nGenerated by `conprune report` from runs/*/results.json; do not edit.\n\n"
            f"{verdict_section(rows, targets_in_order(rows))}\n\n{markdown_table(rows)}\n\n{table_note(rows)}\n\n"
            f"{steps_note(steps)}\n\n{images}\n")


def collect(runs_dir: Path, specs: list[str], data: Path, bench: Path, sweep: bool = True,
            demo: bool = True) -> list[dict]:
    """Summary rows (demo_summary's format) of every discovered run, each with its per-layer `kept`."""
    refs = discover_runs(runs_dir, specs, mapping=DEMO_RUNS if demo else None, sweep=sweep)
    if not refs:
        return []  # nothing to pool, so the corpus (words per split) is not needed
    ratios = json.loads(bench.read_text()) if bench.is_file() else {}
    rows = summary_rows(refs, split_words(data), ratios)
    for row, ref in zip(rows, refs):
        row["kept"] = json.loads(ref.path.read_text()).get("kept")
    rows = choose_learning_rates(rows)
    add_budgets(rows)
    rows = merge_seeds(rows)
    corpus = read_corpus(data)
    add_scores(rows, corpus)
    add_comparisons(rows, corpus.unit)
    return rows


def collect_curves(runs_dir: Path) -> dict[str, dict[str, list[tuple[int, float]]]]:
    """Sparsity and λ series of every prune run, keyed by its directory under runs_dir."""
    curves = {}
    for run in curve_runs(runs_dir):
        log_file = max(run.glob("csv/**/metrics.csv"))
        curves[run.relative_to(runs_dir).as_posix()] = series(log_file, CURVE_METRICS)
    return curves


def run_label(row: dict, seed: int) -> str:
    """`<method>-<target>[-s<seed>]` (the sweep's run name), `teacher` for the teacher."""
    name = row["method"] if row["target"] == "none" else f"{row['method']}-{row['target']}"
    name = f"{name}-s{seed}" if seed else name
    return f"{name}-lr{row['lr']}" if row.get("lr") else name


def commit_row_predictions(row: dict, out: Path) -> None:
    """Copy each seed's hypotheses to `out`/predictions/<run>/ (the LM's to its lm/ subfolder) and
    name them in the row's `predictions` (`lm_predictions`), folders relative to `out`, so the
    record holds on any clone."""
    for decoding in (GREEDY, LM):
        entries = []
        for seed, run in sorted(row.get("_runs", {}).items()):
            if (run / decoding.folder).is_dir():
                folder = "/".join(filter(None, ("predictions", run_label(row, seed), decoding.subfolder)))
                if commit_predictions(run / decoding.folder, out / folder):
                    entries.append({"seed": seed, "dir": folder})
        if entries:
            row[decoding.committed] = entries


def write_report(rows: list[dict], curves: dict, steps: dict[str, int], out: Path) -> dict[str, Path]:
    """Write summary.json, the committed predictions, the PNGs and report.md under `out`; return
    the PNG paths."""
    out.mkdir(parents=True, exist_ok=True)
    for row in rows:
        commit_row_predictions(row, out)
    write_summary(rows, out / "summary.json")
    images = {"pareto": plot_pareto(rows, out / PLOTS["pareto"]),
              "latency": plot_latency(rows, out / PLOTS["latency"]),
              "curves": plot_curves(curves, out / PLOTS["curves"]),
              "kept": plot_kept(kept_maps(sort_rows(rows)), out / PLOTS["kept"])}
    atomic_write_text(out / "report.md", report_markdown(rows, steps))
    return images


def readme_body(rows: list[dict], steps: dict[str, int], pareto: Path, readme: Path) -> str:
    """The README's report section: the table, its notes and the Pareto plot linked from `readme`."""
    link = Path(os.path.relpath(pareto, readme.resolve().parent)).as_posix()
    folder = Path(link).parent.as_posix()
    return (f"{verdict_section(rows, targets_in_order(rows))}\n\n{markdown_table(rows)}\n\n"
            f"{table_note(rows)} {steps_note(steps)}\n\n"
            f"![test WER vs parameters, all methods]({link})\n\n"
            f"More plots (WER vs latency, sparsity/λ curves, kept structure per layer) in "
            f"[{folder}/report.md]({folder}/report.md).")


def results_body(rows: list[dict], report: Path, readme: Path) -> str:
    """A results folder's verdicts, table and notes for a README section, linking its report.md
    (whose steps note and plots need the run directories, which a clone does not have)."""
    link = Path(os.path.relpath(report, readme.resolve().parent)).as_posix()
    return (f"{verdict_section(rows, targets_in_order(rows))}\n\n{markdown_table(rows)}\n\n{table_note(rows)}\n\n"
            f"Plots and the training steps per stage: [{link}]({link}).")


def run_report(args: argparse.Namespace) -> str:
    """Everything `conprune report` does; returns the markdown table it printed."""
    rows = collect(args.runs_dir, args.results, args.data, args.bench, sweep=not args.no_sweep,
                   demo=not args.no_demo)
    if not rows:
        log.warning("report: no results.json found under %s; nothing to report", args.runs_dir)
        return ""
    curves = collect_curves(args.runs_dir)
    images = write_report(rows, curves, training_steps(args.runs_dir), args.out)
    if not args.no_wandb:
        from conprune.report.wandb_tables import log_report

        run_dir = log_report(rows, images, curves, args.wandb_dir or args.runs_dir / "report")
        log.info("report: W&B run in %s", run_dir or "none (WANDB_MODE=disabled or wandb not installed)")
    table = markdown_table(rows)
    print(f"{table}\n\nreport: {args.out / 'report.md'}; plots: "
          + ", ".join(str(p) for p in images.values()))
    return table
