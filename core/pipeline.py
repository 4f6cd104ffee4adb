"""From a video file to the interpolated clip in the file's own format: shared by the CLI and
scripts/interpolate.vpy, so `convlstm interpolate` and `vspipe | ffmpeg` give the same frames."""
from __future__ import annotations

from pathlib import Path

import vapoursynth as vs

from .api import interpolate
from .colour import Colour, colour_of, from_rgb, to_rgb
from .formats import SUBSAMPLING


class SourceError(RuntimeError):
    """The input cannot be opened or decoded."""


def open_source(path: str | Path) -> vs.VideoNode:
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"input {str(path)!r} does not exist")
    core = vs.core
    if not hasattr(core, "bs"):
        raise SourceError("the bestsource plugin is missing (pip install vapoursynth-bestsource)")
    try:
        clip = core.bs.VideoSource(source=str(path), cachemode=0)
        clip.get_frame(0)
    except vs.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
        raise SourceError(f"cannot decode {str(path)!r} as video: {first}") from None
    if clip.format is None or clip.width == 0:
        raise SourceError(f"{str(path)!r} changes format or size mid-stream; not supported")
    return clip


def check_factor(factor: int) -> int:
    if factor < 2 or factor & (factor - 1):
        raise ValueError(f"--factor must be a power of two >= 2 (2, 4, 8, ...), got {factor}")
    return factor


def interpolate_source(src: vs.VideoNode, factor: int = 2, device: str = "auto", weights: str | None = None,
                       fp16: bool | None = None, scales: int | None = None) -> tuple[vs.VideoNode, Colour]:
    """factor x the frame rate, in the source's own format. RGB and 4:2:0/4:2:2/4:4:4 YUV go to the
    filter directly (it converts on the compute device with the clip's matrix/range props and passes
    source frames through untouched); grey and other layouts take a detour through RGB and back."""
    check_factor(factor)
    colour = colour_of(src)
    f = src.format
    if f.color_family == vs.RGB or (f.color_family == vs.YUV and (f.subsampling_w, f.subsampling_h) in SUBSAMPLING):
        return interpolate(src, weights=weights, device=device, fp16=fp16, factor=factor, scales=scales), colour
    rgb = interpolate(to_rgb(src, colour), weights=weights, device=device, fp16=fp16, factor=factor, scales=scales)
    converted = from_rgb(rgb, src, colour)
    new_frames = [converted.std.SelectEvery(factor, k) for k in range(1, factor)]
    return vs.core.std.Interleave([src, *new_frames], modify_duration=True), colour
