"""Motion between the two middle frames by block matching on the compute device (no training needed).

Not in the paper, whose net sees the frames as they are and so can only blur what moves further than it
learned. Here the motion of every pixel of the *target* frame is searched directly (bilateral matching):
the trajectory through pixel p at time t, moving v from I2 to I3, passes I2 at p - t v and I3 at
p + (1 - t) v, and the right v makes those two samples agree over a block around p. Searching at the target
time leaves no holes (nothing is splatted forward). The samples are the luma and the two colour
differences (``_planes``): a thing may differ from its background in colour alone. Coarse to fine: a full
search on the first pyramid level at most 48 px on its short side, reaching 64 px of motion at least, over
a window weighted toward its centre by a wider one where that spans little of the frame
(``_coarse_block``); at every finer level a pixel whose upsampled vector clearly fails takes a neighbour's
(1 or 2 px away), then every vector is refined within +-1 px in half px; the finest level gets a
sub-pixel fit. Motion beyond the full search's reach (a fast pan, up to half the frame along each axis)
comes from the camera: the strongest translations between the two frames by phase correlation on the coarse
level are tried around every pixel too, and taken where the full search clearly failed; such vectors are
then refined with the prior for small motion centred on the camera's motion (``_camera``). Along the
frame's edges, where a trajectory leaves the frame in I2 or I3 (a pan's leading and trailing strips), I2
and I3 cannot judge a vector: given I1 and I4 (``outer``), the side that sees the place does (``_edges``),
and ``warp_to`` lets the frame that sees it stand in for the one that does not. Where the vectors are not
borne out by the frames the search did not use (noise, flicker, a mistaken pattern), ``confidence`` says so
and the model keeps the plain frames there. What the bilateral field lost altogether (a small thing whose
look changes as it moves fast over a flat background) ``rescue`` searches for from I2 and carries again.
Every step is plain tensor arithmetic, so CPU and CUDA run the
same code; on the CPU the candidates' mismatch, the block means and each pixel's cheapest candidate run as
kernels that compute the same to float rounding (``kernels``), with these expressions as their reference.

The target time t is a float, or in training one per sample as a (B, 1, 1, 1) tensor (``Time``).

``warp_to`` then brings all four frames to time t along those trajectories (constant velocity), which is
what the paper's ConvLSTM sees in the motion-compensated model.
"""
from __future__ import annotations

import math
import threading
from typing import NamedTuple

import torch
import torch.nn.functional as F

from . import kernels
from .box import block_mean, box_mean, window_max

LUMA = (0.299, 0.587, 0.114)   # BT.601 luma weights of R, G, B; the one copy, imported wherever luma is taken
# what the search matches beside luma: BT.601 Cb = 0.564 (B - Y), Cr = 0.713 (R - Y), from LUMA (3 digits: a weight)
COLOUR_DIFFERENCES = (round(0.5 / (1 - LUMA[2]), 3), round(0.5 / (1 - LUMA[0]), 3))
COARSE_SIDE = 48       # the full search runs on the first pyramid level at most this many px on its short side
MAX_MOTION = 64        # px between I2 and I3 the full search reaches at least (up to half the frame), any size
COARSE_RADIUS = 4      # and at least +-4 px on the coarse level (further on large frames)
HALF_PX_SCALE = 8      # on a coarse level of at least this many frame px to its px, in half px (``_moves``)
BLOCK = 5              # matching window (px) at every finer level
COARSE_BLOCK = 9       # at the coarse level, the mean over it is averaged with BLOCK's, where it spans
COARSE_SPAN = 72       # at most this many px of the frame
PROPAGATION = (1, 2)  # px (of each finer level) from which a neighbour's vector is tried
PROPAGATION_GAIN = 0.5   # and taken only where it at most halves the mismatch
SMALL_MOTION = 0.03    # a match's cost grows 3 % per px of motion (full-frame px): noise keeps small motion
MOTION_FLOOR = 0.003   # and by this share of the no-motion mismatch per px: smooth areas keep small motion
FLAT_MISMATCH = 1e-3   # a no-motion mismatch counted at least this (mean |difference|, planes summed): flat too
NO_EVIDENCE = 2 / 255  # a confidence block whose every mismatch is below this (luma, 2 levels) says nothing
CONFIDENCE_BLOCK = 9   # window comparing the match with no motion
CONFIDENT_RATIO = 0.5  # a match at half the no-motion mismatch (or better) is trusted fully
SEARCHED_RATIOS = (0.25, 0.5)   # the searched pair: fully trusted at a quarter, not at all from a half
CAMERA_PEAKS = 3       # camera motions (phase-correlation peaks) tried beyond the full search's reach
CAMERA_BEYOND = 1      # px of the coarse level beyond which a camera motion is tried (and is the prior's centre)
CAMERA_STEP = 2        # each with every vector within +-2 px of it on the coarse level
CAMERA_SHARE = 1 / 3   # a peak at most this share of the strongest one's height is not a motion
CAMERA_HEIGHT = 0.2    # nor one this low (phase correlation: 1 for a whole frame moving as one)
NEAR_CAMERA_HEIGHT = 0.4   # within the full search's reach, only a clear camera motion (dice on black: 0.2-0.3)
CAMERA_GAIN = PROPAGATION_GAIN   # and taken only where it at most halves the full search's cost
RIVAL_SHARE = 1 / 3   # a rival (``Rivals``) that halves the cost on a third of a finer level: tried everywhere

Time = float | torch.Tensor      # one t for the batch, or (B, 1, 1, 1): one per sample
CANDIDATE_PIXELS = 1 << 25      # candidate vectors x pixels whose costs are found in one pass (memory bound)

_CONSTANTS: dict[tuple, torch.Tensor] = {}
_GRIDS: dict[tuple, torch.Tensor] = {}
MAX_CPU_GRIDS = 64   # pixel grids kept in host memory (one per pyramid level and frame size)
_CACHE_LOCK = threading.RLock()   # re-entered: a grid is made from a constant


def _cached(store: dict, key: tuple, make) -> torch.Tensor:
    """``make()`` once per key, outside inference mode (made under the engine's, autograd could not use
    it). On CUDA it is finished before any stream may read it: the thread that makes it works on its own
    stream, and every other thread reads it on theirs (filter/streams.py). Nothing on a GPU is ever
    dropped: its memory could be handed out again while another stream still reads it. Made under a lock:
    a second copy made by another thread could be dropped while in use."""
    found = store.get(key)
    if found is None:
        with _CACHE_LOCK:
            found = store.get(key)
            if found is None:
                with torch.inference_mode(False):
                    found = make()
                if found.is_cuda:
                    torch.cuda.current_stream(found.device).synchronize()
                elif store is _GRIDS and len(store) >= MAX_CPU_GRIDS:
                    for old in [k for k, v in store.items() if not v.is_cuda]:
                        del store[old]
                store[key] = found
    return found


def _constant(values: tuple, like: torch.Tensor) -> torch.Tensor:
    """A small constant on ``like``'s device and dtype, copied there once per process: a copy from host
    memory in every pass would make the host wait for the device each time (filter/streams.py)."""
    return _cached(_CONSTANTS, (values, like.device, like.dtype),
                   lambda: torch.tensor(values, device=like.device, dtype=like.dtype))


