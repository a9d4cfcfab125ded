"""Our Lightning checkpoints: what they carry beside the weights, one writer, safe readers.

Every CTC stage checkpoint holds `state_dict` (`model.*` weights) and `conprune`: the model
config, the tokenizer it was trained with and the CMVN + front-end settings (`conprune_extra`).
A prune-stage checkpoint adds the gates (`gates.*` log α, `kept_counts`, `hyper_parameters.gates`).
Readers use `weights_only=True`, so no pickled code runs on load.
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import torch

from conprune.data.features import front_end_settings
from conprune.errors import ConpruneError, first_line
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.package import FORMAT as MODEL_FORMAT
from conprune.models.package import load_model, safe_load
from conprune.pruning.gates import ConformerGates


def conprune_extra(config: ConformerConfig, tokenizer_proto: bytes | None, cmvn: dict | None) -> dict:
    """The `conprune` entry of a CTC checkpoint: model config, tokenizer, CMVN and front end."""
    extra: dict = {"model_config": config.to_dict()}
    if tokenizer_proto is not None:
        extra["tokenizer"] = bytes(tokenizer_proto)
    if cmvn is not None:
        extra["cmvn"] = dict(cmvn)
    return extra


def save_ctc_checkpoint(path: str | Path, model: ConformerCTC, tokenizer_proto: bytes | None = None,
                        cmvn: dict | None = None, hyper_parameters: dict | None = None) -> Path:
    """Write a teacher-stage checkpoint of `model` outside of Lightning (what `conprune fit` of the
    teacher stage writes, minus optimizer and loop state): for tools and tests that need one."""
    return _write_checkpoint(path, _prefixed("model", model.state_dict()),
                             conprune_extra(model.config, tokenizer_proto, cmvn), hyper_parameters)


def save_prune_checkpoint(path: str | Path, model: ConformerCTC, gates: ConformerGates,
                          tokenizer_proto: bytes | None = None, cmvn: dict | None = None,
                          gate_hparams: dict | None = None,
                          extra_state: Mapping[str, torch.Tensor] | None = None) -> Path:
    """Write a prune-stage checkpoint of the dense student `model` and its `gates` outside of Lightning.

    It holds what `conprune compact` and the prune summary read from the prune stage's checkpoints:
    the gates' log α (`gates.*`), `stage` and `kept_counts` under `conprune`, and the stage's
    `gates` argument (β, stretch) as `hyper_parameters.gates`; so an export can be checked against
    the gated student without a pruning run. `extra_state` is the rest of the stage's module state
    (e.g. `lagrangian.*`), which a real checkpoint carries and every reader but a resumed fit ignores.
    """
    state = {**_prefixed("model", model.state_dict()), **_prefixed("gates", gates.state_dict()),
             **dict(extra_state or {})}
    extra = {**conprune_extra(model.config, tokenizer_proto, cmvn), "stage": "prune",
             "kept_counts": gates.kept_counts()}
    return _write_checkpoint(path, state, extra, {"gates": dict(gate_hparams or {})})


def _prefixed(prefix: str, state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A submodule's state under its attribute name, as the stage modules' state_dict holds it."""
    return {f"{prefix}.{k}": v for k, v in state.items()}


