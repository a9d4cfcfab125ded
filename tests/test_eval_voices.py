"""WER per split and per voice from test predictions."""

import json

import pytest

from conprune.report.voices import to_markdown, wer_table


def test_wer_by_voice(tmp_path):
    ls = tmp_path / "LibriSpeech"
    ls.mkdir()
    (ls / "SPEAKERS.TXT").write_text(
        ";ID |SEX| SUBSET |MINUTES| NAME\n"
        "1 | F | test-other | 1.0 | flite slt pitch 1.00 tempo 1.00\n"
        "2 | F | test-other | 1.0 | espeak en-029+f3 pitch 1.10 tempo 0.90\n"
        "3 | M | test-other | 1.0 | espeak en-029+m1 pitch 0.90 tempo 1.00\n")
    preds = [{"id": "1-1-0", "speaker": "1", "ref": "A B C D", "hyp": "A B C D"},
             {"id": "2-1-0", "speaker": "2", "ref": "A B", "hyp": "A X"},
             {"id": "3-1-0", "speaker": "3", "ref": "A B", "hyp": "A B"}]
    run = tmp_path / "run"
    run.mkdir()
    (run / "predictions-test-other.jsonl").write_text("".join(json.dumps(p) + "\n" for p in preds))
    rows = {r["voice"]: r for r in wer_table(run, tmp_path)}
    assert rows["*"]["wer"] == pytest.approx(1 / 8)
    assert rows["espeak en-029"]["utterances"] == 2 and rows["espeak en-029"]["wer"] == pytest.approx(0.25)
    assert rows["flite slt"]["wer"] == 0.0
    assert "| test-other | **all** | 3 | 8 | 12.5 |" in to_markdown(list(rows.values()))
