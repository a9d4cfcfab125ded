"""`conprune ship-teacher`: turn a finished teacher run into `pretrained/<name>/`, measured.

The shipped teacher is a model file with fp16 storage (half the bytes; loaded back as fp32), its
tokenizer and CMVN statistics as separate files for `data.tokenizer` / `data.cmvn`, the exact
training config and CSV log, and a model card whose every number is measured here on the
shipped weights: WER per split and per voice, params, MACs, and the prune-stage step it costs.
"""

from __future__ import annotations

import argparse
import json
import platform
import shutil
from pathlib import Path

import torch

from conprune.commands.common import writable
from conprune.errors import ConpruneError
from conprune.report.logs import fit_wall_seconds, merged_log, run_logs, trained_steps

SPLITS = ("dev-clean", "dev-other", "test-clean", "test-other")
# The 20-minute demo teacher before the shipped one (experiments/teacher.yaml at 4x, 6 x 176): the
# prune stage's step with the shipped teacher is compared to this model's teacher step.
REFERENCE = {"preset": "demo", "overrides": {"dropout": 0.0, "attn_dropout": 0.0, "num_layers": 6, "d_model": 176,
                                             "ffn_dim": 704, "conv_channels": 176}}


def ship_teacher_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--run", required=True, type=Path, help="teacher run directory (holds checkpoints/best.ckpt)")
    p.add_argument("--data", required=True, type=Path, help="corpus root it was trained on (evaluation splits)")
    p.add_argument("--name", required=True, help="name of the shipped teacher, e.g. demo-teacher-v1")
    p.add_argument("--out", type=Path, help="output directory (default pretrained/NAME)")
    p.add_argument("--command", dest="reproduce", default="make teacher PROFILE=long && make ship-teacher",
                   help="the command that reproduces it, for the card")
    p.add_argument("--synth-command", default="conprune data synth --root data/synth --hours 5 "
                   "--test-utterances 1000 --extra-train-hours 20", help="how its corpus was made, for the card")


def ship_teacher(args: argparse.Namespace) -> None:
    from conprune.measure.evaluate import evaluate, load_for_eval
    from conprune.models.package import save_model
    from conprune.report.model_card import build_card, write_card
    from conprune.report.voices import wer_table
    from conprune.stages.checkpoint_io import load_ctc_model

    out = args.out or Path("pretrained") / args.name
    writable(out / "card.json", "ship-teacher --out directory")
    ckpt = args.run / "checkpoints" / "best.ckpt"
    model, extra = load_ctc_model(ckpt)
    if "tokenizer" not in extra or "cmvn" not in extra or "train_data" not in extra:
        raise ConpruneError(f"{ckpt} lacks its tokenizer, CMVN or training-data fingerprint; ship a checkpoint "
                            f"written by `conprune fit` of the teacher stage")
    training = _training(args.run, args.reproduce)
    meta = {"name": args.name, "stage": "teacher", "train_data": extra["train_data"],
            "train_steps": training["steps"]}
    save_model(out / "model.pt", model.eval(), extra["tokenizer"], extra["cmvn"], meta, storage_dtype=torch.float16)
    (out / "tokenizer.model").write_bytes(bytes(extra["tokenizer"]))
    (out / "cmvn.json").write_text(json.dumps(extra["cmvn"]) + "\n")
    fit_configs = [log.parent / "config.yaml" for log in run_logs(args.run) if (log.parent / "config.yaml").is_file()]
    if fit_configs:  # the fit as launched (a resumed part's config adds only its ckpt_path)
        shutil.copyfile(fit_configs[0], out / "config.yaml")
    (out / "train_log.csv").write_text(merged_log(args.run))
    shipped, info = load_for_eval(str(out / "model.pt"))
    results = evaluate(shipped, info, args.data, list(SPLITS), predictions=out / "predictions")
    voices = wer_table(out / "predictions", args.data)
    data = {"train_splits": extra["train_data"], "synth_command": args.synth_command}
    card = build_card(args.name, results, voices, training, data, _step_cost(out / "model.pt"))
    meta.update(dev_wer=card["dev_wer"], test_wer=card["test_wer"])  # what a later stage compares against
    save_model(out / "model.pt", model.eval(), extra["tokenizer"], extra["cmvn"], meta, storage_dtype=torch.float16)
    write_card(out, card, voices)
    print(json.dumps({k: card[k] for k in ("test_clean_wer", "test_other_wer", "dev_clean_wer", "dev_other_wer",
                                           "params", "train_steps", "train_wall_s")}, indent=1))


def _training(run: Path, command: str) -> dict:
    """Steps (from the CSV log), wall time (from the DONE stamp) and hardware of a finished run."""
    steps, wall = trained_steps(run), fit_wall_seconds(run)
    if wall is None or not steps:
        raise ConpruneError(f"{run} is not a finished run (no DONE stamp or no CSV log); let `make teacher` finish")
    cores = torch.get_num_threads()
    return {"steps": steps, "wall_s": int(wall), "command": command,
            "hardware": f"{platform.machine()} CPU, {cores} threads, torch {torch.__version__}"}


def _step_cost(model_file: Path) -> dict:
    """The prune-stage step with the shipped teacher, against the previous demo teacher's step."""
    from conprune.lit.step_ratio import step_ratio
    from conprune.models.config import build_config

    reference = build_config(REFERENCE["preset"], 65, REFERENCE["overrides"])
    ratio = step_ratio(str(model_file), reference=reference)
    return {"prune_step_ratio": ratio["prune_step_ratio"],
            "prune_step_vs_reference_teacher_step": ratio["prune_step_vs_reference_teacher_step"],
            "prune_step_reference": "6 x 176, 4x subsampling, 4.4 M parameters, measured side by side"}


def card_lm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dir", required=True, type=Path, help="the shipped teacher's directory (holds card.json)")
    p.add_argument("--results", required=True, nargs="+", type=Path,
                   help="`conprune evaluate --decoder beam` results JSON of its weights (one setting, any splits)")


def card_lm(args: argparse.Namespace) -> None:
    """Add the LM-decoded WER to a shipped teacher's card and regenerate its README.md, so the card
    shows greedy and LM WER side by side without re-training or re-shipping the teacher."""
    from conprune.report.model_card import lm_block, write_card

    card_file = args.dir / "card.json"
    if not card_file.is_file():
        raise ConpruneError(f"{card_file} is missing: pass the directory `conprune ship-teacher` wrote")
    card = json.loads(card_file.read_text())
    results = []
    for path in args.results:
        if not path.is_file():
            raise ConpruneError(f"{path} is missing: write it with `conprune evaluate --decoder beam --out {path}`")
        results.append(json.loads(path.read_text()))
    try:
        card["lm"] = lm_block(results, card["params"])
    except (KeyError, ValueError) as exc:
        raise ConpruneError(f"card-lm --results: {exc}") from None
    write_card(args.dir, card, card["wer_by_voice"])
    print(json.dumps(card["lm"], indent=1))
