"""Feeding a clip to the ffmpeg binary (y4m, or raw planar RGB) with what the source had besides its
picture: audio, subtitles, fonts, chapters, title, colour tags, aspect, HDR10 metadata, timestamps."""
from __future__ import annotations

import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import vapoursynth as vs

from ..colour import Colour
from ..timing import setpts_expression
from ..video import ffmpeg_exe
from .hdr import HdrMetadata
from .probe import TEXT_SUBTITLES, Probe

RAW_RGB = {8: "gbrp", 9: "gbrp9le", 10: "gbrp10le", 12: "gbrp12le", 14: "gbrp14le", 16: "gbrp16le"}
CRF_CODECS = {"libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1"}
WEBM_AUDIO = {"opus", "vorbis"}
SUBTITLE_CODEC = {"mp4": "mov_text", "mov": "mov_text", "webm": "webvtt"}   # text subtitles these containers take
TIMEBASE = 90000   # ticks per second for kept timestamps (Matroska rounds to ms, MP4 keeps these)
SPAN_MARGIN = 0.001   # s: a span's streams are cut this much before its first frame (twice the timestamps' fit)


def video_input_args(clip: vs.VideoNode) -> tuple[list[str], vs.VideoNode, bool]:
    """ffmpeg input options for how we will write ``clip``; RGB goes raw as G,B,R planes."""
    if clip.format.color_family != vs.RGB:
        return ["-f", "yuv4mpegpipe"], clip, True
    if clip.format.sample_type != vs.INTEGER or clip.format.bits_per_sample not in RAW_RGB:
        clip = clip.resize.Point(format=vs.RGB48)
    gbr = clip.std.ShufflePlanes([1, 2, 0], vs.RGB)
    fps = f"{clip.fps.numerator}/{clip.fps.denominator}" if clip.fps.numerator else "25"
    return (["-f", "rawvideo", "-pix_fmt", RAW_RGB[clip.format.bits_per_sample], "-s",
             f"{clip.width}x{clip.height}", "-r", fps], gbr, False)


