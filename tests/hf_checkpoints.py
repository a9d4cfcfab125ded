"""Tiny transformers CTC checkpoints as `save_pretrained` writes them (model, tokenizer, feature
extractor in one directory), for the import/export tests. Their tokenizers are built from the tiny
corpus's own transcripts, so a stage run on that corpus finds no unknown character; their weights
are randomised to spread the outputs (see test_hf_blocks.randomise)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from test_hf_blocks import LASR, PARAKEET, randomise

from conprune.cli import main

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

# Parakeet 4x: the tiny corpus's ~1 s utterances keep enough frames for their labels.
ENCODER = {"parakeet": {**PARAKEET, "subsampling_factor": 4}, "lasr": LASR}
FEATURES = {"parakeet": 80, "lasr": LASR["num_mel_bins"]}


def transcripts(root: Path) -> list[str]:
    """Every transcript of a LibriSpeech-layout corpus under `root`."""
    return [line.split(" ", 1)[1] for path in sorted(root.rglob("*.trans.txt"))
            for line in path.read_text().splitlines() if line.strip()]


def parakeet_tokenizer(texts: list[str], vocab_size: int = 90) -> transformers.PreTrainedTokenizerBase:
    """A BPE tokenizer as transformers' ParakeetConverter builds Parakeet's: lower-case pieces,
    Metaspace, <unk> first and <pad> (the CTC blank) appended last."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    backend = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Sequence([normalizers.Strip(left=False, right=True),
                                               normalizers.Replace(Regex(" {2,}"), "▁")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    backend.train_from_iterator([t.lower() for t in texts] * 3,
                                trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>"]))
    tokenizer = transformers.ParakeetTokenizer(tokenizer_object=backend, clean_up_tokenization_spaces=False)
    tokenizer.add_tokens([AddedToken("<pad>", normalized=False, special=True)])
    tokenizer.add_special_tokens({"pad_token": AddedToken("<pad>", normalized=False, special=True),
                                  "unk_token": AddedToken("<unk>", normalized=False, special=True)})
    return tokenizer


def lasr_tokenizer(texts: list[str]) -> transformers.PreTrainedTokenizerBase:
    """A unigram tokenizer in LASR's layout (<pad> = the blank = 0, </s>, <unk>), one piece per word
    of `texts` plus single letters."""
    words = sorted({w.lower() for t in texts for w in t.split()})
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{w}", -3.0 - i / 100) for i, w in enumerate(words)]
    vocab += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz'"]
    return transformers.LasrTokenizer(vocab=vocab, extra_ids=0)


def save_checkpoint(family: str, out: Path, texts: list[str], **encoder) -> Path:
    """A tiny random `family` CTC checkpoint directory with its tokenizer and feature extractor."""
    if family == "parakeet":
        tokenizer = parakeet_tokenizer(texts)
        config = transformers.ParakeetCTCConfig(vocab_size=len(tokenizer), pad_token_id=len(tokenizer) - 1,
                                                encoder_config={**ENCODER[family], **encoder})
        model_class, extractor = transformers.ParakeetForCTC, transformers.ParakeetFeatureExtractor
    else:
        tokenizer = lasr_tokenizer(texts)
        config = transformers.LasrCTCConfig(vocab_size=len(tokenizer), encoder_config={**ENCODER[family], **encoder})
        model_class, extractor = transformers.LasrForCTC, transformers.LasrFeatureExtractor
    torch.manual_seed(0)
    randomise(model_class(config)).save_pretrained(out)
    tokenizer.save_pretrained(out)
    extractor(feature_size=FEATURES[family]).save_pretrained(out)
    return out


def edit_config(directory: Path, top: bool = False, **changes) -> None:
    """Change encoder_config fields (`top`: top-level fields) of a saved checkpoint's config.json in place."""
    config = json.loads((directory / "config.json").read_text())
    (config if top else config["encoder_config"]).update(changes)
    (directory / "config.json").write_text(json.dumps(config))


def cli(argv: list[str], capsys) -> dict:
    """Run `conprune ARGV` that must succeed; its JSON summary."""
    capsys.readouterr()
    main(argv)
    return json.loads(capsys.readouterr().out)


def cli_error(argv: list[str], capsys) -> str:
    """Run `conprune ARGV` that must fail with exit status 2 and a one-line `error:`; that line."""
    capsys.readouterr()
    try:
        main(argv)
    except SystemExit as exc:
        assert exc.code == 2
    else:
        raise AssertionError(f"conprune {' '.join(argv)} did not fail")
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error")]
    assert len(errors) == 1, errors  # transformers' own warnings and progress bars may come before it
    return errors[0]
