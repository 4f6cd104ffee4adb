"""What a file holds besides the picture: its streams and their codecs, read from ffmpeg's own listing.

The command line carries these into the output (audio, subtitles, fonts, chapters, the title) and picks
the video encoder by the input's codec family; there is no ffprobe in the bundled ffmpeg, so this reads the
``Stream #0:k`` lines that ``ffmpeg -i`` prints.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from ..video import ffmpeg_exe

STREAM = re.compile(r"^\s*Stream #0:(\d+)(?:\[[^\]]*\])?(?:\(([^)]*)\))?: (Video|Audio|Subtitle|Attachment|Data): "
                    r"([A-Za-z0-9_]+)")

# input codec -> the encoder of its family (the video keeps its kind: HEVC stays HEVC, ProRes stays ProRes)
ENCODER_FOR = {"h264": "libx264", "hevc": "libx265", "vp9": "libvpx-vp9", "vp8": "libvpx", "av1": "libsvtav1",
               "prores": "prores_ks", "mpeg2video": "libx264", "mpeg4": "libx264", "ffv1": "ffv1",
               "dnxhd": "dnxhd", "theora": "libtheora"}
# ffmpeg's names of ProRes profiles -> prores_ks' -profile:v numbers
PRORES_PROFILES = {"proxy": "0", "lt": "1", "standard": "2", "hq": "3", "4444": "4", "4444xq": "5", "xq": "5"}
TEXT_SUBTITLES = {"subrip", "srt", "ass", "ssa", "mov_text", "webvtt", "text"}


@dataclass
class Stream:
    index: int
    kind: str          # Video, Audio, Subtitle, Attachment, Data
    codec: str
    language: str = ""
    profile: str = ""  # as ffmpeg names it, e.g. "HQ" for ProRes
    start: float = 0.0  # its first timestamp, s (ffmpeg lists it where it is not 0)


@dataclass
class Probe:
    streams: list[Stream] = field(default_factory=list)
    chapters: int = 0
    start: float = 0.0    # the file's start: its earliest stream's first timestamp, s

    @property
    def video_delay(self) -> float:
        """How long after the file's start its (first) video stream starts, s: the offset that keeps the
        sound in sync when the video is written again from 0."""
        videos = self.of("Video")
        return max(0.0, videos[0].start - self.start) if videos else 0.0

    def of(self, kind: str) -> list[Stream]:
        return [s for s in self.streams if s.kind == kind]

    @property
    def video_codec(self) -> str | None:
        videos = self.of("Video")
        return videos[0].codec if videos else None

    @property
    def video_profile(self) -> str | None:
        """The first video stream's profile as prores_ks takes it (its number), for ProRes only."""
        videos = self.of("Video")
        if not videos or videos[0].codec != "prores":
            return None
        return PRORES_PROFILES.get(videos[0].profile.lower().replace(" ", ""))


def probe(path: str | Path) -> Probe:
    """The streams of ``path`` as ffmpeg lists them (an unreadable file: no streams)."""
    run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", f"file:{Path(path).resolve()}"],
                         capture_output=True, text=True, errors="replace")
    out = Probe()
    for line in run.stderr.splitlines():
        m = STREAM.match(line)
        if m:
            profile = re.match(r"\s*\(([^)]*)\)", line[m.end():])
            start = re.search(r", start (-?[\d.]+)", line)
            out.streams.append(Stream(int(m.group(1)), m.group(3), m.group(4), m.group(2) or "",
                                      profile.group(1) if profile else "", float(start.group(1)) if start else 0.0))
        elif line.strip().startswith("Duration:") and ", start: " in line:
            out.start = float(re.search(r", start: (-?[\d.]+)", line).group(1))
        elif re.match(r"^\s*Chapter #0:\d+", line):
            out.chapters += 1
    return out


def encoder_for(codec: str | None) -> str:
    """The encoder of the input's family (libx264 for anything else)."""
    return ENCODER_FOR.get(codec or "", "libx264")
