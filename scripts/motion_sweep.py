"""PSNR against motion size on synthetic sequences never trained on: where does each model stop helping?

The evaluation clips hold only a few motion sizes; this sweep draws held-out synthetic 7-frame runs
(the trainer's generator with a seed no config uses, no codec round trip) for growing maximum motion
and scores blending and each checkpoint on the middle frame. `--single-pass` also scores a two-scale
checkpoint with its half-size pass switched off, which isolates what the scale fusion adds.

    python scripts/motion_sweep.py --weights core/weights/default.pt --single-pass --out results/evaluation
"""
from __future__ import annotations

import argparse
import copy
import json
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from convlstm.data.synthetic import SyntheticMotion
from convlstm.checkpoint import load_weights
from convlstm.filter.engine import Engine
from convlstm.evaluate.metrics import psnr
from convlstm.evaluate.report import machine_description

HELD_OUT_SEED = 987_654   # no training config uses it


def to_uint8(x: torch.Tensor) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


def sweep(models: dict[str, Engine], motions: list[float], items: int, crop: int) -> dict[str, list[float]]:
    scores: dict[str, list[float]] = {name: [] for name in ["blend", *models]}
    for m in tqdm(motions, desc="motion", unit="bin"):
        data = SyntheticMotion(crop=crop, max_motion=m, seed=HELD_OUT_SEED, codec_probability=0.0)
        per: dict[str, list[float]] = {name: [] for name in scores}
        for i in range(items):
            inputs, target, _ = data[i]
            truth = to_uint8(target)
            per["blend"].append(psnr(to_uint8(0.5 * (inputs[1] + inputs[2])), truth))
            for name, engine in models.items():
                per[name].append(psnr(to_uint8(engine.predict(inputs[None])[0]), truth))
        for name in scores:
            scores[name].append(float(np.mean(per[name])))
    return scores


def plot(motions: list[float], scores: dict[str, list[float]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, values in scores.items():
        ax.plot(motions, values, marker="o", label=name)
    ax.set_xlabel("maximum motion per frame (px; inputs are 2 frames apart)")
    ax.set_ylabel("mean PSNR of the middle frame (dB)")
    ax.set_title("Held-out synthetic motion")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", nargs="+", default=[None], help="checkpoints (default: the bundled model)")
    ap.add_argument("--single-pass", action="store_true", help="also score two-scale models without the fusion")
    ap.add_argument("--motions", default="2,4,8,12,16,24,32")
    ap.add_argument("--items", type=int, default=24, help="sequences per motion size")
    ap.add_argument("--crop", type=int, default=256)
    ap.add_argument("--out", default="motion_sweep", help="folder for motion_sweep.json / .png")
    args = ap.parse_args()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    models: dict[str, Engine] = {}
    for w in args.weights:
        net, source = load_weights(w)
        name = Path(source).stem if w else "default"
        models[name] = Engine(net, torch.device("cpu"))
        if args.single_pass and net.fusion is not None:
            single = copy.deepcopy(net).drop_scale_fusion()
            models[f"{name} (full-size pass only)"] = Engine(single, torch.device("cpu"))
    motions = [float(m) for m in args.motions.split(",")]
    scores = sweep(models, motions, args.items, args.crop)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "motion_sweep.json").write_text(json.dumps(
        {"machine": machine_description(), "seed": HELD_OUT_SEED, "crop": args.crop, "items": args.items,
         "motions": motions, "psnr": scores}, indent=2))
    plot(motions, scores, out / "motion_sweep.png")
    print("max motion px/frame: " + "  ".join(f"{m:>6g}" for m in motions))
    for name, values in scores.items():
        print(f"{name:>34s}: " + "  ".join(f"{v:6.2f}" for v in values))
    print(f"wrote {out / 'motion_sweep.json'} and {out / 'motion_sweep.png'}")


if __name__ == "__main__":
    main()
