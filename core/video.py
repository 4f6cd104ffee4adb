"""Video files through VapourSynth: open with bestsource, convert to RGB and back with the clip's own
colour description, read frames as numpy, find the ffmpeg binary. Shared by the CLI, the evaluation,
the training data and assets/interpolate.vpy, so every route decodes a file the same way."""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import vapoursynth as vs

from .colour import MEASUREMENT_MATRIX, Colour
from .errors import SourceError


def open_source(path: str | Path, timecodes: str | Path | None = None, cache_index: bool = False) -> vs.VideoNode:
    """Decodes a video file with bestsource; a file that cannot be decoded is a SourceError. ``timecodes``:
    where bestsource writes every frame's timestamp (v2 timecodes; found while indexing, so free).
    ``cache_index``: keep bestsource's index in its cache folder, so the processes that open one file
    (cluster workers) index it once."""
    path = Path(path)
    if not path.is_file():
        if path.exists():
            raise SourceError(f"input {str(path)!r} is not a regular file (a folder, pipe, socket or device); "
                              "bestsource reads files: save the stream to a file first")
        raise SourceError(f"input {str(path)!r} does not exist")
    core = vs.core
    if not hasattr(core, "bs"):
        raise SourceError("the bestsource plugin is missing (pip install vapoursynth-bestsource)")
    try:
        extra = {} if timecodes is None else {"timecodes": str(timecodes)}
        clip = core.bs.VideoSource(source=str(path), cachemode=1 if cache_index else 0, **extra)
        clip.get_frame(0)
    except vs.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unknown error"
        raise SourceError(f"cannot decode {str(path)!r} as video: {first}") from None
    if clip.format is None or clip.width == 0:
        raise SourceError(f"{str(path)!r} changes format or size mid-stream; not supported")
    return clip


def colour_of(clip: vs.VideoNode, untagged_matrix: int | None = None) -> Colour:
    """The clip's colour description from its first frame (see Colour.from_props for unset values)."""
    return Colour.from_props(clip.get_frame(0).props, clip.width, clip.height,
                             clip.format.color_family == vs.RGB, untagged_matrix)


def to_rgb(clip: vs.VideoNode, colour: Colour, fmt: int = vs.RGBS) -> vs.VideoNode:
    """Any constant-format clip -> RGB (RGBS by default: float keeps the round trip exact)."""
    family = clip.format.color_family
    if family == vs.RGB:
        return clip.resize.Point(format=fmt) if clip.format.id != fmt else clip
    if family == vs.GRAY:
        grey = clip.resize.Point(format=vs.GRAYS, range_in=int(colour.full_range), range=1)
        rgb = grey.std.ShufflePlanes([0, 0, 0], vs.RGB)
        return rgb.resize.Point(format=fmt) if fmt != vs.RGBS else rgb
    return clip.resize.Bicubic(format=fmt, matrix_in=colour.matrix, range_in=int(colour.full_range),
                               transfer_in=colour.transfer, primaries_in=colour.primaries)


def from_rgb(rgb: vs.VideoNode, like: vs.VideoNode, colour: Colour) -> vs.VideoNode:
    """RGB back to ``like``'s format with the same colour description (rounded, not dithered)."""
    family = like.format.color_family
    if family == vs.RGB:
        return rgb.resize.Point(format=like.format.id) if rgb.format.id != like.format.id else rgb
    if family == vs.GRAY:
        return rgb.std.ShufflePlanes(0, vs.GRAY).resize.Point(format=like.format.id, range_in=1,
                                                              range=int(colour.full_range), dither_type="none")
    return rgb.resize.Bicubic(format=like.format.id, matrix=colour.matrix, range=int(colour.full_range),
                              transfer=colour.transfer, primaries=colour.primaries, dither_type="none")


def to_rgb24(clip: vs.VideoNode) -> vs.VideoNode:
    """8-bit RGB as measurements see it (untagged YUV read as MEASUREMENT_MATRIX)."""
    return to_rgb(clip, colour_of(clip, MEASUREMENT_MATRIX), vs.RGB24)


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
    """A file's first ``count`` frames as (N, H, W, 3) uint8 RGB (training data, validation, evaluation)."""
    return frames_of(to_rgb24(open_source(path)), count)


def ffmpeg_exe() -> str:
    """The ffmpeg binary inside imageio-ffmpeg, else one on the PATH."""
    try:
        import imageio_ffmpeg
        return imageio_ffmpeg.get_ffmpeg_exe()
    except Exception:
        exe = shutil.which("ffmpeg")
        if exe is None:
            raise RuntimeError("no ffmpeg binary: pip install imageio-ffmpeg or apt-get install ffmpeg") from None
        return exe
