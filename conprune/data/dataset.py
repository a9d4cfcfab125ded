"""Utterances as tensors: a manifest row becomes normalised features and token ids, a list of them a
zero-padded batch. Shared by training (the datamodule) and evaluation (`conprune evaluate`)."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from conprune.data.features import LogMel, load_audio, num_frames, speed_perturb
from conprune.data.tokenizer import Tokenizer


class AsrDataset(Dataset):
    """Manifest rows -> {features [T, F] normalised, tokens, id, text, speaker}.

    `logmel` and `cmvn` are a front end's feature extractor and normaliser (`features.front_end`):
    by default conprune's log-mel; the normaliser is global CMVN for it, per utterance or none for
    an imported checkpoint's front end.

    With `cache`, each utterance's normalised features are kept in memory after first use (per
    process), which removes audio decoding from every later epoch: worth it on a small corpus
    (the 6 h embedded corpus is ~600 MB of features per speed factor), not on 960 h.
    With `speeds` (training only), each item is resampled by a factor drawn uniformly from the
    list (Kaldi-style speed perturbation: tempo, pitch and formants move together, which is what
    makes it look like a new speaker).
    """

    def __init__(self, rows: list[dict], tokenizer: Tokenizer, cmvn: torch.nn.Module,
                 augment: torch.nn.Module | None = None, cache: bool = False,
                 speeds: tuple[float, ...] = (), logmel: torch.nn.Module | None = None) -> None:
        self.rows = rows
        self.tokenizer = tokenizer
        self.cmvn = cmvn
        self.logmel = logmel if logmel is not None else LogMel()
        self.augment = augment
        self.speeds = tuple(float(s) for s in speeds)
        self.cache: dict[tuple[int, float], torch.Tensor] | None = {} if cache else None

    def __len__(self) -> int:
        return len(self.rows)

    def frame_lengths(self) -> list[int]:
        return [num_frames(r["num_samples"], r.get("sample_rate", 16000), self.logmel) for r in self.rows]

    def __getitem__(self, index: int) -> dict:
        row = self.rows[index]
        speed = 1.0
        if self.speeds:
            speed = self.speeds[int(torch.randint(len(self.speeds), ()))]
        key = (index, speed)
        feats = self.cache.get(key) if self.cache is not None else None
        if feats is None:
            feats = self.cmvn(self.logmel(speed_perturb(load_audio(row["path"]), speed)))
            if self.cache is not None:
                self.cache[key] = feats
        if self.augment is not None:
            feats = self.augment(feats)
        return {"features": feats, "tokens": torch.tensor(self.tokenizer.encode(row["text"])),
                "id": row["id"], "text": row["text"], "speaker": row.get("speaker", "")}


def collate(items: list[dict]) -> dict:
    """Zero-pad features and targets; the model masks padding, so zeros are only a convention."""
    lengths = torch.tensor([it["features"].shape[0] for it in items])
    feats = torch.zeros(len(items), int(lengths.max()), items[0]["features"].shape[1])
    target_lengths = torch.tensor([len(it["tokens"]) for it in items])
    targets = torch.zeros(len(items), max(1, int(target_lengths.max())), dtype=torch.long)
    for i, it in enumerate(items):
        feats[i, : lengths[i]] = it["features"]
        targets[i, : target_lengths[i]] = it["tokens"]
    return {"features": feats, "lengths": lengths, "targets": targets, "target_lengths": target_lengths,
            "ids": [it["id"] for it in items], "texts": [it["text"] for it in items],
            "speakers": [it["speaker"] for it in items]}
