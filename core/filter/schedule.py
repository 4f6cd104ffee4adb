"""Which source frames make each output frame, and the clip facts that follow (docs/design.md, "The
frame schedule"). Pure arithmetic on frame numbers: no torch, no VapourSynth.

A stage follows one schedule:
- ``Timed``: every output frame at its exact time, ``ratio`` times as many frames as the source. Output m
  lies at source position m / ratio; a position on a source frame passes it through, any other is made
  from the four source frames around it. 2x is ``Timed(2)``: output 2i is source i, output 2i + 1 comes from
  (i - 1, i, i + 1, i + 2) clamped, the last output repeats the last source frame.
- ``Nearest``: a retiming that makes nothing: each output timestamp shows the nearest frame of its input
  (the last stage for a target rate with weights that interpolate halfway only).
- ``Deduped``: ``Timed`` over the clip's unique pictures (``dedup``): a frame that repeats the one before
  it is no sample of the motion, so outputs between two unique frames a and b are made at their exact
  place between them, (position - a) / (b - a), from the unique frames around (filter/repeats.py says
  which frames repeat). A picture held for more than ``MAX_RUN`` frames (a still, a paused screen), or
  to the clip's end, is kept as it is, each of its frames a sample.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import Protocol


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

    def cut_weight(self, m: int) -> float:
        """Where output m lies between the two source frames of a cut between its middle frames (0: at the
        earlier): the weight of the later frame in a blend across the cut."""
        return self.time(m)

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


def dedup_reach(max_run: int) -> int:
    """Source frames either side of an output's whose repeat decisions its plan reads: runs of up to
    max_run (its own, the one before and the one after) and its neighbours' (for the scene marks)."""
    return 2 * max_run + 4


class Repeats(Protocol):
    """What ``Deduped`` asks of the repeat measurements (filter/repeats.RepeatLog)."""

    def is_repeat(self, j: int) -> bool: ...


@dataclass(frozen=True)
class Deduped:
    """``Timed`` with every run of repeated frames replaced by motion (see the module's docstring).

    Frame count, rate and durations are ``timed``'s: only which frames make an output, and where between
    them it lies, change. A plan reads the repeat decisions of the frames within ``REACH`` of its outputs'
    source frames; ``probe`` lists them, so that they are measured before ``plan`` runs.
    """

    timed: Timed
    repeats: Repeats
    max_run: int

    @property
    def num_frames(self) -> int:
        return self.timed.num_frames

    @property
    def num_source(self) -> int:
        return self.timed.num_source

    def output_rate(self, source_rate: Fraction | None) -> tuple[int, int]:
        return self.timed.output_rate(source_rate)

    @property
    def duration_divisor(self) -> int:
        return self.timed.duration_divisor

    @property
    def clears_next(self) -> int:
        return self.timed.clears_next

    def frames_read(self, m: int) -> tuple[int, int]:
        """The first and last source frame whose decision (does it repeat the one before?) output m's plan,
        time and scene marks read."""
        lo = self.timed.position(max(m - 1, 0))[0]
        hi = self.timed.position(min(m + 1, self.num_frames - 1))[0]
        reach = dedup_reach(self.max_run)
        return lo - reach, hi + reach

    def run(self, j: int) -> tuple[int, int, bool]:
        """The run of frames showing frame j's picture: (first, first after it, whether it is held: longer
        than max_run or reaching the clip's end). Looks no further than max_run + 1 frames each way."""
        a = j
        while a > 0 and j - a <= self.max_run and self.repeats.is_repeat(a):
            a -= 1
        b = j + 1
        while b < self.num_source and b - j <= self.max_run + 1 and self.repeats.is_repeat(b):
            b += 1
        return a, b, b - a > self.max_run or b >= self.num_source

    def key_at_or_before(self, j: int) -> int:
        """The sample frame that shows frame j's picture at its own time: j itself in a held run, else the
        run's first frame."""
        a, _, held = self.run(j)
        return j if held else a

    def key_after(self, k: int) -> int | None:
        """The next sample after sample k (None at the clip's end)."""
        _, b, held = self.run(k)
        after = k + 1 if held else b
        return after if after < self.num_source else None

    def keys(self, m: int) -> tuple[tuple[int, ...], Fraction]:
        """Output m's plan and its place between the middle samples: ((k,), 0) to pass sample k through,
        else the four samples around it and t in (0, 1)."""
        i, t = self.timed.position(m)
        k1 = self.key_at_or_before(i)
        if k1 == i and t == 0:
            return (i,), Fraction(0)
        k2 = self.key_after(k1)
        if k2 is None:               # only when i is the last frame, which a held run ends: passed above
            return (k1,), Fraction(0)
        k0 = self.key_at_or_before(k1 - 1) if k1 > 0 else k1
        k3 = self.key_after(k2)
        return (k0, k1, k2, k2 if k3 is None else k3), (i + t - k1) / (k2 - k1)

    def plan(self, m: int) -> tuple[int, ...]:
        """Like ``Timed.plan``; a made frame's plan has a fifth frame, the source frame at its time, whose
        props (durations, metadata) it takes, as it would without dedup."""
        frames, _ = self.keys(m)
        return frames if len(frames) == 1 else (*frames, self.timed.position(m)[0])

    def time(self, m: int) -> float:
        return float(self.keys(m)[1])

    def cut_weight(self, m: int) -> float:
        """Like ``Timed.cut_weight`` on the source's clock: a cut between samples k1 and k2 lies between k2
        and the frame before it (a new picture follows a cut), so outputs within the run before (its picture
        held until the cut) weigh 0, and only those after the run's last frame blend."""
        i, t = self.timed.position(m)
        return float(t) if i + 1 < self.num_source and not self.repeats.is_repeat(i + 1) else 0.0

    def repeat_mark(self, m: int) -> int:
        """ConvLSTMRepeat for output m: 0 where its source frame is a new picture, 1 where it repeats the one
        before and was replaced by motion, 2 where it repeats it within a hold (kept as it is)."""
        i, _ = self.timed.position(m)
        if i == 0 or not self.repeats.is_repeat(i):
            return 0
        return 2 if self.run(i)[2] else 1

    def first_since_source(self, m: int) -> bool:
        """Whether output m is the first at or after its sample's time (see ``Timed``)."""
        return m == 0 or self._sample(m - 1) < self._sample(m)

    def last_before_next_source(self, m: int) -> bool:
        return m + 1 >= self.num_frames or self._sample(m + 1) > self._sample(m)

    def _sample(self, m: int) -> int:
        """The sample at or before output m's time."""
        frames, _ = self.keys(m)
        return frames[0] if len(frames) == 1 else frames[1]
