"""The `convlstm` command: train, interpolate, demo, evaluate, bench."""
from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..options import PRECISIONS, RETIRED


DEVICE_HELP = "auto, cpu, cuda or cuda:N (default auto: the first CUDA GPU, else the CPU)"
WEIGHTS_HELP = "checkpoint file, or paper (default: the bundled model)"


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
    from ..adapt.method import adapted_methods
    from ..evaluate.report import evaluate
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    evaluate(args.clips, frames=args.frames, methods=methods, weights=args.weights, device=args.device,
             out_dir=args.out, extra_methods=adapted_methods(args.adapt_minutes), repeats=args.repeats,
             precision=args.precision)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..evaluate.bench import bench, parse_sizes

    def listed(text: str, kind=str) -> list:
        try:
            return [kind(v) for v in text.split(",") if v.strip()]
        except ValueError:
            raise ValueError(f"bad list {text!r}; use comma-separated values, e.g. 1,2,4") from None
    if args.fp16:
        raise UsageError(RETIRED["fp16"].cli)
    precisions = listed(args.precision)
    scales = [None] if args.scales is None else listed(args.scales, int)
    if any(s not in (1, 2) for s in scales if s is not None):
        raise ValueError(f"--scales takes 1 and/or 2, got {args.scales}")
    bench(parse_sizes(args.sizes), device=args.device, precisions=precisions, batches=listed(args.batch, int),
          frames=args.frames, compare=args.compare, json_path=args.json, scales=scales,
          channels_last=args.channels_last, tiles=listed(args.tile, int), compile=args.compile,
          lanes=None if args.lanes is None else listed(args.lanes, int))
    return 0


def cmd_adapt(args: argparse.Namespace) -> int:
    from ..adapt.clip import adapt_file
    from ..adapt.loop import AdaptInterrupted, describe
    for flag, value in (("--minutes", args.minutes), ("--steps", args.steps)):
        if value is not None and not (math.isfinite(value) and value > 0):
            raise UsageError(f"{flag} must be a positive number, got {value}")
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


def add_train(sub: Any, common: argparse.ArgumentParser) -> None:
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


def add_adapt(sub: Any, common: argparse.ArgumentParser) -> None:
    a = sub.add_parser("adapt", parents=[common], help="fine-tune the weights on one clip's own frames "
                       "(for Interpolate(clip, weights=...) or convlstm interpolate --weights)")
    a.add_argument("input")
    a.add_argument("-o", "--output", help="where to write the adapted weights (*.pt; default: a cache folder, "
                   "never beside the input)")
    a.add_argument("--minutes", type=float, default=3.0, help="wall-time budget (default 3)")
    a.add_argument("--steps", type=int, help="step budget (with --minutes: whichever ends first)")
    a.add_argument("--device", default="auto", help=DEVICE_HELP)
    a.add_argument("--weights", help="starting weights (default: the bundled model)")
    a.add_argument("--force", action="store_true", help="overwrite -o")
    a.add_argument("--quiet", action="store_true", help="no progress bar")
    a.set_defaults(func=cmd_adapt)


def add_tools(sub: Any, common: argparse.ArgumentParser) -> None:
    """vpy, ffmpeg and demo: the commands around the filter for people without a script."""
    v = sub.add_parser("vpy", help="print the path of the installed interpolate.vpy (for vspipe, vs-preview, "
                       "vsedit, frameservers): vspipe -c y4m -a input=in.mp4 \"$(convlstm vpy)\" - | ...")
    v.set_defaults(func=cmd_vpy)
    f = sub.add_parser("ffmpeg", add_help=False, help="run the ffmpeg binary bundled with imageio-ffmpeg, "
                       "e.g. ... | convlstm ffmpeg -i - out.mkv")
    f.set_defaults(func=lambda args: run_ffmpeg([]))   # main() hands every argument over before parsing
    d = sub.add_parser("demo", parents=[common],
                       help="interpolate the bundled demo clip and write a side-by-side PNG")
    d.add_argument("--out", default="convlstm-demo", help="output folder (default ./convlstm-demo)")
    d.add_argument("--device", default="auto", help=DEVICE_HELP)
    d.add_argument("--weights", help=WEIGHTS_HELP)
    d.add_argument("--quiet", action="store_true", help="no progress bar")
    d.set_defaults(func=cmd_demo)


