"""The compute engine: one loaded net on one device, turning windows of 4 frames into the frames between."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import InterpolateError
from ..model import Net

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}


class Engine:
    """Owns the net on its device in one precision; pads to the U-Net's multiple and crops back.

    ``fp16`` is the filter's old switch and means ``precision="fp16"``. Half precisions need CUDA (on the
    CPU they are emulated, slower than fp32). ``channels_last`` stores activations NHWC, which tensor-core
    convolutions read without a transpose.
    """

    def __init__(self, net: Net, device: torch.device, fp16: bool = False, precision: str | None = None,
                 channels_last: bool = False) -> None:
        precision = precision or ("fp16" if fp16 else "fp32")
        if precision not in PRECISIONS:
            raise InterpolateError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
        if precision != "fp32" and device.type != "cuda":
            switch = "fp16=True" if precision == "fp16" else precision
            raise InterpolateError(f"{switch} needs a CUDA device; use fp32 (fp16=False) on CPU")
        self.device, self.precision = device, precision
        self.dtype = PRECISIONS[precision]
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.net = net.to(device=device, dtype=self.dtype, memory_format=self.memory_format).eval()
        self.multiple = net.pad_multiple

    @torch.inference_mode()
    def predict(self, frames: torch.Tensor, t: float | torch.Tensor = 0.5) -> torch.Tensor:
        """frames: (B, 4, 3, H, W) float on [-1, 1], any H and W -> (B, 3, H, W) float32 at time t between the
        middle two (0.5 for weights without motion compensation): one t, or a host tensor of one per window."""
        b, n, c, h, w = frames.shape
        # always one time per window, even when all are equal: the same arithmetic for a window whatever
        # the times of its companions (a float t would round 1 - t differently)
        t = torch.as_tensor(t, dtype=torch.float64).cpu().expand(b).clone()
        ph, pw = -h % self.multiple, -w % self.multiple
        x = frames.to(device=self.device, dtype=self.dtype).reshape(b, n * c, h, w)
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        x = x.reshape(b, n, c, h + ph, w + pw)
        if self.memory_format is torch.channels_last:
            x = x.flatten(0, 1).contiguous(memory_format=torch.channels_last).unflatten(0, (b, n))
        out = self.net(x, t).frame
        return out[..., :h, :w].float()
