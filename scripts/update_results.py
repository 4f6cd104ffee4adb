"""Regenerates the tables of docs/results.md and MODEL_CARD.md's evaluation table from the files that
`convlstm evaluate` and `convlstm bench` wrote (no hand-typed figures).

    python scripts/update_results.py [--eval results/evaluation/results.csv] [--bench results/bench/bench.json]

Further `results/bench/bench_*.json` files (e.g. from a lent GPU) get a table each.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
START, END = "<!-- results:start -->", "<!-- results:end -->"
TRAINING = ("<!-- training:start -->", "<!-- training:end -->")


EVAL_METRICS = (("psnr", "{:.2f}"), ("ssim", "{:.4f}"), ("vmaf", "{:.1f}"), ("sharpness", "{:.2f}"))


def eval_table(path: Path) -> tuple[str, str]:
    """One row per clip, one column per method; each cell PSNR / SSIM / VMAF / sharpness ratio
    (older CSVs without VMAF and sharpness give PSNR / SSIM)."""
    rows = list(csv.DictReader(open(path)))
    clips = list(dict.fromkeys(r["clip"] for r in rows))
    methods = list(dict.fromkeys(r["method"] for r in rows))
    metrics = [(k, f) for k, f in EVAL_METRICS if k in rows[0]]
    by = {(r["clip"], r["method"]): r for r in rows}
    head = "| clip | " + " | ".join(methods) + " |\n|---|" + "---|" * len(methods) + "\n"
    body = ""
    sums = defaultdict(list)
    for c in clips:
        cells = []
        for m in methods:
            r = by.get((c, m))
            if r and r["psnr"]:
                values = [float(r[k]) for k, _ in metrics]
                cells.append(" / ".join(f.format(v) for v, (_, f) in zip(values, metrics)))
                sums[m].append(values)
            else:
                cells.append("unavailable")
        body += f"| {c} | " + " | ".join(cells) + " |\n"
    means = []
    for m in methods:
        if len(sums[m]) != len(clips):
            means.append("n/a")
            continue
        mean = [sum(col) / len(col) for col in zip(*sums[m])]
        means.append(" / ".join(("**" + f.format(v) + "**") if k == "psnr" else f.format(v)
                                for v, (k, f) in zip(mean, metrics)))
    body += "| mean | " + " | ".join(means) + " |\n"
    machine = rows[0].get("machine", "unknown machine")
    return head + body, machine


def bench_table(path: Path) -> tuple[str, str]:
    data = json.loads(path.read_text())
    cols = [("size", "size", "{}"), ("device", "device", "{}"), ("precision", "precision", "{}"),
            ("batch", "batch", "{}"), ("tile", "tile", "{}"), ("compiled", "compiled", "{}"), ("motion", "motion", "{}"),
            ("scales", "model passes", "{}"), ("filter_fps", "output fps (filter)", "{:.2f}"),
            ("latency_s", "latency s", "{:.2f}"), ("warm_latency_s", "warm latency s", "{:.2f}"),
            ("windows_per_pass", "windows/pass", "{:.2f}"), ("host_s_per_frame", "host s/made frame", "{:.4f}"),
            ("forward_s_per_frame", "net s/made frame", "{:.3f}"), ("motion_s_per_frame", "of it motion s", "{:.3f}"),
            ("learned_s_per_frame", "learned part s", "{:.3f}"),
            ("gflops_per_frame", "GFLOP/frame", "{:.1f}"), ("achieved_gflops_s", "GFLOP/s", "{:.1f}"),
            ("op_gbytes_per_frame", "op GB/made frame", "{:.2f}"), ("motion_gbytes_per_frame", "of it motion", "{:.2f}"),
            ("ops_per_pass", "kernel ops/pass", "{:.0f}"), ("motion_ops_per_pass", "of them motion", "{:.0f}"),
            ("compute_fraction", "of peak FLOP/s", "{:.1%}"), ("bandwidth_fraction", "of peak bandwidth", "{:.1%}"),
            ("peak_rss_mib", "peak RSS MiB", "{:.0f}"), ("peak_cuda_mib", "peak CUDA MiB", "{:.0f}"),
            ("seam_max_levels", "seam max levels", "{:.1f}"), ("seam_psnr_db", "seam PSNR dB", "{:.1f}"),
            ("mvtools_fps", "mvtools fps", "{:.1f}"),
            ("svp_fps", "SVP fps", "{:.1f}"), ("rife_s_per_frame", "RIFE 4.25 net s/made frame", "{:.3f}"),
            ("skipped", "skipped", "{}")]
    # op bytes counted views too before ops were counted (bench files from before 2026-11-29): not shown
    rows = [r if "ops_per_pass" in r else {k: v for k, v in r.items() if k != "op_gbytes_per_frame"}
            for r in data["rows"]]
    cols = [c for c in cols if any(c[0] in r for r in rows)]
    out = "| " + " | ".join(c[1] for c in cols) + " |\n|" + "---|" * len(cols) + "\n"
    for r in rows:
        out += "| " + " | ".join(f.format(r[k]) if k in r else "-" for k, _, f in cols) + " |\n"
    return out, data["machine"]


def replace_between(text: str, block: str, markers: tuple[str, str] = (START, END)) -> str:
    start, end = markers
    if start not in text:
        return text.rstrip() + f"\n\n{start}\n{block}{end}\n"
    return re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{block}{end}", text, flags=re.S)


def training_stages(meta: dict) -> list[dict]:
    """The checkpoint's own run, preceded by the runs it was fine-tuned from (meta["init"], oldest first)."""
    cfg = meta.get("config", {})
    own = {**meta, "batch_size": cfg.get("batch_size"), "crop": cfg.get("data", {}).get("crop"),
           "total": cfg.get("steps"), "freeze": cfg.get("freeze"), "motion": cfg.get("model", {}).get("motion")}
    chain, m = [own], meta.get("init")
    while m:
        chain.append(m)
        m = m.get("init")
    return chain[::-1]


