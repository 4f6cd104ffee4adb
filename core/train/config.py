"""The training configuration, typed: YAML (a file may name a ``base:`` it changes) over these defaults.

Every section is a dataclass and any key it does not know, at any depth, is an error naming its path:
a typo must not silently train something else. ``load_train_config`` returns the merged plain dict (what
``--set`` edits); ``TrainConfig.from_dict`` makes it typed and checks it.
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import ModelConfig, check_types, load_yaml, strict_keys
from ..data.config import DataConfig


@dataclass
class OptimConfig:
    """AdamW; weight decay applies to convolution weights only, never to norms or biases."""
    lr: float = 3.0e-4
    weight_decay: float = 1.0e-4
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0


@dataclass
class ScheduleConfig:
    """Linear warmup, then cosine decay to final_lr_fraction of the peak."""
    warmup_steps: int = 200
    final_lr_fraction: float = 0.05


@dataclass
class LossConfig:
    """The paper's L1 terms, plus these weights times the anti-blur terms of train/loss.py."""
    laplacian: float = 0.0     # Laplacian-pyramid L1
    census: float = 0.0        # census (ternary) distance
    detail: float = 0.0        # detail energy per 16x16 patch (the sharpness ratio's measure)


@dataclass
class ValidationConfig:
    every: int = 600               # steps; 0 turns validation off
    clips: list[str] = field(default_factory=list)
    frames: int = 40


@dataclass
class TrainConfig:
    name: str = "default"
    out_dir: str = "runs/default"
    seed: int = 0
    device: str = "auto"
    model: ModelConfig = field(default_factory=ModelConfig)
    freeze: list[str] = field(default_factory=list)
    data: DataConfig = field(default_factory=DataConfig)
    batch_size: int = 8
    steps: int = 40000
    num_workers: int = 1
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    amp: bool = True               # bf16 autocast on CUDA
    log_every: int = 20
    checkpoint_every: int = 200
    validation: ValidationConfig = field(default_factory=ValidationConfig)

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        d = strict_keys(cls, data, "")
        try:
            model = ModelConfig.from_dict(d.get("model") or {})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"config model: {exc}") from None
        sections = {"optim": OptimConfig, "loss": LossConfig, "schedule": ScheduleConfig,
                    "validation": ValidationConfig}
        typed = {k: c(**strict_keys(c, d.get(k) or {}, f"{k}.")) for k, c in sections.items()}
        for k, section in typed.items():
            check_types(section, f"{k}.")
        typed["optim"].betas = tuple(typed["optim"].betas)
        cfg = cls(**{**d, **typed, "model": model, "data": DataConfig.from_dict(d.get("data") or {}),
                     "freeze": list(d.get("freeze") or [])})
        check_types(cfg, "")
        if cfg.steps < 1 or cfg.batch_size < 1:
            raise ValueError("steps and batch_size must be positive")
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain data, as checkpoints record it."""
        d = dataclasses.asdict(self)
        d["model"] = self.model.to_dict()
        d["optim"]["betas"] = list(self.optim.betas)
        return d


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_layered(path: str | Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """A YAML file over the file its ``base:`` names (relative to it): recipes are deltas of one base."""
    path = Path(path).resolve()
    if path in seen:
        raise ValueError(f"config {path} names itself as a base (through {' -> '.join(map(str, seen))})")
    data = load_yaml(path)
    base = data.pop("base", None)
    return merge(read_layered(path.parent / base, (*seen, path)), data) if base else data


def load_train_config(path: str | Path | None) -> dict[str, Any]:
    """The merged config as a plain dict (checked: unknown keys anywhere are an error)."""
    cfg = merge(TrainConfig().to_dict(), read_layered(path) if path else {})
    TrainConfig.from_dict(cfg)
    return cfg
