"""Repeated frames (``dedup``): which source frames show the same picture as the one before them.

A frame repeats its predecessor when no block of it changed: the largest mean absolute difference over
BLOCK x BLOCK blocks of any plane, as a fraction of full range, is at most the threshold. Blocks, not the
whole frame, so that a small moving part (a blinking eye, a cursor) is motion, while compression noise,
which averages out within a block, is not. The default threshold (options.DEFAULT_DEDUP_THRESHOLD, 7.65
levels of 8-bit) is above what x264 at crf 18 leaves on re-encoded repeats (at most 4.9 levels on six
clips) and what crf 28 leaves on five of them (8.5 on the noisiest), and below the change of every moving
frame measured but near-still ones, whose made frame barely differs from the real one (docs/usage.md). One rule for the filter and the evaluation (docs/usage.md,
"Repeated frames").

A frame's difference is measured once, when a plan first needs it, and kept (one float per frame measured):
the decisions depend on nothing but the pictures, so they are the same in any order and on any thread.
"""
from __future__ import annotations

import threading
from typing import Sequence

import numpy as np

BLOCK = 16                      # px a side, at each plane's own size
MAX_RUN = 4                     # a picture shown for more frames than this is a hold (a still), left as it is


def frame_difference(a: Sequence[np.ndarray], b: Sequence[np.ndarray], full_range: float) -> float:
    """The largest block mean absolute difference between two frames' planes, on [0, 1] of full range."""
    worst = 0.0
    for pa, pb in zip(a, b):
        if pa.dtype.kind == "f":
            diff = np.abs(pa.astype(np.float32) - pb.astype(np.float32))
            total = np.float64
        else:            # integers: exact, and half the memory traffic of floats
            diff = np.abs(pa.astype(np.int32) - pb.astype(np.int32))
            total = np.int64
        h, w = diff.shape
        rows, cols = np.arange(0, h, BLOCK), np.arange(0, w, BLOCK)
        sums = np.add.reduceat(np.add.reduceat(diff, rows, axis=0, dtype=total), cols, axis=1, dtype=total)
        areas = np.outer(np.diff(np.append(rows, h)), np.diff(np.append(cols, w)))
        worst = max(worst, float((sums / areas).max()))
    if not np.isfinite(worst):
        return float("inf")       # NaN/Inf samples: never a repeat (the net's own check names them)
    return worst / full_range


class RepeatLog:
    """Each source frame's difference from the one before it, measured on demand; thread-safe."""

    def __init__(self, num_frames: int, threshold: float) -> None:
        self.num_frames, self.threshold = num_frames, threshold
        self._difference: dict[int, float] = {0: float("inf")}     # frame 0 repeats nothing
        self._lock = threading.Lock()

    def unknown(self, lo: int, hi: int) -> list[int]:
        """Frames j in [lo, hi] whose difference from j - 1 is not measured yet."""
        lo, hi = max(lo, 1), min(hi, self.num_frames - 1)
        with self._lock:
            return [j for j in range(lo, hi + 1) if j not in self._difference]

    def record(self, j: int, difference: float) -> None:
        with self._lock:
            self._difference[j] = difference

    def is_repeat(self, j: int) -> bool:
        """Whether frame j shows frame j - 1's picture; a plan only asks after its probe measured it."""
        difference = self._difference.get(j)
        if difference is None:
            raise RuntimeError(f"internal error: frame {j}'s difference was not measured before planning")
        return difference <= self.threshold
