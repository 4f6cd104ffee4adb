"""`convlstm interpolate`: the command's flags (the filter's made from ``Options``), one file, a batch with
-o, or a cluster run. The work itself is the file route's (convlstm/files)."""
from __future__ import annotations

import argparse
import math
import re
import sys
from dataclasses import fields
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InterpolateError, UsageError
from ..options import MAX_FACTOR, MAX_RATE_TERM, RETIRED, Options, check_factor

NTSC_RATES = {"23.976": Fraction(24000, 1001), "29.97": Fraction(30000, 1001), "47.952": Fraction(48000, 1001),
              "59.94": Fraction(60000, 1001), "119.88": Fraction(120000, 1001)}
FLAG_TYPES = {"data": str, "int": int, "float": float}
PROSE = {"weights", "device"}   # option names that are also words of the messages


def parse_rate(text: str, what: str) -> Fraction:
    """'60000/1001', '60', '59.94' (the NTSC decimals mean their /1001 rates) -> a positive Fraction."""
    try:
        value = NTSC_RATES.get(text.strip()) or Fraction(text.strip())
    except (ValueError, ZeroDivisionError):
        raise UsageError(f"{what} must be a number or a fraction such as 60000/1001, got {text!r}") from None
    if value <= 0:
        raise UsageError(f"{what} must be positive, got {text!r}")
    if value.numerator > MAX_RATE_TERM or value.denominator > MAX_RATE_TERM:
        raise UsageError(f"{what} {text!r} is no rate a video has (numerator and denominator at most 2^40)")
    return value


def rate_fields(factor: str | None, fps: str | None) -> dict[str, int]:
    """--factor N or N/D, or --fps, as the filter's options (factor, factor_num/den or fps_num/den)."""
    if factor is not None and fps is not None:
        raise UsageError("give --factor or --fps, not both")
    if fps is not None:
        rate = parse_rate(fps, "--fps")
        return {"fps_num": rate.numerator, "fps_den": rate.denominator}
    ratio = parse_rate(str(factor if factor is not None else 2), "--factor")
    try:
        check_factor(ratio)
    except InterpolateError:
        raise UsageError(f"--factor must be above 1 and at most {MAX_FACTOR}, got {factor}") from None
    if ratio.denominator == 1:
        return {"factor": ratio.numerator}
    return {"factor_num": ratio.numerator, "factor_den": ratio.denominator}


def parse_time(text: str, what: str) -> float:
    """'12.5', '1:02.5' or '01:01:02.5' -> seconds."""
    try:
        parts = [float(p) for p in text.strip().split(":")]
    except ValueError:
        parts = []
    if not 1 <= len(parts) <= 3 or any(p < 0 or not math.isfinite(p) for p in parts):
        raise UsageError(f"{what} takes seconds (12.5) or [HH:]MM:SS[.ms] (1:02.5), got {text!r}")
    seconds = 0.0
    for p in parts:
        seconds = seconds * 60 + p
    return seconds


def span_from(args: argparse.Namespace):
    """--start/--duration as the part of the source to keep (None: all of it)."""
    from ..files.source import Span
    if args.start is None and args.duration is None:
        return None
    return Span(parse_time(args.start, "--start") if args.start is not None else 0.0,
                parse_time(args.duration, "--duration") if args.duration is not None else None)


def cli_wording(message: str) -> str:
    """A filter message in the command's own terms: `tile=1024` as `--tile 1024`, `compile=True` as `--compile`, a
    bare option name as its flag (`weights` and `device` only before a quoted value: they are prose too).
    Quoted parts (paths, values) are left as they are."""
    parts = re.split(r"('[^']*'|\"[^\"]*\")", message)
    return "".join(p if i % 2 else _flag_terms(p) for i, p in enumerate(parts))


def _flag_terms(message: str) -> str:
    message = re.sub(r"\bfps_num/fps_den\b|\bfps_num\b|\bfps_den\b", "--fps", message)
    message = re.sub(r"\bfactor_num/factor_den\b", "--factor N/D", message)
    for f in fields(Options):
        if not f.metadata["cli"] and f.name != "factor":
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.metadata["kind"] == "flag":
            message = re.sub(rf"(?<![\w./-]){f.name}=(True|1)\b", flag, message)
            message = re.sub(rf"(?<![\w./-]){f.name}=(False|0)\b", f"without {flag}", message)
        message = re.sub(rf"(?<![\w./-]){f.name}=([\w.:/]+)", lambda m: f"{flag} {m.group(1)}", message)
        message = re.sub(rf"(?<![\w./-]){f.name}= ?", flag + " ", message)
        bare = rf"(?<![\w./-]){f.name}(?= *$)" if f.name in PROSE else rf"(?<![\w./-]){f.name}(?![\w(/])"
        message = re.sub(bare, flag, message)
    return message


