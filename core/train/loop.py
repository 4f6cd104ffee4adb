"""The training loop, visible top to bottom: data, loss, AdamW, warmup + cosine, clip, validate, save.

Where a run starts (start.py), the optimiser and schedule (optim.py), validation (validate.py), the
time budget (budget.py) and the log (runlog.py) live beside it; this file is the loop itself.
"""
from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..checkpoint import save_checkpoint
from ..data.mix import build_dataset
from ..filter.devices import resolve_device
from ..model import Net
from .budget import TimeBudget
from .config import TrainConfig
from .freeze import frozen_parts, set_training
from .loss import loss_of
from .optim import Schedule, build_optimizer
from .runlog import RunLog
from .start import RunState, resume_run, start_from_weights
from .validate import Validator

log = logging.getLogger("convlstm")


def train(cfg: TrainConfig | dict[str, Any], resume: str | None = None, max_steps: int | None = None,
          init: str | None = None, time_budget_s: float | None = None, clock: Callable[[], float] = time.time) -> Path:
    """Runs (or resumes) a training run; returns the path of the best checkpoint.

    ``init`` starts a new run (step 0, fresh optimiser) from another checkpoint's weights: fine-tuning.
    ``time_budget_s`` fits the schedule to a wall-clock budget (budget.py).
    """
    cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(cfg)
    if resume and init:
        raise ValueError("use either --resume (continue a run) or --init (new run from weights), not both")
    run_start = clock()
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    net = Net(cfg.model).to(device)
    frozen = frozen_parts(cfg.freeze, net)
    set_training(net, frozen)
    params = [p for p in net.parameters() if p.requires_grad]
    optimizer = build_optimizer(params, cfg.optim)
    schedule = Schedule(cfg.schedule, cfg.steps)
    scheduler = schedule.attach(optimizer)
    run = RunState()
    if init:
        run = start_from_weights(net, init)
    if resume:
        run = resume_run(resume, net, params, optimizer, scheduler, schedule, cfg)

    end = cfg.steps if max_steps is None else min(cfg.steps, run.step + max_steps)
    budget = None if time_budget_s is None else TimeBudget(time_budget_s, run_start, run.step, end, clock)
    dataset = build_dataset(cfg.data, cfg.seed)
    size = len(dataset)  # sample i is a function of i alone, so resuming at step s is exact
    loader = DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers, persistent_workers=False,
                        sampler=[i % size for i in range(run.step * cfg.batch_size, end * cfg.batch_size)])
    use_amp = cfg.amp and device.type == "cuda"
    torch.backends.cudnn.benchmark = device.type == "cuda"   # fixed crop size: tuned kernels pay off at once
    validator = Validator(cfg.validation, device, out)   # a missing clip fails before the log is touched
    runlog = validator.runlog = RunLog(out, run.step)
    synthesis_trains = "synthesis" not in frozen

    def meta() -> dict[str, Any]:
        m = {"step": run.step, "config": cfg.to_dict(), "elapsed_s": run.elapsed, "device": str(device),
             "torch": str(torch.__version__)}
        return {**m, "init": run.init} if run.init else m

    def save_last() -> None:
        state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": run.step,
                 "best": run.best, "elapsed_s": run.elapsed, "torch_rng": torch.get_rng_state()}
        save_checkpoint(out / "last.pt", net, meta(), state)
        runlog.plot()

    if validator.clips and (run.step == 0 or run.best == -math.inf):
        # the untrained net is the blend: the floor every later checkpoint must beat
        run.best = validator(net, frozen, run.step, run.best, meta())

    first_step = run.step
    bar = tqdm(total=end - run.step, desc="train", unit="step", dynamic_ncols=True, disable=None)
    window_start, window_samples, window_loss, window_steps, running = time.time(), 0, 0.0, 0, None
    for inputs, target, times in loader:
        t0 = time.time()
        inputs, target = inputs.to(device, non_blocking=True), target.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            output = net(inputs, times)
        loss = loss_of(output, target, synthesis_trains, cfg.loss)   # in float32: the loss's own filters too
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
        optimizer.step()
        scheduler.step()
        run.step += 1
        run.elapsed += time.time() - t0

        value = loss.item()
        window_samples += inputs.shape[0]
        window_loss += value
        window_steps += 1
        running = value if running is None else 0.95 * running + 0.05 * value
        rate = window_samples / max(1e-9, time.time() - window_start)
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", samples_s=f"{rate:.1f}")
        if run.step % cfg.log_every == 0:
            runlog.row(step=run.step, loss=f"{window_loss / window_steps:.5f}", lr=f"{scheduler.get_last_lr()[0]:.3e}",
                       samples_per_s=f"{rate:.2f}", elapsed_s=f"{run.elapsed:.0f}")
            window_start, window_samples, window_loss, window_steps = time.time(), 0, 0.0, 0

        validated = validator.due(run.step)
        if validated:
            run.best = validator(net, frozen, run.step, run.best, meta())
        new_end = budget.refit(run.step) if budget else None
        if new_end is not None:
            if end == schedule.total:          # not when --max-steps stops this run early on purpose
                schedule.total = cfg.steps = new_end   # checkpoints record the schedule actually run
            end = new_end
            bar.total = end - first_step
        out_of_time = budget is not None and budget.spent()
        finished = run.step >= end or out_of_time
        if run.step % cfg.checkpoint_every == 0 or finished:
            if finished and validator.clips and not validated:
                run.best = validator(net, frozen, run.step, run.best, meta())   # the last weights compete too
            save_last()
        if finished:
            if out_of_time and run.step < end:
                log.info("time budget spent at step %d of %d", run.step, end)
            break
    bar.close()
    runlog.close()
    if not (out / "best.pt").exists():
        save_checkpoint(out / "best.pt", net, meta())
    return out / "best.pt"
