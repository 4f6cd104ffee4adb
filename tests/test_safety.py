"""The safety net (model/safety.py): where the motion cannot be trusted over an area a made frame falls back
toward the compensated pair's blend, where it can (or only a thin band doubts it) the net's frame is kept;
the trust map is in [0, 1], reaches the filter's stages as a picture (mask=1), and every pass (whole
frames, tiles) gets the same rule through Net.safeguard."""
import pytest
import torch
import torch.nn.functional as F
import vapoursynth as vs

from convlstm.checkpoint import load_weights
from convlstm.config import ModelConfig
from convlstm.errors import InterpolateError
from convlstm.filter.engine import Engine
from convlstm.model import Net
from convlstm.model.safety import (CLAMP_MARGIN, FAILURE_AREA, blend_at, fall_back, keep_content, lost_weight, opened,
                                   pair_means, stay_between, step_weight, still_weight, summary, trust_map)
from convlstm.model.motion import estimate_motion, rescue
from helpers import TINY_MOTION

INFO = {"width": 96, "height": 64, "num_frames": 8, "fps_num": 24, "fps_den": 1, "color_family": vs.RGB,
        "sample_type": vs.INTEGER, "bits_per_sample": 8, "sub_sampling_w": 0, "sub_sampling_h": 0,
        "format_name": "RGB24"}


