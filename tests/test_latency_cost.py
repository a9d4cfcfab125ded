"""The measured-latency target: the table's expected latency is differentiable in the gates,
equals a direct table lookup for 0/1 gates, is refused for another model shape, and a prune
stage can aim at it."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from conprune.cli import main
from conprune.errors import ConpruneError
from conprune.lit.student import PrunedStudentModule
from conprune.measure.latency_table import grid, measure_latency_table
from conprune.models.gate_keys import gate_shapes
from conprune.models.package import load_model
from conprune.pruning.cost import pruned_config
from conprune.pruning.latency_cost import LatencyTable, exact_latency, expected_latency, interpolate


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> tuple[LatencyTable, object]:
    from conftest import make_tiny_model

    config = make_tiny_model().config
    measured = measure_latency_table(config, seconds=1.0, repeats=2, points=4)
    path = measured.save(tmp_path_factory.mktemp("latency") / "table.json")
    return LatencyTable.load(path), config, path


def test_grid_and_interpolation() -> None:
    assert grid(4, 9) == [1, 2, 3, 4] and grid(128, 5) == [1, 32, 64, 96, 128]
    curve = {"units": [1.0, 3.0], "seconds": [1.0, 2.0]}
    assert float(interpolate(curve, 2.0)) == pytest.approx(1.5) and float(interpolate(curve, 0.5)) == pytest.approx(1.0)
    n = torch.tensor(2.0, requires_grad=True)
    interpolate(curve, n).backward()
    assert n.grad == pytest.approx(0.5)


def test_expected_latency_matches_lookup_for_binary_gates_and_has_gradients(table) -> None:
    measured, config, _ = table
    shapes = gate_shapes(config)
    generator = torch.Generator().manual_seed(0)
    masks = {k: (torch.rand(s, generator=generator) > 0.4).float() if s else torch.tensor(1.0)
             for k, s in shapes.items() if k != "hidden"}
    small = pruned_config(config, masks)
    assert float(expected_latency(config, masks, measured)) == pytest.approx(exact_latency(small, measured))
    dense = exact_latency(config, measured)
    assert dense == pytest.approx(measured.fixed_s + sum(
        float(interpolate(measured.curves[c], n)) for c, n in
        [("mhsa", h) for h in config.heads] + [("ffn", f) for f in config.ffn1_dim + config.ffn2_dim]
        + [("conv", c) for c in config.conv_channels]))
    probs = {k: torch.full(s, 0.7, requires_grad=True) for k, s in shapes.items() if k != "hidden" and s}
    expected_latency(config, probs, measured).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in probs.values())


@pytest.mark.parametrize("options", [
    {"pos_enc": "rel_xl", "subsampling": "dw_striding", "subsampling_factor": 8, "subsampling_padded": True,
     "input_scale": 8.0, "attn_bias": False, "ffn_bias": False, "conv_bias": False},
    {"subsampling": "conv1d", "subsampling_kernel": 5, "norm_bias": False, "ffn_residual": [1.5, 0.5],
     "final_norm": True, "conv_kernel": 6, "conv_padding": "same", "activation": "gelu"}],
    ids=["parakeet-like", "lasr-like"])
def test_latency_table_times_modules_with_the_teachers_options(options: dict, monkeypatch) -> None:
    """Each timed module has the teacher's options (rel_xl attention gets its relative table), and
    the fixed part runs the teacher's front end."""
    from conftest import make_tiny_model

    from conprune.measure import latency_table

    config = make_tiny_model(**options).config
    built = []
    original = latency_table.self_attention
    monkeypatch.setattr(latency_table, "self_attention", lambda cfg, n: built.append(original(cfg, n)) or built[-1])
    measured = measure_latency_table(config, seconds=0.3, repeats=1, points=2)
    assert set(measured.curves) == {"mhsa", "ffn", "conv"} and measured.fixed_s > 0
    assert [m.heads for m in built] == [1, 2, 3, 4]
    assert all(m.rel_xl == (config.pos_enc == "rel_xl") and (m.q.bias is None) != config.attn_bias for m in built)


def test_prune_stage_aims_at_latency(table, teacher_ckpt) -> None:
    measured, config, path = table
    student = PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), target={"metric": "latency", "latency_table": str(path)})
    assert student.total_cost == pytest.approx(exact_latency(config, measured))
    sparsity = student.expected_sparsity()
    sparsity.backward()
    assert torch.isfinite(sparsity) and any(p.grad is not None for p in student.gates.log_alpha_parameters())
    with pytest.raises(ConpruneError, match="needs target.latency_table"):
        PrunedStudentModule(teacher_ckpt=str(teacher_ckpt), target={"metric": "latency"})
    other = LatencyTable(**{**measured.__dict__, "shape": {**measured.shape, "d_model": 999}})
    with pytest.raises(ConpruneError, match="latency table was measured for"):
        other.check_fits(config, "target.latency_table")


