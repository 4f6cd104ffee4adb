"""The values Interpolate accepts beyond their types (VapourSynth's signature already enforces those)."""
from __future__ import annotations

from typing import Any

from ..errors import InterpolateError

DEFAULT_SC_THRESHOLD = 0.15
MAX_FACTOR = 64


def check_factor(factor: int) -> int:
    """The one factor rule (the CLI checks it too, before decoding anything)."""
    if factor < 2 or factor > MAX_FACTOR or factor & (factor - 1):
        raise InterpolateError(f"factor must be a power of two from 2 to {MAX_FACTOR}, got {factor}; "
                               "for other rates use fps_num/fps_den")
    return factor


def check_args(args: dict[str, Any]) -> dict[str, Any]:
    """Refuses values that make no sense together or alone, naming the accepted ones."""
    if "fp16" in args and args["fp16"] not in (0, 1):
        raise InterpolateError(f"fp16 must be 0 or 1 (False/True), got {args['fp16']}")
    check_factor(args.get("factor", 2))
    if ("fps_num" in args) != ("fps_den" in args):
        raise InterpolateError("fps_num and fps_den go together, e.g. fps_num=60000, fps_den=1001")
    if "fps_num" in args:
        if "factor" in args:
            raise InterpolateError("give either factor or fps_num/fps_den, not both")
        if args["fps_num"] <= 0 or args["fps_den"] <= 0:
            raise InterpolateError(f"fps_num and fps_den must be positive, got {args['fps_num']}/{args['fps_den']}")
    if "scales" in args and args["scales"] not in (1, 2):
        raise InterpolateError(f"scales must be 1 (full-size pass only: faster) or 2 (plus the half-size pass: "
                               f"better on fast motion), got {args['scales']}")
    sc = args.get("sc_threshold", DEFAULT_SC_THRESHOLD)
    if not 0.0 <= sc <= 1.0:
        raise InterpolateError(f"sc_threshold must be in [0, 1] (0 turns detection off), got {sc}")
    return args
