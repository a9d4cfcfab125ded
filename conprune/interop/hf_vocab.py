"""A conprune model's vocabulary as a transformers tokenizer, for `conprune export --format hf`.

The exported tokenizer must give every id the row it has in the exported CTC head, and transformers'
family classes must load it (AutoTokenizer, AutoProcessor). Two sources:

- a tokenizer.json an imported checkpoint came with: written back through the family's tokenizer
  class (ParakeetTokenizer / LasrTokenizer), which adds the tokenizer_config.json AutoTokenizer reads;
- conprune's own SentencePiece unigram model: converted to a `tokenizers` Unigram model with the
  same pieces and scores (so the Viterbi segmentation is SentencePiece's), NFKC + whitespace
  collapsing for SentencePiece's default normaliser, a Metaspace pre-tokenizer and decoder as in
  Parakeet's, and the CTC blank appended as the `<pad>` token: transformers id i = conprune id i + 1,
  as Parakeet's head puts its blank last. Only the Parakeet layout is written, because LASR's
  tokenizer class adds an end-of-sequence token that a conprune vocabulary has no row for.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from conprune.data.hf_tokenizer import HfCtcVocabulary, is_hf_tokenizer
from conprune.errors import ConpruneError, first_line
from conprune.interop.hf_parity import CLASSES

BLANK_TOKEN = "<pad>"


def family_tokenizer(tf: ModuleType, data: bytes | None, family: str, blank: int, vocab_size: int,
                     where: str) -> Any:
    """The family's transformers tokenizer of a model file's tokenizer bytes (`where` names the
    file), whose pad token is transformers id `blank` and whose size is `vocab_size`."""
    if data is None:
        raise ConpruneError(f"{where} has no tokenizer; export a model file written by `conprune compact` or "
                            "`conprune import hf`, which store theirs")
    if is_hf_tokenizer(data):
        vocab = HfCtcVocabulary(data, f"{where}'s tokenizer")
        if vocab.blank != blank:
            raise ConpruneError(f"{where}'s tokenizer.json has its blank at id {vocab.blank}, but a transformers "
                                f"{family} CTC head has it at id {blank}: this vocabulary cannot be exported as {family}")
        text = data.decode("utf-8")
    else:
        if family != "parakeet":
            raise ConpruneError(f"{where} has a SentencePiece vocabulary, which exports with a Parakeet model only "
                                "(LASR's tokenizer class adds an end-of-sequence token the CTC head has no row for)")
        text = sentencepiece_json(data, where)
    from tokenizers import Tokenizer as Backend

    backend = Backend.from_str(text)
    pad, unk = backend.id_to_token(blank), backend.token_to_id("<unk>")
    extra = {"unk_token": "<unk>"} if unk is not None else {}
    cls = getattr(tf, CLASSES[family][2])
    try:
        if family == "lasr":
            eos = {"eos_token": "</s>"} if backend.token_to_id("</s>") is not None else {}
            tokenizer = cls(tokenizer_object=backend, extra_ids=0, pad_token=pad, **eos, **extra)
        else:
            tokenizer = cls(tokenizer_object=backend, pad_token=pad, clean_up_tokenization_spaces=False, **extra)
    except Exception as exc:  # transformers raises ValueError/TypeError/KeyError for what it cannot build
        raise ConpruneError(f"{where}: transformers' {cls.__name__} cannot hold its tokenizer "
                            f"({type(exc).__name__}: {first_line(exc)})") from exc
    if len(tokenizer) != vocab_size or tokenizer.pad_token_id != blank:
        raise ConpruneError(f"{where}: its tokenizer as a {cls.__name__} has {len(tokenizer)} tokens and pad id "
                            f"{tokenizer.pad_token_id}, the CTC head {vocab_size} rows and blank {blank}")
    return tokenizer


def sentencepiece_json(model_proto: bytes, where: str = "the tokenizer") -> str:
    """A `tokenizers` JSON that segments text as the SentencePiece unigram `model_proto` does,
    with `<pad>` (the CTC blank) appended after its pieces."""
    import sentencepiece as spm
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

    sp = spm.SentencePieceProcessor(model_proto=model_proto)
    pieces = [(sp.id_to_piece(i), sp.get_score(i)) for i in range(sp.get_piece_size())]
    special = [p for i, (p, _) in enumerate(pieces) if not sp.is_unknown(i) and (sp.is_control(i) or sp.is_byte(i)
                                                                                  or sp.is_unused(i))]
    if special:
        raise ConpruneError(f"{where}: SentencePiece piece {special[0]!r} is a control, byte or unused piece, "
                            "which conprune's converter does not carry; train the tokenizer with `conprune tokenizer`")
    if any(p == BLANK_TOKEN for p, _ in pieces):
        raise ConpruneError(f"{where}: a SentencePiece piece is {BLANK_TOKEN!r}, the name of the CTC blank in "
                            "the exported tokenizer; retrain the tokenizer without it")
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=sp.unk_id(), byte_fallback=False))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Strip(),
                                                 normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.add_special_tokens([AddedToken(BLANK_TOKEN, special=True, normalized=False)])
    return tokenizer.to_str()