@dataclass
class EncodePlan:
    """Everything about the output besides its frames: what comes from the source and how it is encoded."""
    container: str
    codec: str = "libx264"
    crf: int = 18
    source: Path | None = None              # audio, subtitles, fonts, chapters and the title come from here
    streams: Probe | None = None            # what the source holds (probe.probe)
    colour: Colour | None = None
    sar: tuple[int, int] | None = None      # sample aspect ratio of the source, when not square
    timestamps: list[float] | None = None   # per output frame (s), for variable-rate sources
    hdr: HdrMetadata | None = None
    copy_video: bool = False                # joining encoded pieces: the video is copied, not encoded
    preset: str | None = None               # the encoder's speed/size preset (x264/x265: medium)
    pix_fmt: str | None = None              # the encoded pixel format (default: the frames' own)
    audio_codec: str | None = None          # default: copied (Opus where WebM must)
    profile: str | None = None              # the encoder's profile (ProRes keeps the source's)
    video_delay: float = 0.0                # s from the file's start to its video's (kept: sound in sync;
                                            # place() turns it into timestamps for an encode)
    source_span: tuple[float, float] | None = None   # (from the file's start, length) s: the part kept
    # (the video is placed at its time on the file's clock, video_delay, and every stream cut there)

    def place(self, frames: int, fps: float) -> None:
        """Puts an encoded video that starts after the file's start (``video_delay``) at its exact time: as
        timestamps of its own (a constant rate from there), since an input offset would be rounded to the
        frame grid. A variable rate's timestamps are on the file's clock already."""
        if self.video_delay and self.timestamps is None and not self.copy_video and fps > 0:
            self.timestamps = [self.video_delay + k / fps for k in range(frames)]
        if self.timestamps is not None:
            self.video_delay = 0.0

    @property
    def notes(self) -> list[str]:
        """What could not be carried as it was, for the user."""
        return self._streams()[1] + self._codec()[1]

    def stream_args(self) -> list[str]:
        """Maps and codecs for the source's other streams, as far as the container can hold them."""
        return self._streams()[0]

    def codec_args(self) -> list[str]:
        return self._codec()[0]

    def _streams(self) -> tuple[list[str], list[str]]:
        notes: list[str] = []
        if self.source is None or self.container == "yuv4mpegpipe":   # y4m holds video only
            return [], notes
        audio = self.audio_codec or "copy"
        audios = self.streams.of("Audio") if self.streams else []
        if self.audio_codec is None and self.container == "webm" and any(a.codec not in WEBM_AUDIO for a in audios):
            audio = "libopus"   # WebM takes Opus and Vorbis only
            notes.append("audio re-encoded to Opus: WebM holds only Opus or Vorbis (use .mkv to copy it)")
        args = ["-i", f"file:{Path(self.source).resolve()}", "-map", "0:v:0", "-map", "1:a?", "-c:a", audio,
                "-map_metadata", "1", "-map_chapters", "1"]   # file: so that a colon is not a protocol
        videos = self.streams.of("Video") if self.streams else []
        if len(videos) > 1:   # bestsource decodes the first; the others (angles, cover art) are not carried
            notes.append(f"{len(videos) - 1} more video stream(s) in the source left out: only the first is "
                         "interpolated")
        subtitles = self.streams.of("Subtitle") if self.streams else []
        if subtitles:
            text = [s for s in subtitles if s.codec in TEXT_SUBTITLES]
            if self.container in ("matroska", "nut"):
                args += ["-map", "1:s", "-c:s", "copy"]
            elif self.container in SUBTITLE_CODEC and text:
                for s in text:
                    args += ["-map", f"1:{s.index}"]
                args += ["-c:s", SUBTITLE_CODEC[self.container]]
                if len(text) < len(subtitles):
                    notes.append(f"{len(subtitles) - len(text)} picture subtitle track(s) left out: "
                                 f"{self.container} holds text subtitles only (use .mkv to keep them)")
            else:
                notes.append(f"{len(subtitles)} subtitle track(s) left out: {self.container} cannot hold "
                             "them (use .mkv to keep them)")
        if self.streams and self.streams.of("Attachment"):
            if self.container == "matroska":
                args += ["-map", "1:t?"]       # fonts of styled subtitles
            else:
                notes.append("attachments (fonts) left out: only .mkv holds them")
        return args, notes

    def output_args(self, scratch: Path) -> list[str]:
        """Everything after the video input: the source's streams, the filter chain (from a file in
        ``scratch``: a variable rate's expression can be long), the codecs."""
        args = self.stream_args()
        if self.source_span is not None:   # every stream cut at the span (the video starts there already): a
            # millisecond early, so that the span's first frame, placed within the timestamps' fit, stays in
            start, length = self.source_span
            args += ["-ss", f"{max(0.0, start - SPAN_MARGIN):.6f}", "-t", f"{length + SPAN_MARGIN:.6f}"]
        chain = self.filters()
        if chain is not None:
            script = Path(scratch) / "filters.txt"
            script.write_text(chain)
            args += ["-/filter:v", str(script)]
        return args + self.codec_args()

    def filters(self) -> str | None:
        """The video filter chain: timestamps, aspect, colour tags (none when the video is copied)."""
        if self.copy_video:
            return None
        chain = []
        if self.timestamps is not None:
            chain += [f"settb=1/{TIMEBASE}", f"setpts='{setpts_expression(self.timestamps)}'"]
        if self.sar is not None:
            chain.append(f"setsar={self.sar[0]}/{self.sar[1]}")
        if self.colour is not None and self.colour.ffmpeg_filter():
            chain.append(self.colour.ffmpeg_filter())
        return ",".join(chain) or None

    def _codec(self) -> tuple[list[str], list[str]]:
        notes: list[str] = []
        if self.copy_video:
            return ["-c:v", "copy", *(self.colour.ffmpeg_tags() if self.colour is not None else [])], notes
        codec = "rawvideo" if self.container == "yuv4mpegpipe" else self.codec   # y4m holds raw frames only
        args = ["-c:v", codec]
        if codec in CRF_CODECS:
            args += ["-crf", str(self.crf)]
        elif codec == "libtheora":   # no crf; its default is a fixed low bitrate
            args += ["-q:v", "8"]
        if self.preset is not None:
            args += ["-preset", self.preset]
        elif codec in ("libx264", "libx265"):
            args += ["-preset", "medium"]
        if self.pix_fmt is not None:
            args += ["-pix_fmt", self.pix_fmt]
        if self.profile is not None:
            args += ["-profile:v", self.profile]
        x265 = ["log-level=error"]
        if self.hdr is not None:
            if codec == "libx265":
                x265 += ["hdr10=1", self.hdr.x265()]
            elif codec == "libsvtav1":
                args += ["-svtav1-params", self.hdr.svtav1()]
            else:
                notes.append(f"HDR10 mastering-display and light-level metadata left out: {codec} cannot "
                             "write them (use --codec libx265)")
        if codec == "libx265":
            args += ["-x265-params", ":".join(x265)]
        if self.timestamps is not None:   # frames keep the given times: no rate grid, fine time base
            args += ["-fps_mode", "passthrough", "-enc_time_base", f"1/{TIMEBASE}"]
        if self.colour is not None:
            args += self.colour.ffmpeg_tags()
            if self.container in ("mp4", "mov") and "range" in self.colour.tagged:
                args += ["-movflags", "+write_colr"]   # else a range given alone is not written in the file
        return args, notes


