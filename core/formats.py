"""Which clip formats the filter takes, and the map between their samples and the net's [-1, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .errors import InterpolateError

# VapourSynth API 4 enum values (VSColorFamily, VSSampleType), mirrored to keep this module host-free.
CF_RGB = 2
ST_INTEGER, ST_FLOAT = 0, 1

ACCEPTED = "RGB with 8-16 bit integer or 16/32 bit float samples (RGB24, RGB30, RGB36, RGB48, RGBH, RGBS)"


@dataclass(frozen=True)
class PixelFormat:
    name: str
    bits: int
    is_float: bool

    @property
    def numpy_dtype(self) -> np.dtype:
        if self.is_float:
            return np.dtype(np.float16 if self.bits == 16 else np.float32)
        return np.dtype(np.uint8 if self.bits <= 8 else np.uint16)

    @property
    def peak(self) -> int:
        return (1 << self.bits) - 1

    def to_unit(self, planes: torch.Tensor) -> torch.Tensor:
        """Samples -> float32 on [-1, 1] (float clips are taken as [0, 1] nominal range)."""
        x = planes.float()
        return x * 2.0 - 1.0 if self.is_float else x * (2.0 / self.peak) - 1.0

    def from_unit(self, x: torch.Tensor) -> torch.Tensor:
        """[-1, 1] -> the clip's samples: rounded and clamped for integers; floats keep out-of-range values
        (RGB converted from YUV legitimately leaves [0, 1], and clamping would break the round trip)."""
        x = (x.float() + 1.0) * 0.5
        if self.is_float:
            return x.to(torch.float16 if self.bits == 16 else torch.float32)
        return (x * self.peak).round_().clamp_(0, self.peak).to(torch.uint8 if self.bits <= 8 else torch.int16)


def _convert_hint(name: str) -> str:
    target = "vs.RGBS" if name.endswith(("S", "H")) or "PS" in name or "PH" in name else "vs.RGB24"
    matrix = ", matrix_in_s='709'" if name.startswith("YUV") else ""
    return f"convert first, e.g. clip = core.resize.Bicubic(clip, format={target}{matrix})"


def check_format(info: dict) -> PixelFormat:
    """Refuses what the net cannot take, naming what is accepted and the conversion."""
    name = info.get("format_name") or ""
    if not name or info.get("color_family", 0) == 0:
        raise InterpolateError(f"clips with variable format are not supported; input must be {ACCEPTED}. "
                               "Convert every frame to one format first, e.g. core.resize.Bicubic(clip, format=vs.RGB24)")
    if info["width"] <= 0 or info["height"] <= 0:
        raise InterpolateError("clips with variable size are not supported; resize every frame to one size first, "
                               "e.g. core.resize.Bicubic(clip, width=W, height=H)")
    bits, st = info["bits_per_sample"], info["sample_type"]
    ok = info["color_family"] == CF_RGB and (
        (st == ST_INTEGER and 8 <= bits <= 16) or (st == ST_FLOAT and bits in (16, 32)))
    if not ok:
        raise InterpolateError(f"input format {name} is not supported; input must be {ACCEPTED}; {_convert_hint(name)}")
    if info.get("sub_sampling_w", 0) or info.get("sub_sampling_h", 0):
        raise InterpolateError(f"input format {name} is subsampled; input must be {ACCEPTED}")
    return PixelFormat(name=name, bits=bits, is_float=st == ST_FLOAT)
