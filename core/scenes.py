"""Scene-cut detection, one rule for the filter and for training data: a cut is a mean absolute
difference between consecutive frames above a threshold (a fraction of full range)."""
from __future__ import annotations

import torch


def frame_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean absolute difference of two frames given on [0, 1]."""
    return float((a.float() - b.float()).abs().mean())


def is_cut(a: torch.Tensor, b: torch.Tensor, threshold: float) -> bool:
    return threshold > 0 and frame_difference(a, b) > threshold
