"""The training loop, visible top to bottom: data, loss, AdamW, warmup + cosine, clip, validate, save."""
from __future__ import annotations

import csv
import logging
import math
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..checkpoint import read_checkpoint, save_checkpoint
from ..config import ModelConfig
from ..data.mix import build_dataset
from ..model import Net, interpolation_loss
from .plot import plot_log
from .validate import load_validation_clips, selection_score, single_scale, validate, without_refinement

log = logging.getLogger("convlstm")
CSV_FIELDS = ["step", "loss", "lr", "samples_per_s", "val_psnr", "val_gain", "val_min_gain", "val_detail", "elapsed_s"]


def lr_factor(step: int, warmup: int, total: int, final: float) -> float:
    """Linear warmup, then cosine decay to ``final`` of the base rate."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * progress))


def drop_rows_after(csv_path: Path, step: int) -> None:
    """A run resumed from an earlier checkpoint than its log's end must not keep the abandoned rows."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    kept = [r for r in rows if int(r["step"]) <= step]
    if len(kept) != len(rows):
        with open(csv_path, "w", newline="") as f:
            writer = csv.DictWriter(f, CSV_FIELDS)
            writer.writeheader()
            writer.writerows(kept)


def pick_device(spec: str) -> torch.device:
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(spec)


def fit_total_to_budget(step: int, end: int, seconds_per_step: float, seconds_left: float) -> int:
    """The last step that still fits the time left (5 % kept back for the final save and validation)."""
    return max(step + 1, min(end, step + int(0.95 * seconds_left / max(seconds_per_step, 1e-9))))


def lineage(path: str | Path, meta: dict[str, Any]) -> dict[str, Any]:
    """What a fine-tune started from, kept in its checkpoints so a model card can add up all its training."""
    keep = ("step", "elapsed_s", "device", "torch", "init")
    return {"path": str(path), **{k: meta.get(k) for k in keep},
            "batch_size": meta.get("config", {}).get("batch_size"), "freeze": meta.get("config", {}).get("freeze"),
            "crop": meta.get("config", {}).get("data", {}).get("crop")}


FREEZABLE = ("synthesis", "refinement")


def frozen_parts(cfg: dict[str, Any], net: Net) -> list[str]:
    """``freeze`` names stages that keep their weights (and BatchNorm statistics) while the rest trains."""
    names = list(cfg.get("freeze") or [])
    bad = [n for n in names if n not in FREEZABLE]
    if bad:
        raise ValueError(f"freeze: {bad} unknown; freezable stages are {list(FREEZABLE)}")
    if net.fusion is not None and sorted(names) != sorted(FREEZABLE):
        raise ValueError("model.scales=2 trains only the scale fusion: set freeze: [synthesis, refinement]")
    if net.fusion is None and sorted(names) == sorted(FREEZABLE):
        raise ValueError("freeze leaves nothing to train: the model has no scale fusion (model.scales=1)")
    return names


def set_training(net: Net, frozen: list[str]) -> None:
    net.train()
    for name in frozen:
        getattr(net, name).eval().requires_grad_(False)


def load_init_weights(net: Net, state: dict[str, torch.Tensor]) -> None:
    """Exact match, or only the scale fusion differs: a single-pass checkpoint into a scales=2 net (the
    fusion starts fresh), or a two-scale one into a scales=1 net (fine-tuning the paper's net; its fusion
    has to be trained again afterwards, since it learned the old net's mistakes)."""
    missing, unexpected = net.load_state_dict(state, strict=False)
    if any(not k.startswith("fusion.") for k in missing + unexpected):
        raise RuntimeError(f"missing {missing[:3]}, unexpected {unexpected[:3]}")
    if unexpected:
        log.info("the checkpoint's scale fusion is not part of this model (model.scales=1): left out")


