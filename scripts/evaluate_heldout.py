#!/usr/bin/env python3
"""`convlstm evaluate` on the held-out set (scripts/fetch_heldout_clips.py), plus every frame's PSNR.

Runs exactly what the CLI's evaluate runs (same function, same arguments: 60 frames, even frames in, odd
frames predicted) and also writes per_frame_psnr.csv (clip, method, frame, psnr), so a clip's worst
frames can be read as numbers, not only from per_frame.png.

    python scripts/evaluate_heldout.py CLIP... [--methods convlstm,mvtools,blend] [--out results/evaluation/heldout8]
        [--precision fp32]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from convlstm.adapt.method import adapted_methods
from convlstm.evaluate.report import evaluate, write_per_frame_psnr


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="+")
    ap.add_argument("--methods", default="convlstm,mvtools,blend")
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--out", default="results/evaluation/heldout8")
    ap.add_argument("--precision", default="fp32", help="our methods' precision (default fp32, as the README's table)")
    args = ap.parse_args()
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results = evaluate(args.clips, frames=args.frames, methods=methods, out_dir=args.out,
                       extra_methods=adapted_methods(), precision=args.precision)
    write_per_frame_psnr(results, Path(args.out) / "per_frame_psnr.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
