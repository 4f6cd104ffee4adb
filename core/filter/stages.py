"""The stages behind one Interpolate call: frame schedules and per-frame compute (``build`` applies
``arguments.check_args`` and ``formats.check_format`` first).

The C filter asks ``build`` for its stages (one exact-time stage for weights that take the time position;
otherwise a chain of 2x stages, then optionally a retiming to an arbitrary rate), makes one node per
stage, and calls each stage's ``plan`` (which input frames an output needs) and ``process`` (fill an
output frame's planes) through the bridge.
"""
from __future__ import annotations

import os
import threading
from collections import OrderedDict
from fractions import Fraction
from math import floor
from typing import Any, Sequence

import numpy as np
import torch

from ..checkpoint import load_weights
from ..errors import InterpolateError
from .arguments import DEFAULT_SC_THRESHOLD, default_batch, MAX_FACTOR, check_args
from .devices import resolve_device
from .engine import Engine
from .formats import PixelFormat, check_format
from .planes import Plane, PlaneIO, host_view
from . import profile
from .streams import Slots, mark_ready, use_here
from .batcher import Batcher
from .scenes import consecutive_differences, cuts_at, within_scene
from .schedule import (clamped_window, doubled_rate, doublings_for_rate, retimed_count, retimed_index, source_window,
                       timed_position)
from .yuv import YuvDescription, rgb_to_yuv, yuv_to_rgb
from .contract import (CHROMA_LOCATION, CUT_AFTER_OUTPUT, CUT_BEFORE_OUTPUT, FIELD_BASED, FLAGS, MATRIX, NO_PROPS,
                       RANGE, SCENE_NEXT, SCENE_PREV)

DECODED_CACHE_FRAMES = 6        # consecutive windows share 3 of 4 frames: decode each source frame once
CACHE_PER_THREAD = 2            # and frames requested by several threads at once span more source frames


def _threads() -> int:
    """Threads that may fill frames at once: the VapourSynth core's (fmParallel)."""
    try:
        import vapoursynth
        return int(vapoursynth.core.num_threads)
    except Exception:
        return os.cpu_count() or 1


def check_progressive(n: int, *field_based: int) -> None:
    """Frames made of two fields from different moments cannot be interpolated as pictures: the new frames
    would be combed and flagged progressive. Says how to get progressive frames first."""
    if any(f > 0 for f in field_based):
        order = "bottom field first" if 1 in field_based else "top field first"
        raise InterpolateError(
            f"cannot interpolate output frame {n}: the source is interlaced (_FieldBased={max(field_based)}, "
            f"{order}); deinterlace it first (e.g. core.bwdif.Bwdif(clip, field={3 if order[0] == 't' else 2}) "
            "for double rate, or field=" f"{1 if order[0] == 't' else 0} to keep the rate), or if it is "
            "progressive footage flagged wrongly, clip = core.std.SetFieldBased(clip, 0)")


