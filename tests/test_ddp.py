"""DDP on CPU with 2 processes (gloo): every stage runs, replicas stay identical, WER and losses are global.

The fits run `python -m conprune fit ... --trainer.strategy=ddp --trainer.devices=2` in a
subprocess (Lightning's subprocess launcher re-executes that command for rank 1), exactly as a
user would. `lit_probes.StateProbe` writes each rank's state for comparison.
"""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from lit_probes import probe, ramp, subprocess_env

from conprune.cli import run_lightning

DDP = ["--trainer.strategy=ddp", "--trainer.devices=2", "--trainer.accelerator=cpu"]
DATA = ["--data.batching.max_frames", "250", "--data.batching.eval_max_frames", "150",
        "--data.batching.num_workers", "0"]


def conprune_fit(args: list[str], timeout: float = 240) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "conprune", *args], env=subprocess_env(), check=False,
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc


def callbacks(*items: str) -> list[str]:
    return ["--trainer.callbacks", "[" + ", ".join(items) + "]"]


def ranks(out: Path) -> tuple[dict, dict]:
    return tuple(torch.load(out / f"rank{r}.pt", weights_only=False) for r in (0, 1))


def assert_replicas_identical(out: Path, steps: int) -> tuple[dict, dict]:
    r0, r1 = ranks(out)
    assert (r0["world"], r1["world"]) == (2, 2) and r0["global_step"] == r1["global_step"] == steps
    assert r0["all_ranks_equal"] and r1["all_ranks_equal"]
    assert torch.equal(r0["params"], r1["params"])
    return r0, r1


def test_prune_ddp_replicas_and_global_wer(tmp_path, stage_args):
    """3 prune steps on 2 ranks: gates, λ, ramp identical; corpus WER/loss equal a 1-process validate."""
    out = tmp_path / "run"
    conprune_fit(stage_args("prune", out, *DATA, *DDP, "--trainer.max_steps", "3",
                            "--trainer.val_check_interval", "3", "--trainer.log_every_n_steps", "1",
                            *callbacks(ramp(6), "{class_path: lightning.pytorch.callbacks.ModelCheckpoint, "
                                       f"init_args: {{dirpath: {out}/ckpt, save_last: true}}}}",
                                       probe(out / "ddp"))))
    r0, r1 = assert_replicas_identical(out / "ddp", 3)
    assert torch.equal(r0["log_alpha"], r1["log_alpha"]) and torch.equal(r0["lambda"], r1["lambda"])
    assert r0["lambda"].abs().sum() > 0  # λ moved, identically on both ranks
    assert r0["ramp"] == r1["ramp"] == pytest.approx(0.5 * 2 / 6)
    shared = {k: v for k, v in r0["metrics"].items() if k.split("/")[0] in ("val", "sparsity", "lagrangian")}
    assert "val/wer" in shared and shared == {k: r1["metrics"][k] for k in shared}  # train/, loss/: per rank

    run_lightning(stage_args("prune", out, *DATA, "--ckpt_path", str(out / "ckpt" / "last.ckpt"),
                             *callbacks(probe(out / "single")), verb="validate"))
    single = torch.load(out / "single" / "rank0.pt", weights_only=False)
    assert single["world"] == 1
    for name in ("val/wer", "val/wer/dev-clean", "val/wer/dev-other"):
        assert r0["metrics"][name] == single["metrics"][name], name
    for name in ("val/loss/dev-clean", "val/loss/dev-other"):
        assert r0["metrics"][name] == pytest.approx(single["metrics"][name], rel=1e-5), name


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ddp_gradient_equals_union_batch_gradient(tmp_path):
    """Uneven shards (3 long vs 1 short utterance): DDP-averaged gradient == 1 process on the union.

    The CTC term is normalised by all ranks' target tokens, the distillation terms by all ranks'
    valid frames (`global_mean_denominator`); a per-rank mean would weight the short shard 3x.
    """
    import torch.multiprocessing as mp
    from lit_probes import shard_loss

    from conprune.lit.ctc_module import ctc_loss
    from conprune.lit.distillation import distillation_losses
    from conprune.models.config import build_config
    from conprune.models.conformer import ConformerCTC
    from conprune.pruning.distill import LayerDistiller

    torch.manual_seed(0)
    cfg = build_config("tiny", 30, {"dropout": 0.0, "attn_dropout": 0.0})
    student, teacher = ConformerCTC(cfg).eval(), ConformerCTC(cfg).eval()  # eval: BN statistics fixed
    distiller = LayerDistiller({0: 0, 1: 1}, cfg.d_model, cfg.d_model)
    lengths = torch.tensor([200, 180, 170, 60])
    target_lengths = torch.tensor([12, 10, 9, 3])
    full = {"features": torch.randn(4, 200, 80), "lengths": lengths,
            "targets": torch.randint(1, 30, (4, 12)), "target_lengths": target_lengths}

    def shard(rows: slice) -> dict:
        part = {k: v[rows] for k, v in full.items()}
        part["features"] = part["features"][:, : int(part["lengths"].max())]
        return part

    shard_loss(student, teacher, distiller, full, ctc_loss, distillation_losses).backward()
    reference = [p.grad.clone() for p in [*student.parameters(), *distiller.parameters()]]
    student.zero_grad(), distiller.zero_grad()
    batch_file = tmp_path / "batch.pt"
    torch.save({"student": student, "teacher": teacher, "distiller": distiller,
                "shards": [shard(slice(0, 3)), shard(slice(3, 4))]}, batch_file)
    mp.spawn(_grad_worker, args=(2, str(batch_file), free_port(), str(tmp_path)), nprocs=2, join=True)
    for rank in (0, 1):
        grads = torch.load(tmp_path / f"grads{rank}.pt", weights_only=False)
        for got, want in zip(grads, reference):
            torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)


def _grad_worker(rank: int, world: int, batch_file: str, port: int, out_dir: str) -> None:
    from lit_probes import grad_worker

    grad_worker(rank, world, batch_file, port, out_dir)


def test_teacher_ddp_replicas_identical(tmp_path, stage_args, prepared_copy):
    """2 teacher steps on 2 ranks: no unused parameters, identical weights. On its own corpus: the
    teacher stage prepares whatever its data settings miss."""
    out = tmp_path / "run"
    conprune_fit(stage_args("teacher", out, *DATA, *DDP, "--trainer.max_steps", "2",
                            "--trainer.limit_val_batches", "0", "--trainer.enable_checkpointing", "false",
                            *callbacks(probe(out / "ddp")), root=prepared_copy().root))
    assert_replicas_identical(out / "ddp", 2)


def test_finetune_ddp_replicas_identical(tmp_path, stage_args, compact_student):
    """2 finetune steps of a compact student (FFN, MHSA and FFN units removed) next to a frozen teacher."""
    out = tmp_path / "run"
    conprune_fit(stage_args("finetune", out, *DATA, *DDP, "--model.init_args.student_model",
                            str(compact_student), "--trainer.max_steps", "2",
                            "--trainer.limit_val_batches", "0",
                            "--trainer.enable_checkpointing", "false", *callbacks(probe(out / "ddp"))))
    assert_replicas_identical(out / "ddp", 2)
