"""Scene cuts, one rule for the filter, the evaluation and the training data: a cut is a mean absolute
difference between consecutive frames above a threshold (a fraction of full range), or a mark set upstream.
No new frame mixes two scenes (``predict_within_scene``)."""
from __future__ import annotations

from typing import Callable, Sequence

import torch


def consecutive_differences(frames: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of each frame of a (T, C, H, W) stack on [0, 1] and the next.

    Stays on the stack's device: the filter reads all of a window's differences in one transfer.
    """
    f = frames.float()
    return (f[1:] - f[:-1]).abs().flatten(1).mean(1)


def cut_at(difference: float, threshold: float) -> bool:
    return threshold > 0 and difference > threshold


def within_scene(window: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
    """A (4, 3, H, W) window with its outer frames replaced by their neighbours across a cut (``cut``: (3,)
    bool, a cut after window position a), so a window never mixes scenes; decided on the device. (A cut
    between the middle frames is the caller's: the new frame is then frame i itself.)"""
    return torch.stack([torch.where(cut[0], window[1], window[0]), window[1], window[2],
                        torch.where(cut[2], window[2], window[3])])


def cuts_at(differences: torch.Tensor, threshold: float) -> torch.Tensor:
    """``cut_at`` for a tensor of differences, on their device (no transfer to decide)."""
    if threshold <= 0:
        return torch.zeros_like(differences, dtype=torch.bool)
    return differences.double() > threshold     # in double, as cut_at compares (0.15 is not a float32)


def predict_within_scene(window: torch.Tensor, t: float, predict: Callable[[torch.Tensor, float], torch.Tensor],
                         threshold: float, marked: Sequence[bool] = (False, False, False)
                         ) -> tuple[torch.Tensor, torch.Tensor]:
    """The new frame at time t of a (4, 3, H, W) window on [-1, 1], and the window's cuts ((3,) bool: a cut
    after window position a, found or ``marked``). Frames across a cut are left out of the window; where
    ``cuts[1]`` (a cut between the middle frames) the caller shows frame i itself, not the prediction
    (the filter copies its very bytes). Decided on the device: nothing waits before the net runs."""
    cuts = cuts_at(consecutive_differences((window + 1) * 0.5), threshold)
    for a, mark in enumerate(marked):
        if mark:
            cuts[a] = True           # a fill on the device: no copy from the host, no wait
    return predict(within_scene(window, cuts), t), cuts
