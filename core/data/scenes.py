"""Scene-cut detection from frame differences (shared by training data and, later, the filter)."""
from __future__ import annotations

import numpy as np


def frame_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two frames, on [0, 1] whatever their bit depth."""
    scale = 255.0 if a.dtype == np.uint8 else (65535.0 if a.dtype == np.uint16 else 1.0)
    return float(np.mean(np.abs(a.astype(np.float32) - b.astype(np.float32)))) / scale


def is_cut(a: np.ndarray, b: np.ndarray, threshold: float = 0.12) -> bool:
    """A cut is a jump in mean absolute difference larger than ``threshold`` (fraction of full range)."""
    return frame_difference(a, b) > threshold
