"""`convlstm bench`: how fast the filter runs, what it costs in memory, and how close to the hardware."""
from __future__ import annotations

import dataclasses
import json
import multiprocessing as mp
import resource
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Peak dense throughput (FLOP/s) and memory bandwidth (B/s) of GPUs we may run on, from vendor sheets.
GPU_PEAKS = {
    "H100": {"fp32": 67e12, "fp16": 989e12, "bandwidth": 3.35e12},
    "H200": {"fp32": 67e12, "fp16": 989e12, "bandwidth": 4.8e12},
}


MAX_SIDE = 16384


def parse_sizes(text: str) -> list[tuple[int, int]]:
    sizes = []
    for item in text.split(","):
        try:
            w, h = (int(v) for v in item.lower().split("x"))
        except ValueError:
            raise ValueError(f"bad size {item!r}; use WxH, e.g. 640x360") from None
        if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
            raise ValueError(f"bad size {item!r}: width and height must be 1..{MAX_SIDE} (16K)")
        sizes.append((w, h))
    return sizes


def _source(width: int, height: int, frames: int):
    import vapoursynth as vs
    core = vs.core
    # distinct frames (the net's cost does not depend on content, but nothing may be short-circuited)
    return core.std.Splice([core.std.BlankClip(width=width, height=height, format=vs.RGB24, length=1,
                                               color=[(40 + 7 * i) % 256, (90 + 13 * i) % 256, (160 + 3 * i) % 256])
                            for i in range(frames)])


@dataclass(frozen=True)
class Case:
    """One row of the bench matrix."""
    width: int
    height: int
    precision: str = "auto"      # the filter's precision= (auto: its rule; the row shows what it chose)
    batch: int = 1               # windows per forward pass, in the filter and in the bare-net timing
    scales: int | None = None    # None: the weights' own setting
    channels_last: bool | None = None   # the bare net's layout; None: the filter's (NHWC on the CPU only)
    tile: int = 0                # 0: whole frames; else the tile side in px (filter and bare net)
    compile: bool = False        # torch.compile of the learned part (filter and bare net)
    lanes: int | None = None     # the filter's passes at once on the CPU; None: its default (the row says which)


def seam_error(engine, width: int, height: int) -> dict[str, float]:
    """How far tiled output is from whole-frame output, on real footage (the demo clip, resized): a seam
    shows where the block search or the net saw too little context."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from ..video import read_rgb
    from .clips import DEMO_CLIP
    from .metrics import psnr
    frames = torch.from_numpy(read_rgb(DEMO_CLIP, 8)[::2].copy()).permute(0, 3, 1, 2).float() / 127.5 - 1
    frames = F.interpolate(frames, size=(height, width), mode="bilinear", align_corners=False)[None]
    tiled = engine.predict(frames)
    tile, engine.tile = engine.tile, 0
    whole = engine.predict(frames)
    engine.tile = tile
    tiled, whole = (tiled * 127.5).cpu().numpy(), (whole * 127.5).cpu().numpy()   # 8-bit levels
    return {"seam_max_levels": float(np.abs(tiled - whole).max()), "seam_psnr_db": psnr(tiled, whole)}


def _seconds_per_frame(run, device, frames: int, reps: int = 3) -> tuple[Any, float]:
    """``run()`` once to warm (and compile, if asked), then timed over ``reps`` runs of ``frames`` made
    frames each, the device's work included; returns the last result and the seconds per made frame."""
    import torch

    def settle() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    result = run()
    settle()
    start = time.perf_counter()
    for _ in range(reps):
        result = run()
    settle()
    return result, (time.perf_counter() - start) / (reps * frames)


def stage_seconds(engine, x) -> dict[str, float]:
    """Seconds per made frame of the motion search and of the learned part, each run alone on the
    row's windows (whole frames, the full-size pass): which of the two the time goes into."""
    import torch

    h, w = x.shape[-2:]
    xp = engine.prepare(x)
    t = torch.full((x.shape[0],), 0.5)
    with torch.inference_mode(), engine.precision_context():
        moved, motion_s = _seconds_per_frame(lambda: engine.net.motion_stage(xp, t, (h, w)), xp.device,
                                             x.shape[0])
        _, learned_s = _seconds_per_frame(lambda: engine.net.learned_stage(moved, t), xp.device, x.shape[0])
    return {"motion_s_per_frame": motion_s, "learned_s_per_frame": learned_s}