def _write_checkpoint(path: str | Path, state_dict: dict, extra: dict, hyper_parameters: dict | None) -> Path:
    """The checkpoint layout the readers below accept (`global_step` 0: nothing was trained)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": state_dict, "conprune": extra, "hyper_parameters": dict(hyper_parameters or {}),
                "global_step": 0}, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """torch.load with weights_only=True and a clear error for a missing or foreign file."""
    ckpt = safe_load(path, "checkpoint", "train the teacher first (`make teacher`) or fix "
                     "model.init_args.teacher_ckpt", "is it a conprune checkpoint?")
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt or "conprune" not in ckpt:
        raise ConpruneError(f"{path} is not a conprune checkpoint (no state_dict/model config); pass a "
                            "checkpoint written by `conprune fit`")
    return ckpt


def load_ctc_model(path: str | Path, vocab_size: int | None = None) -> tuple[ConformerCTC, dict]:
    """The dense model of a teacher (or any CTC stage) checkpoint and its `conprune` extras.

    `path` may also be a standalone model file (`conprune compact`, or a shipped teacher under
    pretrained/): its config, tokenizer, CMVN and training-data fingerprint become the extras.
    `vocab_size`, when given, must match the model: a teacher trained with another tokenizer
    would decode garbage without any error otherwise.
    """
    if is_model_file(path):
        model, info = load_model(path)
        if vocab_size is not None and model.config.vocab_size != vocab_size:
            raise ConpruneError(f"model file {path} has vocabulary {model.config.vocab_size} but the data's "
                                f"tokenizer gives {vocab_size} (num_pieces + blank): use the tokenizer it was "
                                f"trained with (data.tokenizer)")
        meta = info["meta"]
        extra = {"model_config": info["config"], "tokenizer": info["tokenizer"], "cmvn": info["cmvn"], "meta": meta}
        if "train_data" in meta:
            extra["train_data"] = meta["train_data"]
        return model.train(), extra
    ckpt = load_checkpoint(path)
    return model_from_checkpoint(ckpt, path, vocab_size), ckpt["conprune"]


def is_model_file(path: str | Path) -> bool:
    """True for a standalone model file (`models.package` format), False for anything else (a
    checkpoint, a missing or unreadable file: their readers report those in their own words)."""
    if not zipfile.is_zipfile(path):  # every torch.save file is a zip archive
        return False
    try:
        content = safe_load(path, "file", "", "")
    except ConpruneError:
        return False
    return isinstance(content, dict) and content.get("format") == MODEL_FORMAT


def model_from_checkpoint(ckpt: dict, path: str | Path, vocab_size: int | None = None) -> ConformerCTC:
    """The `model.*` weights of a loaded checkpoint in a ConformerCTC of its stored config."""
    try:
        config = ConformerConfig.from_dict(ckpt["conprune"]["model_config"])
    except (KeyError, ConpruneError) as exc:
        raise ConpruneError(f"checkpoint {path} has no valid model config ({exc}); pass a "
                            "checkpoint written by `conprune fit`") from exc
    if vocab_size is not None and config.vocab_size != vocab_size:
        raise ConpruneError(f"checkpoint {path} has vocabulary {config.vocab_size} but the data's tokenizer "
                            f"gives {vocab_size} (num_pieces + blank): use the tokenizer the teacher was "
                            "trained with (data.num_pieces)")
    model = ConformerCTC(config)
    state = {k.removeprefix("model."): v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise ConpruneError(f"checkpoint {path} weights do not fit its model config "
                            f"({first_line(exc)}); was it written by an older conprune?") from exc
    return model


def check_same_tokenizer(expected: bytes | None, datamodule, source: str | Path) -> None:
    """Refuse data whose tokenizer differs from the one `source` (a checkpoint/model file) was trained with.

    Equal vocabulary sizes are not enough: a tokenizer retrained on other text has the same size
    and different pieces, so the teacher's posteriors and the labels would silently disagree.
    Skipped when either side carries no tokenizer.
    """
    tokenizer = getattr(datamodule, "tokenizer", None)
    if expected is None or tokenizer is None or bytes(expected) == tokenizer.model_proto:
        return
    where = getattr(datamodule, "tokenizer_path", "the data's tokenizer")
    raise ConpruneError(f"tokenizer {where} is not the one {source} was trained with (same size, different "
                        "pieces): use the data.root and data.num_pieces that model was trained with")


# Statistics recomputed from the same files agree to float rounding; another corpus or split does not.
CMVN_TOLERANCE = 1e-3


def check_same_front_end(expected: dict | None, datamodule, source: str | Path) -> None:
    """Refuse data whose feature settings (`data.front_end.lifter`, `data.front_end.utterance_cmn`) or CMVN statistics
    differ from those `source` was trained with: the model would see features it never saw,
    without any error. Skipped when either side carries none (files from before these settings
    count as plain)."""
    settings = getattr(datamodule, "front_end", None)
    if expected is None or settings is None:
        return
    trained = front_end_settings(expected)
    if trained != settings:
        def listed(values: dict) -> str:
            return ", ".join(f"data.front_end.{k}={str(v).lower()}" for k, v in values.items())

        raise ConpruneError(f"{source} was trained with {listed(trained)} but this run's data has "
                            f"{listed(settings)}: set the teacher's values in this stage's config")
    cmvn = getattr(datamodule, "cmvn", None)
    if cmvn is not None and "mean" in expected and "std" in expected:
        gap = max((cmvn.mean - torch.tensor(expected["mean"])).abs().max().item(),
                  (cmvn.std - torch.tensor(expected["std"])).abs().max().item())
        if gap > CMVN_TOLERANCE:
            raise ConpruneError(f"{source} was trained with other CMVN statistics than this run's data.cmvn "
                                f"({getattr(datamodule, 'cmvn_path', '?')}, max difference {gap:.3g}): set "
                                f"data.cmvn to the statistics it was trained with (a shipped teacher's cmvn.json)")
