"""conprune.measure: WER, size, MACs and latency of models, measured side by side."""
