"""Which source frames make each output frame: the 2x contract (docs/design.md), retiming to the nearest
frame, and exact timestamps (a source frame and the time position t after it) for models that take t."""
from __future__ import annotations

from fractions import Fraction
from math import floor


def source_window(n: int, num_source: int) -> tuple[int, ...]:
    """Output 2i is source i; output 2i+1 comes from (i-1, i, i+1, i+2) clamped; the last repeats the last.

    A 1-tuple means "pass the source frame through"; a 4-tuple is the net's input window.
    """
    i = n // 2
    if n % 2 == 0 or i >= num_source - 1:
        return (min(i, num_source - 1),)
    return clamped_window(i, num_source)


def doubled_rate(num: int, den: int) -> tuple[int, int]:
    """Twice the frame rate, reduced; 0/0 (variable rate) stays 0/0."""
    if num <= 0 or den <= 0:
        return 0, 0
    r = Fraction(num, den) * 2
    return r.numerator, r.denominator


def doublings_for_rate(source: Fraction, target: Fraction) -> int:
    """The smallest k >= 0 with source * 2**k >= target: the coarsest upsampling fine enough."""
    k = 0
    while source * 2 ** k < target:
        k += 1
    return k


def retimed_count(num_source: int, source: Fraction, target: Fraction) -> int:
    """Output frames that fit in the source's duration at the target rate (at least 1)."""
    return max(1, floor(num_source * target / source))


def retimed_index(m: int, upsampled: Fraction, target: Fraction, num_upsampled: int) -> int:
    """Nearest frame of the upsampled clip to output timestamp m / target (ties go to the later frame).

    The timing error is at most half a frame period of the upsampled clip: 1 / (2 * upsampled).
    """
    return min(num_upsampled - 1, floor(m * upsampled / target + Fraction(1, 2)))


def timed_position(m: int, ratio: Fraction, num_source: int) -> tuple[int, Fraction]:
    """Output m of a clip ``ratio`` times as fast, on the source's clock: (i, t), the source frame i at or
    before its timestamp and the fraction t in [0, 1) of the way to frame i + 1 (t = 0: frame i itself).
    Past the last source frame it is the last frame."""
    position = Fraction(m) / ratio
    i = floor(position)
    if i >= num_source - 1:
        return num_source - 1, Fraction(0)
    return i, position - i


def clamped_window(i: int, num_source: int) -> tuple[int, int, int, int]:
    """The net's input around the gap between source frames i and i + 1, indices clamped to the clip."""
    return tuple(min(max(j, 0), num_source - 1) for j in (i - 1, i, i + 1, i + 2))
