"""`convlstm bench`: how fast the filter runs, what it costs in memory, and how close to the hardware."""
from __future__ import annotations

import json
import multiprocessing as mp
import resource
import time
from pathlib import Path
from typing import Any

# Peak dense throughput (FLOP/s) and memory bandwidth (B/s) of GPUs we may run on, from vendor sheets.
GPU_PEAKS = {
    "H100": {"fp32": 67e12, "fp16": 989e12, "bandwidth": 3.35e12},
    "H200": {"fp32": 67e12, "fp16": 989e12, "bandwidth": 4.8e12},
}


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise ValueError(f"bad size {item!r}; use WxH, e.g. 640x360") from None
        if w < 1 or h < 1:
            raise ValueError(f"bad size {item!r}: width and height must be positive")
        sizes.append((w, h))
    return sizes


def _source(width: int, height: int, frames: int):
    import vapoursynth as vs
    core = vs.core
    # distinct frames (the net's cost does not depend on content, but nothing may be short-circuited)
    return core.std.Splice([core.std.BlankClip(width=width, height=height, format=vs.RGB24, length=1,
                                               color=[(40 + 7 * i) % 256, (90 + 13 * i) % 256, (160 + 3 * i) % 256])
                            for i in range(frames)])


def bench_one(width: int, height: int, device: str, fp16: bool, batch: int, frames: int,
              compare: bool, scales: int | None = None) -> dict[str, Any]:
    """One size, in a fresh process so peak RSS and CUDA memory belong to it alone."""
    import torch
    import vapoursynth as vs

    from ..checkpoint import load_weights
    from ..filter.devices import resolve_device
    from ..filter.engine import Engine
    from .flops import count_forward

    core = vs.core
    dev = resolve_device(device)
    row: dict[str, Any] = {"size": f"{width}x{height}", "device": str(dev), "fp16": fp16, "batch": batch,
                           "threads": core.num_threads}
    src = _source(width, height, frames)
    clip = core.convlstm.Interpolate(src, device=str(dev), fp16=int(fp16), **({"scales": scales} if scales else {}))

    t = time.perf_counter()
    clip.get_frame(1)                                    # cold: model on device, first window
    row["latency_s"] = time.perf_counter() - t
    t = time.perf_counter()
    n = 0
    for _ in clip.frames(prefetch=core.num_threads):     # as vspipe pulls them, all threads
        n += 1
    row["filter_fps"] = n / (time.perf_counter() - t)

    net, _ = load_weights(None)
    if scales == 1:
        net.drop_scale_fusion()
    row["scales"] = 2 if net.fusion is not None else 1   # 2: the half-size pass and fusion run too
    row["motion"] = net.config.motion                     # block: block matching runs before the net
    engine = Engine(net, dev, fp16)
    x = torch.rand(batch, 4, 3, height, width, device=dev) * 2 - 1
    engine.predict(x)
    reps = 3
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    t = time.perf_counter()
    for _ in range(reps):
        engine.predict(x)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    row["forward_s_per_frame"] = (time.perf_counter() - t) / (reps * batch)
    work = count_forward(engine.net, height, width, 1, dev, engine.dtype)
    row["gflops_per_frame"] = work["flops"] / 1e9
    row["op_gbytes_per_frame"] = work["bytes"] / 1e9
    row["achieved_gflops_s"] = row["gflops_per_frame"] / row["forward_s_per_frame"]
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        peaks = next((v for k, v in GPU_PEAKS.items() if k in name), None)
        if peaks:
            row["compute_fraction"] = row["achieved_gflops_s"] * 1e9 / peaks["fp16" if fp16 else "fp32"]
            row["bandwidth_fraction"] = row["op_gbytes_per_frame"] * 1e9 / row["forward_s_per_frame"] / peaks["bandwidth"]
        row["peak_cuda_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    if compare:
        from .rife import rife_seconds_per_frame
        row.update(_compare(src, frames))
        row.update(rife_seconds_per_frame(width, height, dev, engine.dtype))
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _compare(src, frames: int) -> dict[str, Any]:
    import vapoursynth as vs

    from .methods import Unavailable, mvtools_doubled, svp_doubled
    out: dict[str, Any] = {}
    yuv = src.resize.Bicubic(format=vs.YUV420P8, matrix_s="709")
    for key, method in (("mvtools_fps", mvtools_doubled), ("svp_fps", svp_doubled)):
        try:
            out[key] = _pull_fps(method(yuv))
        except Unavailable:
            pass
    return out


def _pull_fps(clip) -> float:
    import vapoursynth as vs
    t = time.perf_counter()
    n = sum(1 for _ in clip.frames(prefetch=vs.core.num_threads))
    return n / (time.perf_counter() - t)


def _worker(args: tuple) -> dict[str, Any]:
    return bench_one(*args)


COLUMNS = [("size", "{}"), ("device", "{}"), ("motion", "{}"), ("filter_fps", "{:.2f}"), ("latency_s", "{:.3f}"),
           ("forward_s_per_frame", "{:.3f}"), ("gflops_per_frame", "{:.1f}"), ("achieved_gflops_s", "{:.1f}"),
           ("compute_fraction", "{:.1%}"), ("bandwidth_fraction", "{:.1%}"), ("peak_rss_mib", "{:.0f}"),
           ("peak_cuda_mib", "{:.0f}"), ("mvtools_fps", "{:.1f}"), ("svp_fps", "{:.1f}"),
           ("rife_s_per_frame", "{:.3f}")]


# printed headers where the JSON key alone reads wrong: the filter's rate counts every output frame (at 2x half
# of them are source frames passed through), the forward time is one run of the network for one made frame
HEADERS = {"filter_fps": "output_fps", "forward_s_per_frame": "net_s_per_made_frame",
           "rife_s_per_frame": "rife4.25_s_per_frame"}
FOOTNOTE = ("output_fps: output frames per second through the filter, end to end (at 2x half are source frames "
            "passed through); net_s_per_made_frame: one forward of the network alone; rife4.25_s_per_frame: "
            "vs-rife's RIFE 4.25 network (random weights) per made frame, same input, device and precision")


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = [(k, f) for k, f in COLUMNS if any(k in r for r in rows)]
    header = "  ".join(f"{HEADERS.get(k, k):>20}" for k, _ in cols)
    lines = [header]
    for r in rows:
        lines.append("  ".join(f"{(f.format(r[k]) if k in r else '-'):>20}" for k, f in cols))
    return "\n".join(lines + [FOOTNOTE])


def plot_rates(rows: list[dict[str, Any]], machine: str, path: Path) -> None:
    """Output frames per second against frame size, one line per method, values written at the points
    (log scale: the methods differ by orders of magnitude, and the axis says so)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sizes = [r["size"] for r in rows]
    pixels = [int(s.split("x")[0]) * int(s.split("x")[1]) / 1e6 for s in sizes]
    fig, ax = plt.subplots(figsize=(7, 4))
    for key, label in (("filter_fps", "convlstm"), ("mvtools_fps", "mvtools"), ("svp_fps", "SVPFlow")):
        points = [(p, r[key]) for p, r in zip(pixels, rows) if r.get(key)]
        if not points:
            continue
        xs, ys = zip(*points)
        ax.plot(xs, ys, marker="o", label=label)
        for x, y in points:
            ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(pixels, sizes, fontsize=7)
    ax.minorticks_off()
    ax.set_xlabel("frame size (log scale of pixels)")
    ax.set_ylabel("output frames per second (log scale)")
    ax.set_title(f"2x output rate by frame size - {machine}"[:110], fontsize=8)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def bench(sizes: list[tuple[int, int]], device: str = "auto", fp16: bool = False, batch: int = 1, frames: int = 20,
          compare: bool = False, json_path: str | Path | None = "bench.json",
          scales: int | None = None) -> list[dict[str, Any]]:
    if batch < 1 or frames < 2:
        raise ValueError("--batch must be >= 1 and --frames >= 2")
    from .report import machine_description
    ctx = mp.get_context("spawn")
    rows = []
    for w, h in sizes:
        with ctx.Pool(1) as pool:
            rows.append(pool.apply(_worker, ((w, h, device, fp16, batch, frames, compare, scales),)))
    print(format_table(rows))
    machine = machine_description()
    print(f"machine: {machine}")
    if json_path:
        Path(json_path).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
        png = Path(json_path).with_suffix(".png")
        plot_rates(rows, machine, png)
        print(f"wrote {json_path} and {png}")
    return rows
