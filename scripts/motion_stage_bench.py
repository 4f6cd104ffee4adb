"""Time the motion stage alone (Net.motion_stage: the search, confidence and warp) on real windows.

    python scripts/motion_stage_bench.py [--sizes 640x360,320x180] [--reps 2] [--clip demo] [--threads 2]

Windows of four frames from the clip (every second frame of its first 16), resized to each size, at
t = 0.5, the default weights' net in float32 as the filter runs the search. Prints the best and the
median seconds per window over the repetitions. To compare two versions of the code, run it under each
in turn (PYTHONPATH pointing at each package) and alternate: this machine's speed drifts between runs.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from convlstm.checkpoint import load_weights
from convlstm.evaluate.clips import resolve_clip
from convlstm.evaluate.protocol import RGB24
from convlstm.video import read_rgb


def kernel_name() -> str:
    try:
        from convlstm.model.kernels import instruction_set
    except ImportError:      # a version before the CPU's kernels (2026-12-07), run for comparison
        return "none in this version"
    return instruction_set() or "not built (torch)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="640x360", help="comma-separated WxH")
    parser.add_argument("--reps", type=int, default=2, help="passes over the 8 windows per size")
    parser.add_argument("--clip", default="demo", help="an evaluation clip's name or a video file")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    frames = read_rgb(str(resolve_clip(args.clip)), 24)
    source = RGB24.to_unit(torch.from_numpy(frames).permute(0, 3, 1, 2)).float()
    net = load_weights(None)[0].eval()
    print(f"motion kernel: {kernel_name()}; {args.threads} threads; clip {args.clip}")
    for size in args.sizes.split(","):
        w, h = (int(n) for n in size.lower().split("x"))
        x = F.interpolate(source, size=(h, w), mode="bilinear", align_corners=False, antialias=True)
        windows = [x[i:i + 4][None] * 2 - 1 for i in range(0, 16, 2)]
        times = []
        with torch.inference_mode():
            net.motion_stage(windows[0], 0.5, (h, w))          # caches (grids, constants) made outside the timing
            for _ in range(args.reps):
                for window in windows:
                    start = time.perf_counter()
                    net.motion_stage(window, 0.5, (h, w))
                    times.append(time.perf_counter() - start)
        print(f"{size}: min {min(times):.4f} s, median {statistics.median(times):.4f} s a window "
              f"({len(times)} windows)")


if __name__ == "__main__":
    main()
