"""The stages behind one Interpolate call: one ``Stage`` per filter node, each following one schedule
(filter/schedule.py) and, where its schedule makes frames, computing them.

The C filter asks ``build`` for the stages (one exact-time stage for weights that take the time position;
otherwise 2x stages, then optionally a retiming to a target rate), makes one node per stage, and calls each
stage's ``plan`` (which input frames an output needs) and ``process`` (fill an output frame's planes)
through the bridge.
"""
from __future__ import annotations

import logging
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Sequence

import numpy as np
import torch

from ..checkpoint import load_weights
from ..errors import InterpolateError
from ..log import info_once
from ..options import Options, default_batch, default_lanes
from .devices import resolve_device
from .engine import Engine, cpu_bf16
from .formats import PixelFormat, check_format, field_order
from .planes import Plane, PlaneIO, host_view
from . import profile
from .streams import Slots, mark_ready, use_here
from .batcher import Batcher, lane_threads
from . import compiling
from .scenes import frame_at_cut, predict_within_scene
from .repeats import RepeatLog, frame_difference, MAX_RUN
from .schedule import Deduped, Nearest, Timed, doublings_for_rate
from .yuv import YuvDescription, rgb_to_yuv, yuv_to_rgb
from .contract import (CHROMA_LOCATION, CUT_AFTER_OUTPUT, CUT_BEFORE_OUTPUT, FIELD_BASED, FLAGS, MATRIX, NO_PROPS,
                       RANGE, SCENE_NEXT, SCENE_PREV)

log = logging.getLogger("convlstm")
# what of the clip's facts an engine is made from (check_format's), all a warm-up needs (filter/compiling.py)
WARM_INFO = ("width", "height", "color_family", "sample_type", "bits_per_sample", "sub_sampling_w",
             "sub_sampling_h", "format_name")
# precision=auto takes bf16 on a CPU with native bf16: it held the gate (within 0.05 dB PSNR of fp32 on every
# evaluation and held-out clip; measured at most 0.0036 dB, every clip still above mvtools) and ran the learned
# part about 1.5x faster (docs/benchmarks.md, "bf16 on the CPU")
CPU_BF16_BY_DEFAULT = True
DECODED_CACHE_FRAMES = 6        # consecutive windows share 3 of 4 frames: decode each source frame once
CACHE_PER_THREAD = 2            # and frames requested by several threads at once span more source frames
STILL_PROBE = 8                 # every 8th row and column compared first: a moving picture differs there


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
    order = field_order(*field_based)
    if order is not None:
        tff = order.startswith("top")
        raise InterpolateError(
            f"cannot interpolate output frame {n}: the source is interlaced (_FieldBased={max(field_based)}, "
            f"{order}); deinterlace it first (e.g. core.bwdif.Bwdif(clip, field={3 if tff else 2}) for double "
            f"rate, or field={1 if tff else 0} to keep the rate), or if it is progressive footage flagged "
            "wrongly, clip = core.std.SetFieldBased(clip, 0)")


def rate_of(info: dict[str, Any]) -> Fraction | None:
    """A clip's frame rate, None where it is not constant (VapourSynth's 0/0)."""
    num, den = int(info["fps_num"]), int(info["fps_den"])
    return Fraction(num, den) if num > 0 and den > 0 else None


@dataclass(frozen=True)
class Compute:
    """What a stage that makes frames needs besides its schedule."""
    batcher: Batcher
    io: PlaneIO
    format: PixelFormat
    sc_threshold: float
    sc_mode: str            # what a new frame at a cut shows (scenes.frame_at_cut)