def train(cfg: dict[str, Any], resume: str | None = None, max_steps: int | None = None, init: str | None = None,
          time_budget_s: float | None = None) -> Path:
    """Runs (or resumes) a training run; returns the path of the best checkpoint.

    ``init`` starts a new run (step 0, fresh optimiser) from another checkpoint's weights: fine-tuning.
    ``time_budget_s`` fits the schedule to a wall-clock budget: the cosine's total is set from the measured
    step time (after 40 steps, refined at half time), so a lent GPU hour ends annealed, not cut off.
    """
    if resume and init:
        raise ValueError("use either --resume (continue a run) or --init (new run from weights), not both")
    if time_budget_s is not None and time_budget_s <= 0:
        raise ValueError(f"the time budget must be positive, got {time_budget_s} s")
    run_start = time.time()
    out = Path(cfg["out_dir"])
    out.mkdir(parents=True, exist_ok=True)
    device = pick_device(cfg["device"])
    torch.manual_seed(cfg["seed"])
    np.random.seed(cfg["seed"])

    net = Net(ModelConfig.from_dict(cfg["model"])).to(device)
    frozen = frozen_parts(cfg, net)
    set_training(net, frozen)
    o = cfg["optim"]
    trainable = [p for p in net.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=o["lr"], betas=tuple(o["betas"]), weight_decay=o["weight_decay"])
    sched_cfg, total = cfg["schedule"], int(cfg["steps"])
    scheduler = torch.optim.lr_scheduler.LambdaLR(   # reads `total` when called: a time budget may move it
        optimizer, lambda s: lr_factor(s, sched_cfg["warmup_steps"], total, sched_cfg["final_lr_fraction"]))

    step, best, elapsed, init_meta = 0, -math.inf, 0.0, None
    if init:
        data = read_checkpoint(init)
        try:
            load_init_weights(net, data["state_dict"])
        except RuntimeError as exc:
            raise ValueError(f"{init} does not fit the config's model ({str(exc).splitlines()[0]}); "
                             "use the model section it was trained with") from None
        init_meta = lineage(init, data.get("meta", {}))
        log.info("new run from the weights of %s (its step %s)", init, init_meta["step"])
    if resume:
        data = read_checkpoint(resume)
        net.load_state_dict(data["state_dict"])
        ts = data.get("train_state")
        if ts is None:
            raise ValueError(f"{resume} has no train_state (shipped weights cannot be resumed; use a last.pt)")
        optimizer.load_state_dict(ts["optimizer"])
        scheduler.load_state_dict(ts["scheduler"])
        if scheduler.base_lrs != [o["lr"]] * len(scheduler.base_lrs):
            log.info("peak learning rate %.2e from the config replaces the checkpoint's %.2e",
                     o["lr"], scheduler.base_lrs[0])
            scheduler.base_lrs = [o["lr"]] * len(scheduler.base_lrs)
        step, best, elapsed = ts["step"], ts["best"], ts.get("elapsed_s", 0.0)
        init_meta = data["meta"].get("init")   # a resumed fine-tune keeps its lineage
        torch.set_rng_state(ts["torch_rng"])
        for group, base in zip(optimizer.param_groups, scheduler.base_lrs):  # the config's schedule from here on
            group["lr"] = base * lr_factor(step, sched_cfg["warmup_steps"], total, sched_cfg["final_lr_fraction"])
        log.info("resumed %s at step %d (lr %.2e, best selection score %.3f)", resume, step,
                 optimizer.param_groups[0]["lr"], best)
        if data["meta"].get("config", {}).get("validation") != cfg["validation"]:
            best = -math.inf  # scores on other clips are not comparable: the resumed net sets the new bar
            log.info("validation clips changed since that checkpoint: best.pt restarts from the resumed net")

    dataset = build_dataset(cfg["data"], cfg["seed"])
    batch = int(cfg["batch_size"])
    end = total if max_steps is None else min(total, step + max_steps)
    size = len(dataset)  # sample i is a function of i alone, so resuming at step s is exact
    loader = DataLoader(dataset, batch_size=batch, sampler=[i % size for i in range(step * batch, end * batch)],
                        num_workers=int(cfg["num_workers"]), persistent_workers=False)
    vcfg = cfg["validation"]
    clips = load_validation_clips(vcfg["clips"], vcfg["frames"]) if vcfg.get("every") and vcfg.get("clips") else []
    use_amp = bool(cfg["amp"]) and device.type == "cuda"
    torch.backends.cudnn.benchmark = device.type == "cuda"   # fixed crop size: tuned kernels pay off at once
    csv_path = out / "log.csv"
    new_log = not csv_path.exists() or step == 0
    if not new_log:
        drop_rows_after(csv_path, step)
    log_file = open(csv_path, "w" if new_log else "a", newline="")
    writer = csv.DictWriter(log_file, CSV_FIELDS)
    if new_log:
        writer.writeheader()

    def meta() -> dict[str, Any]:
        m = {"step": step, "config": cfg, "elapsed_s": elapsed, "device": str(device), "torch": str(torch.__version__)}
        return {**m, "init": init_meta} if init_meta else m

    def train_state() -> dict[str, Any]:
        return {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "step": step,
                "best": best, "elapsed_s": elapsed, "torch_rng": torch.get_rng_state()}

    def run_validation() -> None:
        """Scores the net as trained and with its refinement head at zero; the better one may become best.pt."""
        nonlocal best
        net.eval()
        baseline = ("single-scale", single_scale(net)) if net.fusion else ("synthesis-only", without_refinement(net))
        variants = {"full": net, baseline[0]: baseline[1]}
        results = {name: validate(v, clips, device) for name, v in variants.items()}
        set_training(net, frozen)
        for name, metrics in results.items():
            detail = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if ":" in k)
            writer.writerow({"step": step, "val_psnr": f"{metrics['psnr']:.4f}", "val_gain": f"{metrics['gain']:.4f}",
                             "val_min_gain": f"{metrics['min_gain']:.4f}", "val_detail": f"[{name}] {detail}",
                             "elapsed_s": f"{elapsed:.0f}"})
            log.info("step %d validation [%s]: %s | mean gain over blend %+.3f dB", step, name, detail,
                     metrics["gain"])
        log_file.flush()
        name = max(results, key=lambda k: selection_score(results[k]))
        sel = selection_score(results[name])
        if sel > best:
            best = sel
            save_checkpoint(out / "best.pt", variants[name], {**meta(), "validation": results[name], "variant": name})
            log.info("new best checkpoint [%s] (selection score %+.3f dB) -> %s", name, sel, out / "best.pt")

    if clips and (step == 0 or best == -math.inf):
        run_validation()  # the untrained net is the blend: the floor every later checkpoint must beat

    def refit_schedule(seconds_per_step: float) -> None:
        nonlocal end, total
        whole_schedule = end == total   # not when --max-steps stops this run early on purpose
        # against the run's own bound, not the last fit: a slow probe (a busy machine) must not stick
        end = fit_total_to_budget(step, last_allowed, seconds_per_step, time_budget_s - (time.time() - run_start))
        if whole_schedule:
            total = cfg["steps"] = end   # checkpoints record the schedule that was actually run
        bar.total = end - first_step
        log.info("time budget: %.2f s per step, the schedule now ends at step %d", seconds_per_step, end)

    set_training(net, frozen)
    first_step, probe_at, probe_time, refits, last_allowed = step, step + 40, None, 0, end
    bar = tqdm(total=end - step, desc="train", unit="step", dynamic_ncols=True, disable=None)
    window_start, window_samples, window_loss, window_steps, running = time.time(), 0, 0.0, 0, None
    for inputs, target in loader:
        t0 = time.time()
        inputs, target = inputs.to(device, non_blocking=True), target.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=use_amp):
            output = net(inputs)
            if isinstance(output, tuple):   # the paper's net training: both stages supervised
                loss = interpolation_loss(output[0].float(), output[1].float(), target)
            else:                           # only the scale fusion trains
                loss = F.l1_loss(output.float(), target)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, o["grad_clip"])
        optimizer.step()
        scheduler.step()
        step += 1
        elapsed += time.time() - t0
        window_samples += inputs.shape[0]
        window_loss += loss.item()
        window_steps += 1
        running = loss.item() if running is None else 0.95 * running + 0.05 * loss.item()
        rate = window_samples / max(1e-9, time.time() - window_start)
        bar.update(1)
        bar.set_postfix(loss=f"{running:.4f}", samples_s=f"{rate:.1f}")
        if step % cfg["log_every"] == 0:
            writer.writerow({"step": step, "loss": f"{window_loss / window_steps:.5f}",
                             "lr": f"{scheduler.get_last_lr()[0]:.3e}", "samples_per_s": f"{rate:.2f}",
                             "elapsed_s": f"{elapsed:.0f}"})
            log_file.flush()
            window_start, window_samples, window_loss, window_steps = time.time(), 0, 0.0, 0
        validated = bool(clips) and step % vcfg["every"] == 0
        if validated:
            run_validation()
        if time_budget_s is not None:
            if step == first_step + 10:
                probe_time = time.time()   # the first steps pay for worker start-up and kernel tuning
            elif step == probe_at and probe_time is not None:
                refit_schedule((time.time() - probe_time) / (probe_at - first_step - 10))
                refits = 1
            elif refits == 1 and time.time() - run_start > time_budget_s / 2:
                refit_schedule((time.time() - probe_time) / (step - first_step - 10))  # validations included
                refits = 2
        out_of_time = time_budget_s is not None and time.time() - run_start > time_budget_s
        if step % cfg["checkpoint_every"] == 0 or step >= end or out_of_time:
            if clips and not validated and (step >= end or out_of_time):
                run_validation()   # the run's last weights compete for best.pt too
            save_checkpoint(out / "last.pt", net, meta(), train_state())
            plot_log(csv_path, out / "progress.png")
        if step >= end or out_of_time:
            if out_of_time and step < end:
                log.info("time budget spent at step %d of %d", step, end)
            break
    bar.close()
    log_file.close()
    if not (out / "best.pt").exists():
        save_checkpoint(out / "best.pt", net, meta())
    return out / "best.pt"
