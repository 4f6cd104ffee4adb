"""Frame timestamps of real files, so variable-rate sources keep their timing.

A file's frame rate is a promise that containers do not always keep: phone footage and edited files
switch rates or drift. bestsource reports the average rate; frames placed on that average land up to a
tenth of a second away from where they were (and from their sound). Here the source's own timestamps
(bestsource's v2 timecodes) decide: a source on its rate's grid is constant-rate and is written at that
rate; any other keeps its timestamps, each source frame's span split evenly among the frames made from it
(the filter splits frame durations the same way), and ffmpeg is given them as a ``setpts`` expression.
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

GRID_TOLERANCE = 0.25      # of a frame: further off the average rate's grid than this is variable rate
FIT_TOLERANCE = 0.0005     # s: pieces fit within half a ms (Matroska keeps whole ms; sources come rounded so)


def read_timecodes(path: str | Path) -> list[float]:
    """A v2 timecodes file (``# timecode format v2``, then one start time in ms per frame) as seconds."""
    lines = Path(path).read_text().splitlines()
    if not lines or not lines[0].startswith("# timecode format v2"):
        raise ValueError(f"{path} is not a v2 timecodes file")
    return [float(line) / 1000 for line in lines[1:] if line.strip() and not line.startswith("#")]


def is_constant_rate(times: list[float], fps: Fraction) -> bool:
    """Whether every frame starts within GRID_TOLERANCE of a frame of ``fps`` counted from the first."""
    if fps <= 0:
        return False
    step = 1 / float(fps)
    return all(abs(t - times[0] - i * step) <= GRID_TOLERANCE * step for i, t in enumerate(times))


def rate_range(times: list[float]) -> tuple[float, float]:
    """The lowest and highest instantaneous rate (frames per second) between consecutive frames."""
    gaps = [b - a for a, b in zip(times, times[1:]) if b > a]
    return (1 / max(gaps), 1 / min(gaps)) if gaps else (0.0, 0.0)


def output_times(times: list[float], factor: int) -> list[float]:
    """Where the frames of a whole-factor rate change go: source frame i at its own time, the factor - 1
    frames made after it evenly across its span (the last frame's span: the one before it)."""
    if factor < 1 or len(times) < 2:
        raise ValueError("output_times needs a factor of at least 1 and two or more frames")
    spans = [b - a for a, b in zip(times, times[1:])]
    spans.append(spans[-1])
    return [t + k * span / factor for t, span in zip(times, spans) for k in range(factor)]


def segments(times: list[float], tolerance: float = FIT_TOLERANCE) -> list[tuple[int, float, float]]:
    """Straight pieces (first frame, its time, seconds per frame) that reproduce ``times`` within
    ``tolerance``: a rate that holds for a while is one piece however long (greedy, O(n))."""
    out, start = [], 0
    while start < len(times):
        low, high, end = -float("inf"), float("inf"), start + 1
        while end < len(times):
            d = end - start
            lo, hi = (times[end] - tolerance - times[start]) / d, (times[end] + tolerance - times[start]) / d
            if lo > high or hi < low:
                break
            low, high, end = max(low, lo), min(high, hi), end + 1
        # through both ends when that fits (exact at the pieces' joins), else the middle of what fits
        slope = min(max((times[end - 1] - times[start]) / (end - 1 - start), low), high) if end > start + 1 else 0.0
        out.append((start, times[start], slope))
        start = end
    return out


def setpts_expression(times: list[float]) -> str:
    """An ffmpeg ``setpts`` expression of the frame number N giving ``times`` (s), as a balanced tree of
    ``if(lt(N, first), left, right)`` over the straight pieces: shallow for any number of them."""
    pieces = segments(times)

    def tree(lo: int, hi: int) -> str:
        if hi - lo == 1:
            n0, t0, slope = pieces[lo]
            return f"{t0:.6f}+(N-{n0})*{slope:.9f}"
        mid = (lo + hi) // 2
        return f"if(lt(N,{pieces[mid][0]}),{tree(lo, mid)},{tree(mid, hi)})"

    return f"({tree(0, len(pieces))})/TB"