class Stage:
    """One filter node: its schedule says which input frames each output needs and where it lies; frames
    that fall between two input frames are computed (``compute``; a schedule that only passes frames
    through, ``Nearest``, has none). ``process`` is safe from several threads at once (fmParallel)."""

    planes = 3

    def __init__(self, info: dict[str, Any], schedule: Timed | Nearest | Deduped,
                 compute: Compute | None = None) -> None:
        self.schedule, self.compute = schedule, compute
        self.num_source = int(info["num_frames"])
        self.width, self.height = int(info["width"]), int(info["height"])
        self.num_frames = schedule.num_frames
        self.fps_num, self.fps_den = schedule.output_rate(rate_of(info))
        self.duration_divisor = schedule.duration_divisor
        self.clears_next = schedule.clears_next
        self.probes = int(isinstance(schedule, Deduped))
        if compute is not None:
            self.format, self.batcher, self.io = compute.format, compute.batcher, compute.io
            self.slots = Slots(compute.io.device)
            self._decoded: OrderedDict[int, tuple[torch.Tensor, Any]] = OrderedDict()   # frame, ready event
            self._decoded_lock = threading.Lock()
            self.cache_frames = DECODED_CACHE_FRAMES + CACHE_PER_THREAD * min(_threads(), 8)

    def output_info(self, info: dict[str, Any]) -> dict[str, Any]:
        """The clip facts the next stage sees."""
        return {**info, "num_frames": self.num_frames, "fps_num": self.fps_num, "fps_den": self.fps_den}

    def plan(self, n: int) -> tuple[int, ...]:
        return self.schedule.plan(n)

    def probe(self, n: int) -> tuple[int, ...]:
        """The source frames to look at before output n can be planned (``dedup``: pairs of consecutive
        frames whose difference is not measured yet); empty when none."""
        if not self.probes:
            return ()
        lo, hi = self.schedule.frames_read(n)
        return tuple(sorted({f for j in self.schedule.repeats.unknown(lo, hi) for f in (j - 1, j)}))

    def analyse(self, indices: Sequence[int], src_ptrs: Sequence[int], src_strides: Sequence[int]) -> None:
        """Measures the differences of the consecutive frames among a probe's (filter/repeats.py)."""
        where = {index: f for f, index in enumerate(indices)}
        full_range = 1.0 if self.format.is_float else float((1 << self.format.bits) - 1)
        for j, f in where.items():
            if j - 1 in where:
                before = self._host_planes(where[j - 1], src_ptrs, src_strides)
                self.schedule.repeats.record(j, frame_difference(before, self._host_planes(f, src_ptrs, src_strides),
                                                                 full_range))

    def repeat_mark(self, n: int) -> int:
        """ConvLSTMRepeat of output n (schedule.Deduped.repeat_mark); -1: no such prop (no dedup)."""
        return self.schedule.repeat_mark(n) if self.probes else -1

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

    def process(self, n: int, src_ptrs: Sequence[int], src_strides: Sequence[int], dst_ptrs: Sequence[int],
                dst_strides: Sequence[int], frame_props: Sequence[Sequence[int]] = (NO_PROPS,) * 4) -> int:
        """Fills output frame n. Safe to call from several threads at once (the filter is fmParallel): each
        works on its own stream, windows meet in the batcher, and each thread waits on the device once."""
        if self.compute is None:
            raise InterpolateError("internal error: a retiming stage never computes pixels")
        try:
            with profile.timed("process_s"):
                result = self._process(n, src_ptrs, src_strides, dst_ptrs, dst_strides, frame_props)
        except torch.cuda.OutOfMemoryError:
            raise InterpolateError(
                f"cannot interpolate output frame {n}: the GPU ran out of memory at {self.width}x{self.height} "
                f"with {self.batcher.size} window(s) per pass; lower batch= (e.g. batch=1), set tile= (e.g. "
                "tile=1024), or use precision=fp16") from None
        except RuntimeError as exc:
            if "can't allocate memory" not in str(exc) and "not enough memory" not in str(exc):
                raise
            raise InterpolateError(
                f"cannot interpolate output frame {n}: out of memory at {self.width}x{self.height} on the CPU; "
                "set tile= (e.g. tile=512) so the net works on parts of the frame, or free memory") from None
        profile.add("made_frames", 1)
        return result

    def _process(self, n: int, src_ptrs: Sequence[int], src_strides: Sequence[int], dst_ptrs: Sequence[int],
                 dst_strides: Sequence[int], frame_props: Sequence[Sequence[int]]) -> int:
        indices = self.plan(n)
        check_progressive(n, frame_props[1][FIELD_BASED], frame_props[2][FIELD_BASED])
        marked = [bool(frame_props[a][FLAGS] & SCENE_NEXT or frame_props[a + 1][FLAGS] & SCENE_PREV)
                  for a in range(3)]
        if self._still(indices, src_ptrs, src_strides):   # one picture four times: it is the new frame too
            self.io.store(self._host_planes(1, src_ptrs, src_strides), self._planes(0, dst_ptrs, dst_strides),
                          self.format.numpy_dtype)
            profile.add("still_frames", 1)
            return self._marks(n, marked[0], marked[1])
        with self.slots.slot():
            try:
                window = torch.stack([self._decoded_frame(indices[f], f, src_ptrs, src_strides, frame_props[f])
                                      for f in range(4)])  # (4, 3, H, W)
            except InterpolateError as exc:   # e.g. a _Matrix the device conversion does not know
                raise InterpolateError(f"cannot interpolate output frame {n}: {exc}") from None
            # every decision is made on the device and read with the result: no wait before the net runs
            finite_in = torch.isfinite(window).all()
            pred, cut = predict_within_scene(window, self.schedule.time(n), self.batcher.predict,
                                             self.compute.sc_threshold, marked)
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
        if cut_here:      # the net never works across a cut: frame i again, or frames i and i + 1 blended
            weight = self.schedule.cut_weight(n)
            after = self._host_planes(2, src_ptrs, src_strides)
            self.io.store([frame_at_cut(a, b, weight, self.compute.sc_mode) for a, b in
                           zip(self._host_planes(1, src_ptrs, src_strides), after)], dst, self.format.numpy_dtype)
            return self._marks(n, bool(cut_before), True)
        if not finite_out:
            raise InterpolateError(f"cannot interpolate output frame {n}: the net produced NaN/Inf "
                                   "(broken weights, or a half precision's overflow: try precision=fp32)")
        self.io.store(arrays, dst, self.format.numpy_dtype)
        return self._marks(n, bool(cut_before), False)

    def _marks(self, n: int, cut_before: bool, cut_here: bool) -> int:
        """The scene marks C sets on output n: the last output before a cut ends the scene; the first after
        source frame i's timestamp starts one when a cut precedes frame i."""
        if cut_here:
            return CUT_BEFORE_OUTPUT if self.schedule.last_before_next_source(n) else 0
        return CUT_AFTER_OUTPUT if cut_before and self.schedule.first_since_source(n) else 0

    def _still(self, indices: Sequence[int], src_ptrs: Sequence[int], src_strides: Sequence[int]) -> bool:
        """Whether the window is one picture four times (a still shot, a title card, a paused screen): every
        sample equal, and finite. Decided on the host from VapourSynth's own memory (no device work, no
        wait); a sparse look first, so that moving pictures cost a few comparisons, not a frame's."""
        ref = self._host_planes(1, src_ptrs, src_strides)
        others = [self._host_planes(f, src_ptrs, src_strides) for f in (0, 2, 3) if indices[f] != indices[1]]
        for step in (STILL_PROBE, 1):
            if not all(np.array_equal(a[::step, ::step], b[::step, ::step]) for planes in others
                       for a, b in zip(ref, planes)):
                return False
        return not self.format.is_float or all(np.isfinite(p).all() for p in ref)