class Interpolator:
    """One 2x stage: 2N frames at twice the rate, each new frame halfway between two source frames."""

    planes = 3
    duration_divisor = 2
    clears_next = 1   # every source frame passed through is followed by a made frame

    def __init__(self, info: dict[str, Any], batcher: Batcher, io: PlaneIO, fmt: PixelFormat,
                 sc_threshold: float) -> None:
        self.format, self.batcher, self.io, self.sc_threshold = fmt, batcher, io, sc_threshold
        self.slots = Slots(io.device)
        self.num_source = int(info["num_frames"])
        self.width, self.height = int(info["width"]), int(info["height"])
        self.num_frames = 2 * self.num_source
        self.fps_num, self.fps_den = doubled_rate(int(info["fps_num"]), int(info["fps_den"]))
        self._decoded: OrderedDict[int, tuple[torch.Tensor, Any]] = OrderedDict()   # frame, ready event
        self._decoded_lock = threading.Lock()
        self.cache_frames = DECODED_CACHE_FRAMES + CACHE_PER_THREAD * min(_threads(), 8)

    def output_info(self, info: dict[str, Any]) -> dict[str, Any]:
        return {**info, "num_frames": self.num_frames, "fps_num": self.fps_num, "fps_den": self.fps_den}

    def plan(self, n: int) -> tuple[int, ...]:
        return source_window(n, self.num_source)

    def _plane(self, p: int, ptr: int, stride: int) -> Plane:
        h, w = self.format.plane_shape(p, self.height, self.width)
        return Plane(ptr=ptr, stride=stride, height=h, width=w)

    def _planes(self, f: int, ptrs: Sequence[int], strides: Sequence[int]) -> list[Plane]:
        """Frame f's planes among the pointers C passed (f = 0 for the output frame's own)."""
        return [self._plane(p, ptrs[f * 3 + p], strides[f * 3 + p]) for p in range(self.planes)]

    def _read(self, f: int, src_ptrs: Sequence[int], src_strides: Sequence[int]) -> list[torch.Tensor]:
        return [self.io.read(p, self.format.numpy_dtype) for p in self._planes(f, src_ptrs, src_strides)]

    def _host_planes(self, f: int, ptrs: Sequence[int], strides: Sequence[int]) -> list[np.ndarray]:
        """Window frame f's planes as views of VapourSynth's memory (no copy, no device)."""
        return [host_view(p, self.format.numpy_dtype) for p in self._planes(f, ptrs, strides)]

    def _yuv(self, props: Sequence[int]) -> YuvDescription:
        return YuvDescription.from_props(props[MATRIX], props[RANGE], props[CHROMA_LOCATION], self.width, self.height)

    def decode(self, planes: list[torch.Tensor], props: Sequence[int]) -> torch.Tensor:
        """One frame's planes -> (3, H, W) RGB on [-1, 1] for the net."""
        if not self.format.is_yuv:
            return self.format.to_unit(torch.stack(planes))
        return yuv_to_rgb(planes, self.format.bits, self.format.is_float, self._yuv(props)) * 2 - 1

    def encode(self, rgb: torch.Tensor, props: Sequence[int]) -> list[torch.Tensor]:
        """(3, H, W) RGB on [-1, 1] -> planes in the clip's format."""
        if not self.format.is_yuv:
            return list(self.format.from_unit(rgb))
        chroma = self.format.plane_shape(1, self.height, self.width)
        return rgb_to_yuv((rgb + 1) * 0.5, self.format.bits, self.format.is_float, self._yuv(props), chroma,
                          self.format.torch_dtype)

    def _cuts(self, differences: torch.Tensor, flags: Sequence[int]) -> torch.Tensor:
        """(3,) bool on the device: is there a scene cut between window positions a and a + 1? Marked by
        upstream props (known on the host) or found by the detector (decided on the device)."""
        cuts = cuts_at(differences, self.sc_threshold)
        for a in range(3):
            if flags[a] & SCENE_NEXT or flags[a + 1] & SCENE_PREV:
                cuts[a] = True           # a fill on the device: no copy from the host, no wait
        return cuts

    def _decoded_frame(self, index: int, f: int, src_ptrs: Sequence[int], src_strides: Sequence[int],
                       props: Sequence[int]) -> torch.Tensor:
        """Source frame ``index`` (window position f) decoded for the net, from the cache when it is there.

        A source frame's content and props never change, so the index is a sound key; the cache saves
        three of the four reads and colour conversions per output frame (what matters on a GPU).
        """
        with self._decoded_lock:
            hit = self._decoded.get(index)
            if hit is not None:
                self._decoded.move_to_end(index)
        if hit is not None:
            return use_here(*hit)             # maybe decoded by another thread, on its stream
        frame = self.decode(self._read(f, src_ptrs, src_strides), props)
        with self._decoded_lock:
            self._decoded[index] = (frame, mark_ready(frame.device))
            while len(self._decoded) > self.cache_frames:
                self._decoded.popitem(last=False)
        return frame

    def time_position(self, n: int) -> float:
        """Where output n lies between source frames i and i + 1 (the 2x stage: always halfway)."""
        return 0.5

    def last_before_next_source(self, n: int) -> bool:
        """Whether output n is the last made frame before source frame i + 1 (it ends the scene at a cut)."""
        return True

    def first_since_source(self, n: int) -> bool:
        """Whether output n is the first output after source frame i's timestamp with no output showing frame
        i itself before it (so it starts the scene when a cut precedes frame i). 2x: frame i always shows."""
        return False

    def process(self, n: int, src_ptrs: Sequence[int], src_strides: Sequence[int], dst_ptrs: Sequence[int],
                dst_strides: Sequence[int], frame_props: Sequence[Sequence[int]] = (NO_PROPS,) * 4) -> int:
        """Fills output frame n. Safe to call from several threads at once (the filter is fmParallel): each
        works on its own stream, windows meet in the batcher, and each thread waits on the device once."""
        try:
            with profile.timed("process_s"):
                result = self._process(n, src_ptrs, src_strides, dst_ptrs, dst_strides, frame_props)
        except torch.cuda.OutOfMemoryError:
            raise InterpolateError(
                f"cannot interpolate output frame {n}: the GPU ran out of memory at {self.width}x{self.height} "
                f"with {self.batcher.size} window(s) per pass; lower batch= (e.g. batch=1), set tile= (e.g. "
                "tile=1024), or use fp16=True") from None
        profile.add("made_frames", 1)
        return result

    def _process(self, n: int, src_ptrs: Sequence[int], src_strides: Sequence[int], dst_ptrs: Sequence[int],
                 dst_strides: Sequence[int], frame_props: Sequence[Sequence[int]]) -> int:
        indices = self.plan(n)
        check_progressive(n, frame_props[1][FIELD_BASED], frame_props[2][FIELD_BASED])
        with self.slots.slot():
            try:
                window = torch.stack([self._decoded_frame(indices[f], f, src_ptrs, src_strides, frame_props[f])
                                      for f in range(4)])  # (4, 3, H, W)
            except InterpolateError as exc:   # e.g. a _Matrix the device conversion does not know
                raise InterpolateError(f"cannot interpolate output frame {n}: {exc}") from None
            # every decision is made on the device and read with the result: no wait before the net runs
            cut = self._cuts(consecutive_differences((window + 1) * 0.5), [p[FLAGS] for p in frame_props])
            finite_in = torch.isfinite(window).all()
            window = within_scene(window, cut)
            pred = self.batcher.predict(window, self.time_position(n))
            planes = self.encode(pred, frame_props[1])
            flags = torch.stack([cut[0], cut[1], finite_in, torch.isfinite(pred).all()]).to(torch.int32)
            arrays, (cut_before, cut_here, finite_in, finite_out) = self.io.fetch(planes, self.format.numpy_dtype,
                                                                                  flags)
        if not finite_in:
            raw = all(np.isfinite(p).all() for f in range(4) for p in self._host_planes(f, src_ptrs, src_strides))
            raise InterpolateError(f"cannot interpolate output frame {n}: the input frames contain " + (
                "NaN/Inf samples" if not raw else "samples too large to compute with (beyond about 1e38 once "
                "scaled); clamp them first, e.g. core.std.Expr(clip, 'x -1 max 2 min')"))
        dst = self._planes(0, dst_ptrs, dst_strides)
        if cut_here:      # no ghosting: frame i again, its very bytes
            self.io.store(self._host_planes(1, src_ptrs, src_strides), dst, self.format.numpy_dtype)
            return CUT_BEFORE_OUTPUT if self.last_before_next_source(n) else 0
        if not finite_out:
            raise InterpolateError(f"cannot interpolate output frame {n}: the net produced NaN/Inf "
                                   "(broken weights or fp16 overflow; try fp16=False)")
        self.io.store(arrays, dst, self.format.numpy_dtype)
        return CUT_AFTER_OUTPUT if cut_before and self.first_since_source(n) else 0


