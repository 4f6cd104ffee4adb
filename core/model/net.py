"""The whole interpolator and its training loss."""
from __future__ import annotations

import dataclasses
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .detail import match_detail
from .fusion import ScaleFusion, halve
from .motion import Time, confidence, estimate_motion, rescue, warp_to
from .refinement import RefinementNet
from .safety import fall_back, is_copy, pair_means, settle, trust_map, trust_picture
from .synthesis import SynthesisNet


def times_on(t: float | torch.Tensor, device: torch.device) -> Time:
    """One time per sample, a (B,) host tensor, as (B, 1, 1, 1) float32 on ``device`` (non_blocking: from
    the engine's page-locked times, no wait for the device); one float for the batch stays as it is."""
    if not torch.is_tensor(t):
        return t
    return t.to(device, non_blocking=True).to(torch.float32).view(-1, 1, 1, 1)


class NetOutput(NamedTuple):
    """What forward returns in every mode: the frame, and the synthesis stage's own estimate of the
    full-size pass (the paper's loss supervises both; inference uses ``frame``); ``trust``: the safety
    net's map (B, 1, H, W) where it ran (model/safety.py), else None."""
    frame: torch.Tensor
    synthesized: torch.Tensor
    trust: torch.Tensor | None = None


class Net(nn.Module):
    """4 frames (B, 4, 3, H, W) on [-1, 1] -> the frame between the middle two (halfway in the paper).

    With ``scales=2`` the paper's net also runs at half resolution and ``ScaleFusion`` merges the passes
    (the paper's stages then train frozen: only the fusion learns).

    ``compiled_correct``, when set, is a compiled ``correct`` (filter/engine.py compile_learned_part) that
    every pass runs in its place.

    ``show_trust`` (the filter's ``mask=1``): the frame made is the safety net's trust map as a grey
    picture (``safeguard``), whatever ``model.safety``.

    ``layout``: the memory format of the learned part's activations (``_learned``); the engine sets
    channels_last on the CPU, where it converts the weights too (filter/engine.py). The motion search and
    the safety net read the frames as they came.
    """

    def __init__(self, cfg: ModelConfig | None = None) -> None:
        super().__init__()
        self.config = cfg or ModelConfig()
        self.synthesis = SynthesisNet(self.config)
        self.refinement = RefinementNet(self.config)
        self.fusion = ScaleFusion(self.config.fusion_channels) if self.config.scales == 2 else None
        self.compiled_correct: Callable[[torch.Tensor, Time], NetOutput] | None = None
        self.show_trust = False
        self.layout = torch.contiguous_format

    @property
    def pad_multiple(self) -> int:
        """H and W must be multiples of this: 2**levels, doubled while the half-size pass runs."""
        return 2 ** (len(self.config.channels) + (self.fusion is not None))

    def zero_residual_heads(self) -> "Net":
        """Both residual heads back at their zero start: the net outputs its base estimate exactly."""
        with torch.no_grad():
            for layer in (self.synthesis.head[-1], self.refinement.out):
                layer.weight.zero_()
                layer.bias.zero_()
        return self

    def drop_scale_fusion(self) -> "Net":
        """The full-size pass alone (the paper's net): faster, weaker on large motion."""
        self.fusion = None
        return self

    def set_safety(self, strength: float) -> "Net":
        """model.safety for these weights (0 off, 1 the full fallback where the motion is not trusted:
        model/safety.py)."""
        self.config = dataclasses.replace(self.config, safety=float(strength))
        return self

    def set_detail(self, strength: float) -> "Net":
        """model.detail for these weights (0 off, 1 as sharp as the sources: model/detail.py)."""
        self.config = dataclasses.replace(self.config, detail=float(strength))
        return self

    @property
    def any_time(self) -> bool:
        """Whether the net interpolates at any time position t (motion compensation), not only halfway."""
        return self.config.motion != "none"

    def forward(self, frames: torch.Tensor, t: float | torch.Tensor = 0.5,
                valid: tuple[int, int] | None = None) -> NetOutput:
        """The frame at time t between the middle two (t = 0.5 unless ``any_time``): one float for the
        batch, or a (B,) tensor, one per sample (training on targets at several times). ``valid``: the
        picture's own (H, W) when the frames were padded to the net's multiple (motion is searched there
        only: padding is not picture)."""
        self._check(frames, t)
        t = times_on(t, frames.device)
        full = self.single_pass(frames, t, valid)
        if self.fusion is None:
            return full
        if self.synthesis.training:
            raise RuntimeError("with scales=2 the synthesis and refinement stages train frozen (freeze them)")
        half = halve(frames)
        return NetOutput(self.fusion(half, full.frame, self.single_pass(half).frame), full.synthesized)

    def motion_stage(self, frames: torch.Tensor, t: float | torch.Tensor = 0.5,
                     valid: tuple[int, int] | None = None) -> torch.Tensor:
        """The first half of forward's full-size pass, for callers that run the second half in pieces (the
        engine's tiles: motion is searched on the whole frame). The inputs are checked as forward checks
        them, except that H and W may be any size (the motion search needs no multiple)."""
        self._check(frames, t, any_size=True)
        return self.motion_compensated(frames, times_on(t, frames.device), valid)

    def learned_stage(self, frames: torch.Tensor, t: float | torch.Tensor = 0.5) -> NetOutput:
        """The second half on motion_stage's frames, or a piece of them padded to the net's multiple,
        checked as forward checks its inputs. The full-size pass only: a scale fusion runs in forward."""
        self._check(frames, t)
        return self._learned(frames, times_on(t, frames.device))

    def _check(self, frames: torch.Tensor, t: float | torch.Tensor, any_size: bool = False) -> None:
        """Refuses what no pass can take, before t moves to the device: frames not (B, 4, 3, H, W) or (unless
        ``any_size``) not a multiple of pad_multiple, times not one per sample, or t off halfway for a net
        without a motion model."""
        if frames.dim() != 5 or frames.shape[1] != 4 or frames.shape[2] != 3:
            raise ValueError(f"Net expects (B, 4, 3, H, W) frames, got {tuple(frames.shape)}")
        m = self.pad_multiple
        if not any_size and (frames.shape[-1] % m or frames.shape[-2] % m):
            raise ValueError(f"Net expects H and W to be multiples of {m}, got {tuple(frames.shape[-2:])}")
        if torch.is_tensor(t) and t.shape != (frames.shape[0],):
            raise ValueError(f"Net expects one time per sample, shape ({frames.shape[0]},), got {tuple(t.shape)}")
        if not self.any_time and bool(torch.as_tensor(t != 0.5).any()):
            raise ValueError(f"this net interpolates halfway only (t=0.5), not at t={t}: it has no motion model")

    def compensate(self, frames: torch.Tensor, t: Time = 0.5, valid: tuple[int, int] | None = None) -> torch.Tensor:
        """The four frames brought to time t along block-matched vectors, where the vectors are trusted
        (elsewhere the frames as they are). Found in float32 whatever the net's dtype: sub-pixel positions
        on a 1080p frame need more than fp16's precision; autocast (bf16 on the CPU: filter/engine.py) is
        turned off here for the same reason.

        Only the picture is searched (``valid``), and the result padded as the frames were: replicated
        rows of padding are not picture, and searched with it, the coarse levels of the pyramid mix them
        in and the vectors near the picture's edge go wrong."""
        height, width = frames.shape[-2:]
        h, w = valid or (height, width)
        with torch.no_grad(), torch.autocast(frames.device.type, enabled=False):
            x = frames[..., :h, :w].float()
            unit = (x + 1) * 0.5
            v = estimate_motion(unit[:, 1], unit[:, 2], t, outer=(unit[:, 0], unit[:, 3]))
            v = rescue(unit[:, 1], unit[:, 2], v, t)
            trust = confidence(unit, v, t)[:, None]
            moved = trust * warp_to(x, v, t, mode="bicubic") + (1 - trust) * x
            if (h, w) != (height, width):
                moved = F.pad(moved.flatten(1, 2), (0, width - w, 0, height - h), mode="replicate").unflatten(1, (4, 3))
        return moved.to(frames.dtype)

    def single_pass(self, frames: torch.Tensor, t: Time = 0.5, valid: tuple[int, int] | None = None) -> NetOutput:
        """The paper's network: ConvLSTM U-Net synthesis, then attention refinement (over the
        motion-compensated frames with model.motion="block"), then the safety net (``safeguard``)."""
        moved = self.motion_compensated(frames, t, valid)
        return self.safeguard(self._learned(steady_ends(frames, moved), t), frames, moved, t)

    def safeguard(self, out: NetOutput, frames: torch.Tensor, moved: torch.Tensor, t: Time) -> NetOutput:
        """The one place the safety net runs (model/safety.py), for every pass that made ``out`` from
        ``frames`` and their compensated ``moved`` (also the engine's tiles, after they are joined): where
        the motion is not trusted, the frame falls back toward the time-weighted blend of the compensated
        I2 and I3, by model.safety (0: not at all). Its detail is not matched again there: where the pair
        disagree, raising the high band of their average doubles the contrast of what does not line up (on
        rendered water 0.2 dB below the fallback alone, and what the safety net was to take away). Always,
        what held still between I2 and I3 is their blend (safety.hold_still; where they nearly hold
        still, the frame stays within their values: safety.stay_between), and so is what changed in
        place between them, still before and after (safety.settle_steps). With
        ``show_trust`` the frame is the trust map itself. Inference only
        (a training step's loss sees the net's own frame; validation, in eval mode, sees what the filter
        makes); nets without motion compensation have nothing to distrust and are left as they are."""
        strength = self.config.safety
        if self.training or self.config.motion != "block":
            return out
        frame, trust = out.frame, None
        means = pair_means(frames, moved)      # what the trust map and the step rule both read: made once
        if strength or self.show_trust:
            trust = trust_map(frames, moved, means)
        if strength:
            frame = fall_back(frame, moved, trust, t, strength)
        frame = settle(frame, frames, moved, t, means)
        if self.show_trust:
            frame = trust_picture(trust).to(out.frame.dtype)
        return NetOutput(frame, out.synthesized, trust)

    def motion_compensated(self, frames: torch.Tensor, t: Time = 0.5,
                           valid: tuple[int, int] | None = None) -> torch.Tensor:
        """What the learned part reads: the compensated frames with model.motion="block", else the frames."""
        return self.compensate(frames, t, valid) if self.config.motion == "block" else frames

    def _learned(self, frames: torch.Tensor, t: Time) -> NetOutput:
        """``correct``, compiled when ``compiled_correct`` is set, over the frames in ``layout`` (the frame
        made back in the frames' own; the synthesis' own estimate, which only training reads, as it is)."""
        run = self.correct if self.compiled_correct is None else self.compiled_correct
        if self.layout is torch.contiguous_format:
            return run(frames, t)
        lead = frames.shape[:2]
        out = run(frames.flatten(0, 1).contiguous(memory_format=self.layout).unflatten(0, lead), t)
        return NetOutput(out.frame.contiguous(), out.synthesized, out.trust)

    def correct(self, frames: torch.Tensor, t: Time = 0.5) -> NetOutput:
        """The learned part over (compensated) frames: synthesis, then refinement (then, with
        model.detail, the sources' detail level matched: model/detail.py). Nearly local (the
        refinement's channel attention pools over what it is given), unlike the motion search, so a large
        frame may run it in tiles (filter/engine.py) after compensating it whole; bench measures the seam."""
        synthesized = self.synthesis(frames, t)
        frame = self.refinement(synthesized, frames[:, 1], frames[:, 2])
        if self.config.detail:
            frame = match_detail(frame, frames[:, 1], frames[:, 2], self.config.detail)
        return NetOutput(frame, synthesized)


