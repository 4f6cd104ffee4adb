"""What an output file is: its container (from the extension), its video encoder, and what it keeps of the
source (``encode_plan``); refused before any work when it must not be written."""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import vapoursynth as vs

from ..colour import Colour
from ..errors import UsageError
from .encode import EncodePlan
from .hdr import HdrMetadata
from .probe import Probe, encoder_for
from .source import Prepared

log = logging.getLogger("convlstm")

# output extension -> ffmpeg muxer (the file is handed over as a descriptor, so ffmpeg cannot guess it)
CONTAINERS = {".mkv": "matroska", ".mka": "matroska", ".webm": "webm", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov",
              ".avi": "avi", ".ts": "mpegts", ".m2ts": "mpegts", ".mts": "mpegts", ".nut": "nut", ".flv": "flv",
              ".mxf": "mxf", ".ogv": "ogg", ".y4m": "yuv4mpegpipe"}
# containers that hold only some video codecs (others hold any this command writes)
CONTAINER_ENCODERS = {"webm": {"libvpx-vp9", "libvpx", "libsvtav1"},
                      "mp4": {"libx264", "libx265", "libsvtav1", "libvpx-vp9"},
                      "mpegts": {"libx264", "libx265"}, "avi": {"libx264", "ffv1"},
                      "flv": {"libx264"}, "mxf": {"libx264", "prores_ks", "dnxhd"},
                      "ogg": {"libtheora", "libvpx"}, "mov": {"libx264", "libx265", "prores_ks", "libsvtav1"}}


@dataclass(frozen=True)
class Encoding:
    """How the output is encoded: ``codec`` (an ffmpeg encoder, or auto: the input's family where the
    container holds it), ``crf`` (quality, for the encoders that take it), and ffmpeg's own names for the
    rest (checked by ffmpeg itself in the preflight, before any frame is computed)."""
    codec: str = "auto"
    crf: int = 18
    preset: str | None = None         # e.g. slow (x264/x265), 6 (SVT-AV1); default: the encoder's medium
    pix_fmt: str | None = None        # e.g. yuv420p10le; default: the frames' own (see encode_plan)
    audio_codec: str | None = None    # e.g. aac, libopus; default: copied
    profile: str | None = None        # the encoder's profile (not a flag: the ProRes source's, carried to pieces)

    def __post_init__(self) -> None:
        if not isinstance(self.crf, int) or isinstance(self.crf, bool) or not 0 <= self.crf <= 63:
            raise UsageError(f"--crf must be in 0..63, got {self.crf!r}")
        if not self.codec or not isinstance(self.codec, str):
            raise UsageError(f"--codec needs an ffmpeg encoder name or auto, got {self.codec!r}")
        if self.codec == "copy":
            raise UsageError("--codec copy cannot be used: the video has new frames, so it is encoded; name an "
                             "encoder (e.g. libx264, libx265, ffv1) or leave --codec auto")


def outputs_for(inputs: list[Path], out_dir: Path, ext: str) -> list[Path]:
    """OUT_DIR/<stem><ext> for every input (``ext`` with or without its dot); two inputs with one stem are
    an error, not an overwrite."""
    ext = ext if ext.startswith(".") else f".{ext}"
    outputs = [out_dir / f"{p.stem}{ext}" for p in inputs]
    seen: dict[Path, Path] = {}
    for src, out in zip(inputs, outputs):
        if out in seen:
            raise UsageError(f"{str(seen[out])!r} and {str(src)!r} would both write {str(out)!r}; rename one")
        seen[out] = src
    return outputs


# the encoder for a container that cannot hold the input's family (H.264 elsewhere)
FALLBACK = {"webm": "libvpx-vp9", "ogg": "libtheora"}


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


def pick_codec(codec: str, streams: Probe, container: str) -> str:
    """--codec auto: the input's family where the container holds it, else FALLBACK's (H.264 elsewhere)."""
    if codec != "auto":
        return codec
    family = encoder_for(streams.video_codec)
    allowed = CONTAINER_ENCODERS.get(container)
    if allowed is not None and family not in allowed:
        fallback = FALLBACK.get(container, "libx264")
        log.info("%s video cannot go into %s: encoding %s", streams.video_codec, container, fallback)
        return fallback
    return family


def encode_plan(prepared: Prepared, streams: Probe | None, container: str, encoding: Encoding,
                colour: Colour, with_streams: bool = True) -> EncodePlan:
    """What the output keeps of the source (see EncodePlan); ``with_streams=False``: the video alone."""
    first = prepared.first
    sar = (int(first.get("_SARNum", 1)), int(first.get("_SARDen", 1)))
    streams = streams or Probe()
    codec = pick_codec(encoding.codec, streams, container)
    # a variable rate's timestamps are the source's own: put on the file's clock (from its start), which its
    # sound keeps
    times, span, delay = prepared.timestamps, None, streams.video_delay if with_streams else 0.0
    if times is not None and with_streams and streams.start:
        times = [t - streams.start for t in times]
    if prepared.cut is not None:   # the span's video at its time in the file, then every stream cut there
        delay += prepared.cut[0]
        span = (delay, prepared.cut[1])
    return EncodePlan(container, codec, encoding.crf, prepared.path if with_streams else None,
                      streams if with_streams else None, colour,
                      sar if sar[0] > 0 and sar[1] > 0 and sar[0] != sar[1] else None, times,
                      HdrMetadata.from_props(first), preset=encoding.preset,
                      pix_fmt=encoding.pix_fmt or playable_pix_fmt(prepared, encoding, codec, container),
                      audio_codec=encoding.audio_codec,
                      profile=encoding.profile or (streams.video_profile if codec == "prores_ks" and
                                                   encoding.codec == "auto" else None),
                      video_delay=delay, source_span=span if with_streams else None)


PLAYERS = {"mp4", "mov"}   # containers people hand to browsers, TVs and phones


def playable_pix_fmt(prepared: Prepared, encoding: Encoding, codec: str, container: str) -> str | None:
    """H.264 chosen for a .mp4/.mov because the source's own codec cannot go there (e.g. ProRes 4:2:2
    10-bit) is written 8-bit 4:2:0, which players decode (High 4:2:2 10-bit they mostly do not); said."""
    fmt = prepared.clip.format
    if encoding.codec != "auto" or codec != "libx264" or container not in PLAYERS or fmt.color_family != vs.YUV:
        return None
    if (fmt.subsampling_w, fmt.subsampling_h) == (1, 1) and fmt.bits_per_sample == 8:
        return None
    log.warning("the output's H.264 is 8-bit 4:2:0 so that players take it (the source is %s); for its own depth "
                "and chroma pass --pix-fmt, or write .mkv", fmt.name)
    return "yuv420p"
