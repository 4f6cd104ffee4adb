"""The Python face of ``core.convlstm.Interpolate`` (same filter, same code) and of a file's whole route.

``interpolate(clip)`` calls the native filter; ``interpolate_source(src)`` also brings clips the filter
cannot take directly (grey, other layouts) through RGB and back. The CLI, the cluster's workers and
assets/interpolate.vpy all use the latter, so `convlstm interpolate` and `vspipe | ffmpeg` give the same frames.
Both take the options as one ``Options`` or as its fields by name.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import vapoursynth as vs

from .colour import Colour
from .errors import InterpolateError
from .options import NAMES, Options
from .video import colour_of, from_rgb, to_rgb


def plugin_available() -> bool:
    return hasattr(vs.core, "convlstm")


def _options(options: Options | None, changes: dict[str, Any]) -> Options:
    """``options`` with the keyword arguments over it (paths as text, as the filter takes them); a bad value
    is the error the filter itself gives."""
    if isinstance(changes.get("weights"), Path):
        changes["weights"] = str(changes["weights"])
    try:
        return (options or Options()).updated(**changes) if changes else (options or Options())
    except InterpolateError as exc:
        raise vs.Error(f"convlstm.Interpolate: {exc}") from None
    except TypeError as exc:   # a name Options does not have
        raise vs.Error(f"convlstm.Interpolate: {exc}; accepted: {', '.join(NAMES)}") from None


def interpolate(clip: vs.VideoNode, options: Options | None = None, **changes: Any) -> vs.VideoNode:
    """Raises the frame rate of a clip (2x by default); ``changes`` are ``Options`` fields (see
    ``convlstm.options.Options`` or docs/usage.md for what each does)."""
    if not plugin_available():
        raise vs.Error("convlstm.interpolate: the native plugin is not loaded; install the package with "
                       "`pip install .` (not editable) so it lands in vapoursynth/plugins/")
    return vs.core.convlstm.Interpolate(clip, **_options(options, changes).filter_args())


def interpolate_source(src: vs.VideoNode, options: Options | None = None,
                       **changes: Any) -> tuple[vs.VideoNode, Colour]:
    """The rate change in the source's own format, and the source's colour description. RGB and
    4:2:0/4:2:2/4:4:4 YUV go to the filter directly (it converts on the compute device with the clip's
    matrix/range props and passes source frames through untouched); grey and other layouts take a detour
    through RGB and back, source frames included unless the factor is whole."""
    from .filter.formats import SUBSAMPLING   # here, not at the top: `import convlstm` stays free of torch
    options = _options(options, changes)
    colour = colour_of(src)
    f = src.format
    if f.color_family == vs.RGB or (f.color_family == vs.YUV and (f.subsampling_w, f.subsampling_h) in SUBSAMPLING):
        return interpolate(src, options), colour
    converted = from_rgb(interpolate(to_rgb(src, colour), options), src, colour)
    factor = options.whole_factor()
    if factor is None:
        return converted, colour
    new_frames = [converted.std.SelectEvery(factor, k) for k in range(1, factor)]
    return vs.core.std.Interleave([src, *new_frames], modify_duration=True), colour


FALLBACK_BELOW = 0.5   # model/safety.py's: a pixel "fell back" where trust is below this (kept free of torch here)


def trust_summary(mask: vs.VideoNode) -> vs.VideoNode:
    """The per-frame summary of the safety net on a clip made with ``mask=1`` (``interpolate(clip, mask=1)``,
    whose new frames show the trust map as grey): each new frame (ConvLSTMInterpolated=1) gets
    ConvLSTMTrust, the mean trust (1: the net's frame kept everywhere, 0: the blend taken everywhere), and
    ConvLSTMFallback, the share of its pixels whose trust is below 0.5. Source frames pass unchanged.
    Read from the first plane (R or Y, at the frame's _Range; YUV without one is limited)."""
    import numpy as np   # here, not at the top: `import convlstm` stays light

    fmt = mask.format
    peak = 1.0 if fmt.sample_type == vs.FLOAT else float((1 << fmt.bits_per_sample) - 1)

    def measure(n: int, f: vs.VideoFrame) -> vs.VideoFrame:   # ModifyFrame passes f by name
        frame = f
        if frame.props.get("ConvLSTMInterpolated", 0) != 1:
            return frame
        black, white = 0.0, peak
        if fmt.color_family == vs.YUV and fmt.sample_type == vs.INTEGER and frame.props.get("_Range", 1) == 1:
            black, white = float(16 << (fmt.bits_per_sample - 8)), float(235 << (fmt.bits_per_sample - 8))
        trust = np.clip((np.asarray(frame[0], dtype=np.float64) - black) / (white - black), 0.0, 1.0)
        out = frame.copy()
        out.props["ConvLSTMTrust"] = float(trust.mean())
        out.props["ConvLSTMFallback"] = float((trust < FALLBACK_BELOW).mean())
        return out

    return vs.core.std.ModifyFrame(mask, clips=mask, selector=measure)


def adapt(clip: vs.VideoNode, *, minutes: float | None = 3.0, steps: int | None = None, device: str = "auto",
          weights: str | None = None, out: str | Path | None = None) -> Path:
    """Fine-tunes a copy of ``weights`` (default: the bundled model) on the clip's own frames and returns
    the weights to use with it: the adapted checkpoint (written to ``out``, by default a cache folder,
    never beside the clip) when it beats the starting weights on windows held aside, else the starting
    weights' path. Use as ``Interpolate(clip, weights=str(path))``."""
    from .adapt.clip import adapt_clip   # here: `import convlstm` stays free of torch
    return adapt_clip(clip, minutes=minutes, steps=steps, device=device, weights=weights, out=out).path
