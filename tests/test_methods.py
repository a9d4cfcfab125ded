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
    assert set(names("same_shape")) == {"magnitude_shapes", "random_shapes", "magnitude_shapes_compute"}
    assert all(m.startswith(f"{CONPRUNE}_") and METHODS[m].learned for m in names("ablation"))
    assert METHODS["conprune_no_ramp"].ablation == "no_ramp" and METHODS[CONPRUNE].ablation == ""
    assert {m for m, e in METHODS.items() if e.needs_prune_run} == {
        CONPRUNE, *names("ablation"), *names("same_shape"), "dense_kd", "dense_scratch", "gmp_uniform", "gmp_global"}
    assert {m for m, e in METHODS.items() if e.budget == "compute"} == {"magnitude_shapes_compute",
                                                                         "magnitude_global_compute"}
    assert CUTS == {"magnitude_shapes": ("magnitude", "shapes"), "random_shapes": ("random", "shapes"),
                    "magnitude_uniform": ("magnitude", "uniform"), "magnitude_global": ("magnitude", "global"),
                    "random_uniform": ("random", "uniform"), "dense": ("dense", "shapes")}
    assert METHODS["dense_scratch"].teacher_free and not METHODS["dense_kd"].teacher_free
    assert shares_conprune_shape("random_shapes") and not shares_conprune_shape("magnitude_uniform")
    with pytest.raises(ConpruneError, match="unknown method role"):
        names("rival")


def test_each_method_names_its_prune_run_and_its_configs() -> None:
    """conprune and the same-shape rivals share one prune run, an ablation and a gradual baseline
    run their own; whoever prunes itself is fine-tuned by the finetune stage, a cut by the baseline schedule."""
    runs = {m: e.prune_run for m, e in METHODS.items()}
    assert runs[CONPRUNE] == runs["magnitude_shapes"] == runs["dense_kd"] == "prune"
    assert runs["conprune_no_ramp"] == "prune_no_ramp" and runs["gmp_global"] == "prune_gmp_global"
    assert runs["magnitude_uniform"] == runs["random_uniform"] == ""
    gmp = METHODS["gmp_uniform"]
    assert gmp.role == "baseline" and gmp.prunes_itself and not gmp.learned and gmp.cut == ""
    assert gmp.prune_configs == ("gmp.yaml", "{profile}/gmp.yaml")
    assert gmp.prune_args == ("--model.init_args.allocation", "uniform")
    assert METHODS["gmp_global"].prune_args[-1] == "global"
    assert gmp.train_configs == METHODS[CONPRUNE].train_configs == ("finetune.yaml", "{profile}/finetune.yaml")
    assert METHODS["conprune_no_layer_kd"].prune_configs == (
        "prune.yaml", "{profile}/prune.yaml", "ablations/no_layer_kd/prune.yaml")
    assert METHODS["conprune_no_layer_kd"].train_configs[-1] == "ablations/no_layer_kd/finetune.yaml"
    assert METHODS["magnitude_uniform"].train_configs == ("finetune.yaml", "baseline.yaml", "{profile}/baseline.yaml")
    assert METHODS[CONPRUNE].prune_args == ()
    assert {"gmp_uniform", "gmp_global"} <= set(GROUPS["standard"]) and "gmp_uniform" not in CUTS


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