def _predictions(directory, hyps: list[str]) -> None:
    directory.mkdir(parents=True)
    for split in ("test-clean", "test-other"):
        lines = [json.dumps({"id": f"u{i}", "ref": "a b c d", "hyp": h}) for i, h in enumerate(hyps)]
        (directory / f"predictions-{split}.jsonl").write_text("\n".join(lines) + "\n")


def test_bench_latency_target(table, teacher_ckpt, compact_student, tmp_path, capsys) -> None:
    """Where the latency-targeted students landed (measured against the teacher, next to the
    table's prediction) and the paired WER difference at equal latency, through the CLI."""
    _, _, path = table
    students = {}
    for name, hyps in (("params50", ["a b c d", "a b x d", "a x x d"] * 4), ("matched", ["a b c d"] * 12),
                       ("latency50", ["a b c d"] * 12)):
        run = tmp_path / name
        _predictions(run / "predictions", hyps)
        students[name] = shutil.copyfile(compact_student, run / "model.pt")
    out = tmp_path / "bench.json"
    out.write_text(json.dumps({"kept": 1}))
    main(["bench", "latency-target", "--teacher", str(teacher_ckpt), "--params50", str(students["params50"]),
          "--latency", str(students["latency50"]), "--matched", str(students["matched"]), "--latency-table", str(path),
          "--latency-target", "0.8", "--seconds", "1", "--repeats", "5", "--out", str(out)])
    got = json.loads(out.read_text())
    assert got["kept"] == 1 and got["latency_ratio_latency_target"] > 0
    assert got["latency_target_error"] == pytest.approx(abs(got["latency_ratio_latency_target"] - 0.8) / 0.8)
    assert got["wer_params50"] == pytest.approx(3 / 12) and got["wer_latency_matched"] == 0.0
    assert got["wer_at_equal_latency_delta"] == pytest.approx(-3 / 12)
    lo, hi = got["wer_at_equal_latency_ci95"]
    assert lo <= -3 / 12 <= hi < 0 and got["p_latency_matched_better"] > 0.95
    student = load_model(students["latency50"])[0].config
    assert got["latency_predicted_latency_target"] == pytest.approx(
        exact_latency(student, LatencyTable.load(path)) / exact_latency(table[1], LatencyTable.load(path)))
    assert got["latency_predicted_params50"] == got["latency_predicted_matched"] == got["latency_predicted_latency_target"]
    with pytest.raises(SystemExit):
        main(["bench", "latency-target", "--teacher", str(teacher_ckpt), "--params50", str(students["params50"]),
              "--latency", str(students["latency50"]), "--matched", str(tmp_path / "none.pt"), "--out", str(out)])
    assert "model file not found: --matched" in capsys.readouterr().err


def test_matched_target_names_the_params50_students_latency(tmp_path) -> None:
    from conprune.measure.latency_target import matched_target

    bench = tmp_path / "results.json"
    bench.write_text(json.dumps({"latency_ratio_params50": 0.566}))
    assert matched_target(bench) == "latency43"
    bench.write_text(json.dumps({"latency_ratio_macs50": 0.5}))
    with pytest.raises(ConpruneError, match="no latency_ratio_params50 .*run `make bench` first"):
        matched_target(bench)
    with pytest.raises(ConpruneError, match="cannot read .*missing.json"):
        matched_target(tmp_path / "missing.json")


def test_a_table_is_refused_for_another_family(table) -> None:
    """Family options (and the attention kind) change module times: a table of one family is refused
    for another of the same width; a table written before the options existed means their defaults."""
    measured, config, _ = table
    measured.check_fits(config, "t")
    for other in (config.replace(input_scale=2.0), config.replace(ffn_bias=False), config.replace(pos_enc="rel_xl")):
        with pytest.raises(ConpruneError, match="measure a table for this teacher"):
            measured.check_fits(other, "t")
    old = LatencyTable(**{**measured.__dict__, "shape": {k: v for k, v in measured.shape.items()
                                                         if k in ("d_model", "head_dim", "conv_kernel", "conv_norm",
                                                                  "subsampling_factor", "input_dim")}})
    old.check_fits(config, "t")
    with pytest.raises(ConpruneError, match="measure a table for this teacher"):
        old.check_fits(config.replace(input_scale=2.0), "t")
