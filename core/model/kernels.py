"""The CPU's kernels, called through ctypes: for the motion search's inner steps (kernels.c) the
candidates' mismatch (``bilinear_mismatch``), block means (``block_mean``), each pixel's cheapest
candidate (``min_over_candidates``), all of those in one pass for the steps that try fixed offsets from a
start (``offset_search``), and for the search at the frame's edges the planes' detail (``detail_planes``)
and the candidates' mismatch where the trajectory is seen (``seen_mismatch``), and the safety net's window
means with the edges replicated (``box_mean``, the same bits as box.py's slices); for the learned part the ConvLSTM cell's arithmetic after its convolution
(``lstm_cell``, lstm_kernel.c; h written where the caller says: the layer's output, the next step's
input), the decoder's upsampling with its skip's sum (``upsample_add``, decoder_kernel.c), the
refinement's attention after its convolutions and the channel attention's mean (``scaled_pool``,
``attend``, ``channel_means``, attention_kernel.c).

ctypes releases the GIL for the call, so the rows are split between torch's threads (the calling thread
takes one share, a small pool the others) and the filter's serving threads keep working meanwhile. Where
a kernel cannot run (a GPU tensor, another dtype, a gradient wanted, a dispatch mode watching torch's
operations, as the bench's counts of what a GPU runs, or the module not built: a source tree run without
its build step) the caller's torch expression runs instead: each returns None. Those expressions stay
the reference (motion._mismatch, box.block_mean, torch's min, ConvLSTMCell's gates) and what a GPU runs;
tests/test_kernels.py holds each pair to float rounding."""
from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import torch

log = logging.getLogger(__name__)

ENABLED = True          # the tests set it False to run the torch reference on the CPU
MIN_SPLIT = 1 << 15     # output px below which one thread does it all (a handoff costs more)

_lock = threading.Lock()
_state: dict[str, object] = {}


_POINTER, _SIZE = ctypes.c_void_p, ctypes.c_int64
_SIGNATURES = {   # name: (argument types, result type)
    "bilinear_mismatch": ([_POINTER, _POINTER, _SIZE, _SIZE, _SIZE, _POINTER, _POINTER, _SIZE, _POINTER, _POINTER,
                           _SIZE, _SIZE], ctypes.c_int),
    "block_mean": ([_POINTER, _POINTER, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE], None),
    "box_mean": ([_POINTER, _POINTER, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE], None),
    "min_over_candidates": ([_POINTER, _SIZE, _SIZE, _POINTER, _POINTER, _SIZE, _SIZE], None),
    "offset_search": ([_POINTER, _POINTER, _SIZE, _SIZE, _SIZE, _POINTER, _POINTER, _POINTER, _POINTER, _SIZE,
                       _POINTER, ctypes.c_float, ctypes.c_float, _SIZE, _SIZE, _POINTER, _POINTER, _SIZE, _SIZE],
                      ctypes.c_int),
    "lstm_cell": ([_POINTER, ctypes.c_int32, _SIZE, _POINTER, _SIZE, _POINTER, _SIZE, _POINTER, _POINTER, _POINTER,
                   _POINTER, _POINTER, _POINTER, _SIZE, _SIZE], ctypes.c_int),
    "detail_planes": ([_POINTER, _POINTER, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE], None),
    "seen_mismatch": ([_POINTER, _SIZE, _SIZE, _SIZE, _POINTER, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE, _POINTER, _POINTER,
                       _POINTER, _POINTER, _SIZE, _SIZE], None),
    "scaled_pool": ([_POINTER, _POINTER, _POINTER, ctypes.c_int32, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE], ctypes.c_int),
    "attend": ([_POINTER, _POINTER, _POINTER, _POINTER, _POINTER, ctypes.c_int32, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE],
               ctypes.c_int),
    "channel_sums": ([_POINTER, _POINTER, ctypes.c_int32, _SIZE, _SIZE, _SIZE, _SIZE], None),
    "upsample_add": ([_POINTER, _POINTER, _POINTER, ctypes.c_int32, _SIZE, _SIZE, _SIZE, _SIZE, _SIZE], ctypes.c_int),
}