def training_block(weights: Path) -> str:
    """What the shipped checkpoint's own metadata says about how it was made."""
    from convlstm.checkpoint import read_checkpoint  # the installed package
    meta = read_checkpoint(weights)["meta"]
    val = meta.get("validation", {})
    stages = training_stages(meta)
    lines = [f"- checkpoint: `{weights.relative_to(ROOT)}` ({weights.stat().st_size / 2**20:.1f} MiB)"]
    for i, st in enumerate(stages):
        what = "trained" if i == 0 else "then fine-tuned"
        if st.get("freeze"):
            what = f"then trained the scale fusion only ({' and '.join(st['freeze'])} frozen)"
        elif st.get("motion", "none") != "none":
            what = f"then trained with motion compensation (motion: {st['motion']}, residual heads from zero)"
        total = f" (schedule total {st['total']} steps)" if st.get("total") else ""
        lines.append(f"- {what}: {st.get('step')} optimiser steps at batch {st.get('batch_size')} on "
                     f"{st.get('crop')}px crops{total}, {st.get('elapsed_s', 0) / 3600:.2f} h in optimiser steps "
                     f"on `{st.get('device')}` (torch {st.get('torch')})")
    if len(stages) > 1:
        lines.append(f"- in all: {sum(st.get('step') or 0 for st in stages)} steps, "
                     f"{sum(st.get('elapsed_s') or 0 for st in stages) / 3600:.2f} h in optimiser steps "
                     "(data waits and validation not counted)")
    lines.append(f"- variant kept by validation: {meta.get('variant', 'full')}")
    if val:
        lines.append("- validation at that step (PSNR gain over blending, dB): " +
                     ", ".join(f"{k.split(':')[0]} {v:+.3f}" for k, v in val.items() if k.endswith(":gain")))
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--eval", default=str(ROOT / "results" / "evaluation" / "results.csv"))
    ap.add_argument("--bench", default=str(ROOT / "results" / "bench" / "bench.json"))
    args = ap.parse_args()
    block = ""
    ev = Path(args.eval)
    if ev.is_file():
        table, machine = eval_table(ev)
        block += (f"Evaluation protocol of docs/design.md (first 60 frames, even frames in, odd frames predicted; "
                  f"cells: PSNR dB on RGB / SSIM on luma / VMAF / sharpness of the new frames over the true frames'), "
                  f"measured on {machine}, from `{ev.relative_to(ROOT)}`:\n\n"
                  f"{table}\n![PSNR, SSIM, VMAF and sharpness per method]({{bars}})\n\n")
    for be in [Path(args.bench), *sorted((ROOT / "results" / "bench").glob("bench_*.json"))]:
        if be.is_file():
            table, machine = bench_table(be)
            fp16 = " (`--fp16`)" if all(r.get("fp16") for r in json.loads(be.read_text())["rows"]) else ""  # old files
            block += f"`convlstm bench`{fp16} on {machine}, from `{be.relative_to(ROOT)}`:\n\n{table}\n"
    bars = ROOT / "results" / "evaluation" / "metrics_bars.png"
    for name in ("docs/results.md", "MODEL_CARD.md"):
        path = ROOT / name
        if path.is_file():   # the plot's link relative to the page that shows it
            here = block.replace("{bars}", os.path.relpath(bars, path.parent))
            path.write_text(replace_between(path.read_text(), here))
            print(f"updated {path}")
    weights = ROOT / "core" / "weights" / "default.pt"
    card = ROOT / "MODEL_CARD.md"
    if weights.is_file() and card.is_file():
        card.write_text(replace_between(card.read_text(), training_block(weights), TRAINING))
        print(f"updated {card} (training facts from the checkpoint)")


if __name__ == "__main__":
    main()
