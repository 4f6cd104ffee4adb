"""One piece of one clip, on whichever machine Ray runs it: decode with context, interpolate, keep the
piece's own outputs, encode them into the piece's file (written under a partial name, renamed when
complete, so a killed worker never leaves a piece that looks finished)."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..checkpoint import file_sha256
from ..files.output import Encoding
from ..options import Options
from .chunks import Chunk


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the piece: the same for all pieces of one input."""
    source: str
    options: Options        # a whole factor (pieces are joined at a whole multiple of the rate)
    encoding: Encoding
    assume_progressive: bool

    @property
    def factor(self) -> int:
        return self.options.whole_factor()


@dataclass
class PieceResult:
    chunk: int
    path: str
    sha256: str
    frames: int
    seconds: float
    worker: str        # host:pid


def render_piece(job: Job, chunk: Chunk, target: str, report: Callable[[int, int], Any] | None = None) -> PieceResult:
    """Writes the outputs of ``chunk`` into ``target`` (NUT: its time base is the frame rate, so joined pieces
    keep exact timestamps; the job's codec); returns its hash."""
    from fractions import Fraction

    from ..api import interpolate_source
    from ..files.atomic import partial_file
    from ..files.encode import encode
    from ..files.output import encode_plan
    from ..files.source import prepare_source

    start = time.perf_counter()
    prepared = prepare_source(Path(job.source), Fraction(job.factor), job.assume_progressive, cache_index=True)
    piece = prepared.clip.std.Trim(chunk.lo, chunk.hi)
    clip, colour = interpolate_source(piece, job.options)
    first, last = chunk.outputs(job.factor)
    clip = clip.std.Trim(first, last)
    plan = encode_plan(prepared, None, "nut", job.encoding, colour, with_streams=False)   # exact time base
    out = Path(target)
    with partial_file(out) as partial:
        encode(clip, partial.fileno(), plan, report)
    return PieceResult(chunk.index, str(out), file_sha256(out), clip.num_frames, time.perf_counter() - start,
                       f"{socket.gethostname()}:{os.getpid()}")
