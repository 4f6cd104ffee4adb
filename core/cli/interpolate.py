"""`convlstm interpolate IN OUT`: decode, interpolate, encode, keep the audio; never a half file.

The encoder writes into a partial file that this process creates itself (an unpredictable name, created
exclusively: nothing planted in the folder can be written through) and hands to ffmpeg as an open file
descriptor; only a finished encode is renamed to the output.
"""
from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..api import interpolate_source
from ..errors import InterpolateError, SourceError
from ..filter.arguments import MAX_FACTOR, check_factor
from ..video import open_source
from .encode import Progress, encode

# output extension -> ffmpeg muxer (the file is handed over as a descriptor, so ffmpeg cannot guess it)
CONTAINERS = {".mkv": "matroska", ".mka": "matroska", ".webm": "webm", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov",
              ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".nut": "nut", ".flv": "flv",
              ".mxf": "mxf", ".ogv": "ogg", ".y4m": "yuv4mpegpipe"}
PARTIAL = ".convlstm-partial"


class UsageError(ValueError):
    """A bad option or path, reported as one line."""


@dataclass
class Result:
    output: Path
    frames: int
    fps: float
    seconds: float


def partial_files(output: Path) -> list[Path]:
    """Partial files of runs writing ``output`` (left only by a run that was killed outright)."""
    return sorted(output.parent.glob(f".{output.stem}.*{PARTIAL}{output.suffix}"))


def check_output(src_path: Path, out_path: Path, force: bool) -> str:
    """Refuses what must not be written, before any work; returns the container."""
    if out_path.is_dir():
        raise UsageError(f"output {str(out_path)!r} is a folder; name a file in it, e.g. {str(out_path / 'out.mkv')!r}")
    if not out_path.suffix:
        raise UsageError(f"output {str(out_path)!r} needs a file extension (.mkv, .mp4, ...) to pick the container")
    container = CONTAINERS.get(out_path.suffix.lower())
    if container is None:
        raise UsageError(f"output extension {out_path.suffix!r} is not a container this command writes; use one of "
                         f"{', '.join(sorted(CONTAINERS))}")
    if not out_path.parent.is_dir():
        raise UsageError(f"output folder {str(out_path.parent)!r} does not exist")
    if out_path.exists() and src_path.exists() and os.path.samefile(src_path, out_path):
        raise UsageError(f"output {str(out_path)!r} is the input file; choose another name (--force does not "
                         "overwrite the input)")
    if (out_path.exists() or out_path.is_symlink()) and not force:
        raise UsageError(f"output {str(out_path)!r} exists; pass --force to overwrite")
    return container


def run(input: str | Path, output: str | Path, factor: int = 2, device: str = "auto", weights: str | None = None,
        fp16: bool | None = None, codec: str = "libx264", crf: int = 18, force: bool = False,
        progress: bool = True, scales: int | None = None) -> Result:
    src_path, out_path = Path(input), Path(output)
    container = check_output(src_path, out_path, force)
    if not 0 <= crf <= 63:
        raise UsageError(f"--crf must be in 0..63, got {crf}")
    try:
        check_factor(factor)
    except InterpolateError:
        raise UsageError(f"--factor must be above 1 and at most {MAX_FACTOR}, got {factor}") from None
    try:   # the partial file first: a folder we cannot write into fails before any decoding
        fd, name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.stem}.", suffix=PARTIAL + out_path.suffix)
    except OSError as exc:
        raise UsageError(f"cannot write into {str(out_path.parent)!r}: {exc.strerror}") from None
    tmp = Path(name)
    bar = None
    try:
        src = open_source(src_path)
        if src.num_frames < 2:
            raise SourceError(f"{str(src_path)!r} has {src.num_frames} frame(s); at least 2 are needed")
        clip, colour = interpolate_source(src, factor, device, weights, fp16, scales)
        bar = Progress(clip.num_frames, progress)
        start = time.perf_counter()
        encode(clip, fd, container, src_path, colour, codec, crf, bar)
        os.replace(tmp, out_path)   # renames over a planted link, never through it
    except BaseException:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:
            pass                    # a read-only or vanished folder: the error that got us here says more
        raise
    finally:
        os.close(fd)
        if bar is not None:
            bar.close()
    return Result(out_path, clip.num_frames, float(clip.fps), time.perf_counter() - start)
