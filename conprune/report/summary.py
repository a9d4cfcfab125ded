"""`results/<schedule>/summary.json`: one row per method × target, the numbers every report is built from.

Rows hold `method`, `target`, `params`, `macs` (per 10 s), `latency_ratio` (÷ teacher, from the
side-by-side `make bench`; the same-shape baselines share the conprune student's ratio), `dev_wer`
and `test_wer` (word-weighted over dev-clean + dev-other and test-clean + test-other, fractions),
and `confirm_wer` (test-confirm-clean + test-confirm-other) where the run was evaluated on the
confirmation splits: reported, never read by a verdict. Where the run was also evaluated with an
n-gram LM (`conprune sweep --lm`: results-lm.json beside results.json), the same WERs again as
`lm_dev_wer`, `lm_test_wer` and `lm_confirm_wer`, with `lm_decoder` (the LM's file name, weight,
word score and beam). Written by `conprune report` (the same pass that draws the table and
plots), never by hand; `predictions` (and `lm_predictions`) name the committed copies of each
seed's hypotheses (relative to summary.json's folder) that `conprune report --verify` reads.
"""

from __future__ import annotations

import json
from pathlib import Path

from conprune.data import layout
from conprune.data.manifest import read_manifest
from conprune.io_atomic import atomic_write_text
from conprune.report.runs import RunRef
from conprune.stages.methods import METHODS, shares_conprune_shape


def pooled(wer: dict[str, float], words: dict[str, int], splits: tuple[str, str]) -> float:
    """Corpus WER over several splits from per-split WERs, weighted by reference words."""
    total = sum(words[s] for s in splits)
    return sum(wer[s] * words[s] for s in splits) / total


EVAL_SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
CONFIRM_SPLITS = ("test-confirm-clean", "test-confirm-other")


def split_words(data: Path) -> dict[str, int]:
    """Reference words per dev/test split (and confirmation split, where the corpus has them), the
    weights that pool per-split WERs into one number."""
    optional = [s for s in CONFIRM_SPLITS if layout.manifest_path(data, s).is_file()]
    return {s: sum(len(r["text"].split()) for r in read_manifest(layout.manifest_path(data, s)))
            for s in (*EVAL_SPLITS, *optional)}


def summary_rows(refs: list[RunRef], words: dict[str, int], ratios: dict) -> list[dict]:
    """One summary row per run. The latency ratio is `make bench`'s side-by-side measurement of the
    conprune student at the target (`latency_ratio_<target>`), which the baselines cut to that
    student's shapes (`*_shapes`) share; None for every other shape, which the bench has not timed."""
    rows = []
    for ref in refs:
        r = json.loads(ref.path.read_text())
        latency = 1.0 if ref.target == "none" else ratios.get(f"latency_ratio_{ref.target}")
        if ref.target != "none" and not shares_conprune_shape(ref.method):
            latency = None  # a shape of its own (uniform, global, dense): not timed side by side
        rows.append({"method": ref.method, "target": ref.target, "seed": ref.seed, "params": r["params"],
                     "macs": r["macs_per_utterance"], "latency_ratio": latency,
                     "dev_wer": pooled(r["wer"], words, ("dev-clean", "dev-other")),
                     "test_wer": pooled(r["wer"], words, ("test-clean", "test-other")), "source": str(ref.path)})
        if ref.lr:
            rows[-1]["lr"] = ref.lr
        if ref.target != "none":  # what the row's training was matched to conprune's on
            rows[-1]["budget"] = METHODS[ref.method].budget if ref.method in METHODS else "steps"
        if all(s in r["wer"] and s in words for s in CONFIRM_SPLITS):
            rows[-1]["confirm_wer"] = pooled(r["wer"], words, CONFIRM_SPLITS)
        lm = ref.path.with_name(LM_RESULTS)
        if lm.is_file():
            rows[-1].update(lm_fields(json.loads(lm.read_text()), words))
    return rows


LM_RESULTS = "results-lm.json"
LM_DECODER = ("lm_weight", "word_score", "beam")


def lm_fields(results: dict, words: dict[str, int]) -> dict:
    """The `lm_*` WERs of a results-lm.json and `lm_decoder`, which says how it decoded (the LM by
    file name only: its folder is this machine's), so the report can say whether every row used
    the same LM setting."""
    wer, decoder = results["wer"], results.get("decoder") or {}
    fields = {"lm_dev_wer": pooled(wer, words, ("dev-clean", "dev-other")),
              "lm_test_wer": pooled(wer, words, ("test-clean", "test-other"))}
    if all(s in wer and s in words for s in CONFIRM_SPLITS):
        fields["lm_confirm_wer"] = pooled(wer, words, CONFIRM_SPLITS)
    lm = {"lm": Path(decoder["lm"]).name} if decoder.get("lm") else {}
    return {**fields, "lm_decoder": {**lm, **{k: decoder[k] for k in LM_DECODER if k in decoder}}}


def write_summary(rows: list[dict], out: Path) -> None:
    """summary.json: the rows without their per-layer `kept` lists (those go to the plots) and
    without the private keys (`_runs`, `_pools`: run folders and scores of this machine)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    slim = [{k: v for k, v in row.items() if k != "kept" and not k.startswith("_")} for row in rows]
    atomic_write_text(out, json.dumps(slim, indent=1) + "\n", "summary")
