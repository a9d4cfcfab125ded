"""Shared fixtures: a tiny LibriSpeech-layout corpus of generated audio (no TTS, fast)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

WORDS = ["THE", "QUICK", "BROWN", "FOX", "JUMPS", "OVER", "LAZY", "DOG", "AND", "SHE", "SELLS", "SEA", "SHELLS", "BY", "SHORE", "WHILE", "PETER", "PIPER", "PICKED", "PECK", "OF", "PICKLED", "PEPPERS", "HOW", "MUCH", "WOOD", "WOULD", "CHUCK", "IF", "COULD", "IT'S", "A", "LONG", "WAY", "TO", "TIPPERARY", "EVERY", "GOOD", "BOY", "DOES", "FINE"]

SPLITS = {"train-clean-100": 12, "dev-clean": 3, "dev-other": 3, "test-clean": 3, "test-other": 3}


def write_corpus(root: Path, splits: dict[str, int] = SPLITS, seed: int = 0, seconds: float = 1.2) -> Path:
    """Write `<root>/LibriSpeech/<split>/<spk>/<chap>/` with noisy tones and transcripts."""
    rng = np.random.default_rng(seed)
    for s_idx, (split, count) in enumerate(splits.items()):
        spk, chap = 100 + s_idx, 10
        chap_dir = root / "LibriSpeech" / split / str(spk) / str(chap)
        chap_dir.mkdir(parents=True, exist_ok=True)
        lines = []
        for u in range(count):
            uid = f"{spk}-{chap}-{u:04d}"
            words = rng.choice(WORDS, size=int(rng.integers(3, 7)))
            t = np.arange(int(16000 * seconds * rng.uniform(0.7, 1.0))) / 16000
            audio = 0.1 * np.sin(2 * np.pi * rng.uniform(100, 400) * t) + 0.01 * rng.standard_normal(t.size)
            sf.write(chap_dir / f"{uid}.flac", audio.astype(np.float32), 16000, subtype="PCM_16")
            lines.append(f"{uid} {' '.join(words)}")
        (chap_dir / f"{spk}-{chap}.trans.txt").write_text("\n".join(lines) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """A read-only tiny corpus shared by tests that only read it."""
    return write_corpus(tmp_path_factory.mktemp("corpus"))


@pytest.fixture(autouse=True, scope="session")
def _one_thread():
    """Tiny tensors run faster on one thread, and a shared 2-core machine stays responsive."""
    import torch

    torch.set_num_threads(1)
