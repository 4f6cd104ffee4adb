#!/usr/bin/env python3
"""The picture of what ``dedup`` does: how far a moving object travels from one output frame to the next,
with and without it, on a clip drawn "on twos" and one "on threes".

A textured object crosses a textured background at a constant speed; the held clip shows every 2nd (3rd)
position for 2 (3) frames. Each clip is doubled by the real filter (bundled model, CPU) with and without
``dedup=1``, and the object's position in each output frame is found by matching it against the first
frame (sub-pixel, by a parabola through the best match). Evenly spaced motion is a flat line.

    python scripts/dedup_motion.py [--out results/evaluation/dedup]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import vapoursynth as vs

W, H, SPEED, LENGTH = 320, 180, 6, 30      # px per source frame; the object crosses 180 px
OBJECT = (60, 40)                          # its width and height


def _texture(h: int, w: int, seed: int) -> np.ndarray:
    """Smooth random texture on [-1, 1] with no period (a periodic one would let a match alias)."""
    noise = np.random.default_rng(seed).standard_normal((h + 4, w + 4))
    smooth = sum(np.roll(np.roll(noise, dy, 0), dx, 1) for dy in range(3) for dx in range(3))[2:-2, 2:-2]
    return smooth / np.abs(smooth).max()


BACKGROUND, SURFACE = _texture(H, W, 1), _texture(OBJECT[1], OBJECT[0], 2)


def scene(x: float) -> np.ndarray:
    """(3, H, W) uint8: a textured background and the textured object with its left edge at x."""
    background = 90 + 40 * BACKGROUND
    picture = np.stack([background, background * 0.9 + 10, 120 - background * 0.3])
    texture = 190 + 50 * SURFACE
    x0 = int(x)
    picture[:, 70:70 + OBJECT[1], x0:x0 + OBJECT[0]] = texture
    return np.clip(np.round(picture), 0, 255).astype(np.uint8)


def clip_of(frames: list[np.ndarray]) -> vs.VideoNode:
    blank = vs.core.std.BlankClip(width=W, height=H, format=vs.RGB24, length=len(frames), fpsnum=24, fpsden=1)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.asarray(out[p])[:] = frames[n][p]
        return out
    return vs.core.std.ModifyFrame(blank, blank, fill)


def position(frame: vs.VideoFrame, template: np.ndarray, guess: float) -> float:
    """The object's left edge: the horizontal shift at which its rows match the template best."""
    rows = np.asarray(frame[0])[70:70 + OBJECT[1]].astype(np.float64)
    shifts = np.arange(max(0, int(guess) - 30), min(W - OBJECT[0], int(guess) + 30) + 1)
    costs = np.array([np.abs(rows[:, s:s + OBJECT[0]] - template).mean() for s in shifts])
    k = int(costs.argmin())
    if 0 < k < len(costs) - 1:       # sub-pixel: the vertex of the parabola through the best three
        c0, c1, c2 = costs[k - 1:k + 2]
        denom = c0 - 2 * c1 + c2
        return float(shifts[k] + (0.5 * (c0 - c2) / denom if denom > 0 else 0.0))
    return float(shifts[k])


def travel(step: int, dedup: bool) -> list[float]:
    held = [scene(10 + SPEED * (k - k % step)) for k in range(LENGTH)]
    out = vs.core.convlstm.Interpolate(clip_of(held), device="cpu", **({"dedup": 1} if dedup else {}))
    template = held[0][0, 70:70 + OBJECT[1], 10:10 + OBJECT[0]].astype(np.float64)
    last = 2 * (LENGTH - 1 - (LENGTH - 1) % step)          # up to the last new picture
    xs, guess = [], 10.0
    for m in range(last + 1):
        guess = position(out.get_frame(m), template, guess)
        xs.append(guess)
    return list(np.diff(xs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="results/evaluation/dedup")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    figures = {}
    for ax, step in zip(axes, (2, 3)):
        for dedup, style in ((False, "o-"), (True, "s-")):
            steps = travel(step, dedup)
            label = "dedup=1" if dedup else "without dedup"
            figures[f"on {step}s, {label}"] = {"mean": float(np.mean(steps)), "std": float(np.std(steps)),
                                               "min": float(np.min(steps)), "max": float(np.max(steps))}
            ax.plot(range(1, len(steps) + 1), steps, style, ms=3, label=f"{label} (std {np.std(steps):.2f} px)")
        ax.axhline(SPEED / 2, color="grey", lw=0.8, ls="--", label=f"the true motion: {SPEED / 2:g} px")
        ax.set_title(f"drawn on {'twos' if step == 2 else 'threes'}, doubled")
        ax.set_xlabel("output frame")
        ax.legend(fontsize=8, loc="upper right")
    top = max(f["max"] for f in figures.values())
    for ax in axes:
        ax.set_ylim(0, top * 1.25)          # every point shown, room for the legend
    axes[0].set_ylabel("object travel since the previous output frame (px)")
    fig.tight_layout()
    fig.savefig(out / "motion_per_frame.png", dpi=110)
    (out / "motion_per_frame.json").write_text(json.dumps(figures, indent=1) + "\n")
    for name, f in figures.items():
        print(f"{name:28s} travel per output frame: mean {f['mean']:.2f} px, std {f['std']:.2f}, "
              f"min {f['min']:.2f}, max {f['max']:.2f}")
    print(f"wrote {out / 'motion_per_frame.png'}")


if __name__ == "__main__":
    main()
