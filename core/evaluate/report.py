"""`convlstm evaluate`: every method on every clip, then a table, a CSV and the plots (PSNR, SSIM, VMAF,
sharpness, and the worst case beside the means: 5th-percentile frame PSNR and the share of pixels off by
more than 10 levels)."""
from __future__ import annotations

import csv
import logging
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np

from ..video import frames_of, open_source, to_rgb24
from .clips import resolve_clip
from .held import hold
from . import DEFAULT_METHODS
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


def evaluate_clip(path: Path, frames: int, methods: list[str], weights: str | None, device: str,
                  registry: Mapping[str, Callable[..., Prediction]] = METHODS, repeats: str | None = None,
                  precision: str | None = None) -> ClipResult:
    """``methods`` (names in ``registry``) on one clip, scored against its odd frames; with ``repeats``
    (held.PATTERNS) the methods get the even frames held that way, the truth staying the true odd frames."""
    full = open_source(path)
    if full.num_frames < 3:
        raise ValueError(f"{path} has {full.num_frames} frames; the protocol needs at least 3")
    unheld = full.std.Trim(0, min(frames, full.num_frames) - 1)
    source = hold(unheld, repeats) if repeats else unheld
    even, _ = split_even_odd(frames_of(to_rgb24(source)))
    _, truth = split_even_odd(frames_of(to_rgb24(unheld)))
    result = ClipResult(path.name, truth, even)
    for m in methods:
        try:
            pred = registry[m](source, even, weights=weights, device=device, full_source=full, unheld=unheld,
                               precision=precision)
        except Unavailable as exc:
            result.unavailable[m] = str(exc)
            log.warning("%s: %s", m, exc)
            continue
        result.predictions[m] = pred
        result.scores[m] = s = score(pred.frames, truth, with_vmaf=True)
        log.info("%s %-9s PSNR %.3f dB  SSIM %.4f  VMAF %.2f  sharpness %.3f", path.name, m, s.mean_psnr,
                 s.mean_ssim, s.mean_vmaf, s.mean_sharpness)
    return result


def machine_description() -> str:
    import os
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()}, {os.cpu_count()} CPU cores, {gpu}"


METRICS = (("PSNR", "mean_psnr", "{:.2f}", "PSNR (dB), RGB"), ("SSIM", "mean_ssim", "{:.4f}", "SSIM, luma"),
           ("VMAF", "mean_vmaf", "{:.2f}", "VMAF"), ("sharp", "mean_sharpness", "{:.3f}",
                                                   "sharpness / truth's (1 = as sharp)"),
           ("PSNR p5", "p5_psnr", "{:.2f}", "5th-percentile frame PSNR (dB)"),
           ("off>10", "share_off", "{:.2%}", "pixels off by > 10 levels"))
WORST = METRICS[-2:]   # the worst-case figures, also drawn on their own (plot_worst_case)


def _fps(p: Prediction) -> float:
    return len(p.frames) / p.seconds if p.seconds > 0 else float("inf")


def table(results: list[ClipResult], methods: list[str]) -> str:
    """One block per method: PSNR, SSIM, VMAF, sharpness ratio and fps per clip, then the means."""
    width = max(24, *(len(r.clip) + 2 for r in results))
    head = f"{'':<{width}}" + "".join(f"{name:>9}" for name, *_ in METRICS) + f"{'fps':>9}"
    lines = []
    for m in methods:
        lines += [f"{m}", head]
        got = [r for r in results if m in r.scores]
        for r in results:
            if m not in r.scores:
                lines.append(f"{r.clip:<{width}}" + f"{'unavailable':>9}")
                continue
            s = r.scores[m]
            lines.append(f"{r.clip:<{width}}" + "".join(f"{fmt.format(getattr(s, attr)):>9}" for _, attr, fmt, _ in METRICS)
                         + f"{_fps(r.predictions[m]):9.1f}")
        if got and len(got) == len(results):
            lines.append(f"{'mean':<{width}}" + "".join(
                f"{fmt.format(np.mean([getattr(r.scores[m], attr) for r in got])):>9}" for _, attr, fmt, _ in METRICS))
        lines.append("")
    return "\n".join(lines).rstrip()


def write_csv(results: list[ClipResult], methods: list[str], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        # psnr_p5: 5th-percentile frame PSNR; off10: share (0-1) of pixels with an RGB channel > 10 levels off
        w.writerow(["clip", "method", "psnr", "ssim", "vmaf", "sharpness", "psnr_p5", "off10", "fps", "frames",
                    "machine"])
        machine = machine_description()
        for r in results:
            for m in methods:
                if m in r.scores:
                    s, p = r.scores[m], r.predictions[m]
                    w.writerow([r.clip, m, f"{s.mean_psnr:.4f}", f"{s.mean_ssim:.5f}", f"{s.mean_vmaf:.3f}",
                                f"{s.mean_sharpness:.4f}", f"{s.p5_psnr:.4f}", f"{s.share_off:.6f}",
                                f"{_fps(p):.2f}", len(p.frames), machine])
                else:
                    w.writerow([r.clip, m, "", "", "", "", "", "", "", 0, machine])


def write_per_frame_psnr(results: list[ClipResult], path: Path) -> None:
    """Every predicted frame's PSNR (clip, method, frame, psnr; the frame's index in the clip, odd), so a
    clip's worst frames can be read as numbers, not only from per_frame.png."""
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["clip", "method", "frame", "psnr"])
        for r in results:
            for m, s in r.scores.items():
                for i, value in enumerate(s.psnr):
                    w.writerow([r.clip, m, 2 * i + 1, f"{value:.4f}"])