def _function(name: str):
    """A kernel's entry point, or None where the module was not built (said once in the log)."""
    if "library" not in _state:
        with _lock:
            if "library" not in _state:
                spec = importlib.util.find_spec(f"{__package__}._kernels")
                library = ctypes.CDLL(spec.origin) if spec is not None and spec.origin else None
                if library is None:
                    log.info("the motion search's CPU kernels are not built (%s._kernels): it runs on torch "
                             "alone, slower; `pip install .` builds them", __package__)
                else:
                    for symbol, (arguments, result) in _SIGNATURES.items():
                        getattr(library, symbol).argtypes = arguments
                        getattr(library, symbol).restype = result
                _state["library"] = library
    library = _state["library"]
    return None if library is None else getattr(library, name)


def _forget_pool() -> None:
    """In a forked child the pool's threads do not exist, and work given to it would wait for ever."""
    _state.pop("pool", None)
    _state.pop("workers", None)


if hasattr(os, "register_at_fork"):     # POSIX only; Windows does not fork
    os.register_at_fork(after_in_child=_forget_pool)


def _pool(workers: int) -> ThreadPoolExecutor:
    with _lock:
        if _state.get("workers", 0) < workers:     # the old pool's threads finish what they hold and end
            _state["pool"] = ThreadPoolExecutor(workers, thread_name_prefix="convlstm-kernel")
            _state["workers"] = workers
        return _state["pool"]


def instruction_set() -> str | None:
    """What the kernel runs on this CPU ("avx2" or "scalar"), None where it is not built: for the bench."""
    function = _function("bilinear_mismatch")
    if function is None:
        return None
    one, out = torch.zeros(2), torch.empty(1)     # a 1x1 frame of one plane, and its vector; kept alive
    strides = (ctypes.c_int64 * 5)(0, 0, 0, 0, 0)
    kind = function(one.data_ptr(), one.data_ptr(), 1, 1, 1, one.data_ptr(), strides, 1, one.data_ptr(),
                    out.data_ptr(), 0, 1)
    return "avx2" if kind == 2 else "scalar"


def watched() -> bool:
    """Whether a dispatch mode watches torch's operations (the bench counting what a GPU runs): the CPU's
    shortcuts step aside then, so that what is counted is the GPU's path."""
    return bool(torch._C._len_torch_dispatch_stack())


def _runs_here(*tensors: torch.Tensor) -> bool:
    """Whether a kernel may take these: float32 in host memory, no gradient wanted, no dispatch mode
    watching (module docstring)."""
    return (ENABLED and not watched()
            and all(x.device.type == "cpu" and x.dtype == torch.float32 for x in tensors)
            and not (torch.is_grad_enabled() and any(x.requires_grad for x in tensors)))


def bilinear_mismatch(a: torch.Tensor, b: torch.Tensor, v: torch.Tensor,
                      t: float | torch.Tensor) -> torch.Tensor | None:
    """(B, K, h, w): for K fields v (B or 1, K, 2, h, w) in px, |a(p - t v) - b(p + (1 - t) v)| summed over
    a's and b's planes (B, C, h, w), bilinear reads with the frame's edges clamped, t a float or one per
    sample (B, 1, 1, 1). None where the kernel does not run (module docstring)."""
    n, c, h, w = a.shape
    if (not _runs_here(a, b, v) or b.shape != a.shape or v.dim() != 5 or v.shape[2] != 2
            or tuple(v.shape[-2:]) != (h, w) or v.shape[0] not in (1, n)):
        return None
    function = _function("bilinear_mismatch")
    if function is None:
        return None
    a, b = a.contiguous(), b.contiguous()
    v = v.expand(n, *v.shape[1:])
    k = v.shape[1]
    times = (t.reshape(-1).float().expand(n) if torch.is_tensor(t) else torch.full((n,), float(t))).contiguous()
    out = torch.empty(n, k, h, w)
    strides = (ctypes.c_int64 * 5)(*v.stride())
    _split(function, (a.data_ptr(), b.data_ptr(), c, h, w, v.data_ptr(), strides, k, times.data_ptr(),
                      out.data_ptr()), n * k * h, w)
    return out


