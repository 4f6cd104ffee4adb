"""The Python face of ``core.convlstm.Interpolate`` (same filter, same code) and of a file's whole route.

``interpolate(clip)`` calls the native filter; ``interpolate_source(src)`` also brings clips the filter
cannot take directly (grey, other layouts) through RGB and back. The CLI and assets/interpolate.vpy
both use the latter, so `convlstm interpolate` and `vspipe | ffmpeg` give the same frames.
"""
from __future__ import annotations

from pathlib import Path

import vapoursynth as vs

from .colour import Colour
from .filter.arguments import check_factor
from .video import colour_of, from_rgb, to_rgb


def plugin_available() -> bool:
    return hasattr(vs.core, "convlstm")


def interpolate(clip: vs.VideoNode, weights: str | Path | None = None, device: str = "auto",
                fp16: bool | None = None, factor: int | None = None, fps_num: int | None = None,
                fps_den: int | None = None, sc_threshold: float | None = None, scales: int | None = None,
                factor_num: int | None = None, factor_den: int | None = None, batch: int | None = None,
                tile: int | None = None, compile: bool | None = None, detail: float | None = None) -> vs.VideoNode:
    """Raises the frame rate of a clip (2x by default). See README for arguments."""
    if not plugin_available():
        raise vs.Error("convlstm.interpolate: the native plugin is not loaded; install the package with "
                       "`pip install .` (not editable) so it lands in vapoursynth/plugins/")
    kwargs: dict = {"device": device}
    if weights is not None:
        kwargs["weights"] = str(weights)
    if fp16 is not None:
        kwargs["fp16"] = int(bool(fp16))
    if compile is not None:
        kwargs["compile"] = int(bool(compile))
    for key, value in (("factor", factor), ("factor_num", factor_num), ("factor_den", factor_den),
                       ("fps_num", fps_num), ("fps_den", fps_den), ("sc_threshold", sc_threshold), ("scales", scales),
                       ("batch", batch), ("tile", tile), ("detail", detail)):
        if value is not None:
            kwargs[key] = value
    return vs.core.convlstm.Interpolate(clip, **kwargs)


def interpolate_source(src: vs.VideoNode, factor: int | None = None, device: str = "auto",
                       weights: str | None = None, fp16: bool | None = None, scales: int | None = None,
                       tile: int | None = None, compile: bool | None = None, detail: float | None = None,
                       **rate: int | float) -> tuple[vs.VideoNode, Colour]:
    """The rate change (``factor`` 2 by default, or ``factor_num``/``factor_den``, ``fps_num``/``fps_den``, and
    ``sc_threshold`` in ``rate``) in the source's own format. RGB and 4:2:0/4:2:2/4:4:4 YUV go to the filter
    directly (it converts on the compute device with the clip's matrix/range props and passes source frames
    through untouched); grey and other layouts take a detour through RGB and back, source frames included
    unless the factor is whole."""
    from .filter.formats import SUBSAMPLING   # here, not at the top: `import convlstm` stays free of torch
    if factor is not None:
        check_factor(factor)
    elif not rate:
        factor = 2
    colour = colour_of(src)
    kwargs = dict(weights=weights, device=device, fp16=fp16, factor=factor, scales=scales, tile=tile, compile=compile,
                  detail=detail, **rate)
    f = src.format
    if f.color_family == vs.RGB or (f.color_family == vs.YUV and (f.subsampling_w, f.subsampling_h) in SUBSAMPLING):
        return interpolate(src, **kwargs), colour
    converted = from_rgb(interpolate(to_rgb(src, colour), **kwargs), src, colour)
    if not factor:
        return converted, colour
    new_frames = [converted.std.SelectEvery(factor, k) for k in range(1, factor)]
    return vs.core.std.Interleave([src, *new_frames], modify_duration=True), colour


def adapt(clip: vs.VideoNode, *, minutes: float | None = 3.0, steps: int | None = None, device: str = "auto",
          weights: str | None = None, out: str | Path | None = None) -> Path:
    """Fine-tunes a copy of ``weights`` (default: the bundled model) on the clip's own frames and returns
    the weights to use with it: the adapted checkpoint (written to ``out``, by default a cache folder,
    never beside the clip) when it beats the starting weights on windows held aside, else the starting
    weights' path. Use as ``Interpolate(clip, weights=str(path))``."""
    from .adapt.clip import adapt_clip   # here: `import convlstm` stays free of torch
    return adapt_clip(clip, minutes=minutes, steps=steps, device=device, weights=weights, out=out).path
