"""The whole interpolator and its training loss."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .fusion import ScaleFusion, halve
from .refinement import RefinementNet
from .synthesis import SynthesisNet


class Net(nn.Module):
    """4 frames (B, 4, 3, H, W) on [-1, 1] -> the frame halfway between the middle two.

    With ``scales=2`` the paper's net also runs at half resolution and ``ScaleFusion`` merges the passes.
    While the synthesis stage trains, forward returns (synthesised, refined) for the paper's two-term loss;
    otherwise (inference, or training only the fusion over a frozen net) it returns the final frame.
    """

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg or ModelConfig()
        self.synthesis = SynthesisNet(self.config)
        self.refinement = RefinementNet(self.config)
        self.fusion = ScaleFusion(self.config.fusion_channels) if self.config.scales == 2 else None

    @property
    def pad_multiple(self) -> int:
        """H and W must be multiples of this: 2**levels, doubled while the half-size pass runs."""
        return 2 ** (len(self.config.channels) + (self.fusion is not None))

    def drop_scale_fusion(self) -> "Net":
        """The full-size pass alone (the paper's net): faster, weaker on large motion."""
        self.fusion = None
        return self

    def forward(self, frames: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        if frames.dim() != 5 or frames.shape[1] != 4 or frames.shape[2] != 3:
            raise ValueError(f"Net expects (B, 4, 3, H, W) frames, got {tuple(frames.shape)}")
        m = self.pad_multiple
        if frames.shape[-1] % m or frames.shape[-2] % m:
            raise ValueError(f"Net expects H and W to be multiples of {m}, got {tuple(frames.shape[-2:])}")
        if self.fusion is None:
            return self.single_pass(frames)
        if self.synthesis.training:
            raise RuntimeError("with scales=2 the synthesis and refinement stages train frozen (freeze them)")
        half = halve(frames)
        return self.fusion(half, self.single_pass(frames), self.single_pass(half))

    def single_pass(self, frames: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The paper's network: ConvLSTM U-Net synthesis, then attention refinement."""
        synthesized = self.synthesis(frames)
        refined = self.refinement(synthesized, frames[:, 1], frames[:, 2])
        return (synthesized, refined) if self.synthesis.training else refined


def interpolation_loss(synthesized: torch.Tensor, refined: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L = 0.5 * L1(synthesis, gt) + L1(refined, gt), as in the paper."""
    return 0.5 * F.l1_loss(synthesized, target) + F.l1_loss(refined, target)
