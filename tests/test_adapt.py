"""Adapting the weights to one clip (convlstm.adapt, `convlstm adapt`, evaluate's convlstm-adapted): the
held-aside split, that training on the clip helps where it was not trained, the fallback, Ctrl-C, the
checkpoint's lineage, and that the evaluation never lets it see the frames it is scored on."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import vapoursynth as vs

from convlstm.adapt.loop import adapt_frames
from convlstm.adapt.windows import SPAN, ClipWindows, split_windows
from convlstm.checkpoint import read_checkpoint
from helpers import TINY_MOTION, clip_from_frames, random_weights

CONVLSTM = str(Path(sys.executable).with_name("convlstm"))


def texture_clip(n: int, size=(48, 64), speed=2.0, seed=0) -> np.ndarray:
    """(N, H, W, 3) uint8: a smooth random texture panning ``speed`` px per frame."""
    g = np.random.default_rng(seed)
    h, w = size
    big = torch.from_numpy(g.random((1, 3, h // 8 + 4, w // 8 + 4 + n))).float()
    big = torch.nn.functional.interpolate(big, scale_factor=8, mode="bicubic", align_corners=False).clamp(0, 1)
    frames = []
    for k in range(n):
        x = speed * k
        shifted = torch.nn.functional.grid_sample(
            big, _grid(h, w, x, big.shape[-2:]), mode="bilinear", padding_mode="border", align_corners=True)
        frames.append((shifted[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))
    return np.stack(frames)


def _grid(h, w, dx, shape):
    ys, xs = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float() + dx, indexing="ij")
    return torch.stack([xs / (shape[1] - 1) * 2 - 1, ys / (shape[0] - 1) * 2 - 1], -1)[None]


def test_held_aside_windows_are_whole_blocks_no_training_window_touches_and_cuts_are_respected():
    cuts = np.zeros(79, dtype=bool)
    cuts[50] = True                                    # a cut between frames 50 and 51
    split = split_windows(80, cuts)
    held_frames = {f for s in split.held for f in range(s, s + SPAN)}
    for s in split.train:
        assert not held_frames & set(range(s, s + SPAN)), s
    for s in split.train + split.held:
        assert not (s <= 50 < s + SPAN - 1), s          # no window spans the cut
    assert split.train and split.held
    with pytest.raises(ValueError, match="at least 24"):
        split_windows(20, np.zeros(19, dtype=bool))


def test_samples_are_the_clips_own_frames_two_apart_around_a_true_one():
    frames = np.stack([np.full((40, 40, 3), 8 * k, np.uint8) for k in range(30)])
    windows = ClipWindows(frames, crop=32, multiple=8)
    rng = np.random.default_rng(0)
    for _ in range(20):
        inputs, target, t = windows.sample(rng)
        vals = [round(float((f.mean() + 1) / 2 * 255) / 8) for f in list(inputs) + [target]]
        d = vals[1] - vals[0]
        assert abs(d) == 2 and vals[:4] == [vals[0] + k * d for k in range(4)] and vals[4] == vals[1] + d / 2
        assert float(t) == 0.5


@pytest.mark.slow
def test_a_short_adaptation_beats_the_start_where_it_did_not_train_and_records_its_lineage(tmp_path):
    start = random_weights(tmp_path / "start.pt", TINY_MOTION, seed=3)
    frames = texture_clip(40)
    out = tmp_path / "adapted.pt"
    r = adapt_frames(frames, out, minutes=None, steps=40, weights=str(start), device="cpu", progress=False,
                     source={"file": "texture.mkv", "sha256": "ab" * 32})
    assert r.adapted and r.best_psnr > r.base_psnr + 0.5, (r.base_psnr, r.best_psnr)
    assert r.path == out and r.steps == 40 and not r.interrupted
    meta = read_checkpoint(out)["meta"]["adapted"]
    assert meta["base"] == str(start) and len(meta["base_sha256"]) == 64
    assert meta["source"]["file"] == "texture.mkv" and meta["frames"] == 40 and meta["steps"] == 40
    held = meta["held_aside_psnr"]
    assert held["judged"] == ["half", "full"] and all(a >= b for a, b in zip(held["adapted"], held["base"]))
    clip = clip_from_frames([f.transpose(2, 0, 1).copy() for f in frames])   # usable as weights=
    assert vs.core.convlstm.Interpolate(clip, weights=str(out)).get_frame(1).props["ConvLSTMInterpolated"] == 1


@pytest.mark.slow   # a whole evaluation or several nets: the full suite, not the daily loop
def test_the_fallback_keeps_the_start_when_the_clip_gives_nothing_to_gain(tmp_path):
    """Untrained motion weights on a still clip: their frames are already what the clip holds at the
    held-aside windows (to a level here and there), so no adaptation is kept and nothing is written."""
    from convlstm.checkpoint import save_checkpoint
    from convlstm.model import Net
    start = tmp_path / "start.pt"
    save_checkpoint(start, Net(TINY_MOTION), {"note": "zero residual"})
    frames = np.repeat(texture_clip(1), 30, axis=0)
    r = adapt_frames(frames, tmp_path / "a.pt", minutes=None, steps=3, weights=str(start), device="cpu",
                     progress=False)
    assert not r.adapted and r.path == start and not (tmp_path / "a.pt").exists()
    assert r.base_psnr == r.best_psnr and r.base_psnr > 60   # (near) exact on a still clip


def test_the_adapted_method_carries_its_budget_to_the_evaluation():
    from convlstm.adapt.method import ADAPT_MINUTES, adapted_methods, run_convlstm_adapted
    assert adapted_methods() == {"convlstm-adapted": run_convlstm_adapted}
    run = adapted_methods(0.5)["convlstm-adapted"]
    assert run.func is run_convlstm_adapted and run.keywords == {"adapt_minutes": 0.5} and ADAPT_MINUTES == 3.0


@pytest.mark.slow
def test_the_evaluation_never_reads_the_odd_frames(tmp_path):
    """convlstm-adapted on a clip, and on the same clip with every odd frame replaced by noise: identical."""
    from convlstm.adapt.method import run_convlstm_adapted
    start = random_weights(tmp_path / "start.pt", TINY_MOTION, seed=5)
    frames = [f.transpose(2, 0, 1).copy() for f in texture_clip(56, speed=1.0)]
    noisy = [f if k % 2 == 0 else np.random.default_rng(k).integers(0, 255, f.shape, dtype=np.uint8)
             for k, f in enumerate(frames)]
    outputs = []
    for fs in (frames, noisy):
        clip = clip_from_frames(fs)
        even_rgb = np.stack([f.transpose(1, 2, 0) for f in fs[::2]])
        pred = run_convlstm_adapted(clip, even_rgb, weights=str(start), device="cpu", full_source=clip,
                                    adapt_minutes=None, adapt_steps=6)
        outputs.append(pred.frames)
    assert np.array_equal(outputs[0], outputs[1])


@pytest.mark.slow
def test_the_command_writes_to_a_cache_not_beside_the_input_refuses_overwrites_and_keeps_the_best_on_ctrl_c(tmp_path):
    from convlstm.video import ffmpeg_exe
    folder = tmp_path / "footage"
    folder.mkdir()
    src = folder / "pan.mkv"
    raw = texture_clip(40, size=(64, 96))
    subprocess.run([ffmpeg_exe(), "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "96x64", "-r", "24",
                    "-i", "-", "-c:v", "ffv1", str(src)], input=raw.tobytes(), check=True)
    start = random_weights(tmp_path / "start.pt", TINY_MOTION, seed=6)
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    r = subprocess.run([CONVLSTM, "adapt", src, "--steps", "20", "--weights", start, "--device", "cpu", "--quiet"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["pan.mkv"]          # nothing beside the input
    assert "adapted: held-aside PSNR" in r.stdout and str(tmp_path / "cache") in r.stdout
    (tmp_path / "taken.pt").write_bytes(b"x")
    r = subprocess.run([CONVLSTM, "adapt", src, "-o", tmp_path / "taken.pt", "--steps", "2", "--weights", start],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 2 and "exists; pass --force" in r.stderr
    proc = subprocess.Popen([CONVLSTM, "adapt", src, "-o", tmp_path / "stopped.pt", "--minutes", "5", "--weights",
                             start, "--device", "cpu", "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)
    time.sleep(12)   # start-up, the held-aside score, then some steps
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "interrupted (SIGINT)" in err and ("adapted:" in err or "did not beat" in err), err
    if "adapted:" in err:
        assert read_checkpoint(tmp_path / "stopped.pt")["meta"]["adapted"]["interrupted"] is True
