"""One file in, one file out: decode, interpolate, encode; keep what the file had (timing, aspect, colour
tags, HDR10 metadata, audio, subtitles, chapters, title, the codec's family); never a half file (the
encoder writes into a partial file, files/atomic.py, renamed when complete)."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from ..api import interpolate_source
from ..errors import UsageError
from ..options import Options
from .atomic import UnwritableFolder, partial_file, partial_files
from .encode import Progress, encode, preflight
from .output import Encoding, check_output, encode_plan
from .probe import probe
from .source import Span, prepare_source

log = logging.getLogger("convlstm")


@dataclass
class Result:
    output: Path
    frames: int
    fps: float              # the rate, or the average rate of a variable-rate output
    seconds: float
    variable: bool = False  # the output keeps the source's variable frame rate

    def describe(self) -> str:
        rate = f"a variable rate (average {self.fps:.3f} fps)" if self.variable else f"{self.fps:.3f} fps"
        return (f"wrote {self.output}: {self.frames} frames at {rate} in {self.seconds:.1f} s "
                f"({self.frames / max(self.seconds, 1e-9):.1f} frames/s)")


def interpolate_file(input: str | Path, output: str | Path, options: Options = Options(),
                     encoding: Encoding = Encoding(), *, force: bool = False, progress: bool = True,
                     assume_progressive: bool = False, span: Span | None = None) -> Result:
    """``input`` at the rate ``options`` ask for, written to ``output`` (its extension picks the container);
    ``span``: only that part of it (its sound and subtitles cut alike)."""
    src_path, out_path = Path(input), Path(output)
    container = check_output(src_path, out_path, force)
    left = partial_files(out_path)
    if left:
        log.warning("partial file(s) of an earlier run that was killed are left beside the output and not used: "
                    "%s; remove them", ", ".join(p.name for p in left))
    ratio = None if options.gives_rate else options.ratio(None)
    bar = None
    try:   # the partial file first: a folder we cannot write into fails before any decoding
        with partial_file(out_path, replace=force) as partial:
            prepared = prepare_source(src_path, ratio, assume_progressive, span=span)
            streams = probe(src_path)
            clip, colour = interpolate_source(prepared.clip, options)
            plan = encode_plan(prepared, streams, container, encoding, colour)
            plan.place(clip.num_frames, float(clip.fps))
            try:
                preflight(clip, plan)    # before any frame is computed
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            bar = Progress(clip.num_frames, progress)
            start = time.perf_counter()
            encode(clip, partial.fileno(), plan, bar)
            for note in plan.notes:
                log.warning("%s", note)
    except UnwritableFolder as exc:
        raise UsageError(exc.strerror) from None
    finally:
        if bar is not None:
            bar.close()
    times = prepared.timestamps
    variable = times is not None and len(times) > 1
    fps = (len(times) - 1) / (times[-1] - times[0]) if variable and times[-1] > times[0] else float(clip.fps)
    return Result(out_path, clip.num_frames, fps, time.perf_counter() - start, variable)