def seen_mismatch(frames: torch.Tensor, v: torch.Tensor, steps: torch.Tensor, at: tuple[int, int]
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """motion._seen_mismatch before its block means, in one pass (kernels.c): for K fields v (B, K, 2, h, w)
    over the part of the frame at ``at`` (row, column), the four frames' planes and detail (B, 4, C + 1, H, W)
    read at p + steps[:, i] v (steps (B, 4)): the mismatch of the pair where the trajectory is seen and the
    first's detail (B, K, h, w) each, and where a read of the middle frames left the frame (bool). None
    where the kernel does not run (module docstring)."""
    b, k, _, h, w = v.shape
    if (not _runs_here(frames, v, steps) or frames.dim() != 5 or frames.shape[:2] != (b, 4) or frames.shape[2] < 2
            or v.shape[2] != 2 or tuple(steps.shape) != (b, 4)):
        return None
    function = _function("seen_mismatch")
    if function is None:
        return None
    frames, v, steps = frames.contiguous(), v.contiguous(), steps.contiguous()
    mismatch, detail = torch.empty(b, k, h, w), torch.empty(b, k, h, w)
    leaves = torch.empty(b, k, h, w, dtype=torch.uint8)
    _split(function, (frames.data_ptr(), frames.shape[2], frames.shape[3], frames.shape[4], v.data_ptr(), k, h, w,
                      at[0], at[1], steps.data_ptr(), mismatch.data_ptr(), detail.data_ptr(), leaves.data_ptr()),
           b * k * h, w)
    return mismatch, detail, leaves.bool()


def block_mean(x: torch.Tensor, side: int) -> torch.Tensor | None:
    """Mean over the side x side window around each pixel of x (..., h, w), of the pixels inside the frame
    (fewer at the edges), each plane apart; None where the kernel does not run (module docstring)."""
    return _window_means("block_mean", x, side)


def box_mean(x: torch.Tensor, side: int) -> torch.Tensor | None:
    """Mean over the side x side window around each pixel of x (..., h, w) with the frame's edges
    replicated, each plane apart: box.box_mean's slices' very sums, in one pass each way; None where the
    kernel does not run (module docstring)."""
    return _window_means("box_mean", x, side)


def _window_means(name: str, x: torch.Tensor, side: int) -> torch.Tensor | None:
    """The window means kernel ``name`` (block_mean or box_mean) over x's planes, rows split."""
    if not _runs_here(x) or x.dim() < 2 or x.numel() == 0:
        return None
    function = _function(name)
    if function is None:
        return None
    x = x.contiguous()
    h, w = x.shape[-2:]
    out = torch.empty_like(x)
    _split(function, (x.data_ptr(), out.data_ptr(), h, w, side), x.numel() // w, w)
    return out


def offset_search(a: torch.Tensor, b: torch.Tensor, start: torch.Tensor | None, offsets: torch.Tensor, t: float | torch.Tensor,
                  prior: float, floor: torch.Tensor, floor_weight: float, origin: torch.Tensor | None,
                  block: int | tuple[int, ...]) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Each pixel's cheapest of the vectors start + offsets[k] (start (B, 2, h, w), offsets (K, 2)) and its
    cost, (B, 2, h, w) and (B, 1, h, w): what motion's torch expressions choose (``_search``, and
    ``_full_search`` from a start of zero: None): the window mean (``block``: a side, or two whose means are
    averaged) of ``bilinear_mismatch`` times 1 + prior * m, plus floor (B, 1, h, w) * floor_weight * m, m
    the candidate's |v - origin| (x and y summed; origin (B, 2, h, w), None for zero), ties to the first
    offset. In one pass (kernels.c), where the torch expression writes out and reads back K fields and K
    cost planes. None where the kernel does not run (module docstring)."""
    n, c, h, w = a.shape
    sides = block if isinstance(block, tuple) else (block,)
    if start is None and _runs_here(a):
        start = torch.zeros(n, 2, h, w)
    tensors = (a, b, offsets, floor) + tuple(x for x in (start, origin) if x is not None)
    if (start is None or not _runs_here(*tensors) or b.shape != a.shape or start.shape != (n, 2, h, w) or floor.shape != (n, 1, h, w)
            or (origin is not None and origin.shape != (n, 2, h, w)) or offsets.dim() != 2 or offsets.shape[1] != 2
            or len(offsets) == 0 or n * h * w == 0 or len(sides) > 2):
        return None
    function = _function("offset_search")
    if function is None:
        return None
    a, b, start, offsets, floor = (x.contiguous() for x in (a, b, start, offsets, floor))
    origin = None if origin is None else origin.contiguous()
    times = (t.reshape(-1).float().expand(n) if torch.is_tensor(t) else torch.full((n,), float(t))).contiguous()
    out, cost = torch.empty(n, 2, h, w), torch.empty(n, 1, h, w)
    _split(function, (a.data_ptr(), b.data_ptr(), c, h, w, start.data_ptr(), None if origin is None else origin.data_ptr(),
                      floor.data_ptr(), offsets.data_ptr(), len(offsets), times.data_ptr(), prior, floor_weight, sides[0],
                      sides[1] if len(sides) == 2 else 0, out.data_ptr(), cost.data_ptr()), n * h, w * len(offsets))
    return out, cost


def min_over_candidates(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(values, indices), each (B, 1, h, w), of cost (B, K, h, w): what cost.min(1, keepdim=True) gives,
    the first of equals and NaN as torch orders it; None where the kernel does not run."""
    if not _runs_here(cost) or cost.dim() != 4 or cost.numel() == 0:
        return None
    function = _function("min_over_candidates")
    if function is None:
        return None
    cost = cost.contiguous()
    n, k, h, w = cost.shape
    value = torch.empty(n, 1, h, w)
    index = torch.empty(n, 1, h, w, dtype=torch.int64)
    _split(function, (cost.data_ptr(), k, h * w, value.data_ptr(), index.data_ptr()), n * h * w, k)
    return value, index


def lstm_cell(gates: torch.Tensor, c_prev: torch.Tensor | None, hidden: torch.Tensor | None = None,
              next_input: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The ConvLSTM cell's (h, c) from its convolution's ``gates`` (B, 4n, H, W: i, f, o, g) and the cell
    state before (None on the first step): what ``ConvLSTMCell``'s torch expression computes, in one pass
    (lstm_kernel.c). h in the gates' dtype (bf16 or float32: what the next convolution reads), c in float32,
    both in the gates' layout (NCHW or NHWC). h is written into ``hidden`` where given (B, n, H, W, the
    gates' dtype, any batch stride: a step's slot of the layer's output), and where ``next_input`` is given
    (the same shape) into it too (the h channels of the next step's convolution input). None where the kernel
    does not run (module docstring; also while torch.compile traces, which fuses the expression itself, and
    where an output given is not laid out as the gates are)."""
    if (not ENABLED or torch.compiler.is_compiling() or watched()
            or gates.device.type != "cpu" or gates.dtype not in (torch.float32, torch.bfloat16) or gates.dim() != 4
            or gates.shape[1] % 4 or gates.numel() == 0
            or (torch.is_grad_enabled() and (gates.requires_grad or (c_prev is not None and c_prev.requires_grad)))):
        return None
    b, n4, h, w = gates.shape
    n, plane = n4 // 4, h * w
    if gates.is_contiguous():
        layout, outer2, gate_strides, step, state_strides, inner = torch.contiguous_format, n, (n4 * plane, plane), \
            n * plane, (n * plane, plane), plane
    elif gates.is_contiguous(memory_format=torch.channels_last):
        layout, outer2, gate_strides, step, state_strides, inner = torch.channels_last, plane, (plane * n4, n4), \
            n, (plane * n, n), n
    else:
        return None
    function = _function("lstm_cell")
    if function is None or (c_prev is not None and (c_prev.shape != (b, n, h, w) or c_prev.device.type != "cpu")):
        return None
    if hidden is None:
        hidden = torch.empty((b, n, h, w), dtype=gates.dtype, memory_format=layout)
    outputs = [_row_strides(x, layout, gates) for x in (hidden, next_input) if x is not None]
    if None in outputs:
        return None
    if c_prev is not None:
        c_prev = c_prev.to(torch.float32).contiguous(memory_format=layout)
    c = torch.empty((b, n, h, w), dtype=torch.float32, memory_format=layout)
    _split(function, (gates.data_ptr(), int(gates.dtype == torch.bfloat16), outer2, (ctypes.c_int64 * 2)(*gate_strides),
                      step, (ctypes.c_int64 * 2)(*state_strides), inner, None if c_prev is None else c_prev.data_ptr(),
                      c.data_ptr(), hidden.data_ptr(), outputs[0], None if next_input is None else next_input.data_ptr(),
                      outputs[1] if next_input is not None else None), b * outer2, inner)
    return hidden, c


def _row_strides(x: torch.Tensor, layout: torch.memory_format, gates: torch.Tensor):
    """The two strides (a batch's, and a channel's in NCHW or a pixel's in NHWC) at which the cell kernel
    writes h into x (B, n, H, W), whose rows must run as the gates' do (the pixels of a channel contiguous in
    NCHW, the channels of a pixel in NHWC); None where they do not, or x is not on the CPU in the gates'
    dtype."""
    b, n4, h, w = gates.shape
    if x.shape != (b, n4 // 4, h, w) or x.dtype != gates.dtype or x.device.type != "cpu":
        return None
    if layout is torch.contiguous_format and x.stride(3) == 1 and x.stride(2) == w:
        return (ctypes.c_int64 * 2)(x.stride(0), x.stride(1))
    if layout is torch.channels_last and x.stride(1) == 1 and x.stride(2) == w * x.stride(3):
        return (ctypes.c_int64 * 2)(x.stride(0), x.stride(3))
    return None


def detail_planes(planes: torch.Tensor) -> torch.Tensor | None:
    """(N, C, H, W) -> (N, C + 1, H, W): the planes and their detail, what ``motion._detail``'s torch
    expression gives, in one pass; None where the kernel does not run (module docstring)."""
    if not _runs_here(planes) or planes.dim() != 4 or planes.numel() == 0:
        return None
    function = _function("detail_planes")
    if function is None:
        return None
    planes = planes.contiguous()
    n, c, h, w = planes.shape
    out = torch.empty(n, c + 1, h, w)
    _split(function, (planes.data_ptr(), out.data_ptr(), c, h, w), n * h, w * c)
    return out


def learned_inputs_here(*tensors: torch.Tensor) -> bool:
    """Whether the learned part's kernels may take these: on the CPU, all bf16 or all float32, no gradient
    wanted, no dispatch mode watching, not inside a torch.compile trace (which fuses the expressions)."""
    return (ENABLED and not torch.compiler.is_compiling() and not watched()
            and tensors[0].dtype in (torch.float32, torch.bfloat16)
            and all(x.device.type == "cpu" and x.dtype == tensors[0].dtype for x in tensors)
            and not (torch.is_grad_enabled() and any(x.requires_grad for x in tensors)))


def _nhwc(x: torch.Tensor) -> bool:
    return x.dim() == 4 and x.numel() > 0 and x.is_contiguous(memory_format=torch.channels_last)


def upsample_add(x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor | None:
    """x (B, C, H, W) upsampled 2x, bilinear (align_corners=False), plus skip (B, C, 2H, 2W): what the
    decoder's torch expression computes, rounded as its two operations round (decoder_kernel.c), in one pass.
    Both NHWC (the learned part's layout on the CPU), bf16 or float32. None where the kernel does not run
    (module docstring; also while torch.compile traces, which fuses the expression itself)."""
    if (not learned_inputs_here(x, skip) or not _nhwc(x) or not _nhwc(skip)
            or tuple(skip.shape) != (x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3])):
        return None
    function = _function("upsample_add")
    if function is None:
        return None
    b, c, h, w = x.shape
    out = torch.empty_like(skip, memory_format=torch.channels_last)
    done = _split(function, (x.data_ptr(), skip.data_ptr(), out.data_ptr(), int(x.dtype == torch.bfloat16), c, h, w),
                  b * 2 * h, 2 * w * c)
    return out if min(done, default=0) == 0 else None     # a row's buffers not had: torch's expression


def channel_means(y: torch.Tensor) -> torch.Tensor | None:
    """(B, C, 1, 1) bf16: the mean over its pixels of y (B, C, H, W) NHWC bf16, what the channel attention's
    average pooling gives, where torch first casts the activations to a float32 copy: summed in float32
    as torch sums them but in another order (attention_kernel.c: each row, then the rows), then rounded to
    bf16, which hides the order's last bits (on every input tried the same bits; one bf16 step apart at
    most). float32 is left to torch (no copy there to save, and its bits stay). None where the kernel does
    not run (module docstring)."""
    if y.dtype != torch.bfloat16 or not learned_inputs_here(y) or not _nhwc(y):
        return None
    function = _function("channel_sums")
    if function is None:
        return None
    b, c, h, w = y.shape
    sums = torch.empty(b * h, c, dtype=torch.float32)
    _split(function, (y.data_ptr(), sums.data_ptr(), int(y.dtype == torch.bfloat16), c, w), b * h, w * c)
    return (sums.view(b, h, c).sum(1) / (h * w)).to(y.dtype).view(b, c, 1, 1)


def scaled_pool(y: torch.Tensor, s: torch.Tensor) -> torch.Tensor | None:
    """(B, 2, H, W) NHWC: the mean and the maximum over the channels of y * s (y (B, C, H, W) NHWC, s
    (B, C, 1, 1)), the product rounded to y's dtype first, as the refinement's torch expression rounds it
    (attention_kernel.c). None where the kernel does not run."""
    if not learned_inputs_here(y, s) or not _nhwc(y) or tuple(s.shape) != (y.shape[0], y.shape[1], 1, 1):
        return None
    function = _function("scaled_pool")
    if function is None:
        return None
    b, c, h, w = y.shape
    s = s.contiguous()
    pooled = torch.empty((b, 2, h, w), dtype=y.dtype, memory_format=torch.channels_last)
    done = _split(function, (y.data_ptr(), s.data_ptr(), pooled.data_ptr(), int(y.dtype == torch.bfloat16), c, h, w),
                  b * h, w * c)
    return pooled if min(done, default=0) == 0 else None


def attend(x: torch.Tensor, y: torch.Tensor, s: torch.Tensor, a: torch.Tensor) -> torch.Tensor | None:
    """x + (y * s) * a, NHWC like x and y (B, C, H, W), s (B, C, 1, 1), a (B, 1, H, W), each product rounded
    to the dtype as torch's operations round it (attention_kernel.c). None where the kernel does not run."""
    if (not learned_inputs_here(x, y, s, a) or not _nhwc(x) or not _nhwc(y) or x.shape != y.shape
            or tuple(s.shape) != (y.shape[0], y.shape[1], 1, 1) or tuple(a.shape) != (y.shape[0], 1, *y.shape[2:])):
        return None
    function = _function("attend")
    if function is None:
        return None
    b, c, h, w = y.shape
    s, a = s.contiguous(), a.contiguous()
    out = torch.empty_like(x, memory_format=torch.channels_last)
    done = _split(function, (x.data_ptr(), y.data_ptr(), s.data_ptr(), a.data_ptr(), out.data_ptr(),
                             int(y.dtype == torch.bfloat16), c, h, w), b * h, w * c)
    return out if min(done, default=0) == 0 else None


def _split(function, args: tuple, rows: int, width: int) -> list:
    """function(*args, first row, end row) over ``rows`` rows of ``width`` px, split between torch's threads;
    what each part returned."""
    if rows <= 0:
        return []                                   # nothing to compute (no candidates): no call at all
    threads = min(torch.get_num_threads(), max(1, rows * width // MIN_SPLIT), rows)
    cuts = [rows * i // threads for i in range(threads + 1)]
    others = [_pool(threads - 1).submit(function, *args, cuts[i], cuts[i + 1]) for i in range(1, threads)] \
        if threads > 1 else []
    results = [function(*args, cuts[0], cuts[1])]
    return results + [other.result() for other in others]
