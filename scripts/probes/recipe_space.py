"""The search space of `recipe_search.py`: the base teacher and prune recipes and the named variants.

Kept apart from the runner so a variant is one line here and its results row names it.
"""

from __future__ import annotations

BASE_DATA = {
    "num_pieces": 64,
    "max_frames": 4000,
    "eval_max_frames": 30000,
    "num_buckets": 8,
    "num_workers": 0,
    "cache_features": True,
    "freq_masks": 2,
    "freq_width": 10,
    "time_masks": 2,
    "time_mask_ratio": 0.05,
    "freq_warp": 0.1,
    "max_train_frames": 3000,
}
BASE_MODEL = {
    "preset": "demo",
    "model_overrides": {"dropout": 0.0, "attn_dropout": 0.0},
    "lr": 3e-3,
    "weight_decay": 1e-3,
    "warmup_steps": 200,
    "lr_schedule": "cosine",
    "min_lr_ratio": 0.02,
    "inter_ctc_weight": 0.3,
}
SP = {"speed_perturb": [0.9, 1.0, 1.1]}

# name -> (data overrides, model overrides, trainer overrides)
VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "base": ({}, {}, {}),
    "base_bf16_ddp": ({}, {}, {"precision": "bf16-mixed", "strategy": "ddp"}),
    "sp": (SP, {}, {}),
    "sp_warp15": ({**SP, "freq_warp": 0.15}, {}, {}),
    "sp_p128": ({**SP, "num_pieces": 128}, {}, {}),
    "sp_lr5": (SP, {"lr": 5e-3}, {}),
    "sp_2800": (SP, {}, {"max_steps": 2800}),
    "sp_l6_d176": (
        SP,
        {
            "model_overrides": {
                "dropout": 0.0,
                "attn_dropout": 0.0,
                "num_layers": 6,
                "d_model": 176,
                "ffn_dim": 704,
                "conv_channels": 176,
            }
        },
        {},
    ),
    "sp_spec_more": ({**SP, "freq_width": 15, "time_masks": 4}, {}, {}),
}


GROUPS = {"optim": ("lr", "weight_decay", "warmup_steps", "lr_schedule", "min_lr_ratio"),
          "distill": ("layer_every", "layer_loss", "layer_weight", "kd_weight", "kd_temperature", "ctc_weight"),
          "target": ("target", "target_metric", "ref_seconds", "sparsity_tolerance"),
          "lagrangian": ("log_alpha_lr", "lambda_lr", "lambda_optimizer", "penalty_rho"),
          "batching": ("max_frames", "eval_max_frames", "num_buckets", "max_train_frames", "num_workers",
                       "cache_features"),
          "augment": ("freq_masks", "freq_width", "time_masks", "time_mask_ratio", "freq_warp", "speed_perturb")}
RENAMED = {"target": "sparsity", "target_metric": "metric", "sparsity_tolerance": "tolerance"}


def grouped(flat: dict) -> dict:
    """The flat search-space keys as the stage modules' and the data's argument groups (`optim`,
    `distill`, ..., `batching`, `augment`)."""
    out: dict = {}
    for key, value in flat.items():
        group = next((g for g, keys in GROUPS.items() if key in keys), None)
        if group is None:
            out[key] = value
        else:
            out.setdefault(group, {})[RENAMED.get(key, key)] = value
    return out


BASE_PRUNE = {
    "target": 0.5,
    "target_metric": "params",
    "ref_seconds": 10.0,
    "gates": {},
    "layer_every": 2,
    "layer_loss": "l1_cos",
    "layer_weight": 1.0,
    "kd_weight": 1.0,
    "kd_temperature": 1.0,
    "ctc_weight": 0.0,
    "lr": 5e-4,
    "weight_decay": 1e-3,
    "warmup_steps": 50,
    "lr_schedule": "cosine",
    "min_lr_ratio": 0.1,
    "log_alpha_lr": 0.05,
    "lambda_lr": 1.0,
    "lambda_optimizer": "sgd",
    "sparsity_tolerance": 0.01,
}
# name -> (PrunedStudentModule overrides, ramp steps); 700 steps each, as experiments/prune.yaml
PRUNE_VARIANTS: dict[str, tuple] = {
    "prune_adam05": ({"lambda_optimizer": "adam", "lambda_lr": 0.05}, 350),
    "prune_adam01": ({"lambda_optimizer": "adam", "lambda_lr": 0.01}, 350),
    "prune_sgd1": ({}, 350),
    "prune_sgd3": ({"lambda_lr": 3.0}, 350),
    "prune_sgd10": ({"lambda_lr": 10.0}, 350),
    "prune_sgd3_la02": ({"lambda_lr": 3.0, "log_alpha_lr": 0.02}, 350),
    "prune_sgd3_macs": ({"lambda_lr": 3.0, "target_metric": "macs"}, 350),
    "prune_sgd3_r250": ({"lambda_lr": 3.0}, 250),
    # CPU proxies: 1000-frame batches (4x cheaper steps), same step counts and learning rates
    "cpu_adam05": ({"lambda_optimizer": "adam", "lambda_lr": 0.05}, 350, {"max_frames": 1000}),
    "cpu_sgd_rho50": ({"lambda_optimizer": "sgd", "lambda_lr": 1.0, "penalty_rho": 50.0}, 350, {"max_frames": 1000}),
    "cpu_adam01_rho50": ({"lambda_optimizer": "adam", "lambda_lr": 0.01, "penalty_rho": 50.0}, 350,
                         {"max_frames": 1000}),
}
