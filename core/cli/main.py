"""The `convlstm` command: train, interpolate, demo, evaluate, bench."""
from __future__ import annotations

import argparse
import sys


def cmd_train(args: argparse.Namespace) -> int:
    from ..config import CONFIG_DIR
    from ..train.config import load_train_config
    from ..train.loop import train
    cfg = load_train_config(args.config or CONFIG_DIR / "default.yaml")
    if args.out_dir:
        cfg["out_dir"] = args.out_dir
    if args.steps:
        cfg["steps"] = args.steps
    best = train(cfg, resume=args.resume, max_steps=args.max_steps)
    print(f"best checkpoint: {best}")
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from ..evaluate.report import evaluate
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    evaluate(args.clips, frames=args.frames, methods=methods, weights=args.weights, device=args.device,
             out_dir=args.out)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from ..evaluate.bench import bench, parse_sizes
    bench(parse_sizes(args.sizes), device=args.device, fp16=args.fp16, batch=args.batch, frames=args.frames,
          compare=args.compare, json_path=args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="convlstm", description="ConvLSTM frame interpolation for VapourSynth")
    sub = p.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train a model from a YAML config")
    t.add_argument("--config", help="YAML config (default: the shipped default.yaml)")
    t.add_argument("--resume", help="a last.pt checkpoint to continue from")
    t.add_argument("--out-dir", help="override out_dir")
    t.add_argument("--steps", type=int, help="override the schedule's total steps")
    t.add_argument("--max-steps", type=int, help="stop after this many steps in this run (resume later)")
    t.set_defaults(func=cmd_train)
    e = sub.add_parser("evaluate", help="PSNR/SSIM of odd frames predicted from even frames (DESIGN.md protocol)")
    e.add_argument("clips", nargs="+", help="video files, or bikes / bigbuckbunny / carphone")
    e.add_argument("--frames", type=int, default=60, help="first N frames of each clip (default 60)")
    e.add_argument("--methods", default="convlstm,blend,repeat,mvtools,svp")
    e.add_argument("--weights", help="checkpoint for convlstm (default: the bundled model)")
    e.add_argument("--device", default="auto")
    e.add_argument("--out", default="eval", help="folder for CSV and plots (default ./eval)")
    e.set_defaults(func=cmd_evaluate)
    b = sub.add_parser("bench", help="speed, memory and FLOPs of the filter per frame size")
    b.add_argument("--device", default="auto")
    b.add_argument("--sizes", default="640x360,1280x720,1920x1080")
    b.add_argument("--fp16", action="store_true", help="half precision (CUDA only)")
    b.add_argument("--batch", type=int, default=1, help="batch for the bare-net forward timing")
    b.add_argument("--frames", type=int, default=20, help="source frames pulled through the filter per size")
    b.add_argument("--compare", action="store_true", help="also time mvtools and SVPFlow when installed")
    b.add_argument("--json", default="bench.json", help="where to write the JSON (default ./bench.json)")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as exc:
        print(f"convlstm {args.command}: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("convlstm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
