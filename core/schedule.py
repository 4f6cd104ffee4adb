"""Which source frames make each output frame (the 2x contract of DESIGN.md)."""
from __future__ import annotations


def source_window(n: int, num_source: int) -> tuple[int, ...]:
    """Output 2i is source i; output 2i+1 comes from (i-1, i, i+1, i+2) clamped; the last repeats the last.

    A 1-tuple means "pass the source frame through"; a 4-tuple is the net's input window.
    """
    i = n // 2
    if n % 2 == 0 or i >= num_source - 1:
        return (min(i, num_source - 1),)
    return tuple(min(max(j, 0), num_source - 1) for j in (i - 1, i, i + 1, i + 2))


def doubled_rate(num: int, den: int) -> tuple[int, int]:
    """Twice the frame rate, reduced; 0/0 (variable rate) stays 0/0."""
    if num <= 0 or den <= 0:
        return 0, 0
    num *= 2
    from math import gcd
    g = gcd(num, den)
    return num // g, den // g
