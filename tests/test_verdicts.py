"""The README's result paragraphs are read from the paired comparisons, never typed."""

from conprune.report.table_notes import steps_note
from conprune.report.verdicts import goal_verdict, target_verdict, verdict_section
from conprune.stages.methods import names

BASELINES = names("baseline")  # every standard baseline of the registry is part of the goal


def row(method: str, target: str, delta: float, ci: tuple[float, float], params: float = 2.2e6) -> dict:
    return {"method": method, "target": target, "params": params, "test_wer": 0.4 + delta,
            "delta_vs_conprune": delta, "delta_ci95": list(ci), "p_conprune_better": 0.5}


def conprune(target: str, params: float = 2.2e6) -> dict:
    return {"method": "conprune", "target": target, "params": params, "test_wer": 0.4}


def all_beaten() -> list[dict]:
    rows = []
    for target in ("params50", "params70"):
        rows.append(conprune(target))
        rows += [row(m, target, 0.05, (0.04, 0.06)) for m in BASELINES]
    return rows


def test_goal_is_met_only_when_every_baseline_is_beaten_at_both_targets():
    rows = all_beaten()
    assert goal_verdict(rows).endswith("**met**.")
    rows[1] = row("magnitude_uniform", "params50", 0.004, (-0.001, 0.009))  # a tie is not a win
    text = goal_verdict(rows)
    assert "**not met**" in text and "magnitude_uniform at params50 (+0.4 [-0.1, +0.9])" in text
    assert "not decided yet; no comparison for dense_scratch at params70" in goal_verdict(all_beaten()[:-1])


def test_a_larger_baseline_that_loses_is_still_beaten_but_a_larger_one_that_wins_is_not():
    rows = all_beaten()
    rows[1] = row("magnitude_uniform", "params50", 0.05, (0.04, 0.06), params=2.4e6)
    assert goal_verdict(rows).endswith("**met**.")
    rows[1] = row("magnitude_uniform", "params50", -0.05, (-0.06, -0.04), params=2.4e6)
    assert "**not met**" in goal_verdict(rows)


def test_target_paragraph_groups_rows_by_kind_and_verdict():
    rows = [conprune("params50") | {"seeds": [0, 1, 2], "test_wer_mean": 0.401, "test_wer_sd": 0.002},
            row("magnitude_uniform", "params50", 0.078, (0.073, 0.083)),
            row("magnitude_shapes", "params50", -0.01, (-0.013, -0.007)),
            row("conprune_no_layer_kd", "params50", 0.002, (-0.001, 0.005)),
            row("magnitude_uniform", "params70", 0.2, (0.1, 0.3))]
    text = target_verdict(rows, "params50")
    assert text.startswith("**params50**: conprune 40.0 % test WER, 40.1 ± 0.2 over 3 seeds.")
    assert "Baselines: conprune better than magnitude_uniform +7.8 [+7.3, +8.3]." in text
    assert "Same-shape ablations: conprune worse than magnitude_shapes -1.0 [-1.3, -0.7]." in text
    assert "Ablations (conprune without one part): tie with conprune_no_layer_kd +0.2 [-0.1, +0.5]." in text
    assert "+20.0" not in text  # another target's row
    assert target_verdict(rows, "macs50") is None
    assert verdict_section(rows, ["params50", "macs50"]).count("**params50**") == 1


def test_steps_note_groups_runs_by_step_count():
    note = steps_note({"sweep/prune-params50": 700, "sweep/prune_no_ramp-params50": 700,
                       "sweep/conprune-params50-s1": 300, "sweep/magnitude_uniform-macs50": 1000})
    assert "700 steps: 2 runs (prune, prune_no_ramp); 300 steps: 1 run (conprune); " \
           "1000 steps: 1 run (magnitude_uniform)." in note
    assert "no CSV logs found" in steps_note({})


def test_a_macs_target_compares_size_in_macs():
    from conprune.report.verdicts import row_verdict

    base = conprune("macs50") | {"macs": 0.61e9}
    bigger = row("dense_kd", "macs50", 0.2, (0.19, 0.21)) | {"macs": 0.66e9}
    assert row_verdict(bigger, base) == "conprune better (row has +8 % MACs)"
    winner = row("dense_kd", "macs50", -0.01, (-0.02, -0.005)) | {"macs": 0.66e9}
    assert row_verdict(winner, base) == "not comparable: 0.66 G vs 0.61 G MACs"
    same_macs = row("magnitude_uniform", "macs50", 0.05, (0.04, 0.06), params=3e6) | {"macs": 0.612e9}
    assert row_verdict(same_macs, base) == "conprune better"  # params may differ at a MACs target
