"""A transformers tokenizer.json as conprune's CTC vocabulary: ids rotated to blank 0, text as the
checkpoint's tokenizer encodes and decodes it, and the data module reading one for a stage."""

import pickle
import sys
from types import SimpleNamespace

import pytest
import torch
from conftest import WORDS

from conprune.data.checks import unknown_characters
from conprune.data.tokenizer import BLANK, Tokenizer
from conprune.errors import ConpruneError
from conprune.models.ctc import greedy_decode
from conprune.stages.checkpoint_io import check_same_tokenizer

transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")
SENTENCES = ["THE QUICK BROWN FOX JUMPS OVER THE LAZY DOG", "IT'S A LONG WAY TO TIPPERARY",
             "PETER PIPER PICKED A PECK OF PICKLED PEPPERS", "HOW MUCH WOOD WOULD A WOODCHUCK CHUCK"]


def parakeet_tokenizer(out_dir, vocab_size: int = 70):
    """A small BPE tokenizer built as transformers' ParakeetConverter builds Parakeet's (lower-case
    pieces, Metaspace pre-tokenizer and decoder, <unk> first, <pad> = the CTC blank appended last),
    saved with `save_pretrained`; returns (ParakeetTokenizer, path of its tokenizer.json)."""
    from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers, trainers

    backend = tokenizers.Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    backend.normalizer = normalizers.Sequence([normalizers.Strip(left=False, right=True),
                                               normalizers.Replace(Regex(" {2,}"), "▁")])
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    texts = [" ".join(WORDS).lower(), *(s.lower() for s in SENTENCES)] * 3
    backend.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["<unk>"]))
    hf = transformers.ParakeetTokenizer(tokenizer_object=backend, clean_up_tokenization_spaces=False)
    hf.add_tokens([AddedToken("<pad>", normalized=False, special=True)])
    hf.add_special_tokens({"pad_token": AddedToken("<pad>", normalized=False, special=True),
                           "unk_token": AddedToken("<unk>", normalized=False, special=True)})
    hf.save_pretrained(out_dir)
    return hf, out_dir / "tokenizer.json"


@pytest.fixture()
def parakeet(tmp_path):
    return parakeet_tokenizer(tmp_path / "parakeet")


def test_ids_are_transformers_ids_with_the_blank_moved_to_zero(parakeet) -> None:
    hf, path = parakeet
    tok = Tokenizer(path)
    assert tok.kind == "hf" and tok.vocab_size == len(hf) and tok.hf.blank == hf.pad_token_id == len(hf) - 1
    assert tok.hf.case == "lower" and tok.unk_id == hf.unk_token_id + 1
    for text in SENTENCES:
        ids = tok.encode(text)  # LibriSpeech-style upper case in, lower-cased for the vocabulary
        theirs = hf(text.lower(), add_special_tokens=False)["input_ids"]
        assert ids == [i + 1 for i in theirs] and BLANK not in ids
        assert tok.decode(ids) == hf.decode(theirs, skip_special_tokens=True).upper() == text
        assert tok.hf.decode(ids, as_transformers=True) == hf.decode(theirs, skip_special_tokens=True)
    assert tok.decode([BLANK, *tok.encode("THE DOG"), BLANK]) == "THE DOG"
    order = tok.hf.to_ctc_order()
    assert order[0] == hf.pad_token_id and order[1:] == list(range(len(hf) - 1))
    clone = pickle.loads(pickle.dumps(tok))
    assert clone.encode("THE FOX") == tok.encode("THE FOX") and clone.model_proto == path.read_bytes()


