"""AdamW over the trainable weights, the learning-rate schedule (linear warmup, cosine decay) and the
optimiser step: training and adaptation (adapt/loop.py) share the step and the cosine."""
from __future__ import annotations

import math
from typing import Any

import torch

from .config import LossConfig, OptimConfig, ScheduleConfig
from .loss import loss_of


def cosine_factor(progress: float, final: float = 0.0) -> float:
    """1 at ``progress`` 0, falling along a half cosine to ``final`` at 1 and staying there: the decay
    both training (by steps) and adaptation (by steps or wall time) follow."""
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def lr_factor(step: int, warmup: int, total: int, final: float) -> float:
    """Linear warmup, then cosine decay to ``final`` of the base rate."""
    if step < warmup:
        return (step + 1) / warmup
    return cosine_factor((step - warmup) / max(1, total - warmup), final)


def set_cosine_lr(optimizer: torch.optim.Optimizer, lr: float, fraction: float) -> None:
    """``lr`` at the start of a budget, along the cosine to nothing at its end. For a budget of wall
    time, which a step-indexed scheduler cannot follow; ``fraction`` is the part of it spent."""
    for group in optimizer.param_groups:
        group["lr"] = lr * cosine_factor(fraction)


def train_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer, inputs: torch.Tensor, target: torch.Tensor,
               times: torch.Tensor, loss_cfg: LossConfig, *, synthesis_trains: bool = True, grad_clip: float = 1.0,
               amp: bool = False) -> torch.Tensor:
    """One optimiser step on a batch already on the net's device; the learning rate is the caller's to set.
    The forward runs under bf16 autocast with ``amp``, the loss in float32 (its own filters too); the
    gradients of the net's trainable weights are clipped to norm ``grad_clip``. Returns the loss, detached:
    reading it waits for the device."""
    with torch.autocast(device_type=inputs.device.type, dtype=torch.bfloat16, enabled=amp):
        output = net(inputs, times)
    loss = loss_of(output, target, synthesis_trains, loss_cfg)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_([p for p in net.parameters() if p.requires_grad], grad_clip)
    optimizer.step()
    return loss.detach()


def build_optimizer(params: list[torch.nn.Parameter], cfg: OptimConfig) -> torch.optim.AdamW:
    """Weight decay on convolution kernels only: decaying norm scales and biases only pulls them off."""
    decay = [p for p in params if p.ndim > 1]
    no_decay = [p for p in params if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.lr, betas=tuple(cfg.betas))


class Schedule:
    """The LR schedule; ``total`` may move (a time budget refits it) and the scheduler follows."""

    def __init__(self, cfg: ScheduleConfig, total: int) -> None:
        self.cfg, self.total = cfg, total

    def factor(self, step: int) -> float:
        return lr_factor(step, self.cfg.warmup_steps, self.total, self.cfg.final_lr_fraction)

    def attach(self, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LambdaLR:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: self.factor(s))


def load_optimizer_state(optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
                         saved: dict[str, Any]) -> None:
    """A saved AdamW state, also one from before the decay split (one group over ``params`` in order)."""
    if len(saved["param_groups"]) == len(optimizer.param_groups):
        optimizer.load_state_dict(saved)
        return
    if len(saved["param_groups"]) != 1:
        raise ValueError(f"the optimiser state has {len(saved['param_groups'])} parameter groups, this run "
                         f"{len(optimizer.param_groups)}")
    old_index = {id(p): i for i, p in enumerate(params)}
    state, groups, k = {}, [], 0
    for group in optimizer.param_groups:
        ids = []
        for p in group["params"]:
            if old_index[id(p)] in saved["state"]:
                state[k] = saved["state"][old_index[id(p)]]
            ids.append(k)
            k += 1
        groups.append({**saved["param_groups"][0], "params": ids, "weight_decay": group["weight_decay"]})
    optimizer.load_state_dict({"state": state, "param_groups": groups})
