"""Fine-tuning a copy of the weights on one clip's own windows, kept only if it beats them where it was
not trained (the held-aside windows).

Small batches of one clip's crops: BatchNorm keeps the statistics it learned on the general data (its
layers stay in eval mode; their scale and shift still learn). The learning rate follows a cosine over the
time budget (or the step budget). The held-aside score is the mean PSNR of the net's frames, rounded to
8 bits as the filter writes them, on fixed crops of the held windows at half size and full size. Ctrl-C
stops the run and keeps the best weights so far.
"""
from __future__ import annotations

import copy
import logging
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from ..checkpoint import file_sha256, load_weights, read_checkpoint, save_checkpoint, weights_file
from ..filter.devices import resolve_device
from ..filter.engine import Engine
from ..train.config import LossConfig
from ..train.optim import set_cosine_lr, train_step
from .windows import ClipWindows

log = logging.getLogger("convlstm")

BATCH = 4
CROP = 128
LR = 2e-4
LOSS = LossConfig(laplacian=0.5)   # the shipped model's loss (configs/motion.yaml)
GRAD_CLIP = 1.0
CHECK_SECONDS = 20.0     # held-aside score at most this often under a time budget (it costs a few forwards)
CHECKS = 5               # under a step budget: this many times, at fixed steps (the run is then reproducible)
MARGIN_DB = 0.02         # the adapted weights must beat the starting ones by this much to be kept
HALF_SHARE = 0.5         # of training windows taken at half size
JUDGE = ("half", "full") # held-aside scales that decide


@dataclass
class AdaptResult:
    path: Path               # the weights to use: the adapted ones, or the starting ones when they stayed better
    adapted: bool
    base_psnr: float         # held-aside score of the starting weights
    best_psnr: float         # and of the weights returned
    steps: int
    seconds: float
    interrupted: bool = False


def describe(result: AdaptResult) -> str:
    """One line for the user: what adaptation gave, and which weights to use."""
    gain = result.best_psnr - result.base_psnr
    head = (f"{result.steps} steps in {result.seconds / 60:.1f} min" +
            (" (interrupted)" if result.interrupted else ""))
    if result.adapted:
        return (f"adapted: held-aside PSNR {result.base_psnr:.2f} -> {result.best_psnr:.2f} dB ({gain:+.2f}), "
                f"{head}; weights: {result.path}")
    return (f"adaptation did not beat the starting weights on the held-aside windows ({result.base_psnr:.2f} dB, "
            f"{head}): keep using them ({result.path})")


class AdaptInterrupted(KeyboardInterrupt):
    """Ctrl-C (or SIGTERM) during adaptation, after the best weights so far were kept."""

    def __init__(self, result: AdaptResult, signal: KeyboardInterrupt) -> None:
        super().__init__(str(signal))
        self.result, self.signal = result, signal


def held_psnr(engine: Engine, batches: list[tuple[torch.Tensor, torch.Tensor]]) -> list[float]:
    """Mean PSNR (dB, 8-bit) of the net's frames on the held-aside crops, one figure per batch (scale)."""
    out = []
    for inputs, targets in batches:
        pred = engine.predict(inputs)
        to8 = lambda x: ((x.float().clamp(-1, 1) + 1) * 127.5).round()   # noqa: E731
        mse = ((to8(pred).cpu() - to8(targets)) ** 2).mean(dim=(1, 2, 3))
        out.append(float(np.mean([99.0 if m == 0 else 10 * math.log10(255.0 ** 2 / float(m)) for m in mse])))
    return out


def better(scores: list[float], than: list[float], by: float = 0.0) -> bool:
    """No held-aside scale worse, and their mean higher by ``by``: a gain at half size that costs at full
    size (or the reverse) is not taken, since neither alone is the filter's own task."""
    return all(s >= t for s, t in zip(scores, than)) and np.mean(scores) >= np.mean(than) + by


