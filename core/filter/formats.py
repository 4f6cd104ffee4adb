"""Which clip formats the filter takes, and the map between their samples and the net's [-1, 1]."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InterpolateError

# VapourSynth API 4 enum values (VSColorFamily, VSSampleType), mirrored to keep this module host-free.
CF_GRAY, CF_RGB, CF_YUV = 1, 2, 3
ST_INTEGER, ST_FLOAT = 0, 1

ACCEPTED = ("RGB or YUV 4:2:0 / 4:2:2 / 4:4:4 with 8-16 bit integer or 16/32 bit float samples "
            "(RGB24, RGB30, RGB48, RGBH, RGBS, YUV420P8, YUV420P10, YUV422P10, YUV444P16, YUV444PS, ...)")
SUBSAMPLING = {(0, 0): "4:4:4", (1, 0): "4:2:2", (1, 1): "4:2:0"}


@dataclass(frozen=True)
class PixelFormat:
    name: str
    bits: int
    is_float: bool
    family: int = CF_RGB
    ssw: int = 0
    ssh: int = 0

    @property
    def is_yuv(self) -> bool:
        return self.family == CF_YUV

    def plane_shape(self, plane: int, height: int, width: int) -> tuple[int, int]:
        return (height, width) if plane == 0 else (height >> self.ssh, width >> self.ssw)

    @property
    def torch_dtype(self) -> torch.dtype:
        """What results are handed back in (int32 for >8 bit: torch's uint16 support is partial)."""
        if self.is_float:
            return torch.float16 if self.bits == 16 else torch.float32
        return torch.uint8 if self.bits <= 8 else torch.int32

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
        return (x * self.peak).round_().clamp_(0, self.peak).to(self.torch_dtype)


def _convert_hint(name: str) -> str:
    if name.startswith("Gray"):
        return "convert first, e.g. clip = core.resize.Bicubic(clip, format=vs.YUV444P8) or format=vs.RGB24"
    return "convert first, e.g. clip = core.resize.Bicubic(clip, format=vs.RGBS, matrix_in_s='709')"


def check_format(info: dict) -> PixelFormat:
    """Refuses what the net cannot take, naming what is accepted and the conversion."""
    name = info.get("format_name") or ""
    if not name or info.get("color_family", 0) == 0:
        raise InterpolateError(f"clips with variable format are not supported; input must be {ACCEPTED}. "
                               "Convert every frame to one format first, e.g. core.resize.Bicubic(clip, format=vs.RGB24)")
    if info["width"] <= 0 or info["height"] <= 0:
        raise InterpolateError("clips with variable size are not supported; resize every frame to one size first, "
                               "e.g. core.resize.Bicubic(clip, width=W, height=H)")
    bits, st, family = info["bits_per_sample"], info["sample_type"], info["color_family"]
    ss = (info.get("sub_sampling_w", 0), info.get("sub_sampling_h", 0))
    ok = family in (CF_RGB, CF_YUV) and ss in SUBSAMPLING and (
        (st == ST_INTEGER and 8 <= bits <= 16) or (st == ST_FLOAT and bits in (16, 32)))
    if not ok:
        raise InterpolateError(f"input format {name} is not supported; input must be {ACCEPTED}; {_convert_hint(name)}")
    if ss != (0, 0) and (info["width"] % (1 << ss[0]) or info["height"] % (1 << ss[1])):
        raise InterpolateError(f"{name} needs a width and height divisible by its subsampling, got "
                               f"{info['width']}x{info['height']}")
    return PixelFormat(name=name, bits=bits, is_float=st == ST_FLOAT, family=family, ssw=ss[0], ssh=ss[1])


def field_order(*field_based: int) -> str | None:
    """The rule for interlaced frames (_FieldBased 1: bottom field first, 2: top field first; 0 or unset:
    progressive), for the filter and the file route: None when every frame given is progressive."""
    interlaced = [f for f in field_based if f > 0]
    if not interlaced:
        return None
    return "bottom field first" if 1 in interlaced else "top field first"