def pix_fmt_of(clip: vs.VideoNode) -> str:
    """ffmpeg's name for the frames this module feeds it (planar YUV through y4m, planar RGB raw)."""
    f = clip.format
    if f.color_family == vs.RGB:
        return RAW_RGB.get(f.bits_per_sample if f.sample_type == vs.INTEGER else 16, "gbrp16le")
    chroma = {(0, 0): "444", (1, 0): "422", (1, 1): "420"}.get((f.subsampling_w, f.subsampling_h), "420")
    if f.color_family == vs.GRAY:
        return "gray" if f.bits_per_sample == 8 else f"gray{f.bits_per_sample}le"
    return f"yuv{chroma}p" + (f"{f.bits_per_sample}le" if f.bits_per_sample > 8 else "")


def preflight(clip: vs.VideoNode, plan: EncodePlan) -> None:
    """Refuses, before any frame is computed, an output ffmpeg would refuse: the same maps, codecs and
    muxer on one blank frame of the clip's size into a scratch file. Raises UsageError-worthy ValueError
    with ffmpeg's own reason."""
    in_args = ["-f", "lavfi", "-i", f"color=c=black:s={clip.width}x{clip.height}:r=25:d=0.1,format={pix_fmt_of(clip)}"]
    with tempfile.TemporaryDirectory(prefix="convlstm-") as scratch:
        extension = {"matroska": "mkv", "yuv4mpegpipe": "y4m", "mpegts": "ts"}.get(plan.container, plan.container)
        target = Path(scratch) / f"check.{extension}"
        args = [*in_args, *plan.output_args(Path(scratch)), "-frames:v", "1", "-t", "0.1", "-f", plan.container,
                str(target)]
        run = subprocess.run([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", *args], capture_output=True,
                             text=True, errors="replace", timeout=120)
    if run.returncode != 0:
        raise ValueError(f"ffmpeg cannot write this output: {ffmpeg_reason(run.stderr)}")


def _concat_quoted(path: Path) -> str:
    """A path as ffmpeg's concat list takes it: single-quoted, a quote written '\\''."""
    return "'" + str(path.resolve()).replace("'", "'\\''") + "'"


def join(pieces: list[tuple[Path, float]], output_fd: int, plan: EncodePlan) -> None:
    """Pieces (path, duration in s) encoded alike, joined without re-encoding (ffmpeg's concat), with the
    source's other streams. Each piece's duration is stated: the demuxer would otherwise take last minus
    first timestamp and lose a frame's length at every join."""
    with tempfile.TemporaryDirectory(prefix="convlstm-") as scratch:
        listing = Path(scratch) / "pieces.ffconcat"
        listing.write_text("ffconcat version 1.0\n" + "".join(f"file {_concat_quoted(p)}\nduration {d:.9f}\n"
                                                               for p, d in pieces))
        delay = ["-itsoffset", f"{plan.video_delay:.6f}"] if plan.video_delay else []   # copied: exact
        cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *delay, "-f", "concat", "-safe", "0", "-i", str(listing),
               *plan.output_args(Path(scratch)), "-f", plan.container, "-fd", str(output_fd), "fd:"]
        run = subprocess.run(cmd, capture_output=True, text=True, errors="replace", pass_fds=(output_fd,))
    if run.returncode != 0:
        raise RuntimeError(f"ffmpeg could not join the pieces: {ffmpeg_reason(run.stderr)}")


def encode(clip: vs.VideoNode, output_fd: int, plan: EncodePlan,
           progress: Callable[[int, int], None] | None = None) -> None:
    """Writes ``clip`` as ``plan.container`` into the open file ``output_fd`` through ffmpeg (no path: nothing
    in the folder can redirect the write); raises RuntimeError with ffmpeg's message on failure."""
    in_args, clip, y4m = video_input_args(clip)
    with tempfile.TemporaryDirectory(prefix="convlstm-") as scratch:
        cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *in_args, "-i", "-", *plan.output_args(Path(scratch)),
               "-f", plan.container, "-fd", str(output_fd), "fd:"]
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=(output_fd,))
        try:
            clip.output(proc.stdin, y4m=y4m, progress_update=progress)
            proc.stdin.close()
        except BrokenPipeError:
            pass
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        err = proc.stderr.read().decode(errors="replace")
        if proc.wait() != 0:
            raise RuntimeError(f"ffmpeg failed: {ffmpeg_reason(err)}")


GENERIC = ("Nothing was written into output file", "Conversion failed", "Error opening output file",
           "Error opening output files", "Error while opening encoder", "Error initializing output stream")


def ffmpeg_reason(stderr: str) -> str:
    """ffmpeg's own reason from its error output: the specific lines, not the closing generic ones."""
    lines = [line.strip() for line in stderr.strip().splitlines() if line.strip()]
    specific = [line for line in lines if not line.startswith(GENERIC)]
    return "; ".join((specific or lines)[:2]) or "no message"


class Progress:
    """tqdm bar over output frames, with output fps and ETA."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        from tqdm import tqdm
        self.bar = tqdm(total=total, unit="frame", dynamic_ncols=True, disable=not enabled)

    def __call__(self, current: int, total: int) -> None:
        self.bar.update(current - self.bar.n)

    def close(self) -> None:
        self.bar.close()
