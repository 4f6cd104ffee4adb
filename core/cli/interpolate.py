"""`convlstm interpolate IN OUT`: decode, interpolate, encode; keep what the file had (timing, aspect, colour
tags, HDR10 metadata, audio, subtitles, chapters, title, the codec's family); never a half file.

The encoder writes into a partial file that this process creates itself (an unpredictable name, created
exclusively: nothing planted in the folder can be written through) and hands to ffmpeg as an open file
descriptor; only a finished encode is renamed to the output.
"""
from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Mapping

import vapoursynth as vs

from ..api import interpolate_source
from ..colour import Colour
from ..errors import InterpolateError, SourceError
from ..filter.arguments import MAX_FACTOR, check_factor
from ..timing import is_constant_rate, output_times, rate_range, read_timecodes
from ..video import open_source
from .encode import EncodePlan, Progress, encode, preflight
from .hdr import HdrMetadata
from .probe import Probe, encoder_for, probe

log = logging.getLogger("convlstm")

# output extension -> ffmpeg muxer (the file is handed over as a descriptor, so ffmpeg cannot guess it)
CONTAINERS = {".mkv": "matroska", ".mka": "matroska", ".webm": "webm", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov",
              ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".nut": "nut", ".flv": "flv",
              ".mxf": "mxf", ".ogv": "ogg", ".y4m": "yuv4mpegpipe"}
PARTIAL = ".convlstm-partial"
# containers that hold only some video codecs (others hold any this command writes)
CONTAINER_ENCODERS = {"webm": {"libvpx-vp9", "libvpx", "libsvtav1"},
                      "mp4": {"libx264", "libx265", "libsvtav1", "libvpx-vp9"},
                      "mpegts": {"libx264", "libx265"}, "avi": {"libx264", "ffv1"},
                      "flv": {"libx264"}, "mxf": {"libx264", "prores_ks", "dnxhd"},
                      "ogg": {"libvpx"}, "mov": {"libx264", "libx265", "prores_ks", "libsvtav1"}}


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


NTSC_RATES = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "47.952": Fraction(48000, 1001),
              "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}


def parse_rate(text: str, what: str) -> Fraction:
    """'60000/1001', '60', '59.94' (the NTSC decimals mean their /1001 rates) -> a positive Fraction."""
    try:
        value = NTSC_RATES.get(text.strip()) or Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{what} must be a number or a fraction such as 60000/1001, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    return value


def rate_args(factor: str | int | None, fps: str | None) -> tuple[Fraction | None, dict[str, int]]:
    """--factor N or N/D, or --fps: the filter's own arguments (factor, factor_num/den or fps_num/den)."""
    if factor is not None and fps is not None:
        raise UsageError("give --factor or --fps, not both")
    if fps is not None:
        rate = parse_rate(fps, "--fps")
        return None, {"fps_num": rate.numerator, "fps_den": rate.denominator}
    ratio = parse_rate(str(factor if factor is not None else 2), "--factor")
    try:
        check_factor(ratio)
    except InterpolateError:
        raise UsageError(f"--factor must be above 1 and at most {MAX_FACTOR}, got {factor}") from None
    if ratio.denominator == 1:
        return ratio, {"factor": ratio.numerator}
    return ratio, {"factor_num": ratio.numerator, "factor_den": ratio.denominator}


def source_timestamps(src: vs.VideoNode, timecodes: Path, ratio: Fraction | None, path: Path) -> list[float] | None:
    """The output's timestamps when the source's rate varies (None: it is constant, written at its rate).
    A variable rate can be kept only by a whole factor; a target rate would assume a constant source."""
    times = read_timecodes(timecodes)
    if len(times) != src.num_frames or is_constant_rate(times, src.fps):
        return None
    low, high = rate_range(times)
    if ratio is None or ratio.denominator != 1:
        raise UsageError(f"{str(path)!r} has a variable frame rate ({low:.3f} to {high:.3f} fps): a target rate "
                         "or a fractional factor would place frames as if it were constant and drift from the "
                         "sound; use a whole --factor, which keeps every source frame at its own time")
    log.info("variable frame rate (%.3f to %.3f fps): keeping the source's timestamps", low, high)
    return output_times(times, ratio.numerator)


