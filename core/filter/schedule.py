"""Which source frames make each output frame, and the clip facts that follow (docs/design.md, "The
frame schedule"). Pure arithmetic on frame numbers: no torch, no VapourSynth.

A stage follows one schedule:
- ``Timed``: every output frame at its exact time, ``ratio`` times as many frames as the source. Output m
  lies at source position m / ratio; a position on a source frame passes it through, any other is made
  from the four source frames around it. 2x is ``Timed(2)``: output 2i is source i, output 2i + 1 comes from
  (i - 1, i, i + 1, i + 2) clamped, the last output repeats the last source frame.
- ``Nearest``: a retiming that makes nothing: each output timestamp shows the nearest frame of its input
  (the last stage for a target rate with weights that interpolate halfway only).
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor


def clamped_window(i: int, num_source: int) -> tuple[int, int, int, int]:
    """The net's input around the gap between source frames i and i + 1, indices clamped to the clip."""
    return tuple(min(max(j, 0), num_source - 1) for j in (i - 1, i, i + 1, i + 2))


def _rate(rate: Fraction | None) -> tuple[int, int]:
    """A rate as VapourSynth's fps_num/fps_den: 0/0 when it is not known (variable rate)."""
    return (rate.numerator, rate.denominator) if rate else (0, 0)


@dataclass(frozen=True)
class Timed:
    """Outputs at exact times between the source frames (see the module's docstring)."""

    ratio: Fraction
    num_source: int

    @property
    def num_frames(self) -> int:
        return max(1, floor(self.num_source * self.ratio))

    def output_rate(self, source_rate: Fraction | None) -> tuple[int, int]:
        return _rate(source_rate * self.ratio if source_rate else None)

    @property
    def duration_divisor(self) -> int:
        """Variable-rate clips: a source frame's duration is split among the frames made from it, which
        takes a whole factor (else durations are left to the rate)."""
        return int(self.ratio) if self.ratio.denominator == 1 else 1

    @property
    def clears_next(self) -> int:
        """Whether every passed-through source frame is followed by a made frame (not when slower)."""
        return int(self.ratio > 1)

    def position(self, m: int) -> tuple[int, Fraction]:
        """Output m on the source's clock: (i, t), the source frame i at or before it and the fraction t in
        [0, 1) of the way to frame i + 1 (t = 0: frame i itself). Past the last source frame: the last."""
        position = Fraction(m) / self.ratio
        i = floor(position)
        if i >= self.num_source - 1:
            return self.num_source - 1, Fraction(0)
        return i, position - i

    def plan(self, m: int) -> tuple[int, ...]:
        """A 1-tuple: pass that source frame through; a 4-tuple: the net's input window."""
        i, t = self.position(m)
        return (i,) if t == 0 else clamped_window(i, self.num_source)

    def time(self, m: int) -> float:
        return float(self.position(m)[1])

    def first_since_source(self, m: int) -> bool:
        """Whether output m is the first output after source frame i's timestamp, no output showing frame i
        before it (so it starts the scene when a cut precedes frame i)."""
        i, _ = self.position(m)
        return m == 0 or self.position(m - 1)[0] < i

    def last_before_next_source(self, m: int) -> bool:
        """Whether output m is the last before source frame i + 1 (so it ends the scene at a cut)."""
        return m + 1 >= self.num_frames or self.position(m + 1)[0] > self.position(m)[0]


@dataclass(frozen=True)
class Nearest:
    """Each output timestamp m / target shows the nearest input frame (ties go to the later one): a timing
    error of at most half an input frame period."""

    source_rate: Fraction
    target: Fraction
    num_source: int
    duration_divisor = 1
    clears_next = 0      # passes frames through only, with their marks

    @property
    def num_frames(self) -> int:
        """Output frames that fit in the input's duration (at least 1)."""
        return max(1, floor(self.num_source * self.target / self.source_rate))

    def output_rate(self, source_rate: Fraction | None) -> tuple[int, int]:
        return _rate(self.target)

    def plan(self, m: int) -> tuple[int, ...]:
        return (min(self.num_source - 1, floor(m * self.source_rate / self.target + Fraction(1, 2))),)


def doublings_for_rate(source: Fraction, target: Fraction) -> int:
    """The smallest k >= 0 with source * 2**k >= target: the coarsest upsampling fine enough."""
    k = 0
    while source * 2 ** k < target:
        k += 1
    return k
