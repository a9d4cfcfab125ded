"""What `conprune import hf` and `conprune export --format hf` share: transformers, imported lazily
(conprune itself never needs it), and the parity check that decides whether a file is written.

The check runs the whole recogniser on both sides, audio in: transformers' own feature extractor and
model on a padded batch with its attention mask, conprune's front end and ConformerCTC on each
utterance alone. Comparing only the encoders would miss a front end that differs (another
normalisation, another frame count), which is the mistake that makes an import transcribe worse
without any error. The waveforms are noisy tones of lengths that are no whole number of hops, so
padding, the last partial frame and the per-utterance normalisation all matter.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, NamedTuple

import numpy as np
import torch

from conprune.data.features import front_end
from conprune.errors import ConpruneError
from conprune.models.conformer import ConformerCTC
from conprune.models.ctc import greedy_decode

SAMPLE_RATE = 16000
PARITY_SAMPLES = (16000 + 37, 8000 + 159, 24000 + 5)
CLASSES = {"parakeet": ("ParakeetForCTC", "ParakeetFeatureExtractor", "ParakeetTokenizer", "ParakeetProcessor"),
           "lasr": ("LasrForCTC", "LasrFeatureExtractor", "LasrTokenizer", "LasrProcessor")}


class Parity(NamedTuple):
    """How closely two recognisers agree on the parity waveforms: the largest |log-prob difference|
    over valid frames, whether the greedy CTC transcripts (token ids) agree, and the first problem
    found in words (None when the output lengths and transcripts agree)."""

    max_abs_log_prob: float
    greedy_identical: bool
    frames: int
    problem: str | None

    def as_dict(self) -> dict[str, Any]:
        return {"max_abs_log_prob": self.max_abs_log_prob, "greedy_identical": self.greedy_identical,
                "utterances": len(PARITY_SAMPLES), "frames": self.frames}


def require_transformers() -> ModuleType:
    """The transformers module, or a one-line error saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise ConpruneError("importing or exporting a transformers checkpoint needs transformers: "
                            "pip install 'conprune[hf]'") from None
    if not all(hasattr(transformers, name) for names in CLASSES.values() for name in names):
        raise ConpruneError(f"transformers {transformers.__version__} has no Parakeet/LASR CTC classes: "
                            "pip install 'conprune[hf]' (transformers >= 5.20)")
    return transformers


def parity_waveforms(seed: int = 0) -> list[np.ndarray]:
    """Three float32 waveforms at 16 kHz of `PARITY_SAMPLES` samples: a tone plus noise, so every
    mel bin varies and Parakeet's per-utterance normalisation has something to normalise."""
    rng = np.random.default_rng(seed)
    waves = []
    for n in PARITY_SAMPLES:
        t = np.arange(n) / SAMPLE_RATE
        tone = 0.2 * np.sin(2 * np.pi * rng.uniform(100, 400) * t)
        waves.append((tone + 0.05 * rng.standard_normal(n)).astype(np.float32))
    return waves


@torch.no_grad()
def parity(hf_model: torch.nn.Module, extractor: Any, model: ConformerCTC, stored_front_end: dict,
           token_order: list[int]) -> Parity:
    """Compare transformers' `extractor` + `hf_model` (a padded batch) with conprune's front end of
    `stored_front_end` + `model` (one utterance at a time); `token_order[i]` is the transformers id
    of conprune id i."""
    waves = parity_waveforms()
    batch = extractor(waves, sampling_rate=SAMPLE_RATE, return_attention_mask=True, return_tensors="pt")
    logits = hf_model(input_features=batch.input_features, attention_mask=batch.attention_mask).logits
    theirs = logits.float().log_softmax(-1)[..., token_order]
    # the output mask transformers' own `generate` uses to blank out padded frames
    their_lengths = hf_model._get_output_attention_mask(batch.attention_mask, target_length=theirs.shape[1]).sum(-1)
    logmel, norm = front_end(stored_front_end)
    worst, frames, problem = 0.0, 0, None
    for b, wave in enumerate(waves):
        feats = norm(logmel(torch.from_numpy(wave)))
        out = model.eval()(feats[None], torch.tensor([feats.shape[0]]))
        n = int(out.lengths[0])
        if n != int(their_lengths[b]):
            return Parity(float("inf"), False, frames, f"utterance {b}: {int(their_lengths[b])} output frames in "
                          f"transformers, {n} in conprune")
        worst = max(worst, (theirs[b, :n] - out.log_probs[0, :n]).abs().max().item())
        frames += n
        same = greedy_decode(theirs[b:b + 1, :n], out.lengths) == greedy_decode(out.log_probs[:, :n], out.lengths)
        if not same and problem is None:
            problem = f"utterance {b}: the greedy transcripts differ"
    return Parity(worst, problem is None, frames, problem)