def check_progressive(props: Mapping[str, Any], path: Path, assume_progressive: bool) -> None:
    field_based = int(props.get("_FieldBased", 0))
    if field_based > 0 and not assume_progressive:
        order = "top" if field_based == 2 else "bottom"
        raise UsageError(
            f"{str(path)!r} is interlaced ({order} field first): interpolating its frames would comb the new ones. "
            f"Deinterlace it first, e.g. ffmpeg -i {str(path)!r} -vf bwdif -c:a copy progressive.mkv, or pass "
            "--assume-progressive if it is progressive footage flagged as interlaced")


def pick_codec(codec: str, streams: Probe, container: str) -> str:
    """--codec auto: the input's family where the container holds it, else H.264 (VP9 for .webm)."""
    if codec != "auto":
        return codec
    family = encoder_for(streams.video_codec)
    allowed = CONTAINER_ENCODERS.get(container)
    if allowed is not None and family not in allowed:
        fallback = "libvpx-vp9" if container == "webm" else "libx264"
        log.info("%s video cannot go into %s: encoding %s", streams.video_codec, container, fallback)
        return fallback
    return family


@dataclass
class Prepared:
    """A source opened and checked: the clip, its first frame's props, its output timestamps (variable
    rate only)."""
    path: Path
    clip: vs.VideoNode
    first: Mapping[str, Any]
    timestamps: list[float] | None


def prepare_source(path: Path, ratio: Fraction | None, assume_progressive: bool = False,
                   cache_index: bool = False) -> Prepared:
    """Opens (bestsource) and checks a source: at least 2 frames, progressive, its timing."""
    with tempfile.TemporaryDirectory(prefix="convlstm-") as scratch:
        timecodes = Path(scratch) / "timecodes.txt"
        src = open_source(path, timecodes, cache_index=cache_index)
        if src.num_frames < 2:
            raise SourceError(f"{str(path)!r} has {src.num_frames} frame(s); at least 2 are needed")
        first = src.get_frame(0).props
        check_progressive(first, path, assume_progressive)
        if assume_progressive:
            src = src.std.SetFieldBased(0)
        return Prepared(path, src, first, source_timestamps(src, timecodes, ratio, path))


def encode_plan(prepared: Prepared, streams: Probe | None, container: str, codec: str, crf: int,
                colour: Colour, with_streams: bool = True) -> EncodePlan:
    """What the output keeps of the source (see EncodePlan); ``with_streams=False``: the video alone."""
    first = prepared.first
    sar = (int(first.get("_SARNum", 1)), int(first.get("_SARDen", 1)))
    return EncodePlan(container, pick_codec(codec, streams or Probe(), container), crf,
                      prepared.path if with_streams else None, streams if with_streams else None, colour,
                      sar if sar[0] > 0 and sar[1] > 0 and sar[0] != sar[1] else None, prepared.timestamps,
                      HdrMetadata.from_props(first))


def run(input: str | Path, output: str | Path, factor: str | int | None = None, device: str = "auto",
        weights: str | None = None, fp16: bool | None = None, codec: str = "auto", crf: int = 18,
        force: bool = False, progress: bool = True, scales: int | None = None, fps: str | None = None,
        assume_progressive: bool = False, tile: int | None = None, compile: bool | None = None,
        detail: float | None = None) -> Result:
    src_path, out_path = Path(input), Path(output)
    container = check_output(src_path, out_path, force)
    if not 0 <= crf <= 63:
        raise UsageError(f"--crf must be in 0..63, got {crf}")
    ratio, rate = rate_args(factor, fps)
    try:   # the partial file first: a folder we cannot write into fails before any decoding
        fd, name = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.stem}.", suffix=PARTIAL + out_path.suffix)
    except OSError as exc:
        raise UsageError(f"cannot write into {str(out_path.parent)!r}: {exc.strerror}") from None
    tmp = Path(name)
    bar = None
    try:
        prepared = prepare_source(src_path, ratio, assume_progressive)
        streams = probe(src_path)
        factor_arg = rate.pop("factor", None)
        clip, colour = interpolate_source(prepared.clip, factor_arg, device, weights, fp16, scales, tile, compile,
                                          detail=detail, **rate)
        plan = encode_plan(prepared, streams, container, codec, crf, colour)
        try:
            preflight(clip, plan)    # before any frame is computed
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        bar = Progress(clip.num_frames, progress)
        start = time.perf_counter()
        encode(clip, fd, plan, bar)
        for note in plan.notes:
            log.warning("%s", note)
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
