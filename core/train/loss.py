"""Training losses: the paper's two-term L1, plus optional terms against blur.

L1 alone rewards the average of what the net is unsure of (a soft frame). The pyramid term compares
band-pass detail at every scale, coarse bands weighted more (Bojanowski et al. 2018's Lap1), so a frame
that is right on average but missing its edges pays for it. The census (ternary) term compares, for every
pixel, the signs and sizes of its differences to its 7x7 neighbours (Meister et al. 2018's UnFlow, as
RIFE trains): a flattened edge or texture changes every one of them, whatever the mean brightness.
The detail term asks only for the right *amount* of detail per 16x16 patch (model/detail.py's measure, what
the evaluation's sharpness ratio measures), not its exact place: grain and fine texture that no method can
place exactly are still owed, where every pixel-wise term pays the net to leave them out.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from ..model import NetOutput, interpolation_loss
from ..model.detail import patch_detail
from ..model.motion import LUMA
from .config import LossConfig

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


CENSUS_PATCH = 7


def _census(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) on [-1, 1] -> (B, 49, H, W): each pixel's soft-signed luma differences to its neighbours."""
    y = (x * x.new_tensor(LUMA).view(1, 3, 1, 1)).sum(1, keepdim=True) * 127.5   # 8-bit luma units / 2
    k = CENSUS_PATCH
    eye = torch.eye(k * k, dtype=x.dtype, device=x.device).view(k * k, 1, k, k)
    diff = F.conv2d(F.pad(y, (k // 2,) * 4, mode="replicate"), eye) - y
    return diff / torch.sqrt(0.81 + diff * diff)


def census_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean soft Hamming distance between the census transforms (0 when every local ordering agrees)."""
    d = (_census(pred) - _census(target)) ** 2
    return (d / (0.1 + d)).mean()


def detail_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between the patches' detail energies: a soft frame (too little) and ringing (too much) pay."""
    return F.l1_loss(patch_detail(pred), patch_detail(target))


def loss_of(output: NetOutput, target: torch.Tensor, synthesis_trains: bool, terms: LossConfig | None = None
            ) -> torch.Tensor:
    """The paper's two-term loss while its net trains, plain L1 on the frame when only the fusion does;
    plus the configured anti-blur terms on the final frame."""
    terms = terms or LossConfig()
    frame = output.frame.float()
    if synthesis_trains:
        loss = interpolation_loss(output.synthesized.float(), frame, target)
    else:
        loss = F.l1_loss(frame, target)
    if terms.laplacian:
        loss = loss + terms.laplacian * laplacian_pyramid_l1(frame, target)
    if terms.census:
        loss = loss + terms.census * census_loss(frame, target)
    if terms.detail:
        loss = loss + terms.detail * detail_loss(frame, target)
    return loss
