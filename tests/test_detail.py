"""Detail matching (model/detail.py): a soft frame gets back its sources' detail, a sharp one is left
alone, and the model switch (model.detail) reaches every path through Net.correct."""
import pytest
import torch
import torch.nn.functional as F

from convlstm.config import ModelConfig
from convlstm.model import Net
from convlstm.model.detail import match_detail, patch_detail
from helpers import TINY, TINY_MOTION


def textured(seed: int = 0, size: int = 64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(1, 3, size, size, generator=g) * 2 - 1) * 0.5


def soften(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), 3, stride=1)


def test_a_soft_frame_gets_its_sources_detail_back_and_moves_toward_the_truth():
    truth = textured(0)
    soft = 0.5 * (truth + soften(truth))         # lost part of its detail, as an average of two does
    matched = match_detail(soft, truth, truth)
    ratio = lambda x: float(patch_detail(x).mean() / patch_detail(truth).mean())
    assert ratio(soft) < 0.8 and 0.9 < ratio(matched) < 1.1
    assert (matched - truth).abs().mean() < (soft - truth).abs().mean()


def test_a_frame_as_sharp_as_its_sources_is_left_alone_and_strength_zero_is_off():
    truth = textured(1)
    assert torch.equal(match_detail(truth, truth, truth), truth)
    assert torch.equal(match_detail(truth, soften(truth), soften(truth)), truth)   # sharper than its sources
    soft = 0.5 * (truth + soften(truth))
    assert torch.equal(match_detail(soft, truth, truth, strength=0.0), soft)
    half, full = match_detail(soft, truth, truth, 0.5), match_detail(soft, truth, truth, 1.0)
    assert patch_detail(soft).mean() < patch_detail(half).mean() < patch_detail(full).mean()


def test_a_flat_patch_does_not_raise_the_edge_of_a_detailed_neighbour():
    # left half flat where its sources have faint grain (a large gain), right half as sharp as its sources
    truth = textured(3)
    frame, sources = truth.clone(), truth.clone()
    frame[..., :32] = 0
    sources[..., :32] = textured(4)[..., :32] * 0.1
    change = (match_detail(frame, sources, sources) - frame).abs()[..., 32:]
    # spreading the flat patch's gain, not its measures, raised the first columns by a fifth of the
    # texture's amplitude (0.05 mean, 0.25 at most)
    assert change[..., :8].mean() < 0.02 and change.max() < 0.1


def test_the_model_switch_applies_it_after_the_refinement():
    torch.manual_seed(0)
    plain = Net(TINY_MOTION).eval()
    sharp = Net(ModelConfig(**{**TINY_MOTION.to_dict(), "detail": 1.0})).eval()
    sharp.load_state_dict(plain.state_dict())
    frames = torch.stack([textured(k, 32) for k in range(4)], 1)
    with torch.no_grad():
        a, b = plain(frames).frame, sharp(frames).frame
        compensated = plain.compensate(frames)
    torch.testing.assert_close(b, match_detail(a, compensated[:, 1], compensated[:, 2]))
    assert not torch.equal(a, b)


@pytest.mark.parametrize("bad, why", [(1.5, "between 0"), (-0.1, "between 0")])
def test_bad_strengths_are_refused_by_name(bad, why):
    with pytest.raises(ValueError, match=f"model.detail.*{why}"):
        ModelConfig(**{**TINY_MOTION.to_dict(), "detail": bad})


def test_it_needs_the_compensated_sources():
    with pytest.raises(ValueError, match="model.detail.*needs model.motion"):
        ModelConfig(**{**TINY.to_dict(), "detail": 1.0})


def test_the_filter_argument_overrides_the_weights_own_setting(tmp_path):
    """detail= in the filter: 0 gives the net's own frame, the checkpoint's setting otherwise; refused
    out of [0, 1] and for weights without motion, with the fix named."""
    import numpy as np
    import vapoursynth as vs
    from convlstm.checkpoint import save_checkpoint
    from helpers import clip_from_frames, moving_frames, planes_of
    torch.manual_seed(0)
    plain = Net(TINY_MOTION)
    sharp = Net(ModelConfig(**{**TINY_MOTION.to_dict(), "detail": 1.0}))
    sharp.load_state_dict(plain.state_dict())
    save_checkpoint(tmp_path / "plain.pt", plain, {})
    save_checkpoint(tmp_path / "sharp.pt", sharp, {})
    clip = clip_from_frames(moving_frames(64, 48, 4, speed=4))
    made = lambda w, **kw: planes_of(vs.core.convlstm.Interpolate(clip, weights=str(tmp_path / w), **kw).get_frame(3))
    assert np.array_equal(made("sharp.pt", detail=0.0), made("plain.pt"))
    assert np.array_equal(made("plain.pt", detail=1.0), made("sharp.pt"))
    assert not np.array_equal(made("sharp.pt"), made("plain.pt"))
    with pytest.raises(vs.Error, match=r"detail must be in \[0, 1\]"):
        vs.core.convlstm.Interpolate(clip, weights=str(tmp_path / "plain.pt"), detail=2.0)
    with pytest.raises(vs.Error, match="no motion model: leave detail unset"):
        vs.core.convlstm.Interpolate(clip, weights="untrained", detail=1.0)


def test_training_after_the_engine_ran_the_same_net():
    """Adaptation and training score with the engine (inference mode) and then train the same net: the
    device constants the engine's pass cached must still serve autograd (they did not: a crash)."""
    from convlstm.filter.engine import Engine
    net = Net(ModelConfig(**{**TINY_MOTION.to_dict(), "detail": 1.0}))
    frames = torch.stack([textured(k, 32) for k in range(4)], 1)
    Engine(net, torch.device("cpu")).predict(frames)
    net.train()
    net(frames, torch.tensor([0.5])).frame.abs().mean().backward()
    assert net.refinement.out.weight.grad is not None


def test_tiles_match_the_whole_frame_whatever_the_tile_size():
    """The detail matching's 16 px patches start where the whole frame's do, in every tile."""
    from convlstm.filter.engine import Engine
    torch.manual_seed(0)
    net = Net(ModelConfig(**{**TINY_MOTION.to_dict(), "detail": 1.0})).eval()
    frames = torch.stack([textured(k, 200) for k in range(4)], 1)
    whole = Engine(net, torch.device("cpu")).predict(frames)
    for tile in (100, 120):
        tiled = Engine(net, torch.device("cpu"), tile=tile).predict(frames)
        assert (tiled - whole).abs().max() < 1e-3, tile
