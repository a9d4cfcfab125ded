"""`conprune card-lm`: a shipped teacher's card gains LM-decoded WER beside greedy, from evaluate's results."""

from __future__ import annotations

import json
from pathlib import Path

from hf_checkpoints import cli, cli_error

SHIPPED = Path(__file__).resolve().parents[1] / "pretrained" / "demo-teacher-v1"
BEAM = {"decoder": "beam", "search": "lexicon", "lm": "lm.bin", "beam": 8, "beam_token": 8, "beam_threshold": 25.0,
        "lm_weight": 1.5, "word_score": 0.5, "search_s": 1.0, "audio_s": 100.0, "search_s_per_audio_s": 0.01}


def card_dir(tmp_path: Path) -> Path:
    out = tmp_path / "teacher"
    out.mkdir()
    card = json.loads((SHIPPED / "card.json").read_text())
    card.pop("lm", None)
    (out / "card.json").write_text(json.dumps(card))
    return out


def results(tmp_path: Path, name: str, wer: dict, decoder: dict, params: int) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"wer": wer, "decoder": decoder, "params": params}))
    return path


def test_the_card_shows_greedy_and_lm_wer_per_split(tmp_path, capsys):
    out = card_dir(tmp_path)
    params = json.loads((out / "card.json").read_text())["params"]
    beam = results(tmp_path, "beam.json", {"test-other": 0.30, "test-clean": 0.05}, BEAM, params)
    confirm = results(tmp_path, "confirm.json", {"test-confirm-clean": 0.25}, BEAM | {"search_s": 2.0}, params)
    greedy = results(tmp_path, "greedy.json", {"test-confirm-clean": 0.40}, {"decoder": "greedy"}, params)
    lm = cli(["card-lm", "--dir", str(out), "--results", str(beam), str(confirm), str(greedy)], capsys)
    assert list(lm["wer"]) == ["test-clean", "test-other", "test-confirm-clean"]
    assert lm["decoder"]["lm_weight"] == 1.5 and "search_s" not in lm["decoder"]
    readme = (out / "README.md").read_text()
    card = json.loads((out / "card.json").read_text())
    assert f"| test-clean | {100 * card['test_clean_wer']:.1f} % | 5.0 % |" in readme
    assert "| test-confirm-clean | 40.0 % | 25.0 % |" in readme
    assert card["lm"] == lm


def test_results_of_another_model_or_two_settings_are_refused_in_one_line(tmp_path, capsys):
    out = card_dir(tmp_path)
    params = json.loads((out / "card.json").read_text())["params"]
    other = results(tmp_path, "other.json", {"test-clean": 0.05}, BEAM, params + 1)
    assert "parameters, not the card's" in cli_error(["card-lm", "--dir", str(out), "--results", str(other)], capsys)
    a = results(tmp_path, "a.json", {"test-clean": 0.05}, BEAM, params)
    b = results(tmp_path, "b.json", {"test-other": 0.3}, BEAM | {"lm_weight": 0.5}, params)
    assert "one `conprune evaluate --decoder beam` setting" in cli_error(
        ["card-lm", "--dir", str(out), "--results", str(a), str(b)], capsys)
    assert "is missing" in cli_error(["card-lm", "--dir", str(tmp_path / "none"), "--results", str(a)], capsys)
    assert "lm" not in json.loads((out / "card.json").read_text())
