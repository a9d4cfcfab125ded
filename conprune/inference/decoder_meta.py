"""The decoder settings a model file carries, and how a command's options override them.

`conprune tune-lm` chooses the LM weight and word score on dev and stores them, with the beam
widths and the LM they were tuned with (its path and sha256), in the model file itself: a `.pt`
file's `meta["decoder"]`, an exported `.onnx` file's `conprune_decoder` metadata entry. So the
values travel with the model: `conprune evaluate` and `conprune transcribe` take them as defaults
for `--decoder beam`, each option overriding one. Weights tuned for one LM mean nothing for
another, so they apply only while the LM file has the hash they were tuned with.

tune-lm writes the model file in place (or to `--out`, a copy), atomically: the whole file is
rewritten to a temporary name, fsynced and renamed over the old one, so a reader sees the old
file or the new one; the weights, tokenizer and front end are written back unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from conprune.errors import ConpruneError
from conprune.inference.lm_decoder import BeamSettings
from conprune.io_atomic import atomic_open

log = logging.getLogger(__name__)

ONNX_KEY = "conprune_decoder"
OPTIONS = ("beam", "beam_token", "beam_threshold", "lm_weight", "word_score")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def tuned_decoder(info: dict) -> dict | None:
    """The decoder entry `tune-lm` stored in a loaded model's info, if any."""
    entry = (info.get("meta") or {}).get("decoder")
    return entry if isinstance(entry, dict) else None


def resolve(info: dict, decoder: str | None, lm: str | None, options: dict) -> tuple[str | None, BeamSettings] | None:
    """(LM path or None, settings) to beam-search with, or None for greedy decoding.

    `decoder` None means beam when an LM is given, greedy otherwise. `options` maps OPTIONS to a
    value or None (not given); a given value wins over the model's tuned one, which wins over the
    built-in default. Without `lm`, the LM the model was tuned with is used.
    """
    given = {k: v for k, v in options.items() if v is not None}
    kind = decoder or ("beam" if lm else "greedy")
    if kind == "greedy":
        if lm or given:
            named = "--lm" if lm else "--" + next(iter(given)).replace("_", "-")
            raise ConpruneError(f"{named} applies to beam search: add --decoder beam (or drop {named})")
        return None
    tuned = tuned_decoder(info)
    if lm is None and tuned and tuned.get("lm"):
        lm = tuned["lm"]
        if not Path(lm).is_file():
            raise ConpruneError(f"the model was tuned with LM file {lm}, which is not there: build it with `make lm` "
                                "or pass --lm")
    base = {}
    if tuned and lm:
        if file_sha256(lm) == tuned.get("lm_sha256"):
            base = {k: tuned[k] for k in OPTIONS if k in tuned}
        else:
            log.warning("LM %s is not the one the model's decoder settings were tuned with (%s): using the "
                        "untuned defaults; run `conprune tune-lm` for this LM", lm, tuned.get("lm"))
    return lm, BeamSettings(**{**base, **given})


def write_decoder(model_path: str | Path, entry: dict, out: str | Path | None = None) -> Path:
    """Store `entry` as the decoder settings of the model file `model_path`, written to `out`
    (default: in place), atomically."""
    model_path, out = Path(model_path), Path(out or model_path)
    if model_path.suffix == ".onnx":
        import onnx

        proto = onnx.load(str(model_path))
        kept = [p for p in proto.metadata_props if p.key != ONNX_KEY]
        del proto.metadata_props[:]
        proto.metadata_props.extend(kept)
        prop = proto.metadata_props.add()
        prop.key, prop.value = ONNX_KEY, json.dumps(entry)
        with atomic_open(out, "wb", "model file") as fh:
            fh.write(proto.SerializeToString())
        return out
    import torch

    from conprune.models.package import read_package

    package = read_package(model_path)
    package["meta"] = {**(package.get("meta") or {}), "decoder": entry}
    with atomic_open(out, "wb", "model file") as fh:
        torch.save(package, fh)
    return out
