"""conprune.report: run results collected into summaries, tables, plots, W&B and README blocks."""
