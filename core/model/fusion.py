"""Scale fusion: a second pass at half resolution, trusted per pixel where the motion is large.

Not in the paper. Our net, trained on small crops, blurs or ghosts motion much beyond the
displacements it saw; at half resolution the same motion is half as large. Where the half-resolution
pass places things better, its low frequencies replace the full pass's; the full pass keeps the detail.
A small dilated CNN at half resolution decides where (it sees all four inputs, so it can judge motion).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def halve(frames: torch.Tensor) -> torch.Tensor:
    """(B, T, C, H, W) or (B, C, H, W) -> half size by 2x2 averaging (H and W even)."""
    lead = frames.shape[:-3]
    x = frames.reshape(-1, *frames.shape[-3:])
    return F.avg_pool2d(x, 2).reshape(*lead, frames.shape[-3], frames.shape[-2] // 2, frames.shape[-1] // 2)


class ScaleFusion(nn.Module):
    """out = full + upsample(mask * (coarse - halve(full))), mask in [0, 1] from a dilated CNN."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        inputs = 4 * 3 + 3 + 3 + 1          # four frames, both passes at half size, their disagreement
        layers: list[nn.Module] = []
        for i, dilation in enumerate((1, 2, 4, 8, 1)):
            layers += [nn.Conv2d(inputs if i == 0 else channels, channels, 3, padding=dilation, dilation=dilation),
                       nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*layers)
        self.mask = nn.Conv2d(channels, 1, 3, padding=1)
        nn.init.zeros_(self.mask.weight)
        nn.init.constant_(self.mask.bias, -2.0)   # start close to the single full-resolution pass

    def forward(self, half_frames: torch.Tensor, full: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
        """half_frames (B, 4, 3, H/2, W/2) (the coarse pass's input), full (B, 3, H, W), coarse (B, 3, H/2, W/2)
        -> (B, 3, H, W)."""
        low = halve(full)
        disagreement = (coarse - low).abs().mean(dim=1, keepdim=True)
        x = torch.cat([half_frames.flatten(1, 2), low, coarse, disagreement], dim=1)
        mask = torch.sigmoid(self.mask(self.body(x)))
        correction = mask * (coarse - low)
        return full + F.interpolate(correction, size=full.shape[-2:], mode="bilinear", align_corners=False)

    def disable(self) -> None:
        """Mask forced to zero: the output is the full-resolution pass alone (a validation baseline)."""
        with torch.no_grad():
            self.mask.weight.zero_()
            self.mask.bias.fill_(-1e4)
