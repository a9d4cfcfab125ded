"""The report keeps each tuned method at the learning rate with the lowest dev WER, never test's."""

from __future__ import annotations

from conprune.report.lr_choice import choose_learning_rates
from conprune.report.runs import parse_run_name, run_lr


def row(method: str, lr: str, seed: int, dev: float, test: float, target: str = "params50") -> dict:
    return {"method": method, "target": target, "seed": seed, "dev_wer": dev, "test_wer": test,
            **({"lr": lr} if lr else {})}


def test_the_lowest_dev_wer_wins_even_where_test_disagrees_and_every_seed_of_it_stays() -> None:
    rows = [row("magnitude_shapes", "3e-4", 0, 0.30, 0.40), row("magnitude_shapes", "1e-3", 0, 0.28, 0.45),
            row("magnitude_shapes", "1e-3", 1, 0.29, 0.44), row("magnitude_shapes", "6e-4", 0, 0.31, 0.35),
            row("conprune", "", 0, 0.27, 0.41)]
    kept = choose_learning_rates(rows)
    shapes = [r for r in kept if r["method"] == "magnitude_shapes"]
    assert [(r["lr"], r["seed"]) for r in shapes] == [("1e-3", 0), ("1e-3", 1)]
    assert shapes[0]["lr_grid"] == {"1e-3": 0.28, "3e-4": 0.30, "6e-4": 0.31} and shapes[0]["lr_chosen_on"] == "dev"
    conprune = [r for r in kept if r["method"] == "conprune"]
    assert conprune == [rows[-1]] and "lr_grid" not in conprune[0]


def test_a_rate_without_a_seed_0_run_is_ranked_by_its_seeds_mean_and_the_configs_rate_is_a_grid_point() -> None:
    rows = [row("gmp_global", "", 0, 0.30, 0.4), row("gmp_global", "1e-3", 1, 0.20, 0.4),
            row("gmp_global", "1e-3", 2, 0.36, 0.4)]
    kept = choose_learning_rates(rows)
    assert [r.get("lr", "") for r in kept] == ["1e-3", "1e-3"] and kept[0]["lr_grid"] == {"config": 0.30, "1e-3": 0.28}


def test_run_names_carry_the_learning_rate_after_the_seed() -> None:
    assert parse_run_name("magnitude_shapes-params50-s2-lr6e-4") == ("magnitude_shapes", "params50", 2)
    assert run_lr("magnitude_shapes-params50-s2-lr6e-4") == "6e-4" and run_lr("conprune-params50") == ""
    assert parse_run_name("gmp_global-params70-lr1.5e-3") == ("gmp_global", "params70", 0)
