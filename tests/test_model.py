"""The network: shapes, the zero-residual start, the ConvLSTM recurrence, the loss, the checkpoint format."""
import pytest
import torch
import torch.nn.functional as F

from convlstm.checkpoint import CheckpointError, load_net, save_checkpoint
from convlstm.config import ModelConfig
from convlstm.filter.engine import Engine
from convlstm.model import ConvLSTM, Net, NetOutput, halve, interpolation_loss
from convlstm.train.start import load_init_weights
from helpers import TINY, TINY2, TINY_MOTION, random_weights




@pytest.mark.parametrize("cfg", [TINY, ModelConfig()], ids=["tiny", "default"])
@pytest.mark.parametrize("size", [(32, 32), (64, 96), (96, 32)])
def test_shapes_in_train_and_eval(cfg, size):
    m = Net(cfg).pad_multiple
    h, w = (max(m, size[0]), max(m, size[1]))
    net = Net(cfg)
    x = torch.rand(2, 4, 3, h, w) * 2 - 1
    for mode in (net.train(), net.eval()):   # one return type in every mode
        out = mode(x)
        assert isinstance(out, NetOutput) and out.frame.shape == out.synthesized.shape == (2, 3, h, w)


def test_untrained_net_is_exactly_the_blend():
    net = Net(TINY).eval()
    x = torch.rand(3, 4, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        out = net(x).frame
    torch.testing.assert_close(out, 0.5 * (x[:, 1] + x[:, 2]), rtol=0, atol=0)


def test_engine_pads_any_size_and_crops_back():
    engine = Engine(Net(TINY), torch.device("cpu"))
    for h, w in [(17, 33), (1, 1), (5, 64)]:
        x = torch.rand(1, 4, 3, h, w) * 2 - 1
        out = engine.predict(x)
        assert out.shape == (1, 3, h, w)
        torch.testing.assert_close(out, 0.5 * (x[:, 1] + x[:, 2]))


def test_net_rejects_bad_shapes():
    net = Net(TINY)
    with pytest.raises(ValueError, match=r"\(B, 4, 3, H, W\)"):
        net(torch.zeros(1, 3, 3, 16, 16))
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.zeros(1, 4, 3, 18, 16))


def test_the_stage_entries_check_their_inputs_as_forward_does_and_make_its_frame():
    """The engine's tiled route runs motion_stage on the whole frame, then learned_stage on padded pieces:
    each refuses what forward refuses (motion_stage takes any H and W: the search needs no multiple)."""
    halfway, motion = Net(TINY).eval(), Net(TINY_MOTION).eval()
    for route in (halfway, halfway.motion_stage, halfway.learned_stage):
        with pytest.raises(ValueError, match=r"\(B, 4, 3, H, W\)"):
            route(torch.zeros(1, 3, 3, 16, 16))
        with pytest.raises(ValueError, match="one time per sample"):
            route(torch.zeros(2, 4, 3, 16, 16), torch.full((3,), 0.5))
        with pytest.raises(ValueError, match="halfway only"):
            route(torch.zeros(1, 4, 3, 16, 16), 0.25)
    for route in (halfway, halfway.learned_stage):
        with pytest.raises(ValueError, match="multiples of 4"):
            route(torch.zeros(1, 4, 3, 18, 16))
    assert halfway.motion_stage(torch.zeros(1, 4, 3, 18, 16)).shape == (1, 4, 3, 18, 16)
    x, t = torch.rand(2, 4, 3, 32, 48) * 2 - 1, torch.tensor([0.25, 0.5])
    with torch.no_grad():
        whole = motion(x, t)
        staged = motion.learned_stage(motion.motion_stage(x, t), t)
    assert torch.equal(whole.frame, staged.frame) and torch.equal(whole.synthesized, staged.synthesized)