def _luma(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> (B, 1, H, W)."""
    return weighted_sum(frames, 1, _constant(LUMA, frames)).unsqueeze(1)


def weighted_sum(x: torch.Tensor, dim: int, weights: torch.Tensor) -> torch.Tensor:
    """(x * weights along ``dim``).sum(dim), ``dim`` removed. On the CPU in float32 the products added one by
    one, as that sum adds them, without the products of all the planes written out first (on four frames
    at 640x384, 12 MB taken and faulted in each time): the same bits, but where every product is -0.0 (then
    -0.0, not torch's +0.0: a sign that what follows cannot see, as it adds to luma or takes magnitudes of
    its differences). Elsewhere (a GPU: a launch per step; bf16 and fp16, which torch's sum adds in float32)
    the torch expression."""
    if x.device.type != "cpu" or x.dtype != torch.float32:
        shape = [1] * x.dim()
        shape[dim] = -1
        return (x * weights.view(shape)).sum(dim)
    parts = x.unbind(dim)
    total = parts[0] * weights[0]
    for part, weight in zip(parts[1:], weights[1:]):
        total.add_(part * weight)
    return total


def _planes(frames: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB -> (B, 3, H, W): what the search matches, the luma and the BT.601 colour
    differences Cb and Cr (COLOUR_DIFFERENCES), each counting as much. On luma alone, a green icon on
    a grey screen of the same brightness is invisible, and a match of its halo with any grey is as good
    as the true one (wannaworktogether: 24.4 dB against mvtools' 30.6; mvtools matches chroma too)."""
    y = _luma(frames)
    cb, cr = COLOUR_DIFFERENCES        # plain numbers: a list of channels would be an index copied to a GPU
    return torch.cat([y, (frames[:, 2:3] - y) * cb, (frames[:, 0:1] - y) * cr], 1)


def _unit_grid(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(H, W, 2): each pixel's own position (x, y) in grid_sample's units (-1 to 1 across the frame),
    made once per size and device."""
    def make() -> torch.Tensor:
        ys = torch.arange(h, device=like.device, dtype=like.dtype)
        xs = torch.arange(w, device=like.device, dtype=like.dtype)
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")
        return torch.stack([gx, gy], -1) * _units(h, w, like, 1.0) - 1
    return _cached(_GRIDS, (h, w, like.device, like.dtype), make)


def _units(h: int, w: int, like: torch.Tensor, along: float | torch.Tensor) -> torch.Tensor:
    """``along`` px in grid_sample's units, x then y: (2,) for a float, else (B, K, 1, 1, 2)."""
    per_px = 2 / max(w - 1, 1), 2 / max(h - 1, 1)
    if not torch.is_tensor(along):
        return _constant((along * per_px[0], along * per_px[1]), like)
    return along.reshape(*along.shape[:2], 1, 1, 1) * _constant(per_px, like)


def _per_sample(t: Time) -> Time:
    """t as (B, 1): one per sample and one for all K candidate fields, or the float it is."""
    return t.reshape(-1, 1) if torch.is_tensor(t) else t


def sample_each(image: torch.Tensor, v: torch.Tensor, along: float | torch.Tensor = 1.0,
                mode: str = "bilinear") -> torch.Tensor:
    """image (B, C, H, W) read at p + along * v(p) for each of K fields v (B, K, 2, H, W) in px (x then y),
    edges clamped: (B, K, C, H, W). ``along``: a float, or (B or 1, K or 1) multiples.

    One grid_sample reads all K (their grids stacked along the rows), and each grid is one fused
    multiply-add from v: on a GPU every call is a kernel launch with its host work and every pass over
    the pixels costs memory bandwidth, and the motion search asks for hundreds."""
    if v.shape[0] != image.shape[0]:
        v = v.expand(image.shape[0], *v.shape[1:])     # one set of fields for every image
    if torch.is_tensor(along) and along.dim() < 2:
        along = along.reshape(-1, 1)                  # one multiple per image
    b, k, _, h, w = v.shape
    if not v.is_floating_point():
        v = v.to(image.dtype)      # whole px given as integers
    grid = _grid(_unit_grid(h, w, v), v, _units(h, w, v, along))
    read = F.grid_sample(image, grid.reshape(b, k * h, w, 2), mode=mode, padding_mode="border", align_corners=True)
    return read.view(b, image.shape[1], k, h, w).transpose(1, 2)


def _grid(unit: torch.Tensor, v: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """(B, K, H, W, 2): unit + v * units, grid_sample's grid from the fields v (B, K, 2, H, W). On the CPU x
    and y each one multiply-add into its half of the grid: read through a permutation of v, the same sums
    took half as long again (5.1 against 3.5 ms for 8 fields at 640x360 on one thread; the same bits). On a
    GPU one kernel (a launch each), and where a gradient is wanted (``out=`` keeps none), one operation."""
    if v.is_cuda or (torch.is_grad_enabled() and any(x.requires_grad for x in (unit, v, units))):
        return torch.addcmul(unit, v.permute(0, 1, 3, 4, 2), units)
    grid = torch.empty(*v.shape[:2], *v.shape[3:], 2, dtype=torch.result_type(unit, v), device=v.device)
    for axis in range(2):
        torch.addcmul(unit[..., axis], v[:, :, axis], units[..., axis], out=grid[..., axis])
    return grid


def sample(image: torch.Tensor, offset: torch.Tensor, mode: str = "bilinear") -> torch.Tensor:
    """image (B, C, H, W) read at p + offset(p) (offset (B, 2, H, W) in px, x then y), edges clamped."""
    return sample_each(image, offset[:, None], 1.0, mode)[:, 0]


Block = int | tuple[int, ...]    # a square window's side, or several sides whose means are averaged


def _block_mean(x: torch.Tensor, block: Block = BLOCK) -> torch.Tensor:
    """Mean over the block around each pixel (fewer at the edges), each channel apart; for several
    sides, the average of their means (a window weighted toward its centre)."""
    if isinstance(block, tuple):
        total = _block_mean(x, block[0])
        for side in block[1:]:
            total.add_(_block_mean(x, side))
        return total.div_(len(block))
    return block_mean(x, block)


def _mismatch(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, t: Time, block: Block = BLOCK) -> torch.Tensor:
    """Block-averaged |a(p - t v) - b(p + (1 - t) v)|, summed over the planes (``_planes``), for K
    candidate fields v (B, K, 2, h, w): (B, K, h, w). On the CPU the reads and their difference are one
    fused kernel (``kernels``); this expression is its reference, and what a GPU runs."""
    summed = kernels.bilinear_mismatch(a, b, v, t)
    if summed is None:
        t = _per_sample(t)
        summed = (sample_each(a, v, -t) - sample_each(b, v, 1 - t)).abs_().sum(2)
    return _block_mean(summed, block)


def _floor(a: torch.Tensor, b: torch.Tensor, t: Time = 0.5, origin: torch.Tensor | None = None,
           block: Block = BLOCK) -> torch.Tensor:
    """The cost per px of motion that ``_cost`` adds, (B, 1, h, w): MOTION_FLOOR of the block's mismatch
    with no motion. A share, not an amount of luma, so a dark or low-contrast picture is searched as a
    bright one is (an absolute floor would pull motion in low contrast to zero). Where ``origin``
    (B, 2, h, w) is not zero (the camera's motion, ``_camera``), "no motion" is moving with it: far from
    where it was, even a smooth picture differs a lot, and a floor that large would pull a fast pan's
    vectors toward zero at each finer level."""
    still = _block_mean((a - b).abs().sum(1, keepdim=True), block)   # ``_mismatch`` at v = 0: t plays no part
    floor = MOTION_FLOOR * still.clamp_min(FLAT_MISMATCH)
    if origin is None:
        return floor
    moved = MOTION_FLOOR * _mismatch(a, b, origin[:, None], t, block).clamp_min(FLAT_MISMATCH)
    return torch.where((origin != 0).any(1, keepdim=True), moved, floor)


def _cost(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, t: Time, scale: int,
          floor: torch.Tensor | None, origin: torch.Tensor | None = None, block: Block = BLOCK) -> torch.Tensor:
    """The cost (B, K, h, w) of K candidate fields v (B, K, 2, h, w), found together, at most
    CANDIDATE_PIXELS at a time.

    The mismatch times the prior for small motion, 1 + SMALL_MOTION per px (of the full frame: v is in
    px of a level ``scale`` times smaller): a good match costs nearly nothing however far it moved, while
    among the equally poor matches of noise or flicker the smallest motion wins. Plus ``floor`` per px
    (``_floor``): where the picture is smooth or flat, many vectors match almost perfectly, and a product
    of nearly nothing decides nothing: a flat frame's ties would go to whichever candidate came first, and a
    far vector that fits a smooth gradient would beat the true one beside an edge. The floor decides between
    whole-px candidates; the sub-pixel fit leaves it out (None), as its slope would pull
    every fraction toward zero. ``origin`` (B, K or 1, 2, h or 1, w or 1), where given, is what counts as
    no motion (the camera's motion, ``_camera``) instead of zero. ``block``: the matching window (``Block``)."""
    n, k, _, h, w = v.shape
    step = max(1, CANDIDATE_PIXELS // (n * h * w))
    if k > step:
        def part(i: int) -> torch.Tensor | None:
            return origin[:, i:i + step] if origin is not None and origin.shape[1] == k else origin
        return torch.cat([_cost(a, b, v[:, i:i + step], t, scale, floor, part(i), block)
                          for i in range(0, k, step)], 1)
    moving = v[..., :1, :1] if v.stride(-1) == 0 and v.stride(-2) == 0 else v   # one vector a field: once
    apart = moving if origin is None else moving - origin
    motion = apart[:, :, 0].abs().add_(apart[:, :, 1].abs())   # px of this level; abs().sum(2) to the bit, faster
    cost = _mismatch(a, b, v, t, block).mul_(torch.add(1, motion, alpha=SMALL_MOTION * scale))
    return cost if floor is None else cost.addcmul_(floor, motion, value=scale)


def _cheapest(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each pixel's smallest cost over the K candidates of cost (B, K, h, w) and the first candidate that
    has it, (B, 1, h, w) each: min, not argmin (argmin across the candidates took 40 ms at 640x360 against
    3.4: torch 2.14, 2 threads), and on the CPU a kernel (``kernels``; 25 candidates at 640x360: 12 ms in
    torch)."""
    found = kernels.min_over_candidates(cost)
    return found if found is not None else cost.min(1, keepdim=True)


def _coarse_block(scale: int) -> Block:
    """The coarse level's matching window (px of that level, ``scale`` times smaller than the frame):
    BLOCK weighted toward its centre by a wider one, COARSE_BLOCK or as wide as COARSE_SPAN px of the
    frame if that is narrower; BLOCK alone where that is no wider. The coarse level decides which of
    several alike places a thing moved to, and a stream of look-alike icons needs a window that sees more
    than one of them (wannaworktogether, 480x352: 26.7 dB with 5 coarse px alone, 29.4 with 5 and 9).
    The wide window alone blurs what moves apart (demo: -0.4 dB), and one wider than the span crosses
    motion boundaries: at 1280x720 (16 frame px to a coarse px) a rabbit's flank took the grass's motion
    (bigbuckbunny: up to -1.7 dB a frame)."""
    wide = min(COARSE_BLOCK, 2 * (math.ceil(COARSE_SPAN / scale) // 2) + 1)
    return (BLOCK, wide) if wide > BLOCK else BLOCK


def _moves(radius: int, scale: int) -> tuple[tuple[float, float], ...]:
    """The full search's candidates: every whole px within ``radius`` of the coarse level, and on a level
    at least HALF_PX_SCALE frame px to its px every half px too, row by row. A coarse px of 8 frame px is
    too coarse a step: a stream of look-alike icons moving 13 px (1.6 coarse px) matched the icon behind
    at -24 px better than its own motion's whole-px neighbours, and nothing finer walks that back
    (wannaworktogether, 480x352: 29.4 -> 31.2 dB, mvtools 30.6)."""
    div = 2 if scale >= HALF_PX_SCALE else 1
    span = range(-radius * div, radius * div + 1)
    return tuple((dx / div, dy / div) for dy in span for dx in span)


def _full_search(a: torch.Tensor, b: torch.Tensor, t: Time, radius: int, scale: int,
                 floor: torch.Tensor, block: Block = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Exhaustive search over every candidate within radius (``_moves``), as many at a time as
    CANDIDATE_PIXELS allows, keeping the running best (ties go to the candidate searched first).
    Returns the vectors (n, 2, h, w) and their cost (n, 1, h, w)."""
    n, _, h, w = a.shape
    table = _constant(_moves(radius, scale), a)
    fused = kernels.offset_search(a, b, None, table, t, SMALL_MOTION * scale, floor, scale, None, block)
    if fused is not None:     # the CPU: the same choice in one pass (kernels.py)
        return fused
    per = max(1, CANDIDATE_PIXELS // (n * h * w))
    best_cost, best_v = None, None
    for first in range(0, len(table), per):
        part = table[first:first + per]                                              # (K, 2)
        v = part.view(1, -1, 2, 1, 1).expand(n, -1, -1, h, w)                        # (n, K, 2, h, w)
        cost, index = _cheapest(_cost(a, b, v, t, scale, floor, block=block))           # first of equals
        chosen = part[index[:, 0]].permute(0, 3, 1, 2)                               # (n, 2, h, w)
        if best_cost is None:
            best_cost, best_v = cost, chosen
        else:
            better = cost < best_cost
            best_cost, best_v = torch.where(better, cost, best_cost), torch.where(better, chosen, best_v)
    return best_v, best_cost


def _hann(h: int, w: int, like: torch.Tensor) -> torch.Tensor:
    """(H, W) Hann window, made once per size and device: the frame's edges fade out of the correlation."""
    def make() -> torch.Tensor:
        wy = torch.hann_window(h, periodic=False, device=like.device, dtype=like.dtype) if h > 1 else torch.ones(1, device=like.device, dtype=like.dtype)
        wx = torch.hann_window(w, periodic=False, device=like.device, dtype=like.dtype) if w > 1 else torch.ones(1, device=like.device, dtype=like.dtype)
        return wy[:, None] * wx[None]
    return _cached(_GRIDS, ("hann", h, w, like.device, like.dtype), make)


def _camera_peaks(a: torch.Tensor, b: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``count`` strongest translations (B, count, 2) (x then y, px of this level) that carry a to b,
    and their peaks' heights (B, count),
    by phase correlation: the peaks of the inverse transform of the whitened cross spectrum. The frames
    are windowed and zero-padded to twice their size, so any shift of less than the frame along each axis
    has one place and none wraps onto another. Peaks are local maxima (3x3), strongest first, each placed
    to a fraction of a px by a parabola through it and its neighbours in x and in y: a coarse level's
    whole px is 8 px of a 640x360 frame, and the camera's motion is the prior's centre at every finer
    level (``_camera``). No host sync: the peaks stay on the device. A whole frame moving as one gives a
    peak near 1; no motion at all, only low peaks (the thresholds on them: CAMERA_HEIGHT, CAMERA_SHARE)."""
    n, _, h, w = a.shape
    window = _hann(h, w, a)
    fa = torch.fft.rfft2((a - a.mean((-2, -1), keepdim=True)) * window, s=(2 * h, 2 * w))
    fb = torch.fft.rfft2((b - b.mean((-2, -1), keepdim=True)) * window, s=(2 * h, 2 * w))
    cross = fa.conj() * fb
    whitened = cross / cross.abs().clamp_min(1e-12)
    # the inverse transform of each window alone: a batch's rounds differently in the last bits from one
    # window's (torch 2.14 on an Intel CPU: a peak 1e-9 px apart), and a window's vectors must not depend on
    # its companions (docs/design.md, determinism)
    surface = torch.cat([torch.fft.irfft2(whitened[i:i + 1], s=(2 * h, 2 * w)) for i in range(n)])[:, 0]   # (B, 2h, 2w)
    wrapped = F.pad(surface[:, None], (1, 1, 1, 1), mode="circular")   # the surface is periodic
    peak = surface == F.max_pool2d(wrapped, 3, stride=1)[:, 0]
    score = torch.where(peak, surface, torch.full_like(surface, -math.inf)).flatten(1)
    height, index = score.topk(min(count, score.shape[1]), 1)                                 # (B, count)
    iy, ix = index // (2 * w), index % (2 * w)
    flat = wrapped[:, 0].flatten(1)                  # (B, (2h + 2)(2w + 2)): neighbours without wrapping
    row = 2 * w + 2

    def at(dx: int, dy: int) -> torch.Tensor:
        return flat.gather(1, (iy + 1 + dy) * row + ix + 1 + dx)
    centre = at(0, 0)
    fraction = []
    for lo, hi in ((at(-1, 0), at(1, 0)), (at(0, -1), at(0, 1))):
        curve = lo - 2 * centre + hi                 # < 0 at a peak
        fraction.append(torch.where(curve < 0, 0.5 * (lo - hi) / curve.clamp_max(-1e-12),
                                    torch.zeros_like(curve)).clamp(-0.5, 0.5))
    dx = torch.where(ix >= w, ix - 2 * w, ix).to(a.dtype) + fraction[0]
    dy = torch.where(iy >= h, iy - 2 * h, iy).to(a.dtype) + fraction[1]
    return torch.stack([dx, dy], -1), height


class Rivals(NamedTuple):
    """The camera motions no coarse pixel took (``_camera``), tried again at each finer level
    (``_propagate``): ``motions`` (B, P, 2) in px of the level, NaN where not one; ``where`` (B, 1, h, w):
    k + 1 where the k-th was the pixel's cheapest camera candidate, cheaper than the full search's vector
    yet not clearly (not taken), and more than a coarse px from it (0: none); ``widely`` (B, P): the k-th
    won on RIVAL_SHARE of a finer level, and is tried at every pixel from there on."""
    motions: torch.Tensor
    where: torch.Tensor
    widely: torch.Tensor


def _camera(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, best: torch.Tensor, t: Time, scale: int,
            floor: torch.Tensor, radius: int,
            block: Block = BLOCK
            ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, Rivals | None]:
    """Reach beyond the full search, and a prior that moves with the camera: v where a camera motion
    clearly matches better. Returns v, which camera motion each vector took (B, 1, h, w: 0 none, k the
    k-th), the camera motions (B, P, 2), NaN where no pixel took one, and the ``Rivals``; on the CPU, where
    it is known at no cost, None for the first two where no pixel took any, and for all three where no
    peak was a motion at all.

    The full search covers +-radius px of the coarse level; the camera may move further (a fast pan), and
    within it the prior for small motion pulls a pan's vectors short over smooth picture. Of the frames'
    CAMERA_PEAKS strongest translations (``_camera_peaks``), those beyond CAMERA_BEYOND px and within half
    the frame along each axis, at least CAMERA_HEIGHT high (NEAR_CAMERA_HEIGHT within the full search's
    reach: a dark render's tumbling dice, 0.2-0.3 high, lost up to 2.3 dB a frame to a prior centred on
    their motion) and CAMERA_SHARE of the strongest one's height,
    are tried at every pixel with each vector within +-CAMERA_STEP px of them. Their cost counts motion
    from the camera's (the prior for small motion then means: as the camera), and a pixel takes one only
    where it is at most CAMERA_GAIN of the full search's cost (``best``): where the full search matched
    well nothing changes, and a spurious peak must win clearly. Each rule guards against a loss seen
    without it (weak peaks placing part of a pan wrongly). The peaks within the square are tried since
    2026-12-06 (docs/results.md).

    The ``Rivals`` are the motions no pixel took, with where each was cheaper than the vector kept, yet not
    clearly, and more than a coarse px from it. Text scrolls this way: its lines repeat, and on the
    coarse level a scroll of one line looks like no motion, of a line and a bit like a small motion the
    other way; the camera's motion fits as well as those, so it cannot win clearly there, and dropped,
    nothing finer walked back (a page scrolled by its line pitch: 9 dB, the blend's figure, where the
    detail of its letters tells the two apart at once). They are tried again at each finer level
    (``_propagate``)."""
    n, _, h, w = a.shape
    camera, height = _camera_peaks(a[:, :1], b[:, :1], CAMERA_PEAKS)                  # luma: (n, P, 2), (n, P)
    peaks = torch.round(camera)
    reach = peaks.abs().amax(-1)
    least = torch.where(reach > radius, CAMERA_HEIGHT, NEAR_CAMERA_HEIGHT)
    far = ((reach > CAMERA_BEYOND) & (peaks[..., 0].abs() < w / 2) & (peaks[..., 1].abs() < h / 2)
           & (height > CAMERA_SHARE * height[:, :1]) & (height > least))              # (n, P)
    if not far.is_cuda and not far.any():     # nothing to try (asked on a GPU, it would wait for the GPU)
        return v, None, None, None
    box = _constant(tuple((dx, dy) for dy in range(-CAMERA_STEP, CAMERA_STEP + 1)
                          for dx in range(-CAMERA_STEP, CAMERA_STEP + 1)), a)           # (S, 2)
    fields = (peaks[:, :, None] + box).flatten(1, 2)                                   # (n, P*S, 2)
    origin = camera.repeat_interleave(len(box), 1)                                     # (n, P*S, 2)
    cost = _cost(a, b, fields[..., None, None].expand(-1, -1, -1, h, w), t, scale, floor, origin[..., None, None],
                 block)
    cost = cost.masked_fill(~far.repeat_interleave(len(box), 1)[..., None, None], math.inf)
    cost, index = _cheapest(cost)                                                      # first of equals
    chosen = torch.gather(fields, 1, index.flatten(1)[..., None].expand(-1, -1, 2)).view(n, h, w, 2)
    taken = cost < CAMERA_GAIN * best
    which = torch.div(index, len(box), rounding_mode="floor") + 1                     # (n, 1, h, w): 1..P
    fits = cost < best                      # a camera motion fits as well as the full search's vector
    apart = (chosen.permute(0, 3, 1, 2) - v).abs().amax(1, keepdim=True) > 1
    number = torch.arange(1, camera.shape[1] + 1, device=which.device)
    rivalry = torch.where(fits & apart & ~taken, which, torch.zeros_like(which))
    ident = torch.where(taken, which, torch.zeros_like(which))
    # a motion no pixel took is none: each window's vectors are what they are alone, whatever its batch
    used = (ident.flatten(1)[:, None] == number[:, None]).any(-1)                     # (n, P)
    nan = torch.full_like(camera, math.nan)
    rivals = Rivals(torch.where((far & ~used)[..., None], camera, nan), rivalry, torch.zeros_like(far))
    if not taken.is_cuda and not taken.any():
        return v, None, None, rivals
    camera = torch.where(used[..., None], camera, nan)                                 # NaN: not a motion
    return torch.where(taken, chosen.permute(0, 3, 1, 2), v), ident, camera, rivals


def _origin(camera: torch.Tensor, ident: torch.Tensor) -> torch.Tensor:
    """(B, 2, h, w): the camera motion each vector took (``_camera``), zero where it took none."""
    n, _, h, w = ident.shape
    table = torch.cat([torch.zeros_like(camera[:, :1]), camera], 1)                      # (B, 1 + P, 2)
    found = torch.gather(table, 1, ident.flatten(1)[..., None].expand(-1, -1, 2))       # (B, h*w, 2)
    return found.view(n, h, w, 2).permute(0, 3, 1, 2)


def _remeasure(v: torch.Tensor, ident: torch.Tensor, camera: torch.Tensor) -> torch.Tensor:
    """The camera motions (B, P, 2) as the vectors that took them now say: the median of each one's
    vectors (kept as it was where none took it). Phase correlation places a motion to a fraction of a
    coarse px, which is several px of the frame; the prior's centre is re-measured at every finer level, so
    that it is no further off than the level's own px."""
    out = []
    for k in range(camera.shape[1]):
        mine = torch.where(ident == k + 1, v, torch.full_like(v, math.nan)).flatten(2)    # (B, 2, h*w)
        median = mine.nanmedian(-1).values
        out.append(torch.where(torch.isnan(median), camera[:, k], median))
    return torch.stack(out, 1)


STEPS = tuple((dx / 2, dy / 2) for dy in range(-2, 3) for dx in range(-2, 3))     # +-1 px in half px


def _search(a: torch.Tensor, b: torch.Tensor, start: torch.Tensor, t: Time, scale: int,
            floor: torch.Tensor, origin: torch.Tensor | None = None) -> torch.Tensor:
    """Best v among start + every offset in STEPS, within +-1 px in half px, on every level (on the
    frame, the sub-px fit follows); motion counted from ``origin`` (B, 2, h, w). In whole px a level's
    vectors came out up to half a px of that level off (2 or 4 frame px), and the next level's +-1 px
    started from there: quick check (every fourth predicted frame of the 14 clips) 35.74 -> 35.87 dB with
    the levels between the coarse one and the frame, every clip gaining, cityCC0's city pan +0.70; 35.92
    with the frame's own level too (since 2026-12-07, when the CPU's kernels made its 25 candidates cost
    0.06 s a made frame more at 640x360, not 0.25: 12 of the 14 clips gain, up to +0.16, none loses more
    than 0.002). One joint search: whole px first and then half px around the best (tried at every
    level) gained less and lost elsewhere (demo +0.22 where the joint search gave +0.38,
    wannaworktogether -0.37)."""
    steps = _constant(STEPS, start)
    fused = kernels.offset_search(a, b, start, steps, t, SMALL_MOTION * scale, floor, scale, origin, BLOCK)
    if fused is not None:     # the CPU: the same choice in one pass (kernels.py)
        return fused[0]
    costs = _cost(a, b, start[:, None] + steps.view(1, -1, 2, 1, 1), t, scale, floor,
                  None if origin is None else origin[:, None])
    return start + steps[_cheapest(costs)[1][:, 0]].permute(0, 3, 1, 2)


def _neighbour(v: torch.Tensor, dx: int, dy: int) -> torch.Tensor:
    """v read at p + (dx, dy), edges replicated."""
    h, w = v.shape[-2:]
    padded = F.pad(v, (max(-dx, 0), max(dx, 0), max(-dy, 0), max(dy, 0)), mode="replicate")
    return padded[..., max(dy, 0):max(dy, 0) + h, max(dx, 0):max(dx, 0) + w]


def _whole_field(motion: torch.Tensor, h: int, w: int) -> tuple[torch.Tensor, torch.Tensor] | None:
    """One motion per window (B, 2), NaN where a window has none, as a field (B, 2, h, w) to try at every
    pixel (zero where absent) and which windows lack it (B,); None on the CPU where none has it."""
    absent = torch.isnan(motion).any(-1)
    if not absent.is_cuda and absent.all():
        return None
    return absent, torch.where(absent[:, None], torch.zeros_like(motion), motion)[:, :, None, None].expand(-1, -1, h, w)


def _propagate(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, t: Time, scale: int, floor: torch.Tensor,
               origin: torch.Tensor | None = None, ident: torch.Tensor | None = None,
               camera: torch.Tensor | None = None,
               rivals: Rivals | None = None
               ) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None, Rivals | None]:
    """A pixel takes a neighbour's vector (PROPAGATION px away, four directions) where that one at most
    halves the mismatch. Upsampled from a coarser level, vectors at a moving object's edge mix its motion
    with the background's, and +-1 px per level cannot walk back far: a fast object's corners would be
    bitten off. Taken wherever it matched merely better, a foreground vector would also leak into blurred
    background beside it (a ghost of the object): only a clear win is a failed vector's fix (MODEL_CARD.md).

    A vector travels with its ``origin`` and ``ident`` (what counts as no motion for it and which camera
    motion that is, ``_camera``; both None where no vector took one): returns all three. Where vectors
    took the camera's motions (``camera``, (B, P, 2), NaN where none did), every pixel also tries each
    itself, on the same terms: near the frame's edge, where one of the reads of a coarse level's block
    leaves the frame, the camera failed there, and the neighbours' vectors cross a band 1 or 2 px a
    level (a 1080p diagonal pan of 360 px kept a sixth of its vectors wrong).

    ``rivals`` (``Rivals``, motions the coarse level could not settle; returned, ``widely`` brought up to
    date) are tried where each fitted there, on the same terms but counted from no motion (not the prior's
    centre), to this level's whole px, and only more than a px of this level from the vector held; at
    every pixel once one wins on RIVAL_SHARE of a level (a scroll of text: 58-88 % of the first finer
    level; a moving object's motion in the demo clip: at most 1 %). Tried at every pixel from the start,
    an object's motion took over blurred background beside it (the demo clip: -0.16 and -0.11 dB on two
    frames)."""
    best = _cost(a, b, v[:, None], t, scale, floor, None if origin is None else origin[:, None])
    for step in PROPAGATION:
        for dx, dy in ((step, 0), (-step, 0), (0, step), (0, -step)):
            candidate = _neighbour(v, dx, dy)    # of v as taken so far: a vector may travel further
            from_ = None if origin is None else _neighbour(origin, dx, dy)
            cost = _cost(a, b, candidate[:, None], t, scale, floor, None if from_ is None else from_[:, None])
            better = cost < PROPAGATION_GAIN * best
            best, v = torch.where(better, cost, best), torch.where(better, candidate, v)
            if origin is not None:
                origin = torch.where(better, from_, origin)
                ident = torch.where(better, _neighbour(ident, dx, dy), ident)
    h, w = v.shape[-2:]
    widely = None if rivals is None else rivals.widely.clone()
    # to this level's whole px: phase correlation placed a rival to a fraction of a coarse px (several px
    # here), and the search after this steps +-1 px from it in half px
    rounded = None if rivals is None else rivals.motions.round()
    for k in range(0 if rivals is None else rivals.motions.shape[1]):
        field = _whole_field(rounded[:, k], h, w)
        if field is None:
            continue
        absent, candidate = field
        cost = _cost(a, b, candidate[:, None], t, scale, floor)     # counted from no motion: not the prior's centre
        apart = (v - candidate).abs().amax(1, keepdim=True) > 1
        wins = (cost < CAMERA_GAIN * best) & apart & ~absent.view(-1, 1, 1, 1)
        widely[:, k] |= wins.float().mean((1, 2, 3)) >= RIVAL_SHARE
        better = wins & ((rivals.where == k + 1) | widely[:, k].view(-1, 1, 1, 1))
        best, v = torch.where(better, cost, best), torch.where(better, candidate, v)
        if origin is not None:
            origin, ident = torch.where(better, torch.zeros_like(origin), origin), torch.where(better, 0, ident)
    if rivals is not None:
        rivals = rivals._replace(widely=widely)
    if camera is None or origin is None:
        return v, origin, ident, rivals
    for k in range(camera.shape[1]):
        field = _whole_field(camera[:, k], h, w)
        if field is None:
            continue
        absent, candidate = field
        cost = _cost(a, b, candidate[:, None], t, scale, floor, candidate[:, None])
        better = (cost < PROPAGATION_GAIN * best) & ~absent.view(-1, 1, 1, 1)
        best, v = torch.where(better, cost, best), torch.where(better, candidate, v)
        origin, ident = torch.where(better, candidate, origin), torch.where(better, k + 1, ident)
    return v, origin, ident, rivals


def _subpixel(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor, t: Time,
              origin: torch.Tensor | None = None) -> torch.Tensor:
    """Two lines of equal slope through the cost at v and one px either side, in x and in y (at most half
    a px): the cost is a sum of absolute differences, V-shaped around a match, not parabolic."""
    steps = _constant(((0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)), v)
    costs = _cost(a, b, v[:, None] + steps.view(1, -1, 2, 1, 1), t, 1, floor=None,
                  origin=None if origin is None else origin[:, None])
    c0 = costs[:, 0]
    out = v.clone()
    for axis, (lo, hi) in enumerate(((costs[:, 1], costs[:, 2]), (costs[:, 3], costs[:, 4]))):
        rise = torch.maximum(lo, hi) - c0          # equiangular (V) fit: the cost is a sum of |differences|
        shift = torch.where(rise > 1e-6, 0.5 * (lo - hi) / rise.clamp_min(1e-6), torch.zeros_like(c0))
        out[:, axis] += shift.clamp(-0.5, 0.5)
    return out


# compare-exchanges after which the middle of 9 values lies in place 4 (Paeth's network, as in Devillard's
# opt_med9): 19 of them, where a sort along a new dimension of the 9 (torch.median) reads and sorts them all
MEDIAN_OF_9 = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3), (5, 8), (4, 7),
               (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def _smooth(v: torch.Tensor) -> torch.Tensor:
    """3x3 median of each component: removes isolated wrong vectors, keeps motion edges. A network of
    minima and maxima over the nine shifted fields gives the same values as torch.median over them (a
    median is one of the values) at a ninth of its time on the CPU (320x180: 9.3 ms against about 1)."""
    h, w = v.shape[-2:]
    padded = F.pad(v, (1, 1, 1, 1), mode="replicate")
    p = [padded[..., dy:dy + h, dx:dx + w] for dy in range(3) for dx in range(3)]
    for i, j in MEDIAN_OF_9:
        p[i], p[j] = torch.minimum(p[i], p[j]), torch.maximum(p[i], p[j])
    return p[4]


def confidence(frames: torch.Tensor, v: torch.Tensor, t: Time = 0.5) -> torch.Tensor:
    """(B, 1, H, W) in [0, 1]: whether the vectors also explain the outer frames (B, 4, 3, H, W on [0, 1]).

    The search chose v to make I2 and I3 agree, so their agreement proves little (in noise, some vector
    always fits a little better). I1 and I4 were not searched: along a true, steady motion they agree with
    their neighbours too. 1 where, on either side, the match is at most CONFIDENT_RATIO of the mismatch with
    no motion; 0 where it is no better (noise, flicker, a pattern the search mistook): there the plain
    frames are the safer estimate. "No motion" keeps each read's fractional part: the smoothing of noise by
    a read between pixels must not pass for a match (keeping v's own fractional part did not: a read at
    1.5 v is between pixels where v is odd, and in pure noise the search's smooth vectors were trusted).
    Spread over 5 px, a pixel's confidence counts only neighbours where some mismatch reached NO_EVIDENCE:
    where none did (flat both ways: the white between lines of scrolling text), the ratio of two near zeros
    said "doubted", and spread into the letters beside it, it mixed the unmoved frames in (a scroll at
    10 px a frame: 25.95 -> 27.03 dB). Where no neighbour says anything, the plain spread as before.
    Setting such pixels to "trusted" instead helped the scroll as much, but around icons appearing on a
    still screen it trusted look-alike vectors there (a held-out screen recording's frame: -0.34 dB).
    """
    b, _, _, h, w = frames.shape
    lum = _luma(frames.flatten(0, 1).float())                        # (B*4, 1, H, W)
    moved = _times(t, b, v).view(b, 4, 1, 1, 1) * v[:, None]        # frame k is read at (k - 1 - t) v
    still = moved - torch.round(moved)
    fields = torch.stack([moved, still], 2).flatten(0, 1)           # (B*4, 2, 2, H, W): 8 reads, one call
    read = sample_each(lum, fields).view(b, 4, 2, h, w)
    first, second = [0, 2, 1], [1, 3, 2]     # I1 with I2, I3 with I4; I2 with I3 (searched: stricter)
    mismatch = _block_mean((read[:, first] - read[:, second]).abs().flatten(1, 2), CONFIDENCE_BLOCK)
    mismatch = mismatch.view(b, 3, 2, h, w)
    ratio = mismatch[:, :, 0] / mismatch[:, :, 1].clamp_min(1e-4)
    trusted = _constant((CONFIDENT_RATIO, CONFIDENT_RATIO, SEARCHED_RATIOS[0]), ratio).view(1, 3, 1, 1)
    doubted = _constant((1.0, 1.0, SEARCHED_RATIOS[1]), ratio).view(1, 3, 1, 1)
    gain = ((doubted - ratio) / (doubted - trusted)).clamp(0, 1).amax(1, keepdim=True)   # one steady side is
    # enough (the window's edge repeats a frame); spread over 5 px, counting only where something differed
    evidence = (mismatch.flatten(1, 2).amax(1, keepdim=True) >= NO_EVIDENCE).to(gain.dtype)
    spread, weight = _block_mean(gain * evidence, 5), _block_mean(evidence, 5)
    return torch.where(weight > 0, spread / weight.clamp_min(1e-12), _block_mean(gain, 5))


def _times(t: Time, batch: int, like: torch.Tensor) -> torch.Tensor:
    """(B*4, 1): the multiples k - 1 - t of v that bring frames k = 0..3 (at times -1, 0, 1, 2) of each
    window to time t."""
    if torch.is_tensor(t):
        steps = _constant((-1.0, 0.0, 1.0, 2.0), t).view(1, 4) - t.reshape(-1, 1)
    else:
        steps = _constant(tuple(k - 1 - t for k in range(4)), like).view(1, 4)
    return steps.expand(batch, 4).reshape(-1, 1)


def estimate_motion(i2: torch.Tensor, i3: torch.Tensor, t: Time = 0.5,
                    outer: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
    """Motion (B, 2, H, W) in px from I2 to I3 of the trajectory through each pixel at time t.

    i2, i3: (B, 3, H, W) on [0, 1] (the cost's prior is in those units); H and W any size. ``outer``:
    I1 and I4 alike, which let the frame's edges be searched where a trajectory leaves it (``_edges``).
    """
    a, b = _planes(i2.float()), _planes(i3.float())
    pyramid = [(a, b)]
    while min(pyramid[-1][0].shape[-2:]) > COARSE_SIDE:
        pa, pb = pyramid[-1]
        pyramid.append((F.avg_pool2d(pa, 2, ceil_mode=True), F.avg_pool2d(pb, 2, ceil_mode=True)))
    ca, cb = pyramid[-1]
    scale = 2 ** (len(pyramid) - 1)
    reach = min(MAX_MOTION, min(i2.shape[-2:]) // 2)         # no further than half the frame
    radius = max(COARSE_RADIUS, math.ceil(reach / scale))
    block = _coarse_block(scale)
    floor = _floor(ca, cb, block=block)
    v, best = _full_search(ca, cb, t, radius, scale, floor, block)
    v, ident, camera, rivals = _camera(ca, cb, v, best, t, scale, floor, radius, block)
    v = _smooth(v)
    for level in range(len(pyramid) - 2, -1, -1):
        la, lb = pyramid[level]
        v = 2 * F.interpolate(v, size=la.shape[-2:], mode="bilinear", align_corners=False)
        origin = None
        if ident is not None:        # some vectors move with the camera: their prior is centred on it
            ident = F.interpolate(ident.float(), size=la.shape[-2:], mode="nearest").long()
            camera = 2 * camera
            origin = _origin(camera, ident)
        if rivals is not None:
            rivals = Rivals(2 * rivals.motions, F.interpolate(rivals.where.float(), size=la.shape[-2:],
                                                              mode="nearest").long(), rivals.widely)
        floor = _floor(la, lb, t, origin)
        v, origin, ident, rivals = _propagate(la, lb, v, t, 2 ** level, floor, origin, ident, camera, rivals)
        v = _search(la, lb, v, t, 2 ** level, floor, origin)
        if level:
            v = _smooth(v)
            if ident is not None:
                camera = _remeasure(v, ident, camera)
        else:
            v = _subpixel(la, lb, v, t, origin)
            if outer is not None:    # after the fit: a vector taken there keeps its own fractions
                four = torch.stack([_planes(outer[0].float()), la, lb, _planes(outer[1].float())], 1)
                v = _edges(_detail(four.flatten(0, 1)).unflatten(0, four.shape[:2]), v, t, _motions(camera, rivals))
    return v


def _motions(camera: torch.Tensor | None, rivals: Rivals | None) -> torch.Tensor | None:
    """The camera's motions (B, P, 2) in frame px, NaN where none: those vectors took and the rivals, one
    column per peak (a peak is one or the other, never both)."""
    if rivals is None:
        return camera
    return rivals.motions if camera is None else torch.where(torch.isnan(camera), rivals.motions, camera)


def _positions(v: torch.Tensor, along: torch.Tensor, at: tuple[int, int] = (0, 0),
               size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The reads at p + along * v for K fields v (B, K, 2, h, w) of the part of a frame of ``size`` (H, W;
    v's own size if None) whose top left pixel is ``at`` (row, column), ``along`` (B or 1, K or 1): in
    grid_sample's units (B, K, h, w, 2), and how far (px) each lies inside the frame (B, K, h, w): negative
    outside, 0 on its outermost pixels."""
    x, y, (height, width) = _landings(v, along, at, size)
    grid = torch.stack([x * (2 / max(width - 1, 1)) - 1, y * (2 / max(height - 1, 1)) - 1], -1)
    return grid, _inside(x, y, (height, width))


def _landings(v: torch.Tensor, along: torch.Tensor, at: tuple[int, int] = (0, 0),
              size: tuple[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor, tuple[int, int]]:
    """``_positions``' reads in px, x and y (B, K, h, w) each, and the frame's size (H, W)."""
    h, w = v.shape[-2:]
    ys = torch.arange(at[0], at[0] + h, device=v.device, dtype=v.dtype).view(h, 1)
    xs = torch.arange(at[1], at[1] + w, device=v.device, dtype=v.dtype).view(1, w)
    along = along.reshape(*along.shape[:2], 1, 1)
    return xs + along * v[:, :, 0], ys + along * v[:, :, 1], size or (h, w)


def _inside(x: torch.Tensor, y: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """How far (px) reads at (x, y) lie inside a frame of ``size`` (H, W): negative outside, 0 on its
    outermost pixels."""
    height, width = size
    return torch.minimum(torch.minimum(x, (width - 1) - x), torch.minimum(y, (height - 1) - y))


def _detail(planes: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) planes (``_planes``) -> (N, C + 1, H, W): the planes and after them their detail, the
    mean |difference| between neighbouring pixels summed over the planes (what a match off by a px would
    cost), all read together by one grid_sample. On the CPU one pass (``kernels``); this is its reference."""
    fused = kernels.detail_planes(planes)
    if fused is not None:
        return fused
    dx = F.pad((planes[..., :, 1:] - planes[..., :, :-1]).abs(), (0, 1))
    dy = F.pad((planes[..., 1:, :] - planes[..., :-1, :]).abs(), (0, 0, 0, 1))
    return torch.cat([planes, 0.5 * (dx + dy).sum(1, keepdim=True)], 1)


def _seen_mismatch(frames: torch.Tensor, v: torch.Tensor, t: Time,
                   at: tuple[int, int] = (0, 0)) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The mismatch of K candidate fields v (B, K, 2, h, w) over the part of the frame at ``at`` (row,
    column), judged where the trajectory is seen, for the four frames' planes and detail (B, 4, C + 1, H, W;
    ``_detail``): I2 against I3 where both reads are in the frame; where the read of one leaves it, that
    frame's neighbour on the other side against the other (I1 with I2, I3 with I4), as a steady motion
    keeps them alike. Returns it block-averaged (B, K, h, w); the detail where the pair was read,
    block-averaged (a match in a flat place proves nothing: it must clearly beat what a px of error would
    cost there); and where a read of the middle frames left the frame."""
    b, k, _, h, w = v.shape
    steps = _times(t, b, v).view(b, 4)
    fused = kernels.seen_mismatch(frames, v, steps, at)
    if fused is not None:     # the CPU: the same reads, in one pass (kernels.py)
        mismatch, detail, leaves = fused
        return _block_mean(mismatch), _block_mean(detail), leaves
    reads, seen = [], []
    for i in range(4):
        grid, inside = _positions(v, steps[:, i:i + 1], at, frames.shape[-2:])
        read = F.grid_sample(frames[:, i], grid.reshape(b, k * h, w, 2), padding_mode="border", align_corners=True)
        reads.append(read.view(b, -1, k, h, w).transpose(1, 2))              # (B, K, C + 1, h, w)
        seen.append(inside > -0.5)
    left = (seen[1] & seen[0] & ~seen[2])[:, :, None]
    right = (seen[2] & seen[3] & ~seen[1])[:, :, None]
    first = torch.where(left, reads[0], torch.where(right, reads[2], reads[1]))
    second = torch.where(left, reads[1], torch.where(right, reads[3], reads[2]))
    mismatch = _block_mean((first[:, :, :-1] - second[:, :, :-1]).abs_().sum(2))
    detail = _block_mean(first[:, :, -1])
    return mismatch, detail, ~(seen[1] & seen[2])


def _proof(cost: torch.Tensor, detail: torch.Tensor) -> torch.Tensor:
    """How far a match is borne out, the more negative the better: at most 0 where its mismatch is
    within CONFIDENT_RATIO of what a px of error costs there (a perfect match of flat reads too: a pan
    over a black sky reads black on both sides, but any match of texture proves more)."""
    return cost - CONFIDENT_RATIO * detail


MATCH_NOISE = 1e-4      # a mismatch (mean |difference| over the planes) this much lower is no win: both matched
EDGE_REACH = (4, 8, 16, 32, 64, 128)    # px from which a vector further inside the frame is tried at its edges
INWARD = {"top": (0, 1), "bottom": (0, -1), "left": (1, 0), "right": (-1, 0)}


def _edges(frames: torch.Tensor, v: torch.Tensor, t: Time, camera: torch.Tensor | None) -> torch.Tensor:
    """Vectors at the frame's edges, where the true trajectory leaves the frame in I2 or I3 (a pan's
    leading and trailing strips, as wide as half the motion): searched on I2 and I3 alone, nothing there
    matches (one read is the clamped edge), and the vector found is wrong, often near zero. Each pixel of
    the bands along the edges where a vector could leave tries the vectors of the pixels EDGE_REACH px
    further inside and the camera's motions (those vectors took and the rivals: ``_motions``; a window
    whose motion is NaN has none there and tries nothing for it), judged where the trajectory is seen
    (``_seen_mismatch``: the outer frame on the visible side stands in for the one it left). A candidate
    must be borne out by the detail where it read (``_proof``). Only a pixel whose own vector proved
    nothing (not borne out, or borne out by flat reads only) takes one: where it at most halves the mismatch by more than
    MATCH_NOISE (PROPAGATION_GAIN, as in ``_propagate``), or the best proved of those leaving the frame.
    A pixel whose vector is borne out keeps it: taken there too, spurious camera peaks and an object's
    vectors matched flat or repeated reads on a still background's edge (visp-mire-2: up to -11 dB a
    frame). ``frames``: the four frames' planes and detail (``_detail``).

    On the CPU only the bands a vector could leave the frame from are searched, each window's own: so a
    window's vectors are what they are alone, whatever its batch (on a GPU the whole frame, no wait)."""
    n, _, h, w = v.shape
    if not v.is_cuda and n > 1:
        return torch.cat([_edges(frames[i:i + 1], v[i:i + 1], t[i:i + 1] if torch.is_tensor(t) and t.numel() > 1
                                 else t, None if camera is None else camera[i:i + 1]) for i in range(n)])
    motions = [] if camera is None else [_whole_field(camera[:, k], h, w) for k in range(camera.shape[1])]
    motions = [field for field in motions if field is not None]    # (which windows lack it, it at every pixel)
    band = max(h, w)
    if not v.is_cuda:       # the band a vector could leave the frame from
        farthest = max([v.abs().amax().item()] + ([camera.nan_to_num(0.0).abs().amax().item()] if motions else []))
        later = max(t.amax().item(), 1 - t.amin().item()) if torch.is_tensor(t) else max(t, 1 - t)
        band = math.ceil(farthest * later) + 1
    m = BLOCK // 2     # the block's context beyond each band
    band = max(band, m)      # no narrower than that context (the parts below start at band - m)
    if 2 * band >= min(h, w):
        parts = [((0, h, 0, w), (0, h, 0, w), tuple(INWARD.values()))]
    else:   # what is computed (rows, columns), what of it is kept, and where inside lies
        parts = [((0, band + m, 0, w), (0, band, 0, w), (INWARD["top"],)),
                 ((h - band - m, h, 0, w), (h - band, h, 0, w), (INWARD["bottom"],)),
                 ((band - m, h - band + m, 0, band + m), (band, h - band, 0, band), (INWARD["left"],)),
                 ((band - m, h - band + m, w - band - m, w), (band, h - band, w - band, w), (INWARD["right"],))]
    out = v.clone()
    there = torch.zeros(n, dtype=torch.bool, device=v.device)     # a neighbour's vector always is
    for (y0, y1, x0, x1), (k0, k1, j0, j1), directions in parts:
        here = v[..., y0:y1, x0:x1]
        candidates = [_neighbour(v, dx * step, dy * step)[..., y0:y1, x0:x1] for step in EDGE_REACH
                      if step < max(h, w) for dx, dy in directions]
        if not candidates and not motions:
            continue        # a frame of at most 4 px: nothing further inside to try
        # (B, K): the windows a candidate is missing for (a motion only a batch companion has: on a GPU)
        missing = torch.stack([there] * len(candidates) + [absent for absent, _ in motions], 1)
        candidates += [f[..., y0:y1, x0:x1] for _, f in motions]
        best, detail, _ = _seen_mismatch(frames, here[:, None], t, (y0, x0))
        textured = (_proof(best, detail) <= 0) & (detail > FLAT_MISMATCH)   # the vector held is borne out
        open_ = ~textured                            # the pixel's own vector proved nothing
        proof = torch.full_like(best, math.inf)      # of the vector taken from the candidates, if any
        chosen = here
        for first in range(0, len(candidates), 8):
            fields = torch.stack(candidates[first:first + 8], 1)                  # (B, K, 2, h, w)
            cost, detail, leaves = _seen_mismatch(frames, fields, t, (y0, x0))
            score = _proof(cost, detail)
            tried = (score <= 0) & ~missing[:, first:first + 8, None, None]
            low, index = _cheapest(torch.where(tried, score, torch.full_like(score, math.inf)))
            cost, detail, leaves = cost.gather(1, index), detail.gather(1, index), leaves.gather(1, index)
            # where the pixel's own vector proved nothing (a dark patch that moved on matches itself at
            # many a wrong vector): a clear win (by more than MATCH_NOISE; a match of flat reads is none
            # over one taken on detail), or the best proved of those leaving the frame
            clear = (cost < PROPAGATION_GAIN * best) & (best - cost > MATCH_NOISE) & (~textured | (detail > FLAT_MISMATCH))
            better = low.isfinite() & open_ & (clear | (leaves & (low < proof)))
            pick = torch.gather(fields, 1, index[:, :, None].expand(-1, -1, 2, -1, -1))[:, 0]
            best, chosen = torch.where(better, cost, best), torch.where(better, pick, chosen)
            proof = torch.where(better, low, proof)
            textured = torch.where(better, detail > FLAT_MISMATCH, textured)
        out[..., k0:k1, j0:j1] = chosen[..., k0 - y0:k1 - y0, j0 - x0:j1 - x0]
    return out


def warp_to(frames: torch.Tensor, v: torch.Tensor, t: Time = 0.5, mode: str = "bilinear") -> torch.Tensor:
    """(B, 4, C, H, W) frames at times -1, 0, 1, 2 brought to time t along p + (k - t) v (constant velocity)."""
    b, n, c, h, w = frames.shape
    fields = v[:, None, None].expand(-1, n, -1, -1, -1, -1).flatten(0, 1)    # (B*4, 1, 2, H, W)
    along = _times(t, b, v)
    moved = sample_each(frames.flatten(0, 1), fields, along, mode).view(b, n, c, h, w)
    inside = _inside(*_landings(fields[:, 0][:, None], along))     # the reads' grid is grid_sample's own
    return _seen_only(moved, inside.view(b, n, 1, h, w))


def _seen_only(moved: torch.Tensor, inside: torch.Tensor) -> torch.Tensor:
    """Where a frame's read left the frame (a pan's leading and trailing strips), its clamped edge is
    not the picture: the middle frame that sees the place stands in for the one that does not, and each
    outer frame takes its middle neighbour's. Soft over one px (``inside`` from ``_positions``: seen from
    the outermost pixels in, not at all a px outside), so a sub-pixel read at the edge changes little.
    Written in place where no gradient is wanted (the compensation's case), else stacked."""
    seen = (inside + 1).clamp(0, 1)
    i1, i2, i3, i4 = moved.unbind(1)
    s1, s2, s3, s4 = seen.unbind(1)
    grad = torch.is_grad_enabled() and (moved.requires_grad or inside.requires_grad)
    out = None if grad else torch.empty_like(moved)   # each frame written in its place: a stack was a copy more
    slots = (None,) * 4 if out is None else out.unbind(1)
    j2 = torch.add(i2, (1 - s2) * s3 * (i3 - i2), out=slots[1])
    j3 = torch.add(i3, (1 - s3) * s2 * (i2 - i3), out=slots[2])
    j1 = torch.add(i1, (1 - s1) * (j2 - i1), out=slots[0])
    j4 = torch.add(i4, (1 - s4) * (j3 - i4), out=slots[3])
    return torch.stack([j1, j2, j3, j4], 1) if out is None else out


CONTENT_BLOCK = 9           # px: a pixel's contrast is |luma - its mean over this window|
CONTENT_CELL = 8            # px: contrast is averaged over cells this wide, then over a region of cells
CONTENT_REGION = 1 / 3      # the rescue's region: its side as a share of the frame's short side (at least 3 cells);
                            # a wrong "lost" there only starts a search, so it may be narrower than a fast pan
LOST_SHARE = 0.5            # a region whose compensated pair keeps at most this share of the contrast lost some
CONTENT_FLOOR = 1.0         # 8-bit levels of a region's mean contrast: below this it shows nothing to lose
RESCUE_CONTRAST = 8 / 255   # luma (on [0, 1]) off its 9x9 mean by more than this is content worth carrying
RESCUE_GAIN = 0.5           # a source-anchored match is taken where it at most halves the no-motion mismatch
RESCUE_REACH = 7            # px: the content around a lost pixel goes with it (a thing partly read is moved whole)
FIXED_POINT = 64            # vectors splatted as whole 64ths of a px: integer sums add up alike on any device


def _contrast(luma: torch.Tensor) -> torch.Tensor:
    """|luma - its CONTENT_BLOCK mean| (B, N, H, W): where a frame shows something rather than a flat area."""
    return (luma - box_mean(luma, CONTENT_BLOCK)).abs()


def contrast_regions(shown: torch.Tensor, kept: torch.Tensor, region: float = CONTENT_REGION
                     ) -> tuple[torch.Tensor, torch.Tensor]:
    """How much of what frames show another set of frames still shows, over regions: ``shown`` and ``kept``
    (B, N, H, W) luma on [0, 1] (N frames each, e.g. I2 and I3 against the frame made from them). Carried,
    a thing's contrast (``_contrast``) moves with it, so over a region wider than things move (``region``
    of the frame's short side, in cells of CONTENT_CELL px) the two have as much on average; read around,
    it is gone. Returns, per cell (B, 1, H / CONTENT_CELL, W / CONTENT_CELL), the share kept and the mean
    contrast shown (on [0, 1]); ``at_pixels`` brings them to the frame's size."""
    over = region_means(_contrast(torch.cat([shown, kept], 1)), region)
    before = over[:, :shown.shape[1]].mean(1, keepdim=True)
    after = over[:, shown.shape[1]:].mean(1, keepdim=True)
    return after / before.clamp_min(1e-6), before


def region_means(x: torch.Tensor, region: float) -> torch.Tensor:
    """Means of x (B, C, H, W) over regions whose side is ``region`` of the frame's short side (at least 3
    cells), taken in cells of CONTENT_CELL px: (B, C, H / CONTENT_CELL, W / CONTENT_CELL), one per cell.
    A region reaching past the frame's edge is the part of it inside (fewer cells): with the edge's cells
    replicated, a region as wide as the frame's short side counted the outermost row of cells half, and
    where text scrolled in at the bottom, that row alone (a line in I2, the page between lines in the
    made frame) told keep_content the frame had lost what it showed (a scroll's last lines blended:
    18-20 dB where the net made 24-39)."""
    h, w = x.shape[-2:]
    cells = F.avg_pool2d(x, CONTENT_CELL, ceil_mode=True)
    return block_mean(cells, max(3, round(min(h, w) * region / CONTENT_CELL)) | 1)


def at_pixels(cells: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A map of cells (``region_means``, ``contrast_regions``) at the frame's ``size`` (H, W), bilinear
    between them."""
    return F.interpolate(cells, size=size, mode="bilinear", align_corners=False)


def _targets(v: torch.Tensor, along: Time) -> torch.Tensor:
    """(B, H*W) long: the pixel each pixel p reads at p + along * v(p) (rounded, clamped to the frame), as
    an index into the flattened frame."""
    b, _, h, w = v.shape
    along = along.reshape(-1, 1, 1) if torch.is_tensor(along) else along
    ys = torch.arange(h, device=v.device, dtype=v.dtype).view(1, h, 1)
    xs = torch.arange(w, device=v.device, dtype=v.dtype).view(1, 1, w)
    x = torch.round(xs + along * v[:, 0]).clamp(0, w - 1).long()
    y = torch.round(ys + along * v[:, 1]).clamp(0, h - 1).long()
    return (y * w + x).view(b, -1)


def _unread(v: torch.Tensor, along: Time) -> torch.Tensor:
    """(B, 1, H, W) bool: the pixels of a frame that the field v reads (at p + along * v, within a px)
    nowhere."""
    b, _, h, w = v.shape
    counts = torch.zeros(b, h * w, device=v.device, dtype=v.dtype)
    counts.scatter_add_(1, _targets(v, along), torch.ones_like(counts))
    return window_max(counts.view(b, 1, h, w), 3) == 0


def _read(image: torch.Tensor, v: torch.Tensor, along: Time, mode: str = "bilinear") -> torch.Tensor:
    """image (B, C, H, W) read at p + along * v(p), ``along`` a float or (B, 1, 1, 1) per sample."""
    return sample_each(image, v[:, None], along.reshape(-1, 1) if torch.is_tensor(along) else along, mode)[:, 0]


def rescue(i2: torch.Tensor, i3: torch.Tensor, v: torch.Tensor, t: Time) -> torch.Tensor:
    """The field v at time t (``estimate_motion``'s, for I2 and I3 (B, 3, H, W) on [0, 1]) with what it lost
    carried again. Bilateral matching cannot see a small thing whose look changes as it moves further than
    its own size over a flat background (a die tumbling on black): at the thing's place at time t both frames show the background, a perfect match, while the
    thing does not match itself, so the vectors read around it and it is lost. Such a thing is content of
    I2 that the field reads nowhere. Searched from I2 (t = 0: where in I3 does this block go?), a thing
    finds its other look, which matches it better than the background it would otherwise meet; where
    that halves its mismatch with staying put (RESCUE_GAIN) and its other end is read nowhere in I3 either
    (an icon that appears matches a look-alike that is carried), its vector is splatted forward to where the
    thing is at time t (nearest pixel, collisions averaged in fixed point, one px of gaps filled), and
    taken there where its reads show more than the bilateral vector's (flat, or the thing in part).
    Only regions whose compensated pair kept at most LOST_SHARE of the contrast (``contrast_regions``)
    are looked at, so the second search runs only where something was lost; on a GPU (no wait to ask)
    always, with the same result."""
    b, _, h, w = v.shape
    luma2, luma3 = _luma(i2), _luma(i3)
    # read at the nearest pixel: a read between pixels smooths fine texture (noise, grain) and is no loss
    reads = torch.cat([_read(luma2, v, -t, "nearest"), _read(luma3, v, 1 - t, "nearest")], 1)
    kept, shown = contrast_regions(torch.cat([luma2, luma3], 1), reads)
    lossy = (kept <= LOST_SHARE) & (shown * 255 > CONTENT_FLOOR)
    if not v.is_cuda and not bool(lossy.any()):     # the usual case: a few ms, no second search
        return v
    contrast2, contrast3 = _contrast(luma2), _contrast(luma3)
    lost = (contrast2 > RESCUE_CONTRAST) & _unread(v, -t) & (at_pixels(lossy.to(v.dtype), (h, w)) > 0)
    if not v.is_cuda and not bool(lost.any()):
        return v
    u = estimate_motion(i2, i3, 0.0)
    a, c = _planes(i2), _planes(i3)
    moved = _block_mean((a - sample(c, u)).abs().sum(1, keepdim=True))
    still = _block_mean((a - c).abs().sum(1, keepdim=True))
    near_lost = window_max(lost.to(v.dtype), RESCUE_REACH) > 0
    lost3 = _read(_unread(v, 1 - t).to(v.dtype), u, 1.0) > 0.5            # its other look is lost too
    source = ((contrast2 > RESCUE_CONTRAST) & near_lost & lost3 & (moved < RESCUE_GAIN * still)).view(b, 1, -1).long()
    where = _targets(u, t)[:, None]                              # where each I2 pixel is at time t
    fixed = torch.cat([torch.round(u.view(b, 2, -1) * FIXED_POINT).long(), torch.ones_like(source)], 1) * source
    sums = torch.zeros_like(fixed).scatter_add_(2, where.expand(-1, 3, -1), fixed).view(b, 3, h, w).to(v.dtype)
    near = F.avg_pool2d(sums, 3, stride=1, padding=1) * 9        # exact: sums of small whole numbers
    sums = torch.where(sums[:, 2:3] > 0, sums, near)             # a px of gaps filled from the neighbours
    count = sums[:, 2:3]
    carried = sums[:, :2] / (count.clamp_min(1) * FIXED_POINT)
    held = _read(contrast2, v, -t) + _read(contrast3, v, 1 - t)                # what each field's reads show
    more = _read(contrast2, carried, -t) + _read(contrast3, carried, 1 - t) > held
    return torch.where((count > 0) & more, carried, v)
