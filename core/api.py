"""``convlstm.interpolate``: the Python face of ``core.convlstm.Interpolate`` (same filter, same code)."""
from __future__ import annotations

from pathlib import Path

import vapoursynth as vs


def plugin_available() -> bool:
    return hasattr(vs.core, "convlstm")


def interpolate(clip: vs.VideoNode, weights: str | Path | None = None, device: str = "auto",
                fp16: bool | None = None, factor: int | None = None, fps_num: int | None = None,
                fps_den: int | None = None, sc_threshold: float | None = None,
                scales: int | None = None) -> vs.VideoNode:
    """Raises the frame rate of an RGB clip (2x by default). See README for arguments."""
    if not isinstance(clip, vs.VideoNode):
        raise TypeError(f"convlstm.interpolate: clip must be a vapoursynth.VideoNode, got {type(clip).__name__}")
    if not plugin_available():
        raise vs.Error("convlstm.interpolate: the native plugin is not loaded; install the package with "
                       "`pip install .` (not editable) so it lands in vapoursynth/plugins/")
    kwargs: dict = {"device": device}
    if weights is not None:
        kwargs["weights"] = str(weights)
    if fp16 is not None:
        kwargs["fp16"] = int(bool(fp16))
    for key, value in (("factor", factor), ("fps_num", fps_num), ("fps_den", fps_den),
                       ("sc_threshold", sc_threshold), ("scales", scales)):
        if value is not None:
            kwargs[key] = value
    return vs.core.convlstm.Interpolate(clip, **kwargs)
