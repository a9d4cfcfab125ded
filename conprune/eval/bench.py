"""`conprune bench` / `make bench`: the speed numbers behind the README, measured side by side.

Every latency number is a ratio of two models timed interleaved in one process (see latency.py):
compact student ÷ dense teacher at the 50 % params and 50 % MACs targets, our dense Conformer ÷
torchaudio's at equal dims; plus the prune/teacher training-step ratio and the data pipeline's
audio-seconds per wall-second. Writes `bench/results.json` (CPU) or `bench/results-<device>.json`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import platform
import time
from pathlib import Path

import torch

from conprune.data.datamodule import AsrDataset
from conprune.data.features import FrequencyWarp, GlobalCMVN, SpecAugment
from conprune.data.manifest import read_manifest
from conprune.data.tokenizer import Tokenizer
from conprune.eval.latency import dense_vs_torchaudio, example_batch, model_call, side_by_side
from conprune.io_atomic import atomic_write_text, ensure_writable_dir
from conprune.lit.checkpoint_io import load_ctc_model
from conprune.models.config import preset
from conprune.models.package import load_model
from conprune.pruning.cost import count_macs, count_params, ref_frames

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


def data_realtime_factor(root: str, split: str = "train-clean-100", utterances: int = 60,
                         num_pieces: int = 64) -> float:
    """Audio seconds per wall second of one data worker: FLAC → log-mel → CMVN → augmentation."""
    root_path = Path(root)
    rows = read_manifest(root_path / "manifests" / f"{split}.jsonl")[:utterances]
    tokenizer = Tokenizer(root_path / "tokenizer" / f"unigram{num_pieces}.model")
    stats = json.loads(next((root_path / "manifests").glob("cmvn-*.json")).read_text())
    cmvn = GlobalCMVN(torch.tensor(stats["mean"]), torch.tensor(stats["std"]))
    augment = torch.nn.Sequential(FrequencyWarp(0.1), SpecAugment(2, 10, 2, 0.05))
    dataset = AsrDataset(rows, tokenizer, cmvn, augment, speeds=(0.9, 1.0, 1.1))
    start = time.perf_counter()
    for i in range(len(dataset)):
        dataset[i]
    audio = sum(r["num_samples"] / r.get("sample_rate", 16000) for r in rows)
    return audio / (time.perf_counter() - start)


def run_bench(teacher: str, params50: str, macs50: str, data_root: str, device: str = "cpu",
              threads: int = 1, seconds: float = 10.0, repeats: int = 20, bf16: bool = False) -> dict:
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
    from conprune.eval.step_ratio import step_ratio

    results["prune_step_ratio"] = step_ratio(teacher, device=device)["prune_step_ratio"]
    results["data_realtime_factor"] = data_realtime_factor(data_root)
    return results


def bench_table(results: dict) -> str:
    """The README's bench table, generated from the results JSON."""
    rows = [("compact ÷ teacher latency, −50 % params", "latency_ratio_params50", "{:.2f}"),
            ("compact ÷ teacher MACs, −50 % params", "mac_ratio_params50", "{:.2f}"),
            ("params sparsity reached (target 50 %)", "params_sparsity_params50", "{:.1%}"),
            ("compact ÷ teacher latency, −50 % MACs", "latency_ratio_macs50", "{:.2f}"),
            ("compact ÷ teacher MACs, −50 % MACs", "mac_ratio_macs50", "{:.2f}"),
            ("MACs sparsity reached (target 50 %)", "macs_sparsity_macs50", "{:.1%}"),
            ("dense conprune ÷ torchaudio Conformer blocks, equal dims", "dense_vs_torchaudio_ratio", "{:.2f}"),
            ("the same with our rotary position embeddings on", "dense_rope_vs_torchaudio_ratio", "{:.2f}"),
            ("prune step ÷ teacher step", "prune_step_ratio", "{:.2f}"),
            ("data pipeline, audio s per wall s (1 worker)", "data_realtime_factor", "{:.0f}")]
    lines = ["| measure | value |", "| --- | ---: |"]
    lines += [f"| {label} | {fmt.format(results[key])} |" for label, key, fmt in rows if key in results]
    lines.append(f"\nMeasured {results['date']} on {results['machine']}, {results['dtype']}, batch 1, "
                 f"{results['seconds']:g} s utterances, median of interleaved repeats.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="conprune bench", description=__doc__.splitlines()[0])
    parser.add_argument("--teacher", default="runs/teacher/checkpoints/best.ckpt")
    parser.add_argument("--params50", default="runs/prune/model.pt")
    parser.add_argument("--macs50", default="runs/prune-macs/model.pt")
    parser.add_argument("--data-root", default="data/synth")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--out", default=None)
    parser.add_argument("--readme", default=None, help="README to regenerate the bench section of")
    args = parser.parse_args(argv)
    out = Path(args.out or ("bench/results.json" if args.device == "cpu" else f"bench/results-{args.device}.json"))
    ensure_writable_dir(out.parent, "bench --out directory")  # before minutes of timing, not after
    results = run_bench(args.teacher, args.params50, args.macs50, args.data_root, args.device, args.threads,
                        repeats=args.repeats, bf16=args.bf16)
    atomic_write_text(out, json.dumps(results, indent=1) + "\n", "bench results")
    print(bench_table(results))
    if args.readme:
        from conprune.eval.readme import replace_section

        readme = Path(args.readme)
        atomic_write_text(readme, replace_section(readme.read_text(), "bench", bench_table(results)))


if __name__ == "__main__":
    main()
