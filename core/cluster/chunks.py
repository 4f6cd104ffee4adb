"""Where a clip is cut into pieces for workers, so that the pieces joined are the one-machine result.

Every output frame of a whole-factor rate change comes from source frame i and the window around it
(at most a few frames either side, also through a chain of 2x stages) and from the scene-cut decisions
made inside that window. A worker that gets source frames [first - CONTEXT, last + CONTEXT] (clamped to
the clip) and keeps the outputs of [first, last] therefore computes exactly what one machine computes
for them. Pieces end at scene cuts where one falls near the planned length (a cut is where a piece
costs nothing to start), otherwise at the planned length.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..filter.repeats import MAX_RUN
from ..filter.schedule import dedup_reach

CONTEXT = 4           # source frames each side: the 4-frame window needs 1 before and 2 after, chains more
DEDUP_CONTEXT = CONTEXT + dedup_reach(MAX_RUN)   # dedup: plus the frames whose repeat decisions a plan reads
CHUNK_FRAMES = 240    # planned source frames per piece
SNAP = 0.25           # a cut within this fraction of a piece's length from its planned end moves the end there


@dataclass(frozen=True)
class Chunk:
    index: int
    first: int        # source frames whose outputs this piece owns
    last: int
    lo: int           # source frames it decodes (with context)
    hi: int

    @property
    def frames(self) -> int:
        return self.last - self.first + 1

    def outputs(self, factor: int) -> tuple[int, int]:
        """Which outputs of the trimmed clip [lo, hi] at ``factor`` are this piece's (first, last)."""
        return (self.first - self.lo) * factor, (self.last - self.lo) * factor + factor - 1


def plan_chunks(num_frames: int, cuts: list[int] | None = None, length: int = CHUNK_FRAMES,
                context: int = CONTEXT) -> list[Chunk]:
    """Pieces covering frames 0..num_frames-1; ``cuts``: source frames that start a new scene; ``context``:
    source frames decoded beyond each end (DEDUP_CONTEXT with dedup)."""
    if num_frames < 1 or length < 1:
        raise ValueError("plan_chunks needs at least one frame and a positive length")
    starts, first = [0], 0
    cut_list = sorted(c for c in (cuts or []) if 0 < c < num_frames)
    while num_frames - first > length:
        planned = first + length
        near = [c for c in cut_list if abs(c - planned) <= SNAP * length and c > first]
        first = min(near, key=lambda c: abs(c - planned)) if near else planned
        starts.append(first)
    ends = [s - 1 for s in starts[1:]] + [num_frames - 1]
    return [Chunk(k, a, b, max(0, a - context), min(num_frames - 1, b + context))
            for k, (a, b) in enumerate(zip(starts, ends))]
