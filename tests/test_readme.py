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


def test_comparison_section_reads_results(tmp_path):
    import json

    from conprune.report.readme_block import comparison_section

    path = tmp_path / "mine" / "results.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"wer": {"dev-clean": 0.25, "test-other": 0.5}, "params": 2_000_000,
                                "macs_per_utterance": 6e8}))
    text = comparison_section(tmp_path, (("mine", "mine"), ("absent", "none")))
    assert "| mine | 2.00 M | 0.60 G | 25.0 % | – | – | 50.0 % |" in text and "absent" not in text


def test_pooled_wer_is_word_weighted():
    from conprune.report.summary import pooled

    wer = {"a": 0.5, "b": 0.1}
    assert pooled(wer, {"a": 100, "b": 300}, ("a", "b")) == pytest.approx((50 + 30) / 400)
