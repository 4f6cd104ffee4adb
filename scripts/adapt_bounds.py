"""What adaptation could give at best, and whether its judge can tell; two checks under the evaluation
protocol (first N frames: even frames in, odd frames predicted with the filter's schedule and scored).

``ceiling``: fine-tune the bundled weights on the evaluation's own windows, truth included (inputs
2k-2, 2k, 2k+2, 2k+4 and the true frame 2k+1, at full size), with adaptation's batch, crop, loss and
cosine schedule, and score those same windows at marks of the budget. No real adaptation sees its truth,
so this is an upper bound on what fine-tuning the weights for that long can give on that clip.

``floor-judge``: the motion search's floor (model/motion.py MOTION_FLOOR) set per clip, scored both on
adaptation's held-aside windows (twice the filter's motion; at half and full size) and on the task. A
per-clip setting is worth choosing only if the judge ranks the settings as the task does.

    python scripts/adapt_bounds.py ceiling bikes carphone --seconds 300 --out results/adapt/ceiling.csv
    python scripts/adapt_bounds.py floor-judge bikes carphone --out results/adapt/floor_judge.csv
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import convlstm.model.motion as motion
from convlstm.adapt.loop import BATCH, CROP, adapt_step, held_psnr
from convlstm.adapt.windows import ClipWindows
from convlstm.checkpoint import load_weights
from convlstm.data.windows import random_crop, split_window
from convlstm.evaluate.protocol import predict_with_engine, score
from convlstm.filter.engine import Engine
from convlstm.train.optim import set_cosine_lr
from convlstm.train.validate import clip_path
from convlstm.video import frames_of, to_rgb24

from adapt_study import protocol_frames, write_rows   # scripts/ beside this one: the shared protocol set-up

MARKS = (60, 180, 300, 600)   # s of training at which the ceiling is scored (evaluation time not counted)


def ceiling(name: str, seconds: float, lr: float, frames: int) -> list[dict]:
    _, source, even, truth = protocol_frames(clip_path(name), frames)
    clip = frames_of(to_rgb24(source))   # even and odd: the windows with their truth
    net, _ = load_weights(None)
    engine = Engine(net, torch.device("cpu"))

    def task() -> float:
        net.eval()
        return score(predict_with_engine(engine, even), truth).mean_psnr

    base = task()
    rows = [{"clip": name, "lr": lr, "seconds": 0, "steps": 0, "psnr": round(base, 3), "gain": 0.0}]
    print(rows[-1], flush=True)
    starts = list(range(0, len(clip) - 6, 2))   # the evaluation's windows, as 7-frame runs around 2k+1
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    optimizer = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=lr, weight_decay=0.0)
    marks = [m for m in MARKS if m < seconds] + [seconds]
    start, scoring, step = time.perf_counter(), 0.0, 0
    while marks:
        spent = time.perf_counter() - start - scoring
        if spent >= marks[0]:
            t = time.perf_counter()
            psnr = task()
            scoring += time.perf_counter() - t
            rows.append({"clip": name, "lr": lr, "seconds": marks.pop(0), "steps": step, "psnr": round(psnr, 3),
                         "gain": round(psnr - base, 3)})
            print(rows[-1], flush=True)
            continue
        set_cosine_lr(optimizer, lr, spent / seconds)
        batch = [split_window(random_crop(torch.from_numpy(clip[s:s + 7]).permute(0, 3, 1, 2).float() / 255,
                                          CROP, rng), rng) for s in rng.choice(starts, BATCH)]
        adapt_step(net, optimizer, batch, torch.device("cpu"))
        step += 1
    return rows


def floor_judge(name: str, floors: list[float], frames: int) -> list[dict]:
    full, _, even, truth = protocol_frames(clip_path(name), frames)
    net, _ = load_weights(None)
    net.eval()
    engine = Engine(net, torch.device("cpu"))
    held = ClipWindows(frames_of(to_rgb24(full.std.SelectEvery(2, 0))), CROP, net.pad_multiple).held_batches()
    shipped, rows = motion.MOTION_FLOOR, []
    try:
        for floor in floors:
            motion.MOTION_FLOOR = floor
            half, full = held_psnr(engine, held)
            rows.append({"clip": name, "floor": floor, "held_half": round(half, 3), "held_full": round(full, 3),
                         "task": round(score(predict_with_engine(engine, even), truth).mean_psnr, 3)})
            print(rows[-1], flush=True)
    finally:
        motion.MOTION_FLOOR = shipped
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("check", choices=("ceiling", "floor-judge"))
    p.add_argument("clips", nargs="+", help="bikes / bigbuckbunny / carphone, or a file")
    p.add_argument("--seconds", type=float, default=300.0, help="ceiling: training time per clip")
    p.add_argument("--lr", type=float, default=2e-4, help="ceiling: peak learning rate (adaptation's default)")
    p.add_argument("--floors", default="0,0.001,0.003,0.006,0.01", help="floor-judge: MOTION_FLOOR values")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(2)
    rows: list[dict] = []
    for name in args.clips:
        if args.check == "ceiling":
            rows += ceiling(name, args.seconds, args.lr, args.frames)
        else:
            rows += floor_judge(name, [float(f) for f in args.floors.split(",")], args.frames)
        write_rows(args.out, rows)


if __name__ == "__main__":
    main()
