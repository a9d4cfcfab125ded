"""What a method comparison needs beside the WERs: each row's training budget, its paired
difference to conprune at the same target, and its spread over seeds.

Budgets are read from what the runs wrote (the CSV log's last step, the DONE stamp's wall time),
adding the prune run a finetune started from, so conprune's row counts prune + finetune and a
baseline's row its one training run; equal budgets are then visible per row, not assumed.

Differences are computed from each run's per-utterance predictions against the corpus manifests
(`scoring.py`): the paired bootstrap over the utterances of the seed-0 runs, and, where either
method ran several seeds, the bootstrap over speakers and seeds (`clustered.py`), which the
verdicts then read instead. `conprune report --verify` calls the same `comparison` on the
committed hypotheses.

Runs evaluated a second time with an n-gram LM (predictions-lm/ beside predictions/) are scored
and compared again, the same way, into the `lm_*` keys and a row's `lm_comparison` (`LM`), so
the report can say whether a ranking found with greedy decoding survives an LM.
"""

from __future__ import annotations

import logging
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from conprune.errors import ConpruneError
from conprune.report.clustered import clustered_bootstrap
from conprune.report.logs import fit_wall_seconds, trained_steps
from conprune.report.scoring import Corpus, Pool, run_pools
from conprune.report.significance import paired_bootstrap_errors
from conprune.stages.methods import CONPRUNE

log = logging.getLogger(__name__)


def run_budget(run: Path) -> tuple[int, float]:
    """(optimizer steps, fit wall seconds) of one run directory; (0, 0) when it trained nothing."""
    return trained_steps(run), fit_wall_seconds(run) or 0.0


def student_run(run: Path) -> Path | None:
    """The run whose model a finetune run started from (its config's `student_model`), if any."""
    configs = sorted(run.glob("csv/**/config.yaml"))
    if not configs:
        return None
    args = (yaml.safe_load(configs[-1].read_text()).get("model") or {}).get("init_args") or {}
    student = args.get("student_model")
    if not student:
        return None
    path = Path(student)
    if not path.is_absolute() and not path.exists():
        # A relative path is relative to where the fit ran, usually the folder that holds runs/.
        path = next((base / path for base in run.parents if (base / path).exists()), path)
    return path.parent


def add_budgets(rows: list[dict]) -> None:
    """`train_steps` and `train_seconds` of each row: its run, plus the prune run it came from."""
    for row in rows:
        if row["target"] == "none":
            continue
        run = Path(row["source"]).parent
        steps, seconds = run_budget(run)
        parent = student_run(run)
        if parent is not None and parent.is_dir():
            more = run_budget(parent)
            steps, seconds = steps + more[0], seconds + more[1]
        row["train_steps"], row["train_seconds"] = steps, seconds


