"""Refinement network: attention blocks that correct the synthesised frame using I2 and I3."""
from __future__ import annotations

import torch
from torch import nn

from ..config import ModelConfig
from . import kernels
from .synthesis import conv_then_relu


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation: reweights channels from their global averages."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.fc = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // reduction, 1),
                                nn.ReLU(inplace=True), nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.fc(x)

    def weights(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, 1, 1): fc's channel weights of x, its first step (the mean over the pixels) on the CPU
        as one pass (model/kernels.py)."""
        means = kernels.channel_means(x)
        return self.fc(x) if means is None else self.fc[1:](means)


class SpatialAttention(nn.Module):
    """Reweights pixels from the channel mean and max through a 7x7 convolution."""

    def __init__(self, kernel_size: int = 7) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        return x * torch.sigmoid(self.conv(pooled))


class AttentionBlock(nn.Module):
    """conv-ReLU-conv, channel attention, spatial attention, residual."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(inplace=True),
                                  nn.Conv2d(channels, channels, 3, padding=1))
        self.channel = ChannelAttention(channels, reduction)
        self.spatial = SpatialAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body[2](conv_then_relu(self.body[0], x))
        weights = self.channel.weights(y)
        pooled = kernels.scaled_pool(y, weights)      # on the CPU two passes in all (model/kernels.py)
        if pooled is not None:
            out = kernels.attend(x, y, weights, torch.sigmoid(self.spatial.conv(pooled)))
            if out is not None:
                return out
        return x + self.spatial(self.channel(y))     # the reference


class RefinementNet(nn.Module):
    """I_out = I'_{2.5} + f(I'_{2.5}, I2, I3). Output conv starts at zero: untrained = identity."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        f = cfg.refine_channels
        self.inp = nn.Conv2d(9, f, 3, padding=1)
        self.blocks = nn.Sequential(*(AttentionBlock(f, cfg.reduction) for _ in range(cfg.attention_blocks)))
        self.out = nn.Conv2d(f, 3, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, synthesized: torch.Tensor, i2: torch.Tensor, i3: torch.Tensor) -> torch.Tensor:
        x = self.inp(torch.cat([synthesized, i2, i3], dim=1))
        return synthesized + self.out(self.blocks(x))