def passes(options: Options, device: torch.device, info: dict[str, Any]) -> tuple[int, int]:
    """(batch, lanes): windows a pass carries and passes at once, the options' or their defaults for the
    device and the clip's frame size."""
    width, height = int(info["width"]), int(info["height"])
    return options.batch or default_batch(device.type, width, height), choose_lanes(options.lanes, device, width, height)


def choose_lanes(lanes: int | None, device: torch.device, width: int, height: int) -> int:
    """The passes at once the filter runs: option.lanes, or its default for the device and frame size."""
    if lanes is not None and lanes > 1 and device.type != "cpu":
        raise InterpolateError(f"lanes={lanes} runs passes side by side on the CPU's cores; on {device} they "
                               "queue on one card: leave lanes unset and use batch= to put windows together")
    return lanes or default_lanes(device.type, width, height, torch.get_num_threads())


def build(info: dict[str, Any], args: dict[str, Any]) -> list[Stage]:
    """Checks the options and the clip, loads the model once, and plans the stages: one exact-time stage
    for weights that take the time position, else 2x stages (and a final retiming for fps_num/fps_den)."""
    options = Options.from_filter_args(args)
    fmt = check_format(info)
    num_source = int(info["num_frames"])
    if num_source < 2:
        raise InterpolateError(f"the clip has {num_source} frame(s); at least 2 are needed to interpolate")
    source_rate = rate_of(info)
    ratio = options.ratio(source_rate)
    if num_source * ratio >= 2**31:
        raise InterpolateError(f"the output would have {float(num_source * ratio):.3g} frames, more than a clip "
                               "can hold (2^31 - 1); interpolate the clip in parts")
    engine, any_time, source = make_engine(options, info, fmt, int(num_source * ratio))
    device = engine.device
    batch, lanes = passes(options, device, info)

    def computing() -> Compute:
        return Compute(Batcher(engine, batch, lanes), PlaneIO(device), fmt, options.sc, options.cut_mode)

    if ratio < 1:
        log.warning("the target rate is below the clip's (%s times): the output has fewer frames than the clip; "
                    "%s", f"{float(ratio):.4g}", "new frames are made at the output's times" if any_time else
                    "each output time shows the nearest source frame (the others are dropped)")
    if any_time:
        if source_rate is None and ratio.denominator != 1:
            raise InterpolateError(f"factor {ratio} is not whole, so it needs a clip with a known constant frame "
                                   "rate; set one with core.std.AssumeFPS(clip, fpsnum=..., fpsden=...)")
        schedule = Timed(ratio, num_source)
        if options.dedup:
            schedule = Deduped(schedule, RepeatLog(num_source, options.repeat_threshold), MAX_RUN)
        return [Stage(info, schedule, computing())]
    if options.dedup:
        raise InterpolateError(f"dedup makes frames at any place between two unique frames, which needs weights "
                               f"that interpolate at any time position (motion compensation); {source!r} "
                               "interpolates halfway only: use the bundled model (leave weights unset)")
    return _halfway_stages(info, options, ratio, source_rate, source, computing)


