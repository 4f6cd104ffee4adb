"""Training configuration: YAML merged over these defaults (documented in core/configs/default.yaml)."""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ..config import load_yaml

DEFAULTS: dict[str, Any] = {
    "name": "default",
    "out_dir": "runs/default",
    "seed": 0,
    "device": "auto",
    "model": {},
    "freeze": [],
    "data": {"crop": 96, "sources": [{"type": "synthetic"}]},
    "batch_size": 8,
    "steps": 40000,
    "num_workers": 1,
    "optim": {"lr": 3.0e-4, "weight_decay": 1.0e-4, "betas": [0.9, 0.999], "grad_clip": 1.0},
    "schedule": {"warmup_steps": 200, "final_lr_fraction": 0.05},
    "amp": True,
    "log_every": 20,
    "checkpoint_every": 200,
    "validation": {"every": 600, "clips": [], "frames": 40},
}


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load_train_config(path: str | Path | None) -> dict[str, Any]:
    cfg = merge(DEFAULTS, load_yaml(path) if path else {})
    unknown = set(cfg) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training config keys {sorted(unknown)}; known: {sorted(DEFAULTS)}")
    if int(cfg["steps"]) < 1 or int(cfg["batch_size"]) < 1:
        raise ValueError("steps and batch_size must be positive")
    return cfg