def add_option_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per filter option (``Options`` fields marked for the CLI), its help from the field."""
    for f in fields(Options):
        if not f.metadata["cli"]:
            continue
        flag = "--" + f.name.replace("_", "-")
        if f.metadata["kind"] == "flag":
            parser.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        else:
            parser.add_argument(flag, type=FLAG_TYPES[f.metadata["kind"]], default=None, help=f.metadata["help"])
    for name in RETIRED:   # hidden: there to say what replaced them (options_from)
        parser.add_argument("--" + name.replace("_", "-"), nargs="?", const=True, default=None, help=argparse.SUPPRESS)
    rate = parser.add_mutually_exclusive_group()
    rate.add_argument("--factor", help=f"frames out per frame in: a whole number (2 to {MAX_FACTOR}) or a fraction "
                      "such as 5/2 (default 2; fractions and factors other than powers of two need weights that "
                      "take the time position, as the bundled model does)")
    rate.add_argument("--fps", help="a target rate instead, e.g. 60, 60000/1001 or 59.94 (= 60000/1001)")


def options_from(args: argparse.Namespace) -> Options:
    """The filter's options from the parsed flags (rate flags included); a retired flag is an error saying
    what replaced it."""
    for name, retired in RETIRED.items():
        if getattr(args, name, None) is not None:
            raise UsageError(retired.cli)
    given: dict[str, Any] = {f.name: getattr(args, f.name) for f in fields(Options)
                             if f.metadata["cli"] and getattr(args, f.name, None) is not None}
    try:
        return Options(**given, **rate_fields(args.factor, args.fps))
    except InterpolateError as exc:
        raise UsageError(str(exc)) from None


def add_parser(sub: Any, common: argparse.ArgumentParser) -> None:
    i = sub.add_parser("interpolate", parents=[common], help="file in, file out: raise the frame rate of a video")
    i.add_argument("paths", nargs="+", metavar="INPUT [OUTPUT]",
                   help="INPUT OUTPUT (the output's extension picks the container), or with -o: several inputs "
                   "(files or folders)")
    i.add_argument("-o", "--out-dir", help="write OUT_DIR/<input stem><--ext> for every input (OUT_DIR is made if "
                   "missing)")
    i.add_argument("--ext", default=".mkv", help="extension of the outputs with -o (default .mkv)")
    i.add_argument("--cluster", nargs="?", const="local", metavar="ADDRESS",
                   help="run on Ray: no address: a local Ray instance on this machine; auto or ray://host:port: "
                   "an existing cluster (pip install 'vapoursynth-convlstm[cluster]')")
    i.add_argument("--workers", type=int, default=None,
                   help="CPU workers of the local Ray instance with --cluster (default: one per core)")
    i.add_argument("--chunk-frames", type=int, default=None,
                   help="source frames per piece with --cluster (default 240; pieces end at scene cuts nearby)")
    add_option_flags(i)
    i.add_argument("--adapt", type=float, metavar="MINUTES",
                   help="first fine-tune the weights on this clip's own frames for MINUTES (kept only if they "
                   "beat the starting weights on windows held aside); see `convlstm adapt`")
    i.add_argument("--assume-progressive", action="store_true",
                   help="treat a source flagged interlaced as progressive (when the flag is wrong)")
    i.add_argument("--codec", default="auto", help="ffmpeg video encoder (default auto: the input's family, "
                   "e.g. HEVC in, libx265 out; ProRes in, prores_ks out; else libx264)")
    i.add_argument("--crf", type=int, default=18, help="quality for x264/x265/vp9/av1 (default 18)")
    i.add_argument("--preset", help="the encoder's preset, e.g. slow or veryfast for x264/x265 (default medium)")
    i.add_argument("--pix-fmt", help="ffmpeg's pixel format of the encoded video, e.g. yuv420p10le (default: the "
                   "source's own; 8-bit 4:2:0 where H.264 stands in for a codec .mp4/.mov cannot hold)")
    i.add_argument("--audio-codec", help="ffmpeg's audio encoder, e.g. aac or libopus (default: copied as it is)")
    i.add_argument("--start", help="interpolate from this time of the video on: seconds (12.5) or [HH:]MM:SS[.ms] "
                   "(default: its start); sound and subtitles are cut alike")
    i.add_argument("--duration", help="interpolate this long a part (same forms as --start; default: to the end)")
    i.add_argument("--force", action="store_true", help="overwrite an existing output")
    i.add_argument("--keep-going", action="store_true", help="with -o: go on after an input fails, then name "
                   "the failures (exit status 1 if any)")
    i.add_argument("--skip-existing", action="store_true", help="with -o: leave inputs whose output is already "
                   "there (complete: written whole, never partial) and interpolate the rest")
    i.add_argument("--quiet", action="store_true", help="no progress bar")
    i.set_defaults(func=cmd_interpolate)


def cmd_interpolate(args: argparse.Namespace) -> int:
    from ..files.output import Encoding
    options = options_from(args)
    encoding = Encoding(args.codec, args.crf, args.preset, args.pix_fmt, args.audio_codec)
    if args.out_dir is None and args.cluster is None:
        if len(args.paths) != 2:
            raise UsageError("give INPUT OUTPUT, or several inputs (files or folders) with -o OUT_DIR")
        return interpolate_one(args, options, encoding, *args.paths)
    if args.out_dir is None:
        raise UsageError("--cluster writes into a folder: give -o OUT_DIR")
    if args.adapt is not None:
        raise UsageError("--adapt works on one input at a time (without -o): adapt each clip with convlstm adapt")
    if args.cluster is not None:
        return interpolate_on_cluster(args, options, encoding)
    return interpolate_batch(args, options, encoding)


def interpolate_batch(args: argparse.Namespace, options: Options, encoding) -> int:
    """Every input into -o (made if missing): stops at the first failure, or with --keep-going runs every
    input it can and ends with a summary naming the failures (exit 1 when there were any)."""
    import vapoursynth as vs

    from ..files.output import outputs_for
    from .main import RECEIVED, error_line
    from ..files.source import expand_inputs
    out_dir = Path(args.out_dir)
    sources = expand_inputs(args.paths)
    outputs = outputs_for(sources, out_dir, args.ext)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed: list[tuple[Path, str]] = []
    skipped = 0
    for src, out in zip(sources, outputs):
        if args.skip_existing and out.is_file():   # outputs are published whole: one that exists is complete
            print(f"skipped {out}: it exists (--skip-existing)")
            skipped += 1
            continue
        try:
            interpolate_one(args, options, encoding, str(src), str(out))
        except (OSError, ValueError, RuntimeError, vs.Error) as exc:
            if not args.keep_going or RECEIVED:   # a signal surfaces as the filter's error: it stops the batch
                if isinstance(exc, vs.Error) and RECEIVED:
                    raise
                raise UsageError(f"{src}: {error_line(exc, 'interpolate')}") from None
            print(f"convlstm interpolate: {src}: {error_line(exc, 'interpolate')}", file=sys.stderr)
            failed.append((src, error_line(exc, "interpolate")))
    if args.keep_going or skipped:
        print(f"{len(sources) - len(failed) - skipped} written, {skipped} skipped, {len(failed)} failed"
              + "".join(f"\n  failed: {src}: {why}" for src, why in failed))
    return 1 if failed else 0


def interpolate_one(args: argparse.Namespace, options: Options, encoding, source: str, output: str) -> int:
    from ..files.route import interpolate_file
    if args.adapt is not None:
        from ..adapt.clip import adapt_file
        from ..adapt.loop import describe
        result = adapt_file(source, minutes=args.adapt, device=options.device or "auto", weights=options.weights,
                            progress=not args.quiet)
        print(f"convlstm: {describe(result)}", file=sys.stderr)
        if result.adapted:
            options = options.updated(weights=str(result.path))
    r = interpolate_file(source, output, options, encoding, force=args.force, progress=not args.quiet,
                         assume_progressive=args.assume_progressive, span=span_from(args))
    print(r.describe())
    return 0


def interpolate_on_cluster(args: argparse.Namespace, options: Options, encoding) -> int:
    from ..cluster.driver import run_cluster
    if args.fps is not None:
        raise UsageError("--cluster takes a whole --factor, not --fps")
    if args.start is not None or args.duration is not None:
        raise UsageError("--start/--duration work without --cluster (a cluster run takes whole files)")
    s = run_cluster(args.paths, args.out_dir, options, encoding, address=None if args.cluster == "local" else
                    args.cluster, ext=args.ext, force=args.force, assume_progressive=args.assume_progressive,
                    chunk_frames=args.chunk_frames, progress=not args.quiet, workers=args.workers)
    print(f"{'worker':<28}{'frames':>8}{'work s':>9}{'frames/s':>10}")
    for worker, (frames, seconds) in sorted(s.per_worker.items()):
        print(f"{worker:<28}{frames:>8}{seconds:>9.1f}{frames / max(seconds, 1e-9):>10.2f}")
    print(f"{len(s.outputs)} output(s), {s.pieces} pieces ({s.reused} reused from an earlier run), "
          f"{s.retries} retried; {s.frames} frames in {s.seconds:.1f} s ({s.frames / max(s.seconds, 1e-9):.2f} frames/s)")
    for out in s.outputs:
        print(f"wrote {out}")
    return 0
