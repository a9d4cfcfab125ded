"""`conprune import hf SOURCE --out teacher.pt`: a transformers Conformer-CTC checkpoint as a conprune teacher.

SOURCE is a directory written by `save_pretrained` (model, tokenizer, feature extractor) or a Hub
name, which is handed to transformers' own `from_pretrained` (conprune fetches nothing itself).
Everything is checked before anything is written, cheapest first: the architecture from the config
alone (a transducer or another model is refused before any weight is read), the family's options on
a weightless (meta-device) model, the tokenizer against the CTC head (blank = the pad token, one
token per row, the head's row order), the feature extractor against what conprune reproduces, then
the weights, and last the parity of the whole recogniser on three waveforms (`hf_parity`): only a
model that transcribes as it did in transformers becomes a teacher. The model file stores the
tokenizer.json bytes and the front-end settings, so every later stage and `conprune transcribe`
run without transformers; a copy of the tokenizer.json is written beside it for `data.tokenizer`
(the prune stage compares the two byte for byte).
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from conprune.data.hf_features import SAMPLE_RATE, stored_front_end
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError, first_line
from conprune.interop.hf_parity import CLASSES, parity, require_transformers
from conprune.interop.hf_weights import FAMILIES, from_hf
from conprune.io_atomic import atomic_write_bytes
from conprune.models.conformer import ConformerCTC
from conprune.models.package import save_model

TRANSDUCERS = ("parakeet_rnnt", "parakeet_tdt")
EXTRACTORS = {"ParakeetFeatureExtractor": "parakeet", "LasrFeatureExtractor": "lasr"}
EXTRACTOR_FILES = ("preprocessor_config.json", "processor_config.json")  # the second: a processor's save
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "spiece.model", "tokenizer.model")
PARITY_BOUND = 1e-3  # max |log-prob difference| accepted; measured values are ~1e-6 (docs/operations.md)


def import_hf(source: str, out: str | Path, tokenizer_out: str | Path | None = None) -> dict[str, Any]:
    """Check SOURCE through and through, then write the teacher model file `out` and its
    tokenizer.json (`tokenizer_out`, default beside `out`); returns a JSON-able summary."""
    tf = require_transformers()
    out = Path(out)
    tokenizer_out = Path(tokenizer_out) if tokenizer_out else out.with_name(f"{out.stem}.tokenizer.json")
    raw = _config(tf, source)
    cls = getattr(tf, CLASSES[FAMILIES[raw["model_type"]]][0])
    config = _check_options(cls, raw, source)
    tokenizer = _tokenizer(tf, source, config)
    settings, extractor = _front_end(tf, source, config)
    hf_model = _load(cls, source)
    imported = from_hf(hf_model.config.to_dict(), hf_model.state_dict())
    if tokenizer.hf.to_ctc_order() != imported.token_order:
        raise ConpruneError(f"{source}: the tokenizer's id order does not match the CTC head's rows; pass the "
                            "tokenizer the checkpoint was saved with")
    model = ConformerCTC(imported.config)
    model.load_state_dict(imported.state_dict, strict=True)
    result = parity(hf_model, extractor, model, settings, imported.token_order)
    if result.problem or not result.max_abs_log_prob <= PARITY_BOUND:
        raise ConpruneError(f"{source}: conprune does not compute what transformers computes "
                            f"({result.problem or f'max |log-prob difference| {result.max_abs_log_prob:.3g}'}, "
                            f"bound {PARITY_BOUND:g}); nothing was written")
    meta = {"source": _where(source), "model_type": config["model_type"], "transformers_version": tf.__version__,
            "parity_max_abs_log_prob": result.max_abs_log_prob, "dense_config": imported.config.to_dict(),
            "stage": "imported"}
    _write(out, tokenizer_out, model, tokenizer.model_proto, settings, meta)
    return {"out": str(out.resolve()), "tokenizer": str(tokenizer_out.resolve()), "model_type": config["model_type"],
            "params": model.count_params(), "vocab_size": imported.config.vocab_size, "front_end": settings,
            "parity": result.as_dict(), "fit_args": fit_args(settings, tokenizer_out, imported.config.vocab_size, out)}


def fit_args(settings: dict, tokenizer_path: Path, vocab_size: int, teacher: Path) -> str:
    """The `conprune fit` arguments that make a stage's data match the imported teacher."""
    group = ", ".join(f"{k}: {settings[k]}" for k in ("kind", "feature_size", "n_fft", "win_length", "preemphasis"))
    return (f"--model.init_args.teacher_ckpt {teacher} --data.tokenizer {tokenizer_path} "
            f"--data.num_pieces {vocab_size - 1} --data.front_end '{{{group}, lifter: 0, utterance_cmn: false}}'")