def add_measure(sub: Any, common: argparse.ArgumentParser) -> None:
    """evaluate and bench: what the weights are worth, and how fast they run."""
    from ..evaluate import DEFAULT_METHODS
    from ..evaluate.held import PATTERNS
    e = sub.add_parser("evaluate", parents=[common], help="PSNR, SSIM, VMAF and sharpness of odd frames predicted "
                       "from even frames, against the peers (docs/design.md)")
    e.add_argument("clips", nargs="+", help="video files, or bikes / bigbuckbunny / carphone")
    e.add_argument("--frames", type=int, default=60, help="first N frames of each clip (default 60)")
    e.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help="comma-separated; also convlstm-adapted (adapts on the even frames only, then interpolates), "
                   "convlstm-dedup (dedup=1) and convlstm-full-rate (ours on the clip before --repeats held it)")
    e.add_argument("--repeats", choices=PATTERNS, help="hold the even frames first: twos, threes (each picture "
                   "shown 2 or 3 times) or drops (a random tenth replaced by the frame before), to measure dedup "
                   "(docs/results.md)")
    e.add_argument("--adapt-minutes", type=float, default=None,
                   help="budget of convlstm-adapted per clip (default 3)")
    e.add_argument("--weights", help=WEIGHTS_HELP)
    e.add_argument("--device", default="auto", help=DEVICE_HELP)
    e.add_argument("--precision", choices=PRECISIONS, help="the filter's precision for our methods (default: its "
                   "own, auto)")
    e.add_argument("--out", default="eval", help="folder for CSV and plots (default ./eval)")
    e.set_defaults(func=cmd_evaluate)
    b = sub.add_parser("bench", parents=[common], help="speed, memory and FLOPs of the filter per frame size")
    b.add_argument("--device", default="auto", help=DEVICE_HELP)
    b.add_argument("--sizes", default="640x360,1280x720,1920x1080", help="frame sizes WxH, comma-separated "
                   "(default 640x360,1280x720,1920x1080)")
    b.add_argument("--precision", default="auto", help="the filter's precision: auto, fp32, fp16, bf16, or several: "
                   "fp32,bf16 (default auto; fp16 needs CUDA, bf16 CUDA or a CPU with native bf16); the table names "
                   "the precision each row ran in")
    b.add_argument("--fp16", action="store_true", help=argparse.SUPPRESS)   # replaced: says so
    b.add_argument("--batch", default="1", help="windows per forward pass, in the filter and the bare-net timing; "
                   "several: 1,2,4,8")
    b.add_argument("--lanes", default=None, help="the filter's passes at once on the CPU, or several: 1,2 (default: "
                   "the filter's own choice, which the table names)")
    b.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="the learned part's layout in the bare-net timing: NHWC (--channels-last) or NCHW "
                   "(--no-channels-last); default the filter's, NHWC on the CPU and NCHW on CUDA")
    b.add_argument("--compile", action="store_true", help="torch.compile the net's learned part (filter and "
                   "bare net; the latency columns then include the compile)")
    b.add_argument("--tile", default="0", help="tile side in px (0: whole frames), or several: 0,1024; a tiled row "
                   "also measures the seam against whole frames")
    b.add_argument("--frames", type=int, default=20, help="source frames pulled through the filter per size "
                   "(default 20)")
    b.add_argument("--compare", action="store_true", help="also time mvtools and SVPFlow when installed")
    b.add_argument("--scales", default=None, help="1: the full-size pass only, 2: with the half-size pass, or "
                   "1,2 (default: the weights' own setting)")
    b.add_argument("--json", default="bench.json", help="where to write the JSON (default ./bench.json)")
    b.set_defaults(func=cmd_bench)


def build_parser() -> argparse.ArgumentParser:
    from . import interpolate
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="print the whole traceback of an error and debug logging (default: one line)")
    p = argparse.ArgumentParser(prog="convlstm", description="ConvLSTM frame interpolation for VapourSynth",
                                parents=[common])
    sub = p.add_subparsers(dest="command", required=True)   # every command takes --debug too
    add_train(sub, common)
    interpolate.add_parser(sub, common)
    add_adapt(sub, common)
    add_tools(sub, common)
    add_measure(sub, common)
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


def error_line(exc: BaseException, command: str) -> str:
    """One line for the user, in the terms of the command they ran (one prefix, its flags)."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    msg = msg.removeprefix("convlstm.Interpolate: ")
    if command == "interpolate":
        from .interpolate import cli_wording
        msg = cli_wording(msg)
    return msg


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
    from ..log import logger   # its handler before anything logs (a notice logged earlier would be lost)
    if args.debug:
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
        print(f"convlstm {args.command}: {error_line(exc, args.command)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:   # the signal that arrived first, however it surfaced
        return _interrupted(RECEIVED[0] if RECEIVED else exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


if __name__ == "__main__":
    sys.exit(main())
