"""`conprune build-lm` and `tune-lm`, and the decoder options `evaluate` and `transcribe` share.

build-lm estimates the embedded corpus's n-gram LM on its source text minus every dev and test
sentence (guarded: `conprune.corpus.lm_text`); tune-lm chooses the LM weight and word score on dev
and stores them in the model file (`conprune.inference.decoder_meta`), where `--decoder beam`
finds them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from conprune.commands.common import writable as _writable
from conprune.errors import ConpruneError


def decoder_args(p: argparse.ArgumentParser) -> None:
    """--decoder, --lm, --beam, --lm-weight, --word-score; unset ones default to the model's tuned
    values (`conprune tune-lm`), then to the built-in ones."""
    p.add_argument("--decoder", choices=["greedy", "beam"],
                   help="greedy CTC, or beam search with an n-gram LM (default: beam when --lm is given)")
    p.add_argument("--lm", help="KenLM binary or ARPA file (default with --decoder beam: the LM the model was "
                   "tuned with; `make lm` writes data/synth/lm/words-4gram.bin)")
    p.add_argument("--beam", type=int, help="hypotheses kept per frame")
    p.add_argument("--lm-weight", type=float, help="scale of the LM log-probability")
    p.add_argument("--word-score", type=float, help="added per word (lexicon search)")


def make_decoder(args: argparse.Namespace, info: dict):
    """The `BeamDecoder` the options (and the model's tuned settings) ask for, or None for greedy."""
    from conprune.data.tokenizer import Tokenizer
    from conprune.inference.decoder_meta import resolve
    from conprune.inference.lm_decoder import BeamDecoder

    chosen = resolve(info, args.decoder, args.lm, {"beam": args.beam, "lm_weight": args.lm_weight,
                                                   "word_score": args.word_score})
    return None if chosen is None else BeamDecoder(Tokenizer(model_proto=info["tokenizer"]), *chosen)


def build_lm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default="data/synth", type=Path, help="root of a corpus made by `conprune data synth`")
    p.add_argument("--kenlm", default=".venv/bin", type=Path, help="directory holding lmplz and build_binary "
                   "(scripts/build_kenlm.sh)")
    p.add_argument("--order", type=int, default=4)
    p.add_argument("--units", default="words", choices=["words", "pieces"],
                   help="words: a word n-gram (lexicon search); pieces: an n-gram over --tokenizer's pieces "
                   "(lexicon-free search)")
    p.add_argument("--tokenizer", type=Path, help="SentencePiece model whose pieces a pieces LM counts")


def build_lm(args: argparse.Namespace) -> None:
    from conprune.corpus.lm_text import write_lm_text
    from conprune.data import layout
    from conprune.data.ngram_lm import estimate, piece_text

    if args.units == "pieces" and args.tokenizer is None:
        raise ConpruneError("--units pieces needs --tokenizer (the SentencePiece model of the acoustic model)")
    text = layout.lm_text_path(args.data)
    _writable(text, "LM directory")
    report = write_lm_text(layout.corpus_tree(args.data), text)
    if args.units == "pieces":
        text = piece_text(text, args.tokenizer, text.with_name("lm-text-pieces.txt"))
    report.update(estimate(text, layout.lm_stem(args.data, args.units, args.order), args.order, args.kenlm))
    print(json.dumps(report, indent=1))


def tune_lm_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model file (.pt) or exported .onnx to tune for")
    p.add_argument("--lm", nargs="+", help="LM file(s) to choose from (default: DATA_ROOT/lm/words-4gram.bin)")
    p.add_argument("--data-root", default="data/synth")
    p.add_argument("--splits", default="dev-clean,dev-other", help="dev splits, pooled")
    p.add_argument("--beam", type=int, help="hypotheses kept per frame (default: the decoder's default beam)")
    p.add_argument("--lm-weights", help="comma-separated LM weights to try (default: conprune.measure.lm_tune)")
    p.add_argument("--word-scores", help="comma-separated word scores to try (default: conprune.measure.lm_tune)")
    p.add_argument("--out", help="model file to write with the chosen settings (default: --model, in place, "
                   "atomically)")
    p.add_argument("--report", help="JSON file for every grid point's dev WER")


def _floats(text: str | None, name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    if text is None:
        return default
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise ConpruneError(f"--{name}: comma-separated numbers, got {text!r}") from None


def tune_lm(args: argparse.Namespace) -> None:
    from conprune.data import layout
    from conprune.inference.decoder_meta import write_decoder
    from conprune.inference.lm_decoder import BeamSettings
    from conprune.inference.onnx_model import load_any
    from conprune.io_atomic import atomic_write_text
    from conprune.measure.lm_tune import LM_WEIGHTS, WORD_SCORES, tune

    _writable(args.out or args.model, "tune-lm --out directory")
    lms = args.lm or [str(layout.lm_stem(args.data_root, "words", 4).with_suffix(".bin"))]
    model, info = load_any(args.model)
    base = BeamSettings() if args.beam is None else BeamSettings(beam=args.beam)
    result = tune(model, info, args.data_root, args.splits.split(","), lms, base,
                  _floats(args.lm_weights, "lm-weights", LM_WEIGHTS), _floats(args.word_scores, "word-scores", WORD_SCORES))
    if args.report:
        atomic_write_text(args.report, json.dumps({"model": args.model, **result}, indent=1) + "\n", "tune report")
    print(f"decoder settings -> {write_decoder(args.model, result['chosen'], args.out)}")
    print(json.dumps(result["chosen"], indent=1))