def _where(source: str) -> str:
    path = Path(source)
    return str(path.resolve()) if path.exists() else source


def _config(tf: ModuleType, source: str) -> dict[str, Any]:
    """The checkpoint's raw config dict, its architecture checked (no weights read yet)."""
    path = Path(source)
    if path.is_dir() and not (path / "config.json").is_file():
        raise ConpruneError(f"not a transformers checkpoint (no config.json): {source}; pass a directory written "
                            "by save_pretrained or a Hub model name")
    if not path.exists() and (path.is_absolute() or source.startswith((".", "~"))):
        raise ConpruneError(f"{source} not found: pass a directory written by save_pretrained or a Hub model name")
    if path.is_file():
        raise ConpruneError(f"not a transformers checkpoint (a file, not a directory): {source}; pass the "
                            "directory save_pretrained wrote or a Hub model name")
    try:
        config, _ = tf.PreTrainedConfig.get_config_dict(source)
    except (OSError, ValueError) as exc:
        raise ConpruneError(f"cannot read {source} as a transformers checkpoint directory or Hub model "
                            f"({type(exc).__name__}: {first_line(exc)})") from exc
    model_type = config.get("model_type")
    if model_type in TRANSDUCERS:
        raise ConpruneError(f"only CTC heads; {source} is a {model_type} (transducer) checkpoint: conprune prunes "
                            "Conformer-CTC models, so pass a CTC checkpoint (e.g. nvidia/parakeet-ctc-0.6b)")
    if model_type not in FAMILIES:
        raise ConpruneError(f"unsupported architecture {model_type}; supported: {', '.join(sorted(FAMILIES))} "
                            f"({source}/config.json)")
    return config


def _check_options(cls: type, config: dict[str, Any], source: str) -> dict[str, Any]:
    """The config dict with transformers' defaults filled in, after mapping a weightless copy of the
    model (meta device): an option conprune cannot express is refused before the weights are read."""
    try:
        hf_config = cls.config_class.from_dict(config)
        with torch.device("meta"):
            skeleton = cls(hf_config)
    except Exception as exc:  # transformers' config checks raise ValueError, TypeError or its own errors
        raise ConpruneError(f"{source}/config.json: transformers cannot build the model it describes "
                            f"({type(exc).__name__}: {first_line(exc)})") from exc
    try:
        from_hf(hf_config.to_dict(), skeleton.state_dict())
    except ConpruneError as exc:
        raise ConpruneError(f"{source}/config.json: {exc}") from None
    return hf_config.to_dict()


def _load(cls: type, source: str) -> torch.nn.Module:
    """The checkpoint's model in float32, eval mode. A tensor the files lack would be initialised at
    random by transformers with only a warning, and both sides of the parity check would share it,
    so a missing or misshapen tensor is refused here."""
    try:
        model, info = cls.from_pretrained(source, dtype=torch.float32, output_loading_info=True)
    except Exception as exc:  # OSError (files), ValueError/RuntimeError (contents), safetensors' own errors
        raise ConpruneError(f"{source}: transformers cannot load its weights ({type(exc).__name__}: "
                            f"{first_line(exc)}); pass a complete save_pretrained directory") from exc
    bad = sorted(info["missing_keys"]) + sorted(str(k[0]) for k in info["mismatched_keys"])
    if bad:
        raise ConpruneError(f"{source}: its weights lack or misshape {len(bad)} tensor(s) of the model, e.g. "
                            f"{bad[0]!r}; pass a complete save_pretrained directory")
    return model.eval()


