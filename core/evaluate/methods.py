"""The interpolators we measure: ours, the trivial baselines and the motion-compensated peers.

Each method turns the even frames of a source clip into predictions of the odd frames, as 8-bit RGB.
Methods of packages built on this one live with them and are passed in (adapt/method.py: convlstm-adapted).
mvtools and SVPFlow run on the source's own format (YUV) with the reference parameters (docs/design.md).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import vapoursynth as vs

from ..video import frames_of, to_rgb24


@dataclass
class Prediction:
    frames: np.ndarray   # (N-1, H, W, 3) uint8
    seconds: float       # wall time to produce them (output frames / seconds = fps)


class Unavailable(RuntimeError):
    """A method whose plugin is not installed."""


def even_clip(source: vs.VideoNode) -> vs.VideoNode:
    return source.std.SelectEvery(2, 0)


def _as_yuv(clip: vs.VideoNode, fmt: int = vs.YUV444P8) -> vs.VideoNode:
    """Motion-search plugins need YUV: RGB sources are converted (BT.709) and converted back afterwards."""
    if clip.format.color_family == vs.RGB:
        return clip.resize.Bicubic(format=fmt, matrix_s="709")
    return clip


def _odd_outputs(doubled: vs.VideoNode, count: int) -> Prediction:
    """Frames 1, 3, ... of a doubled clip, converted to RGB24."""
    odd = to_rgb24(doubled.std.SelectEvery(2, 1)).std.Trim(0, count - 1)
    t = time.perf_counter()
    frames = frames_of(odd, count)
    return Prediction(frames, time.perf_counter() - t)


def run_repeat(source: vs.VideoNode, even_rgb: np.ndarray, **_) -> Prediction:
    """Each even frame shown twice (what a frame-rate change without interpolation does)."""
    t = time.perf_counter()
    frames = frames_of(to_rgb24(even_clip(source)), len(even_rgb) - 1)
    return Prediction(frames, time.perf_counter() - t)


def run_blend(source: vs.VideoNode, even_rgb: np.ndarray, **_) -> Prediction:
    """std.Merge of neighbouring even frames in the source's own format (how the reference was measured)."""
    even = even_clip(source)
    merged = vs.core.std.Merge(even[:-1], even[1:], 0.5)
    odd = to_rgb24(merged)
    t = time.perf_counter()
    frames = frames_of(odd, len(even_rgb) - 1)
    return Prediction(frames, time.perf_counter() - t)


def run_convlstm(source: vs.VideoNode, even_rgb: np.ndarray, weights: str | None = None,
                 device: str = "auto", dedup: bool = False, precision: str | None = None, **_) -> Prediction:
    """Through the real plugin, as a user runs it (``precision``: the filter's option; None: its default)."""
    kwargs = {"device": device}
    if weights:
        kwargs["weights"] = str(weights)
    if precision:
        kwargs["precision"] = precision
    if dedup:
        kwargs["dedup"] = 1
    doubled = vs.core.convlstm.Interpolate(to_rgb24(even_clip(source)), **kwargs)
    return _odd_outputs(doubled, len(even_rgb) - 1)


def run_dedup(source: vs.VideoNode, even_rgb: np.ndarray, **kwargs) -> Prediction:
    """With dedup=1: repeated frames are no motion samples (evaluate --repeats holds pictures to test it)."""
    return run_convlstm(source, even_rgb, **{**kwargs, "dedup": True})


def run_full_rate(source: vs.VideoNode, even_rgb: np.ndarray, unheld: vs.VideoNode | None = None,
                  **kwargs) -> Prediction:
    """Ours on the clip before its pictures were held (evaluate --repeats): what dedup aims at."""
    return run_convlstm(source if unheld is None else unheld, even_rgb, **kwargs)


def mvtools_doubled(yuv: vs.VideoNode) -> vs.VideoNode:
    """mvtools at 2x with the reference settings: Super(pel=2), Analyse(blksize=16, overlap=8) both ways, FlowFPS."""
    core = vs.core
    if not hasattr(core, "mv"):
        raise Unavailable("mvtools is not installed (pip install 'vapoursynth-convlstm[compare]')")
    sup = core.mv.Super(yuv, pel=2)
    bv = core.mv.Analyse(sup, isb=True, blksize=16, overlap=8)
    fv = core.mv.Analyse(sup, isb=False, blksize=16, overlap=8)
    return core.mv.FlowFPS(yuv, sup, bv, fv, num=2 * yuv.fps.numerator, den=yuv.fps.denominator)


def svp_doubled(yuv: vs.VideoNode) -> vs.VideoNode:
    """SVPFlow at 2x with the reference settings ({gpu:0}, {}, {rate:{num:2,den:1},algo:13}) on YUV420P8."""
    core = vs.core
    if not (hasattr(core, "svp1") and hasattr(core, "svp2")):
        raise Unavailable("SVPFlow is not installed (pip install 'vapoursynth-convlstm[compare]')")
    if yuv.format.id != vs.YUV420P8:
        yuv = yuv.resize.Bicubic(format=vs.YUV420P8)
    sup = core.svp1.Super(yuv, "{gpu:0}")
    vectors = core.svp1.Analyse(sup["clip"], sup["data"], yuv, "{}")
    return core.svp2.SmoothFps(yuv, sup["clip"], sup["data"], vectors["clip"], vectors["data"],
                               "{rate:{num:2,den:1},algo:13}")


def run_mvtools(source: vs.VideoNode, even_rgb: np.ndarray, **_) -> Prediction:
    return _odd_outputs(mvtools_doubled(_as_yuv(even_clip(source))), len(even_rgb) - 1)


def run_svp(source: vs.VideoNode, even_rgb: np.ndarray, **_) -> Prediction:
    return _odd_outputs(svp_doubled(_as_yuv(even_clip(source), vs.YUV420P8)), len(even_rgb) - 1)


def run_paper(source: vs.VideoNode, even_rgb: np.ndarray, device: str = "auto", precision: str | None = None,
              **_) -> Prediction:
    """The paper's motion-free net as bundled (weights="paper"): the ablation of the motion model."""
    return run_convlstm(source, even_rgb, weights="paper", device=device, precision=precision)


METHODS: dict[str, Callable[..., Prediction]] = {
    "convlstm": run_convlstm, "paper": run_paper, "blend": run_blend, "repeat": run_repeat, "mvtools": run_mvtools,
    "svp": run_svp, "convlstm-dedup": run_dedup, "convlstm-full-rate": run_full_rate,
}
