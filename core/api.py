"""``convlstm.interpolate``: the Python face of ``core.convlstm.Interpolate`` (same filter, same code)."""
from __future__ import annotations

from pathlib import Path

import vapoursynth as vs


def plugin_available() -> bool:
    return hasattr(vs.core, "convlstm")


def interpolate(clip: vs.VideoNode, weights: str | Path | None = None, device: str = "auto",
                fp16: bool | None = None) -> vs.VideoNode:
    """Doubles the frame rate of an RGB clip. See README for arguments."""
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
    return vs.core.convlstm.Interpolate(clip, **kwargs)
