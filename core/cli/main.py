"""The `convlstm` command: train, interpolate, demo, evaluate, bench."""
from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any


def apply_override(cfg: dict, item: str) -> None:
    """`--set data.crop=192`: one config value from the command line, parsed as YAML.

    A number picks a list entry: `--set data.sources.0.codec_probability=0`.
    """
    import yaml
    key, sep, text = item.partition("=")
    if not sep or not key:
        raise ValueError(f"--set takes KEY=VALUE (e.g. batch_size=16 or data.crop=192), got {item!r}")
    node: Any = cfg
    parts = key.split(".")
    for depth, part in enumerate(parts, 1):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            slot: Any = int(part)
        elif isinstance(node, dict) and part in node:
            slot = part
        else:
            known = f"0..{len(node) - 1}" if isinstance(node, list) else sorted(node) if isinstance(node, dict) else "nothing"
            raise ValueError(f"--set {item}: the config has no {key!r} ({part!r} is not one of {known})")
        if depth == len(parts):
            node[slot] = yaml.safe_load(text)
        else:
            node = node[slot]


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import CONFIG_DIR
    from ..train.config import load_train_config
    from ..train.loop import train
    cfg = load_train_config(args.config or CONFIG_DIR / "default.yaml")
    if args.out_dir:
        cfg["out_dir"] = args.out_dir
    if args.steps:
        cfg["steps"] = args.steps
    if args.lr:
        cfg["optim"]["lr"] = args.lr
    for item in args.set or []:
        apply_override(cfg, item)
    budget = None if args.time_budget is None else args.time_budget * 60
    best = train(cfg, resume=args.resume, max_steps=args.max_steps, init=args.init, time_budget_s=budget)
    print(f"best checkpoint: {best}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate.report import evaluate
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    evaluate(args.clips, frames=args.frames, methods=methods, weights=args.weights, device=args.device,
             out_dir=args.out, adapt_minutes=args.adapt_minutes)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..evaluate.bench import bench, parse_sizes

    def listed(text: str, kind=str) -> list:
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"bad list {text!r}; use comma-separated values, e.g. 1,2,4") from None
    precisions = ["fp16"] if args.fp16 else listed(args.precision)
    scales = [None] if args.scales is None else listed(args.scales, int)
    if any(s not in (1, 2) for s in scales if s is not None):
        raise ValueError(f"--scales takes 1 and/or 2, got {args.scales}")
    bench(parse_sizes(args.sizes), device=args.device, precisions=precisions, batches=listed(args.batch, int),
          frames=args.frames, compare=args.compare, json_path=args.json, scales=scales,
          channels_last=args.channels_last, tiles=listed(args.tile, int), compile=args.compile)
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from ..adapt.clip import adapt_file
    from ..adapt.loop import AdaptInterrupted, describe
    from .interpolate import UsageError
    out = Path(args.output) if args.output else None
    if out is not None:
        if out.exists() and Path(args.input).exists() and os.path.samefile(out, args.input):
            raise UsageError(f"-o {str(out)!r} is the input file")
        if out.exists() and not args.force:
            raise UsageError(f"-o {str(out)!r} exists; pass --force to overwrite")
        if out.suffix != ".pt":
            raise UsageError(f"-o {str(out)!r}: adapted weights are a checkpoint, name it *.pt")
    try:
        result = adapt_file(args.input, minutes=args.minutes, steps=args.steps, device=args.device,
                            weights=args.weights, out=out, progress=not args.quiet)
    except AdaptInterrupted as exc:   # the best weights so far are kept: say where, not "nothing was written"
        signum = exc.signal.signum if isinstance(exc.signal, Terminated) else signal.SIGINT
        print(f"convlstm adapt: interrupted ({signal.Signals(signum).name}); {describe(exc.result)}", file=sys.stderr)
        return 128 + signum
    print(describe(result))
    return 0


def cmd_interpolate(args: argparse.Namespace) -> int:
    from .interpolate import UsageError
    if args.out_dir is None and args.cluster is None:
        if len(args.paths) != 2:
            raise UsageError("give INPUT OUTPUT, or several inputs (files or folders) with -o OUT_DIR")
        return interpolate_one(args, *args.paths)
    if args.out_dir is None:
        raise UsageError("--cluster writes into a folder: give -o OUT_DIR")
    if args.adapt is not None:
        raise UsageError("--adapt works on one input at a time (without -o): adapt each clip with convlstm adapt")
    if args.cluster is not None:
        return interpolate_on_cluster(args)
    from ..cluster.driver import expand_inputs, outputs_for
    sources = expand_inputs(args.paths)
    for src, out in zip(sources, outputs_for(sources, Path(args.out_dir), args.ext if args.ext.startswith(".")
                                             else f".{args.ext}")):
        interpolate_one(args, str(src), str(out))
    return 0


