"""`convlstm interpolate IN OUT`: decode, interpolate, encode, keep the audio; never a half file."""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


from ..api import interpolate_source
from ..errors import InterpolateError, SourceError
from ..filter.arguments import MAX_FACTOR, check_factor
from ..video import open_source
from .encode import Progress, encode


class UsageError(ValueError):
    """A bad option or path, reported as one line."""


@dataclass
class Result:
    output: Path
    frames: int
    fps: float
    seconds: float


def partial_path(output: Path) -> Path:
    """Where ffmpeg writes until the run completes (same suffix so the container is the same)."""
    return output.with_name(f".{output.stem}.convlstm-partial{output.suffix}")


def run(input: str | Path, output: str | Path, factor: int = 2, device: str = "auto", weights: str | None = None,
        fp16: bool | None = None, codec: str = "libx264", crf: int = 18, force: bool = False,
        progress: bool = True, scales: int | None = None) -> Result:
    src_path, out_path = Path(input), Path(output)
    if out_path.exists() and not force:
        raise UsageError(f"output {str(out_path)!r} exists; pass --force to overwrite")
    if not out_path.suffix:
        raise UsageError(f"output {str(out_path)!r} needs a file extension (.mkv, .mp4, ...) to pick the container")
    if not out_path.parent.is_dir():
        raise UsageError(f"output folder {str(out_path.parent)!r} does not exist")
    if not 0 <= crf <= 63:
        raise UsageError(f"--crf must be in 0..63, got {crf}")
    try:
        check_factor(factor)
    except InterpolateError:
        raise UsageError(f"--factor must be above 1 and at most {MAX_FACTOR}, got {factor}") from None
    src = open_source(src_path)
    if src.num_frames < 2:
        raise SourceError(f"{str(src_path)!r} has {src.num_frames} frame(s); at least 2 are needed")
    clip, colour = interpolate_source(src, factor, device, weights, fp16, scales)
    tmp = partial_path(out_path)
    bar = Progress(clip.num_frames, progress)
    start = time.perf_counter()
    try:
        encode(clip, tmp, src_path, colour, codec, crf, bar)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    finally:
        bar.close()
    os.replace(tmp, out_path)
    return Result(out_path, clip.num_frames, float(clip.fps), time.perf_counter() - start)