def test_every_pass_runs_the_compiled_learned_part_when_there_is_one():
    """Net.compiled_correct (what compile=1 sets) stands in for Net.correct in forward and learned_stage."""
    net = Net(TINY_MOTION).eval()
    calls = []
    net.compiled_correct = lambda frames, t: calls.append(frames.shape) or net.correct(frames, t)
    x = torch.rand(1, 4, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        net(x)
        net.learned_stage(net.motion_stage(x))
    assert len(calls) == 2


def test_convlstm_matches_step_by_step_reference():
    torch.manual_seed(0)
    layer = ConvLSTM(3, 5, kernel_size=3)
    seq = torch.randn(2, 4, 3, 8, 10)
    weight, bias = layer.cell.gates.weight, layer.cell.gates.bias
    h = torch.zeros(2, 5, 8, 10)
    c = torch.zeros(2, 5, 8, 10)
    expected = []
    for t in range(4):
        z = F.conv2d(torch.cat([seq[:, t], h], 1), weight, bias, padding=1)
        i, f, o, g = z[:, 0:5], z[:, 5:10], z[:, 10:15], z[:, 15:20]
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        expected.append(h)
    torch.testing.assert_close(layer(seq), torch.stack(expected, 1))


def test_loss_on_known_tensors():
    target = torch.zeros(1, 3, 2, 2)
    synthesized = torch.full_like(target, 0.4)   # L1 = 0.4
    refined = torch.full_like(target, -0.1)      # L1 = 0.1
    assert interpolation_loss(synthesized, refined, target).item() == pytest.approx(0.5 * 0.4 + 0.1)
    assert interpolation_loss(target, target, target).item() == 0.0


def test_config_validation():
    with pytest.raises(ValueError, match="channels"):
        ModelConfig(channels=())
    with pytest.raises(ValueError, match="kernel_size"):
        ModelConfig(kernel_size=2)
    with pytest.raises(ValueError, match="unknown config key.*model.chanels"):
        ModelConfig.from_dict({"chanels": [4]})
    with pytest.raises(ValueError, match="scales must be 1"):
        ModelConfig(scales=3)
    assert Net(TINY).pad_multiple == 4 and Net(TINY2).pad_multiple == 8   # the half-size pass needs its own multiple


def two_scale_net(tmp_path) -> tuple[Net, Net]:
    """A trained-looking single-pass net and a scales=2 net holding the same weights plus a fusion."""
    single, _ = load_net(random_weights(tmp_path / "w.pt"))
    fused = Net(TINY2)
    load_init_weights(fused, single.state_dict())
    return single.eval(), fused.eval()


def test_scale_fusion_switched_off_is_the_single_pass_exactly(tmp_path):
    single, fused = two_scale_net(tmp_path)
    x = torch.rand(2, 4, 3, 24, 40) * 2 - 1
    fused.fusion.disable()
    with torch.no_grad():
        torch.testing.assert_close(fused(x).frame, single(x).frame, rtol=0, atol=0)


def test_scale_fusion_replaces_low_frequencies_by_the_half_size_pass(tmp_path):
    single, fused = two_scale_net(tmp_path)
    x = torch.rand(1, 4, 3, 32, 48) * 2 - 1
    with torch.no_grad():
        fused.fusion.mask.bias.fill_(1e4)          # mask = 1 everywhere
        full, coarse = single(x).frame, single(halve(x)).frame
        expected = full + F.interpolate(coarse - halve(full), size=(32, 48), mode="bilinear", align_corners=False)
        torch.testing.assert_close(fused(x).frame, expected)
        assert (fused(x).frame - full).abs().mean() > 1e-3   # the passes differ, so the fusion changed the frame
        fused.fusion.mask.bias.fill_(-2.0)         # the untrained start: mostly the full pass
        assert (fused(x).frame - full).abs().mean() < 0.2 * (expected - full).abs().mean()


def test_scale_fusion_net_pads_any_size_and_round_trips(tmp_path):
    _, fused = two_scale_net(tmp_path)
    engine = Engine(fused, torch.device("cpu"))
    for h, w in [(17, 33), (1, 1), (9, 64)]:
        assert engine.predict(torch.rand(1, 4, 3, h, w) * 2 - 1).shape == (1, 3, h, w)
    save_checkpoint(tmp_path / "fused.pt", fused)
    again, _ = load_net(tmp_path / "fused.pt")
    assert again.config == TINY2 and again.fusion is not None
    with pytest.raises(RuntimeError, match="train frozen"):
        again.train()(torch.zeros(1, 4, 3, 8, 8))
    back = Net(TINY)
    load_init_weights(back, again.state_dict())   # fine-tuning the paper's net of a two-scale checkpoint
    with pytest.raises(RuntimeError, match="missing"):
        load_init_weights(Net(ModelConfig(channels=(4, 8, 8), refine_channels=4, reduction=2)), again.state_dict())
    with pytest.raises(RuntimeError, match="size mismatch"):
        load_init_weights(Net(ModelConfig(channels=(4, 4), refine_channels=4, reduction=2)), again.state_dict())


def test_checkpoint_round_trip(tmp_path, test_weights):
    net, meta = load_net(test_weights)
    assert net.config == TINY and meta["note"] == "random test weights"
    save_checkpoint(tmp_path / "again.pt", net)
    again, _ = load_net(tmp_path / "again.pt")
    for (k, a), (_, b) in zip(net.state_dict().items(), again.state_dict().items()):
        torch.testing.assert_close(a, b, msg=k)


def test_checkpoint_errors(tmp_path, test_weights):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_net(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_net(tmp_path / "junk.pt")
    torch.save({"weights": 1}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a vapoursynth-convlstm checkpoint"):
        load_net(tmp_path / "other.pt")
    data = torch.load(test_weights, weights_only=False)
    data["model_config"]["channels"] = [4, 16]
    torch.save(data, tmp_path / "mismatch.pt")
    with pytest.raises(CheckpointError, match="does not match its model config"):
        load_net(tmp_path / "mismatch.pt")
    blob = test_weights.read_bytes()
    (tmp_path / "truncated.pt").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_net(tmp_path / "truncated.pt")


@pytest.mark.parametrize("change, message", [({"channels": [3000]}, r"channels \(width\) is 3000"),
                                             ({"channels": [1] * 20}, r"channels \(levels\) is 20"),
                                             ({"attention_blocks": 10**6}, "attention_blocks is 1000000"),
                                             ({"channels": [4, 16]}, r"weight synthesis.* is \(.*\), the config needs")])
def test_a_tiny_file_cannot_ask_for_a_huge_net(change, message, tmp_path, test_weights):
    """A few bytes of config are checked (bounds, then shapes on the meta device) before any memory is spent."""
    import resource
    data = torch.load(test_weights, weights_only=False)
    data["model_config"].update(change)
    torch.save(data, tmp_path / "huge.pt")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(CheckpointError, match=message):
        load_net(tmp_path / "huge.pt")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 200 * 1024   # KiB: no net was built


def test_convlstm_state_keeps_the_input_precision_under_autocast():
    """Under bf16 autocast (GPU training) the gates come out in bf16 but the cell state, which accumulates
    over the steps, stays in the frames' float32, as a float32 zero state made it."""
    torch.manual_seed(0)
    layer = ConvLSTM(3, 5, kernel_size=3)
    seq = torch.randn(2, 4, 3, 8, 10)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = layer(seq)
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, layer(seq), rtol=0, atol=0.05)


def test_a_copied_outer_frame_reads_as_its_neighbour_brought_to_time_t():
    """A clip's first window repeats I2 as I1 (filter/schedule.py clamped_window): brought along its own
    time the copy is I2 shifted by a whole vector, a ghost the ConvLSTM reads as the motion stopping. The
    learned part reads I2 brought to time t there instead (``steady_ends``): the demo clip's first made
    frame is 0.5 dB nearer the truth; the safety net still reads the compensated frames as they are."""
    from convlstm.checkpoint import load_weights
    from convlstm.evaluate.clips import resolve_clip
    from convlstm.evaluate.protocol import RGB24
    from convlstm.model.net import steady_ends
    from convlstm.video import read_rgb
    frames = read_rgb(resolve_clip("demo"), 5)
    frames = frames[:, :frames.shape[1] // 32 * 32, :frames.shape[2] // 32 * 32]     # the net's multiple
    even = RGB24.to_unit(torch.from_numpy(frames[0::2]).permute(0, 3, 1, 2))
    window = torch.stack([even[0], even[0], even[1], even[2]])[None]        # the first window: I1 = I2
    truth = RGB24.to_unit(torch.from_numpy(frames[1]).permute(2, 0, 1))
    net, _ = load_weights(None)
    net.eval()
    with torch.no_grad():
        moved = net.motion_compensated(window)
        read = steady_ends(window, moved)
        assert torch.equal(read[:, 0], moved[:, 1]) and torch.equal(read[:, 1:], moved[:, 1:])
        steady = torch.stack([even[1], even[1].flip(-1), even[2], even[2].flip(-1)])[None]
        steady_moved = net.motion_compensated(steady)
        assert steady_ends(steady, steady_moved) is steady_moved        # no copy: read as it is
        made = Engine(net, torch.device("cpu")).predict(window, 0.5)[0]
        ghost = net.safeguard(net._learned(moved, 0.5), window, moved, 0.5).frame[0]

    def psnr(x: torch.Tensor) -> float:
        return float(10 * torch.log10(4 / ((x - truth) ** 2).mean()))
    assert psnr(made) > psnr(ghost) + 0.3