def steady_ends(frames: torch.Tensor, moved: torch.Tensor) -> torch.Tensor:
    """What the learned part reads: ``moved`` (the four frames brought to time t), except that an outer
    frame that is its middle neighbour's very copy (a clip's first or last window, a frame put back across
    a cut: filter/schedule.py clamped_window) reads as that neighbour brought to time t, as if the motion
    went on steadily. Brought along its own time, the copy is the neighbour shifted by a whole vector, a
    ghost that the ConvLSTM reads as the motion stopping (the demo clip's first made frame: 34.29 dB with
    it, 34.79 without; the evaluation protocol's first and last frames of 14 clips: +0.06 dB on average,
    from -0.12 to +0.50). The safety net reads ``moved`` as it is: a copy is no evidence that the motion
    is borne out there (model/safety.py)."""
    first, last = is_copy(frames, 0, 1), is_copy(frames, 3, 2)
    if not frames.is_cuda and not bool((first | last).any()):
        return moved          # the usual window (on the CPU, where asking costs no wait)
    shape = (-1, 1, 1, 1)
    return torch.stack([torch.where(first.view(shape), moved[:, 1], moved[:, 0]), moved[:, 1], moved[:, 2],
                         torch.where(last.view(shape), moved[:, 2], moved[:, 3])], 1)


def interpolation_loss(synthesized: torch.Tensor, refined: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L = 0.5 * L1(synthesis, gt) + L1(refined, gt), as in the paper."""
    return 0.5 * F.l1_loss(synthesized, target) + F.l1_loss(refined, target)
