"""The `conprune` command.

`fit`, `validate`, `test` and `predict` go to LightningCLI (configs in experiments/*.yaml); `data`,
`tokenizer`, `compact`, `baseline`, `evaluate`, `transcribe`, `bench` and `report` are plain subcommands. Bad input the
user can fix (`ConpruneError`) is printed as one `error:` line with exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from conprune.errors import ConpruneError, config_error, one_line

LIGHTNING_COMMANDS = {"fit", "validate", "test", "predict"}


def run_lightning(argv: list[str]):
    """LightningCLI with our defaults: vocab linked from the tokenizer size, our own sampler."""
    from jsonargparse import ArgumentError
    from lightning.pytorch.cli import LightningCLI

    from conprune.data.datamodule import LibriSpeechDataModule
    from conprune.lit.dashboard import SaveConfigToLoggers
    from conprune.lit.loggers import drop_disabled_wandb
    from conprune.lit.run_dir import relocate_run

    class ConpruneCLI(LightningCLI):
        def add_arguments_to_parser(self, parser) -> None:
            parser.link_arguments("data.num_pieces", "model.init_args.vocab_size",
                                  compute_fn=lambda n: n + 1, apply_on="parse")
            parser.set_defaults({"trainer.use_distributed_sampler": False})
            parser.add_argument("--run_dir", type=str | None, default=None,
                                help="write every output of this stage (checkpoints, logs) under this directory")

        def before_instantiate_classes(self) -> None:
            config = self.config[self.subcommand] if self.subcommand else self.config
            if config.get("run_dir"):
                relocate_run(config, config.run_dir)
            config.trainer.logger = drop_disabled_wandb(config.trainer.logger)

    try:  # exit_on_error=False: a bad YAML key or type becomes one error line, not a usage dump
        return ConpruneCLI(datamodule_class=LibriSpeechDataModule, subclass_mode_model=True, args=argv,
                           save_config_callback=SaveConfigToLoggers, save_config_kwargs={"overwrite": True},
                           auto_configure_optimizers=False,
                           parser_kwargs={"exit_on_error": False})
    except ArgumentError as exc:
        raise config_error(str(exc)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="conprune", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in sorted(LIGHTNING_COMMANDS):
        sub.add_parser(name, help=f"LightningCLI {name} (see `conprune {name} --help`)", add_help=False)
    sub.add_parser("bench", help="side-by-side speed ratios -> bench/results.json (see `conprune bench --help`)",
                   add_help=False)
    sub.add_parser("report", help="method x target table, plots, W&B -> results/demo/ (see `conprune report --help`)",
                   add_help=False)

    data = sub.add_parser("data", help="corpus: synthesise, download, prepare manifests")
    data_sub = data.add_subparsers(dest="data_command", required=True)
    synth = data_sub.add_parser("synth", help="synthesise the embedded LibriSpeech-layout corpus")
    synth.add_argument("--root", required=True, type=Path)
    size = synth.add_mutually_exclusive_group()
    size.add_argument("--hours", type=float)
    size.add_argument("--utterances", type=int)
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--text", type=Path, help="sentences to speak instead of the Debian texts")
    synth.add_argument("--workers", type=int, default=2)
    synth.add_argument("--engines", help="comma-separated subset of TTS engines")

    prep = data_sub.add_parser("prepare", help="write one JSONL manifest per split")
    prep.add_argument("--root", required=True, type=Path)
    prep.add_argument("--splits", required=True, help="comma-separated split names (train-960 alias)")
    prep.add_argument("--out", type=Path, help="manifest dir (default ROOT/manifests)")
    prep.add_argument("--workers", type=int, default=2)

    down = data_sub.add_parser("download", help="download + verify + extract LibriSpeech from OpenSLR")
    down.add_argument("--root", required=True, type=Path)
    down.add_argument("--splits", required=True)
    down.add_argument("--base-url", default=None)

    tok = sub.add_parser("tokenizer", help="train the SentencePiece unigram tokenizer")
    tok.add_argument("--root", required=True, type=Path)
    tok.add_argument("--splits", default="train-clean-100")
    tok.add_argument("--vocab-size", type=int, default=256, help="number of pieces (blank is extra)")

    comp = sub.add_parser("compact", help="cut a pruned checkpoint into a standalone smaller model file")
    comp.add_argument("--ckpt", required=True, help="prune/finetune (or teacher) Lightning checkpoint")
    comp.add_argument("--out", required=True, help="model file to write, e.g. runs/prune/model.pt")

    ev = sub.add_parser("evaluate", help="WER, params, MACs, latency and kept structure of a model")
    source = ev.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help="standalone model file from `conprune compact`")
    source.add_argument("--ckpt", help="Lightning checkpoint (compacted on the fly)")
    ev.add_argument("--data-root", default="data/synth", help="corpus root holding LibriSpeech/")
    ev.add_argument("--splits", default="dev-clean,dev-other,test-clean,test-other")
    ev.add_argument("--out", help="results JSON to write")
    ev.add_argument("--threads", type=int, default=1, help="CPU threads for the latency measurement")
    ev.add_argument("--repeats", type=int, default=10)

    base = sub.add_parser("baseline", help="magnitude / random structured pruning to a student's shapes")
    base.add_argument("--method", required=True, choices=["magnitude", "random", "dense"])
    base.add_argument("--teacher", required=True, help="teacher checkpoint to cut")
    base.add_argument("--shapes-from", required=True, help="compact student whose per-layer shapes to copy")
    base.add_argument("--out", required=True, help="model file to write")
    base.add_argument("--seed", type=int, default=0)

    tr = sub.add_parser("transcribe", help="print the transcript of each audio file")
    tr.add_argument("--model", required=True, help="standalone model file from `conprune compact`")
    tr.add_argument("files", nargs="+", help="audio files (any sample rate, mono or stereo)")
    return parser


def run_plain(args: argparse.Namespace) -> None:
    if args.command in ("compact", "baseline", "evaluate") and getattr(args, "out", None):
        from conprune.io_atomic import ensure_writable_dir

        ensure_writable_dir(Path(args.out).resolve().parent, f"{args.command} --out directory")
    if args.command == "data" and args.data_command == "synth":
        from conprune.data.synth import synthesize_corpus

        if args.hours is None and args.utterances is None:
            args.hours = 2.0
        engines = args.engines.split(",") if args.engines else None
        out = synthesize_corpus(args.root, hours=args.hours, utterances=args.utterances, seed=args.seed,
                                text_file=args.text, workers=args.workers, engines=engines)
        print(f"corpus written to {out}")
    elif args.command == "data" and args.data_command == "prepare":
        from conprune.data.librispeech import prepare

        stats = prepare(args.root, args.splits.split(","), out_dir=args.out, workers=args.workers)
        for split, info in stats.items():
            print(f"{split}: {info}")
    elif args.command == "data" and args.data_command == "download":
        from conprune.data.librispeech import download

        kwargs = {"base_url": args.base_url} if args.base_url else {}
        download(args.root, args.splits.split(","), **kwargs)
    elif args.command == "tokenizer":
        from conprune.data.librispeech import expand_splits
        from conprune.data.manifest import read_manifest
        from conprune.data.tokenizer import tokenizer_path, train_tokenizer

        manifests = args.root / "manifests"
        texts = [r["text"] for s in expand_splits(args.splits.split(","))
                 for r in read_manifest(manifests / f"{s}.jsonl")]
        print(train_tokenizer(texts, tokenizer_path(args.root, args.vocab_size), args.vocab_size))
    elif args.command == "compact":
        from conprune.lit.export import compact_command

        print(json.dumps(compact_command(args.ckpt, args.out), indent=1))
    elif args.command == "baseline":
        from conprune.lit.baseline_export import baseline_command

        summary = baseline_command(args.teacher, args.shapes_from, args.method, args.out, seed=args.seed)
        print(json.dumps({k: v for k, v in summary.items() if k != "kept"}, indent=1))
    elif args.command == "evaluate":
        from conprune.eval.evaluate import evaluate, format_summary, load_for_eval, write_results

        model, info = load_for_eval(args.model, args.ckpt)
        results = evaluate(model, info, args.data_root, args.splits.split(","), threads=args.threads,
                           repeats=args.repeats)
        results["model"] = args.model or args.ckpt
        if args.out:
            write_results(results, args.out)
        print(format_summary(results))
    elif args.command == "transcribe":
        from conprune.eval.transcribe import Transcriber, transcribe_files
        from conprune.models.package import load_model

        if transcribe_files(Transcriber(*load_model(args.model)), args.files):
            raise SystemExit(1)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        if argv and argv[0] in LIGHTNING_COMMANDS:
            run_lightning(argv)
        elif argv and argv[0] == "bench":
            from conprune.eval.bench import main as bench_main

            bench_main(argv[1:])
        elif argv and argv[0] == "report":
            from conprune.eval.report import main as report_main

            report_main(argv[1:])
        else:
            run_plain(build_parser().parse_args(argv))
    except ConpruneError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        raise SystemExit(2) from None
