"""Held pictures for measuring ``dedup`` (docs/results.md, "Repeated frames"): the clip's even frames (the
full-rate clip of the protocol) shown "on twos", "on threes", or with a random tenth of them dropped
(each replaced by the one before it), as animation, stalled captures and dropped frames show them.

Every method then predicts the odd frames from the held even frames, and is scored against the true odd
frames: a made frame is right only where it shows the motion at its own time.
"""
from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import vapoursynth as vs

PATTERNS = ("twos", "threes", "drops")
DROP_SHARE = 0.1
DROP_SEED = 0          # the same frames dropped on every run and machine


def held_index(count: int, pattern: str) -> list[int]:
    """For each of ``count`` full-rate frames, the frame whose picture the held clip shows there."""
    if pattern == "twos":
        return [k - k % 2 for k in range(count)]
    if pattern == "threes":
        return [k - k % 3 for k in range(count)]
    if pattern == "drops":
        rng = random.Random(DROP_SEED)
        dropped = set(rng.sample(range(1, count), round(DROP_SHARE * (count - 1)))) if count > 1 else set()
        shown: list[int] = []
        for k in range(count):
            shown.append(shown[-1] if k in dropped else k)
        return shown
    raise ValueError(f"unknown pattern {pattern!r}; choose from {', '.join(PATTERNS)}")


def hold(source: "vs.VideoNode", pattern: str) -> "vs.VideoNode":
    """``source`` with its even frames held by ``pattern`` (its odd frames, the truth, untouched)."""
    import vapoursynth as vs
    even = (source.num_frames + 1) // 2
    shown = held_index(even, pattern)
    order = [2 * shown[n // 2] if n % 2 == 0 else n for n in range(source.num_frames)]
    return vs.core.std.Splice([source[i] for i in order]) if len(order) > 1 else source
