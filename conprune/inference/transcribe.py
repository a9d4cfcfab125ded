"""`conprune transcribe --model model.pt a.flac [b.wav ...]`: one line per file, `path<TAB>text`.

Recordings longer than `window_s` are transcribed in overlapping windows stitched before decoding
(`conprune.inference.windows`), so time and memory grow linearly with the length, not as its square.

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

from conprune.data.features import chunked_logmel, front_end, load_audio
from conprune.data.tokenizer import Tokenizer
from conprune.errors import ConpruneError
from conprune.inference.lm_decoder import BeamDecoder
from conprune.inference.windows import windowed_log_probs
from conprune.models.conformer import ConformerCTC
from conprune.models.ctc import greedy_decode


class Transcriber:
    """A loaded model with its own tokenizer and front end, ready to turn waveforms into text.

    The front end is whatever the model file stores (`features.front_end`): conprune's log-mel with
    global CMVN, or an imported checkpoint's, which normalises each window on its own (Parakeet) or
    not at all (LASR); `cmvn` is that normaliser. With `decoder`, the stitched log-probabilities
    go to its beam search (with an n-gram LM) instead of greedy decoding.
    """

    def __init__(self, model: ConformerCTC, info: dict, window_s: float = 30.0, overlap_s: float = 4.0,
                 decoder: BeamDecoder | None = None) -> None:
        self.model = model.eval()
        self.decoder = decoder
        self.tokenizer = Tokenizer(model_proto=info["tokenizer"])
        self.logmel, self.cmvn = front_end(info["cmvn"])
        self.window, self.overlap = round(window_s * 100), round(overlap_s * 100)

    def features(self, path: str | Path) -> torch.Tensor:
        """Features [T, F] before normalisation (the normaliser is applied per window).

        Computed in chunks (`chunked_logmel`): an hour's whole-file STFT alone would need gigabytes.
        """
        try:
            sf.info(str(path))
        except (RuntimeError, sf.LibsndfileError) as exc:
            raise ConpruneError(f"{path}: not a readable audio file ({exc})") from None
        wav = load_audio(path)
        min_frames = self.model.config.min_input_frames
        if self.logmel.frames(wav.numel()) < min_frames:
            needed = next(n for n in range(0, 16000 * 60, self.logmel.hop_length) if self.logmel.frames(n) >= min_frames)
            raise ConpruneError(f"{path}: {wav.numel()} samples at 16 kHz is too short to transcribe "
                                f"(needs {needed} or more)")
        return chunked_logmel(self.logmel, wav)

    def log_probs(self, raw: torch.Tensor) -> torch.Tensor:
        """Log-probabilities [T', V] of raw features [T, F], in windows when they are long."""
        def run(feats: torch.Tensor) -> torch.Tensor:
            return self.model(feats[None], None).log_probs[0]  # one utterance, no padding: no mask

        return windowed_log_probs(run, raw, self.cmvn, self.window, self.overlap, self.model.config.subsampling_factor)

    @torch.inference_mode()
    def __call__(self, path: str | Path) -> str:
        log_probs = self.log_probs(self.features(path))
        lengths = torch.tensor([log_probs.shape[0]])
        if self.decoder is not None:
            return self.decoder(log_probs[None], lengths)[0]
        return self.tokenizer.decode(greedy_decode(log_probs[None], lengths)[0])


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
