"""Training windows from a clip's own frames, and the part of them held aside to judge the adaptation.

The filter's windows are four consecutive frames with the new frame halfway between the middle two; a clip
has no true frame there. One step wider it does: frames i, i+2, i+4, i+6 around the true frame i+3, the
paper's 7-frame layout (data.windows.split_window). That doubles the motion the net sees, so half the
samples are taken at half size, where the motion in pixels matches the filter's windows at full size.
Windows never cross a scene cut (the filter's rule). Blocks of consecutive frames are held aside whole (a
window shares frames with its neighbours, so single held windows would leak into training).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..data.video_folder import cut_flags
from ..data.windows import random_crop, split_window
from ..options import DEFAULT_SC_THRESHOLD

SPAN = 7                 # frames a window covers: inputs 0, 2, 4, 6 and the true frame 3
BLOCK = (8, 16)          # frames per block (a quarter of a short clip); every HOLD_EVERY-th block is held aside
HOLD_EVERY = 5
MIN_FRAMES = 24          # fewer, and there is not enough to train on and to hold aside
HELD_CROP = 192          # held-aside windows are judged on fixed centre crops at most this size
MAX_HELD = 12            # of each scale


def half_size(frames: torch.Tensor) -> torch.Tensor:
    """(T, 3, H, W) on [0, 1] at half the size (antialiased), where the window's motion halves too."""
    h, w = frames.shape[-2:]
    return F.interpolate(frames, size=(max(1, h // 2), max(1, w // 2)), mode="bilinear", antialias=True,
                         align_corners=False).clamp(0, 1)


@dataclass
class Split:
    train: list[int]   # first frames of the windows to train on
    held: list[int]    # and of those held aside


def split_windows(num_frames: int, cut_after: np.ndarray) -> Split:
    """Cut-free windows, those entirely inside held blocks held aside and those touching them dropped."""
    if num_frames < MIN_FRAMES:
        raise ValueError(f"the clip has {num_frames} frames; adapting needs at least {MIN_FRAMES} (some are "
                         "held aside to check that the adapted weights are better)")
    block = min(BLOCK[1], max(BLOCK[0], num_frames // 4))
    held_frame = np.zeros(num_frames, dtype=bool)
    for b in range(HOLD_EVERY // 2, num_frames // block + 1, HOLD_EVERY):
        held_frame[b * block:(b + 1) * block] = True
    split = Split([], [])
    for i in range(num_frames - SPAN + 1):
        if cut_after[i:i + SPAN - 1].any():
            continue
        inside = held_frame[i:i + SPAN]
        if inside.all():
            split.held.append(i)
        elif not inside.any():
            split.train.append(i)
    if not split.train or not split.held:
        raise ValueError("the clip's scene cuts leave no window of 7 uncut frames to train on and to hold aside; "
                         "adapt on a longer clip")
    return split


class ClipWindows:
    """Samples (inputs, target, t) from one clip's frames (N, H, W, 3) uint8, the ones the filter gets."""

    def __init__(self, frames: np.ndarray, crop: int = 128, multiple: int = 32,
                 sc_threshold: float = DEFAULT_SC_THRESHOLD) -> None:
        self.frames = frames
        half_side = min(frames.shape[1:3]) // 2     # one crop size for both scales, so samples batch
        self.crop = max(multiple, min(crop, half_side) // multiple * multiple)
        self.split = split_windows(len(frames), cut_flags(frames, sc_threshold))

    def _window(self, start: int) -> torch.Tensor:
        return torch.from_numpy(self.frames[start:start + SPAN]).permute(0, 3, 1, 2).float() / 255.0

    def sample(self, rng: np.random.Generator, half_share: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """A training window, at half size (with probability ``half_share``) or full size, randomly cropped,
        flipped, reversed."""
        window = self._window(int(rng.choice(self.split.train)))
        if rng.random() < half_share:
            window = half_size(window)
        return split_window(random_crop(window, self.crop, rng), rng)   # (padded when the frame is smaller)

    def held_batches(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """The held-aside windows as (inputs (B, 4, 3, h, w), targets (B, 3, h, w)) batches on [-1, 1], one
        per scale, the same centre crops every time (spread evenly over the held windows)."""
        held = self.split.held
        picks = [held[round(k * (len(held) - 1) / max(1, MAX_HELD - 1))] for k in range(min(MAX_HELD, len(held)))]
        batches = []
        for scale in ("half", "full"):
            inputs, targets = [], []
            for start in dict.fromkeys(picks):
                window = self._window(start)
                if scale == "half":
                    window = half_size(window)
                h, w = window.shape[-2:]
                ch, cw = min(HELD_CROP, h), min(HELD_CROP, w)
                y, x = (h - ch) // 2, (w - cw) // 2
                i, t, _ = split_window(window[..., y:y + ch, x:x + cw], None, augment=False)
                inputs.append(i)
                targets.append(t)
            batches.append((torch.stack(inputs), torch.stack(targets)))
        return batches
