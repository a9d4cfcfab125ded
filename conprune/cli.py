"""The `conprune` command: one table of verbs (`COMMANDS`).

`fit`, `validate`, `test` and `predict` go to LightningCLI (configs in experiments/*.yaml); every
other verb is a plain command whose options and handler live in `conprune.commands`. A group
(`conprune data synth`) is a nested table. Bad input the user can fix (`ConpruneError`) is printed
as one `error:` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass

from conprune import commands as c
from conprune.commands import lm
from conprune.errors import ConpruneError, config_error, one_line

LIGHTNING_COMMANDS = {"fit", "validate", "test", "predict"}


def run_lightning(argv: list[str]):
    """LightningCLI with our defaults: vocab linked from the tokenizer size, our own sampler."""
    from jsonargparse import ArgumentError
    from lightning.pytorch.cli import LightningCLI

    from conprune.lit.callbacks.dashboard import SaveConfigToLoggers
    from conprune.lit.config_files import expand_bases
    from conprune.lit.datamodule import LibriSpeechDataModule
    from conprune.lit.loggers import drop_disabled_wandb
    from conprune.lit.run_dir import relocate_run

    class ConpruneCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.num_pieces", "model.init_args.vocab_size",
                                  compute_fn=lambda n: n + 1, apply_on="parse")
            parser.set_defaults({"trainer.use_distributed_sampler": False})
            parser.add_argument("--run_dir", type=str | None, default=None,
                                help="write every output of this stage (checkpoints, logs) under this directory")
            parser.add_argument("--bases", type=list[str] | str | None, default=None,
                                help="in a config file: the configs it overlays (merged before it)")

        def before_instantiate_classes(self) -> None:
            config = self.config[self.subcommand] if self.subcommand else self.config
            if config.get("run_dir"):
                relocate_run(config, config.run_dir)
            config.trainer.logger = drop_disabled_wandb(config.trainer.logger)

    try:  # exit_on_error=False: a bad YAML key or type becomes one error line, not a usage dump
        return ConpruneCLI(datamodule_class=LibriSpeechDataModule, subclass_mode_model=True, args=expand_bases(argv),
                           save_config_callback=SaveConfigToLoggers, save_config_kwargs={"overwrite": True},
                           auto_configure_optimizers=False,
                           parser_kwargs={"exit_on_error": False})
    except ArgumentError as exc:
        raise config_error(str(exc)) from None


@dataclass(frozen=True)
class Verb:
    """One plain command: its help line, what declares its options, what runs it."""

    help: str
    arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], None]


COMMANDS: dict[str, Verb | dict[str, Verb]] = {
    "data": {
        "synth": Verb("synthesise the embedded LibriSpeech-layout corpus", c.synth_args, c.synth),
        "prepare": Verb("write one JSONL manifest per split", c.prepare_args, c.prepare),
        "download": Verb("download + verify + extract LibriSpeech from OpenSLR", c.download_args, c.download),
    },
    "tokenizer": Verb("train the SentencePiece unigram tokenizer", c.tokenizer_args, c.tokenizer),
    "import": {
        "hf": Verb("a transformers Parakeet/LASR CTC checkpoint as a teacher model file (parity-checked)",
                   c.import_hf_args, c.import_hf),
    },
    "compact": Verb("cut a pruned checkpoint into a standalone smaller model file", c.compact_args, c.compact),
    "baseline": Verb("magnitude / random structured pruning to a student's shapes", c.baseline_args, c.baseline),
    "evaluate": Verb("WER, params, MACs, latency and kept structure of a model", c.evaluate_args, c.evaluate),
    "transcribe": Verb("print the transcript of each audio file", c.transcribe_args, c.transcribe),
    "export": Verb("export a model file: ONNX with its tokenizer and front end, or a transformers checkpoint (hf)",
                   c.export_args, c.export),
    "quantize": Verb("int8 copy of an exported ONNX model (dynamic, or static calibrated on utterances)",
                     c.quantize_args, c.quantize),
    "bench": Verb("side-by-side speed ratios -> bench/results.json", c.bench_args, c.bench),
    "step-ratio": Verb("prune-stage step time / teacher step time, same batch", c.step_ratio_args, c.step_ratio),
    "report": Verb("method x target summary.json, table, plots, W&B -> results/<schedule>/", c.report_args, c.report),
    "voices": Verb("WER per split and per voice of a test run's predictions", c.voices_args, c.voices),
    "build-lm": Verb("KenLM n-gram of the embedded corpus's text minus dev/test (`make lm`)", lm.build_lm_args,
                     lm.build_lm),
    "tune-lm": Verb("LM weight and word score on dev, stored in the model file", lm.tune_lm_args, lm.tune_lm),
    "prune-summary": Verb("what a prune run reached: sparsity vs target, dev WER vs teacher",
                          c.prune_summary_args, c.prune_summary),
    "readme": Verb("regenerate the result sections of README.md and docs/*.md", c.readme_args, c.readme),
    "stage": Verb("one stage's `conprune fit` into a run directory: overlays, resume, DONE stamp", c.stage_args,
                  c.stage),
    "sweep": Verb("every method at every target (and seed) under RUNS/sweep/, with equal budgets", c.sweep_args,
                  c.sweep),
    "ship-teacher": Verb("package a teacher run as pretrained/<name>/ with a measured model card",
                         c.ship_teacher_args, c.ship_teacher),
    "card-lm": Verb("add LM-decoded WER (`evaluate --decoder beam` results) to a shipped teacher's card",
                    c.card_lm_args, c.card_lm),
}


def build_parser() -> argparse.ArgumentParser:
    """argparse for the plain verbs (the Lightning ones only get a help line here)."""
    parser = argparse.ArgumentParser(prog="conprune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in sorted(LIGHTNING_COMMANDS):
        sub.add_parser(name, help=f"LightningCLI {name} (see `conprune {name} --help`)", add_help=False)
    for name, entry in COMMANDS.items():
        if isinstance(entry, Verb):
            entry.arguments(sub.add_parser(name, help=entry.help))
            continue
        group = sub.add_parser(name, help=f"{name}: " + ", ".join(entry)).add_subparsers(dest="verb", required=True)
        for verb, item in entry.items():
            item.arguments(group.add_parser(verb, help=item.help))
    return parser


def run_plain(args: argparse.Namespace) -> None:
    entry = COMMANDS[args.command]
    (entry if isinstance(entry, Verb) else entry[args.verb]).run(args)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS:
            run_lightning(argv)
        else:
            run_plain(build_parser().parse_args(argv))
    except ConpruneError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
