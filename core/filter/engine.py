"""The compute engine: one loaded net on one device, turning 4 frames into the middle one."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InterpolateError
from ..model import Net


class Engine:
    """Owns the net on its device; pads to the U-Net's multiple and crops back."""

    def __init__(self, net: Net, device: torch.device, fp16: bool) -> None:
        if fp16 and device.type != "cuda":
            raise InterpolateError("fp16=True needs a CUDA device; use fp16=False on CPU")
        self.device = device
        self.dtype = torch.float16 if fp16 else torch.float32
        self.net = net.to(device=device, dtype=self.dtype).eval()
        self.multiple = net.pad_multiple

    @torch.inference_mode()
    def predict(self, frames: torch.Tensor, t: float = 0.5) -> torch.Tensor:
        """frames: (B, 4, 3, H, W) float on [-1, 1], any H and W -> (B, 3, H, W) float32 at time t between the
        middle two (0.5 for weights without motion compensation)."""
        b, n, c, h, w = frames.shape
        ph, pw = -h % self.multiple, -w % self.multiple
        x = frames.to(device=self.device, dtype=self.dtype).reshape(b, n * c, h, w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        out = self.net(x.reshape(b, n, c, h + ph, w + pw), t).frame
        return out[..., :h, :w].float()
