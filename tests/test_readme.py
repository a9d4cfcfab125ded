"""README sections are regenerated between markers, never typed."""

import pytest

from conprune.errors import ConpruneError
from conprune.report.readme_block import replace_section


def test_replace_section_keeps_the_rest():
    text = "intro\n<!-- t:begin -->\nold\n<!-- t:end -->\noutro\n"
    out = replace_section(text, "t", "new $1 \\n table")
    assert out == "intro\n<!-- t:begin -->\nnew $1 \\n table\n<!-- t:end -->\noutro\n"
    assert replace_section(out, "t", "new $1 \\n table") == out
    with pytest.raises(ConpruneError, match="no section"):
        replace_section(text, "missing", "x")


def test_pooled_wer_is_word_weighted():
    from conprune.report.summary import pooled

    wer = {"a": 0.5, "b": 0.1}
    assert pooled(wer, {"a": 100, "b": 300}, ("a", "b")) == pytest.approx((50 + 30) / 400)


def test_shipped_and_demo_sections(tmp_path):
    import json

    from conprune.report.readme_sections import demo_section, shipped_section

    card = {"model_config": {"num_layers": 6, "d_model": 176}, "params": 4_400_000, "macs_per_10s": 1.2e9,
            "train_steps": 9000, "train_wall_s": 7000, "hardware": "x86_64 CPU, 2 threads", "test_clean_wer": 0.2,
            "test_other_wer": 0.45, "dev_clean_wer": 0.21, "dev_other_wer": 0.4, "reproduce": "make teacher PROFILE=long"}
    (tmp_path / "card.json").write_text(json.dumps(card))
    text = shipped_section(tmp_path)
    assert "4.40 M parameters" in text and "test-other (voices never heard in training) 45.0 %" in text
    assert "`make teacher PROFILE=long`" in text and "Both WER goals" in text
    (tmp_path / "card.json").write_text(json.dumps({**card, "test_other_wer": 0.573}))
    assert "Goal not met: test-other 57.3 % > 50 %" in shipped_section(tmp_path)
    rows = [{"method": "teacher", "target": "none", "params": 4.4e6, "test_wer": 0.3, "latency_ratio": 1.0},
            {"method": "conprune", "target": "params50", "params": 2.2e6, "test_wer": 0.32, "latency_ratio": 0.7,
             "train_steps": 310, "train_seconds": 290.4, "seeds": [0, 1], "test_wer_mean": 0.325, "test_wer_sd": 0.007},
            {"method": "magnitude_uniform", "target": "params50", "params": 2.2e6, "test_wer": 0.35,
             "latency_ratio": None, "train_steps": 310, "delta_vs_conprune": 0.03, "delta_ci95": [0.02, 0.04],
             "p_conprune_better": 0.999},
            {"method": "conprune_ffn_only", "target": "params50", "params": 2.3e6, "test_wer": 0.33,
             "train_steps": 310, "delta_vs_conprune": 0.01, "delta_ci95": [0.005, 0.015], "p_conprune_better": 1.0},
            {"method": "conprune_fixed_l0", "target": "params50", "params": 2.9e6, "test_wer": 0.3,
             "train_steps": 310, "delta_vs_conprune": -0.02, "delta_ci95": [-0.03, -0.01], "p_conprune_better": 0.0},
            {"method": "magnitude_global", "target": "params50", "params": 2.2e6, "test_wer": 0.321,
             "train_steps": 310, "delta_vs_conprune": 0.001, "delta_ci95": [-0.004, 0.006], "p_conprune_better": 0.6}]
    (tmp_path / "summary.json").write_text(json.dumps(rows))
    (tmp_path / "timing.json").write_text(json.dumps({"seconds": 1500, "date": "2026-11-29"}))
    table = demo_section(tmp_path)
    assert "| magnitude_uniform (params50) | 2.20 M | 35.0 % | – | +3.0 [+2.0, +4.0] | 1.00 | conprune better | – | 310 | – |" in table
    assert "| conprune (params50) | 2.20 M | 32.0 % | 32.5 ± 0.7 % (2) | – | – | – | 0.70 | 310 | 290 |" in table
    assert "| magnitude_global (params50) | 2.20 M | 32.1 % | – | +0.1 [-0.4, +0.6] | 0.60 | tie |" in table
    assert "| -2.0 [-3.0, -1.0] | 0.00 | not comparable: 2.90 M vs 2.20 M params |" in table
    assert "| +1.0 [+0.5, +1.5] | 1.00 | conprune better (row has +5 % params) |" in table
    assert table.index("| teacher |") < table.index("| conprune (") < table.index("| magnitude_uniform (")
    assert "took 25.0 min (2026-11-29)" in table


def test_gpu_latency_section():
    from conprune.report.bench_table import gpu_latency_table

    runs = [{"batch": 1, "dtype": "bf16", "mode": "cuda_graph", "dense_ms": 4.0, "pruned_ms": 3.0, "ratio": 0.75},
            {"batch": 1, "mode": "compile", "error": "skipped: time budget"}]
    info = {"runs": runs, "device": "GPU", "torch": "2", "preset": "small", "dense_params": 29e6, "params_ratio": 0.5,
            "mac_ratio": 0.6, "seconds": 10.0}
    aligned = {"runs": [{**runs[0], "ratio": 0.8, "aligned16_ratio": 0.7}]}
    table = gpu_latency_table(info, aligned)
    assert "| 1 | bf16 | cuda_graph | 4.00 | 3.00 | 0.75 | 0.80 → 0.70 |" in table
    assert "| 1 | – | compile | skipped: time budget |" in table and "29.0 M parameters" in table
    assert "| 1 | bf16 | cuda_graph | 4.00 | 3.00 | 0.75 | – |" in gpu_latency_table(info)
