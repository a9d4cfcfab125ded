"""The README's bench table, generated from `conprune bench`'s results JSON."""

from __future__ import annotations


def bench_table(results: dict) -> str:
    """The README's bench table, generated from the results JSON."""
    rows = [("compact ÷ teacher latency, −50 % params", "latency_ratio_params50", "{:.2f}"),
            ("the same, predicted by the latency table for its shape", "latency_predicted_params50", "{:.2f}"),
            ("compact ÷ teacher MACs, −50 % params", "mac_ratio_params50", "{:.2f}"),
            ("params sparsity reached (target 50 %)", "params_sparsity_params50", "{:.1%}"),
            ("compact ÷ teacher latency, −50 % MACs", "latency_ratio_macs50", "{:.2f}"),
            ("compact ÷ teacher MACs, −50 % MACs", "mac_ratio_macs50", "{:.2f}"),
            ("MACs sparsity reached (target 50 %)", "macs_sparsity_macs50", "{:.1%}"),
            ("dense conprune ÷ torchaudio Conformer blocks, equal dims", "dense_vs_torchaudio_ratio", "{:.2f}"),
            ("the same with our rotary position embeddings on", "dense_rope_vs_torchaudio_ratio", "{:.2f}"),
            ("prune step ÷ teacher step", "prune_step_ratio", "{:.2f}"),
            ("data pipeline, audio s per wall s (1 worker)", "data_realtime_factor", "{:.0f}"),
            ("student on ONNX Runtime fp32 ÷ teacher in PyTorch", "ort_latency_ratio", "{:.2f}"),
            ("student on ONNX Runtime int8 ÷ teacher in PyTorch", "onnx_int8_latency_ratio", "{:.2f}"),
            ("student int8 WER ÷ student fp32 WER", "int8_wer_ratio", "{:.3f}"),
            ("ONNX vs PyTorch, largest log-prob difference", "onnx_parity_max_abs", "{:.1e}"),
            ("60-minute ÷ 10-minute transcription time", "long_audio_time_ratio", "{:.2f}"),
            ("peak memory transcribing 60 minutes (GB)", "long_audio_peak_gb", "{:.2f}"),
            ("windowed − whole-recording WER (2-minute recordings)", "windowing_wer_delta", "{:+.2%}"),
            ("latency target (measured latency ÷ teacher's)", "latency_target", "{:.2f}"),
            ("latency-targeted student ÷ teacher latency, measured", "latency_ratio_latency_target", "{:.2f}"),
            ("its error against the target, |measured − target| ÷ target", "latency_target_error", "{:.3f}"),
            ("WER at the −50 % params student's latency, latency-targeted − params-targeted",
             "wer_at_equal_latency_delta", "{:+.2%}")]
    lines = ["| measure | value |", "| --- | ---: |"]
    lines += [f"| {label} | {fmt.format(results[key])} |" for label, key, fmt in rows if key in results]
    if "wer_at_equal_latency_ci95" in results:
        lo, hi = results["wer_at_equal_latency_ci95"]
        lines[-1] += f" [{100 * lo:+.2f}, {100 * hi:+.2f}] (paired 95 % CI)"
    if "date" in results:
        lines.append(f"\nMeasured {results['date']} on {results['machine']}, {results['dtype']}, batch 1, "
                     f"{results['seconds']:g} s utterances, median of interleaved repeats.")
    return "\n".join(lines)


VARIANTS = (("teacher, PyTorch eager fp32", "teacher_eager", None), ("student, PyTorch eager fp32", "student_eager", None),
            ("teacher, ONNX Runtime fp32", "teacher_ort", "teacher"), ("student, ONNX Runtime fp32", "student_ort", "student"),
            ("teacher, ONNX Runtime int8 static", "teacher_int8_static_ort", "teacher_int8_static"),
            ("teacher, ONNX Runtime int8 dynamic", "teacher_int8_dynamic_ort", "teacher_int8_dynamic"),
            ("student, ONNX Runtime int8 static", "student_int8_static_ort", "student_int8_static"),
            ("student, ONNX Runtime int8 dynamic", "student_int8_dynamic_ort", "student_int8_dynamic"))


def deploy_table(results: dict) -> str:
    """Every deployment variant's latency ÷ the teacher in PyTorch eager (batch 1 and 8), file size
    and, for the student, pooled test WER; from `conprune bench deploy`'s numbers."""
    if "latency_b1" not in results:
        return "No deployment measurements yet: run `make bench`."
    wer = results.get("test_wer", {})
    lines = ["| variant | latency ÷ teacher eager, batch 1 | batch 8 | file MB | test WER |",
             "| --- | ---: | ---: | ---: | ---: |"]
    for label, key, file in VARIANTS:
        b1, b8 = results["latency_b1"].get(key), results.get("latency_b8", {}).get(key)
        size = f"{results['bytes'][file] / 1e6:.1f}" if file in results.get("bytes", {}) else "–"
        name = key.removesuffix("_ort").replace("_eager", "")
        cell = f"{100 * wer[name]:.1f} %" if name in wer and key != "student_ort" else "–"
        if key == "student_ort" and results.get("onnx_transcripts_identical"):
            cell = "eager's (identical test-clean transcripts)"
        lines.append(f"| {label} | {b1:.2f} | {'–' if b8 is None else f'{b8:.2f}'} | {size} | {cell} |")
    return "\n".join(lines) + (f"\n\n{results['deploy_threads']} CPU thread(s), {results['deploy_seconds']:g} s "
                               "utterances, median of interleaved repeats; int8 chosen for the summary: "
                               f"{results.get('onnx_int8_mode', '–')}.")


def gpu_latency_table(results: dict, aligned: dict | None = None) -> str:
    """`scripts/probes/gpu_latency.py`'s timings: the LibriSpeech-size model dense and cut to a
    learned shape, per batch, dtype and execution mode, with the aligned-width variant's ratio where
    it was timed."""
    extra = {(r["batch"], r["dtype"], r["mode"]): r for r in (aligned or {}).get("runs", []) if "ratio" in r}
    lines = ["| batch | dtype | mode | dense ms | pruned ms | pruned ÷ dense | second run: pruned → widths aligned to 16, ÷ dense |",
             "| ---: | --- | --- | ---: | ---: | ---: | ---: |"]
    for r in results["runs"]:
        if "ratio" not in r:
            lines.append(f"| {r['batch']} | {r.get('dtype', '–')} | {r['mode']} | {r['error']} | | | |")
            continue
        other = extra.get((r["batch"], r["dtype"], r["mode"]), {})
        aligned_ratio = next((f"{other['ratio']:.2f} → {v:.2f}" for k, v in other.items()
                              if k.endswith("_ratio") and k.startswith("aligned")), "–")
        lines.append(f"| {r['batch']} | {r['dtype']} | {r['mode']} | {r['dense_ms']:.2f} | {r['pruned_ms']:.2f} "
                     f"| {r['ratio']:.2f} | {aligned_ratio} |")
    return "\n".join(lines) + (f"\n\n{results['device']}, torch {results['torch']}, preset `{results['preset']}` "
                               f"({results['dense_params'] / 1e6:.1f} M parameters), pruned to params ratio "
                               f"{results['params_ratio']:.2f} (MACs {results['mac_ratio']:.2f}), {results['seconds']:g} s "
                               "utterances, median of interleaved repeats timed with CUDA events.")
