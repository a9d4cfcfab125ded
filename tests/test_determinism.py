"""The same seed on the same machine gives the same pruned student.

Two tiny prune fits with the stage YAML's augmentation (SpecAugment, speed perturbation) and
gate noise, run as separate processes with different Python hash seeds (set and dict orders of
strings differ between processes), must end with bit-identical weights, log α and λ.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import torch
from lit_probes import subprocess_env

STEPS = 8


def prune_once(stage_args, out: Path, hash_seed: str) -> dict[str, torch.Tensor]:
    args = stage_args("prune", None, "--run_dir", str(out), "--data.batching.max_frames", "250",
                      "--data.batching.eval_max_frames", "400", "--trainer.max_steps", str(STEPS),
                      "--trainer.val_check_interval", "4", "--trainer.enable_checkpointing", "true")
    env = {**subprocess_env(), "PYTHONHASHSEED": hash_seed, "OMP_NUM_THREADS": "2"}
    done = subprocess.run([sys.executable, "-m", "conprune", *args], env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    ckpts = sorted(out.rglob("*.ckpt"))
    assert ckpts, f"no checkpoint under {out}"
    return torch.load(ckpts[-1], weights_only=False)["state_dict"]


def test_same_seed_gives_bit_identical_student(tmp_path, stage_args):
    first = prune_once(stage_args, tmp_path / "a", "1")
    second = prune_once(stage_args, tmp_path / "b", "2")
    assert first.keys() == second.keys()
    differing = [name for name in first if not torch.equal(first[name], second[name])]
    assert not differing, f"{len(differing)} tensors differ, e.g. {differing[:5]}"
