"""`conprune report --verify`: recompute every WER, Δ and interval of a summary.json from the
hypotheses committed next to it and the corpus references, so a reader can check the published
numbers without the runs (or the machine) that made them; the LM-decoded ones (`lm_*`,
`lm_comparison`) too, from the LM's committed hypotheses, where the summary has them.

Counts ([word errors, reference words]) must match exactly; every other number (WERs, means and
standard deviations over seeds, differences, interval ends, P(conprune better)) within 1e-9
relative, since the same code computes them from the same counts with the same RNG seed. The
first mismatch stops the check: one line naming the row, the key, both values.

    conprune report --verify [--results results/full] [--data data/synth]
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from conprune.errors import ConpruneError
from conprune.report.comparisons import GREEDY, LM, LM_COMPARISON, Decoding, comparison, seed_spread
from conprune.report.scoring import POOLS, Corpus, Pool, read_corpus, run_pools
from conprune.stages.methods import CONPRUNE

REL_TOL = 1e-9
COMPARISON_KEYS = ("delta_vs_conprune", "delta_ci95", "p_conprune_better", "delta_seeds_clustered",
                   "delta_ci95_seeds_clustered", "p_conprune_better_clustered", "seeds_compared", "clusters",
                   "cluster_unit")


class Mismatch(Exception):
    """A number of summary.json that its committed hypotheses do not give."""


def same(where: str, stated: object, recomputed: object) -> None:
    """Raise `Mismatch` unless `stated` equals `recomputed`: integers exactly, floats within
    REL_TOL, lists and mappings element by element."""
    if isinstance(stated, dict) and isinstance(recomputed, dict):
        if stated.keys() != recomputed.keys():
            raise Mismatch(f"{where}: summary.json has keys {sorted(stated)}, the predictions give {sorted(recomputed)}")
        for key in stated:
            same(f"{where}.{key}", stated[key], recomputed[key])
    elif isinstance(stated, list) and isinstance(recomputed, list):
        if len(stated) != len(recomputed):
            raise Mismatch(f"{where}: summary.json has {stated}, the predictions give {recomputed}")
        for i, (a, b) in enumerate(zip(stated, recomputed)):
            same(f"{where}[{i}]", a, b)
    elif isinstance(stated, int) and isinstance(recomputed, int) and not isinstance(stated, bool):
        if stated != recomputed:
            raise Mismatch(f"{where}: summary.json has {stated}, the predictions give {recomputed}")
    elif isinstance(stated, (int, float)) and isinstance(recomputed, (int, float)):
        if not math.isclose(stated, recomputed, rel_tol=REL_TOL, abs_tol=0.0):
            raise Mismatch(f"{where}: summary.json has {stated!r}, the predictions give {recomputed!r}")
    elif stated != recomputed:
        raise Mismatch(f"{where}: summary.json has {stated!r}, the predictions give {recomputed!r}")


def _label(row: dict) -> str:
    return row["method"] if row["target"] == "none" else f"{row['method']} {row['target']}"


def row_pools(row: dict, results: Path, corpus: Corpus, decoding: Decoding = GREEDY) -> dict[int, dict[str, Pool]]:
    """Each seed's pools from the committed hypotheses the row names ({} for a row without LM
    numbers, asked for the LM's)."""
    entries = row.get(decoding.committed)
    if not entries and decoding is LM and not any(key in row for key in (*LM.wers.values(), LM_COMPARISON)):
        return {}
    if not entries:
        raise Mismatch(f"{_label(row)}: no committed predictions (summary.json has no `{decoding.committed}`); "
                       "rerun `conprune report` on runs evaluated with --predictions")
    pools = {}
    for entry in entries:
        folder = results / entry["dir"]
        if not folder.is_dir():
            raise Mismatch(f"{_label(row)}: committed predictions {folder} do not exist")
        pools[int(entry["seed"])] = run_pools(folder, corpus)
    return pools


def check_row(row: dict, pools: dict[int, dict[str, Pool]], decoding: Decoding = GREEDY) -> int:
    """The row's WERs, counts and (greedy) seed spread against its pools; returns the numbers checked."""
    label, own = _label(row), pools.get(row.get("seed", 0), {})
    stated = row.get(decoding.counts, {})
    same(f"{label}: {decoding.counts}", stated, {name: own[name].counts for name in stated if name in own})
    checked = 0
    for name, key in decoding.wers.items():
        if key in row:
            if name not in own:
                raise Mismatch(f"{label}: {key} has no committed predictions of {' + '.join(POOLS[name])}")
            same(f"{label}: {key}", row[key], own[name].wer)
            checked += 1 + (name in stated)
    if "test_wer_mean" in row and decoding is GREEDY:
        tests = {seed: p["test"] for seed, p in pools.items() if "test" in p}
        same(f"{label}: seeds", row["seeds"], sorted(tests))
        spread = seed_spread(tests)
        for key, value in spread.items():
            same(f"{label}: {key}", row[key], value)
        checked += len(spread)
    return checked


def check_comparison(row: dict, pools: dict[int, dict[str, Pool]], base: dict,
                     base_pools: dict[int, dict[str, Pool]], unit: str, decoding: Decoding = GREEDY) -> int:
    """The row's Δ, intervals and P(conprune better) (under `lm_comparison` for the LM's) against
    the recomputed comparison."""
    tests = {seed: p["test"] for seed, p in pools.items() if "test" in p}
    ours = {seed: p["test"] for seed, p in base_pools.items() if "test" in p}
    if decoding is GREEDY:
        where, what, stated = "comparison", "Δ vs conprune", {key: row[key] for key in COMPARISON_KEYS if key in row}
    else:
        where, what, stated = LM_COMPARISON, "LM Δ vs conprune", row.get(LM_COMPARISON, {})
    if row.get("seed", 0) not in tests or base.get("seed", 0) not in ours:
        if stated:
            raise Mismatch(f"{_label(row)}: {what} has no committed test predictions of both runs")
        return 0
    recomputed = comparison(tests, ours, row.get("seed", 0), base.get("seed", 0), unit)
    same(f"{_label(row)}: {where}", stated, recomputed)
    return len(recomputed)


def verify_results(results: Path, data: Path) -> int:
    """Check every number of `results`/summary.json; return how many were recomputed. Raises
    `Mismatch` at the first that differs, `ConpruneError` for a missing file."""
    summary = results / "summary.json"
    if not summary.is_file():
        raise ConpruneError(f"verify: {summary} not found; pass the folder `conprune report --out` wrote as --results")
    rows = json.loads(summary.read_text())
    corpus = read_corpus(data)
    if not corpus.refs:
        raise ConpruneError(f"verify: no dev/test manifest under {data}; pass the corpus root as --data "
                            f"(`conprune data prepare --root {data} --splits all` writes them)")
    checked = 0
    conprune = {r["target"]: i for i, r in enumerate(rows) if r["method"] == CONPRUNE}
    for decoding in (GREEDY, LM):
        pools = [row_pools(row, results, corpus, decoding) for row in rows]
        checked += sum(check_row(row, p, decoding) for row, p in zip(rows, pools))
        for row, p in zip(rows, pools):
            i = conprune.get(row["target"])
            if i is not None and rows[i] is not row and row["target"] != "none":
                checked += check_comparison(row, p, rows[i], pools[i], corpus.unit, decoding)
    return checked
