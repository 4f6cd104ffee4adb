"""Feeding a clip to the ffmpeg binary (y4m, or raw planar RGB) with the source's audio and colour tags."""
from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Callable

import vapoursynth as vs

from ..colour import Colour
from ..video import ffmpeg_exe

RAW_RGB = {8: "gbrp", 9: "gbrp9le", 10: "gbrp10le", 12: "gbrp12le", 14: "gbrp14le", 16: "gbrp16le"}
CRF_CODECS = {"libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1"}


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


def encode(clip: vs.VideoNode, output_fd: int, container: str, audio_from: Path | None, colour: Colour | None,
           codec: str, crf: int, progress: Callable[[int, int], None] | None = None) -> None:
    """Writes ``clip`` as ``container`` into the open file ``output_fd`` through ffmpeg (no path: nothing in the
    folder can redirect the write); raises RuntimeError with ffmpeg's message on failure."""
    in_args, clip, y4m = video_input_args(clip)
    cmd = [ffmpeg_exe(), "-v", "error", "-nostdin", *in_args, "-i", "-"]
    if audio_from is not None and container != "yuv4mpegpipe":   # (y4m holds video only)
        # file: so that a name with a colon is not taken for a protocol
        cmd += ["-i", f"file:{Path(audio_from).resolve()}", "-map", "0:v:0", "-map", "1:a?", "-c:a", "copy"]
    if container == "yuv4mpegpipe":
        codec = "rawvideo"          # y4m holds raw frames only
    cmd += ["-c:v", codec]
    if codec in CRF_CODECS:
        cmd += ["-crf", str(crf)]
    if codec in ("libx264", "libx265"):
        cmd += ["-preset", "medium"]
    if colour is not None:
        cmd += colour.ffmpeg_tags()
    cmd += ["-f", container, "-fd", str(output_fd), "fd:"]
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
