"""The object behind one Interpolate node: argument policy, the frame schedule and per-frame compute.

The C filter holds one of these per node and calls ``plan`` (which source frames an output needs)
and ``process`` (fill an output frame's planes from the source planes).
"""
from __future__ import annotations

from typing import Any, Sequence

import torch

from .devices import resolve_device
from .engine import Engine, load_weights
from .errors import InterpolateError
from .formats import PixelFormat, check_format
from .planes import Plane, PlaneIO
from .schedule import doubled_rate, source_window

ARGUMENTS = {"weights": str, "device": str, "fp16": int}


def _check_args(args: dict[str, Any]) -> dict[str, Any]:
    unknown = set(args) - set(ARGUMENTS)
    if unknown:
        raise InterpolateError(f"unknown argument(s) {sorted(unknown)}; accepted: clip, {', '.join(ARGUMENTS)}")
    for key, value in args.items():
        if not isinstance(value, ARGUMENTS[key]):
            raise InterpolateError(f"{key} must be {ARGUMENTS[key].__name__}, got {type(value).__name__}")
    if "fp16" in args and args["fp16"] not in (0, 1):
        raise InterpolateError(f"fp16 must be 0 or 1 (False/True), got {args['fp16']}")
    return args


class Interpolator:
    """2x frame-rate doubling of one clip."""

    planes = 3

    def __init__(self, info: dict[str, Any], args: dict[str, Any]) -> None:
        args = _check_args(dict(args))
        self.format: PixelFormat = check_format(info)
        self.num_source = int(info["num_frames"])
        if self.num_source < 2:
            raise InterpolateError(f"the clip has {self.num_source} frame(s); at least 2 are needed to interpolate")
        self.width, self.height = int(info["width"]), int(info["height"])
        self.num_frames = 2 * self.num_source
        self.fps_num, self.fps_den = doubled_rate(int(info["fps_num"]), int(info["fps_den"]))
        self.duration_divisor = 2

        device = resolve_device(args.get("device"))
        fp16 = bool(args.get("fp16", device.type == "cuda" and self.format.is_float and self.format.bits == 16))
        net, self.weights = load_weights(args.get("weights"))
        self.engine = Engine(net, device, fp16)
        self.io = PlaneIO(device)

    def plan(self, n: int) -> tuple[int, ...]:
        return source_window(n, self.num_source)

    def _plane(self, ptr: int, stride: int) -> Plane:
        return Plane(ptr=ptr, stride=stride, height=self.height, width=self.width)

    def process(self, n: int, src_ptrs: Sequence[int], src_strides: Sequence[int],
                dst_ptrs: Sequence[int], dst_strides: Sequence[int]) -> None:
        dtype = self.format.numpy_dtype
        frames = [torch.stack([self.io.read(self._plane(src_ptrs[f * 3 + p], src_strides[f * 3 + p]), dtype)
                               for p in range(self.planes)]) for f in range(4)]
        window = self.format.to_unit(torch.stack(frames))[None]          # (1, 4, 3, H, W)
        pred = self.engine.predict(window)[0]
        if not bool(torch.isfinite(pred).all()):
            bad = "the input frames contain NaN/Inf samples" if not bool(torch.isfinite(window).all()) \
                else "the net produced NaN/Inf (broken weights or fp16 overflow; try fp16=False)"
            raise InterpolateError(f"cannot interpolate output frame {n}: {bad}")
        out = self.format.from_unit(pred)                                  # (3, H, W) in sample type
        for p in range(self.planes):
            self.io.write(out[p], self._plane(dst_ptrs[p], dst_strides[p]), dtype)
