"""The README's bench table, generated from `conprune bench`'s results JSON."""

from __future__ import annotations


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
