"""A source file opened and checked before any frame is computed: at least 2 frames, progressive, and its
timing (a variable rate keeps its timestamps, which only a whole factor can do)."""
from __future__ import annotations

import logging
import math
import tempfile
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import vapoursynth as vs

from ..errors import SourceError, UsageError
from ..filter.formats import field_order
from ..timing import is_constant_rate, output_times, rate_range, read_timecodes
from ..video import open_source

log = logging.getLogger("convlstm")


@dataclass(frozen=True)
class Span:
    """The part of a source to interpolate: from ``start`` s for ``duration`` s (None: to the end), both on
    the video's own clock (0 = its first frame)."""
    start: float = 0.0
    duration: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and self.start >= 0):
            raise UsageError(f"--start must be a time at or after 0, got {self.start}")
        if self.duration is not None and not (math.isfinite(self.duration) and self.duration > 0):
            raise UsageError(f"--duration must be a positive time, got {self.duration}")


@dataclass
class Prepared:
    """A source opened and checked: the clip (its span only, when one was asked for), its first frame's
    props, its output timestamps (variable rate only: on the source's clock), and where the span lies:
    (seconds from the video's first frame to the span's, the span's length)."""
    path: Path
    clip: vs.VideoNode
    first: Mapping[str, Any]
    timestamps: list[float] | None
    cut: tuple[float, float] | None = None


def span_frames(times: list[float], span: Span, path: Path) -> tuple[int, int]:
    """The first and last source frame whose start lies in the span (times from the video's first frame)."""
    end = math.inf if span.duration is None else span.start + span.duration
    eps = 1e-6
    inside = [i for i, t in enumerate(times) if span.start - eps <= t < end - eps]
    if len(inside) < 2:
        raise UsageError(f"{str(path)!r} has {len(inside)} frame(s) from {span.start:g} s"
                         + ("" if span.duration is None else f" for {span.duration:g} s")
                         + f" (it lasts {times[-1]:.3f} s to its last frame); at least 2 are needed")
    return inside[0], inside[-1]


def source_timestamps(src: vs.VideoNode, times: list[float] | None, ratio: Fraction | None,
                      path: Path) -> list[float] | None:
    """The output's timestamps when the source's rate varies (None: it is constant, or its timestamps are
    not known, and it is written at its rate). A variable rate can be kept only by a whole factor; a target
    rate would assume a constant source."""
    if times is None or len(times) != src.num_frames or is_constant_rate(times, src.fps):
        return None
    low, high = rate_range(times)
    if ratio is None or ratio.denominator != 1:
        raise UsageError(f"{str(path)!r} has a variable frame rate ({low:.3f} to {high:.3f} fps): a target rate "
                         "or a fractional factor would place frames as if it were constant and drift from the "
                         "sound; use a whole --factor, which keeps every source frame at its own time")
    log.info("variable frame rate (%.3f to %.3f fps): keeping the source's timestamps", low, high)
    return output_times(times, ratio.numerator)


def refuse_interlaced(props: Mapping[str, Any], path: Path) -> None:
    order = field_order(int(props.get("_FieldBased", 0)))
    if order is not None:
        raise UsageError(
            f"{str(path)!r} is interlaced ({order}): interpolating its frames would comb the new ones. "
            f"Deinterlace it first, e.g. ffmpeg -i {str(path)!r} -vf bwdif -c:a copy progressive.mkv, or pass "
            "--assume-progressive if it is progressive footage flagged as interlaced")


def prepare_source(path: Path, ratio: Fraction | None, assume_progressive: bool = False,
                   cache_index: bool = False, span: Span | None = None) -> Prepared:
    """Opens (bestsource) and checks a source, keeping ``span`` of it. ``ratio``: the output's frames per
    source frame (None: a target rate)."""
    with tempfile.TemporaryDirectory(prefix="convlstm-") as scratch:
        timecodes = Path(scratch) / "timecodes.txt"
        try:
            src = open_source(path, timecodes, cache_index=cache_index)
        except SourceError as exc:
            if "timecode" not in str(exc).lower():
                raise
            src = open_source(path, cache_index=cache_index)   # it decodes; only its timestamps are unknown
            log.warning("%s: its frames' timestamps cannot be read (%s); taking its nominal constant rate, %.3f "
                        "fps", path.name, str(exc).split(": ")[-1], float(src.fps))
            timecodes = None
        if src.num_frames < 2:
            raise SourceError(f"{str(path)!r} has {src.num_frames} frame(s); at least 2 are needed")
        first = src.get_frame(0).props
        if "_Alpha" in first:   # attached per frame: written out, it would land in the picture's stream
            log.warning("%s has an alpha channel (transparency): the output keeps the picture without it",
                        path.name)
            src = src.std.RemoveFrameProps("_Alpha")
            first = src.get_frame(0).props
        if assume_progressive:
            src = src.std.SetFieldBased(0)
        else:
            refuse_interlaced(first, path)
        times = read_timecodes(timecodes) if timecodes is not None else None
        cut = None
        if span is not None:
            src, times, cut = keep_span(src, times, span, path)
            first = src.get_frame(0).props
        return Prepared(path, src, first, source_timestamps(src, times, ratio, path), cut)


def keep_span(src: vs.VideoNode, times: list[float] | None, span: Span,
              path: Path) -> tuple[vs.VideoNode, list[float] | None, tuple[float, float]]:
    """The span's frames, their timestamps (None where the file gave none) and where it lies: (seconds
    from the video's first frame to the span's, its length). Placed by the timestamps, else by the rate."""
    clock = times if times is not None and len(times) == src.num_frames else \
        [i / float(src.fps) for i in range(src.num_frames)] if src.fps > 0 else None
    if clock is None:
        raise UsageError(f"{str(path)!r} has neither timestamps nor a frame rate: --start/--duration cannot "
                         "place the span")
    lo, hi = span_frames([t - clock[0] for t in clock], span, path)
    cut = (clock[lo] - clock[0], clock[hi] - clock[lo] + (clock[hi] - clock[hi - 1]))
    return src.std.Trim(lo, hi), None if times is None else clock[lo:hi + 1], cut


def expand_inputs(items: list[str]) -> list[Path]:
    """Files as given, folders as the video files directly in them (sorted; folders inside them are not
    entered, and saying so); anything else is named as what it is."""
    from ..data.video_folder import VIDEO_SUFFIXES
    out: list[Path] = []
    for item in items:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_SUFFIXES)
            nested = sorted(f.name for f in p.iterdir() if f.is_dir())
            if nested:
                log.warning("%s: the folders inside it are not entered (%s); give them as inputs too",
                            item, ", ".join(nested[:5]) + (", ..." if len(nested) > 5 else ""))
            if not found:
                raise UsageError(f"folder {item!r} holds no video files")
            out += found
        elif p.is_file():
            out.append(p)
        elif p.exists():
            raise UsageError(f"input {item!r} is not a regular file (a pipe, socket or device); give a video file")
        else:
            raise UsageError(f"input {item!r} does not exist")
    return out
