"""Metrics against an independent implementation; evaluate and bench on tiny real inputs."""
import csv
import json
import math
import subprocess

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from convlstm.video import ffmpeg_exe
from convlstm.evaluate.bench import bench, parse_sizes
from convlstm.filter.engine import cpu_bf16
from convlstm.evaluate.metrics import luma, psnr, ssim
from convlstm.evaluate.report import evaluate
from convlstm.evaluate.flops import count_forward
from convlstm.model import Net
from helpers import TINY, TINY_MOTION


def test_psnr_and_ssim_match_scikit_image():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (40, 56, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    ya, yb = luma(a), luma(b)
    ref = structural_similarity(ya, yb, data_range=255, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=True)
    assert ssim(ya, yb) == pytest.approx(ref, abs=1e-9)


def test_identical_images():
    a = np.full((20, 20, 3), 77, np.uint8)
    assert psnr(a, a) == math.inf
    assert ssim(luma(a), luma(a)) == pytest.approx(1.0)


def test_share_off_counts_pixels_more_than_10_levels_off_in_any_channel():
    from convlstm.evaluate.metrics import share_off
    rng = np.random.default_rng(1)
    truth = rng.integers(20, 236, (30, 40, 3), dtype=np.uint8)
    pred = truth.copy()
    pred[0, :7, 1] += 11                        # 7 pixels 11 levels off in green: off
    pred[1, :5] -= 11                           # 5 pixels off in all three channels: each counted once
    pred[2, :9] += 10                           # 9 pixels exactly 10 levels off everywhere: not off
    pred[3, :2] = np.where(truth[3, :2] < 128, 250, 5)   # far off either way (no uint8 wrap-around)
    assert share_off(pred, truth) == (7 + 5 + 2) / (30 * 40)
    assert share_off(pred, truth, levels=9) == (7 + 5 + 9 + 2) / (30 * 40)
    assert share_off(truth, truth) == 0.0
    with pytest.raises(ValueError, match="one shape"):
        share_off(pred[:, :, 0], truth[:, :, 0])


def test_worst_case_figures_of_frames_with_known_errors():
    """Frames off by a known constant have a known PSNR; the 5th percentile of 21 frames is the 2nd lowest,
    of 29 frames 0.4 of the way from the 2nd lowest to the 3rd (numpy's linear rule)."""
    from convlstm.evaluate.metrics import low_percentile
    from convlstm.evaluate.protocol import score
    rng = np.random.default_rng(2)
    offsets = [1, 2, 3, 4, 6, 8, 12, 16, 3, 2, 1, 5, 7, 9, 2, 4, 1, 3, 2, 11, 1]      # 21 frames
    truth = rng.integers(40, 200, (len(offsets), 16, 24, 3), dtype=np.uint8)
    preds = np.stack([t + d for t, d in zip(truth, offsets)]).astype(np.uint8)        # no clipping: 200 + 16 < 256
    s = score(preds, truth)
    frame_psnr = [10 * math.log10(255 ** 2 / d ** 2) for d in offsets]
    assert s.psnr == pytest.approx(frame_psnr, abs=1e-9)
    assert s.p5_psnr == pytest.approx(sorted(frame_psnr)[1], abs=1e-9)          # rank 20 * 0.05 = 1
    assert s.p5_psnr == pytest.approx(10 * math.log10(255 ** 2 / 12 ** 2), abs=1e-9)
    assert s.share_off == pytest.approx(np.mean([d > 10 for d in offsets]), abs=1e-12)   # 12, 16, 11 px: every pixel
    assert s.share_off == pytest.approx(3 / 21, abs=1e-12)
    values = list(range(29))[::-1]
    assert low_percentile(np.array(values, float)) == pytest.approx(1.4, abs=1e-12)
    assert low_percentile(np.array([30.0, 31.0, math.inf])) == 30.1               # identical frames: no NaN
    assert low_percentile(np.array([math.inf, math.inf])) == math.inf


def write_known_motion(path, frames=12, w=64, h=48, speed=2):
    """A lossless (FFV1) clip of a square moving ``speed`` px per frame; returns the true RGB frames."""
    truth = []
    for n in range(frames):
        img = np.full((h, w, 3), 60, np.uint8)
        img[:, :, 1] = (np.arange(w) * 3 % 256)[None]
        img[16:32, 4 + n * speed: 20 + n * speed] = (230, 200, 40)
        truth.append(img)
    cmd = [ffmpeg_exe(), "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{w}x{h}", "-r", "24",
           "-i", "-", "-c:v", "ffv1", "-pix_fmt", "gbrp", str(path)]
    subprocess.run(cmd, input=np.stack(truth).tobytes(), check=True)
    return np.stack(truth)


@pytest.mark.slow   # a whole evaluation or several nets: the full suite, not the daily loop
def test_evaluate_on_a_clip_with_known_motion(tmp_path):
    clip = tmp_path / "square.mkv"
    truth = write_known_motion(clip)
    results = evaluate([str(clip)], frames=12, methods=["convlstm", "blend", "repeat", "mvtools"],
                       out_dir=tmp_path / "eval")
    r = results[0]
    assert np.array_equal(r.truth, truth[1::2][:5]), "decoded truth must be the frames we encoded"
    expected_repeat = np.mean([psnr(truth[2 * i], truth[2 * i + 1]) for i in range(5)])
    assert r.scores["repeat"].mean_psnr == pytest.approx(expected_repeat, abs=1e-6)
    assert r.scores["blend"].mean_psnr > r.scores["repeat"].mean_psnr
    assert r.scores["mvtools"].mean_psnr > r.scores["blend"].mean_psnr  # motion compensation wins on a pan
    for name in ("results.csv", "metrics_bars.png", "per_frame.png", "worst_square.png", "table.txt"):
        assert (tmp_path / "eval" / name).stat().st_size > 0
    rows = (tmp_path / "eval" / "results.csv").read_text().splitlines()
    assert rows[0].startswith("clip,method,psnr,ssim,vmaf,sharpness,psnr_p5,off10,") and len(rows) == 5
    # repeat shows frame 2i for 2i + 1: the square's 2 px leading and trailing strips (16 rows each) are
    # off, everything else exact, on every frame. Of 5 frames the 5th percentile is at rank 0.2: a fifth
    # of the way from the lowest frame PSNR to the next
    assert r.scores["repeat"].share_off == pytest.approx(2 * 2 * 16 / (64 * 48), abs=1e-12)
    low = sorted(psnr(truth[2 * i], truth[2 * i + 1]) for i in range(5))
    expected_p5 = low[0] + 0.2 * (low[1] - low[0])
    assert low[0] < expected_p5 < low[1] and expected_p5 < expected_repeat
    assert r.scores["repeat"].p5_psnr == pytest.approx(expected_p5, abs=1e-9)
    saved = {d["method"]: d for d in csv.DictReader(open(tmp_path / "eval" / "results.csv"))}
    assert float(saved["repeat"]["off10"]) == pytest.approx(64 / 3072, abs=1e-6)
    assert float(saved["repeat"]["psnr_p5"]) == pytest.approx(expected_p5, abs=1e-4)
    assert (tmp_path / "eval" / "worst_case.png").stat().st_size > 5_000
    assert r.scores["mvtools"].mean_vmaf > r.scores["blend"].mean_vmaf > 0   # what users see agrees here
    assert all(len(s.vmaf) == len(s.sharpness) == 5 for s in r.scores.values())
    table = (tmp_path / "eval" / "table.txt").read_text()
    assert "VMAF" in table and "PSNR p5" in table and "off>10" in table
    assert f"{64 / 3072:.2%}" in table                      # repeat's share, as printed


def test_vmaf_and_sharpness_ratio_tell_a_blurred_frame_from_a_sharp_one():
    from convlstm.evaluate.metrics import sharpness_ratio, vmaf
    from convlstm.video import read_rgb
    from convlstm.evaluate.clips import resolve_clip
    frames = read_rgb(resolve_clip("demo"), 6)
    blurred = ((frames[:, :-2, :-2].astype(int) + frames[:, 1:-1, 1:-1] + frames[:, 2:, 2:]) // 3).astype(np.uint8)
    sharp_crop = frames[:, 1:-1, 1:-1]
    assert sharpness_ratio(sharp_crop[0], sharp_crop[0]) == 1.0
    assert sharpness_ratio(blurred[0], sharp_crop[0]) < 0.8
    same, soft = vmaf(sharp_crop, sharp_crop), vmaf(blurred, sharp_crop)
    assert same.shape == soft.shape == (6,)
    assert same[1:].min() > 99 and soft.mean() < same.mean() - 5, (same, soft)


@pytest.mark.slow   # a whole evaluation or several nets: the full suite, not the daily loop
def test_extra_methods_run_only_when_named_and_the_evaluation_imports_no_adaptation(tmp_path):
    """Methods built on other packages (adaptation's convlstm-adapted) are passed in as extra_methods,
    called as the built-in ones are; nothing under convlstm.evaluate imports convlstm.adapt."""
    import sys
    from convlstm.evaluate.methods import run_repeat
    clip = tmp_path / "square.mkv"
    write_known_motion(clip, frames=6)
    calls = []

    def twice(source, even_rgb, **kwargs):
        calls.append(sorted(kwargs))
        return run_repeat(source, even_rgb, **kwargs)

    extra = {"twice": twice}
    evaluate([str(clip)], frames=6, methods=["repeat"], out_dir=tmp_path / "a", extra_methods=extra)
    assert calls == []
    r = evaluate([str(clip)], frames=6, methods=["repeat", "twice"], out_dir=tmp_path / "b", extra_methods=extra)[0]
    assert calls == [["device", "full_source", "precision", "unheld", "weights"]]
    assert r.scores["twice"].mean_psnr == r.scores["repeat"].mean_psnr
    with pytest.raises(ValueError, match="choose from .*twice"):
        evaluate([str(clip)], methods=["magic"], out_dir=tmp_path, extra_methods=extra)
    code = ("import sys, convlstm.evaluate.report, convlstm.evaluate.bench, convlstm.evaluate.flops; "
            "print([m for m in sys.modules if m.startswith('convlstm.adapt')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_evaluate_rejects_unknown_method_and_missing_clip(tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        evaluate(["bikes"], methods=["magic"], out_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="neither a file"):
        evaluate([str(tmp_path / "nope.mp4")], methods=["blend"], out_dir=tmp_path)
    from convlstm.evaluate.clips import resolve_clip
    assert resolve_clip("demo").name == "demo.mp4" and resolve_clip("bikes").name == "bikes.mp4"


def test_flops_are_counted_and_scale_with_area():
    net = Net(TINY)
    small = count_forward(net, 32, 32)
    large = count_forward(net, 64, 64)
    assert small["flops"] > 0 and small["bytes"] > 0
    assert large["flops"] == pytest.approx(4 * small["flops"], rel=0.02)
    assert small["motion_ops"] == 0 and small["learned_ops"] == small["ops"] > 0   # no motion search
    moving = Net(TINY_MOTION)
    one, two = count_forward(moving, 32, 32), count_forward(moving, 32, 32, batch=2)
    assert one["motion_ops"] > 0 and one["motion_bytes"] > 0 and one["learned_ops"] > 0
    assert one["bytes"] == one["motion_bytes"] + one["learned_bytes"] and one["ops"] == one["motion_ops"] + one["learned_ops"]
    # per pass, per window; the camera's inverse transform runs once per window (motion._camera_peaks)
    assert two["ops"] == one["ops"] + 1 and two["bytes"] == pytest.approx(one["bytes"], rel=0.05)
    assert "compensate" not in moving.__dict__                  # the method is the class's again


@pytest.mark.slow
def test_bench_tiny_cpu(tmp_path):
    out = tmp_path / "bench.json"
    rows = bench(parse_sizes("48x32"), device="cpu", frames=4, json_path=out, batches=[1, 2],
                 precisions=["fp32", "bf16"])
    assert [(r["precision"], r["batch"]) for r in rows] == [("fp32", 1), ("fp32", 2), ("bf16", 1), ("bf16", 2)]
    native = cpu_bf16()
    for r in rows[:4 if native else 2]:
        assert r["size"] == "48x32" and r["filter_fps"] > 0 and r["gflops_per_frame"] > 0 and r["peak_rss_mib"] > 0
        assert r["host_s_per_frame"] > 0 and r["warm_latency_s"] > 0 and 1 <= r["windows_per_pass"] <= r["batch"]
        assert r["motion_s_per_frame"] > 0 and r["learned_s_per_frame"] > 0     # the bundled net has both
        assert r["peak_fp32_conv_gflops_s"] > 0 and r["peak_bf16_matmul_gflops_s"] > 0   # measured here
        assert r["learned_of_peak"] == pytest.approx(r["gflops_per_frame"] / r["learned_s_per_frame"]
                                                     / r[f"peak_{r['precision']}_conv_gflops_s"])
    if not native:   # bf16 runs on a CPU with native bf16 only
        assert all(r["skipped"] == "bf16 needs CUDA or a CPU with native bf16" for r in rows[2:])
    saved = json.loads(out.read_text())
    assert saved["rows"][0]["size"] == "48x32" and "CPU" in saved["machine"]
    assert out.with_suffix(".png").stat().st_size > 5_000   # the rate-by-size plot
    with pytest.raises(ValueError, match="bad size"):
        parse_sizes("640by360")


@pytest.mark.slow   # a whole evaluation or several nets: the full suite, not the daily loop
def test_reproduces_the_reference_figures_on_carphone(tmp_path):
    """The reference table of docs/design.md (measured independently): blend 32.71, repeat 30.69, mvtools 31.34 dB."""
    r = evaluate(["carphone"], frames=60, methods=["blend", "repeat", "mvtools"], out_dir=tmp_path)[0]
    assert r.scores["blend"].mean_psnr == pytest.approx(32.71, abs=0.05)
    assert r.scores["repeat"].mean_psnr == pytest.approx(30.69, abs=0.05)
    assert r.scores["mvtools"].mean_psnr == pytest.approx(31.34, abs=0.05)


def test_worst_frame_figure_shows_each_method_once_and_says_when_ours_leads(tmp_path):
    """When the best other method is blend it is not shown twice; when ours leads everywhere the title says
    so instead of claiming it trails."""
    from convlstm.evaluate.methods import Prediction
    from convlstm.evaluate.protocol import score
    from convlstm.evaluate.report import ClipResult, worst_frame_crop
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 255, (3, 32, 32, 3), dtype=np.uint8)
    frames = {"convlstm": np.clip(truth.astype(int) + 2, 0, 255).astype(np.uint8),
              "blend": np.clip(truth.astype(int) + 9, 0, 255).astype(np.uint8)}
    r = ClipResult("clip", truth, truth, {m: Prediction(f, 1.0) for m, f in frames.items()},
                   {m: score(f, truth) for m, f in frames.items()})
    title = worst_frame_crop(r, "convlstm", tmp_path / "w.png")
    assert "convlstm leads blend on every frame" in title and "trails" not in title, title
    assert title.endswith("[truth, convlstm, blend]") and (tmp_path / "w.png").stat().st_size > 1000
    r.scores["convlstm"], r.scores["blend"] = r.scores["blend"], r.scores["convlstm"]
    assert "where convlstm trails blend most" in worst_frame_crop(r, "convlstm", tmp_path / "w.png")


@pytest.mark.slow   # a whole evaluation or several nets: the full suite, not the daily loop
def test_validation_makes_the_frames_the_filter_makes_across_a_scene_cut(tmp_path):
    """The trainer's validation (predict_with_engine) and the plugin agree frame for frame, cuts included:
    checkpoints are picked on what users get."""
    import torch
    from convlstm.checkpoint import load_net
    from convlstm.evaluate.methods import run_convlstm
    from convlstm.evaluate.protocol import predict_with_engine
    from convlstm.filter.engine import Engine
    from helpers import TINY_MOTION, clip_from_frames, filter_precision, moving_frames, random_weights
    weights = random_weights(tmp_path / "m.pt", TINY_MOTION)
    first = moving_frames(64, 48, 10, speed=3)
    second = [255 - f for f in moving_frames(64, 48, 10, speed=2)]          # another scene
    source = clip_from_frames(first + second)
    rgb = np.stack([np.stack([np.asarray(f[p]) for p in range(3)], -1) for f in source.frames()])
    even = rgb[0::2]
    ours = predict_with_engine(Engine(load_net(weights)[0], torch.device("cpu"), precision=filter_precision()), even)
    plugin = run_convlstm(source, even, weights=str(weights), device="cpu").frames
    assert ours.shape == plugin.shape
    assert np.array_equal(ours[4], (even[4].astype(int) + even[5] + 1) // 2)   # frames 8 | 10: the cut, blended
    assert np.array_equal(ours, plugin)


@pytest.mark.slow   # a whole evaluation or several nets: the full suite, not the daily loop
def test_held_pictures_are_scored_against_the_true_frames_and_dedup_recovers_them(tmp_path):
    """--repeats twos: every method gets the even frames on twos, the truth stays the true odd frames;
    repeat then shows a frame two steps old, and dedup puts the square back where it is."""
    clip = tmp_path / "square.mkv"
    truth = write_known_motion(clip, frames=16)
    results = evaluate([str(clip)], frames=16, methods=["repeat", "convlstm", "convlstm-dedup", "convlstm-full-rate"],
                       out_dir=tmp_path / "eval", repeats="twos")
    r = results[0]
    assert np.array_equal(r.truth, truth[1::2][:7])
    held = [truth[2 * (k - k % 2)] for k in range(8)]                 # the even frames, on twos
    assert np.array_equal(r.even, np.stack(held))
    expected_repeat = np.mean([psnr(held[i], truth[2 * i + 1]) for i in range(7)])
    assert r.scores["repeat"].mean_psnr == pytest.approx(expected_repeat, abs=1e-6)
    s = {m: r.scores[m].mean_psnr for m in r.scores}
    # on this 64x48 toy the made frames place the square right (tests/test_dedup.py measures where) and the
    # loss is at its edges, 8 px of motion between samples instead of 4 at full rate
    assert s["convlstm-dedup"] > s["convlstm"] + 1.5 and s["convlstm-full-rate"] > s["convlstm-dedup"], s
