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
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("convlstm: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
