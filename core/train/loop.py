"""The training loop, visible top to bottom: data, loss, AdamW, warmup + cosine, clip, validate, save.

Where a run starts (start.py), the optimiser, schedule and step (optim.py), validation (validate.py), the
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
from .optim import Schedule, build_optimizer, train_step
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

    trainer = _Trainer(cfg, device, out, init, resume)
    step = trainer.run.step
    end = cfg.steps if max_steps is None else min(cfg.steps, step + max_steps)
    budget = None if time_budget_s is None else TimeBudget(time_budget_s, run_start, step, end, clock)
    loader = _loader(cfg, step, end)
    trainer.open_log()
    if trainer.validator.clips and (step == 0 or trainer.run.best == -math.inf):
        trainer.validate()   # the untrained net is the blend: the floor every later checkpoint must beat
    trainer.steps(loader, end, budget)
    if not (out / "best.pt").exists():
        save_checkpoint(out / "best.pt", trainer.net, trainer.meta())
    return out / "best.pt"


def _loader(cfg: TrainConfig, first: int, end: int) -> DataLoader:
    """The samples of steps ``first`` to ``end``: sample i is a function of i alone, so resuming at a step
    is exact."""
    dataset = build_dataset(cfg.data, cfg.seed)
    size = len(dataset)
    return DataLoader(dataset, batch_size=cfg.batch_size, num_workers=cfg.num_workers, persistent_workers=False,
                      sampler=[i % size for i in range(first * cfg.batch_size, end * cfg.batch_size)])


class _Trainer:
    """One run's net and what trains, scores and saves it; ``run`` says how far it is."""

    def __init__(self, cfg: TrainConfig, device: torch.device, out: Path, init: str | None,
                 resume: str | None) -> None:
        self.cfg, self.device, self.out = cfg, device, out
        self.net = Net(cfg.model).to(device)
        self.frozen = frozen_parts(cfg.freeze, self.net)
        set_training(self.net, self.frozen)
        params = [p for p in self.net.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(params, cfg.optim)
        self.schedule = Schedule(cfg.schedule, cfg.steps)
        self.scheduler = self.schedule.attach(self.optimizer)
        self.run = RunState()
        if init:
            self.run = start_from_weights(self.net, init)
        if resume:
            self.run = resume_run(resume, self.net, params, self.optimizer, self.scheduler, self.schedule, cfg)
        self.amp = cfg.amp and device.type == "cuda"
        self.synthesis_trains = "synthesis" not in self.frozen
        self.validator: Validator | None = None
        self.runlog: RunLog | None = None

    def open_log(self) -> None:
        """The validator, then the log: a missing validation clip fails before the log is touched."""
        torch.backends.cudnn.benchmark = self.device.type == "cuda"   # fixed crop size: tuned kernels pay off at once
        self.validator = Validator(self.cfg.validation, self.device, self.out)
        self.runlog = self.validator.runlog = RunLog(self.out, self.run.step)

    def meta(self) -> dict[str, Any]:
        """What every checkpoint of the run records besides the weights."""
        m = {"step": self.run.step, "config": self.cfg.to_dict(), "elapsed_s": self.run.elapsed,
             "device": str(self.device), "torch": str(torch.__version__)}
        return {**m, "init": self.run.init} if self.run.init else m

    def save_last(self) -> None:
        """last.pt, with all a resume needs to continue exactly, and the log's plot."""
        state = {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                 "step": self.run.step, "best": self.run.best, "elapsed_s": self.run.elapsed,
                 "torch_rng": torch.get_rng_state()}
        save_checkpoint(self.out / "last.pt", self.net, self.meta(), state)
        self.runlog.plot()

    def validate(self) -> None:
        """Scores the net on the validation clips; one that beats the best so far becomes best.pt."""
        self.run.best = self.validator(self.net, self.frozen, self.run.step, self.run.best, self.meta())

    def step(self, inputs: torch.Tensor, target: torch.Tensor, times: torch.Tensor) -> float:
        """One optimiser step and the schedule's; returns the loss (reading it waits for the device)."""
        t0 = time.time()
        inputs, target = inputs.to(self.device, non_blocking=True), target.to(self.device, non_blocking=True)
        loss = train_step(self.net, self.optimizer, inputs, target, times, self.cfg.loss,
                          synthesis_trains=self.synthesis_trains, grad_clip=self.cfg.optim.grad_clip, amp=self.amp)
        self.scheduler.step()
        self.run.step += 1
        self.run.elapsed += time.time() - t0
        return loss.item()

    def refit(self, budget: TimeBudget | None, end: int) -> int:
        """The run's last step, moved when the time budget refits it."""
        new_end = budget.refit(self.run.step) if budget else None
        if new_end is None:
            return end
        if end == self.schedule.total:      # not when --max-steps stops this run early on purpose
            self.schedule.total = self.cfg.steps = new_end   # checkpoints record the schedule actually run
        return new_end

    def steps(self, loader: DataLoader, end: int, budget: TimeBudget | None) -> None:
        """Steps until ``end`` (or the budget is spent), logging, validating and saving on their beats;
        the last weights are validated and saved whatever the beat."""
        first = self.run.step
        progress = _Progress(end - first, self.runlog)
        for inputs, target, times in loader:
            progress.add(self.step(inputs, target, times), inputs.shape[0])
            if self.run.step % self.cfg.log_every == 0:
                progress.row(self.run.step, self.scheduler.get_last_lr()[0], self.run.elapsed)
            validated = self.validator.due(self.run.step)
            if validated:
                self.validate()
            end = self.refit(budget, end)
            progress.bar.total = end - first   # the budget may have moved the end
            out_of_time = budget is not None and budget.spent()
            finished = self.run.step >= end or out_of_time
            if self.run.step % self.cfg.checkpoint_every == 0 or finished:
                if finished and self.validator.clips and not validated:
                    self.validate()   # the last weights compete too
                self.save_last()
            if finished:
                if out_of_time and self.run.step < end:
                    log.info("time budget spent at step %d of %d", self.run.step, end)
                break
        progress.bar.close()
        self.runlog.close()


class _Progress:
    """The bar (running loss, samples per second) and the log's rows: means over the steps since the
    last row."""

    def __init__(self, total: int, runlog: RunLog) -> None:
        self.bar = tqdm(total=total, desc="train", unit="step", dynamic_ncols=True, disable=None)
        self.runlog, self.running = runlog, None
        self._restart()

    def _restart(self) -> None:
        self.start, self.samples, self.loss, self.count, self.rate = time.time(), 0, 0.0, 0, 0.0

    def add(self, loss: float, samples: int) -> None:
        self.samples += samples
        self.loss += loss
        self.count += 1
        self.running = loss if self.running is None else 0.95 * self.running + 0.05 * loss
        self.rate = self.samples / max(1e-9, time.time() - self.start)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{self.running:.4f}", samples_s=f"{self.rate:.1f}")

    def row(self, step: int, lr: float, elapsed: float) -> None:
        self.runlog.row(step=step, loss=f"{self.loss / self.count:.5f}", lr=f"{lr:.3e}",
                        samples_per_s=f"{self.rate:.2f}", elapsed_s=f"{elapsed:.0f}")
        self._restart()
