"""The method registry: one entry per method, read by the sweep, the baseline cuts, the report and the verdicts."""

from __future__ import annotations

import pytest

from conprune.errors import ConpruneError
from conprune.stages.methods import (
    CONPRUNE,
    CUTS,
    GROUPS,
    METHODS,
    names,
    report_key,
    resolve,
    shares_conprune_shape,
)


def test_roles_and_what_each_method_needs() -> None:
    assert names("method") == (CONPRUNE,)
    assert set(names("same_shape")) == {"magnitude_shapes", "random_shapes"}
    assert all(m.startswith(f"{CONPRUNE}_") and METHODS[m].learned for m in names("ablation"))
    assert METHODS["conprune_no_ramp"].ablation == "no_ramp" and METHODS[CONPRUNE].ablation == ""
    assert {m for m, e in METHODS.items() if e.needs_prune_run} == {
        CONPRUNE, *names("ablation"), *names("same_shape"), "dense_kd", "dense_scratch"}
    assert CUTS == {"magnitude_shapes": ("magnitude", "shapes"), "random_shapes": ("random", "shapes"),
                    "magnitude_uniform": ("magnitude", "uniform"), "magnitude_global": ("magnitude", "global"),
                    "random_uniform": ("random", "uniform"), "dense": ("dense", "shapes")}
    assert METHODS["dense_scratch"].teacher_free and not METHODS["dense_kd"].teacher_free
    assert shares_conprune_shape("random_shapes") and not shares_conprune_shape("magnitude_uniform")
    with pytest.raises(ConpruneError, match="unknown method role"):
        names("rival")


def test_groups_resolve_in_order_once() -> None:
    assert resolve("standard") == list(GROUPS["standard"]) and CONPRUNE in GROUPS["standard"]
    assert not set(GROUPS["standard"]) & set(GROUPS["ablations"])
    assert resolve("conprune,ablations,conprune_no_ramp") == [CONPRUNE, *GROUPS["ablations"]]
    with pytest.raises(ConpruneError, match="sweep --methods: unknown method 'magnitude'"):
        resolve("conprune,magnitude", "sweep --methods")


def test_report_order_lists_teacher_conprune_and_dense_first() -> None:
    rows = ["random_uniform", "dense_kd", "teacher", "zeta", "conprune", "dense_scratch", "magnitude_shapes"]
    assert sorted(rows, key=report_key) == ["teacher", "conprune", "dense_scratch", "dense_kd", "magnitude_shapes",
                                            "random_uniform", "zeta"]