def test_greedy_ctc_decoding_matches_transformers_batch_decode(parakeet) -> None:
    """Frame-level argmax ids (blanks, repeats) of a CTC head in transformers' order, decoded by
    transformers' tokenizer and by conprune (head rows permuted, greedy collapse, decode)."""
    hf, path = parakeet
    tok = Tokenizer(path)
    generator = torch.Generator().manual_seed(0)
    frames = []
    for text in SENTENCES:
        hf_ids = hf(text.lower(), add_special_tokens=False)["input_ids"]
        seq = []
        for i in hf_ids:  # each token held 1-3 frames, then 0-2 blanks
            seq += [i] * int(torch.randint(1, 4, (), generator=generator)) + [hf.pad_token_id] * int(torch.randint(0, 3, (), generator=generator))
        frames.append(seq)
    width = max(map(len, frames))
    frames = [seq + [hf.pad_token_id] * (width - len(seq)) for seq in frames]
    logits_hf = torch.nn.functional.one_hot(torch.tensor(frames), len(hf)).float()  # [B, T, V] transformers' order
    log_probs = logits_hf[..., tok.hf.to_ctc_order()].log_softmax(-1)  # the weight import's row permutation
    ours = [tok.decode(ids) for ids in greedy_decode(log_probs, torch.full((len(frames),), width))]
    theirs = hf.batch_decode(frames, skip_special_tokens=True)
    assert [t.upper() for t in theirs] == ours == SENTENCES


def test_lasr_blank_zero_keeps_ids_and_adds_no_eos(tmp_path) -> None:
    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    vocab += [(f"▁{w.lower()}", -3.0 - i / 100) for i, w in enumerate(sorted(set(WORDS)))]
    vocab += [(c, -8.0) for c in "abcdefghijklmnopqrstuvwxyz'"]
    hf = transformers.LasrTokenizer(vocab=vocab, extra_ids=0)
    hf.save_pretrained(tmp_path)
    tok = Tokenizer(tmp_path / "tokenizer.json")
    assert tok.hf.blank == hf.pad_token_id == 0 and tok.vocab_size == len(hf)
    text = "SHE SELLS SEA SHELLS BY THE SEA SHORE"
    theirs = hf(text.lower(), add_special_tokens=False)["input_ids"]
    assert tok.encode(text) == theirs and hf.eos_token_id not in theirs
    assert tok.decode(theirs) == hf.decode(theirs, skip_special_tokens=True).upper() == text


def test_unknown_characters_and_bytes_compare(parakeet, tmp_path) -> None:
    _, path = parakeet
    tok = Tokenizer(path)
    assert unknown_characters(tok, ["THE FOX", "ZOË%"]) == {"Ë", "%"}
    data = SimpleNamespace(tokenizer=tok, tokenizer_path=path)
    check_same_tokenizer(path.read_bytes(), data, "parakeet.pt")
    _, other = parakeet_tokenizer(tmp_path / "other", vocab_size=60)
    with pytest.raises(ConpruneError, match="is not the one parakeet.pt was trained with"):
        check_same_tokenizer(other.read_bytes(), data, "parakeet.pt")


def test_bad_files_and_a_missing_package_are_one_line_errors(parakeet, tmp_path, monkeypatch) -> None:
    _, path = parakeet
    (tmp_path / "broken.json").write_text('{"model": 3}')
    with pytest.raises(ConpruneError, match=r"broken.json is not a readable tokenizer.json"):
        Tokenizer(tmp_path / "broken.json")
    text = path.read_text().replace('"<pad>"', '"<nopad>"')
    (tmp_path / "noblank.json").write_text(text)
    with pytest.raises(ConpruneError, match="noblank.json has no <pad> or <blank> token"):
        Tokenizer(tmp_path / "noblank.json")
    monkeypatch.setitem(sys.modules, "tokenizers", None)
    with pytest.raises(ConpruneError, match=r"tokenizer.json, which needs the tokenizers package: pip install 'conprune\[hf\]'"):
        Tokenizer(path)


def test_datamodule_reads_labels_with_a_tokenizer_json(prepared_copy, tmp_path) -> None:
    hf, path = parakeet_tokenizer(tmp_path / "teacher")
    dm = prepared_copy(tokenizer=str(path), num_pieces=len(hf) - 1)
    assert dm.tokenizer.kind == "hf" and dm.tokenizer_path == path
    batch = next(iter(dm.train_dataloader()))
    first = batch["texts"][0]
    expected = [i + 1 for i in hf(first.lower(), add_special_tokens=False)["input_ids"]]
    assert batch["targets"][0, :batch["target_lengths"][0]].tolist() == expected
    assert dm.skipped["train-clean-100"] == {"too_long": 0, "unknown_chars": 0}
    with pytest.raises(ConpruneError, match=rf"has {len(hf) - 1} pieces but data.num_pieces=40"):
        prepared_copy(tokenizer=str(path), num_pieces=40)
