"""Block-matching motion compensation (model/motion.py) on motion whose truth is known, and the
motion-compensated model through the plugin."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import vapoursynth as vs

from convlstm.checkpoint import load_net, save_checkpoint
from convlstm.config import ModelConfig
from convlstm.model import Net
from convlstm.model.motion import confidence, estimate_motion, sample, warp_to
from helpers import TINY, clip_from_frames, moving_frames, planes_of

TINY_MOTION = ModelConfig(**{**TINY.to_dict(), "motion": "block"})


def texture(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth random texture (1, 3, H, W) on [0, 1]: matchable everywhere, no repeats."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 3, h // 4, w // 4, generator=g)
    return F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def shifted(img: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """img moved by (dx, dy) px: content at p goes to p + d."""
    off = torch.tensor([-dx, -dy]).view(1, 2, 1, 1).expand(1, 2, *img.shape[-2:])
    return sample(img, off, mode="bicubic")


@pytest.mark.parametrize("dx, dy", [(0.0, 0.0), (6.0, -3.0), (17.5, 9.25), (-40.0, 12.0)])
def test_a_global_shift_is_found_to_a_fraction_of_a_pixel(dx, dy):
    base = texture(96, 160)
    seq = torch.stack([shifted(base, k * dx, k * dy) for k in (-1.5, -0.5, 0.5, 1.5)], 1)   # `base` at t = 0.5
    i2, i3 = seq[:, 1], seq[:, 2]
    v = estimate_motion(i2, i3)
    inner = v[..., 24:-24, 48:-48]
    assert (inner[:, 0] - dx).abs().median() < 0.3 and (inner[:, 1] - dy).abs().median() < 0.3, \
        (inner[:, 0].median(), inner[:, 1].median())
    mc = warp_to(seq, v, mode="bicubic")
    estimate = 0.5 * (mc[:, 1] + mc[:, 2])
    assert (estimate - base)[..., 24:-24, 48:-48].abs().mean() < 0.03   # of a [0, 1] texture
    if abs(dx) < 20:   # the outer frames of the fastest case leave the frame
        assert confidence(seq, v)[..., 24:-24, 48:-48].mean() > (0.8 if dx or dy else -1)


def test_noise_without_motion_is_not_trusted():
    g = torch.Generator().manual_seed(3)
    flat = torch.full((1, 3, 64, 96), 0.5)
    seq = torch.stack([flat + 0.05 * torch.randn(flat.shape, generator=g) for _ in range(4)], 1)
    v = estimate_motion(seq[:, 1], seq[:, 2])
    assert confidence(seq, v).mean() < 0.5   # a true, steady motion gets more than 0.8 (above)


def test_untrained_motion_net_is_the_compensated_frame_and_beats_the_blend():
    net = Net(TINY_MOTION).eval()
    frames = torch.stack([shifted(texture(64, 96, 1), 6 * k, 0) for k in range(-1, 3)], 1) * 2 - 1
    truth = shifted(texture(64, 96, 1), 3, 0) * 2 - 1
    with torch.no_grad():
        out = net(frames).frame
    blend = 0.5 * (frames[:, 1] + frames[:, 2])
    inner = (..., slice(8, -8), slice(16, -16))
    assert (out - truth)[inner].abs().mean() < 0.25 * (blend - truth)[inner].abs().mean()
    compensated = net.compensate(frames)
    torch.testing.assert_close(out, 0.5 * (compensated[:, 1] + compensated[:, 2]), rtol=0, atol=0)


def test_motion_model_config_rules():
    with pytest.raises(ValueError, match="model.motion must be one of"):
        ModelConfig(motion="optical")
    with pytest.raises(ValueError, match="scales: 1"):
        ModelConfig(motion="block", scales=2)


def test_motion_checkpoint_drives_the_plugin(tmp_path):
    net = Net(TINY_MOTION)
    save_checkpoint(tmp_path / "motion.pt", net, {"note": "untrained motion model"})
    assert load_net(tmp_path / "motion.pt")[0].config.motion == "block"
    frames = moving_frames(64, 48, 4, speed=4)
    clip = clip_from_frames(frames)
    out = vs.core.convlstm.Interpolate(clip, weights=str(tmp_path / "motion.pt"))
    mid = planes_of(out.get_frame(3)).astype(float)
    blend = planes_of(vs.core.convlstm.Interpolate(clip, weights="untrained").get_frame(3)).astype(float)
    truth = planes_of(clip_from_frames(moving_frames(64, 48, 8, speed=2)).get_frame(3)).astype(float)
    assert np.abs(mid - truth).mean() < 0.9 * np.abs(blend - truth).mean()
    with pytest.raises(vs.Error, match="scales=2 needs weights trained with a scale fusion"):
        vs.core.convlstm.Interpolate(clip, weights=str(tmp_path / "motion.pt"), scales=2)


def test_init_from_a_model_without_motion_restarts_the_residual_heads(tmp_path):
    from convlstm.train.start import start_from_weights
    from helpers import random_weights
    source = random_weights(tmp_path / "paper.pt")
    net = Net(TINY_MOTION)
    start_from_weights(net, str(source))
    assert net.synthesis.head[-1].weight.abs().sum() == 0 and net.refinement.out.weight.abs().sum() == 0
    paper, _ = load_net(source)
    assert torch.equal(net.synthesis.encoders[0].lstm.cell.gates.weight, paper.synthesis.encoders[0].lstm.cell.gates.weight)