def interpolate_one(args: argparse.Namespace, source: str, output: str) -> int:
    from .interpolate import run
    weights = args.weights
    if args.adapt is not None:
        from ..adapt.clip import adapt_file
        from ..adapt.loop import describe
        result = adapt_file(source, minutes=args.adapt, device=args.device, weights=weights,
                            progress=not args.quiet)
        print(f"convlstm: {describe(result)}", file=sys.stderr)
        weights = str(result.path) if result.adapted else weights
    r = run(source, output, factor=args.factor, device=args.device, weights=weights,
            fp16=args.fp16, codec=args.codec, crf=args.crf, force=args.force, progress=not args.quiet,
            scales=args.scales, fps=args.fps, assume_progressive=args.assume_progressive, tile=args.tile,
            compile=args.compile, detail=args.detail)
    print(f"wrote {r.output}: {r.frames} frames at {r.fps:.3f} fps in {r.seconds:.1f} s "
          f"({r.frames / max(r.seconds, 1e-9):.1f} frames/s)")
    return 0


def interpolate_on_cluster(args: argparse.Namespace) -> int:
    from ..cluster.driver import run_cluster
    from .interpolate import UsageError
    if args.fps is not None:
        raise UsageError("--cluster takes a whole --factor, not --fps")
    s = run_cluster(args.paths, args.out_dir, address=None if args.cluster == "local" else args.cluster,
                    factor=args.factor, device=args.device, weights=args.weights, fp16=args.fp16,
                    scales=args.scales, tile=args.tile, compile=args.compile, detail=args.detail, codec=args.codec, crf=args.crf, ext=args.ext, force=args.force,
                    assume_progressive=args.assume_progressive, chunk_frames=args.chunk_frames,
                    progress=not args.quiet, workers=args.workers)
    print(f"{'worker':<28}{'frames':>8}{'work s':>9}{'frames/s':>10}")
    for worker, (frames, seconds) in sorted(s.per_worker.items()):
        print(f"{worker:<28}{frames:>8}{seconds:>9.1f}{frames / max(seconds, 1e-9):>10.2f}")
    print(f"{len(s.outputs)} output(s), {s.pieces} pieces ({s.reused} reused from an earlier run), "
          f"{s.retries} retried; {s.frames} frames in {s.seconds:.1f} s ({s.frames / max(s.seconds, 1e-9):.2f} frames/s)")
    for out in s.outputs:
        print(f"wrote {out}")
    return 0


VPY = Path(__file__).resolve().parents[1] / "assets" / "interpolate.vpy"


def cmd_vpy(args: argparse.Namespace) -> int:
    print(VPY)
    return 0


