"""`conprune evaluate`: corpus WER, size, MACs (analytic and measured), CPU latency, kept structure.

Works on the standalone model file (`conprune compact`) so what is measured is exactly what a
user would deploy: the physically smaller network, its own tokenizer and CMVN statistics.
Decoding is greedy CTC, or beam search with an n-gram LM (`conprune.inference.lm_decoder`), whose
search time per second of audio is reported beside the acoustic model's latency.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode
from torchmetrics.functional.text import word_error_rate

from conprune.data import layout
from conprune.data.dataset import AsrDataset, collate
from conprune.data.features import front_end
from conprune.data.librispeech import expand_splits, prepare
from conprune.data.manifest import atomic_write_text, read_manifest
from conprune.data.sampling import EvalBatchSampler
from conprune.data.tokenizer import Tokenizer
from conprune.inference.lm_decoder import BeamDecoder
from conprune.inference.onnx_model import load_any
from conprune.measure.latency import example_batch, model_call, side_by_side
from conprune.models.config import ConformerConfig
from conprune.models.conformer import ConformerCTC
from conprune.models.ctc import greedy_decode
from conprune.pruning.cost import count_macs, count_params, ref_frames

UNITS = {"heads": "heads", "ffn1": "ffn1_dim", "ffn2": "ffn2_dim", "conv": "conv_channels"}


def load_for_eval(model_path: str | None = None, ckpt: str | None = None) -> tuple[ConformerCTC, dict]:
    """A standalone model file (`.pt`, or an exported `.onnx` run by ONNX Runtime), or a Lightning
    checkpoint compacted on the fly (nothing kept on disk)."""
    if model_path:
        return load_any(model_path)
    from conprune.stages.export import compact_command

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "model.pt"
        compact_command(str(ckpt), str(out))
        return load_any(out)


def posteriors(model: ConformerCTC, info: dict, rows: list[dict],
               max_frames: int = 30000) -> Iterator[tuple[list[str], torch.Tensor, torch.Tensor]]:
    """(utterance ids, log-probs [B, T', V], lengths [B]) batch by batch, in batches of at most
    `max_frames` input frames, with the model's own tokenizer and CMVN."""
    tokenizer = Tokenizer(model_proto=info["tokenizer"])
    logmel, cmvn = front_end(info["cmvn"])
    dataset = AsrDataset(rows, tokenizer, cmvn, logmel=logmel)
    batches = EvalBatchSampler(dataset.frame_lengths(), max_frames, 0, 1)
    loader = DataLoader(dataset, batch_sampler=batches, collate_fn=collate)
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            out = model(batch["features"], batch["lengths"])
            yield batch["ids"], out.log_probs, out.lengths


def transcribe_rows(model: ConformerCTC, info: dict, rows: list[dict], max_frames: int = 30000,
                    decoder: BeamDecoder | None = None) -> list[str]:
    """Transcripts of manifest rows, in row order: greedy, or `decoder`'s beam search."""
    tokenizer = Tokenizer(model_proto=info["tokenizer"])
    by_id: dict[str, str] = {}
    for ids, log_probs, lengths in posteriors(model, info, rows, max_frames):
        if decoder is None:
            texts = [tokenizer.decode(tokens) for tokens in greedy_decode(log_probs, lengths)]
        else:
            texts = decoder(log_probs, lengths)
        by_id.update(zip(ids, texts))
    return [by_id[r["id"]] for r in rows]


def measured_macs(model: ConformerCTC, frames: int) -> float:
    """MACs of one forward pass of `frames` input frames counted by torch's FlopCounterMode."""
    feats, lengths = example_batch(frames / 100, 1, model.config.input_dim)
    model.eval()
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        model(feats, lengths)
    return counter.get_total_flops() / 2


def kept_table(config: ConformerConfig, dense: ConformerConfig | None) -> list[dict]:
    """Per layer: kept heads / FFN units / conv channels, and the dense count where known."""
    rows = []
    for layer in range(config.num_layers):
        row: dict = {"layer": layer}
        for name, field in UNITS.items():
            row[name] = getattr(config, field)[layer]
            if dense is not None:
                row[f"{name}_dense"] = getattr(dense, field)[layer]
        rows.append(row)
    return rows


def write_predictions(out_dir: Path, split: str, rows: list[dict], hyps: list[str]) -> Path:
    """predictions-<split>.jsonl: id, speaker, reference and hypothesis per utterance (the format
    `conprune test` writes), for WER per voice and paired bootstrap comparisons."""
    lines = "".join(json.dumps({"id": r["id"], "speaker": r.get("speaker", ""), "ref": r["text"], "hyp": h}) + "\n"
                    for r, h in sorted(zip(rows, hyps), key=lambda pair: pair[0]["id"]))
    return atomic_write_text(out_dir / f"predictions-{split}.jsonl", lines, "predictions")


def evaluate(model: ConformerCTC, info: dict, root: str | Path, splits: list[str], threads: int = 1,
             latency_seconds: float = 10.0, repeats: int = 10, max_frames: int = 30000,
             predictions: str | Path | None = None, decoder: BeamDecoder | None = None) -> dict:
    """Everything `conprune evaluate` reports, as one JSON-ready dict (WERs are fractions).

    Transcription uses every CPU thread; `threads` applies to the latency measurement only (the
    beam search runs on one thread anyway). With `predictions`, each split's per-utterance
    hypotheses are written there too; with `decoder`, transcripts come from its beam search.
    """
    root = Path(root)
    splits = expand_splits(splits)
    missing = [s for s in splits if not layout.manifest_path(root, s).is_file()]
    if missing:
        prepare(root, missing, out_dir=layout.manifest_dir(root))
    wer, audio_s = {}, 0.0
    for split in splits:
        rows = read_manifest(layout.manifest_path(root, split))
        audio_s += sum(r["num_samples"] / r["sample_rate"] for r in rows)
        hyps = transcribe_rows(model, info, rows, max_frames, decoder)
        wer[split] = float(word_error_rate(hyps, [r["text"] for r in rows]))
        if predictions is not None:
            write_predictions(Path(predictions), split, rows, hyps)
    config = model.config
    default_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    frames = ref_frames(latency_seconds)
    feats, lengths = example_batch(latency_seconds, 1, config.input_dim)
    timed = side_by_side({"model": model_call(model, feats, lengths)}, repeats=repeats)["model"]
    torch.set_num_threads(default_threads)
    meta = info.get("meta", {})
    onnx = not isinstance(model, torch.nn.Module)  # an ONNX Runtime session: no weights, no FLOP counter
    dense = ConformerConfig.from_dict(meta["dense_config"]) if meta.get("dense_config") else None
    return {
        "wer": wer, "decoder": decoding(decoder, audio_s),
        "params": count_params(config), "runtime": "onnxruntime" if onnx else "pytorch",
        "params_counted": count_params(config) if onnx else sum(p.numel() for p in model.parameters()),
        "dense_params": count_params(dense) if dense is not None else None,
        "macs_per_utterance": count_macs(config, frames), "macs_measured": None if onnx else measured_macs(model, frames),
        "latency_seconds_of_audio": latency_seconds, "latency_s": timed["median_s"],
        "real_time_factor": timed["median_s"] / latency_seconds, "threads": threads,
        "kept": kept_table(config, dense), "config": config.to_dict(),
    }


def decoding(decoder: BeamDecoder | None, audio_s: float) -> dict:
    """How the transcripts were decoded; for beam search also its time per second of audio."""
    if decoder is None:
        return {"decoder": "greedy", "note": "greedy CTC, no LM"}
    return {**decoder.describe(), "search_s": decoder.seconds, "audio_s": audio_s,
            "search_s_per_audio_s": decoder.seconds / audio_s if audio_s else None}


def write_results(results: dict, out: str | Path) -> None:
    atomic_write_text(Path(out), json.dumps(results, indent=1) + "\n")


def format_summary(results: dict) -> str:
    """A few human lines for the terminal (the JSON holds everything)."""
    lines = [f"{split}: WER {100 * w:.1f} %" for split, w in results["wer"].items()]
    measured = results["macs_measured"]
    lines.append(f"params {results['params'] / 1e6:.2f} M, MACs per {results['latency_seconds_of_audio']:g} s "
                 f"{results['macs_per_utterance'] / 1e9:.2f} G"
                 + (f" (measured {measured / 1e9:.2f} G)" if measured is not None else ""))
    lines.append(f"latency {1000 * results['latency_s']:.1f} ms on {results['threads']} thread(s), "
                 f"RTF {results['real_time_factor']:.4f}")
    decoded = results["decoder"]
    if decoded.get("search_s_per_audio_s") is not None:
        lines.append(f"beam search ({decoded['search']}, beam {decoded['beam']}, LM {decoded['lm']}): "
                     f"{1000 * decoded['search_s_per_audio_s']:.2f} ms per audio second, 1 thread")
    return os.linesep.join(lines)
