"""PSNR of the new frame on a synthetic camera pan, by motion size: how far does the motion search reach?

A still photo (scikit-image's astronaut, enlarged) cropped at whole-px camera offsets: frames I1..I4 a
pan of N px apart, the truth halfway between I2 and I3. Scored: the two middle frames brought to t = 0.5 by
the block-matching search (given I1 and I4 for the frame's edges, as the net gives them) and averaged ("mc"), the bundled model ("net") and mvtools at its reference
settings, each on the whole frame ("full") and where both middle frames see the picture ("inner": N/2 px
cut on each side; the pan's leading and trailing strips are seen by one frame only).

    python scripts/pan_reach.py 640x360:20 640x360:80 640x360:160 320x180:80 --json pans.json
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch
import vapoursynth as vs

from convlstm.checkpoint import load_weights
from convlstm.evaluate.methods import _as_yuv, mvtools_doubled
from convlstm.evaluate.metrics import psnr
from convlstm.filter.engine import Engine
from convlstm.model.motion import estimate_motion, warp_to
from convlstm.video import frames_of, to_rgb24


def pan(width: int, height: int, step: int) -> list[np.ndarray]:
    """Seven frames half a step apart: 0, 2, 4, 6 are I1..I4, 3 the truth between I2 and I3."""
    from skimage import data
    from skimage.transform import resize
    img = data.astronaut()[..., :3]
    s = max((width + 3 * step + 8) / img.shape[1], (height + 8) / img.shape[0])
    size = (int(img.shape[0] * s) + 1, int(img.shape[1] * s) + 1)
    big = (resize(img, size, order=3, anti_aliasing=True) * 255).round().astype(np.uint8)
    y0 = (big.shape[0] - height) // 2
    return [big[y0:y0 + height, k * step // 2: k * step // 2 + width] for k in range(7)]


def clip_of(frames: list[np.ndarray]) -> vs.VideoNode:
    h, w = frames[0].shape[:2]
    blank = vs.core.std.BlankClip(width=w, height=h, format=vs.RGB24, length=len(frames), fpsnum=24, fpsden=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.asarray(out[p])[:] = frames[n][..., p]
        return out
    return vs.core.std.ModifyFrame(blank, blank, fill)


def u8(x: torch.Tensor) -> np.ndarray:
    return (x.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("cases", nargs="+", help="WIDTHxHEIGHT:STEP, e.g. 640x360:80 (px of pan between frames)")
    ap.add_argument("--json", help="write the figures here")
    args = ap.parse_args()
    engine = Engine(load_weights(None)[0], torch.device("cpu"), precision="fp32")
    out = {}
    for case in args.cases:
        size, step = case.split(":")
        w, h = map(int, size.split("x"))
        step = int(step)
        fr = pan(w, h, step)
        truth = fr[3]
        inner = (slice(None), slice(step // 2, w - step // 2))
        seq = torch.from_numpy(np.stack([fr[0], fr[2], fr[4], fr[6]])).permute(0, 3, 1, 2).float()[None] / 255
        start = time.perf_counter()
        v = estimate_motion(seq[:, 1], seq[:, 2], outer=(seq[:, 0], seq[:, 3]))
        seconds = time.perf_counter() - start
        mc = warp_to(seq, v)
        est = u8(0.5 * (mc[0, 1] + mc[0, 2]))
        with torch.no_grad():
            net = u8((engine.predict(seq[0][None] * 2 - 1)[0] + 1) / 2)
        mv = frames_of(to_rgb24(mvtools_doubled(_as_yuv(clip_of([fr[0], fr[2], fr[4], fr[6]]))).std.SelectEvery(2, 1)), 3)[1]
        blend = ((fr[2].astype(int) + fr[4] + 1) // 2).astype(np.uint8)
        row = {"median_vx": v[0, 0, h // 4:-h // 4, w // 4:-w // 4].median().item(), "search_s": seconds,
               "mc_inner": psnr(est[inner], truth[inner]), "mc_full": psnr(est, truth),
               "net_inner": psnr(net[inner], truth[inner]), "net_full": psnr(net, truth),
               "mvtools_inner": psnr(mv[inner], truth[inner]), "mvtools_full": psnr(mv, truth),
               "blend_full": psnr(blend, truth)}
        out[case] = row
        print(case, " ".join(f"{k}={x:.2f}" for k, x in row.items()), flush=True)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


if __name__ == "__main__":
    main()
