"""The compute engine: one loaded net on one device, turning windows of 4 frames into the frames between."""
from __future__ import annotations

import contextlib
import functools
import platform
from pathlib import Path

import torch
import torch.nn.functional as F

from ..errors import InterpolateError
from ..model import Net
from ..model.net import NetOutput, steady_ends, times_on
from ..model.detail import PATCH
from ..options import MIN_TILE
from .compiling import inductor_cache, quiet_compiler_logs
from .host_memory import keep_freed_memory

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# the processor features that make bf16 arithmetic native (x86: AVX-512 BF16 or AMX; Arm: the BF16 extension);
# without them oneDNN emulates bf16, slower than fp32
BF16_CPU_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}


@functools.cache
def cpu_bf16() -> bool:
    """Whether this CPU computes bf16 natively (flags of /proc/cpuinfo; a system without that file is taken
    not to) and torch's oneDNN, which runs bf16 convolutions on the CPU, is there. (torch's own
    ``mkldnn._is_mkldnn_bf16_supported`` also says yes to plain AVX-512, where bf16 is emulated.)"""
    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return has_bf16_flags(Path("/proc/cpuinfo").read_text(errors="replace"))
    except OSError:
        return False


def has_bf16_flags(cpuinfo: str) -> bool:
    """Whether /proc/cpuinfo's text names a native bf16 feature (its first processor's flags: all are alike)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):        # x86, Arm
            return bool(BF16_CPU_FLAGS & set(value.split()))
    return False


def cpu_name() -> str:
    return platform.processor() or platform.machine() or "this CPU"


def compile_learned_part(net: Net, threads: int = 0) -> None:
    """torch.compile (inductor) of the net's learned part, the one the time goes into; the motion search's
    unrolled loops would make a graph that takes long to compile for little. The first frame of each
    frame size pays the compile, kept for later runs in the package's cache folder (inductor's graph
    cache, filter/compiling.py). The net's passes run it in place of ``Net.correct`` (``Net.compiled_correct``).
    inductor writes its loops for a fixed number of threads, torch's where it compiles unless ``threads``
    says (passes side by side: each its share, not every core twice over)."""
    inductor_cache()
    quiet_compiler_logs()
    # one eager run first makes the device constants the learned part reads (model/motion.py _constant):
    # made during the trace, they would break it into several graphs (fusion stops at each break)
    p = next(net.parameters())
    with torch.inference_mode():
        net.correct(torch.zeros(1, 4, 3, net.pad_multiple, net.pad_multiple, device=p.device, dtype=p.dtype))
    options = {"cpp.threads": threads} if threads > 0 else None
    net.compiled_correct = torch.compile(net.correct, dynamic=False, options=options)


CPU_LAYOUT = torch.channels_last   # the learned part's layout on the CPU where not asked (Engine's docstring)
TILE_OVERLAP = 64   # px of context around each tile for the learned part (the motion search sees it whole)


class Engine:
    """Owns the net on its device in one precision; pads to the U-Net's multiple and crops back.

    ``precision`` is one of PRECISIONS. On CUDA a half precision converts the net. On the CPU, fp16 is
    refused (emulated, slower than fp32) and bf16 needs native bf16 arithmetic (``cpu_bf16``): the net
    stays float32 and its learned part runs under bf16 autocast (convolutions in bf16, sums and the blend
    it corrects in float32: faster than a converted net here, and closer to fp32); the motion search and
    the detail matching turn autocast off (model/net.py, model/detail.py). ``channels_last`` stores the
    learned part's weights and activations NHWC (``Net.layout``), which tensor-core convolutions read without
    a transpose; unset, on the CPU only: there oneDNN's bf16 convolutions write NHWC without a reorder to
    NCHW (in NCHW those reorders were a third of the learned part) and the ConvLSTM cell's kernel reads its
    gates in place (model/lstm_kernel.c; the learned part at 640x352 in bf16 0.36 -> 0.20 s, in fp32 0.38
    -> 0.34 s: docs/benchmarks.md). ``tile`` bounds memory: the motion search runs on the whole frame (a few frames' worth of
    memory), then the learned part, which holds the memory, runs on tiles of at most ``tile`` px with
    TILE_OVERLAP px of context computed and dropped (what is left of a seam, bench measures).
    """

    def __init__(self, net: Net, device: torch.device, precision: str = "fp32", *, channels_last: bool | None = None,
                 tile: int = 0, compile: bool = False, threads: int = 0) -> None:
        """``threads``: torch's threads each pass runs on, where the filter runs several at once
        (filter/batcher.py); a compiled learned part's own loops are made for that many (0: as many as the
        thread that compiles has)."""
        if tile and tile < MIN_TILE:
            raise InterpolateError(f"tile must be 0 (whole frames) or at least {MIN_TILE} px, got {tile}")
        self.tile = tile
        if precision not in PRECISIONS:
            raise InterpolateError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if device.type != "cuda" and precision == "fp16":
            raise InterpolateError("precision=fp16 needs a CUDA device (on the CPU it is emulated, slower than "
                                   "fp32); use precision=fp32, or precision=bf16 on a CPU with native bf16")
        if device.type != "cuda" and precision == "bf16" and not cpu_bf16():
            raise InterpolateError(f"precision=bf16 on the CPU needs native bf16 arithmetic (AVX-512 BF16 or "
                                   f"AMX on x86, the BF16 extension on Arm), which this CPU ({cpu_name()}) lacks; "
                                   "use precision=fp32 (or leave precision unset: auto)")
        self.device, self.precision = device, precision
        if device.type == "cpu":
            keep_freed_memory()        # a pass's temporaries reused, not faulted in again (filter/host_memory.py)
        # bf16 on the CPU: autocast over a float32 net (see above); elsewhere the net converted
        self.autocast = device.type == "cpu" and precision == "bf16"
        self.dtype = torch.float32 if self.autocast else PRECISIONS[precision]
        if channels_last is None:
            self.memory_format = CPU_LAYOUT if device.type == "cpu" else torch.contiguous_format
        else:
            self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(device=device, dtype=self.dtype, memory_format=self.memory_format).eval()
        self.net.layout = self.memory_format
        self.multiple = net.pad_multiple
        if compile:
            with self.precision_context():
                compile_learned_part(self.net, threads)

    def precision_context(self):
        """The context the net runs in: bf16 autocast for bf16 on the CPU, else nothing."""
        return torch.autocast("cpu", dtype=torch.bfloat16) if self.autocast else contextlib.nullcontext()

    @torch.inference_mode()
    def predict(self, frames: torch.Tensor, t: float | torch.Tensor = 0.5) -> torch.Tensor:
        """frames: (B, 4, 3, H, W) float on [-1, 1], any H and W -> (B, 3, H, W) float32 at time t between the
        middle two (0.5 for weights without motion compensation): one t, or a host tensor of one per window."""
        b, n, c, h, w = frames.shape
        # always one time per window, even when all are equal: the same arithmetic for a window whatever
        # the times of its companions (a float t would round 1 - t differently)
        t = torch.as_tensor(t, dtype=torch.float64).cpu().expand(b).clone()
        if self.device.type == "cuda":
            t = t.pin_memory()     # so that its copy to the device need not wait (Net.forward)
        with self.precision_context():
            return self._predict(frames, t)

    def _predict(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[-2:]
        if not self.tile or (h <= self.tile and w <= self.tile):
            return self._whole(frames, t)
        if self.net.fusion is not None:    # the half-size pass and fusion see the frame whole: tile it all
            return self._tiled(frames, lambda part: self._whole(part, t))
        # motion is searched on the whole frame (its reach and pyramid must not depend on the tiles; its
        # memory is a few frames' worth), the learned part, which holds the memory, runs in tiles
        source = frames.to(device=self.device, dtype=self.dtype)
        x = self.net.motion_stage(source, t)
        read = steady_ends(source, x)       # what the learned part reads (net.py)
        out = self._tiled(read, lambda part: self._padded(part, lambda p: self.net.learned_stage(p, t)))
        # the safety net on the joined frame (its map is as the whole frame's, no seam at the tiles)
        return self.net.safeguard(NetOutput(out, out), source, x, times_on(t, self.device)).frame.float()

    def _tiled(self, frames: torch.Tensor, run) -> torch.Tensor:
        """``run`` over tiles of at most ``tile`` px with TILE_OVERLAP px of context, kept from their cores."""
        b, _, _, h, w = frames.shape
        out = torch.empty(b, 3, h, w, device=self.device)
        for y0 in range(0, h, self.tile):
            for x0 in range(0, w, self.tile):
                y1, x1 = min(y0 + self.tile, h), min(x0 + self.tile, w)
                # context starts on the detail matching's 16 px patch grid, as the whole frame's does
                ya, xa = (max(0, (v - TILE_OVERLAP) // PATCH * PATCH) for v in (y0, x0))
                yb, xb = min(h, y1 + TILE_OVERLAP), min(w, x1 + TILE_OVERLAP)
                part = run(frames[..., ya:yb, xa:xb])
                out[..., y0:y1, x0:x1] = part[..., y0 - ya:y1 - ya, x0 - xa:x1 - xa]
        return out

    def prepare(self, frames: torch.Tensor) -> torch.Tensor:
        """(B, 4, 3, H, W) as the net takes them: on the device in the engine's dtype, padded to the net's
        multiple (NCHW: the net's learned part takes them NHWC itself where asked, ``Net.layout``)."""
        b, n, c, h, w = frames.shape
        ph, pw = -h % self.multiple, -w % self.multiple
        x = frames.to(device=self.device, dtype=self.dtype).reshape(b, n * c, h, w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        return x.reshape(b, n, c, h + ph, w + pw)

    def _padded(self, frames: torch.Tensor, run) -> torch.Tensor:
        """``run`` on the prepared frames, cropped back, float32."""
        h, w = frames.shape[-2:]
        return run(self.prepare(frames)).frame[..., :h, :w].float()

    def _whole(self, frames: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        h, w = frames.shape[-2:]
        return self._padded(frames, lambda x: self.net(x, t, valid=(h, w)))