def choose_precision(asked: str | None, device: torch.device, fmt: PixelFormat) -> str:
    """The engine's precision for ``precision=`` (None or "auto": the rule below; others as asked, the engine
    refusing what the device cannot do). auto: bf16 on a CPU with native bf16 (CPU_BF16_BY_DEFAULT: within
    0.05 dB of fp32 on every evaluation and held-out clip, docs/benchmarks.md), fp16 on CUDA for 16-bit float
    clips (their own precision), else fp32."""
    if asked not in (None, "auto"):
        return asked
    if device.type == "cuda":
        return "fp16" if fmt.is_float and fmt.bits == 16 else "fp32"
    if CPU_BF16_BY_DEFAULT and cpu_bf16():
        info_once("precision=auto: bf16 on this CPU (it has native bf16); precision=fp32 for full precision")
        return "bf16"
    return "fp32"


def make_engine(options: Options, info: dict[str, Any], fmt: PixelFormat,
                output_frames: int = 0) -> tuple[Engine, bool, str]:
    """The weights loaded with the options that change the net, on their device, compiled or not as the
    ``compile`` option and the clip's ``output_frames`` say (filter/compiling.py): (engine, whether the net
    takes the time position, the weights' name)."""
    device = resolve_device(options.device)
    precision = choose_precision(options.precision, device, fmt)
    net, source = load_weights(options.weights)
    if options.scales == 2 and net.fusion is None:
        raise InterpolateError(f"scales=2 needs weights trained with a scale fusion (model.scales: 2); {source!r} "
                               "has the full-size pass only: leave scales unset")
    if options.scales == 1:
        net.drop_scale_fusion()
    if options.detail is not None:
        if options.detail and not net.any_time:
            raise InterpolateError(f"detail matches the motion-compensated source frames' sharpness; {source!r} has "
                                   "no motion model: leave detail unset")
        net.set_detail(options.detail)
    for name, value in (("safety", options.safety), ("mask", options.mask)):
        if value and not net.any_time:
            raise InterpolateError(f"{name} judges the motion compensation; {source!r} has no motion model: leave "
                                   f"{name} unset")
    if options.safety is not None:
        net.set_safety(options.safety)
    net.show_trust = bool(options.mask)
    batch, lanes = passes(options, device, info)
    clip = {k: info[k] for k in WARM_INFO}
    threads = lane_threads(lanes) if lanes > 1 else 0     # a compiled pass's loops: its share, not every core
    key = compiling.warm_key(net.config, precision, batch, clip, options.filter_args(), threads)
    compiled = compiling.plan(options.compile, device, output_frames, key, lanes)
    engine = Engine(net, device, precision=precision, tile=options.tile or 0, compile=compiled, threads=threads)
    if options.compile is None and not compiled and device.type == "cpu" and lanes == 1 \
            and output_frames >= compiling.COMPILE_MIN_FRAMES:
        compiling.warm_up_later(engine, key, clip, options.filter_args())
    return engine, net.any_time, source


def _halfway_stages(info: dict[str, Any], options: Options, ratio: Fraction, source_rate: Fraction | None,
                    source: str, computing) -> list[Stage]:
    """Weights that interpolate halfway only: 2x again on the 2x clip keeps every window equally spaced;
    a target rate then takes the nearest frame of the finest clip."""
    if options.gives_rate:
        doublings = doublings_for_rate(source_rate, ratio * source_rate)
    elif ratio.denominator == 1 and ratio.numerator & (ratio.numerator - 1) == 0:
        doublings = ratio.numerator.bit_length() - 1
    else:
        raise InterpolateError(f"factor {ratio} needs weights that interpolate at any time position (motion "
                               f"compensation, model.motion: block); {source!r} interpolates halfway only: use a "
                               "power of two (2, 4, 8, ...) or fps_num/fps_den")
    stages: list[Stage] = []
    for _ in range(doublings):
        stage = Stage(info, Timed(Fraction(2), int(info["num_frames"])), computing())
        stages.append(stage)
        info = stage.output_info(info)
    if options.gives_rate:
        upsampled = rate_of(info)   # known: a target rate needs the source's, and doubling keeps it
        stages.append(Stage(info, Nearest(upsampled, ratio * source_rate, int(info["num_frames"]))))
    return stages
