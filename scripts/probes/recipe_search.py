"""Teacher recipe search on a GPU: many short teacher fits side by side, one JSON row each.

A fixed number of steps on a GPU gives (up to float noise) the WER the same recipe reaches after
the same steps on the CPU, so recipes for the 20-minute CPU budget can be compared in minutes.
Each variant runs in its own process (no CLI, no W&B: plain Lightning + CSV), with

    python scripts/probes/recipe_search.py --root CORPUS --out DIR --variants NAME[,NAME...] --parallel 8

and writes DIR/<name>.json: dev/test WER per split, steps/s, peak GPU memory, wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from recipe_space import BASE_DATA, BASE_MODEL, BASE_PRUNE, PRUNE_VARIANTS, VARIANTS, grouped


class _StepClock:
    """Train-step rate after the first epoch (so feature decoding and caching are not counted)."""

    def __init__(self) -> None:
        self.marks: list[tuple[int, float]] = []

    def rate(self) -> float | None:
        if len(self.marks) < 2:
            return None
        (s0, t0), (s1, t1) = self.marks[0], self.marks[-1]
        return (s1 - s0) / (t1 - t0)


def _clock_callback(clock: _StepClock):
    import lightning as L

    class StepClock(L.Callback):
        def on_train_batch_end(self, trainer, *args) -> None:
            if trainer.current_epoch >= 1 and not trainer.sanity_checking:
                clock.marks.append((trainer.global_step, time.perf_counter()))

    return StepClock()


def run_prune(name: str, root: str, out: Path, teacher: str, steps: int = 700) -> None:
    """One pruning run: the sparsity/λ trace every 10 steps, final deterministic sparsity, dev WER."""
    import lightning as L
    import torch

    torch.set_num_threads(2)
    from conprune.lit.callbacks.ramp import SparsityRamp
    from conprune.lit.datamodule import LibriSpeechDataModule
    from conprune.lit.student import PrunedStudentModule

    overrides, ramp, *data_o = PRUNE_VARIANTS[name]
    L.seed_everything(0)
    dm = LibriSpeechDataModule(root=root, **grouped({**BASE_DATA, "val_splits": ("dev-clean", "dev-other"),
                                                     **(data_o[0] if data_o else {})}))
    model = PrunedStudentModule(
        teacher_ckpt=teacher, vocab_size=dm.hparams.num_pieces + 1, **grouped({**BASE_PRUNE, **overrides})
    )
    trace: list[list[float]] = []

    class Trace(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, *args) -> None:
            if trainer.global_step % 10 == 0:
                trace.append(
                    [
                        trainer.global_step,
                        round(pl_module.sparsity_target, 4),
                        round(float(pl_module.expected_sparsity().detach()), 4),
                        round(pl_module.deterministic_sparsity(), 4),
                        round(float(pl_module.lagrangian.lambda1), 3),
                    ]
                )

    trainer = L.Trainer(
        max_steps=steps,
        max_epochs=-1,
        accelerator="auto",
        devices=1,
        gradient_clip_val=5.0,
        check_val_every_n_epoch=None,
        val_check_interval=steps,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        use_distributed_sampler=False,
        callbacks=[SparsityRamp(ramp_steps=ramp), Trace()],
    )
    start = time.time()
    trainer.fit(model, datamodule=dm)
    trainer.save_checkpoint(out / f"{name}.ckpt")
    hold = [abs(row[3] - model.target.sparsity) for row in trace if row[0] >= ramp + 100]
    row = {
        "name": name,
        "model": overrides,
        "ramp": ramp,
        "fit_s": round(time.time() - start, 1),
        "final_deterministic": round(model.deterministic_sparsity(), 4),
        "hold_max_gap": round(max(hold), 4) if hold else None,
        **{k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/wer")},
        "trace": trace,
    }
    (out / f"{name}.json").write_text(json.dumps(row))
    print(json.dumps(row), flush=True)


def run_one(name: str, root: str, out: Path, steps: int) -> None:
    """Fit and test one variant in this process; write out/<name>.json."""
    import lightning as L
    import torch

    torch.set_num_threads(2)
    from conprune.lit.datamodule import LibriSpeechDataModule
    from conprune.lit.teacher import TeacherModule

    data_o, model_o, trainer_o = VARIANTS[name]
    L.seed_everything(0)
    dm = LibriSpeechDataModule(root=root, **grouped({**BASE_DATA, **data_o}))
    model = TeacherModule(vocab_size=dm.hparams.num_pieces + 1, **grouped({**BASE_MODEL, **model_o}))
    max_steps = trainer_o.get("max_steps", steps)
    trainer = L.Trainer(
        max_steps=max_steps,
        max_epochs=-1,
        accelerator="auto",
        devices=1,
        precision=trainer_o.get("precision", "32-true"),
        strategy=trainer_o.get("strategy", "auto"),
        gradient_clip_val=5.0,
        check_val_every_n_epoch=None,
        val_check_interval=max_steps,
        num_sanity_val_steps=0,
        logger=L.pytorch.loggers.CSVLogger(str(out / "csv"), name=name),
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=str(out / name),
        use_distributed_sampler=False,
        callbacks=[_clock_callback(clock := _StepClock())],
    )
    start = time.time()
    trainer.fit(model, datamodule=dm)
    fit_s = time.time() - start
    val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/wer")}
    tests = trainer.test(model, datamodule=dm, verbose=False)
    test = {k: float(v) for d in tests for k, v in d.items() if k.startswith("test/wer")}
    cuda = torch.cuda.is_available()
    row = {
        "name": name,
        "data": data_o,
        "model": model_o,
        "trainer": trainer_o,
        "steps": max_steps,
        "fit_s": round(fit_s, 1),
        "train_steps_per_s": round(clock.rate() or 0.0, 2),
        "train_audio_s_per_s": round((clock.rate() or 0.0) * dm.batching.max_frames / 100, 1),
        "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 3) if cuda else None,
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "params": model.model.count_params(),
        **val,
        **test,
    }
    (out / f"{name}.json").write_text(json.dumps(row, indent=1))
    print(json.dumps(row), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--root", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--steps", type=int, default=1400)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--teacher", help="teacher checkpoint for the prune_* variants")
    parser.add_argument("--prune-steps", type=int, default=700)
    parser.add_argument("--summary", help="append each finished row to this JSONL file")
    parser.add_argument("--run", help="internal: run this one variant in-process")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.run in PRUNE_VARIANTS:
        run_prune(args.run, args.root, out, args.teacher, args.prune_steps)
        return 0
    if args.run:
        run_one(args.run, args.root, out, args.steps)
        return 0
    names = [n for n in args.variants.split(",") if n]
    unknown = [n for n in names if n not in VARIANTS and n not in PRUNE_VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; known: {sorted(VARIANTS) + sorted(PRUNE_VARIANTS)}")

    def launch(name: str) -> int:
        cmd = [
            sys.executable,
            __file__,
            "--root",
            args.root,
            "--out",
            str(out),
            "--steps",
            str(args.steps),
            "--run",
            name,
            "--prune-steps",
            str(args.prune_steps),
        ] + (["--teacher", args.teacher] if args.teacher else [])
        with open(out / f"{name}.log", "w") as log:
            return subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)

    codes = {}
    with ThreadPoolExecutor(args.parallel) as pool:
        futures = {pool.submit(launch, n): n for n in names}
        for future in as_completed(futures):
            name = futures[future]
            codes[name] = future.result()
            result = out / f"{name}.json"
            line = (
                result.read_text().replace("\n", "")
                if result.is_file()
                else json.dumps({"name": name, "failed": (out / f"{name}.log").read_text()[-2000:]})
            )
            print(line, flush=True)
            if args.summary:
                with open(args.summary, "a") as f:
                    f.write(line + "\n")
    print(json.dumps(codes))
    return int(any(codes.values()))


if __name__ == "__main__":
    sys.exit(main())
