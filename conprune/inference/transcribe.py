"""`conprune transcribe --model model.pt a.flac [b.wav ...]`: one line per file, `path<TAB>text`.

Any soundfile-readable file works: other sample rates are resampled to 16 kHz and multi-channel
audio is averaged to mono (`conprune.data.features.load_audio`). An unreadable, empty or too
short file gets a one-line error on stderr naming it, the other files are still transcribed, and
the exit status is 1 if any file failed, so a batch is never lost to one bad file.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import soundfile as sf
import torch

from conprune.data.features import HOP_LENGTH, front_end, load_audio, num_frames
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError
from conprune.models.conformer import ConformerCTC
from conprune.models.ctc import greedy_decode


class Transcriber:
    """A loaded model with its own tokenizer and CMVN, ready to turn waveforms into text."""

    def __init__(self, model: ConformerCTC, info: dict) -> None:
        self.model = model.eval()
        self.tokenizer = Tokenizer(model_proto=info["tokenizer"])
        self.logmel, self.cmvn = front_end(info["cmvn"])

    def features(self, path: str | Path) -> torch.Tensor:
        try:
            sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise ConpruneError(f"{path}: not a readable audio file ({exc})") from None
        wav = load_audio(path)
        min_frames = self.model.config.min_input_frames
        if num_frames(wav.numel()) < min_frames:
            raise ConpruneError(f"{path}: {wav.numel()} samples at 16 kHz is too short to transcribe "
                                f"(needs {(min_frames - 1) * HOP_LENGTH} or more)")
        return self.cmvn(self.logmel(wav))

    @torch.inference_mode()
    def __call__(self, path: str | Path) -> str:
        feats = self.features(path)
        out = self.model(feats[None], None)  # one utterance, no padding: no attention mask
        return self.tokenizer.decode(greedy_decode(out.log_probs, out.lengths)[0])


def transcribe_files(transcriber: Transcriber, paths: Iterable[str | Path], out=None, err=None) -> int:
    """Print `path<TAB>text` per file; errors go to `err`, one line each. Returns the failure count."""
    out = out or sys.stdout
    err = err or sys.stderr
    failures = 0
    for path in paths:
        if not Path(path).is_file():
            print(f"error: {path}: no such file", file=err)
            failures += 1
            continue
        try:
            text = transcriber(path)
        except ConpruneError as exc:
            print(f"error: {exc}", file=err)
            failures += 1
            continue
        print(f"{path}\t{text}", file=out, flush=True)
    return failures