def run_ffmpeg(arguments: list[str]) -> int:
    """The bundled ffmpeg binary in place of this process (for pipelines on machines without one): its
    exit status, signals and output are ffmpeg's own."""
    from ..video import ffmpeg_exe
    exe = ffmpeg_exe()
    os.execv(exe, [exe, *arguments])
    return 127   # not reached


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run
    r = run(args.out, device=args.device, weights=args.weights, progress=not args.quiet)
    print(f"demo: {r['video']} ({r['frames']} frames at {r['fps']:.3f} fps, {r['seconds']:.1f} s wall); "
          f"side-by-side: {r['png']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the whole traceback of an error and debug logging (default: one line)")
    p = argparse.ArgumentParser(prog="convlstm", description="ConvLSTM frame interpolation for VapourSynth",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True)   # every command takes --debug too
    t = sub.add_parser("train", parents=[common], help="train a model from a YAML config")
    t.add_argument("--config", help="YAML config (default: the shipped default.yaml)")
    t.add_argument("--resume", help="a last.pt checkpoint to continue from")
    t.add_argument("--out-dir", help="override out_dir")
    t.add_argument("--steps", type=int, help="override the schedule's total steps")
    t.add_argument("--lr", type=float, help="override the peak learning rate (also when resuming)")
    t.add_argument("--max-steps", type=int, help="stop after this many steps in this run (resume later)")
    t.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override one config value, e.g. --set batch_size=8 --set data.crop=192 (repeatable)")
    t.add_argument("--init", help="start a new run (step 0, fresh optimiser) from this checkpoint's weights")
    t.add_argument("--time-budget", type=float, metavar="MINUTES",
                   help="fit the schedule to this wall time (start-up included) and stop when it is spent")
    t.set_defaults(func=cmd_train)
    i = sub.add_parser("interpolate", parents=[common],
                       help="file in, file out: raise the frame rate of a video")
    i.add_argument("paths", nargs="+", metavar="INPUT [OUTPUT]",
                   help="INPUT OUTPUT (the output's extension picks the container), or with -o: several inputs "
                   "(files or folders)")
    i.add_argument("-o", "--out-dir", help="write OUT_DIR/<input stem><--ext> for every input")
    i.add_argument("--ext", default=".mkv", help="extension of the outputs with -o (default .mkv)")
    i.add_argument("--cluster", nargs="?", const="local", metavar="ADDRESS",
                   help="run on Ray: no address: a local Ray instance on this machine; auto or ray://host:port: "
                   "an existing cluster (pip install 'vapoursynth-convlstm[cluster]')")
    i.add_argument("--workers", type=int, default=None,
                   help="CPU workers of the local Ray instance with --cluster (default: one per core)")
    i.add_argument("--chunk-frames", type=int, default=None,
                   help="source frames per piece with --cluster (default 240; pieces end at scene cuts nearby)")
    rate = i.add_mutually_exclusive_group()
    rate.add_argument("--factor", help="frames out per frame in: a whole number (2 to 64) or a fraction such as 5/2 "
                      "(default 2; other than powers of two with the bundled model or any weights that take "
                      "the time position)")
    rate.add_argument("--fps", help="a target rate instead, e.g. 60, 60000/1001 or 59.94 (= 60000/1001)")
    i.add_argument("--adapt", type=float, metavar="MINUTES",
                   help="first fine-tune the weights on this clip's own frames for MINUTES (kept only if they "
                   "beat the starting weights on windows held aside); see `convlstm adapt`")
    i.add_argument("--assume-progressive", action="store_true",
                   help="treat a source flagged interlaced as progressive (when the flag is wrong)")
    i.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    i.add_argument("--weights", help="checkpoint (default: the bundled model)")
    i.add_argument("--fp16", action="store_true", default=None, help="half precision on CUDA")
    i.add_argument("--scales", type=int, choices=(1, 2), default=None,
                   help="1: full-size pass only (faster); 2: plus the half-size pass (default with the bundled model)")
    i.add_argument("--tile", type=int, default=None, help="run frames larger than this many px on a side in tiles "
                   "(at least 64; bounds GPU memory, e.g. 1024 for 4K on a 16 GB card); default whole frames")
    i.add_argument("--detail", type=float, default=None, help="0..1: how much of the source frames' sharpness the "
                   "new frames get back (default: the weights' own, 1 for the bundled model; 0: the net's frame, a "
                   "little higher PSNR, softer)")
    i.add_argument("--compile", action="store_true", default=None, help="torch.compile the network's learned "
                   "part: about 30 s once per frame size (cached for later runs), then faster frames")
    i.add_argument("--codec", default="auto", help="ffmpeg video encoder (default auto: the input's family, "
                   "e.g. HEVC in, libx265 out; ProRes in, prores_ks out; else libx264)")
    i.add_argument("--crf", type=int, default=18, help="quality for x264/x265/vp9/av1 (default 18)")
    i.add_argument("--force", action="store_true", help="overwrite an existing output")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=cmd_interpolate)
    a = sub.add_parser("adapt", parents=[common], help="fine-tune the weights on one clip's own frames "
                       "(for Interpolate(clip, weights=...) or convlstm interpolate --weights)")
    a.add_argument("input")
    a.add_argument("-o", "--output", help="where to write the adapted weights (*.pt; default: a cache folder, "
                   "never beside the input)")
    a.add_argument("--minutes", type=float, default=3.0, help="wall-time budget (default 3)")
    a.add_argument("--steps", type=int, help="step budget (with --minutes: whichever ends first)")
    a.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    a.add_argument("--weights", help="starting weights (default: the bundled model)")
    a.add_argument("--force", action="store_true", help="overwrite -o")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_adapt)
    v = sub.add_parser("vpy", help="print the path of the installed interpolate.vpy (for vspipe, vs-preview, "
                       "vsedit, frameservers): vspipe -c y4m -a input=in.mp4 \"$(convlstm vpy)\" - | ...")
    v.set_defaults(func=cmd_vpy)
    f = sub.add_parser("ffmpeg", add_help=False, help="run the ffmpeg binary bundled with imageio-ffmpeg, "
                       "e.g. ... | convlstm ffmpeg -i - out.mkv")
    f.set_defaults(func=lambda args: run_ffmpeg([]))   # main() hands every argument over before parsing
    d = sub.add_parser("demo", parents=[common],
                       help="interpolate the bundled demo clip and write a side-by-side PNG")
    d.add_argument("--out", default="convlstm-demo", help="output folder (default ./convlstm-demo)")
    d.add_argument("--device", default="auto")
    d.add_argument("--weights")
    d.add_argument("--quiet", action="store_true")
    d.set_defaults(func=cmd_demo)
    e = sub.add_parser("evaluate", parents=[common],
                       help="PSNR/SSIM of odd frames predicted from even frames (docs/design.md)")
    e.add_argument("clips", nargs="+", help="video files, or bikes / bigbuckbunny / carphone")
    e.add_argument("--frames", type=int, default=60, help="first N frames of each clip (default 60)")
    e.add_argument("--methods", default="convlstm,paper,blend,repeat,mvtools,svp",
                   help="comma-separated; also convlstm-adapted (adapts on the even frames only, then interpolates)")
    e.add_argument("--adapt-minutes", type=float, default=None,
                   help="budget of convlstm-adapted per clip (default 3)")
    e.add_argument("--weights", help="checkpoint for convlstm (default: the bundled model)")
    e.add_argument("--device", default="auto")
    e.add_argument("--out", default="eval", help="folder for CSV and plots (default ./eval)")
    e.set_defaults(func=cmd_evaluate)
    b = sub.add_parser("bench", parents=[common], help="speed, memory and FLOPs of the filter per frame size")
    b.add_argument("--device", default="auto")
    b.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    b.add_argument("--precision", default="fp32", help="fp32, fp16, bf16, or several: fp32,fp16,bf16 (half: CUDA "
                   "only; bf16 is timed on the bare net, the filter's switch is fp16)")
    b.add_argument("--fp16", action="store_true", help="same as --precision fp16")
    b.add_argument("--batch", default="1", help="windows per forward pass, in the filter and the bare-net timing; "
                   "several: 1,2,4,8")
    b.add_argument("--channels-last", action="store_true", help="NHWC activations for the bare-net timing")
    b.add_argument("--compile", action="store_true", help="torch.compile the net's learned part (filter and "
                   "bare net; the latency columns then include the compile)")
    b.add_argument("--tile", default="0", help="tile side in px (0: whole frames), or several: 0,1024; a tiled row "
                   "also measures the seam against whole frames")
    b.add_argument("--frames", type=int, default=20, help="source frames pulled through the filter per size")
    b.add_argument("--compare", action="store_true", help="also time mvtools and SVPFlow when installed")
    b.add_argument("--scales", default=None, help="1: the full-size pass only, 2: with the half-size pass, or "
                   "1,2 (default: the bundled model's own setting)")
    b.add_argument("--json", default="bench.json", help="where to write the JSON (default ./bench.json)")
    b.set_defaults(func=cmd_bench)
    return p


class Terminated(KeyboardInterrupt):
    """SIGINT, SIGTERM or SIGHUP: the run stops (children killed, the partial file removed)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


RECEIVED: list[int] = []   # signals that stopped the run (one raised inside the plugin comes back as vs.Error)


def _terminate(signum: int, _frame) -> None:
    RECEIVED.append(signum)
    raise Terminated(signum)


def _interrupted(signum: int) -> int:
    print(f"convlstm: interrupted ({signal.Signals(signum).name}); nothing was written", file=sys.stderr)
    return 128 + signum


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ffmpeg"]:
        return run_ffmpeg(argv[1:])
    args = build_parser().parse_args(argv)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _terminate)
    args.debug = getattr(args, "debug", False)
    if args.debug:
        from ..log import logger   # its handler first: importing it later would reset the level
        logger.setLevel(logging.DEBUG)
    import vapoursynth as vs

    from ..errors import SourceError
    try:
        return args.func(args)
    except (OSError, ValueError, SourceError, vs.Error, RuntimeError) as exc:
        if RECEIVED:   # the signal surfaced through the plugin as its error
            return _interrupted(RECEIVED[0])
        if args.debug:
            traceback.print_exc()
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"convlstm {args.command}: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        return _interrupted(exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
