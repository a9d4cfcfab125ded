"""`conprune tune-lm`: the LM (of those given), LM weight and word score with the lowest dev WER.

The acoustic model runs once over the dev splits and its log-probabilities are kept, so each grid
point costs only a beam search. WER is pooled over the splits (word-weighted), as everywhere in
conprune, and ties go to the earlier point. Several LMs may compete, e.g. a word LM (lexicon
search) against a piece LM (lexicon-free search): that choice is taken on dev like the weights.
Only dev is decoded: a split named test* is refused, because nothing may be chosen on test.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from torchmetrics.functional.text import word_error_rate

from conprune.data import layout
from conprune.data.manifest import read_manifest
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError
from conprune.inference.decoder_meta import file_sha256
from conprune.inference.lm_decoder import BeamDecoder, BeamSettings
from conprune.measure.evaluate import posteriors
from conprune.models.ctc import greedy_decode

LM_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
WORD_SCORES = (-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0)


def dev_posteriors(model, info: dict, root: str | Path, splits: list[str]) -> tuple[list, list[str], float]:
    """([(log_probs, lengths)] per batch, references in the same order, audio seconds) of `splits`."""
    tested = [s for s in splits if s.startswith("test")]
    if tested:
        raise ConpruneError(f"--splits: {tested[0]} is a test split; LM settings are chosen on dev only "
                            "(e.g. --splits dev-clean,dev-other)")
    batches, refs, audio_s = [], [], 0.0
    for split in splits:
        path = layout.manifest_path(root, split)
        if not path.is_file():
            raise ConpruneError(f"--splits: no manifest {path}; run `conprune data prepare --root {root} --splits {split}`")
        rows = read_manifest(path)
        text = {r["id"]: r["text"] for r in rows}
        audio_s += sum(r["num_samples"] / r["sample_rate"] for r in rows)
        for ids, log_probs, lengths in posteriors(model, info, rows):
            batches.append((log_probs.clone(), lengths.clone()))
            refs += [text[i] for i in ids]
    return batches, refs, audio_s


def tune(model, info: dict, root: str | Path, splits: list[str], lms: list[str], base: BeamSettings,
         lm_weights: tuple[float, ...] = LM_WEIGHTS, word_scores: tuple[float, ...] = WORD_SCORES) -> dict:
    """Grid-search every LM in `lms` at `base`'s beam widths; returns {"chosen": the decoder entry
    to store in the model (`conprune.inference.decoder_meta`), "grid": every point's dev WER}."""
    tokenizer = Tokenizer(model_proto=info["tokenizer"])
    batches, refs, audio_s = dev_posteriors(model, info, root, splits)
    greedy = [tokenizer.decode(ids) for log_probs, lengths in batches for ids in greedy_decode(log_probs, lengths)]
    grid: list[dict] = []
    for lm in lms:
        kind = BeamDecoder(tokenizer, lm, base).kind
        for weight in lm_weights:
            for score in word_scores if kind == "lexicon" else (0.0,):  # lexicon-free search has no word score
                decoder = BeamDecoder(tokenizer, lm, replace(base, lm_weight=weight, word_score=score))
                hyps = [text for log_probs, lengths in batches for text in decoder(log_probs, lengths)]
                grid.append({**decoder.describe(), "dev_wer": float(word_error_rate(hyps, refs)),
                             "search_s_per_audio_s": decoder.seconds / audio_s})
    best = min(grid, key=lambda point: point["dev_wer"])
    chosen = {**{k: v for k, v in best.items() if k != "search_s_per_audio_s"}, "lm_sha256": file_sha256(best["lm"]),
              "tuned_on": list(splits), "dev_wer_greedy": float(word_error_rate(greedy, refs))}
    return {"chosen": chosen, "grid": grid}
