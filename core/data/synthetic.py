"""Synthetic video from still photographs: a moving camera over a background plus independently
moving foreground pieces that occlude it, rendered with sub-pixel accuracy and optional motion blur.

Motion per frame is drawn up to ``max_motion`` pixels (default 12), so between the net's inputs
(2 frames apart) objects move up to 24 px: motion blending cannot reproduce. A render can be made at any
time, so targets at any position between the middle inputs come for free (``off_half``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from .degrade import degrade
from .photos import load_photos
from .windows import make_sample, target_time

INPUT_TIMES = (-3.0, -1.0, 1.0, 3.0)   # in frames of the moving scene: inputs 2 frames apart


@dataclass
class Motion:
    """Affine motion over time: position(t) = p0 + v t + a t^2 / 2, angle and log-zoom linear in t."""
    velocity: np.ndarray
    accel: np.ndarray
    spin: float   # radians per frame
    zoom: float   # log scale per frame

    @classmethod
    def draw(cls, rng: np.random.Generator, max_motion: float, max_spin_deg: float, max_zoom: float) -> "Motion":
        speed = max_motion * rng.random() ** 2 if rng.random() > 0.1 else 0.0  # real video: mostly small motion
        angle = rng.uniform(0, 2 * math.pi)
        velocity = speed * np.array([math.cos(angle), math.sin(angle)])
        accel = rng.normal(0, 0.08 * max(speed, 1.0), size=2) if rng.random() < 0.5 else np.zeros(2)
        spin = math.radians(rng.uniform(-max_spin_deg, max_spin_deg)) if rng.random() < 0.4 else 0.0
        zoom = rng.uniform(-max_zoom, max_zoom) if rng.random() < 0.4 else 0.0
        return cls(velocity, accel, spin, zoom)

    def at(self, t: float) -> tuple[np.ndarray, float, float]:
        return self.velocity * t + 0.5 * self.accel * t * t, self.spin * t, math.exp(self.zoom * t)


def _sample(image: torch.Tensor, size: int, center: np.ndarray, shift: np.ndarray, angle: float,
            scale: float) -> torch.Tensor:
    """Samples a size x size view of image (C, H, W): canvas pixel q maps to center + R S (q - mid) - shift."""
    _, h, w = image.shape
    mid = (size - 1) / 2
    coords = torch.arange(size, dtype=torch.float32) - mid
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    c, s = math.cos(angle), math.sin(angle)
    sx = center[0] + (c * xx - s * yy) / scale - shift[0]
    sy = center[1] + (s * xx + c * yy) / scale - shift[1]
    grid = torch.stack([(sx + 0.5) / w * 2 - 1, (sy + 0.5) / h * 2 - 1], dim=-1)[None]
    return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="reflection", align_corners=False)[0]


def _shape_mask(size: int, rng: np.random.Generator) -> torch.Tensor:
    """A soft-edged blob (superellipse with wobble) on a size x size texture, as (1, size, size)."""
    coords = (torch.arange(size, dtype=torch.float32) - (size - 1) / 2) / (size / 2)
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    r = torch.sqrt(xx ** 2 + yy ** 2) + 1e-6
    theta = torch.atan2(yy, xx)
    power = float(rng.uniform(1.5, 6.0))
    ax, ay = rng.uniform(0.5, 0.95, size=2)
    base = (xx.abs() / ax) ** power + (yy.abs() / ay) ** power
    wobble = 1 + sum(float(rng.uniform(-0.12, 0.12)) * torch.cos(k * theta + float(rng.uniform(0, 6.3)))
                     for k in (2, 3, 5))
    edge = max(1.0, float(rng.uniform(0.5, 2.0))) / size
    return ((1 - base ** (1 / power) / wobble) / edge).clamp(0, 1)[None] * (r < 1.5)


def _colour_jitter(img: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    if rng.random() < 0.5:
        img = img[torch.from_numpy(rng.permutation(3))]
    gains = torch.from_numpy(rng.uniform(0.7, 1.3, size=(3, 1, 1)).astype(np.float32))
    return (img * gains + float(rng.uniform(-0.1, 0.1))).clamp(0, 1)


class SyntheticMotion(Dataset):
    """Endless, reproducible synthetic 7-frame sequences; item i is a function of (seed, i) alone."""

    def __init__(self, crop: int = 96, max_motion: float = 12.0, max_objects: int = 3, length: int = 10**9,
                 seed: int = 0, degrade_frames: bool = True, codec_probability: float = 0.5,
                 off_half: float = 0.0) -> None:
        if not 0 <= off_half <= 1:
            raise ValueError(f"off_half must be a probability in [0, 1], got {off_half}")
        self.crop, self.max_motion, self.max_objects, self.off_half = crop, max_motion, max_objects, off_half
        self.length, self.seed = length, seed
        self.degrade_frames, self.codec_probability = degrade_frames, codec_probability
        self.photos = [torch.from_numpy(p).permute(2, 0, 1).contiguous() for p in load_photos()]

    def __len__(self) -> int:
        return self.length

    def _photo(self, rng: np.random.Generator, min_side: int) -> torch.Tensor:
        img = self.photos[int(rng.integers(len(self.photos)))]
        scale = rng.uniform(0.35, 1.0)
        h, w = img.shape[-2:]
        nh, nw = max(min_side, int(h * scale)), max(min_side, int(w * scale))
        img = F.interpolate(img[None], size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)[0]
        return _colour_jitter(img, rng)

    def render(self, rng: np.random.Generator, times: tuple[float, ...] = tuple(range(-3, 4))) -> torch.Tensor:
        """A clean (len(times), 3, S, S) sequence on [0, 1], one frame at each time."""
        s = self.crop
        background = self._photo(rng, s + 8)
        bh, bw = background.shape[-2:]
        bg_center = np.array([rng.uniform(0, bw), rng.uniform(0, bh)])
        bg_motion = Motion.draw(rng, self.max_motion, 1.0, 0.02)
        layers = []
        for _ in range(int(rng.integers(0, self.max_objects + 1))):
            size = int(s * rng.uniform(0.25, 0.8))
            texture = self._photo(rng, size)
            th, tw = texture.shape[-2:]
            y0, x0 = int(rng.integers(0, th - size + 1)), int(rng.integers(0, tw - size + 1))
            patch = torch.cat([texture[:, y0:y0 + size, x0:x0 + size], _shape_mask(size, rng)])
            start = rng.uniform(-0.1 * s, 1.1 * s, size=2)
            layers.append((patch, start, Motion.draw(rng, self.max_motion, 4.0, 0.03)))
        shutter = rng.uniform(0.0, 0.6) if rng.random() < 0.5 else 0.0
        offsets = (-0.5, 0.0, 0.5) if shutter > 0 else (0.0,)
        frames = []
        for t in times:
            acc = torch.zeros(3, s, s)
            for off in offsets:  # motion blur: average of sub-frame renders across the shutter
                tt = t + off * shutter
                shift, angle, zoom = bg_motion.at(tt)
                img = _sample(background, s, bg_center, shift, angle, zoom)
                for patch, start, motion in layers:
                    shift, angle, zoom = motion.at(tt)
                    pos = start + shift - (s - 1) / 2  # where the patch centre lands, relative to canvas mid
                    rgba = _sample_patch(patch, s, pos, angle, zoom)
                    alpha = rgba[3:4]
                    img = rgba[:3] * alpha + img * (1 - alpha)
                acc += img
            frames.append(acc / len(offsets))
        return torch.stack(frames)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        t = target_time(rng, self.off_half) if self.off_half else 0.5
        middle = INPUT_TIMES[1] + t * (INPUT_TIMES[2] - INPUT_TIMES[1])
        frames = self.render(rng, (*INPUT_TIMES[:2], middle, *INPUT_TIMES[2:]))   # in time order for the codec
        if self.degrade_frames:
            frames = degrade(frames, rng, self.codec_probability)
        return make_sample(frames[[0, 1, 3, 4]], frames[2], t, rng)


def _sample_patch(patch: torch.Tensor, size: int, pos: np.ndarray, angle: float, zoom: float) -> torch.Tensor:
    """Renders an RGBA patch whose centre sits at canvas mid + pos, rotated and zoomed; zero outside."""
    ps = patch.shape[-1]
    mid = (size - 1) / 2
    coords = torch.arange(size, dtype=torch.float32) - mid
    yy, xx = torch.meshgrid(coords, coords, indexing="ij")
    dx, dy = xx - float(pos[0]), yy - float(pos[1])
    c, s = math.cos(-angle), math.sin(-angle)
    lx = (c * dx - s * dy) / zoom
    ly = (s * dx + c * dy) / zoom
    grid = torch.stack([(lx + ps / 2) / ps * 2 - 1, (ly + ps / 2) / ps * 2 - 1], dim=-1)[None]
    return F.grid_sample(patch[None], grid, mode="bilinear", padding_mode="zeros", align_corners=False)[0]
