#!/usr/bin/env python3
"""Scrolling text, the screen content issue 28 names: a page of text scrolled at a steady speed, scored
by the evaluation protocol (``convlstm evaluate``: even frames in, odd frames predicted) against mvtools
and the blend.

Text is the hard case for a coarse-to-fine search: lines repeat every line pitch, so on the coarse levels
a scroll of a whole number of lines looks like no motion at all, and one of a line and a bit like a small
motion the other way. The clips are made here, lossless (FFV1), rendered in matplotlib's DejaVu fonts
(black on near-white, anti-aliased), 640x360 at 30 fps, 61 frames. The text is words drawn from a fixed
list by a seeded generator (the same page on every machine): code-like indented lines for the monospace
font, full lines of prose for the proportional one.

    code10   monospace 13 px (line pitch 17 px), 10 px a frame (20 px between the source frames)
    prose10  proportional 15 px (line pitch 20 px), 10 px a frame: the scroll is exactly one line
    code5    as code10, 5 px a frame
    code20   as code10, 20 px a frame

    python scripts/scroll_text.py [--out results/evaluation/scroll] [--clips DIR]
        [--methods convlstm,mvtools,blend]
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from matplotlib import font_manager
from PIL import Image, ImageDraw, ImageFont

from convlstm.evaluate.report import evaluate, write_per_frame_psnr
from convlstm.video import ffmpeg_exe

WIDTH, HEIGHT, FRAMES, FPS = 640, 360, 61, 30
CASES = {   # name: (font family, size px, px a frame)
    "code10": ("DejaVu Sans Mono", 13, 10),
    "prose10": ("DejaVu Sans", 15, 10),
    "code5": ("DejaVu Sans Mono", 13, 5),
    "code20": ("DejaVu Sans Mono", 13, 20),
}


WORDS = ("the motion of every pixel is searched directly; a trajectory through the new frame passes both "
         "source frames, and the vector that makes those two samples agree over a block wins. value = "
         "estimate(frames, t=0.5) # returns the field; if not found: raise ValueError(name) for k in range(4): "
         "window[k] = clip.get_frame(n + k) return interpolate(window, weights)").split()


def text_lines(count: int, mono: bool) -> list[str]:
    """``count`` lines of words from WORDS, the same on every machine (numpy's PCG64, seed 0)."""
    rng = np.random.default_rng(0)
    lines = []
    for _ in range(count):
        if mono:
            indent = "    " * int(rng.integers(0, 4))
            lines.append(indent + " ".join(rng.choice(WORDS, int(rng.integers(2, 12)))))
        else:
            lines.append(" ".join(rng.choice(WORDS, 16)))
    return lines


def page(lines: list[str], family: str, size: int) -> np.ndarray:
    """The whole page, (rows, WIDTH, 3) uint8, one line every 1.35 font sizes."""
    font = ImageFont.truetype(font_manager.findfont(family, fallback_to_default=False), size)
    pitch = int(size * 1.35)
    img = Image.new("RGB", (WIDTH, pitch * len(lines) + 20), (250, 250, 250))
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        draw.text((12, 10 + i * pitch), line, font=font, fill=(20, 20, 20))
    return np.asarray(img)


def write_clip(frames: list[np.ndarray], path: Path) -> None:
    proc = subprocess.Popen([ffmpeg_exe(), "-v", "error", "-nostdin", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24",
                             "-s", f"{WIDTH}x{HEIGHT}", "-r", str(FPS), "-i", "-", "-c:v", "ffv1",
                             "-pix_fmt", "yuv444p", str(path)], stdin=subprocess.PIPE)
    try:
        for f in frames:
            proc.stdin.write(np.ascontiguousarray(f).tobytes())
        proc.stdin.close()
    except BrokenPipeError:
        pass                     # ffmpeg stopped early: its exit status says so below
    if proc.wait():
        raise SystemExit(f"ffmpeg could not write {path}")


def make_clips(folder: Path) -> list[Path]:
    paths = []
    for name, (family, size, speed) in CASES.items():
        full = page(text_lines(120, "Mono" in family), family, size)
        need = HEIGHT + speed * (FRAMES - 1)
        if full.shape[0] < need:
            raise SystemExit(f"{name}: the page is {full.shape[0]} rows, the scroll needs {need}")
        path = folder / f"{name}.mkv"
        write_clip([full[k * speed:k * speed + HEIGHT] for k in range(FRAMES)], path)
        paths.append(path)
    return paths


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="results/evaluation/scroll")
    ap.add_argument("--clips", help="write the clips here and keep them (default: a temporary folder)")
    ap.add_argument("--methods", default="convlstm,mvtools,blend")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.clips or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        clips = make_clips(folder)
        results = evaluate([str(c) for c in clips], frames=FRAMES - 1, methods=methods, out_dir=args.out,
                           precision=args.precision)
    write_per_frame_psnr(results, Path(args.out) / "per_frame_psnr.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
