"""Training losses: the paper's two-term L1, plus an optional Laplacian-pyramid term against blur.

L1 alone rewards the average of what the net is unsure of (a soft frame). The pyramid term compares
band-pass detail at every scale, coarse bands weighted more (Bojanowski et al. 2018's Lap1), so a frame
that is right on average but missing its edges pays for it.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model import NetOutput, interpolation_loss

GAUSS = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16


def _blur(x: torch.Tensor) -> torch.Tensor:
    c = x.shape[1]
    k = GAUSS.to(x)
    x = F.conv2d(F.pad(x, (2, 2, 0, 0), mode="replicate"), k.view(1, 1, 1, 5).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, 2, 2), mode="replicate"), k.view(1, 1, 5, 1).repeat(c, 1, 1, 1), groups=c)


def laplacian_pyramid_l1(pred: torch.Tensor, target: torch.Tensor, levels: int = 4) -> torch.Tensor:
    """Sum over pyramid levels j of 2**j * L1 of the band-pass images (the last level: the low-pass rest)."""
    total = pred.new_zeros(())
    for j in range(levels):
        if j == levels - 1 or min(pred.shape[-2:]) < 8:
            return total + 2 ** j * F.l1_loss(pred, target)
        low_p, low_t = _blur(pred), _blur(target)
        total = total + 2 ** j * F.l1_loss(pred - low_p, target - low_t)
        pred, target = F.avg_pool2d(low_p, 2), F.avg_pool2d(low_t, 2)
    return total


def loss_of(output: NetOutput, target: torch.Tensor, synthesis_trains: bool, laplacian: float = 0.0) -> torch.Tensor:
    """The paper's two-term loss while its net trains, plain L1 on the frame when only the fusion does;
    plus ``laplacian`` times the pyramid term on the final frame."""
    frame = output.frame.float()
    if synthesis_trains:
        loss = interpolation_loss(output.synthesized.float(), frame, target)
    else:
        loss = F.l1_loss(frame, target)
    if laplacian:
        loss = loss + laplacian * laplacian_pyramid_l1(frame, target)
    return loss
