"""Window means over the last two dimensions: the block averages of the motion search, its confidence,
the trust map and the still rules, dozens per made frame.

Running sums of shifted slices, a row's then a column's (the cost grows with the window's side, not its
area). avg_pool2d, which did this before, took 4-8x as long on this project's CPU (2 threads, 9 planes of
640x360 over 5 px: 17.8 ms against 2.1 ms), for the same means to float rounding (1e-7 of a mean)."""
from __future__ import annotations

import threading

import torch
import torch.nn.functional as F

_SCALES: dict[tuple, torch.Tensor] = {}
MAX_CPU_SCALES = 64   # kept in host memory (the frame-edge search's bands come in many sizes); none dropped on a GPU
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
    made once per size, window, device and dtype."""
    key = (h, w, side, like.device, like.dtype)
    found = _SCALES.get(key)
    if found is None:
        with _LOCK, torch.inference_mode(False):
            r = side // 2
            def counts(n: int) -> torch.Tensor:
                at = torch.arange(n, device=like.device)
                return ((at + r).clamp_max(n - 1) - (at - r).clamp_min(0) + 1).to(like.dtype)
            found = 1 / (counts(h)[:, None] * counts(w)[None])
            if found.is_cuda:     # finished before another stream reads it (filter/streams.py)
                torch.cuda.current_stream(found.device).synchronize()
            elif len(_SCALES) >= MAX_CPU_SCALES:
                for old in [k for k, v in _SCALES.items() if not v.is_cuda]:
                    del _SCALES[old]
            _SCALES[key] = found
    return found


def block_mean(x: torch.Tensor, side: int) -> torch.Tensor:
    """Mean over the side x side window around each pixel, of the pixels inside the frame (fewer at the
    edges), each channel apart: what avg_pool2d gives with count_include_pad=False."""
    sums = _sum_along(_sum_along(x, side, -1), side, -2)
    return sums.mul_(_inverse_counts(*x.shape[-2:], side, x))


def box_mean(x: torch.Tensor, side: int) -> torch.Tensor:
    """Mean over the side x side window around each pixel with the frame's edges replicated (B, C, H, W)."""
    r = side // 2
    padded = F.pad(x, (r, r, r, r), mode="replicate")
    h, w = x.shape[-2:]
    sums = _sum_along(_sum_along(padded, side, -1), side, -2)
    return sums[..., r:r + h, r:r + w].mul_(1 / (side * side))