def texture(seed: int, height: int = 64, width: int = 96, smooth: int = 3) -> torch.Tensor:
    """(3, H, W) on [-1, 1]: smooth random texture (trackable by block matching)."""
    g = torch.Generator().manual_seed(seed)
    z = torch.rand(1, 3, height + 32, width + 32, generator=g)
    for _ in range(2):
        z = F.avg_pool2d(z, smooth, 1, smooth // 2)
    z = (z - z.mean()) / z.std()
    return (0.35 * z).clamp(-1, 1)[0]


def translated(step: int = 2) -> torch.Tensor:
    """(1, 4, 3, 64, 96): one texture moving ``step`` px right per frame (a clean translation)."""
    big = texture(0)
    return torch.stack([big[:, 16:80, 16 - k * step:112 - k * step] for k in range(-1, 3)])[None]


def changing() -> torch.Tensor:
    """(1, 4, 3, 64, 96): a texture that changes rather than moves (four unrelated textures): no vector
    explains the frames (water, flicker)."""
    return torch.stack([texture(10 + k)[:, 16:80, 16:112] for k in range(4)])[None]


@pytest.fixture(scope="module")
def bundled():
    net, _ = load_weights(None)
    return net.eval()


def test_trust_is_in_range_and_high_on_a_clean_translation(bundled):
    frames = translated()
    with torch.no_grad():
        moved = bundled.compensate(frames)
    trust = trust_map(frames, moved)
    assert trust.shape == (1, 1, 64, 96)
    assert 0 <= float(trust.min()) and float(trust.max()) <= 1
    mean, fell_back = summary(trust)
    assert mean > 0.97 and fell_back < 0.01, (mean, fell_back)


def without_and_with_safety(net, frames):
    """The engine's frame at t = 0.5 with safety 0, then 1 (the net left as it was)."""
    engine = Engine(net, torch.device("cpu"))
    before = net.config.safety
    net.set_safety(0.0)
    try:
        plain = engine.predict(frames, 0.5)
        net.set_safety(1.0)
        return plain, engine.predict(frames, 0.5)
    finally:
        net.set_safety(before)


def test_the_bundled_model_falls_back_by_default():
    assert load_weights(None)[0].config.safety == 1.0


def test_a_clean_translation_is_left_as_the_net_made_it(bundled):
    plain, safe = without_and_with_safety(bundled, translated())
    assert (safe - plain).abs().mean() < 0.003 * 2   # under a level of 8-bit on average


def test_where_the_fields_disagree_the_frame_goes_toward_the_compensated_blend(bundled):
    frames = changing()
    with torch.no_grad():
        moved = bundled.compensate(frames)
    trust = trust_map(frames, moved)
    assert summary(trust)[0] < 0.3, summary(trust)
    plain, safe = without_and_with_safety(bundled, frames)
    blend = blend_at(moved, 0.5)[0]
    assert (safe - blend).abs().mean() < 0.5 * (plain - blend).abs().mean()


def failing_in(columns: slice, width: int = 96) -> tuple[torch.Tensor, torch.Tensor]:
    """(frames, moved) of a still grey picture where, in ``columns``, all four frames are unrelated
    textures and the compensated ones are the frames as they came: the middle pair differ, no vector
    explains them, neither outer side bears them out."""
    frames = torch.zeros(1, 4, 3, 64, width)
    for k in range(4):
        frames[0, k, :, :, columns] = texture(30 + k, 64, width)[:, 16:80, 16:16 + width][..., columns]
    return frames, frames.clone()


def test_a_failure_falls_back_where_it_fills_an_area_not_along_a_thin_band():
    """Water fills an area; along a motion boundary the pair and one outer side can disagree in a band a
    few px wide, which the net handles: that band keeps the net's frame."""
    wide = trust_map(*failing_in(slice(20, 76)))
    assert float(wide[..., 8:-8, 40:56].max()) < 0.1
    band = trust_map(*failing_in(slice(45, 49)))     # 4 px: its window means spread it to about 10
    assert float(band.min()) > 0.999


def test_opened_keeps_what_fills_the_square_and_counts_the_edges_as_absent():
    x = torch.zeros(1, 1, 40, 40)
    x[..., 5:25, 10:30] = 1.0          # 20 px wide: kept whole
    x[..., 30:40, 0:4] = 1.0           # 4 px wide, at the edge: gone
    out = opened(x, 9)
    torch.testing.assert_close(out[..., :28, :], x[..., :28, :])
    assert float(out[..., 30:, :].max()) == 0.0
    edge = torch.zeros(1, 1, 40, 40)
    edge[..., :, :12] = 1.0            # a 12 px band along the left edge fills the square there
    torch.testing.assert_close(opened(edge, 9), edge)


def test_fall_back_is_a_per_pixel_mix_scaled_by_strength():
    moved = changing()                 # standing in for the four frames brought to t
    frame = torch.zeros(1, 3, 64, 96)
    trust = torch.linspace(0, 1, 96).view(1, 1, 1, 96).expand(1, 1, 64, 96)
    blend = blend_at(moved, 0.5)
    torch.testing.assert_close(fall_back(frame, moved, trust, 0.5), (1 - trust) * blend)
    torch.testing.assert_close(fall_back(frame, moved, trust, 0.5, strength=0.0), frame)
    # away from halfway the blend leans to the nearer frame, smoothly in t
    t = torch.tensor([0.25]).view(1, 1, 1, 1)
    torch.testing.assert_close(blend_at(moved, t), 0.75 * moved[:, 1] + 0.25 * moved[:, 2])


def test_every_pass_gets_it_whole_or_tiled_and_training_steps_do_not():
    torch.manual_seed(0)
    net = Net(ModelConfig(**{**TINY_MOTION.to_dict(), "safety": 1.0})).eval()
    frames = changing()
    with torch.no_grad():
        out = net(frames)
        raw = net.correct(net.compensate(frames))
    assert out.trust is not None and out.trust.shape == (1, 1, 64, 96)
    torch.testing.assert_close(out.frame, fall_back(raw.frame, net.compensate(frames), out.trust, 0.5))
    whole = Engine(net, torch.device("cpu")).predict(frames, 0.5)
    tiled = Engine(net, torch.device("cpu"), tile=64).predict(frames, 0.5)
    assert (whole - tiled).abs().max() < 0.05         # the tiles' own seam only; the map is the whole frame's
    net.train()
    assert net(frames).trust is None


def test_mask_shows_the_trust_map_through_the_filter_stages_and_options_reach_the_net():
    from convlstm.filter import bridge
    from convlstm.filter.contract import CONTRACT
    info = {**INFO, "contract": CONTRACT}
    [stage] = bridge.build(info, {"device": "cpu", "mask": 1})
    assert stage.batcher.engine.net.show_trust
    picture = stage.batcher.predict(changing()[0], 0.5)
    assert picture.shape == (3, 64, 96)
    assert float(picture.min()) >= -1 and float(picture.max()) <= 1
    torch.testing.assert_close(picture[0], picture[1])      # grey: the map in every channel
    assert float(picture.mean()) < -0.4                      # mostly fell back (trust < 0.3)
    [stage] = bridge.build(info, {"device": "cpu", "safety": 0.5})
    assert stage.batcher.engine.net.config.safety == 0.5 and not stage.batcher.engine.net.show_trust


@pytest.mark.parametrize("args, message", [({"safety": 1.5}, "safety must be in"),
                                           ({"weights": "untrained", "mask": 1}, "mask judges the motion"),
                                           ({"weights": "untrained", "safety": 1.0}, "safety judges the motion")])
def test_bad_uses_are_refused_by_name(args, message):
    from convlstm.filter import bridge
    from convlstm.filter.contract import CONTRACT
    with pytest.raises(InterpolateError, match=message):
        bridge.build({**INFO, "contract": CONTRACT}, {"device": "cpu", **args})


def test_the_config_bounds_it():
    with pytest.raises(ValueError, match="model.safety must be between 0"):
        ModelConfig(**{**TINY_MOTION.to_dict(), "safety": 2.0})


def test_the_summary_props_of_a_mask_clip_are_the_maps_mean_and_share_below_half():
    """trust_summary reads what mask=1 shows (grey maps on made frames) into ConvLSTMTrust and
    ConvLSTMFallback; source frames are left alone. Limited-range YUV reads 16..235 as 0..1."""
    import numpy as np
    import convlstm
    from helpers import clip_from_frames
    ramp = np.tile(np.linspace(0, 255, 64).round().astype(np.uint8), (3, 16, 1))   # trust 0..1 left to right
    clip = clip_from_frames([ramp, ramp])
    clip = clip.std.SetFrameProps(ConvLSTMInterpolated=1).std.Trim(0, 0) + clip.std.Trim(1, 1)
    out = convlstm.trust_summary(clip)
    made, source = out.get_frame(0).props, out.get_frame(1).props
    assert made["ConvLSTMTrust"] == pytest.approx(0.5, abs=0.01)
    assert made["ConvLSTMFallback"] == pytest.approx(0.5, abs=0.02)
    assert "ConvLSTMTrust" not in source
    yuv = vs.core.resize.Bicubic(clip, format=vs.YUV444P8, matrix_s="709", range_s="limited")
    assert convlstm.trust_summary(yuv).get_frame(0).props["ConvLSTMTrust"] == pytest.approx(0.5, abs=0.02)


def scene(object_x: list[int], size: int = 12, width: int = 96) -> torch.Tensor:
    """(1, 4, 3, 64, width): a still textured picture and a bright textured square at each frame's x."""
    back = texture(20, 64, width)[:, 16:80, 16:16 + width]
    square = 0.6 + 0.3 * texture(21, size, size)[:, 16:16 + size, 16:16 + size]
    frames = []
    for x in object_x:
        f = back.clone()
        f[:, 26:26 + size, x:x + size] = square
        frames.append(f)
    return torch.stack(frames)[None]


def test_what_holds_still_is_the_blend_exactly(bundled):
    """Where I2 and I3 agree (and the vectors carry nothing through), the frame is their blend: a net's
    residual could only add error there (the halos of static UI in a screen recording)."""
    frames = scene([10, 14, 18, 22])               # the square moves 4 px a frame on the left
    with torch.no_grad():
        moved = bundled.compensate(frames)
        raw = bundled.correct(moved).frame
    weight = still_weight(frames, moved)
    assert float(weight[..., 4:-4, 48:-4].min()) == 1.0 and float(weight[..., 26:38, 20:30].max()) == 0.0
    out = Engine(bundled, torch.device("cpu")).predict(frames, 0.5)[0]
    blend = blend_at(frames, 0.5)[0]
    torch.testing.assert_close(out[..., 4:-4, 48:-4], blend[..., 4:-4, 48:-4], rtol=0, atol=1e-6)
    assert (raw[0] - blend)[..., 4:-4, 48:-4].abs().max() > 0     # what the rule takes away


def test_something_crossing_between_the_two_frames_is_not_held(bundled):
    """A square moving 32 px a frame leaves, between where I2 and I3 show it, a place both frames show
    as background; at t = 0.5 the square is there. Still by I2 and I3 alone, the compensated frames
    carry the square through it, so the net's frame is kept."""
    frames = scene([10, 42, 74, 106], size=24, width=160)
    middle = (..., slice(30, 46), slice(68, 72))       # the square at t = 0.5 spans 58-81; I2 and I3 not 66-73
    assert float(still_weight(frames, frames)[middle].min()) == 1.0     # still, by I2 and I3 alone
    with torch.no_grad():
        moved = bundled.compensate(frames)
    assert float(still_weight(frames, moved)[middle].max()) == 0.0      # not still: the square passes
    out = Engine(bundled, torch.device("cpu")).predict(frames, 0.5)[0]
    square = scene([58] * 4, size=24, width=160)[0, 0]
    blend = blend_at(frames, 0.5)[0]
    assert (out - square)[middle].abs().mean() < 0.5 * (blend - square)[middle].abs().mean()


def grain(frames: torch.Tensor, seed: int = 5) -> torch.Tensor:
    """``frames`` with a level of noise each (-1, 0 or +1 of 255): still frames, but none a copy."""
    g = torch.Generator().manual_seed(seed)
    return (frames + torch.randint(-1, 2, frames.shape, generator=g) / 127.5).clamp(-1, 1)


def appearing() -> torch.Tensor:
    """(1, 4, 3, 64, 96): a still textured picture on which a textured patch appears in place between I2
    and I3 (a screen switching pages, a title appearing) and stays."""
    back = texture(20)[:, 16:80, 16:112]
    after = back.clone()
    after[:, 22:42, 38:58] = 0.5 + 0.3 * texture(22, 20, 20)[:, 16:36, 16:36]
    return grain(torch.stack([back, back, after, after])[None])


def test_a_change_in_place_is_the_blend(bundled):
    """Still before, still after, changed between: when the change came is unknown, and the blend is the
    least-squares answer; the net's own picture there is taken away."""
    frames = appearing()
    with torch.no_grad():
        moved = bundled.compensate(frames)
        raw = bundled.correct(moved).frame[0]
    inside = (..., slice(26, 38), slice(42, 54))
    weight = step_weight(frames, moved)
    assert float(weight[inside].min()) > 0.95 and float(weight[..., :, :20].max()) == 0.0
    out = Engine(bundled, torch.device("cpu")).predict(frames, 0.5)[0]
    blend = blend_at(frames, 0.5)[0]
    assert float((out - blend)[inside].abs().max()) < 0.01            # 1.3 levels of 255 at most
    assert float((raw - blend)[inside].abs().mean()) > 0.03           # what the rule takes away
    quarter = Engine(bundled, torch.device("cpu")).predict(frames, 0.25)[0]
    assert float((quarter - blend_at(frames, 0.25)[0])[inside].abs().max()) < 0.01   # time-weighted


def test_a_copied_outer_frame_is_no_evidence_of_a_step(bundled):
    """A clip's first window repeats I2 as I1 (and a cut puts a frame back): that side saw nothing, so the
    step rule does not act."""
    frames = appearing()
    frames[:, 0] = frames[:, 1]
    with torch.no_grad():
        moved = bundled.compensate(frames)
    assert float(step_weight(frames, moved).max()) == 0.0


def test_a_flat_object_moving_over_a_still_picture_is_not_a_step(bundled):
    """A flat-coloured square's leading edge is background in I1 and I2 and square in I3 and I4, still on
    both sides as a step is; but the vectors explain it, so the rule leaves the net's frame nearly as it
    is (a little of the blend at the edges, where block vectors leave a residue)."""
    back = texture(20)[:, 16:80, 16:112]
    flat = torch.tensor([0.6, -0.2, 0.1]).view(3, 1, 1)

    def at(x: int) -> torch.Tensor:
        f = back.clone()
        f[:, 20:44, x:x + 24] = flat
        return f
    frames = grain(torch.stack([at(x) for x in (10, 16, 22, 28)])[None])
    with torch.no_grad():
        moved = bundled.compensate(frames)
        raw = bundled.correct(moved).frame[0]
    assert float(step_weight(frames, moved).max()) < 0.1
    out = Engine(bundled, torch.device("cpu")).predict(frames, 0.5)[0]
    truth, blend = at(19), blend_at(frames, 0.5)[0]
    for edge in (slice(12, 30), slice(36, 50)):       # where the square's edges pass between I2 and I3
        band = (..., slice(16, 48), edge)
        assert (out - truth)[band].abs().mean() < 1.02 * (raw - truth)[band].abs().mean()
        assert (out - truth)[band].abs().mean() < (blend - truth)[band].abs().mean()


def test_a_codecs_noise_at_single_pixels_is_still_but_grain_is_not():
    """Where nothing changed, a lossy codec leaves a few levels of difference at single pixels along edges:
    still (the blend; up to 4 levels fully, to 8 in part). Grain differs everywhere, 3 levels on average:
    not still (the net's frame keeps it, as detail matching does)."""
    picture = texture(30)[:, 16:80, 16:112]
    frames = torch.stack([picture] * 4)[None]
    speckled = frames.clone()
    speckled[:, 2, :, ::6, ::6] += 4 / 127.5                  # one pixel in 36 off by 4 levels
    assert float(still_weight(speckled, speckled).min()) > 0.999      # (float rounding of the 4)
    speckled[:, 2, :, ::6, ::6] += 2 / 127.5                  # by 6: halfway
    assert float(still_weight(speckled, speckled)[..., 4:-4, 4:-4].min()) == pytest.approx(0.5, abs=0.01)
    g = torch.Generator().manual_seed(3)
    grainy = frames + torch.randn(frames.shape, generator=g) * (3 / 127.5)
    assert float(still_weight(grainy, grainy).max()) == 0.0


def test_a_nearly_still_pair_keeps_the_frame_within_its_values():
    """Where I2 and I3 differ by a codec's few levels (more than ``hold_still`` takes for still), a blob
    the net drew there (a screen recording's still icons between frames that change around them) is
    taken back to within the two frames' values; what lies between them (the net's grain, their blend)
    stays as it is, and so does everything where something moves."""
    picture = texture(30)[:, 16:80, 16:112]
    frames = torch.stack([picture] * 4)[None]
    frames[:, 2, :, ::4, ::4] += 6 / 127.5                     # a codec's noise: 6 levels at single pixels
    assert float(still_weight(frames, frames)[..., 4:-4, 4:-4].max()) < 0.6    # not fully still for hold_still
    made = blend_at(frames, 0.5).clone()
    made[..., 20:30, 40:50] += 40 / 127.5                      # a blob 40 levels bright
    out = stay_between(made, frames, frames)
    low, high = frames[:, 1:3].amin(1), frames[:, 1:3].amax(1)
    margin = CLAMP_MARGIN / 127.5 + 1e-6
    assert bool(((out >= low - margin) & (out <= high + margin)).all())
    assert float((out - made)[..., 20:30, 40:50].abs().min()) > 30 / 127.5           # the blob taken away
    outside = torch.ones_like(made, dtype=torch.bool)
    outside[..., 20:30, 40:50] = False
    torch.testing.assert_close(out[outside], made[outside], rtol=0, atol=0)         # the rest as it was
    moving = translated(4)
    drawn = blend_at(moving, 0.5) + 40 / 127.5
    torch.testing.assert_close(stay_between(drawn, moving, moving), drawn, rtol=0, atol=0)


def test_a_step_the_search_explains_in_pieces_is_the_blend():
    """A page that appears over a still screen: the search matches pieces of it to look-alikes (here a
    band whose compensated pair agree), so window by window the band seems explained; over the region
    (a third of the short side) the vectors explain little of the step, and all of it is the blend."""
    back = texture(40, 192, 256)[:, 16:208, 16:272]
    after = back.clone()
    after[:, 32:160, 32:224] = 0.4 + 0.3 * texture(41, 128, 192)[:, 16:144, 16:208]
    frames = grain(torch.stack([back, back, after, after])[None])
    moved = frames.clone()
    moved[:, 1, :, 32:160, 122:134] = moved[:, 2, :, 32:160, 122:134]     # the band "explained"
    band = (..., slice(60, 130), slice(124, 132))
    explained = moved.clone()
    explained[:, 1] = explained[:, 2]                             # everything explained: no step
    weight = step_weight(frames, moved)
    assert float(weight[band].min()) > 0.99
    assert float(weight[..., :, :20].max()) == 0.0                 # the still screen outside: not a step
    assert float(step_weight(frames, explained).max()) < 0.01


def test_animation_on_twos_is_not_a_step(bundled):
    """Every drawing shown twice: I1 = I2 and I3 = I4 everywhere, still on both sides as a step is; but
    the vectors explain the change between the drawings, region by region as window by window, so the net's
    frame is kept."""
    moving = translated(4)[0]
    frames = grain(torch.stack([moving[1], moving[1], moving[2], moving[2]])[None])
    with torch.no_grad():
        moved = bundled.compensate(frames)
    assert float(step_weight(frames, moved)[..., 8:-8, 8:-8].max()) < 0.05


def test_grey_footage_makes_grey_frames_and_colour_is_left_alone(bundled):
    """A window with no colour in any of its four frames (a black-and-white film, a grey camera) makes a grey
    frame: the net, trained on colour, left faint colour at moving edges (a brownish rim on the grey
    held-out clip visp-mire-2). Up to 2 levels between the channels still counts as grey; a window with
    any colour is left exactly as the net made it."""
    from convlstm.model.safety import keep_grey
    grey = translated().mean(2, keepdim=True).expand(-1, -1, 3, -1, -1).contiguous()
    with torch.no_grad():
        raw = bundled.correct(bundled.compensate(grey)).frame
    out = Engine(bundled, torch.device("cpu")).predict(grey, 0.5)[0]
    assert float((raw.amax(1) - raw.amin(1)).max()) > 0                # the net's own frame is not grey
    assert torch.equal(out[0], out[1]) and torch.equal(out[1], out[2])
    frame = torch.rand(1, 3, 64, 96) * 2 - 1
    tinted = grey.clone()
    tinted[:, :, 0] += 1.5 / 127.5                                    # 1.5 levels of red: still grey
    assert torch.equal(keep_grey(frame, tinted)[0, 0], frame.mean(1)[0])
    tinted[:, 2, 0, 10, 10] += 1.0 / 127.5                            # one pixel of one frame at 2.5 levels
    assert torch.equal(keep_grey(frame, tinted), frame)
    colour = translated()
    assert torch.equal(keep_grey(frame, colour), frame)


def tumbling(xs: list[int], size: int = 10, width: int = 160) -> torch.Tensor:
    """(1, 4, 3, 64, width): a small bright square on black at each frame's x, its texture new in every frame
    (a die tumbling: no vector matches it to itself, while black matches black perfectly)."""
    frames = []
    for k, x in enumerate(xs):
        f = torch.full((3, 64, width), -1.0)
        f[:, 26:26 + size, x:x + size] = 0.5 + 0.3 * texture(30 + k, size, size)[:, 16:16 + size, 16:16 + size]
        frames.append(f)
    return torch.stack(frames)[None]


def test_a_thing_the_motion_carries_again_is_in_its_place(bundled):
    """Bilateral matching reads around a small thing whose look changes as it moves over a flat background
    (black matches black, the thing does not match itself); searched from I2, the thing finds its other
    look, and its vector is taken where it is at time t (motion.rescue): the frame shows it there."""
    step = 8
    frames = tumbling([20 + k * step for k in range(4)])
    unit = (frames + 1) * 0.5
    v = estimate_motion(unit[:, 1], unit[:, 2], 0.5, outer=(unit[:, 0], unit[:, 3]))
    at_t = (..., slice(27, 35), slice(33, 41))          # the thing at t = 0.5 spans x 32-41
    carried = rescue(unit[:, 1], unit[:, 2], v, 0.5)
    assert float((v[:, 0][at_t] - step).abs().mean()) > 2                   # read around it
    assert float((carried[:, 0][at_t] - step).abs().mean()) < 1                # carried (its look changes:
    assert float((carried[:, 0][at_t] - step).abs().max()) <= 2                # the match is off by a px or so)
    out = Engine(bundled, torch.device("cpu")).predict(frames, 0.5)
    truth = tumbling([32] * 4)[0, 1]
    brightness = lambda x: float(((x + 1) / 2).sum())      # noqa: E731
    assert abs(brightness(out) - brightness(truth)) < 0.1 * brightness(truth)
    assert float((out[0] - truth)[at_t].abs().mean()) < 0.5 * float((blend_at(frames, 0.5)[0] - truth)[at_t].abs().mean())


def test_rescue_takes_one_time_per_sample_as_training_does():
    """Training brings each sample to its own time ((B, 1, 1, 1) t): the same vectors as one at a time."""
    unit = (torch.cat([tumbling([20 + k * 8 for k in range(4)]), tumbling([30 + k * 8 for k in range(4)])]) + 1) * 0.5
    times = torch.tensor([0.5, 0.25]).view(2, 1, 1, 1)
    v = torch.cat([estimate_motion(unit[i:i + 1, 1], unit[i:i + 1, 2], float(times[i])) for i in range(2)])
    both = rescue(unit[:, 1], unit[:, 2], v, times)
    for i in range(2):
        torch.testing.assert_close(both[i:i + 1], rescue(unit[i:i + 1, 1], unit[i:i + 1, 2], v[i:i + 1],
                                                         float(times[i])))
    assert not torch.equal(both[:1], v[:1])                  # the first sample's thing was carried


def test_rescue_leaves_a_field_that_lost_nothing_as_it_is():
    frames = (translated() + 1) * 0.5
    v = estimate_motion(frames[:, 1], frames[:, 2], 0.5)
    assert rescue(frames[:, 1], frames[:, 2], v, 0.5) is v


def test_what_the_frame_lost_is_the_blend_not_gone():
    """A frame that lost a small thing I2 and I3 show (the motion read around it and nothing carried it)
    takes their blend there: shown twice at half strength, not gone from every other frame."""
    frames = tumbling([20, 44, 68, 92])
    lost = torch.full((1, 3, 64, 160), -1.0)                   # the made frame: background only
    weight = lost_weight(lost, frames, pair_means(frames, frames))
    blend = blend_at(frames, 0.5)
    shown = (blend[0] > -0.9).any(0)                           # where I2 or I3 shows the thing
    assert float(weight[0, 0][shown].min()) > 0.85
    out = keep_content(lost, frames, frames, 0.5)
    assert float((out - blend)[..., shown].abs().max()) < 0.15 * float((lost - blend)[..., shown].abs().max())


def test_a_frame_that_keeps_the_thing_is_left_as_it_is():
    """Carried, the thing's contrast is within the region (a third of the frame's short side) it moved in."""
    frames = tumbling([20, 28, 36, 44])
    kept = tumbling([32] * 4)[:, 1]                            # the thing at its place at t = 0.5
    assert float(lost_weight(kept, frames, pair_means(frames, frames)).max()) < 0.05
    assert float((keep_content(kept, frames, frames, 0.5) - kept).abs().max()) < 0.05
    flat = torch.zeros(1, 4, 3, 64, 160)
    assert float(lost_weight(flat[:, 1], flat, pair_means(flat, flat)).max()) == 0.0


def test_a_fast_pan_carried_is_no_loss():
    """A textured picture panned further between I2 and I3 than a third of the frame's short side: the
    frame at its place at t = 0.5 keeps all of it (regions narrower than the pan, misaligned with the
    frame, took the blend into pans: 55 -> 36 dB at a quarter of the width)."""
    big = texture(3, 64, 400)
    big[:, :, 210:] = 0.0                 # texture, then a flat area: what a region holds varies along the pan
    step = 40
    frames = torch.stack([big[:, :, 160 - k * step:256 - k * step] for k in range(-1, 3)])[None]
    made = big[:, :, 160 - step // 2:256 - step // 2][None]
    assert float(lost_weight(made, frames, pair_means(frames, frames)).max()) == 0.0


def test_a_copy_is_found_as_equal_elements():
    """is_copy: each window's frame a against frame b, element for element (0 and -0 equal, a NaN never),
    the same on the CPU's early-stopping comparison as the elementwise one a GPU runs."""
    from convlstm.model.safety import is_copy
    frames = torch.rand(3, 4, 3, 6, 5)
    frames[0, 1] = frames[0, 0]
    frames[1, 1] = frames[1, 0]
    frames[1, 0, 0, 0, 0], frames[1, 1, 0, 0, 0] = 0.0, -0.0
    frames[2, 1] = frames[2, 0]
    frames[2, 0, 1, 2, 3] = frames[2, 1, 1, 2, 3] = float("nan")
    got = is_copy(frames, 0, 1)
    assert got.dtype == torch.bool and got.tolist() == [True, True, False]
    assert got.tolist() == (frames[:, 0] == frames[:, 1]).flatten(1).all(1).tolist()
