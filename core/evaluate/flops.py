"""Counted (not guessed) work of one forward pass, by stage (the motion search, the learned part):
FLOPs from torch's FlopCounterMode; and from a dispatch mode, the operations that run a kernel (in eager
mode on a GPU each is at least one launch with its host work: what CUDA graphs or compilation remove) and
the bytes they read and write (a lower bound of memory traffic: what fusion would save). Views and
reshapes that move no data count for neither."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

STAGES = ("motion", "learned")   # the block search and warp (Net.compensate), everything else


def _tensors(tree) -> list[torch.Tensor]:
    return [t for t in tree_leaves(tree) if isinstance(t, torch.Tensor)]


def _moves_data(func, args, out) -> bool:
    """Whether the op runs a kernel: in place, or writing a tensor of its own (not a view of an input)."""
    if func.is_view:
        return False
    if func._schema.is_mutable:
        return True
    inputs = {t.untyped_storage().data_ptr() for t in _tensors(args)}
    outs = _tensors(out)
    return not outs or any(t.untyped_storage().data_ptr() not in inputs for t in outs)


class _WorkCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.stage = "learned"
        self.ops = dict.fromkeys(STAGES, 0)
        self.bytes = dict.fromkeys(STAGES, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if _moves_data(func, (args, kwargs), out):
            self.ops[self.stage] += 1
            self.bytes[self.stage] += sum(t.numel() * t.element_size() for t in _tensors((args, kwargs, out)))
        return out


@contextmanager
def _motion_counted_apart(net: torch.nn.Module, counter: _WorkCounter) -> Iterator[None]:
    """The net's compensate (every pass that runs it: the half-size one too) counted as the motion stage."""
    compensate = net.compensate

    def counted(*args, **kwargs):
        counter.stage = "motion"
        try:
            return compensate(*args, **kwargs)
        finally:
            counter.stage = "learned"

    net.compensate = counted
    try:
        yield
    finally:
        del net.compensate    # back to the class's method


@torch.inference_mode()
def count_forward(net: torch.nn.Module, height: int, width: int, batch: int = 1,
                  device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """Per window of one forward on (batch, 4, 3, H, W), padded like the engine pads: "flops"; "bytes" and
    "ops", in all and per stage ("motion_bytes", "learned_ops", ...). Ops are per pass (about the same at
    any batch: only the motion search's memory-bounded pieces grow in number with batch and area), bytes
    and FLOPs per window."""
    m = net.pad_multiple
    h, w = height + (-height % m), width + (-width % m)
    x = torch.zeros(batch, 4, 3, h, w, device=device, dtype=dtype)
    with FlopCounterMode(display=False) as fc:
        net(x)
    counter = _WorkCounter()
    with _motion_counted_apart(net, counter), counter:
        net(x)
    work = {"flops": float(fc.get_total_flops()) / batch, "bytes": sum(counter.bytes.values()) / batch,
            "ops": float(sum(counter.ops.values()))}
    for stage in STAGES:
        work[f"{stage}_bytes"] = counter.bytes[stage] / batch
        work[f"{stage}_ops"] = float(counter.ops[stage])
    return work
