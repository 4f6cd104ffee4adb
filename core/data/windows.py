"""The temporal spacing every dataset shares, plus the augmentations that keep it."""
from __future__ import annotations

import numpy as np
import torch

INPUT_INDICES = (0, 2, 4, 6)   # of a 7-frame run f0..f6 (Vimeo-90K: im1, im3, im5, im7)
TARGET_INDEX = 3               # f3 (im4): halfway between the middle inputs f2 and f4


def split_window(frames: torch.Tensor, rng: np.random.Generator | None = None,
                 augment: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """(7, 3, H, W) on [0, 1] -> inputs (4, 3, H, W) and target (3, H, W) on [-1, 1].

    Augments with random horizontal/vertical flips and temporal reversal (the target stays f3).
    """
    if frames.shape[0] != 7:
        raise ValueError(f"a training window needs 7 frames, got {frames.shape[0]}")
    if augment and rng is not None:
        if rng.random() < 0.5:
            frames = frames.flip(-1)
        if rng.random() < 0.5:
            frames = frames.flip(-2)
        if rng.random() < 0.5:
            frames = frames.flip(0)
    frames = frames * 2 - 1
    return frames[list(INPUT_INDICES)].contiguous(), frames[TARGET_INDEX].contiguous()


def random_crop(frames: torch.Tensor, size: int, rng: np.random.Generator) -> torch.Tensor:
    """Same crop of every frame of a (T, C, H, W) sequence; pads by replication when it is smaller."""
    h, w = frames.shape[-2:]
    if h < size or w < size:
        ph, pw = max(0, size - h), max(0, size - w)
        frames = torch.nn.functional.pad(frames, (0, pw, 0, ph), mode="replicate")
        h, w = frames.shape[-2:]
    y, x = int(rng.integers(0, h - size + 1)), int(rng.integers(0, w - size + 1))
    return frames[..., y:y + size, x:x + size]