def plot_bars(results: list[ClipResult], methods: list[str], path: Path) -> None:
    """One panel per figure of METRICS (PSNR, SSIM, VMAF, sharpness, 5th-percentile frame PSNR, share of
    pixels off by more than 10 levels), axes from 0, each bar labelled with its value."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import PercentFormatter
    fig, axes = plt.subplots(len(METRICS), 1, figsize=(max(7, 2.4 * len(results)), 3.0 * len(METRICS)))
    width = 0.8 / len(methods)
    x = np.arange(len(results))
    for ax, (name, attr, fmt, label) in zip(axes, METRICS):
        for k, m in enumerate(methods):
            vals = [getattr(r.scores[m], attr) if m in r.scores else None for r in results]
            bars = ax.bar(x + k * width, [v if v is not None and np.isfinite(v) else 0.0 for v in vals], width, label=m)
            ax.bar_label(bars, [fmt.format(v) if v is not None else "" for v in vals], fontsize=6, rotation=90,
                         padding=2)
        ax.set_ylim(0, _top(results, attr) * 1.18)
        if attr == "share_off":
            ax.yaxis.set_major_formatter(PercentFormatter(1.0))
        if name == "sharp":
            ax.axhline(1.0, color="grey", lw=0.8, ls="--")
        ax.set_xticks(x + 0.4 - width / 2, [r.clip for r in results], fontsize=8)
        ax.set_ylabel(label, fontsize=8)
    axes[0].set_title("Interpolated odd frames vs truth (even frames in)")
    axes[0].legend(fontsize=7, ncol=len(methods), loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _top(results: list[ClipResult], attr: str) -> float:
    """The largest finite value of a figure over every clip and method (1 where there is none)."""
    vals = [getattr(s, attr) for r in results for s in r.scores.values()]
    finite = [v for v in vals if np.isfinite(v)]
    return max(finite) if finite and max(finite) > 0 else 1.0


def plot_worst_case(results: list[ClipResult], methods: list[str], path: Path) -> None:
    """Where a clip's frames fail, per clip and method. Left: each method's frame PSNRs as a dot per frame
    over a box of the middle half, the mean as a black bar and the 5th percentile as a red one, on a
    shared dB axis that starts at the lowest frame's PSNR rounded down (a spread, not an amount: bars from
    0 would hide it). Right: the share of pixels off by more than 10 levels, bars from 0 %."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from matplotlib.ticker import PercentFormatter
    fig, (left, right) = plt.subplots(1, 2, figsize=(max(10, 2.6 * len(results) * 2), 4.2))
    width = 0.8 / len(methods)
    x = np.arange(len(results))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    finite = []
    for k, m in enumerate(methods):
        colour = colours[k % len(colours)]
        pos = x + k * width
        for i, r in enumerate(results):
            if m not in r.scores:
                continue
            s = r.scores[m]
            p = s.psnr[np.isfinite(s.psnr)]
            if p.size:
                finite.append(p)
                q1, q3 = np.percentile(p, [25, 75])
                left.add_patch(Rectangle((pos[i] - 0.4 * width, q1), 0.8 * width, q3 - q1,
                                         color=colour, alpha=0.25, lw=0))
                left.plot(np.full(p.size, pos[i]), p, ".", color=colour, ms=2.5, alpha=0.7)
            for value, c in ((s.mean_psnr, "black"), (s.p5_psnr, "red")):
                if np.isfinite(value):
                    left.plot([pos[i] - 0.45 * width, pos[i] + 0.45 * width], [value, value], color=c, lw=1.6)
            left.annotate(f"{s.p5_psnr:.1f}", (pos[i], s.p5_psnr if np.isfinite(s.p5_psnr) else 0), fontsize=6,
                          color="red", ha="center", va="top", xytext=(0, -3), textcoords="offset points")
        vals = [r.scores[m].share_off if m in r.scores else None for r in results]
        bars = right.bar(x + k * width, [v if v is not None else 0.0 for v in vals], width, label=m, color=colour)
        right.bar_label(bars, [f"{v:.1%}" if v is not None else "" for v in vals], fontsize=6, rotation=90, padding=2)
    if finite:
        every = np.concatenate(finite)
        left.set_ylim(np.floor(every.min()) - 1, np.ceil(every.max()) + 1)
    left.set_ylabel("frame PSNR (dB), RGB")
    left.set_title("each frame; black: mean, red: 5th percentile (labelled)", fontsize=9)
    right.set_ylim(0, _top(results, "share_off") * 1.2)
    right.yaxis.set_major_formatter(PercentFormatter(1.0))
    right.set_ylabel("pixels off by > 10 levels (any of R, G, B)")
    right.set_title("share of pixels off by more than 10 of 255 levels", fontsize=9)
    for ax in (left, right):
        ax.set_xticks(x + 0.4 - width / 2, [r.clip for r in results], fontsize=8)
        ax.set_xlim(-0.3, len(results) - 0.1)
    right.legend(fontsize=7, ncol=len(methods), loc="upper right")
    fig.suptitle("Worst case: interpolated odd frames vs truth (even frames in)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_per_frame(results: list[ClipResult], methods: list[str], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(results), 2, figsize=(13, 2.8 * len(results)), squeeze=False)
    for row, r in zip(axes, results):
        for ax, attr, label in ((row[0], "psnr", "PSNR (dB)"), (row[1], "vmaf", "VMAF")):
            for m in methods:
                if m in r.scores and getattr(r.scores[m], attr) is not None:
                    values = getattr(r.scores[m], attr)
                    line, = ax.plot(2 * np.arange(len(values)) + 1, values, label=m, lw=1)
                    if attr == "psnr" and np.isfinite(r.scores[m].p5_psnr):   # its 5th percentile, dashed
                        ax.axhline(r.scores[m].p5_psnr, color=line.get_color(), lw=0.8, ls="--")
            ax.set_title(f"{r.clip}: {label}" + (" (dashed: 5th percentile)" if attr == "psnr" else ""), fontsize=9)
            ax.set_ylabel(label)
    for ax in axes[-1]:
        ax.set_xlabel("source frame index (odd = predicted)")
    axes[0, 0].legend(fontsize=7, ncol=len(methods))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def worst_frame_crop(r: ClipResult, ours: str, path: Path, crop: int = 192) -> str | None:
    """Truth | ours | best other method | blend (each once), cropped where ours errs most, on the frame
    where ours trails the best other method by the most (or leads it by the least, said so). Returns the
    figure's title and its tiles."""
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
    shown = list(dict.fromkeys(m for m in (ours, best_other, "blend") if m in r.predictions))   # each once
    tiles = [("truth", r.truth[i])] + [(m, r.predictions[m].frames[i]) for m in shown]
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(tiles), figsize=(3 * len(tiles), 3.3))
    for ax, (label, img) in zip(np.atleast_1d(axes), tiles):
        ax.imshow(img[y0:y0 + ch, x0:x0 + cw], interpolation="nearest")
        title = label if label == "truth" else f"{label} {r.scores[label].psnr[i]:.2f} dB"
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    if gap[i] < 0:
        headline = f"where {ours} trails {best_other} most ({gap[i]:+.2f} dB)"
    else:
        headline = f"{ours} leads {best_other} on every frame; its smallest lead ({gap[i]:+.2f} dB)"
    title = f"{r.clip}: frame {2 * i + 1}, {headline}"
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return f"{title} [{', '.join(label for label, _ in tiles)}]"


