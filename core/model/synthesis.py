"""Synthesis network: a ConvLSTM U-Net that predicts the residual over the blend of I2 and I3."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from . import kernels
from .convlstm import ConvLSTM
from .motion import Time


def conv_relu(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None, conv: nn.Conv2d) -> torch.Tensor:
    """relu(conv2d(x)) with ``conv``'s geometry, at inference. On the CPU one oneDNN call with the ReLU as its
    post-op (the same bits: the ReLU on the float sum before the rounding to x's dtype is the ReLU after it):
    a full-size ReLU is a pass over memory, 7 ms of a 16 -> 8 channel convolution's 18 at 640x352 on one
    thread, bf16. x and the weights in autocast's dtype where it is on, else in x's, as autocast casts them."""
    if x.device.type == "cpu" and (x.is_contiguous() or x.is_contiguous(memory_format=torch.channels_last)):
        if torch.is_autocast_enabled("cpu") and x.dtype != torch.get_autocast_dtype("cpu"):
            x = x.to(torch.get_autocast_dtype("cpu"))
        pointwise = getattr(torch.ops.mkldnn, "_convolution_pointwise", None)
        if pointwise is not None and torch.backends.mkldnn.is_available():
            return pointwise(x, weight.to(x.dtype), None if bias is None else bias.to(x.dtype), list(conv.padding),
                             list(conv.stride), list(conv.dilation), conv.groups, "relu", [], "")
    return F.relu(F.conv2d(x, weight, bias, conv.stride, conv.padding, conv.dilation, conv.groups), inplace=True)


def conv_then_relu(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """relu(conv(x)) for a convolution with no norm after it: ``conv_relu`` at inference, the two layers
    where a gradient is wanted (of the weights or, a frozen stage's, of its input: oneDNN's fused call has
    no backward) or torch.compile traces (it fuses them itself)."""
    if torch.compiler.is_compiling() or (torch.is_grad_enabled() and (conv.weight.requires_grad or x.requires_grad)):
        return F.relu(conv(x))
    return conv_relu(x, conv.weight, conv.bias, conv)


def steps_as_channels(x: torch.Tensor, steps: int) -> torch.Tensor:
    """(B * T, C, H, W), time folded into the batch, -> (B, T * C, H, W), the steps side by side along the
    channels. NHWC (the CPU's layout) in one pass, as torch.cat of the steps: reshaped, it was two copies,
    the second the head's convolution's reorder (19 ms at 640x352 on one thread, bf16; the cat 4); NCHW
    it is a view."""
    if x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous():
        return torch.cat(x.unflatten(0, (-1, steps)).unbind(1), 1)
    return x.unflatten(0, (-1, steps)).flatten(1, 2)


class ConvBNReLU(nn.Sequential):
    """Convolution (no bias), batch norm, ReLU. At inference the norm, a fixed affine map per channel then,
    is folded into the convolution (weights times gamma / sqrt(var + eps), a bias beta - mean times the same):
    one pass over the activations fewer, at full size the largest elementwise step of the learned part
    (the two 8-channel norms there took 22 of its 360 ms at 640x352 on one CPU thread, bf16). The folded
    weights are kept while the parameters they came from are unchanged (their version counters: an
    adaptation's optimizer steps change them in place). Training, and a trace for torch.compile (inductor
    fuses the norm itself), run the three layers as they are."""

    def __init__(self, cin: int, cout: int, k: int = 3) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))
        self._folded: tuple[tuple, torch.Tensor, torch.Tensor] | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, norm = self[0], self[1]
        if (self.training or torch.compiler.is_compiling() or norm.running_var is None
                or (torch.is_grad_enabled() and (conv.weight.requires_grad or x.requires_grad))):
            return super().forward(x)
        weight, bias = self._fold(conv, norm)
        return conv_relu(x, weight, bias, conv)

    def _fold(self, conv: nn.Conv2d, norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
        sources = (conv.weight, norm.weight, norm.bias, norm.running_mean, norm.running_var)
        key = tuple((t.data_ptr(), t._version, t.dtype) for t in sources)
        if self._folded is None or self._folded[0] != key:
            with torch.no_grad():
                scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
                weight = conv.weight * scale.view(-1, 1, 1, 1)
                bias = norm.bias - norm.running_mean * scale
            self._folded = (key, weight.contiguous(memory_format=torch.channels_last)
                            if conv.weight.is_contiguous(memory_format=torch.channels_last) else weight, bias)
        return self._folded[1], self._folded[2]


def halve_max(x: torch.Tensor) -> torch.Tensor:
    """2x2 max pooling (H and W even): the same values as F.max_pool2d(x, 2), which on the CPU also finds
    the maxima's indices and took 36 ms of the learned part's 400 at 640x360 (this project's 2-core CPU,
    bf16); the three maxima of the four phases saved 23 ms of them (alternated in one process). On a GPU,
    where max_pool2d is one kernel and this is three, and in training (a tie's gradient would be split,
    not routed to one input), the pooling stays as it was."""
    if x.is_cuda or x.requires_grad:
        return F.max_pool2d(x, 2)
    return torch.maximum(torch.maximum(x[..., 0::2, 0::2], x[..., 0::2, 1::2]),
                         torch.maximum(x[..., 1::2, 0::2], x[..., 1::2, 1::2]))


class EncoderBlock(nn.Module):
    """ConvLSTM over time, then conv+BN+ReLU per time step; returns (skip, pooled)."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.lstm = ConvLSTM(cin, cout, k)
        self.conv = ConvBNReLU(cout, cout, k)

    def forward(self, seq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        b, t = seq.shape[:2]
        x = self.lstm(seq).flatten(0, 1)            # time folded into the batch for 2-D layers
        skip = self.conv(x)
        return skip, halve_max(skip).unflatten(0, (b, t))


class DecoderBlock(nn.Module):
    """Upsample, add the encoder's skip, conv+BN+ReLU (time still folded into the batch)."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__()
        self.conv = ConvBNReLU(cin, cout, k)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        fused = kernels.upsample_add(x, skip)     # on the CPU one pass (model/kernels.py); this is its reference
        if fused is None:
            fused = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False) + skip
        return self.conv(fused)


class SynthesisNet(nn.Module):
    """I'_t = (1 - t) I2 + t I3 + U-Net residual (t = 0.5 in the paper). Last conv starts at zero: untrained =
    blend.

    With ``blend_mask`` (not in the paper) the U-Net also chooses, per pixel, how much of I2 and of I3 the
    base takes: where one of the two motion-compensated frames is wrong (it saw what the target does not:
    an occlusion), averaging it in leaves a ghost and a soft edge that the residual would have to paint
    out; picking the other frame keeps its detail. The mask's logit is added to that of 1 - t and starts at
    zero, so an untrained mask is the plain time-weighted blend.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        ch, k = cfg.channels, cfg.kernel_size
        ins = (3,) + ch[:-1]
        self.encoders = nn.ModuleList(EncoderBlock(i, o, k) for i, o in zip(ins, ch))
        self.middle = ConvBNReLU(ch[-1], ch[-1], k)
        outs = (ch[0],) + ch[:-1]
        self.decoders = nn.ModuleList(DecoderBlock(i, o, k) for i, o in zip(ch, outs))
        self.head = nn.Sequential(nn.Conv2d(4 * ch[0], ch[0], k, padding=k // 2), nn.ReLU(inplace=True),
                                  nn.Conv2d(ch[0], 3, k, padding=k // 2))
        nn.init.zeros_(self.head[-1].weight)
        nn.init.zeros_(self.head[-1].bias)
        self.mask = nn.Conv2d(ch[0], 1, k, padding=k // 2) if cfg.blend_mask else None
        if self.mask is not None:
            nn.init.zeros_(self.mask.weight)
            nn.init.zeros_(self.mask.bias)

    def forward(self, frames: torch.Tensor, t: Time = 0.5) -> torch.Tensor:
        """frames: (B, 4, 3, H, W) on [-1, 1], H and W multiples of 2**levels; the base is I2 and I3 weighted
        by their nearness to time t (with motion compensation both already stand at t)."""
        b, steps = frames.shape[:2]
        if torch.is_tensor(t):
            t = t.to(frames.dtype)      # a float32 time must not lift an fp16/bf16 blend to float32
        x, skips = frames, []
        for enc in self.encoders:
            skip, x = enc(x)
            skips.append(skip)
        x = self.middle(x.flatten(0, 1))
        for dec, skip in zip(reversed(self.decoders), reversed(skips)):
            x = dec(x, skip)
        features = conv_then_relu(self.head[0], steps_as_channels(x, steps))
        if self.mask is not None:
            weight = torch.sigmoid(self.mask(features) + torch.logit(torch.as_tensor(1 - t, dtype=x.dtype,
                                                                                      device=x.device)))
            base = weight * frames[:, 1] + (1 - weight) * frames[:, 2]
        elif isinstance(t, float) and t == 0.5:
            base = 0.5 * (frames[:, 1] + frames[:, 2])
        else:
            base = (1 - t) * frames[:, 1] + t * frames[:, 2]
        return base + self.head[-1](features)
