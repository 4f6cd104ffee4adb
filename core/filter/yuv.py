"""YUV <-> RGB on the compute device, so YUV clips reach the net without a detour through the CPU.

Follows the clip's props: _Matrix (BT.601 / BT.709 / BT.2020 NCL / FCC / SMPTE 240M), _Range
(limited or full) and _ChromaLocation (co-sited or centred chroma). Chroma is resampled at the chroma
samples' true positions with bicubic filters: up by grid_sample's bicubic (cubic convolution, a = -0.75),
down by Catmull-Rom (b=0, c=0.5), the filter of zimg's resize.Bicubic.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ..colour import UNSPECIFIED, default_matrix
from ..errors import InterpolateError

# H.273 matrix code -> (Kr, Kb)
KR_KB = {1: (0.2126, 0.0722), 4: (0.30, 0.11), 5: (0.299, 0.114), 6: (0.299, 0.114), 7: (0.212, 0.087),
         9: (0.2627, 0.0593)}
MATRIX_NAMES = {0: "RGB", 8: "YCgCo", 10: "BT.2020 CL", 11: "SMPTE 2085", 12: "chromaticity NCL",
                13: "chromaticity CL", 14: "ICtCp"}
# _ChromaLocation -> where chroma sample k sits on the luma grid, as 2k + offset (horizontal, vertical)
CHROMA_OFFSETS = {0: (0.0, 0.5), 1: (0.5, 0.5), 2: (0.0, 0.0), 3: (0.5, 0.0), 4: (0.0, 1.0), 5: (0.5, 1.0)}
UNSET = -1


@dataclass(frozen=True)
class YuvDescription:
    matrix: int
    full_range: bool
    chroma_location: int

    @classmethod
    def from_props(cls, matrix: int, rng: int, chroma_location: int, width: int, height: int) -> "YuvDescription":
        if matrix in (UNSET, UNSPECIFIED):
            matrix = default_matrix(width, height)
        if matrix not in KR_KB:
            name = MATRIX_NAMES.get(matrix, f"code {matrix}")
            raise InterpolateError(f"YUV matrix {name} is not supported on the device; convert to RGB first, e.g. "
                                   "core.resize.Bicubic(clip, format=vs.RGBS)")
        return cls(matrix=matrix, full_range=rng == 1,
                   chroma_location=chroma_location if chroma_location in CHROMA_OFFSETS else 0)


def _levels(bits: int, is_float: bool, full: bool) -> tuple[float, float, float, float]:
    """(luma offset, luma scale, chroma offset, chroma scale) mapping samples to Y on [0,1], C on [-0.5,0.5]."""
    if is_float:
        return 0.0, 1.0, 0.0, 1.0
    peak = (1 << bits) - 1
    if full:
        return 0.0, float(peak), float(1 << (bits - 1)), float(peak)
    s = float(1 << (bits - 8))
    return 16 * s, 219 * s, 128 * s, 224 * s


def _upsample(c: torch.Tensor, height: int, width: int, offset: tuple[float, float]) -> torch.Tensor:
    """Chroma plane (h, w) -> (height, width) by bicubic interpolation (grid_sample's: cubic convolution with
    a = -0.75, edges replicated) at the true chroma positions."""
    h, w = c.shape
    if (h, w) == (height, width):
        return c
    fx, fy = width // w, height // h
    ox, oy = (offset[0] if fx == 2 else 0.0), (offset[1] if fy == 2 else 0.0)
    cx = (torch.arange(width, device=c.device, dtype=c.dtype) - ox) / fx
    cy = (torch.arange(height, device=c.device, dtype=c.dtype) - oy) / fy
    gx = cx / max(w - 1, 1) * 2 - 1 if w > 1 else torch.zeros_like(cx)
    gy = cy / max(h - 1, 1) * 2 - 1 if h > 1 else torch.zeros_like(cy)
    grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None]
    return F.grid_sample(c[None, None], grid, mode="bicubic", padding_mode="border", align_corners=True)[0, 0]


TAPS = (-3, 4)  # luma positions 2k-3 .. 2k+4 feed chroma sample k


def _cubic(x: torch.Tensor) -> torch.Tensor:
    """Catmull-Rom (bicubic, b=0, c=0.5)."""
    x = x.abs()
    return torch.where(x < 1, 1.5 * x ** 3 - 2.5 * x ** 2 + 1,
                       torch.where(x < 2, -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2, torch.zeros_like(x)))


def _down_weights(offset: float, device, dtype) -> torch.Tensor:
    """Bicubic 2:1 downscaling weights centred on the chroma sample's true position."""
    taps = torch.arange(TAPS[0], TAPS[1] + 1, device=device, dtype=dtype) - offset
    w = _cubic(taps / 2)
    return w / w.sum()


def _downsample(c: torch.Tensor, height: int, width: int, offset: tuple[float, float]) -> torch.Tensor:
    """Full-resolution chroma (H, W) -> (height, width), bicubic, centred on each chroma sample."""
    x = c[None, None]
    pad, n = (-TAPS[0], TAPS[1]), TAPS[1] - TAPS[0] + 1
    if x.shape[-1] != width:
        k = _down_weights(offset[0], c.device, c.dtype).view(1, 1, 1, n)
        x = F.conv2d(F.pad(x, (*pad, 0, 0), mode="replicate"), k, stride=(1, 2))[..., :width]
    if x.shape[-2] != height:
        k = _down_weights(offset[1], c.device, c.dtype).view(1, 1, n, 1)
        x = F.conv2d(F.pad(x, (0, 0, *pad), mode="replicate"), k, stride=(2, 1))[..., :height, :]
    return x[0, 0]


def yuv_to_rgb(planes: list[torch.Tensor], bits: int, is_float: bool, desc: YuvDescription) -> torch.Tensor:
    """Y, U, V sample planes -> (3, H, W) float32 RGB, nominally [0, 1]."""
    yo, ys, co, cs = _levels(bits, is_float, desc.full_range)
    y = (planes[0].float() - yo) / ys
    h, w = y.shape
    offset = CHROMA_OFFSETS[desc.chroma_location]
    u = _upsample((planes[1].float() - co) / cs, h, w, offset)
    v = _upsample((planes[2].float() - co) / cs, h, w, offset)
    kr, kb = KR_KB[desc.matrix]
    kg = 1 - kr - kb
    r = y + 2 * (1 - kr) * v
    b = y + 2 * (1 - kb) * u
    g = (y - kr * r - kb * b) / kg
    return torch.stack([r, g, b])


def rgb_to_yuv(rgb: torch.Tensor, bits: int, is_float: bool, desc: YuvDescription, chroma_shape: tuple[int, int],
               out_dtype: torch.dtype) -> list[torch.Tensor]:
    """(3, H, W) float RGB -> Y, U, V planes in the clip's sample type (rounded and clamped for integers)."""
    kr, kb = KR_KB[desc.matrix]
    kg = 1 - kr - kb
    r, g, b = rgb.float()
    y = kr * r + kg * g + kb * b
    offset = CHROMA_OFFSETS[desc.chroma_location]
    u = _downsample((b - y) / (2 * (1 - kb)), *chroma_shape, offset)
    v = _downsample((r - y) / (2 * (1 - kr)), *chroma_shape, offset)
    yo, ys, co, cs = _levels(bits, is_float, desc.full_range)
    out = [y * ys + yo, u * cs + co, v * cs + co]
    if is_float:
        return [p.to(out_dtype) for p in out]
    peak = (1 << bits) - 1
    return [p.round_().clamp_(0, peak).to(out_dtype) for p in out]
