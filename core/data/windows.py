"""What every dataset hands the trainer: four inputs, the true frame between the middle two, and its time.

A sample is ``(inputs, target, t)``: inputs (4, 3, H, W) at times -1, 0, 1, 2 (in units of the input
spacing) and the target (3, H, W) at time t in (0, 1) between the middle two, both on [-1, 1]; t a 0-d
float tensor. Halfway (t = 0.5) is the 2x case every clip gives; other positions (factor 3, 4, a rate
conversion) need footage sampled finer than the inputs (a stride, or a render at any time).
"""
from __future__ import annotations

import numpy as np
import torch

INPUT_INDICES = (0, 2, 4, 6)   # of a 7-frame run f0..f6 (Vimeo-90K: im1, im3, im5, im7)
TARGET_INDEX = 3               # f3 (im4): halfway between the middle inputs f2 and f4


def make_sample(inputs: torch.Tensor, target: torch.Tensor, t: float, rng: np.random.Generator | None = None,
                augment: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """inputs (4, 3, H, W) and target (3, H, W) on [0, 1] at time t -> a sample on [-1, 1].

    Augments with random horizontal/vertical flips and temporal reversal (which moves the target to 1 - t).
    """
    if not 0 < t < 1:
        raise ValueError(f"a target's time must be in (0, 1), got {t}")
    if augment and rng is not None:
        if rng.random() < 0.5:
            inputs, target = inputs.flip(-1), target.flip(-1)
        if rng.random() < 0.5:
            inputs, target = inputs.flip(-2), target.flip(-2)
        if rng.random() < 0.5:
            inputs, t = inputs.flip(0), 1.0 - t
    return (inputs * 2 - 1).contiguous(), (target * 2 - 1).contiguous(), torch.tensor(t, dtype=torch.float32)


def split_window(frames: torch.Tensor, rng: np.random.Generator | None = None,
                 augment: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(7, 3, H, W) on [0, 1] -> the halfway sample: inputs f0, f2, f4, f6 and target f3."""
    if frames.shape[0] != 7:
        raise ValueError(f"a training window needs 7 frames, got {frames.shape[0]}")
    return make_sample(frames[list(INPUT_INDICES)], frames[TARGET_INDEX], 0.5, rng, augment)


def target_offset(spacing: int, rng: np.random.Generator, off_half: float) -> int:
    """Which of the spacing - 1 frames between the middle inputs is the target: the middle one, or with
    probability ``off_half`` (or when there is no middle) any of them, so t = offset / spacing."""
    if spacing < 2:
        raise ValueError(f"inputs must be at least 2 frames apart to have one between, got {spacing}")
    if spacing % 2 == 0 and rng.random() >= off_half:
        return spacing // 2
    return int(rng.integers(1, spacing))


def target_time(rng: np.random.Generator, off_half: float, low: float = 0.125) -> float:
    """For renders, which can be made at any time: halfway, or with probability ``off_half`` uniform in
    [low, 1 - low] (the positions of factors up to 8 and of rate conversions)."""
    return 0.5 if rng.random() >= off_half else float(rng.uniform(low, 1 - low))


def random_crop(frames: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Same crop of every frame of a (T, C, H, W) sequence; pads by replication when it is smaller."""
    h, w = frames.shape[-2:]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        frames = torch.nn.functional.pad(frames, (0, pw, 0, ph), mode="replicate")
        h, w = frames.shape[-2:]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return frames[..., y:y + size, x:x + size]
