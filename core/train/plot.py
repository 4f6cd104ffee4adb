"""The training curve a person wants to look at: loss and validation PSNR over steps."""
from __future__ import annotations

import csv
from pathlib import Path


def plot_log(csv_path: Path, png_path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = list(csv.DictReader(open(csv_path)))
    if not rows:
        return
    steps = [int(r["step"]) for r in rows if r.get("loss")]
    loss = [float(r["loss"]) for r in rows if r.get("loss")]
    vrows = [r for r in rows if r.get("val_psnr") and "[synthesis-only]" not in r.get("val_detail", "")]
    fig, ax1 = plt.subplots(figsize=(8, 4.5))
    ax1.plot(steps, loss, color="tab:blue", lw=0.8, label="train loss")
    ax1.set_xlabel("step")
    ax1.set_ylabel("loss (0.5 L1 synth + L1 refined)", color="tab:blue")
    if vrows:
        ax2 = ax1.twinx()
        ax2.plot([int(r["step"]) for r in vrows], [float(r["val_gain"]) for r in vrows], "o-", color="tab:red",
                 label="validation PSNR gain over blend")
        ax2.axhline(0.0, color="grey", lw=0.6, ls="--")
        ax2.set_ylabel("validation PSNR - blend PSNR (dB)", color="tab:red")
    fig.suptitle(f"training: {csv_path.parent.name}")
    fig.tight_layout()
    fig.savefig(png_path, dpi=110)
    plt.close(fig)