def _train_mode(net: torch.nn.Module) -> None:
    net.train()
    for m in net.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            m.eval()


def adapt_step(net: torch.nn.Module, optimizer: torch.optim.Optimizer,
               batch: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]], device: torch.device) -> torch.Tensor:
    """One optimiser step (train/optim.py's, with adaptation's loss) on samples (inputs, target, t),
    BatchNorm statistics kept: a few crops of one clip would pull them off. Returns the loss (a tensor:
    reading it would wait for the device)."""
    inputs, target, times = (torch.stack(x).to(device) for x in zip(*batch))
    _train_mode(net)
    return train_step(net, optimizer, inputs, target, times, LOSS, grad_clip=GRAD_CLIP)


@dataclass
class _Budget:
    """Steps, wall seconds or both, from ``start``: whichever runs out first ends the run."""
    steps: int | None
    seconds: float | None
    start: float

    def spent(self) -> float:
        return time.perf_counter() - self.start

    def over(self, step: int, spent: float) -> bool:
        return (self.steps is not None and step >= self.steps) or (self.seconds is not None and spent >= self.seconds)

    def fraction(self, step: int, spent: float) -> float:
        """How far along the run is, by whichever budget is further spent (the cosine follows it)."""
        return max(step / self.steps if self.steps else 0.0, spent / self.seconds if self.seconds else 0.0)

    def check_due(self, step: int, last_check: float) -> bool:
        """Whether to score the held-aside windows now: at CHECKS fixed steps under a step budget (so the
        run is reproducible), else every CHECK_SECONDS."""
        if self.steps is not None:
            return step % max(1, self.steps // CHECKS) == 0 or step >= self.steps
        return time.perf_counter() - last_check >= CHECK_SECONDS


class _Keeper:
    """The starting weights' held-aside scores and the best weights so far, which only a better score
    replaces."""

    def __init__(self, engine: Engine, held: list[tuple[torch.Tensor, torch.Tensor]]) -> None:
        self.engine, self.held = engine, held
        self.base = self.best = held_psnr(engine, held)   # per judged scale
        self.state = copy.deepcopy(engine.net.state_dict())

    def score(self) -> list[float]:
        self.engine.net.eval()
        return held_psnr(self.engine, self.held)

    def offer(self, score: list[float]) -> None:
        """Keeps the net's weights if ``score`` beats the start at every scale and the best in the mean."""
        if better(score, self.base) and np.mean(score) > np.mean(self.best):
            self.best, self.state = score, copy.deepcopy(self.engine.net.state_dict())


def _fine_tune(net: torch.nn.Module, keeper: _Keeper, windows: ClipWindows, budget: _Budget, dev: torch.device,
               lr: float, half_share: float, seed: int, bar: tqdm) -> tuple[int, KeyboardInterrupt | None]:
    """Steps until the budget is spent, offering the weights to ``keeper`` when a check is due. Returns
    the steps taken and the Ctrl-C that stopped them, if one did (the best weights so far stay kept)."""
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    step, last_check, interrupted = 0, time.perf_counter(), None
    try:
        while True:
            spent = budget.spent()
            if budget.over(step, spent):
                break
            set_cosine_lr(optimizer, lr, budget.fraction(step, spent))
            adapt_step(net, optimizer, [windows.sample(rng, half_share) for _ in range(BATCH)], dev)
            step += 1
            if budget.check_due(step, last_check):
                score = keeper.score()
                last_check = time.perf_counter()
                keeper.offer(score)
            bar.set_postfix(held=f"{np.mean(keeper.best):.2f} dB", base=f"{np.mean(keeper.base):.2f}")
            bar.n = step if budget.steps is not None else min(round(budget.spent()), bar.total)
            bar.refresh()
    except KeyboardInterrupt as exc:
        interrupted = exc
    finally:
        bar.close()
    return step, interrupted


def _adapted_meta(weights: str | None, name: str, keeper: _Keeper, judge: tuple[str, ...],
                  record: dict[str, Any], interrupted: bool) -> dict[str, Any]:
    """The adapted checkpoint's lineage: the weights it started from (and their own lineage), the clip,
    the run (``record``) and the held-aside scores that kept it."""
    started = weights_file(weights)
    init = read_checkpoint(started).get("meta", {}) if started else {}
    held = {"judged": list(judge), "base": [round(b, 3) for b in keeper.base],
            "adapted": [round(b, 3) for b in keeper.best]}
    adapted = {"base": name, "base_sha256": file_sha256(started) if started else None, **record,
               "held_aside_psnr": held, "interrupted": interrupted}
    return {"adapted": adapted, "init": {k: init.get(k) for k in ("step", "elapsed_s", "device", "init") if k in init}}


def adapt_frames(frames: np.ndarray, out: Path, *, minutes: float | None = 3.0, steps: int | None = None,
                 device: str = "auto", weights: str | None = None, source: dict[str, Any] | None = None,
                 progress: bool = True, seed: int = 0, lr: float = LR, half_share: float = HALF_SHARE,
                 judge: tuple[str, ...] = JUDGE) -> AdaptResult:
    """Adapts the weights named by ``weights`` (default: the bundled model) to ``frames`` (N, H, W, 3) uint8,
    the frames the filter will get, for ``minutes`` of wall time or ``steps`` steps (whichever comes first);
    writes the adapted checkpoint to ``out`` only if it beats the starting weights on the held-aside windows."""
    if minutes is None and steps is None:
        raise ValueError("give a budget: minutes, steps or both")
    if (minutes is not None and minutes <= 0) or (steps is not None and steps < 1):
        raise ValueError(f"the budget must be positive, got minutes={minutes}, steps={steps}")
    budget = _Budget(steps, None if minutes is None else 60.0 * minutes, time.perf_counter())
    net, name = load_weights(weights)
    if not net.any_time and net.fusion is not None:
        raise ValueError("weights with a scale fusion (scales=2) cannot be adapted; adapt their single pass "
                         "(the paper's net) or the motion model")
    dev = resolve_device(device)
    windows = ClipWindows(frames, CROP, net.pad_multiple)
    held = [batch for scale, batch in zip(("half", "full"), windows.held_batches()) if scale in judge]
    # the engine holds the same net object: scored as it trains (so in the layout it trains in: NCHW)
    keeper = _Keeper(Engine(net, dev, channels_last=False), held)
    log.info("adapting %s on %d windows (%d held aside) of %d frames; held-aside PSNR %.2f dB", name,
             len(windows.split.train), len(windows.split.held), len(frames), np.mean(keeper.base))
    bar = tqdm(total=steps if steps is not None else round(budget.seconds), unit="step" if steps is not None else "s",
               desc="adapt", dynamic_ncols=True, disable=not progress)
    step, interrupted = _fine_tune(net, keeper, windows, budget, dev, lr, half_share, seed, bar)
    net.eval()
    if interrupted is None and steps is None:   # the last stretch since the previous check competes too
        keeper.offer(keeper.score())
    seconds = budget.spent()
    adapted = better(keeper.best, keeper.base, MARGIN_DB)
    if adapted:
        net.load_state_dict(keeper.state)
        record = {"source": source or {}, "frames": int(len(frames)), "steps": step, "seconds": round(seconds, 1),
                  "device": str(dev)}
        out.parent.mkdir(parents=True, exist_ok=True)
        save_checkpoint(out, net, _adapted_meta(weights, name, keeper, judge, record, interrupted is not None))
        path = out
    else:
        path = weights_file(weights) or Path("untrained")
    result = AdaptResult(path, adapted, float(np.mean(keeper.base)),
                         float(np.mean(keeper.best if adapted else keeper.base)), step, seconds, interrupted is not None)
    if interrupted is not None:
        raise AdaptInterrupted(result, interrupted)
    return result
