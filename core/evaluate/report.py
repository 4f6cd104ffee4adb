"""`convlstm evaluate`: every method on every clip, then a table, a CSV and the plots."""
from __future__ import annotations

import csv
import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..video import frames_of, open_source, to_rgb24
from .clips import resolve_clip
from .methods import METHODS, Prediction, Unavailable
from .protocol import Scores, score, split_even_odd

log = logging.getLogger("convlstm")


@dataclass
class ClipResult:
    clip: str
    truth: np.ndarray
    even: np.ndarray
    predictions: dict[str, Prediction] = field(default_factory=dict)
    scores: dict[str, Scores] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)


def evaluate_clip(path: Path, frames: int, methods: list[str], weights: str | None, device: str) -> ClipResult:
    source = open_source(path)
    if source.num_frames < 3:
        raise ValueError(f"{path} has {source.num_frames} frames; the protocol needs at least 3")
    source = source.std.Trim(0, min(frames, source.num_frames) - 1)
    even, truth = split_even_odd(frames_of(to_rgb24(source)))
    result = ClipResult(path.name, truth, even)
    for m in methods:
        try:
            pred = METHODS[m](source, even, weights=weights, device=device)
        except Unavailable as exc:
            result.unavailable[m] = str(exc)
            log.warning("%s: %s", m, exc)
            continue
        result.predictions[m] = pred
        result.scores[m] = score(pred.frames, truth)
        log.info("%s %-9s PSNR %.3f dB  SSIM %.4f", path.name, m, result.scores[m].mean_psnr,
                 result.scores[m].mean_ssim)
    return result


def machine_description() -> str:
    import os
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"


def table(results: list[ClipResult], methods: list[str]) -> str:
    lines = [f"{'clip':<24}" + "".join(f"{m:>22}" for m in methods),
             f"{'':<24}" + "".join(f"{'PSNR  SSIM   fps':>22}" for _ in methods)]
    for r in results:
        cells = []
        for m in methods:
            if m in r.scores:
                s, p = r.scores[m], r.predictions[m]
                fps = len(p.frames) / p.seconds if p.seconds > 0 else float("inf")
                cells.append(f"{s.mean_psnr:7.2f} {s.mean_ssim:6.4f} {fps:6.1f}")
            else:
                cells.append("unavailable")
        lines.append(f"{r.clip:<24}" + "".join(f"{c:>22}" for c in cells))
    means = []
    for m in methods:
        vals = [r.scores[m] for r in results if m in r.scores]
        means.append(f"{np.mean([v.mean_psnr for v in vals]):7.2f} {np.mean([v.mean_ssim for v in vals]):6.4f}       "
                     if len(vals) == len(results) else "n/a")
    lines.append(f"{'mean':<24}" + "".join(f"{c:>22}" for c in means))
    return "\n".join(lines)


def write_csv(results: list[ClipResult], methods: list[str], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "method", "psnr", "ssim", "fps", "frames", "machine"])
        machine = machine_description()
        for r in results:
            for m in methods:
                if m in r.scores:
                    p = r.predictions[m]
                    fps = len(p.frames) / p.seconds if p.seconds > 0 else float("inf")
                    w.writerow([r.clip, m, f"{r.scores[m].mean_psnr:.4f}", f"{r.scores[m].mean_ssim:.5f}",
                                f"{fps:.2f}", len(p.frames), machine])
                else:
                    w.writerow([r.clip, m, "", "", "", 0, machine])


def plot_bars(results: list[ClipResult], methods: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(max(6, 2.2 * len(results)), 4.2))
    width = 0.8 / len(methods)
    for k, m in enumerate(methods):
        vals = [r.scores[m].mean_psnr if m in r.scores else 0 for r in results]
        ax.bar(np.arange(len(results)) + k * width, vals, width, label=m)
    ax.set_xticks(np.arange(len(results)) + 0.4 - width / 2, [r.clip for r in results])
    lo = min((s.mean_psnr for r in results for s in r.scores.values()), default=0)
    ax.set_ylim(max(0, lo - 3), None)
    ax.set_ylabel("PSNR (dB), RGB")
    ax.set_title("Interpolated odd frames vs truth (even frames in)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_frame(results: list[ClipResult], methods: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(results), 1, figsize=(8, 2.8 * len(results)), squeeze=False)
    for ax, r in zip(axes[:, 0], results):
        for m in methods:
            if m in r.scores:
                ax.plot(2 * np.arange(len(r.scores[m].psnr)) + 1, r.scores[m].psnr, label=m, lw=1)
        ax.set_title(r.clip, fontsize=9)
        ax.set_ylabel("PSNR (dB)")
    axes[-1, 0].set_xlabel("source frame index (odd = predicted)")
    axes[0, 0].legend(fontsize=7, ncol=len(methods))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def worst_frame_crop(r: ClipResult, ours: str, path: Path, crop: int = 192) -> str | None:
    """Truth | ours | best other method | blend, cropped where ours errs most, on the frame where ours
    trails the best other method by the most."""
    others = [m for m in r.scores if m != ours]
    if ours not in r.scores or not others:
        return None
    best_other = max(others, key=lambda m: r.scores[m].mean_psnr)
    gap = r.scores[ours].psnr - r.scores[best_other].psnr
    i = int(np.argmin(gap))
    err = np.abs(r.predictions[ours].frames[i].astype(int) - r.truth[i]).sum(-1)
    h, w = err.shape
    ch, cw = min(crop, h), min(crop, w)
    cy, cx = np.unravel_index(np.argmax(err), err.shape)
    y0, x0 = int(np.clip(cy - ch // 2, 0, h - ch)), int(np.clip(cx - cw // 2, 0, w - cw))
    tiles = [("truth", r.truth[i])] + [(m, r.predictions[m].frames[i]) for m in (ours, best_other, "blend")
                                        if m in r.predictions and m != "truth"]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(tiles), figsize=(3 * len(tiles), 3.3))
    for ax, (label, img) in zip(np.atleast_1d(axes), tiles):
        ax.imshow(img[y0:y0 + ch, x0:x0 + cw], interpolation="nearest")
        title = label if label == "truth" else f"{label} {r.scores[label].psnr[i]:.2f} dB"
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(f"{r.clip}: frame {2 * i + 1}, where {ours} trails {best_other} most", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return best_other


def evaluate(clips: list[str], frames: int = 60, methods: list[str] | None = None, weights: str | None = None,
             device: str = "auto", out_dir: str | Path = "eval") -> list[ClipResult]:
    methods = methods or list(METHODS)
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(METHODS)}")
    if frames < 3:
        raise ValueError("--frames must be at least 3")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = [evaluate_clip(resolve_clip(c), frames, methods, weights, device) for c in clips]
    text = table(results, methods)
    print(text)
    print(f"machine: {machine_description()}")
    (out / "table.txt").write_text(text + f"\nmachine: {machine_description()}\n")
    write_csv(results, methods, out / "results.csv")
    plot_bars(results, methods, out / "psnr_bars.png")
    plot_per_frame(results, methods, out / "psnr_per_frame.png")
    for r in results:
        worst_frame_crop(r, "convlstm", out / f"worst_{Path(r.clip).stem}.png")
    print(f"wrote {out / 'results.csv'}, {out / 'psnr_bars.png'}, {out / 'psnr_per_frame.png'} and worst-frame crops")
    return results