class TimedInterpolator(Interpolator):
    """The whole of a rate change in one stage, for weights that take the time position: every output frame
    is computed at its exact timestamp from the source frames around it (no power-of-two upsampling and
    nearest-frame picking, whose uneven steps judder). Source frames on an output timestamp pass through."""

    def __init__(self, info: dict[str, Any], batcher: Batcher, io: PlaneIO, fmt: PixelFormat, sc_threshold: float,
                 ratio: Fraction) -> None:
        super().__init__(info, batcher, io, fmt, sc_threshold)
        self.ratio = ratio
        self.num_frames = max(1, floor(self.num_source * ratio))
        rate = Fraction(int(info["fps_num"]), int(info["fps_den"])) * ratio if int(info["fps_num"]) > 0 and \
            int(info["fps_den"]) > 0 else None
        self.fps_num, self.fps_den = (rate.numerator, rate.denominator) if rate else (0, 0)
        # variable-rate clips: durations shrink by the factor, which then has to be whole
        self.duration_divisor = int(ratio) if ratio.denominator == 1 else 1
        self.clears_next = int(ratio > 1)   # slower than the source, source frames may follow each other

    def plan(self, n: int) -> tuple[int, ...]:
        i, t = timed_position(n, self.ratio, self.num_source)
        return (i,) if t == 0 else clamped_window(i, self.num_source)

    def time_position(self, n: int) -> float:
        return float(timed_position(n, self.ratio, self.num_source)[1])

    def first_since_source(self, n: int) -> bool:
        i, _ = timed_position(n, self.ratio, self.num_source)
        return n == 0 or timed_position(n - 1, self.ratio, self.num_source)[0] < i

    def last_before_next_source(self, n: int) -> bool:
        return n + 1 >= self.num_frames or \
            timed_position(n + 1, self.ratio, self.num_source)[0] > timed_position(n, self.ratio, self.num_source)[0]


