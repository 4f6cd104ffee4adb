"""Window means over the last two dimensions: the block averages of the motion search, its confidence,
the trust map and the still rules, dozens per made frame; and window maxima (``window_max``) for the
safety net's rules.

On the CPU, running sums of shifted slices, a row's then a column's (the cost grows with the window's side,
not its area): avg_pool2d took 4-8x as long on this project's CPU (2 threads, 9 planes of 640x360 over 5 px:
17.8 ms against 2.1 ms), for the same means to float rounding (1e-7 of a mean). On a GPU avg_pool2d stays,
a row's then a column's: there each slice added is a kernel launch and a pass over memory (the search's
counted operations rose from 2293 to 2893 a pass with the slices), and it has not been measured there.
Since 2026-12-07 the CPU runs ``block_mean`` as a kernel (kernels.c), one pass each way: the slices stay
its reference. On the full search's 1089 planes of 80x45 the slices took 22-27 ms against 3.9 (a 9 px
window). ``box_mean`` (edges replicated) is a kernel too, adding in the slices' order: the same bits (the
safety net's six pair planes at 640x384: 15.0 -> 2.6 ms on one thread)."""
from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

from . import kernels

_SCALES: dict[tuple, torch.Tensor] = {}
MAX_SCALES = 64   # kept (the frame-edge search's bands come in many sizes): the CPU's only, made in microseconds
_LOCK = threading.Lock()


def _sum_along(x: torch.Tensor, side: int, dim: int) -> torch.Tensor:
    """Sum over the ``side`` entries centred on each along ``dim`` (-1 or -2), zeros beyond the ends."""
    out = x.clone()
    n = x.shape[dim]
    for d in range(1, min(side // 2, n - 1) + 1):
        out.narrow(dim, d, n - d).add_(x.narrow(dim, 0, n - d))
        out.narrow(dim, 0, n - d).add_(x.narrow(dim, d, n - d))
    return out


def _inverse_counts(h: int, w: int, side: int, like: torch.Tensor) -> torch.Tensor:
    """(h, w): 1 over how many pixels of the frame the window around each holds (fewer at the edges),
    made once per size, window and dtype (on the CPU)."""
    key = (h, w, side, like.dtype)
    found = _SCALES.get(key)
    if found is None:
        with _LOCK, torch.inference_mode(False):
            r = side // 2
            def counts(n: int) -> torch.Tensor:
                at = torch.arange(n, device=like.device)
                return ((at + r).clamp_max(n - 1) - (at - r).clamp_min(0) + 1).to(like.dtype)
            found = 1 / (counts(h)[:, None] * counts(w)[None])
            if len(_SCALES) >= MAX_SCALES:
                _SCALES.clear()
            _SCALES[key] = found
    return found


def block_mean(x: torch.Tensor, side: int) -> torch.Tensor:
    """Mean over the side x side window around each pixel, of the pixels inside the frame (fewer at the
    edges), each channel apart: what avg_pool2d gives with count_include_pad=False."""
    if x.is_cuda:
        rows = F.avg_pool2d(x, (1, side), stride=1, padding=(0, side // 2), count_include_pad=False)
        return F.avg_pool2d(rows, (side, 1), stride=1, padding=(side // 2, 0), count_include_pad=False)
    fused = kernels.block_mean(x, side)      # the CPU's kernel (kernels.c): one pass each way
    if fused is not None:
        return fused
    sums = _sum_along(_sum_along(x, side, -1), side, -2)
    return sums.mul_(_inverse_counts(*x.shape[-2:], side, x))


def box_mean(x: torch.Tensor, side: int) -> torch.Tensor:
    """Mean over the side x side window around each pixel with the frame's edges replicated (B, C, H, W)."""
    r = side // 2
    if x.is_cuda:
        x = F.avg_pool2d(F.pad(x, (r, r, 0, 0), mode="replicate"), (1, side), stride=1)
        return F.avg_pool2d(F.pad(x, (0, 0, r, r), mode="replicate"), (side, 1), stride=1)
    fused = kernels.box_mean(x, side)       # the CPU's kernel: the same sums, one pass each way
    if fused is not None:
        return fused
    padded = F.pad(x, (r, r, r, r), mode="replicate")
    h, w = x.shape[-2:]
    sums = _sum_along(_sum_along(padded, side, -1), side, -2)
    return sums[..., r:r + h, r:r + w].mul_(1 / (side * side))


def window_max(x: torch.Tensor, side: int) -> torch.Tensor:
    """The largest value in the ``side`` x ``side`` square (odd) centred on each pixel, what lies beyond the
    edges left out: F.max_pool2d(x, side, stride=1, padding=side // 2)'s values, a row's then a column's,
    each by doubling (the maxima of 1, 2, 4, 8 entries, then two overlapping ones of those): 8 passes for
    15 px. max_pool2d compares the whole square at every pixel: a 15 px opening of a 640x360 map took
    0.105 s with it against 2.3 ms (one thread, this project's CPU)."""
    pad = side // 2
    for dim, spec in ((-1, (pad, pad, 0, 0)), (-2, (0, 0, pad, pad))):
        m = F.pad(x, spec, value=float("-inf"))
        span = 1
        while 2 * span <= side:
            n = m.shape[dim] - span
            m = torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, span, n))
            span *= 2
        if span < side:
            n = m.shape[dim] - (side - span)
            m = torch.maximum(m.narrow(dim, 0, n), m.narrow(dim, side - span, n))
        x = m
    return x
