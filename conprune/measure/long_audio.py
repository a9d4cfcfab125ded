"""Long recordings: what windowed transcription costs in time, memory and WER.

Recordings are made by concatenating test utterances (their transcripts concatenated too). Time
and peak memory of `conprune transcribe` are measured in a fresh subprocess per recording, so the
peak resident set is that transcription's own. The WER cost of windowing is measured on shorter
concatenations that whole-utterance decoding can still hold: the same model, the same audio,
decoded in windows and in one piece.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
from torchmetrics.functional.text import word_error_rate

from conprune.data.features import SAMPLE_RATE, load_audio
from conprune.errors import ConpruneError

# The child's peak is read from /proc/self/status (VmHWM, the peak of its own address space) where
# there is one: on Linux ru_maxrss survives fork+exec, so it would report at least the parent's
# peak (about 1 GB after writing the 60-minute file) whatever the child itself used.
_CHILD = """
import json, resource, sys, time
from conprune.inference.onnx_model import load_any
from conprune.inference.transcribe import Transcriber
import torch
torch.set_num_threads(int(sys.argv[3]))
transcriber = Transcriber(*load_any(sys.argv[1]))
start = time.perf_counter()
text = transcriber(sys.argv[2])
seconds = time.perf_counter() - start
try:
    peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
except (OSError, StopIteration):
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_gb": peak_kb / 2**20,
                  "words": len(text.split())}))
"""


def concatenate(rows: list[dict], minutes: float, out: Path) -> tuple[Path, str]:
    """Concatenate manifest utterances (in order, cycling if needed) to `minutes` of audio."""
    if not rows:
        raise ConpruneError("long audio: no utterances to concatenate")
    want, pieces, texts, total, i = round(minutes * 60 * SAMPLE_RATE), [], [], 0, 0
    while total < want:
        row = rows[i % len(rows)]
        audio = load_audio(row["path"]).numpy()
        pieces.append(audio)
        texts.append(row["text"])
        total += len(audio)
        i += 1
    out.parent.mkdir(parents=True, exist_ok=True)
    sf.write(out, np.concatenate(pieces), SAMPLE_RATE, subtype="PCM_16")
    return out, " ".join(texts)


def transcription_cost(model_file: str | Path, audio: Path, threads: int = 1) -> dict:
    """{"seconds", "peak_gb", "words"} of transcribing `audio` in a fresh process."""
    done = subprocess.run([sys.executable, "-c", _CHILD, str(model_file), str(audio), str(threads)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise ConpruneError(f"long audio: transcribing {audio} failed: {done.stderr.strip().splitlines()[-1:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@torch.inference_mode()
def windowing_wer_cost(transcriber, recordings: list[tuple[Path, str]]) -> dict:
    """WER of windowed vs whole-recording decoding on the same recordings (same model)."""
    whole, windowed, refs = [], [], []
    window = transcriber.window
    for path, text in recordings:
        raw = transcriber.features(path)
        windowed.append(transcriber.tokenizer.decode(_greedy(transcriber.log_probs(raw))))
        transcriber.window = raw.shape[0] + 1  # one window: the whole recording
        whole.append(transcriber.tokenizer.decode(_greedy(transcriber.log_probs(raw))))
        transcriber.window = window
        refs.append(text)
    a, b = float(word_error_rate(whole, refs)), float(word_error_rate(windowed, refs))
    return {"whole_wer": a, "windowed_wer": b, "windowing_wer_delta": b - a, "recordings": len(refs)}


def _greedy(log_probs: torch.Tensor) -> list[int]:
    from conprune.models.ctc import greedy_decode

    return greedy_decode(log_probs[None], torch.tensor([log_probs.shape[0]]))[0]


def long_audio_bench(model_file: str | Path, data_root: str | Path, workdir: Path, threads: int = 1) -> dict:
    """`long_audio_time_ratio` (60-minute ÷ 10-minute transcription time), `long_audio_peak_gb` (60
    minutes), and the WER cost of windowing on 2-minute concatenations of test utterances."""
    from conprune.data import layout
    from conprune.data.manifest import read_manifest
    from conprune.inference.onnx_model import load_any
    from conprune.inference.transcribe import Transcriber

    rows = [r for s in ("test-clean", "test-other") for r in read_manifest(layout.manifest_path(data_root, s))]
    ten, _ = concatenate(rows, 10, workdir / "long_10min.flac")
    sixty, _ = concatenate(rows, 60, workdir / "long_60min.flac")
    cost10, cost60 = transcription_cost(model_file, ten, threads), transcription_cost(model_file, sixty, threads)
    per = 2.0 * 60 * SAMPLE_RATE
    recordings, start = [], 0
    for k in range(6):  # six 2-minute recordings from consecutive utterances, fewer on a small corpus
        chunk, samples = [], 0
        while samples < per and start < len(rows):
            chunk.append(rows[start])
            samples += rows[start]["num_samples"]
            start += 1
        if not chunk:
            break
        recordings.append(concatenate(chunk, samples / SAMPLE_RATE / 60, workdir / f"long_2min_{k}.flac"))
    torch.set_num_threads(threads)
    wer = windowing_wer_cost(Transcriber(*load_any(model_file)), recordings)
    return {"long_audio_time_ratio": cost60["seconds"] / cost10["seconds"], "long_audio_peak_gb": cost60["peak_gb"],
            "long_audio_10min_s": cost10["seconds"], "long_audio_60min_s": cost60["seconds"],
            "long_audio_10min_peak_gb": cost10["peak_gb"], **wer}
