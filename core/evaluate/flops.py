"""Counted (not guessed) work of one forward pass, by stage (the motion search, the learned part):
FLOPs from torch's FlopCounterMode; and from a dispatch mode, the operations that run a kernel (in eager
mode on a GPU each is at least one launch with its host work: what CUDA graphs or compilation remove) and
the bytes they read and write (a lower bound of memory traffic: what fusion would save). Views and
reshapes that move no data count for neither."""
from __future__ import annotations

import sys

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.flop_counter import FlopCounterMode

from ..model.net import Net

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


def _in_motion_stage() -> bool:
    """Whether Net.compensate is on the Python stack: the op belongs to the motion stage (in every pass
    that runs it, the half-size one too)."""
    code = Net.compensate.__code__
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code is code:
            return True
        frame = frame.f_back
    return False


class _WorkCounter(TorchDispatchMode):
    """Ops that run a kernel and the bytes they touch, by stage (ops inside Net.compensate: motion)."""

    def __init__(self) -> None:
        super().__init__()
        self.ops = dict.fromkeys(STAGES, 0)
        self.bytes = dict.fromkeys(STAGES, 0)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if _moves_data(func, (args, kwargs), out):
            stage = "motion" if _in_motion_stage() else "learned"
            self.ops[stage] += 1
            self.bytes[stage] += sum(t.numel() * t.element_size() for t in _tensors((args, kwargs, out)))
        return out


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
    with counter:
        net(x)
    work = {"flops": float(fc.get_total_flops()) / batch, "bytes": sum(counter.bytes.values()) / batch,
            "ops": float(sum(counter.ops.values()))}
    for stage in STAGES:
        work[f"{stage}_bytes"] = counter.bytes[stage] / batch
        work[f"{stage}_ops"] = float(counter.ops[stage])
    return work
