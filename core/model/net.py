"""The whole interpolator and its training loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .refinement import RefinementNet
from .synthesis import SynthesisNet


class Net(nn.Module):
    """4 frames (B, 4, 3, H, W) on [-1, 1] -> the frame halfway between the middle two.

    Training mode returns (synthesised, refined) for the two-term loss; eval mode returns refined.
    """

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg or ModelConfig()
        self.synthesis = SynthesisNet(self.config)
        self.refinement = RefinementNet(self.config)

    def forward(self, frames: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if frames.dim() != 5 or frames.shape[1] != 4 or frames.shape[2] != 3:
            raise ValueError(f"Net expects (B, 4, 3, H, W) frames, got {tuple(frames.shape)}")
        m = self.config.pad_multiple
        if frames.shape[-1] % m or frames.shape[-2] % m:
            raise ValueError(f"Net expects H and W to be multiples of {m}, got {tuple(frames.shape[-2:])}")
        synthesized = self.synthesis(frames)
        refined = self.refinement(synthesized, frames[:, 1], frames[:, 2])
        return (synthesized, refined) if self.training else refined


def interpolation_loss(synthesized: torch.Tensor, refined: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L = 0.5 * L1(synthesis, gt) + L1(refined, gt), as in the paper."""
    return 0.5 * F.l1_loss(synthesized, target) + F.l1_loss(refined, target)
