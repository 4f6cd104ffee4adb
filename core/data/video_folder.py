"""Any folder of video files: 7-frame windows sampled across each file, never across a scene cut.

Every file is decoded once (through VapourSynth and bestsource, to 8-bit RGB like the filter sees it)
and kept in memory, so a training step costs a crop, not a decode. Two augmentations real footage
needs on top of crops, flips and reversal: a temporal ``stride`` (every 2nd frame doubles the motion,
so slow clips teach large motion too) and a random downscale of the crop region (more context and
smaller motion per window, like a 720p clip watched at 360p). A strided window has frames between its
middle inputs besides the middle one: with ``off_half`` some targets are those (t = 1/4, 3/4 at stride 2).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from ..filter.scenes import consecutive_differences, cut_at
from ..video import read_rgb
from .windows import make_sample, random_crop, target_offset

VIDEO_SUFFIXES = {".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v", ".y4m", ".ts", ".mpg", ".mpeg"}


def video_files(root: Path, exclude: tuple[str, ...] = ()) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.name not in exclude)


def cut_flags(frames: np.ndarray, threshold: float) -> np.ndarray:
    """flags[k]: a scene cut between frames k and k + 1 of an (N, H, W, 3) uint8 clip (the filter's rule)."""
    flags = np.zeros(max(0, len(frames) - 1), dtype=bool)
    if threshold > 0:
        for k in range(0, len(flags), 32):   # 33 frames at a time, overlapping by one
            chunk = torch.from_numpy(frames[k:k + 33]).permute(0, 3, 1, 2).float() / 255.0
            flags[k:k + 32] = [cut_at(d, threshold) for d in consecutive_differences(chunk).tolist()]
    return flags


class VideoFolder(Dataset):
    """Item i is a cut-free window chosen by (seed, i) alone, so resuming training is exact."""

    def __init__(self, root: str | Path, crop: int | None = 128, seed: int = 0, sc_threshold: float = 0.12,
                 length: int = 10**9, augment: bool = True, exclude: tuple[str, ...] | list[str] = (),
                 strides: tuple[int, ...] | list[int] = (1,), min_scale: float = 1.0, off_half: float = 0.0) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"video folder {self.root} does not exist "
                                    "(for the default config: python scripts/fetch_training_videos.py)")
        files = video_files(self.root, tuple(exclude))
        if not files:
            raise FileNotFoundError(f"no video files under {self.root}")
        if not strides or min(strides) < 1:
            raise ValueError(f"strides must be positive integers, got {strides}")
        if not 0 < min_scale <= 1:
            raise ValueError(f"min_scale must be in (0, 1], got {min_scale}")
        if not 0 <= off_half <= 1:
            raise ValueError(f"off_half must be a probability in [0, 1], got {off_half}")
        self.strides, self.min_scale, self.off_half = tuple(int(s) for s in strides), float(min_scale), off_half
        clips = [(p, read_rgb(p)) for p in files]   # (N, H, W, 3) uint8 each
        self.clips = [(p, c) for p, c in clips if len(c) >= 7]
        if not self.clips:
            raise ValueError(f"no video under {self.root} has 7 or more frames")
        self.files = [p for p, _ in self.clips]
        self.crop, self.seed, self.sc_threshold, self.length, self.augment = crop, seed, sc_threshold, length, augment
        self.cut_after = [cut_flags(c, sc_threshold) for _, c in self.clips]

    def __len__(self) -> int:
        return self.length

    def _run(self, clip_index: int, start: int, stride: int) -> torch.Tensor:
        """The window's whole run, 6 * stride + 1 frames, as a (T, 3, H, W) uint8 view of the clip (no copy)."""
        return torch.from_numpy(self.clips[clip_index][1][start:start + 6 * stride + 1]).permute(0, 3, 1, 2)

    @staticmethod
    def frames_of(stride: int, offset: int) -> list[int]:
        """Positions in the run of the inputs (2 * stride apart) and of the target ``offset`` after I2."""
        spacing = 2 * stride
        return [0, spacing, 2 * spacing, 3 * spacing, spacing + offset]

    def window(self, clip_index: int, start: int, stride: int = 1, offset: int | None = None) -> torch.Tensor:
        """Inputs then target, (5, 3, H, W) on [0, 1]; the target halfway unless ``offset`` says otherwise."""
        picked = self.frames_of(stride, stride if offset is None else offset)
        return self._run(clip_index, start, stride)[picked].float() / 255.0

    def crosses_cut(self, clip_index: int, start: int, stride: int = 1) -> bool:
        """Any cut between consecutive source frames of the span, also those a stride steps over."""
        return bool(self.cut_after[clip_index][start:start + 6 * stride].any())

    def _crop(self, clip_index: int, start: int, stride: int, offset: int, rng: np.random.Generator) -> torch.Tensor:
        """Inputs then target as crop x crop views of a region up to crop/min_scale wide, the same for all.

        Cropped while still uint8, so an HD clip costs a region's conversion, not five whole frames'.
        """
        raw = self._run(clip_index, start, stride)
        scale = float(rng.uniform(self.min_scale, 1.0)) if self.min_scale < 1 else 1.0
        region = max(self.crop, min(*raw.shape[-2:], round(self.crop / scale)))
        if min(raw.shape[-2:]) < region:
            raw = raw.float()   # a clip smaller than the crop is padded by replication, which needs floats
        view = random_crop(raw, region, rng)[self.frames_of(stride, offset)].float() / 255.0
        if region != self.crop:
            view = F.interpolate(view, size=(self.crop, self.crop), mode="bilinear", antialias=True,
                                 align_corners=False).clamp(0, 1)
        return view

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng([self.seed, index])
        for _ in range(20):
            c = int(rng.integers(len(self.clips)))
            n = len(self.clips[c][1])
            stride = int(rng.choice([s for s in self.strides if 6 * s < n] or [1]))
            start = int(rng.integers(0, n - 6 * stride))
            if not self.crosses_cut(c, start, stride):
                break
        else:
            raise RuntimeError(f"no cut-free 7-frame window found in 20 tries under {self.root}")
        offset = target_offset(2 * stride, rng, self.off_half) if self.off_half else stride
        frames = self._crop(c, start, stride, offset, rng) if self.crop else self.window(c, start, stride, offset)
        return make_sample(frames[:4], frames[4], offset / (2 * stride), rng, self.augment)
