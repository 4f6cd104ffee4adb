"""How much adaptation gives, by budget and learning rate, on clips under the evaluation protocol (even
frames in, odd frames predicted and scored; adaptation sees the even frames only). Tune on held-out
clips (the validation clips), then report on the evaluation clips with the chosen settings.

    python scripts/adapt_study.py cityCC0.mpg cup.mp4 --minutes 2 --lrs 5e-5,2e-4,5e-4 --out study.csv
"""
from __future__ import annotations

import argparse
import csv
import tempfile
from pathlib import Path

from convlstm.adapt.loop import adapt_frames
from convlstm.evaluate.methods import run_convlstm
from convlstm.evaluate.protocol import score, split_even_odd
from convlstm.train.validate import clip_path
from convlstm.video import frames_of, open_source, to_rgb24


def protocol_frames(path: Path, frames: int):
    """The whole clip, its first ``frames`` frames, and their even frames (input) and odd ones (truth)."""
    full = open_source(path)
    source = full.std.Trim(0, min(frames, full.num_frames) - 1)
    even, truth = split_even_odd(frames_of(to_rgb24(source)))
    return full, source, even, truth


def write_rows(path: str | Path, rows: list[dict]) -> None:
    """The rows so far as CSV (rewritten after each, so a long study can be read while it runs)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("clips", nargs="+")
    p.add_argument("--minutes", default="2", help="comma-separated budgets")
    p.add_argument("--lrs", default="5e-5")
    p.add_argument("--half-shares", default="0.5")
    p.add_argument("--judge", default="half,full", help="held-aside scales that decide: half, full or both")
    p.add_argument("--frames", type=int, default=60)
    p.add_argument("--out", default="adapt_study.csv")
    args = p.parse_args()
    rows = []
    for name in args.clips:
        path = clip_path(name)
        full, source, even, truth = protocol_frames(path, args.frames)
        base = score(run_convlstm(source, even, device="cpu").frames, truth).mean_psnr
        train_even = frames_of(to_rgb24(full.std.SelectEvery(2, 0)))
        for minutes in [float(m) for m in args.minutes.split(",")]:
            for lr in [float(x) for x in args.lrs.split(",")]:
                for share in [float(x) for x in args.half_shares.split(",")]:
                    with tempfile.TemporaryDirectory() as scratch:
                        r = adapt_frames(train_even, Path(scratch) / "a.pt", minutes=minutes, device="cpu",
                                         progress=False, lr=lr, half_share=share,
                                         judge=tuple(args.judge.split(",")))
                        w = str(r.path) if r.adapted else None
                        psnr = score(run_convlstm(source, even, weights=w, device="cpu").frames, truth).mean_psnr
                    row = {"clip": Path(path).name, "minutes": minutes, "lr": lr, "half_share": share,
                           "judge": args.judge,
                           "steps": r.steps, "held_base": round(r.base_psnr, 3), "held_best": round(r.best_psnr, 3),
                           "kept": r.adapted, "psnr_base": round(base, 3), "psnr_adapted": round(psnr, 3),
                           "gain": round(psnr - base, 3)}
                    print(row, flush=True)
                    rows.append(row)
                    write_rows(args.out, rows)


if __name__ == "__main__":
    main()
