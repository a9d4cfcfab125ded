"""`conprune data synth|prepare|download` and `conprune tokenizer`: making and reading a corpus."""

from __future__ import annotations

import argparse
from pathlib import Path

from conprune.errors import ConpruneError


def synth_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, type=Path)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--hours", type=float, help="hours of the training split train-clean-100")
    size.add_argument("--utterances", type=int, help="utterances of train-clean-100 (instead of --hours)")
    p.add_argument("--dev-utterances", type=int, help="utterances per dev split (default 4.4 %% of train)")
    p.add_argument("--test-utterances", type=int, help="utterances per test split (default 4.4 %% of train); "
                   "growing it never changes the training split")
    p.add_argument("--extra-train-hours", type=float, default=0.0,
                   help="hours of a second training split, train-clean-360 (more sentences, same voices)")
    p.add_argument("--confirm-utterances", type=int,
                   help="utterances per confirmation split, test-confirm-clean/-other (default 500, 0: none): "
                   "a text and voice settings no other split uses, for reporting only")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--text", type=Path, help="sentences to speak instead of the Debian texts")
    p.add_argument("--confirm-text", type=Path,
                   help="sentences of the confirmation splits instead of Moby Dick (r-cran-tokenizers)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--engines", help="comma-separated subset of TTS engines")


def synth(args: argparse.Namespace) -> None:
    from conprune.corpus.synth import synthesize_corpus

    if args.hours is None and args.utterances is None:
        args.hours = 2.0
    engines = args.engines.split(",") if args.engines else None
    out = synthesize_corpus(args.root, hours=args.hours, utterances=args.utterances, seed=args.seed,
                            text_file=args.text, workers=args.workers, engines=engines,
                            dev_utterances=args.dev_utterances, test_utterances=args.test_utterances,
                            extra_train_hours=args.extra_train_hours, confirm_text=args.confirm_text,
                            **({} if args.confirm_utterances is None else {"confirm_utterances": args.confirm_utterances}))
    print(f"corpus written to {out}")


def prepare_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--splits", required=True,
                   help="comma-separated split names (train-960 alias), or `all`: every split directory present")
    p.add_argument("--out", type=Path, help="manifest dir (default ROOT/manifests)")
    p.add_argument("--workers", type=int, default=2)


def prepare(args: argparse.Namespace) -> None:
    from conprune.data import layout
    from conprune.data.librispeech import prepare as prepare_splits

    splits = args.splits.split(",")
    if args.splits == "all":
        tree = layout.corpus_tree(args.root)
        splits = sorted(p.name for p in tree.iterdir() if p.is_dir()) if tree.is_dir() else []
        if not splits:
            raise ConpruneError(f"splits: no split directory under {tree}; synthesise or download a corpus first")
    for split, info in prepare_splits(args.root, splits, out_dir=args.out, workers=args.workers).items():
        print(f"{split}: {info}")


def download_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--splits", help="comma-separated splits (train-960 alias)")
    p.add_argument("--base-url", default=None)
    p.add_argument("--lm", action="store_true", help="also fetch LibriSpeech's official 4-gram LM "
                   "(4-gram.arpa.gz, MD5-checked) into ROOT/lm/, for `--decoder beam --lm`")
    p.add_argument("--lm-base-url", default=None, help="where 4-gram.arpa.gz is (default OpenSLR resource 11)")


def download(args: argparse.Namespace) -> None:
    from conprune.data.librispeech_download import download as download_splits
    from conprune.data.librispeech_download import download_lm

    if not args.splits and not args.lm:
        raise ConpruneError("data download: name --splits (e.g. dev-clean,test-clean), --lm, or both")
    if args.splits:
        download_splits(args.root, args.splits.split(","), **({"base_url": args.base_url} if args.base_url else {}))
    if args.lm:
        print(download_lm(args.root, **({"base_url": args.lm_base_url} if args.lm_base_url else {})))


def tokenizer_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", required=True, type=Path)
    p.add_argument("--splits", default="train-clean-100")
    p.add_argument("--vocab-size", type=int, default=256, help="number of pieces (blank is extra)")


def tokenizer(args: argparse.Namespace) -> None:
    from conprune.data import layout
    from conprune.data.librispeech import expand_splits
    from conprune.data.manifest import read_manifest
    from conprune.data.tokenizer import train_tokenizer

    texts = [r["text"] for s in expand_splits(args.splits.split(","))
             for r in read_manifest(layout.manifest_path(args.root, s))]
    print(train_tokenizer(texts, layout.tokenizer_path(args.root, args.vocab_size), args.vocab_size))
