"""Counted (not guessed) work of one forward pass: FLOPs from torch's FlopCounterMode, and the bytes
every aten op reads and writes (a lower bound of memory traffic) from a dispatch mode."""
from __future__ import annotations

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode


class _BytesCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in torch.utils._pytree.tree_leaves((args, kwargs, out)):
            if isinstance(t, torch.Tensor):
                self.bytes += t.numel() * t.element_size()
        return out


@torch.inference_mode()
def count_forward(net: torch.nn.Module, height: int, width: int, batch: int = 1,
                  device: torch.device | None = None, dtype: torch.dtype = torch.float32) -> dict[str, float]:
    """FLOPs and op-level bytes of one forward on (batch, 4, 3, H, W), padded like the engine pads."""
    m = net.pad_multiple
    h, w = height + (-height % m), width + (-width % m)
    x = torch.zeros(batch, 4, 3, h, w, device=device, dtype=dtype)
    with FlopCounterMode(display=False) as fc:
        net(x)
    with _BytesCounter() as bc:
        net(x)
    return {"flops": float(fc.get_total_flops()) / batch, "bytes": float(bc.bytes) / batch}
