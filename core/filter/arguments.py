"""The values Interpolate accepts beyond their types (VapourSynth's signature already enforces those)."""
from __future__ import annotations

from fractions import Fraction
from typing import Any

from ..errors import InterpolateError

DEFAULT_SC_THRESHOLD = 0.15
MAX_FACTOR = 64
MAX_BATCH = 16
MIN_TILE = 64      # px: smaller tiles would be mostly overlap


def default_batch(device_type: str, width: int, height: int) -> int:
    """Windows per forward pass where frames are requested together: on a GPU a pass of one window leaves
    most of it idle, up to 1080p; beyond, four windows' activations cost more memory than they gain (use
    tile= there). On the CPU the net already uses every core, and a padded pass only costs time."""
    return 4 if device_type == "cuda" and width * height <= 1920 * 1088 else 1


def check_factor(factor: int | Fraction) -> Fraction:
    """The one factor rule (the CLI checks it too, before decoding anything). Whether a factor that is not a
    power of two works depends on the weights (stages.build: those that take the time position)."""
    if not 1 < factor <= MAX_FACTOR:
        raise InterpolateError(f"factor must be above 1 and at most {MAX_FACTOR}, got {factor}; "
                               "for a target rate use fps_num/fps_den")
    return Fraction(factor)


def check_args(args: dict[str, Any]) -> dict[str, Any]:
    """Refuses values that make no sense together or alone, naming the accepted ones."""
    if "compile" in args and args["compile"] not in (0, 1):
        raise InterpolateError(f"compile must be 0 or 1 (False/True), got {args['compile']}")
    if "fp16" in args and args["fp16"] not in (0, 1):
        raise InterpolateError(f"fp16 must be 0 or 1 (False/True), got {args['fp16']}")
    check_factor(args.get("factor", 2))
    for num, den, example in (("fps_num", "fps_den", "fps_num=60000, fps_den=1001"),
                              ("factor_num", "factor_den", "factor_num=5, factor_den=2")):
        if (num in args) != (den in args):
            raise InterpolateError(f"{num} and {den} go together, e.g. {example}")
    if sum(k in args for k in ("factor", "factor_num", "fps_num")) > 1:
        raise InterpolateError("give one of factor, factor_num/factor_den or fps_num/fps_den, not several")
    if "factor_num" in args:
        if args["factor_num"] <= 0 or args["factor_den"] <= 0:
            raise InterpolateError(f"factor_num and factor_den must be positive, got "
                                   f"{args['factor_num']}/{args['factor_den']}")
        check_factor(Fraction(args["factor_num"], args["factor_den"]))
    if "fps_num" in args:
        if args["fps_num"] <= 0 or args["fps_den"] <= 0:
            raise InterpolateError(f"fps_num and fps_den must be positive, got {args['fps_num']}/{args['fps_den']}")
    if "scales" in args and args["scales"] not in (1, 2):
        raise InterpolateError(f"scales must be 1 (full-size pass only: faster) or 2 (plus the half-size pass: "
                               f"better on fast motion), got {args['scales']}")
    if "batch" in args and not 1 <= args["batch"] <= MAX_BATCH:
        raise InterpolateError(f"batch must be 1..{MAX_BATCH} (windows per forward pass), got {args['batch']}")
    if args.get("tile", 0) != 0 and not MIN_TILE <= args["tile"] <= 1 << 16:
        raise InterpolateError(f"tile must be 0 (whole frames) or a tile side of at least {MIN_TILE} px, "
                               f"got {args['tile']}")
    if "detail" in args and not 0.0 <= args["detail"] <= 1.0:
        raise InterpolateError(f"detail must be in [0, 1] (0: the net's own frame, 1: as sharp as the source "
                               f"frames), got {args['detail']}")
    sc = args.get("sc_threshold", DEFAULT_SC_THRESHOLD)
    if not 0.0 <= sc <= 1.0:
        raise InterpolateError(f"sc_threshold must be in [0, 1] (0 turns detection off), got {sc}")
    return args
