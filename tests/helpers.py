"""Shared test helpers: real clips made from numpy frames, scripts run by the real vspipe."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
import vapoursynth as vs

from convlstm.checkpoint import save_checkpoint
from convlstm.config import ModelConfig
from convlstm.model import Net

TINY = ModelConfig(channels=(4, 8), refine_channels=4, attention_blocks=1, reduction=2)
TINY2 = ModelConfig(**{**TINY.to_dict(), "scales": 2, "fusion_channels": 4})   # plus the half-size pass
TINY_MOTION = ModelConfig(**{**TINY.to_dict(), "motion": "block"})                # motion-compensated
VSPIPE = str(Path(sys.executable).with_name("vspipe"))

DTYPES = {vs.RGB24: np.uint8, vs.RGB27: np.uint16, vs.RGB30: np.uint16, vs.RGB36: np.uint16, vs.RGB48: np.uint16, vs.RGBH: np.float16, vs.RGBS: np.float32}


def moving_frames(width: int, height: int, length: int, fmt: int = vs.RGB24, speed: int = 3) -> list[np.ndarray]:
    """Frames of a textured scene with a bright square moving ``speed`` px per frame, as (3, H, W)."""
    f = vs.core.get_video_format(fmt)
    peak = 1.0 if f.sample_type == vs.FLOAT else (1 << f.bits_per_sample) - 1
    yy, xx = np.mgrid[0:height, 0:width]
    frames = []
    for n in range(length):
        base = 0.3 + 0.2 * np.sin(xx / 3.0) * np.cos(yy / 4.0)
        planes = np.stack([base, base * 0.8 + 0.1, 0.5 - base * 0.3])
        x0 = (n * speed) % max(1, width)
        planes[:, max(0, height // 4):max(1, height // 4 + max(1, height // 3)), x0:x0 + max(1, width // 4)] = 0.95
        vals = planes * peak
        frames.append(vals.astype(DTYPES[fmt]) if f.sample_type == vs.FLOAT else np.round(vals).astype(DTYPES[fmt]))
    return frames


def clip_from_frames(frames: list[np.ndarray], fmt: int = vs.RGB24, fpsnum: int = 24000, fpsden: int = 1001,
                     core: vs.Core | None = None) -> vs.VideoNode:
    core = core or vs.core
    h, w = frames[0].shape[1:]
    blank = core.std.BlankClip(width=w, height=h, format=fmt, length=len(frames), fpsnum=fpsnum, fpsden=fpsden)

    def fill(n: int, f: vs.VideoFrame) -> vs.VideoFrame:
        out = f.copy()
        for p in range(3):
            np.asarray(out[p])[:] = frames[n][p]
        out.props["SourceIndex"] = n
        return out

    return core.std.ModifyFrame(blank, blank, fill)


def planes_of(frame: vs.VideoFrame) -> np.ndarray:
    return np.stack([np.asarray(frame[p]).copy() for p in range(frame.format.num_planes)])


def random_weights(path: Path, cfg: ModelConfig = TINY, seed: int = 1) -> Path:
    """A checkpoint whose residual heads are not zero, so its output differs from blending."""
    torch.manual_seed(seed)
    net = Net(cfg)
    with torch.no_grad():
        for head in (net.synthesis.head[-1], net.refinement.out):
            head.weight.normal_(0, 0.05)
            head.bias.normal_(0, 0.02)
        if net.fusion is not None:
            net.fusion.mask.weight.normal_(0, 0.05)
            net.fusion.mask.bias.zero_()
    save_checkpoint(path, net, {"note": "random test weights"})
    return path


def run_vspipe(script: str, tmp: Path, *args: str, output: str = "-", timeout: float = 300,
               arguments: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Runs the real vspipe on a script; stdout holds y4m bytes when output is '-'."""
    path = tmp / "script.vpy"
    path.write_text(script)
    cmd = [VSPIPE, *args]
    for k, v in (arguments or {}).items():
        cmd += ["-a", f"{k}={v}"]
    cmd += [str(path), output]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)


def raw_frames(data: bytes, width: int, height: int, dtype, planes: int = 3) -> np.ndarray:
    """vspipe's raw output (planar, unpadded) as an (N, planes, H, W) array."""
    arr = np.frombuffer(data, dtype=dtype)
    per_frame = planes * width * height
    if arr.size % per_frame:
        raise AssertionError(f"raw output of {arr.size} samples is not a whole number of {width}x{height} frames")
    return arr.reshape(-1, planes, height, width)


def filter_precision(fmt: str = "RGB24") -> str:
    """The precision the filter's precision=auto takes on this CPU for a clip of ``fmt`` (bf16 where the CPU
    has native bf16, else fp32): references computed with the engine must use the same."""
    from convlstm.filter.formats import PixelFormat
    from convlstm.filter.stages import choose_precision
    bits = {"RGB24": 8, "RGBS": 32, "RGBH": 16}[fmt]
    return choose_precision(None, torch.device("cpu"), PixelFormat(fmt, bits, fmt != "RGB24"))