def merge_seeds(rows: list[dict]) -> list[dict]:
    """One row per method × target (its seed-0 run), with `seeds`, `test_wer_mean` and
    `test_wer_sd` (sample standard deviation) where more than one seed ran, and every seed's run
    directory under the private key `_runs` (not written to summary.json)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["method"], row["target"]), []).append(row)
    merged = []
    for group in groups.values():
        base = next((r for r in group if r.get("seed", 0) == 0), group[0])
        if len(group) > 1:
            wers = [r["test_wer"] for r in sorted(group, key=lambda r: r.get("seed", 0))]
            base.update(seeds=sorted(r.get("seed", 0) for r in group), test_wer_mean=statistics.mean(wers),
                        test_wer_sd=statistics.stdev(wers))
        base["_runs"] = {r.get("seed", 0): Path(r["source"]).parent for r in group if r.get("source")}
        merged.append(base)
    return merged


WER_KEYS = {"dev": "dev_wer", "test": "test_wer", "confirm": "confirm_wer"}


@dataclass(frozen=True)
class Decoding:
    """Where one decoding's hypotheses are and under which row keys its numbers go: `folder` in a
    run directory, `pools` (private: each seed's scored pools), `counts` ([errors, words] per
    pool), `wers` (pool -> WER key), `committed` (the row key naming the committed copies) and
    `subfolder` (of a run's committed folder)."""

    folder: str
    pools: str
    counts: str
    wers: dict[str, str]
    committed: str
    subfolder: str = ""


GREEDY = Decoding("predictions", "_pools", "word_errors", WER_KEYS, "predictions")
LM = Decoding("predictions-lm", "_lm_pools", "lm_word_errors", {k: f"lm_{v}" for k, v in WER_KEYS.items()},
              "lm_predictions", "lm")
LM_COMPARISON = "lm_comparison"


def seed_spread(tests: dict[int, Pool]) -> dict:
    """`test_wer_mean` and `test_wer_sd` over seeds from each seed's test counts."""
    wers = [tests[s].wer for s in sorted(tests)]
    return {"test_wer_mean": statistics.mean(wers), "test_wer_sd": statistics.stdev(wers)}


def add_scores(rows: list[dict], corpus: Corpus) -> None:
    """Score every seed's predictions (private `_pools`, and `_lm_pools` of the LM's); where the
    row's own run has them, its WERs become the exact counts (`word_errors`, `lm_word_errors`:
    [errors, words] per dev / test / confirm pool), which are what --verify recomputes; a results
    file's WER that disagrees is logged and replaced."""
    for row in rows:
        for decoding in (GREEDY, LM):
            score(row, corpus, decoding)
        tests = seed_test_pools(row)
        if len(row.get("seeds", [])) > 1 and len(tests) == len(row["seeds"]):
            row.update(seed_spread(tests))


def score(row: dict, corpus: Corpus, decoding: Decoding) -> None:
    """`add_scores` for one decoding."""
    runs = row.get("_runs", {})
    row[decoding.pools] = {seed: run_pools(run / decoding.folder, corpus) for seed, run in sorted(runs.items())
                           if (run / decoding.folder).is_dir()}
    own = row[decoding.pools].get(row.get("seed", 0))
    if not own:
        return
    row[decoding.counts] = {name: scored.counts for name, scored in own.items()}
    for name, scored in own.items():
        key = decoding.wers[name]
        if key in row and not math.isclose(row[key], scored.wer, rel_tol=1e-6):
            log.warning("report: %s %s: its results file gives %s %.6f, its %s %.6f; using the predictions",
                        row["method"], row["target"], key, row[key], decoding.folder, scored.wer)
        row[key] = scored.wer


def _same_utterances(a: Pool, b: Pool) -> None:
    if a.keys != b.keys:
        raise ConpruneError(f"bootstrap: runs were evaluated on different test utterances ({len(a.keys)} vs "
                            f"{len(b.keys)}); evaluate every run on the same corpus")


def comparison(row_tests: dict[int, Pool], conprune_tests: dict[int, Pool], row_seed: int, conprune_seed: int,
               unit: str) -> dict:
    """The summary keys of one row's comparison with conprune from their test pools per seed: the
    paired utterance bootstrap of the two base runs (`delta_vs_conprune`, `delta_ci95`,
    `p_conprune_better`) and, where either side has several seeds, the speaker- and seed-clustered
    one (`delta_seeds_clustered`: mean over seeds, `delta_ci95_seeds_clustered`,
    `p_conprune_better_clustered`, `seeds_compared` [row, conprune], `clusters` per split)."""
    base, row = conprune_tests[conprune_seed], row_tests[row_seed]
    _same_utterances(base, row)
    paired = paired_bootstrap_errors(base.errors, row.errors, base.words)
    out = {"delta_vs_conprune": paired["delta"], "delta_ci95": paired["delta_ci95"],
           "p_conprune_better": paired["p_a_better"]}
    if len(row_tests) > 1 or len(conprune_tests) > 1:
        for other in [*row_tests.values(), *conprune_tests.values()]:
            _same_utterances(base, other)
        result = clustered_bootstrap(np.stack([row_tests[s].errors for s in sorted(row_tests)]),
                                     np.stack([conprune_tests[s].errors for s in sorted(conprune_tests)]),
                                     base.words, base.clusters, base.strata)
        out.update(delta_seeds_clustered=result["delta"], delta_ci95_seeds_clustered=result["delta_ci95"],
                   p_conprune_better_clustered=result["p_conprune_better"], seeds_compared=result["seeds"],
                   clusters=result["clusters"], cluster_unit=unit)
    return out


def seed_test_pools(row: dict, decoding: Decoding = GREEDY) -> dict[int, Pool]:
    """The test pool of each seed of `row` that has one (after `add_scores`)."""
    return {seed: pools["test"] for seed, pools in row.get(decoding.pools, {}).items() if "test" in pools}


def add_comparisons(rows: list[dict], unit: str = "speaker") -> None:
    """For every row at a target where conprune ran: its pooled test WER minus conprune's, the
    paired-bootstrap 95 % interval of that difference and P(conprune better), and the seed-aware,
    speaker-clustered ones where either has several seeds (see `comparison`); the same keys again
    under `lm_comparison` from the LM's predictions where both runs have them."""
    conprune = {r["target"]: r for r in rows if r["method"] == CONPRUNE}
    for row in rows:
        base = conprune.get(row["target"])
        if base is None or row is base or row["target"] == "none":
            continue
        for decoding in (GREEDY, LM):
            ours, theirs = seed_test_pools(base, decoding), seed_test_pools(row, decoding)
            if base.get("seed", 0) not in ours or row.get("seed", 0) not in theirs:
                if decoding is GREEDY:
                    log.info("report: no predictions for %s %s or conprune; no paired comparison",
                             row["method"], row["target"])
                continue
            found = comparison(theirs, ours, row.get("seed", 0), base.get("seed", 0), unit)
            if decoding is GREEDY:
                row.update(found)
            else:
                row[LM_COMPARISON] = found