def bench_one(case: Case, device: str, frames: int, compare: bool) -> dict[str, Any]:
    """One case, in a fresh process so peak RSS and CUDA memory belong to it alone."""
    import torch

    from ..filter.devices import resolve_device
    from ..filter.engine import Engine

    from ..filter.formats import check_format
    from ..filter.stages import choose_precision

    dev = resolve_device(device)
    src = _source(case.width, case.height, frames)
    # the precision the filter takes for this clip on this device (auto's choice), named in the row
    precision = choose_precision(case.precision, dev, check_format(_info(src)))
    case = dataclasses.replace(case, precision=precision)
    net, row = _case_net(case, dev)
    if "skipped" in row:
        return row
    row.update(_filter_timings(case, dev, src))
    engine = Engine(net, dev, precision=precision, channels_last=case.channels_last, tile=case.tile,
                    compile=case.compile)
    row["channels_last"] = engine.memory_format is torch.channels_last
    row.update(_net_timings(case, engine))
    row.update(_work(case, engine, row["forward_s_per_frame"]))
    row.update(_against_peaks(row, measure_peaks(dev, precision), precision))
    if compare:
        from .rife import rife_seconds_per_frame
        row.update(_compare(src, frames))
        row.update(rife_seconds_per_frame(case.width, case.height, dev, engine.dtype))
    row["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return row


def _info(clip) -> dict[str, Any]:
    """A clip's facts as the filter's C side hands them to check_format."""
    f = clip.format
    return {"width": clip.width, "height": clip.height, "color_family": int(f.color_family),
            "sample_type": int(f.sample_type), "bits_per_sample": f.bits_per_sample,
            "sub_sampling_w": f.subsampling_w, "sub_sampling_h": f.subsampling_h, "format_name": f.name}


def _case_net(case: Case, dev) -> tuple[Any, dict[str, Any]]:
    """The bundled net as the case runs it, and the row's description of the case; the row says
    "skipped", and why, where the case cannot run here."""
    import vapoursynth as vs

    from ..checkpoint import load_weights
    row: dict[str, Any] = {"size": f"{case.width}x{case.height}", "device": str(dev), "precision": case.precision,
                           "batch": case.batch, "channels_last": case.channels_last, "tile": case.tile,
                           "compiled": case.compile, "threads": vs.core.num_threads}
    from ..filter.stages import choose_lanes
    row["lanes"] = choose_lanes(case.lanes, dev, case.width, case.height)
    net, _ = load_weights(None)
    if case.scales == 1:
        net.drop_scale_fusion()
    elif case.scales == 2 and net.fusion is None:
        return net, {**row, "scales": 2, "skipped": "the bundled weights have no half-size pass (scales=2)"}
    row["scales"] = 2 if net.fusion is not None else 1   # 2: the half-size pass and fusion run too
    row["motion"] = net.config.motion                     # block: block matching runs before the net
    if dev.type != "cuda" and case.precision == "fp16":
        return net, {**row, "skipped": "fp16 needs CUDA"}
    if dev.type != "cuda" and case.precision == "bf16":
        from ..filter.engine import cpu_bf16
        if not cpu_bf16():
            return net, {**row, "skipped": "bf16 needs CUDA or a CPU with native bf16"}
    return net, row


def _filter_timings(case: Case, dev, src) -> dict[str, Any]:
    """Through the plugin as vspipe runs it: the first made frame (cold) and a later one alone (warm), the
    output rate with all threads pulling, and from the filter's profile where a made frame's time goes."""
    import vapoursynth as vs

    from ..filter import profile
    core = vs.core
    kwargs = {"scales": case.scales} if case.scales else {}
    if case.lanes is not None:
        kwargs["lanes"] = case.lanes
    clip = core.convlstm.Interpolate(src, device=str(dev), precision=case.precision, batch=case.batch, tile=case.tile, compile=int(case.compile), **kwargs)
    row: dict[str, Any] = {}
    t = time.perf_counter()
    clip.get_frame(1)                                    # cold: model on device, first window
    row["latency_s"] = time.perf_counter() - t
    t = time.perf_counter()
    clip.get_frame(3)                                    # warm: one made frame on its own
    row["warm_latency_s"] = time.perf_counter() - t
    profile.snapshot(reset=True)
    t = time.perf_counter()
    n = 0
    for _ in clip.frames(prefetch=core.num_threads):     # as vspipe pulls them, all threads
        n += 1
    row["filter_fps"] = n / (time.perf_counter() - t)
    p = profile.snapshot(reset=True)
    made = max(p.get("made_frames", 0), 1)
    # time a serving thread is busy on the host: not waiting for the device nor for another's pass
    # (on the CPU that includes the net itself, which runs synchronously)
    row["host_s_per_frame"] = (p.get("process_s", 0) - p.get("device_wait_s", 0) - p.get("batch_wait_s", 0)) / made
    row["windows_per_pass"] = p.get("windows", 0) / max(p.get("passes", 0), 1)
    return row


def _net_timings(case: Case, engine) -> dict[str, Any]:
    """The bare net at the row's batch, its peak CUDA memory, and either the seam tiles leave or the time
    of its two stages apart."""
    import torch
    dev = engine.device
    row: dict[str, Any] = {}
    x = torch.rand(case.batch, 4, 3, case.height, case.width, device=dev) * 2 - 1
    row["forward_s_per_frame"] = _seconds_per_frame(lambda: engine.predict(x), dev, case.batch)[1]
    if dev.type == "cuda":   # before the seam and the counting below, which run whole frames
        row["peak_cuda_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
    if case.tile:
        row.update(seam_error(engine, case.width, case.height))
    else:
        row.update(stage_seconds(engine, x))
    return row


def _work(case: Case, engine, forward_s: float) -> dict[str, Any]:
    """Counted work per made frame (flops.py) and, on a GPU whose peaks we know, the share of them reached."""
    import torch

    from .flops import count_forward
    dev = engine.device
    work = count_forward(engine.net, case.height, case.width, 1, dev, engine.dtype)
    row: dict[str, Any] = {"gflops_per_frame": work["flops"] / 1e9, "op_gbytes_per_frame": work["bytes"] / 1e9,
                           "motion_gbytes_per_frame": work["motion_bytes"] / 1e9,
                           "ops_per_pass": work["ops"],                 # kernels an eager pass of one window launches
                           "motion_ops_per_pass": work["motion_ops"]}
    row["achieved_gflops_s"] = row["gflops_per_frame"] / forward_s
    if dev.type == "cuda":
        name = torch.cuda.get_device_name(dev)
        peaks = next((v for k, v in GPU_PEAKS.items() if k in name), None)
        if peaks:
            row["compute_fraction"] = row["achieved_gflops_s"] * 1e9 / peaks["fp32" if case.precision == "fp32"
                                                                               else "fp16"]
            row["bandwidth_fraction"] = row["op_gbytes_per_frame"] * 1e9 / forward_s / peaks["bandwidth"]
    return row


def measure_peaks(dev, precision: str = "fp32") -> dict[str, float]:
    """This machine's dense compute in GFLOP/s, measured: a 2048-square matmul and a 3x3 convolution of 64
    channels on 128x128 (the net's kind of work), in fp32 and the row's half precision if it has one (bf16 as
    well on a CPU, where it tells what a bf16 path could gain), every core (or the GPU), over five runs."""
    import torch
    out: dict[str, float] = {}
    names = {"fp32"} | ({"bf16"} if dev.type == "cpu" else set()) | ({precision} - {"fp32"})
    for name, dtype in (("fp32", torch.float32), ("fp16", torch.float16), ("bf16", torch.bfloat16)):
        if name not in names:
            continue
        a = torch.randn(2048, 2048, device=dev, dtype=dtype)
        x = torch.randn(4, 64, 128, 128, device=dev, dtype=dtype)
        w = torch.randn(64, 64, 3, 3, device=dev, dtype=dtype)
        with torch.inference_mode():
            mm = _seconds_per_frame(lambda: a @ a, dev, 1, reps=5)[1]
            conv = _seconds_per_frame(lambda: torch.nn.functional.conv2d(x, w, padding=1), dev, 1, reps=5)[1]
        out[f"peak_{name}_matmul_gflops_s"] = 2 * 2048**3 / mm / 1e9
        out[f"peak_{name}_conv_gflops_s"] = 2 * 4 * 64 * 64 * 9 * 128 * 128 / conv / 1e9
    return out


def _against_peaks(row: dict[str, Any], peaks: dict[str, float], precision: str) -> dict[str, Any]:
    """The peaks, and the share of the row's precision's conv peak its learned part reaches (its FLOPs are
    the net's convolutions; the motion search's resampling adds few) and the whole net."""
    conv = peaks[f"peak_{precision}_conv_gflops_s"]
    out: dict[str, Any] = dict(peaks)
    if row.get("learned_s_per_frame"):
        out["learned_of_peak"] = row["gflops_per_frame"] / row["learned_s_per_frame"] / conv
    out["net_of_peak"] = row["achieved_gflops_s"] / conv
    return out


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


def _in_fresh_process(case: Case, device: str, frames: int, compare: bool) -> dict[str, Any]:
    """One row in a new process (each row's memory and compile caches start empty); a process that dies
    (out of memory, a native abort) ends the bench with its row named, never a wait on it forever."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        try:
            return pool.submit(_worker, (case, device, frames, compare)).result()
        except BrokenProcessPool:
            raise RuntimeError(f"the bench process for {case.width}x{case.height} precision {case.precision} batch "
                               f"{case.batch} died (out of memory, or killed); try a smaller size or batch") from None


def cases(sizes: list[tuple[int, int]], precisions: list[str], batches: list[int], scales: list[int | None],
          channels_last: bool | None = None, tiles: list[int] | None = None, compile: bool = False,
          lanes: list[int | None] | None = None) -> list[Case]:
    """Every combination, sizes outermost (the order of the table)."""
    return [Case(w, h, p, b, s, channels_last, tile, compile, lane) for w, h in sizes for p in precisions
            for s in scales for tile in (tiles or [0]) for b in batches for lane in (lanes or [None])]


COLUMNS = [("size", "{}"), ("device", "{}"), ("precision", "{}"), ("batch", "{}"), ("lanes", "{}"), ("scales", "{}"),
           ("tile", "{}"), ("compiled", "{}"), ("motion", "{}"), ("filter_fps", "{:.2f}"), ("latency_s", "{:.3f}"),
           ("warm_latency_s", "{:.3f}"), ("windows_per_pass", "{:.2f}"), ("host_s_per_frame", "{:.4f}"),
           ("forward_s_per_frame", "{:.4f}"), ("motion_s_per_frame", "{:.4f}"), ("learned_s_per_frame", "{:.4f}"),
           ("gflops_per_frame", "{:.1f}"), ("achieved_gflops_s", "{:.1f}"),
           ("peak_fp32_conv_gflops_s", "{:.0f}"), ("peak_fp16_conv_gflops_s", "{:.0f}"),
           ("peak_bf16_conv_gflops_s", "{:.0f}"),
           ("learned_of_peak", "{:.0%}"), ("net_of_peak", "{:.0%}"),
           ("op_gbytes_per_frame", "{:.2f}"), ("motion_gbytes_per_frame", "{:.2f}"), ("ops_per_pass", "{:.0f}"),
           ("motion_ops_per_pass", "{:.0f}"),
           ("compute_fraction", "{:.1%}"), ("bandwidth_fraction", "{:.1%}"), ("peak_rss_mib", "{:.0f}"),
           ("peak_cuda_mib", "{:.0f}"), ("seam_max_levels", "{:.1f}"), ("seam_psnr_db", "{:.1f}"),
           ("mvtools_fps", "{:.1f}"), ("svp_fps", "{:.1f}"), ("rife_s_per_frame", "{:.4f}"), ("skipped", "{}")]


# printed headers where the JSON key alone reads wrong: the filter's rate counts every output frame (at 2x half
# of them are source frames passed through), the forward time is one run of the network for one made frame
HEADERS = {"filter_fps": "output_fps", "forward_s_per_frame": "net_s_per_made_frame",
           "motion_s_per_frame": "motion_s", "learned_s_per_frame": "learned_s",
           "rife_s_per_frame": "rife4.25_s_per_frame", "host_s_per_frame": "host_s_per_made_frame"}
FOOTNOTE = ("output_fps: output frames per second through the filter, end to end (at 2x half are source frames "
            "passed through); latency: the first made frame (cold: model to the device) and a later one alone "
            "(warm); windows_per_pass: windows that shared a forward pass in the filter run; host_s_per_made_frame: "
            "time a serving thread is busy on the host per made frame, waits for the device or for another "
            "thread's pass excluded (on the CPU the net runs synchronously and is included; with lanes > 1 each "
            "pass on its share of the threads, so the lanes' times add up to more than the wall time); lanes: passes "
            "at once on the CPU; net_s_per_made_frame: the network alone on all threads, at the row's batch; motion_s and learned_s: its motion "
            "search and its learned part, each timed alone per made frame (untiled rows); seam: tiled against whole-frame output on "
            "the demo clip resized to the row's size (8-bit levels, PSNR between the two); op_gbytes: what the net's "
            "operations read and write per made frame, counted (a floor of memory traffic), motion_gbytes the block "
            "search's share; ops_per_pass: operations that run a kernel in one eager pass of one window (each a launch "
            "on a GPU; a larger batch adds a few), motion_ops the block search's share; rife4.25_s_per_frame: vs-rife's RIFE "
            "4.25 network (random weights) per made frame, same input, device and precision; peak_*_conv: this machine's "
            "3x3 convolution rate (64 channels, 128x128, all cores), measured in the row's process; learned_of_peak and "
            "net_of_peak: the learned part's and the whole net's GFLOP/s over the row's precision's conv peak")


def format_table(rows: list[dict[str, Any]]) -> str:
    cols = [(k, f) for k, f in COLUMNS if any(k in r for r in rows)]
    widths = [max(len(HEADERS.get(k, k)), 8) for k, _ in cols]
    header = "  ".join(f"{HEADERS.get(k, k):>{w}}" for (k, _), w in zip(cols, widths))
    lines = [header]
    for r in rows:
        lines.append("  ".join(f"{(f.format(r[k]) if k in r else '-'):>{w}}" for (k, f), w in zip(cols, widths)))
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
    series: dict[str, list[tuple[float, float]]] = {}
    for p, r in zip(pixels, rows):   # one line per configuration of ours; the peers once (they have no batch)
        config = f"convlstm {r.get('precision', 'fp32')} batch {r.get('batch', 1)}"
        for key, label in (("filter_fps", config), ("mvtools_fps", "mvtools"), ("svp_fps", "SVPFlow")):
            if r.get(key) and p not in [x for x, _ in series.get(label, [])]:
                series.setdefault(label, []).append((p, r[key]))
    for label, points in series.items():
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


def bench(sizes: list[tuple[int, int]], device: str = "auto", precisions: list[str] | None = None,
          batches: list[int] | None = None, frames: int = 20, compare: bool = False,
          json_path: str | Path | None = "bench.json", scales: list[int | None] | None = None,
          channels_last: bool | None = None, tiles: list[int] | None = None, compile: bool = False,
          lanes: list[int | None] | None = None) -> list[dict[str, Any]]:
    """The matrix sizes x precisions x scales x batches, one fresh process per row."""
    precisions, batches, scales = precisions or ["auto"], batches or [1], scales or [None]
    if min(batches) < 1 or frames < 2:
        raise ValueError("--batch must be >= 1 and --frames >= 2")
    from ..options import PRECISIONS
    unknown = [p for p in precisions if p not in PRECISIONS]
    if unknown:
        raise ValueError(f"unknown precision {unknown[0]!r}; use {', '.join(PRECISIONS)}")
    from .report import machine_description
    rows = [_in_fresh_process(case, device, frames, compare)
            for case in cases(sizes, precisions, batches, scales, channels_last, tiles, compile, lanes)]
    print(format_table(rows))
    from ..model.kernels import instruction_set
    machine = f"{machine_description()}, motion kernel: {instruction_set() or 'not built (torch)'}"
    print(f"machine: {machine}")
    if json_path:
        Path(json_path).write_text(json.dumps({"machine": machine, "rows": rows}, indent=2))
        png = Path(json_path).with_suffix(".png")
        plot_rates([r for r in rows if "filter_fps" in r], machine, png)
        print(f"wrote {json_path} and {png}")
    return rows
