#!/usr/bin/env python3
"""A quick quality check for daily work: every STEP-th predicted frame of the evaluation protocol, PSNR only.

The full evaluations (`convlstm evaluate`, scripts/evaluate_heldout.py) take minutes a clip set and run the
peers too; a change to the motion search or the safety net first wants to know, in a minute or two, which
clips moved and by how much. This predicts the same frames the protocol predicts (60 frames, even ones in,
odd ones scored; the filter's window schedule and scene-cut rule, protocol.predict_with_engine's), but only
every STEP-th, through the engine the filter builds (default weights, its default options), and prints each
clip's mean and the mean of all. The figures are not the evaluation's (a subset of its frames) and are only
comparable with runs of this script at the same STEP, precision and clips.

    python scripts/quick_check.py [CLIP...] [--step 4] [--precision auto] [--per-frame] [--set motion.NAME=VALUE]

Without clips: the four evaluation clips and every clip under the repository's data/heldout
(scripts/fetch_heldout_clips.py; without them it stops, as its means would not compare). ``--precision
auto``: the filter's choice (bf16 on a CPU with native bf16). ``--set`` assigns an UPPER_CASE constant of a
module under convlstm.model, a Python literal of its type (an experiment, never a result to report); one
that a function took as a default argument (motion.BLOCK) is not changed there.
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

from convlstm.checkpoint import load_weights
from convlstm.evaluate.clips import EVAL_CLIPS, resolve_clip
from convlstm.evaluate.metrics import psnr
from convlstm.evaluate.protocol import predict_with_engine, split_even_odd
from convlstm.filter.engine import Engine, cpu_bf16
from convlstm.video import frames_of, open_source, to_rgb24

HELD_OUT = Path(__file__).resolve().parents[1] / "data" / "heldout"


def default_clips() -> list[str]:
    held = sorted(str(p) for p in HELD_OUT.glob("*/*") if p.is_file())
    if not held:
        raise SystemExit(f"quick_check: no held-out clips under {HELD_OUT}: run scripts/fetch_heldout_clips.py, "
                         "or name the clips")
    return ["demo", *EVAL_CLIPS] + held


def apply_setting(text: str) -> None:
    """``MODULE.NAME=VALUE``: sets convlstm.model.MODULE.NAME, an UPPER_CASE constant, to VALUE (a Python
    literal of the constant's type)."""
    target, equals, value = text.partition("=")
    module, _, name = target.rpartition(".")
    try:
        mod = importlib.import_module(f"convlstm.model.{module}")
        old, new = getattr(mod, name), ast.literal_eval(value)
    except (ImportError, AttributeError, ValueError, SyntaxError) as exc:
        raise SystemExit(f"--set {text!r}: {exc}; expected MODULE.NAME=VALUE, e.g. motion.RIVAL_SHARE=0.5")
    if not equals or not name.isupper() or not isinstance(new, type(old)):
        raise SystemExit(f"--set {text!r}: NAME must be an UPPER_CASE constant and VALUE of its type "
                         f"({type(old).__name__}, now {old!r})")
    setattr(mod, name, new)


def clip_frames(name: str, frames: int) -> tuple[np.ndarray, np.ndarray]:
    """The protocol's even frames (input) and odd frames (truth) of a clip's first ``frames``."""
    source = open_source(resolve_clip(name))
    source = source.std.Trim(0, min(frames, source.num_frames) - 1)
    return split_even_odd(frames_of(to_rgb24(source)))


def check_clip(engine: Engine, name: str, frames: int, step: int) -> list[tuple[int, float]]:
    """(odd frame number, PSNR) of every ``step``-th predicted frame."""
    even, truth = clip_frames(name, frames)
    indices = range(0, len(even) - 1, step)
    made = predict_with_engine(engine, even, indices=indices)
    return [(2 * i + 1, psnr(m, truth[i])) for i, m in zip(indices, made)]


def at_least(low: int):
    def parse(text: str) -> int:
        value = int(text)
        if value < low:
            raise argparse.ArgumentTypeError(f"at least {low}, got {value}")
        return value
    return parse


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("clips", nargs="*")
    ap.add_argument("--step", type=at_least(1), default=4)
    ap.add_argument("--frames", type=at_least(3), default=60)
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"])
    ap.add_argument("--per-frame", action="store_true")
    ap.add_argument("--set", action="append", default=[], metavar="MODULE.NAME=VALUE")
    args = ap.parse_args()
    for s in args.set:
        apply_setting(s)
    clips = args.clips or default_clips()
    precision = ("bf16" if cpu_bf16() else "fp32") if args.precision == "auto" else args.precision
    torch.manual_seed(0)
    engine = Engine(load_weights(None)[0], torch.device("cpu"), precision=precision)
    means = []
    start = time.perf_counter()
    for name in clips:
        scores = check_clip(engine, name, args.frames, args.step)
        means.append(float(np.mean([s for _, s in scores])))
        print(f"{Path(name).name:32s} {means[-1]:8.3f}", flush=True)
        if args.per_frame:
            print("   " + "  ".join(f"{f}:{s:.2f}" for f, s in scores), flush=True)
    print(f"{'ALL':32s} {np.mean(means):8.3f}   ({len(means)} clips, step {args.step}, {precision}, "
          f"{time.perf_counter() - start:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
