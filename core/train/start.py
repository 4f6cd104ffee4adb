"""Where a run starts: fresh, from another checkpoint's weights (--init), or exactly where one stopped (--resume)."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..checkpoint import read_checkpoint
from ..model import Net
from .config import TrainConfig
from .optim import Schedule, load_optimizer_state

log = logging.getLogger("convlstm")


@dataclass
class RunState:
    """What a checkpoint's train_state carries besides the optimiser and scheduler."""
    step: int = 0
    best: float = -math.inf            # best validation selection score so far
    elapsed: float = 0.0               # seconds spent in optimiser steps, over all resumes
    init: dict[str, Any] | None = None  # lineage of the weights the run started from


def lineage(path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tune started from, kept in its checkpoints so a model card can add up all its training."""
    keep = ("step", "elapsed_s", "device", "torch", "init")
    config = meta.get("config", {})
    return {"path": str(path), **{k: meta.get(k) for k in keep}, "batch_size": config.get("batch_size"),
            "freeze": config.get("freeze"), "crop": config.get("data", {}).get("crop"),
            "motion": config.get("model", {}).get("motion", "none")}


RESUME_KEYS = ("optimizer", "scheduler", "step", "best", "torch_rng")   # what a train_state must hold
FRESH_PARTS = ("fusion.", "synthesis.mask.")   # parts a net may add that start fresh on --init


def load_init_weights(net: Net, state: dict[str, torch.Tensor]) -> None:
    """Exact match, or only the scale fusion or the blend mask differs: a single-pass checkpoint into a
    scales=2 net (the fusion starts fresh), a two-scale one into a scales=1 net (fine-tuning the paper's net;
    its fusion has to be trained again afterwards, since it learned the old net's mistakes), a net without
    the blend mask into one with it (the mask starts at zero: the plain blend, so nothing else changes)."""
    missing, unexpected = net.load_state_dict(state, strict=False)
    if [k for k in missing if not k.startswith(FRESH_PARTS)] + [k for k in unexpected if not k.startswith("fusion.")]:
        raise RuntimeError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    if any(k.startswith("synthesis.mask.") for k in missing):
        log.info("the blend mask starts at zero (the plain time-weighted blend)")
    if any(k.startswith("fusion.") for k in unexpected):
        log.info("the checkpoint's scale fusion is not part of this model (model.scales=1): left out")


def start_from_weights(net: Net, path: str) -> RunState:
    """--init: step 0 and a fresh optimiser, over another checkpoint's weights.

    Weights from a net with another motion model keep everything but their two residual heads, which
    learned corrections of a different estimate: those start from zero again, so the run starts exactly at
    its own model's estimate (with motion compensation: the motion-compensated frame)."""
    data = read_checkpoint(path)
    try:
        load_init_weights(net, data["state_dict"])
    except RuntimeError as exc:
        raise ValueError(f"{path} does not fit the config's model ({str(exc).splitlines()[0]}); "
                         "use the model section it was trained with") from None
    if data["model_config"].get("detail", 0.0) != net.config.detail:
        log.info("%s carries model.detail=%s, this config %s: the run's checkpoints get the config's (set "
                 "model.detail to keep it)", path, data["model_config"].get("detail", 0.0), net.config.detail)
    if data["model_config"].get("motion", "none") != net.config.motion:
        net.zero_residual_heads()
        log.info("%s was trained with motion=%s: its residual heads start from zero for motion=%s", path,
                 data["model_config"].get("motion", "none"), net.config.motion)
    run = RunState(init=lineage(path, data.get("meta", {})))
    log.info("new run from the weights of %s (its step %s)", path, run.init["step"])
    return run


def resume_run(path: str, net: Net, params: list[torch.nn.Parameter], optimizer: torch.optim.Optimizer,
           scheduler: torch.optim.lr_scheduler.LambdaLR, schedule: Schedule, cfg: TrainConfig) -> RunState:
    """--resume: model, optimiser, schedule position, step and RNG as saved; the config's peak rate and
    total apply from here on (so a run can be annealed after a data change)."""
    data = read_checkpoint(path)
    ts = data.get("train_state")
    if ts is None:
        raise ValueError(f"{path} has no train_state (shipped weights cannot be resumed; use a last.pt)")
    missing = [k for k in RESUME_KEYS if k not in ts] if isinstance(ts, dict) else list(RESUME_KEYS)
    if missing:
        raise ValueError(f"{path} has an incomplete train_state (no {', '.join(missing)}): it cannot be resumed; "
                         "use a last.pt the trainer wrote, or start a new run from its weights with --init")
    net.load_state_dict(data["state_dict"])
    try:
        load_optimizer_state(optimizer, params, ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{path}: its optimiser or schedule state does not fit this run ({type(exc).__name__}: "
                         f"{str(exc).splitlines()[0] if str(exc) else ''}); start a new run with --init") from None
    if set(scheduler.base_lrs) != {cfg.optim.lr}:
        log.info("peak learning rate %.2e from the config replaces the checkpoint's %.2e", cfg.optim.lr,
                 scheduler.base_lrs[0])
    scheduler.base_lrs = [cfg.optim.lr] * len(optimizer.param_groups)   # one per group (older states had one)
    run = RunState(ts["step"], ts["best"], ts.get("elapsed_s", 0.0), data["meta"].get("init"))
    torch.set_rng_state(ts["torch_rng"])
    for group, base in zip(optimizer.param_groups, scheduler.base_lrs):
        group["lr"] = base * schedule.factor(run.step)
    log.info("resumed %s at step %d (lr %.2e, best selection score %.3f)", path, run.step,
             optimizer.param_groups[0]["lr"], run.best)
    if data["meta"].get("config", {}).get("validation") != cfg.to_dict()["validation"]:
        run.best = -math.inf  # scores on other clips are not comparable: the resumed net sets the new bar
        log.info("validation clips changed since that checkpoint: best.pt restarts from the resumed net")
    return run
