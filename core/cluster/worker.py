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
from .chunks import Chunk


@dataclass(frozen=True)
class Job:
    """Everything a worker needs besides the piece: the same for all pieces of one input."""
    source: str
    factor: int
    device: str
    weights: str | None
    fp16: bool | None
    scales: int | None
    tile: int | None
    compile: bool | None
    codec: str
    crf: int
    assume_progressive: bool
    detail: float | None = None


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
    from ..cli.encode import encode
    from ..cli.interpolate import encode_plan, prepare_source

    start = time.perf_counter()
    prepared = prepare_source(Path(job.source), Fraction(job.factor), job.assume_progressive, cache_index=True)
    piece = prepared.clip.std.Trim(chunk.lo, chunk.hi)
    clip, colour = interpolate_source(piece, job.factor, job.device, job.weights, job.fp16, job.scales, job.tile,
                                      job.compile, detail=job.detail)
    first, last = chunk.outputs(job.factor)
    clip = clip.std.Trim(first, last)
    plan = encode_plan(prepared, None, "nut", job.codec, job.crf, colour, with_streams=False)   # exact time base
    out = Path(target)
    partial = out.with_name(f".{out.name}.{os.getpid()}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        encode(clip, fd, plan, report)
        os.close(fd)
        fd = -1
        os.replace(partial, out)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        partial.unlink(missing_ok=True)
        raise
    return PieceResult(chunk.index, str(out), file_sha256(out), clip.num_frames, time.perf_counter() - start,
                       f"{socket.gethostname()}:{os.getpid()}")
