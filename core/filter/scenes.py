"""Scene cuts: a cut is a mean absolute difference between consecutive frames above a threshold (a fraction
of full range), or a mark set upstream. The net never mixes two scenes (``predict_within_scene``); a new
frame between the two frames of a cut is ``frame_at_cut``'s.

In a window (the filter's and the evaluation's one rule) a difference up to twice the threshold is a cut
only where it stands out, CUT_STANDOUT times the window's other differences: a fast camera move over
high-contrast texture changes every frame by as much as a cut does, and repeating a frame there is the
worst frame the clip gets (a held-out clip's hand-held sweep: 14 dB where motion gives 29-31). A cut
stands out: the frames on either side of it differ little from their own neighbours. Training data drops
any window over the threshold (``cut_at``): the cautious side there."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch

CUT_STANDOUT = 1.5   # a difference up to twice the threshold is a cut only at this many times the window's others


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
    """The cuts among a window's consecutive differences (see the module's docstring), on their device (no
    transfer to decide)."""
    if threshold <= 0 or differences.numel() < 2:
        return differences.double() > threshold if threshold > 0 else torch.zeros_like(differences, dtype=torch.bool)
    d = differences.double()                    # in double, as cut_at compares (0.15 is not a float32)
    top = torch.topk(d, 2).values
    others = torch.where(d >= top[0], top[1], top[0])      # the largest of the other differences
    return (d > threshold) & ((d > 2 * threshold) | (d > CUT_STANDOUT * others))


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


def frame_at_cut(before: np.ndarray, after: np.ndarray, weight: float, mode: str) -> np.ndarray:
    """One plane of a new frame between the two frames of a cut, ``weight`` (0..1) of the way to ``after``.

    The moment of the cut between the two source frames is unknown, so a new frame at time t belongs to
    the later scene with chance t: ``blend`` shows (1 - t) before + t after, the expected picture and the
    least error on average (mvtools' FlowFPS does the same by default); the cost is one frame of a
    cross-fade. ``repeat`` shows the earlier frame, its very bytes: a clean cut, which is either exactly
    right or the other scene entirely. Integer samples are rounded half up, as the blend baseline of the
    evaluation rounds ((a + b + 1) // 2 at t = 1/2)."""
    if mode == "repeat" or weight <= 0:
        return before
    mixed = before.astype(np.float32) * np.float32(1 - weight) + after.astype(np.float32) * np.float32(weight)
    if np.issubdtype(before.dtype, np.integer):
        mixed = np.floor(mixed + np.float32(0.5))
    return mixed.astype(before.dtype)