def _tokenizer(tf: ModuleType, source: str, config: dict[str, Any]) -> Tokenizer:
    """The checkpoint's tokenizer.json as conprune's Tokenizer, checked against the CTC head."""
    path = Path(source)
    if path.is_dir() and (path / "tokenizer.json").is_file():
        data = (path / "tokenizer.json").read_bytes()
    elif path.is_dir() and not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ConpruneError(f"{source} has no tokenizer (tokenizer.json): save the checkpoint's tokenizer or "
                            "processor into it (processor.save_pretrained(DIR))")
    else:
        try:
            data = tf.AutoTokenizer.from_pretrained(source).backend_tokenizer.to_str().encode("utf-8")
        except Exception as exc:  # AutoTokenizer raises OSError, ValueError or AttributeError (no backend)
            raise ConpruneError(f"{source}: no tokenizer.json could be read ({type(exc).__name__}: "
                                f"{first_line(exc)}); save the checkpoint's tokenizer with it") from exc
    tokenizer = Tokenizer(model_proto=data)
    if tokenizer.hf is None:
        raise ConpruneError(f"{source}: its tokenizer is not a tokenizer.json; save the checkpoint's tokenizer "
                            "with transformers >= 5 (which writes one)")
    vocab, pad = config["vocab_size"], config["pad_token_id"]
    if tokenizer.hf.blank != pad:
        raise ConpruneError(f"{source}: the tokenizer's blank (pad token) is id {tokenizer.hf.blank} but config.json "
                            f"has pad_token_id {pad}; pass the tokenizer the checkpoint was trained with")
    if tokenizer.vocab_size != vocab:
        raise ConpruneError(f"{source}: the tokenizer has {tokenizer.vocab_size} tokens but the CTC head has "
                            f"{vocab} rows (config.json vocab_size); pass the checkpoint's own tokenizer")
    return tokenizer


def _front_end(tf: ModuleType, source: str, config: dict[str, Any]) -> tuple[dict, Any]:
    """(stored front-end settings, transformers' feature extractor) of the checkpoint."""
    path = Path(source)
    if path.is_dir() and not any((path / name).is_file() for name in EXTRACTOR_FILES):
        raise ConpruneError(f"{source} has no preprocessor_config.json (the feature extractor): save the "
                            "checkpoint's processor into it (processor.save_pretrained(DIR))")
    try:
        extractor = tf.AutoFeatureExtractor.from_pretrained(source)
    except Exception as exc:  # OSError for a missing file, ValueError for an unknown class
        raise ConpruneError(f"{source}: transformers cannot load its feature extractor ({type(exc).__name__}: "
                            f"{first_line(exc)})") from exc
    where = f"{source}/preprocessor_config.json"
    kind = EXTRACTORS.get(type(extractor).__name__)
    if kind is None:
        raise ConpruneError(f"{where}: feature extractor {type(extractor).__name__} is not one conprune reproduces "
                            f"({', '.join(EXTRACTORS)})")
    if extractor.sampling_rate != SAMPLE_RATE:
        raise ConpruneError(f"{where}: sampling_rate is {extractor.sampling_rate}; conprune's stages read 16 kHz "
                            "audio, so only a 16000 Hz front end imports")
    values = {"kind": kind, "feature_size": extractor.feature_size, "n_fft": extractor.n_fft,
              "win_length": extractor.win_length, "hop_length": extractor.hop_length,
              "preemphasis": float(getattr(extractor, "preemphasis", None) or 0.0)}  # null: none, stored as 0.0
    try:
        settings = stored_front_end(values)
    except ConpruneError as exc:
        raise ConpruneError(f"{where}: {exc}") from None
    input_dim = config["encoder_config"]["num_mel_bins"]
    if settings["feature_size"] != input_dim:
        raise ConpruneError(f"{where}: feature_size is {settings['feature_size']} but the encoder reads "
                            f"num_mel_bins={input_dim} features; pass the checkpoint's own feature extractor")
    return settings, extractor


def _write(out: Path, tokenizer_out: Path, model: ConformerCTC, tokenizer: bytes, settings: dict,
           meta: dict[str, Any]) -> None:
    """The model file and the tokenizer copy, both written under temporary names first and renamed
    only when both are complete, so an error leaves neither (nor a changed older copy)."""
    staged = [(out.with_name(f".{out.name}.import-{os.getpid()}"), out),
              (tokenizer_out.with_name(f".{tokenizer_out.name}.import-{os.getpid()}"), tokenizer_out)]
    try:
        save_model(staged[0][0], model, tokenizer, settings, meta)
        atomic_write_bytes(staged[1][0], tokenizer, "tokenizer")
        for temporary, final in staged:
            os.replace(temporary, final)
    finally:
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
