"""`conprune export MODEL --format hf --out DIR`: a conprune model file as a transformers checkpoint
directory that `ParakeetForCTC.from_pretrained` / `LasrForCTC.from_pretrained`, AutoTokenizer and
AutoProcessor load.

Only what a transformers family can hold is exported: one width, head count and FFN size for every
layer (`hf_weights.to_hf` names the first field that differs), and the family's own front end, so a
model trained with conprune's log-mel + global CMVN is refused (its statistics have no place in a
feature extractor). A pruned model usually has per-layer sizes, and transformers cannot build one
(checked in transformers 5.25): its Parakeet and LASR classes size every layer from the global
`num_attention_heads` and `intermediate_size`; `prune_heads` (and `pruned_heads` in configs) is gone
in transformers 5, and huggingface/transformers#33225, asking to extend it, is open after the
maintainers saw "very limited interest"; the `per_layer_config` that PreTrainedConfig accepts since
PR #45333 is read only by the modeling code of a few LLMs, so a ParakeetEncoderConfig given one
refuses to build (AmbiguousGlobalPerLayerAttributeError), or with global access allowed builds
uniform layers that the pruned weights do not fit. The conprune model file and `--format onnx`
carry per-layer sizes.

The directory is written under a temporary name, loaded back with transformers and checked for
parity with the conprune model (audio in, `hf_parity`), and only then renamed to DIR; an error
leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from conprune.data.hf_features import hf_settings
from conprune.errors import ConpruneError
from conprune.interop.hf_parity import CLASSES, parity, require_transformers
from conprune.interop.hf_vocab import family_tokenizer
from conprune.interop.hf_weights import family_of, to_hf
from conprune.models.package import load_model

PARITY_BOUND = 1e-4  # the same weights in the same order: measured differences are ~1e-6 (docs/operations.md)


def export_hf(model_path: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the transformers checkpoint directory `out` of the conprune model file `model_path`;
    returns a JSON-able summary with the parity of the directory as transformers loads it."""
    tf = require_transformers()
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConpruneError(f"export --out {out} exists and is not an empty directory; pass a new directory "
                            "(an export never overwrites)")
    model, info = load_model(model_path)
    try:
        family = family_of(model.config)
        config_dict, state = to_hf(model.config, model.state_dict())
    except ConpruneError as exc:
        raise ConpruneError(f"{model_path}: {exc}; keep the conprune model file or export with --format onnx, "
                            "which carry per-layer sizes and every model option") from None
    settings = _front_end(info.get("cmvn"), family, model_path)
    blank = config_dict["pad_token_id"]
    tokenizer = family_tokenizer(tf, info.get("tokenizer"), family, blank, model.config.vocab_size, str(model_path))
    model_class, extractor_class, _, processor_class = (getattr(tf, name) for name in CLASSES[family])
    hf_model = model_class(model_class.config_class.from_dict(config_dict)).eval()
    hf_model.load_state_dict(state, strict=True)
    extractor = extractor_class(**{k: settings[k] for k in ("feature_size", "n_fft", "win_length", "hop_length")},
                                **({"preemphasis": settings["preemphasis"] or None} if family == "parakeet" else {}))
    ctc = {"decoder_type": "ctc"} if family == "parakeet" else {}
    processor = processor_class(feature_extractor=extractor, tokenizer=tokenizer, **ctc)
    staging = out.parent / f".{out.name}.tmp-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        hf_model.save_pretrained(staging)
        processor.save_pretrained(staging)
        result = _reloaded_parity(tf, model_class, staging, model, settings, ctc_order(model.config.vocab_size, blank))
        if out.exists():
            out.rmdir()  # checked empty above
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"out": str(out.resolve()), "family": family, "model_type": config_dict["model_type"],
            "vocab_size": model.config.vocab_size, "front_end": settings["kind"], "parity": result}


def ctc_order(vocab_size: int, blank: int) -> list[int]:
    """transformers id of each conprune id: the blank first, every other id in its order."""
    return [blank] + [i for i in range(vocab_size) if i != blank]


def _front_end(cmvn: dict | None, family: str, model_path: str | Path) -> dict:
    """The model's stored front end as the family's feature-extractor settings, or a one-line refusal."""
    kind = (cmvn or {}).get("kind", "logmel")
    if kind == "logmel":
        raise ConpruneError(f"{model_path} uses conprune's log-mel front end with global CMVN, which no transformers "
                            f"feature extractor computes: train with data.front_end.kind {family} to export to "
                            "transformers, or export with --format onnx")
    if kind != family:
        raise ConpruneError(f"{model_path} has a {kind} front end but a {family} encoder: transformers' {family} "
                            f"processor needs the {family} feature extractor; export with --format onnx")
    return hf_settings(cmvn)


def _reloaded_parity(tf: Any, model_class: type, staging: Path, model: Any, settings: dict,
                     order: list[int]) -> dict[str, Any]:
    """Load the staged directory as a transformers user would and compare it with `model`."""
    reloaded = model_class.from_pretrained(staging, dtype=torch.float32).eval()
    extractor = tf.AutoFeatureExtractor.from_pretrained(staging)
    tokenizer = tf.AutoTokenizer.from_pretrained(staging)
    if len(tokenizer) != model.config.vocab_size:
        raise ConpruneError(f"the exported tokenizer loads with {len(tokenizer)} tokens, the CTC head has "
                            f"{model.config.vocab_size} rows; nothing was written")
    result = parity(reloaded, extractor, model, settings, order)
    if result.problem or not result.max_abs_log_prob <= PARITY_BOUND:
        raise ConpruneError(f"the exported checkpoint does not compute what the conprune model computes "
                            f"({result.problem or f'max |log-prob difference| {result.max_abs_log_prob:.3g}'}); "
                            "nothing was written")
    return result.as_dict()
