"""`conprune bench` / `make bench`: the speed numbers behind the README, measured side by side.

Every latency number is a ratio of two models timed interleaved in one process (see latency.py):
compact student ÷ dense teacher at the 50 % params and 50 % MACs targets, our dense Conformer ÷
torchaudio's at equal dims; plus the prune/teacher training-step ratio and the data pipeline's
audio-seconds per wall-second. Writes `bench/results.json` (CPU) or `bench/results-<device>.json`.
"""

from __future__ import annotations

import datetime as dt
import logging
import platform
import time
from collections.abc import Callable
from pathlib import Path

import torch

from conprune.data import layout
from conprune.data.dataset import AsrDataset
from conprune.data.features import NUM_MELS, FrequencyWarp, GlobalCMVN, SpecAugment
from conprune.data.manifest import read_manifest
from conprune.data.tokenizer import Tokenizer
from conprune.measure.latency import dense_vs_torchaudio, example_batch, model_call, side_by_side
from conprune.models.config import preset
from conprune.models.package import load_model
from conprune.pruning.cost import count_macs, count_params, ref_frames
from conprune.stages.checkpoint_io import load_ctc_model

KEYS = ("latency_ratio_params50", "latency_ratio_macs50", "mac_ratio_params50", "mac_ratio_macs50",
        "params_sparsity_params50", "macs_sparsity_macs50", "dense_vs_torchaudio_ratio", "prune_step_ratio",
        "data_realtime_factor")
log = logging.getLogger(__name__)


def machine(device: str) -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (torch {torch.__version__})"
    return f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} thread(s) (torch {torch.__version__})"


def compact_vs_teacher(teacher_ckpt: str, model_file: str, tag: str, seconds: float, repeats: int,
                       device: str, dtype: torch.dtype) -> dict[str, float]:
    """Latency, MAC and size ratios of one compact model against the dense teacher."""
    dev = torch.device(device)
    teacher, _ = load_ctc_model(teacher_ckpt)
    student, _ = load_model(model_file)
    teacher, student = teacher.to(dev, dtype).eval(), student.to(dev, dtype).eval()
    feats, lengths = example_batch(seconds, 1, teacher.config.input_dim, device=dev)
    feats = feats.to(dtype)
    timed = side_by_side({"teacher": model_call(teacher, feats, lengths),
                          "student": model_call(student, feats, lengths)}, repeats=repeats, device=dev)
    frames = ref_frames(seconds)
    macs = count_macs(student.config, frames) / count_macs(teacher.config, frames)
    params = count_params(student.config) / count_params(teacher.config)
    return {f"latency_ratio_{tag}": timed["student"]["median_s"] / timed["teacher"]["median_s"],
            f"mac_ratio_{tag}": macs, f"params_ratio_{tag}": params,
            f"teacher_latency_s_{tag}": timed["teacher"]["median_s"],
            f"student_latency_s_{tag}": timed["student"]["median_s"]}


def data_realtime_factor(root: str, tokenizer: Tokenizer, split: str = "train-clean-100",
                         utterances: int = 60) -> float:
    """Audio seconds per wall second of one data worker: FLAC → log-mel → CMVN → augmentation."""
    rows = read_manifest(layout.manifest_path(root, split))[:utterances]
    cmvn = GlobalCMVN(torch.zeros(NUM_MELS), torch.ones(NUM_MELS))  # the statistics' values cost nothing
    augment = torch.nn.Sequential(FrequencyWarp(0.1), SpecAugment(2, 10, 2, 0.05))
    dataset = AsrDataset(rows, tokenizer, cmvn, augment, speeds=(0.9, 1.0, 1.1))
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    audio = sum(r["num_samples"] / r.get("sample_rate", 16000) for r in rows)
    return audio / (time.perf_counter() - start)


def run_bench(teacher: str, params50: str, macs50: str, data_root: str, device: str = "cpu",
              threads: int = 1, seconds: float = 10.0, repeats: int = 20, bf16: bool = False,
              step_ratio: Callable[[str, str], float] | None = None) -> dict:
    """Every ratio of the module docstring. `step_ratio(teacher, device)` times the prune-stage
    training step against the teacher's; it is passed in because that step is a LightningModule's
    (`conprune.lit.step_ratio`), which this plain-torch layer does not import. None leaves it out."""
    torch.set_num_threads(threads)
    dtype = torch.bfloat16 if bf16 else torch.float32
    results: dict = {"machine": machine(device), "date": dt.date.today().isoformat(), "device": device,
                     "dtype": str(dtype).removeprefix("torch."), "threads": threads, "seconds": seconds}
    for tag, path in (("params50", params50), ("macs50", macs50)):
        if not Path(path).is_file():
            log.warning("bench: %s model %s not found; its rows are left out (make compact builds it)", tag, path)
            continue
        results.update(compact_vs_teacher(teacher, path, tag, seconds, repeats, device, dtype))
    if "params_ratio_params50" in results:
        results["params_sparsity_params50"] = 1.0 - results.pop("params_ratio_params50")
    if "mac_ratio_macs50" in results:
        results["macs_sparsity_macs50"] = 1.0 - results["mac_ratio_macs50"]
        results.pop("params_ratio_macs50")
    # torchaudio's Conformer has no positional encoding inside its blocks: compare like with like
    # (pos_enc none), and report what our rotary embeddings add on top separately.
    results.update(dense_vs_torchaudio(preset("demo", 65, pos_enc="none"), seconds, 1, repeats, device))
    rope = dense_vs_torchaudio(preset("demo", 65), seconds, 1, repeats, device)
    results["dense_rope_vs_torchaudio_ratio"] = rope["dense_vs_torchaudio_ratio"]
    if step_ratio is not None:
        results["prune_step_ratio"] = step_ratio(teacher, device)
    # the teacher's own tokenizer: a corpus pruned from a shipped teacher has none of its own
    tokenizer = Tokenizer(model_proto=load_ctc_model(teacher)[1]["tokenizer"])
    results["data_realtime_factor"] = data_realtime_factor(data_root, tokenizer)
    return results
