#!/usr/bin/env python3
"""A quick quality check for daily work: every STEP-th predicted frame of the evaluation protocol, PSNR only.

The full evaluations (`convlstm evaluate`, scripts/evaluate_heldout.py) take minutes a clip set and run the
peers too; a change to the motion search or the safety net first wants to know, in a minute or two, which
clips moved and by how much. This predicts the same frames the protocol predicts (60 frames, even ones in,
odd ones scored; the filter's window schedule and scene-cut rule, protocol.predict_with_engine's), but only
every STEP-th, through the engine the filter builds (default weights, its default options), and prints each
clip's mean and the mean of all. The figures are not the evaluation's (a subset of its frames) and are only
comparable with runs of this script at the same STEP, precision and clips.

    python scripts/quick_check.py [CLIP...] [--step 4] [--precision bf16] [--per-frame] [--set motion.NAME=VALUE]

Without clips: the four evaluation clips and every clip under data/heldout (scripts/fetch_heldout_clips.py).
``--set`` assigns a module constant under convlstm.model (an experiment, never a result to report).
"""
from __future__ import annotations

import argparse
import ast
import importlib
import sys
import time
from pathlib import Path

import numpy as np
import torch

from convlstm.evaluate.clips import resolve_clip
from convlstm.evaluate.metrics import psnr
from convlstm.evaluate.protocol import RGB24, split_even_odd
from convlstm.filter.engine import Engine
from convlstm.filter.scenes import frame_at_cut, predict_within_scene
from convlstm.filter.schedule import clamped_window
from convlstm.options import DEFAULT_SC_THRESHOLD
from convlstm.video import frames_of, open_source, to_rgb24
from convlstm.checkpoint import load_weights

EVALUATION_CLIPS = ["core/assets/demo.mp4", "bikes", "bigbuckbunny", "carphone"]


def default_clips() -> list[str]:
    held = sorted(p for p in Path("data/heldout").glob("*/*") if p.name != "MANIFEST" and p.is_file())
    return EVALUATION_CLIPS + [str(p) for p in held]


def apply_setting(text: str) -> None:
    """``motion.NAME=VALUE``: sets convlstm.model.motion.NAME (VALUE a Python literal)."""
    target, value = text.split("=", 1)
    module, name = target.rsplit(".", 1)
    mod = importlib.import_module(f"convlstm.model.{module}")
    if not hasattr(mod, name):
        raise SystemExit(f"--set: convlstm.model.{module} has no {name}")
    setattr(mod, name, ast.literal_eval(value))


def clip_frames(name: str, frames: int) -> tuple[np.ndarray, np.ndarray]:
    source = open_source(resolve_clip(name))
    source = source.std.Trim(0, min(frames, source.num_frames) - 1)
    return split_even_odd(frames_of(to_rgb24(source)))


def check_clip(engine: Engine, name: str, frames: int, step: int) -> list[tuple[int, float]]:
    """(odd frame number, PSNR) of every ``step``-th predicted frame."""
    even, truth = clip_frames(name, frames)
    stack = RGB24.to_unit(torch.from_numpy(even).permute(0, 3, 1, 2))
    scores = []
    for i in range(0, len(even) - 1, step):
        pred, cuts = predict_within_scene(stack[list(clamped_window(i, len(even)))], 0.5,
                                          lambda w, t: engine.predict(w[None], t)[0], DEFAULT_SC_THRESHOLD)
        made = (frame_at_cut(even[i], even[i + 1], 0.5, "blend") if cuts[1]
                else RGB24.from_unit(pred).permute(1, 2, 0).cpu().numpy())
        scores.append((2 * i + 1, psnr(made, truth[i])))
    return scores


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--step", type=int, default=4)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--precision", default="bf16", choices=["fp32", "bf16"])
    ap.add_argument("--per-frame", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE")
    args = ap.parse_args()
    for s in args.set:
        apply_setting(s)
    torch.manual_seed(0)
    net, _ = load_weights(None)
    engine = Engine(net, torch.device("cpu"), precision=args.precision)
    means = []
    start = time.perf_counter()
    for name in args.clips or default_clips():
        scores = check_clip(engine, name, args.frames, args.step)
        means.append(float(np.mean([s for _, s in scores])))
        print(f"{Path(name).name:32s} {means[-1]:8.3f}", flush=True)
        if args.per_frame:
            print("   " + "  ".join(f"{f}:{s:.2f}" for f, s in scores), flush=True)
    print(f"{'ALL':32s} {np.mean(means):8.3f}   ({len(means)} clips, step {args.step}, {args.precision}, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
