"""Make clean rendered frames look like camera video: blur, noise, gain drift, codec round trip."""
from __future__ import annotations

import subprocess

import numpy as np
import torch
import torch.nn.functional as F

from ..video import ffmpeg_exe


def gaussian_blur(frames: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (T, 3, H, W)."""
    r = max(1, int(3 * sigma + 0.5))
    x = torch.arange(-r, r + 1, dtype=frames.dtype)
    k = torch.exp(-0.5 * (x / sigma) ** 2)
    k = (k / k.sum()).to(frames)
    c = frames.shape[1]
    y = F.pad(frames, (r, r, r, r), mode="replicate")
    y = F.conv2d(y, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(y, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def codec_round_trip(frames: torch.Tensor, crf: int, codec: str = "libx264") -> torch.Tensor:
    """Encodes (T, 3, H, W) on [0, 1] with x264/x265 at ``crf`` through the ffmpeg binary and decodes it."""
    t, _, h, w = frames.shape
    raw = (frames.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy().tobytes()
    exe = ffmpeg_exe()
    size = f"{w}x{h}"
    params = ["-x265-params", "log-level=none"] if codec == "libx265" else []
    enc = [exe, "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", size, "-r", "25", "-i", "-",
           "-c:v", codec, "-preset", "ultrafast", "-crf", str(crf), "-pix_fmt", "yuv420p", *params,
           "-f", "matroska", "-"]
    encoded = subprocess.run(enc, input=raw, capture_output=True, check=True).stdout
    dec = [exe, "-v", "error", "-i", "-", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    decoded = subprocess.run(dec, input=encoded, capture_output=True, check=True).stdout
    arr = np.frombuffer(decoded, dtype=np.uint8)
    if arr.size != t * h * w * 3:
        raise RuntimeError(f"codec round trip returned {arr.size} bytes, expected {t * h * w * 3}")
    return torch.from_numpy(arr.reshape(t, h, w, 3).copy()).permute(0, 3, 1, 2).float() / 255.0


def degrade(frames: torch.Tensor, rng: np.random.Generator, codec_probability: float = 0.5) -> torch.Tensor:
    """Random camera/codec degradations of a clean (T, 3, H, W) sequence on [0, 1]."""
    t = frames.shape[0]
    if rng.random() < 0.3:
        frames = gaussian_blur(frames, float(rng.uniform(0.3, 1.0)))
    if rng.random() < 0.25:  # exposure / gain drift across the sequence
        drift = float(rng.uniform(-0.04, 0.04))
        gains = 1.0 + drift * (torch.arange(t, dtype=frames.dtype) - (t - 1) / 2) / t
        frames = frames * gains.view(t, 1, 1, 1)
    if rng.random() < 0.6:
        sigma = float(rng.uniform(0.002, 0.02))
        g = torch.Generator().manual_seed(int(rng.integers(2**31)))
        frames = frames + sigma * torch.randn(frames.shape, generator=g)
    frames = frames.clamp(0, 1)
    if rng.random() < codec_probability and min(frames.shape[-2:]) >= 16:
        codec = "libx265" if rng.random() < 0.3 else "libx264"
        frames = codec_round_trip(frames, int(rng.integers(16, 36)), codec)
    return frames