def evaluate(clips: list[str], frames: int = 60, methods: list[str] | None = None, weights: str | None = None,
             device: str = "auto", out_dir: str | Path = "eval",
             extra_methods: Mapping[str, Callable[..., Prediction]] | None = None,
             repeats: str | None = None, precision: str | None = None) -> list[ClipResult]:
    """``methods`` (default: DEFAULT_METHODS) on every clip. ``extra_methods`` adds methods from packages
    built on this one (name -> run, called as METHODS' are), run only when named: adaptation's
    convlstm-adapted (adapt/method.py adapted_methods) costs minutes per clip. ``repeats``: the methods
    get the even frames held by that pattern (evaluate/held.py), to measure dedup. ``precision``: the
    filter's option for our methods (None: its default, auto)."""
    registry = {**METHODS, **(extra_methods or {})}
    methods = methods or list(DEFAULT_METHODS)
    unknown = [m for m in methods if m not in registry]
    if unknown:
        raise ValueError(f"unknown method(s) {unknown}; choose from {', '.join(registry)}")
    if frames < 3:
        raise ValueError("--frames must be at least 3")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = [evaluate_clip(resolve_clip(c), frames, methods, weights, device, registry, repeats, precision)
               for c in clips]
    text = table(results, methods)
    print(text)
    print(f"machine: {machine_description()}")
    (out / "table.txt").write_text(text + f"\nmachine: {machine_description()}\n")
    write_csv(results, methods, out / "results.csv")
    plot_bars(results, methods, out / "metrics_bars.png")
    plot_per_frame(results, methods, out / "per_frame.png")
    plot_worst_case(results, methods, out / "worst_case.png")
    for r in results:
        worst_frame_crop(r, "convlstm", out / f"worst_{Path(r.clip).stem}.png")
    print(f"wrote {out / 'results.csv'}, {out / 'metrics_bars.png'}, {out / 'per_frame.png'}, "
          f"{out / 'worst_case.png'} and worst-frame crops")
    return results