class Retimer:
    """The last stage for fps_num/fps_den: each output timestamp takes the nearest upsampled frame."""

    duration_divisor = 1
    clears_next = 0   # passes frames through only, marks as they are

    def __init__(self, info: dict[str, Any], fps_num: int, fps_den: int) -> None:
        self.upsampled = Fraction(int(info["fps_num"]), int(info["fps_den"]))
        self.target = Fraction(fps_num, fps_den)
        self.num_source = int(info["num_frames"])
        self.num_frames = retimed_count(self.num_source, self.upsampled, self.target)
        self.fps_num, self.fps_den = self.target.numerator, self.target.denominator

    def plan(self, n: int) -> tuple[int, ...]:
        return (retimed_index(n, self.upsampled, self.target, self.num_source),)

    def process(self, *_: Any) -> int:
        raise InterpolateError("internal error: a retiming stage never computes pixels")


def build(info: dict[str, Any], args: dict[str, Any]) -> list[Interpolator | Retimer]:
    """Validates everything, loads the model once, and plans the stages: one exact-time stage for weights
    that take the time position, else 2x stages (and a final retiming for fps_num/fps_den)."""
    args = check_args(dict(args))
    fmt = check_format(info)
    if int(info["num_frames"]) < 2:
        raise InterpolateError(f"the clip has {info['num_frames']} frame(s); at least 2 are needed to interpolate")
    known_rate = int(info["fps_num"]) > 0 and int(info["fps_den"]) > 0
    source_rate = Fraction(int(info["fps_num"]), int(info["fps_den"])) if known_rate else None
    if "fps_num" in args:
        if source_rate is None:
            raise InterpolateError("fps_num/fps_den need a clip with a known constant frame rate; "
                                   "set one with core.std.AssumeFPS(clip, fpsnum=..., fpsden=...)")
        ratio = Fraction(args["fps_num"], args["fps_den"]) / source_rate
    elif "factor_num" in args:
        ratio = Fraction(args["factor_num"], args["factor_den"])
    else:
        ratio = Fraction(args.get("factor", 2))
    if ratio > MAX_FACTOR:
        raise InterpolateError(f"fps_num/fps_den ask for {float(ratio):.4g} times the clip's rate; at most "
                               f"{MAX_FACTOR} times")
    if int(info["num_frames"]) * ratio >= 2**31:
        raise InterpolateError(f"the output would have {float(int(info['num_frames']) * ratio):.3g} frames, more "
                               "than a clip can hold (2^31 - 1); interpolate the clip in parts")

    device = resolve_device(args.get("device"))
    batch = int(args.get("batch", default_batch(device.type, int(info["width"]), int(info["height"]))))
    fp16 = bool(args.get("fp16", device.type == "cuda" and fmt.is_float and fmt.bits == 16))
    net, source = load_weights(args.get("weights"))
    if args.get("scales") == 2 and net.fusion is None:
        raise InterpolateError(f"scales=2 needs weights trained with a scale fusion (model.scales: 2); {source!r} "
                               "has the full-size pass only: leave scales unset")
    if args.get("scales") == 1:
        net.drop_scale_fusion()
    if "detail" in args:
        if args["detail"] and not net.any_time:
            raise InterpolateError(f"detail matches the motion-compensated source frames' sharpness; {source!r} has "
                                   "no motion model: leave detail unset")
        net.set_detail(float(args["detail"]))
    engine = Engine(net, device, fp16, tile=int(args.get("tile", 0)), compile=bool(args.get("compile", 0)))
    io = PlaneIO(device)
    sc = float(args.get("sc_threshold", DEFAULT_SC_THRESHOLD))

    if net.any_time:
        if source_rate is None and ratio.denominator != 1:
            raise InterpolateError(f"factor {ratio} is not whole, so it needs a clip with a known constant frame "
                                   "rate; set one with core.std.AssumeFPS(clip, fpsnum=..., fpsden=...)")
        return [TimedInterpolator(info, Batcher(engine, batch), io, fmt, sc, ratio)]
    if "fps_num" in args:
        doublings = doublings_for_rate(source_rate, Fraction(args["fps_num"], args["fps_den"]))
    elif ratio.denominator == 1 and ratio.numerator & (ratio.numerator - 1) == 0:
        doublings = ratio.numerator.bit_length() - 1
    else:
        raise InterpolateError(f"factor {ratio} needs weights that interpolate at any time position (motion "
                               f"compensation, model.motion: block); {source!r} interpolates halfway only: use a "
                               "power of two (2, 4, 8, ...) or fps_num/fps_den")
    stages: list[Interpolator | Retimer] = []
    for _ in range(doublings):   # 2x again on the 2x clip keeps every window equally spaced
        stage = Interpolator(info, Batcher(engine, batch), io, fmt, sc)
        stages.append(stage)
        info = stage.output_info(info)
    if "fps_num" in args:
        stages.append(Retimer(info, args["fps_num"], args["fps_den"]))
    return stages
